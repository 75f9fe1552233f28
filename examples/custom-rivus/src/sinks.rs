//! The sinks: tab-separated lines in a file (sync) and a count on stderr (async).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use rivus_core::prelude::*;

/// Writes the records' `columns` as tab-separated lines, after a header line.
#[sync_sink("tsv")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tsv {
    /// The file to write (replaced); its directory is created.
    pub path: PathBuf,
    /// The fields to write, in order; a field a record lacks is an empty cell.
    pub columns: Vec<String>,
    #[serde(skip)]
    out: Option<BufWriter<File>>,
}

impl Tsv {
    fn out(&mut self) -> Result<&mut BufWriter<File>, PipeError> {
        self.out
            .as_mut()
            .ok_or_else(|| PipeError::msg("the tsv sink is not open"))
    }
}

impl SyncSink for Tsv {
    type In = Record;

    fn open(&mut self) -> Result<(), PipeError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = BufWriter::new(File::create(&self.path)?);
        writeln!(out, "{}", self.columns.join("\t"))?;
        self.out = Some(out);
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let cells: Vec<String> = (self.columns.iter())
            .map(|c| match record.get(c) {
                Some(Value::String(s)) => s.to_string(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect();
        writeln!(self.out()?, "{}", cells.join("\t"))?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        self.out()?.flush()?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), PipeError> {
        match self.out.take() {
            Some(mut out) => Ok(out.flush()?),
            None => Ok(()),
        }
    }
}

/// Counts the records and prints `stats: N records` on stderr when the pipeline closes.
#[async_sink("stats")]
#[derive(Debug, Default)]
pub struct Stats {
    records: u64,
}

impl AsyncSink for Stats {
    type In = Record;

    async fn write(&mut self, _: Record) -> Result<(), PipeError> {
        self.records += 1;
        Ok(())
    }

    async fn close(&mut self) -> Result<(), PipeError> {
        eprintln!("stats: {} records", self.records);
        Ok(())
    }
}

//! [`CsvSink`] and its configuration.

use std::path::{Path, PathBuf};

use rivus_core::registry::OptionError;
use rivus_core::value::{Record, Value};
use rivus_core::{PipeError, SyncSink};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ascii, default_delimiter, default_true};
use crate::compression::Compression;
use crate::fs::{Action, FileError};
use crate::output::{Framing, Output};

/// Configuration of [`CsvSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSinkConfig {
    /// The file to write.
    pub path: PathBuf,
    /// Whether to write a header row (the first record's field names). Default: `true`.
    #[serde(default = "default_true")]
    pub header: bool,
    /// The field delimiter, one ASCII character. Default: `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// `false` (the default): replace the file when the sink closes (written to a partial file beside it until
    /// then), for one-shot runs. `true`: append, for resumable sources; a row torn by a killed run is cut off on
    /// open, and a file that has rows keeps its header (its columns are the columns). See
    /// [`JsonlSinkConfig::append`](crate::jsonl::JsonlSinkConfig::append).
    #[serde(default)]
    pub append: bool,
    /// Sync the file to the disk on every flush: records count as written only once on the disk.
    /// Default: `false`.
    #[serde(default)]
    pub fsync: bool,
    /// How to compress the file: `auto` (by extension: `.gz` gzip, `.zst` zstd), `none`, `gzip`, `zstd`.
    /// Compressed output is written whole and renamed into place on close; not with `append` (see
    /// `rivus_plugins::compression`).
    #[serde(default)]
    pub compression: Compression,
}

impl CsvSinkConfig {
    /// The defaults for writing `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            header: default_true(),
            delimiter: default_delimiter(),
            append: false,
            fsync: false,
            compression: Compression::Auto,
        }
    }
}

/// Writes records as CSV rows, the columns in the order of the first record's fields.
///
/// Later records are written in that column order: a missing field is an empty cell, and a field that is not a
/// column is an error naming it.
#[rivus_core::sync_sink("csv", config = CsvSinkConfig)]
pub struct CsvSink {
    config: CsvSinkConfig,
    out: Option<Output>,
    /// Formats one row at a time, so that the output takes whole rows.
    formatter: csv_core::Writer,
    /// The row being formatted.
    buf: Vec<u8>,
    columns: Option<Vec<String>>,
    row: Vec<String>,
}

impl CsvSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: CsvSinkConfig) -> Self {
        Self {
            config,
            out: None,
            formatter: csv_core::Writer::new(),
            buf: Vec::new(),
            columns: None,
            row: Vec::new(),
        }
    }

    /// The file this sink writes.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// The header of the existing file that append mode continues.
    fn existing_columns(&self) -> Result<Vec<String>, PipeError> {
        let path = &self.config.path;
        let delimiter = ascii(self.config.delimiter, "delimiter")?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_path(path)
            .map_err(|e| FileError::msg(path, Action::Read, e.to_string()).of("csv"))?;
        let header = reader
            .headers()
            .map_err(|e| FileError::msg(path, Action::Read, e.to_string()).of("csv"))?;
        Ok(header.iter().map(str::to_owned).collect())
    }

    /// Formats `fields` as one row and hands it to the output.
    fn write_row<T: AsRef<[u8]>>(&mut self, fields: &[T]) -> Result<(), PipeError> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("csv"))?;
        self.buf.clear();
        format_row(&mut self.formatter, fields, &mut self.buf);
        out.write(&self.buf)
    }
}

/// Appends `fields` as one CSV row (quoted where needed, `\n` at the end) to `out`.
fn format_row<T: AsRef<[u8]>>(writer: &mut csv_core::Writer, fields: &[T], out: &mut Vec<u8>) {
    use csv_core::WriteResult;
    /// Makes room for the next piece; csv_core says when it needs more.
    fn room(out: &mut Vec<u8>, pos: usize) {
        if out.len() < pos + 64 {
            let len = (pos + 64).max(out.len() * 2);
            out.resize(len, 0);
        }
    }
    let mut pos = out.len();
    if let [only] = fields
        && only.as_ref().is_empty()
    {
        // One empty field would be a blank line, which readers skip.
        out.extend_from_slice(b"\"\"\n");
        return;
    }
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            loop {
                room(out, pos);
                let (result, n) = writer.delimiter(&mut out[pos..]);
                pos += n;
                if result == WriteResult::InputEmpty {
                    break;
                }
            }
        }
        let mut input = field.as_ref();
        loop {
            room(out, pos);
            let (result, nin, nout) = writer.field(input, &mut out[pos..]);
            input = &input[nin..];
            pos += nout;
            if result == WriteResult::InputEmpty {
                break;
            }
        }
    }
    loop {
        room(out, pos);
        let (result, n) = writer.terminator(&mut out[pos..]);
        pos += n;
        if result == WriteResult::InputEmpty {
            break;
        }
    }
    out.truncate(pos);
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

impl CsvSinkConfig {
    /// Checks the options, short of opening anything (what `rivus validate` runs).
    ///
    /// # Errors
    ///
    /// The first option that does not fit, named.
    pub fn check(&self) -> Result<(), OptionError> {
        crate::check::path(&self.path, "path")?;
        crate::check::append(&self.path, self.append, self.compression)?;
        crate::check::ascii(self.delimiter, "delimiter").map(drop)
    }
}

impl TryFrom<CsvSinkConfig> for CsvSink {
    type Error = OptionError;

    fn try_from(config: CsvSinkConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSink for CsvSink {
    type In = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "csv".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        let delimiter = ascii(self.config.delimiter, "delimiter")?;
        let c = &self.config;
        let framing = Framing::Csv { quote: b'"' };
        let out = Output::open_compressed(
            "csv",
            &c.path,
            c.append,
            c.fsync,
            framing,
            c.compression.codec(&c.path),
        )?;
        if out.kept_len() > 0 && c.header {
            self.columns = Some(self.existing_columns()?);
        }
        self.out = Some(out);
        self.formatter = csv_core::WriterBuilder::new().delimiter(delimiter).build();
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let columns = match self.columns.take() {
            Some(columns) => columns,
            None => {
                let columns: Vec<String> = record.field_names().map(str::to_owned).collect();
                if self.config.header {
                    self.write_row(&columns)?;
                }
                columns
            }
        };
        let extra = record
            .field_names()
            .find(|f| !columns.iter().any(|c| c == f))
            .map(str::to_owned);
        self.row.clear();
        self.row.extend(
            columns
                .iter()
                .map(|c| record.get(c).map(cell).unwrap_or_default()),
        );
        let path = self.config.path.display().to_string();
        let joined = columns.join(", ");
        self.columns = Some(columns);
        if let Some(extra) = extra {
            return Err(PipeError::msg(format!(
                "field `{extra}` is not a column of {path} (columns: {joined})"
            ))
            .with_pipe("csv"));
        }
        let row = std::mem::take(&mut self.row);
        let result = self.write_row(&row);
        self.row = row;
        result
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        match self.out.as_mut() {
            Some(out) => out.close(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rivus-csv-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn sink_writes_rows_in_the_first_records_column_order() {
        let path = temp("out.csv");
        let mut sink = CsvSink::new(CsvSinkConfig::new(&path));
        sink.open().unwrap();
        let a: Record = [("id", Value::from(1)), ("name", Value::from("a,b\nc"))]
            .into_iter()
            .collect();
        let b: Record = [("name", Value::from("c")), ("id", Value::from(2))]
            .into_iter()
            .collect();
        sink.write(a).unwrap();
        sink.write(b).unwrap();
        let c: Record = [("other", 1)].into_iter().collect();
        assert!(
            sink.write(c)
                .unwrap_err()
                .to_string()
                .contains("`other` is not a column")
        );
        sink.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,name\n1,\"a,b\nc\"\n2,c\n"
        );
    }

    #[test]
    fn append_keeps_the_header_and_cuts_a_torn_row() {
        let path = temp("append.csv");
        std::fs::write(&path, "name,id\nx,1\n\"torn\n").unwrap();
        let mut config = CsvSinkConfig::new(&path);
        config.append = true;
        let mut sink = CsvSink::new(config);
        sink.open().unwrap();
        let r: Record = [("id", Value::from(2)), ("name", Value::from("y"))]
            .into_iter()
            .collect();
        sink.write(r).unwrap();
        sink.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "name,id\nx,1\ny,2\n"
        );
    }
}

//! Text files line by line: [`LinesSource`] gives one record `{ "line": text }` per line (with the line's bytes
//! as the record's raw bytes); [`LinesSink`] writes one field (or the raw bytes) per line.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use rivus_core::error::{InputError, Location};
use rivus_core::value::{Record, Value};
use rivus_core::{PipeError, SyncSink, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn default_field() -> String {
    "line".to_owned()
}

/// Configuration of [`LinesSource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSourceConfig {
    /// The file to read.
    pub path: PathBuf,
    /// The field that holds each line. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
    /// Skip empty lines. Default: `false`.
    #[serde(default)]
    pub skip_empty: bool,
}

/// Reads a text file line by line, one record per line.
///
/// A line that is not UTF-8 is a located error and reading goes on.
#[rivus_core::sync_source("lines", config = LinesSourceConfig)]
pub struct LinesSource {
    config: LinesSourceConfig,
    reader: Option<Box<dyn BufRead + Send>>,
    file_name: String,
    buf: Vec<u8>,
    line_no: u64,
}

impl LinesSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: LinesSourceConfig) -> Self {
        let file_name = config.path.display().to_string();
        Self::with_reader(config, file_name, None)
    }

    /// A source that reads `reader` (stdin, a socket) and names it `file_name` in errors; `open` does nothing.
    pub fn from_reader(
        config: LinesSourceConfig,
        file_name: impl Into<String>,
        reader: Box<dyn BufRead + Send>,
    ) -> Self {
        Self::with_reader(config, file_name.into(), Some(reader))
    }

    fn with_reader(
        config: LinesSourceConfig,
        file_name: String,
        reader: Option<Box<dyn BufRead + Send>>,
    ) -> Self {
        Self {
            config,
            reader,
            file_name,
            buf: Vec::new(),
            line_no: 0,
        }
    }
}

impl From<LinesSourceConfig> for LinesSource {
    fn from(config: LinesSourceConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSource for LinesSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        "lines".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.reader.is_none() {
            let file = File::open(&self.config.path).map_err(|e| {
                PipeError::permanent(
                    "lines",
                    InputError::caused_by(Location::file(self.file_name.clone()), e),
                )
            })?;
            self.reader = Some(Box::new(BufReader::new(file)));
        }
        Ok(())
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            let reader = self.reader.as_mut()?;
            self.buf.clear();
            self.line_no += 1;
            let at = Location::file(self.file_name.clone()).line(self.line_no);
            match reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.reader = None;
                    return Some(Err(PipeError::permanent(
                        "lines",
                        InputError::caused_by(at, e),
                    )));
                }
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.config.skip_empty && self.buf.is_empty() {
                continue;
            }
            return Some(match std::str::from_utf8(&self.buf) {
                Ok(text) => {
                    let mut record = Record::new();
                    record.insert(self.config.field.clone(), text);
                    record.set_raw(Some(self.buf.clone()));
                    Ok(record)
                }
                Err(e) => Err(PipeError::permanent(
                    "lines",
                    InputError::new(
                        at.column(e.valid_up_to() as u64 + 1),
                        format!("not valid UTF-8 ({e})"),
                    ),
                )),
            });
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.reader = None;
        Ok(())
    }
}

/// Configuration of [`LinesSink`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSinkConfig {
    /// The file to write; created or truncated.
    pub path: PathBuf,
    /// The field written on each line; when the record lacks it, its raw bytes are written, and a record
    /// with neither is an error. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
}

/// Writes one field of each record per line.
#[rivus_core::sync_sink("lines", config = LinesSinkConfig)]
pub struct LinesSink {
    config: LinesSinkConfig,
    writer: Option<Box<dyn Write + Send>>,
}

impl LinesSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: LinesSinkConfig) -> Self {
        Self {
            config,
            writer: None,
        }
    }

    /// A sink that writes to `writer` (stdout); `open` does nothing.
    pub fn from_writer(config: LinesSinkConfig, writer: Box<dyn Write + Send>) -> Self {
        Self {
            config,
            writer: Some(writer),
        }
    }
}

impl From<LinesSinkConfig> for LinesSink {
    fn from(config: LinesSinkConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSink for LinesSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        "lines".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.writer.is_none() {
            let file = crate::fs::create("lines", &self.config.path, false)?;
            self.writer = Some(Box::new(BufWriter::new(file)));
        }
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("lines"))?;
        let result = match (record.get(&self.config.field), record.raw()) {
            (Some(Value::String(s)), _) => writer.write_all(s.as_bytes()),
            (Some(other), _) => writer.write_all(other.to_string().as_bytes()),
            (None, Some(raw)) => writer.write_all(raw),
            (None, None) => {
                return Err(PipeError::msg(format!(
                    "the record has no field `{}` and no raw bytes to write",
                    self.config.field
                ))
                .with_pipe("lines"));
            }
        };
        result
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(|e| PipeError::transient("lines", e))
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self.writer.as_mut() {
            Some(w) => w.flush().map_err(|e| PipeError::transient("lines", e)),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.flush()?;
        self.writer = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_locates_bad_utf8() {
        let input: &[u8] = b"one\r\n\ntw\xffo\nthree";
        let config = LinesSourceConfig {
            path: "mem".into(),
            field: "text".into(),
            skip_empty: true,
        };
        let mut src = LinesSource::from_reader(config, "<mem>", Box::new(input));
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].as_ref().unwrap().get("text"),
            Some(&Value::from("one"))
        );
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("<mem>:3:3"), "{err}");
        assert_eq!(rows[2].as_ref().unwrap().raw(), Some(&b"three"[..]));
    }

    #[test]
    fn writes_field_or_raw() {
        let dir = std::env::temp_dir().join(format!("rivus-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let mut sink = LinesSink::new(LinesSinkConfig {
            path: path.clone(),
            field: "line".into(),
        });
        sink.open().unwrap();
        sink.write([("line", "a")].into_iter().collect()).unwrap();
        sink.write(Record::from_raw(b"b".to_vec())).unwrap();
        assert!(sink.write(Record::new()).is_err());
        sink.close().unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "a\nb\n");
    }
}

//! JSON lines files: [`JsonlSource`] reads one JSON object per line into a [`Record`], [`JsonlSink`] writes one
//! record per line.
//!
//! A line that is not a JSON object is a located [`InputError`] (`file:line:column` from the JSON parser) and
//! reading goes on with the next line. Blank lines are skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use rivus_core::error::{InputError, Location};
use rivus_core::value::Record;
use rivus_core::{PipeError, SyncSink, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Configuration of [`JsonlSource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlSourceConfig {
    /// The file to read.
    pub path: PathBuf,
}

/// Reads a JSON lines file into records, one JSON object per line.
#[rivus_core::sync_source("jsonl", config = JsonlSourceConfig)]
pub struct JsonlSource {
    config: JsonlSourceConfig,
    file_name: String,
    reader: Option<Box<dyn BufRead + Send>>,
    line: Vec<u8>,
    line_no: u64,
}

impl JsonlSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: JsonlSourceConfig) -> Self {
        let file_name = config.path.display().to_string();
        Self {
            config,
            file_name,
            reader: None,
            line: Vec::new(),
            line_no: 0,
        }
    }

    /// A source that reads `reader` (stdin, a socket) and names it `file_name` in errors; `open` does nothing.
    pub fn from_reader(file_name: impl Into<String>, reader: Box<dyn BufRead + Send>) -> Self {
        let file_name = file_name.into();
        Self {
            config: JsonlSourceConfig {
                path: PathBuf::from(&file_name),
            },
            file_name,
            reader: Some(reader),
            line: Vec::new(),
            line_no: 0,
        }
    }

    fn error(&self, at: Location, cause: impl Into<rivus_core::BoxError>) -> PipeError {
        PipeError::permanent("jsonl", InputError::caused_by(at, cause))
    }
}

impl From<JsonlSourceConfig> for JsonlSource {
    fn from(config: JsonlSourceConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSource for JsonlSource {
    type Out = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "jsonl".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.reader.is_none() {
            let file = File::open(&self.config.path)
                .map_err(|e| self.error(Location::file(self.file_name.clone()), e))?;
            self.reader = Some(Box::new(BufReader::new(file)));
        }
        Ok(())
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            let reader = self.reader.as_mut()?;
            self.line.clear();
            self.line_no += 1;
            let at = Location::file(self.file_name.clone()).line(self.line_no);
            match reader.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    // The file cannot be read further.
                    self.reader = None;
                    return Some(Err(self.error(at, e)));
                }
            }
            let text = match std::str::from_utf8(&self.line) {
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(e) => {
                    let at = at.column(e.valid_up_to() as u64 + 1);
                    return Some(Err(self.error(at, format!("not valid UTF-8 ({e})"))));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(serde_json::from_str::<Record>(text).map_err(|e| {
                let at = at.column(e.column().max(1) as u64);
                let message = match e.classify() {
                    serde_json::error::Category::Data => {
                        let found = match text.trim_start().chars().next() {
                            Some('[') => "a list",
                            Some('"') => "a string",
                            Some('t' | 'f') => "a boolean",
                            Some('n') => "null",
                            _ => "a number",
                        };
                        format!("expected a JSON object, found {found}")
                    }
                    _ => e.to_string(),
                };
                PipeError::permanent("jsonl", InputError::new(at, message))
            }));
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.reader = None;
        Ok(())
    }
}

/// Configuration of [`JsonlSink`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    /// The file to write; created or truncated (see `append`).
    pub path: PathBuf,
    /// Append to the file instead of truncating it. Default: `false`.
    #[serde(default)]
    pub append: bool,
}

/// Writes records as JSON lines, one object per line.
#[rivus_core::sync_sink("jsonl", config = JsonlSinkConfig)]
pub struct JsonlSink {
    config: JsonlSinkConfig,
    writer: Option<Box<dyn Write + Send>>,
    /// One line, serialized before one write: serde_json writes in small pieces, each a virtual call on `writer`.
    line: Vec<u8>,
}

impl JsonlSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: JsonlSinkConfig) -> Self {
        Self {
            config,
            writer: None,
            line: Vec::new(),
        }
    }

    /// A sink that writes to `writer` (stdout); `open` does nothing.
    pub fn from_writer(writer: Box<dyn Write + Send>) -> Self {
        Self {
            config: JsonlSinkConfig {
                path: PathBuf::from("-"),
                append: true,
            },
            writer: Some(writer),
            line: Vec::new(),
        }
    }
}

impl From<JsonlSinkConfig> for JsonlSink {
    fn from(config: JsonlSinkConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSink for JsonlSink {
    type In = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "jsonl".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.writer.is_some() {
            return Ok(());
        }
        let file = crate::fs::create("jsonl", &self.config.path, self.config.append)?;
        self.writer = Some(Box::new(BufWriter::with_capacity(64 * 1024, file)));
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("jsonl"))?;
        self.line.clear();
        serde_json::to_writer(&mut self.line, &record)
            .map_err(|e| PipeError::permanent("jsonl", e))?;
        self.line.push(b'\n');
        writer
            .write_all(&self.line)
            .map_err(|e| PipeError::transient("jsonl", e))
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self.writer.as_mut() {
            Some(w) => w.flush().map_err(|e| PipeError::transient("jsonl", e)),
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
    fn round_trip_and_located_errors() {
        use rivus_core::value::Value;
        let dir = std::env::temp_dir().join(format!("rivus-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.jsonl");
        std::fs::write(&input, b"{\"a\":1}\n\n{\"a\": 2,}\n[1]\n\xff\n{\"a\":3}\n").unwrap();
        let mut src = JsonlSource::new(JsonlSourceConfig {
            path: input.clone(),
        });
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next()).collect();
        assert_eq!(rows.len(), 5);
        let errs: Vec<String> = rows
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert!(errs[0].contains("in.jsonl:3:9"), "{}", errs[0]);
        assert!(
            errs[1].contains("in.jsonl:4") && errs[1].contains("found a list"),
            "{}",
            errs[1]
        );
        assert!(
            errs[2].contains("in.jsonl:5") && errs[2].contains("UTF-8"),
            "{}",
            errs[2]
        );
        assert_eq!(rows[4].as_ref().unwrap().get("a"), Some(&Value::from(3)));

        let output = dir.join("out.jsonl");
        let mut sink = JsonlSink::new(JsonlSinkConfig {
            path: output.clone(),
            append: false,
        });
        sink.open().unwrap();
        for r in rows.into_iter().flatten() {
            sink.write(r).unwrap();
        }
        sink.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "{\"a\":1}\n{\"a\":3}\n"
        );
    }
}

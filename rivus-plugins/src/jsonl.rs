//! JSON lines files: [`JsonlSource`] reads one JSON object per line into a [`Record`], [`JsonlSink`] writes one
//! record per line.
//!
//! # Reading
//!
//! A line that is not a JSON object is a located [`InputError`](rivus_core::error::InputError)
//! (`file:line:column` from the JSON parser) that keeps the line's text, and reading goes on with the next line;
//! the pipeline's error policy decides what happens to it (see [dead letters](crate#dead-letters-and-replay)).
//! Blank lines are skipped and a UTF-8 byte order mark at the start is accepted.
//!
//! Records are faithful to the text: keys keep their order at every depth, and numbers keep their exact digits
//! (a 30-digit integer is written out as those 30 digits, `1.10` stays `1.10`). A key that appears twice in one
//! object is an error by default (`duplicate_keys = "last"` keeps the last value instead).
//!
//! A line longer than `max_record_bytes` (default 1 MiB) is an error that keeps the line's first
//! `max_record_bytes` bytes; the rest of the line is read past without being held in memory.
//!
//! # Writing
//!
//! See [`JsonlSinkConfig`] for what happens to an existing file (`append`) and when records count as written
//! (`fsync`), and the [crate docs](crate#file-sinks-and-crashes) for what a crash can and cannot do to it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::PathBuf;

use rivus_core::ack::Position;
use rivus_core::registry::OptionError;
use rivus_core::value::Record;
use rivus_core::{PipeError, SyncSink, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compression::Compression;
use crate::files::FileSet;
pub use crate::json::DuplicateKeys;
use crate::json::{parse_projected, parse_record};
use crate::output::{Destination, Framing, Output};
use crate::text::TextFile;

const fn default_max_record_bytes() -> usize {
    crate::input::default_max_record_bytes()
}

/// Configuration of [`JsonlSource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlSourceConfig {
    /// The file to read; or a glob (`in/*.csv`) or a directory, whose files are read one after another in the
    /// order of their paths (see `rivus_plugins::files`).
    pub path: PathBuf,
    /// The longest line read, in bytes; a longer line is a located error for the error policy, and reading
    /// goes on with the next line. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// A key twice in one object: `error` (a located error, the default) or `last` (the last value counts).
    #[serde(default)]
    pub duplicate_keys: DuplicateKeys,
    /// A state file that records how far the records got: the runtime commits a position once every sink wrote
    /// the records up to it (or they were filtered, skipped or dead-lettered), and a run that was stopped or
    /// killed resumes after the last committed record. Pair it with appending sinks (`append = true`); see
    /// [checkpoints](crate#checkpoints). Default: none, every run reads the whole file.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// How the file is compressed: `auto` (by extension: `.gz` gzip, `.zst` zstd), `none`, `gzip`, `zstd`.
    /// A compressed file is read whole, as a stream: no `checkpoint` (see `rivus_plugins::compression`).
    #[serde(default)]
    pub compression: Compression,
    /// A field that gets the path of the file each record comes from (e.g. `_file`): useful with a glob or a
    /// directory as `path`. Default: none.
    #[serde(default)]
    pub file_field: Option<String>,
}

impl JsonlSourceConfig {
    /// The defaults for reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_record_bytes: default_max_record_bytes(),
            duplicate_keys: DuplicateKeys::default(),
            checkpoint: None,
            compression: Compression::Auto,
            file_field: None,
        }
    }
}

/// Reads a JSON lines file into records, one JSON object per line.
///
/// See the [module docs](self).
///
/// # Examples
///
/// ```
/// use rivus_core::SyncSource;
/// use rivus_plugins::jsonl::{JsonlSource, JsonlSourceConfig};
///
/// let dir = std::env::temp_dir().join(format!("rivus-doc-jsonl-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("in.jsonl");
/// std::fs::write(&path, "{\"z\":1,\"a\":123456789012345678901234567890}\n{\"a\":1,\"a\":2}\n").unwrap();
///
/// let mut src = JsonlSource::new(JsonlSourceConfig::new(&path));
/// src.open().unwrap();
/// let first = src.next().unwrap().unwrap();
/// assert_eq!(serde_json::to_string(&first).unwrap(), "{\"z\":1,\"a\":123456789012345678901234567890}");
/// let err = src.next().unwrap().unwrap_err();
/// assert!(err.to_string().contains("in.jsonl:2:13: duplicate key `a`"), "{err}");
/// assert!(src.next().is_none());
/// ```
#[rivus_core::sync_source("jsonl", config = JsonlSourceConfig)]
pub struct JsonlSource {
    config: JsonlSourceConfig,
    text: TextFile,
    /// The files after this one (a glob or a directory); set by `open`, none for a stream.
    files: Option<FileSet>,
    /// The keys the pipeline reads, when it said ([`SyncSource::project`]); `None`: every key.
    projection: Option<HashSet<String>>,
}

impl JsonlSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: JsonlSourceConfig) -> Self {
        let text = TextFile::file(
            "jsonl",
            &config.path,
            config.max_record_bytes,
            config.checkpoint.as_deref(),
        )
        .compressed(config.compression);
        Self {
            config,
            text,
            files: None,
            projection: None,
        }
    }

    /// A source that reads `reader` (stdin, a socket) and names it `file_name` in errors; `config.path` and
    /// `config.checkpoint` are not used.
    pub fn from_reader(
        config: JsonlSourceConfig,
        file_name: impl Into<String>,
        reader: Box<dyn Read + Send>,
    ) -> Self {
        let text = TextFile::stream("jsonl", file_name.into(), reader, config.max_record_bytes);
        Self {
            config,
            text,
            files: Some(FileSet::none()),
            projection: None,
        }
    }

    /// The error of a line that is not a JSON object (or an object that is wrong inside).
    fn not_an_object(&self, number: u64, bytes: &[u8], e: &serde_json::Error) -> PipeError {
        let at = self.text.at(number).column(e.column().max(1) as u64);
        let found = match bytes.trim_ascii_start().first() {
            Some(b'{') => None,
            Some(b'[') => Some("a list"),
            Some(b'"') => Some("a string"),
            Some(b't' | b'f') => Some("a boolean"),
            Some(b'n') => Some("null"),
            _ => Some("a number"),
        };
        let message = match (e.classify(), found) {
            (serde_json::error::Category::Data, Some(found)) => {
                format!("expected a JSON object, found {found}")
            }
            _ => strip_position(&e.to_string()),
        };
        self.text.bad(at, message, bytes)
    }
}

/// serde_json's message without its " at line L column C" (the location says it).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl JsonlSourceConfig {
    /// Checks the options, short of opening anything (what `rivus validate` runs).
    ///
    /// # Errors
    ///
    /// The first option that does not fit, named.
    pub fn check(&self) -> Result<(), OptionError> {
        crate::check::path(&self.path, "path")?;
        crate::check::optional_path(self.checkpoint.as_deref(), "checkpoint")?;
        crate::check::checkpoint(&self.path, self.checkpoint.as_deref(), self.compression)?;
        crate::check::positive(self.max_record_bytes, "max_record_bytes")
    }
}

impl TryFrom<JsonlSourceConfig> for JsonlSource {
    type Error = OptionError;

    fn try_from(config: JsonlSourceConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSource for JsonlSource {
    type Out = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "jsonl".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.files.is_none() {
            self.files = Some(FileSet::start(
                "jsonl",
                &self.config.path,
                self.config.checkpoint.as_deref(),
                self.config.compression,
                self.config.max_record_bytes,
                self.config.file_field.clone(),
                &mut self.text,
            )?);
        }
        self.text.open()?;
        self.text.resume()
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            if let Some(item) = self.read() {
                self.text.mark();
                return Some(match &self.files {
                    Some(files) => files.tag(item, &self.text),
                    None => item,
                });
            }
            let files = self.files.as_mut()?;
            if !files.advance(&mut self.text) {
                return None;
            }
            if let Err(e) = self.open_file() {
                if let Some(files) = &self.files {
                    files.skip(&mut self.text);
                }
                return Some(Err(e));
            }
        }
    }

    fn position(&self) -> Option<Position> {
        self.text.position()
    }

    /// Keys nobody reads are checked as JSON but not built (nor checked for repeats).
    fn project(&mut self, fields: &[String]) -> bool {
        self.projection = Some(fields.iter().cloned().collect());
        true
    }

    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.text.commit(&upto)
    }

    fn close(&mut self) -> Result<(), PipeError> {
        match self.files.as_mut() {
            Some(files) => files.close(&mut self.text),
            None => self.text.close(),
        }
    }
}

impl JsonlSource {
    /// Opens the next file of a glob or a directory.
    fn open_file(&mut self) -> Result<(), PipeError> {
        self.text.open()
    }

    /// The next record or bad line.
    fn read(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            let line = match self.text.next_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let bytes = self.text.bytes(&line);
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            if let Err(e) = std::str::from_utf8(bytes) {
                let at = self.text.at(line.number).column(e.valid_up_to() as u64 + 1);
                return Some(Err(self.text.bad(
                    at,
                    format!("not valid UTF-8 ({e})"),
                    bytes,
                )));
            }
            let record = match &self.projection {
                None => parse_record(bytes, self.config.duplicate_keys),
                Some(read) => parse_projected(bytes, self.config.duplicate_keys, read),
            };
            return Some(record.map_err(|e| self.not_an_object(line.number, bytes, &e)));
        }
    }
}

/// Configuration of [`JsonlSink`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    /// The file to write.
    pub path: PathBuf,
    /// `false` (the default): replace the file, for one-shot runs — the records go to a partial file beside it
    /// that is renamed over it when the sink closes, so a reader never sees a half-written file and a killed run
    /// leaves the old file as it was. `true`: append, for resumable sources (Kafka, a source with a
    /// `checkpoint`) — never truncated; a torn last line left by a killed run is cut off on open.
    #[serde(default)]
    pub append: bool,
    /// Sync the file to the disk on every flush (`sync_data`): records count as written only once they are on
    /// the disk, not only handed to the operating system. Slower; survives a power cut. Default: `false`.
    #[serde(default)]
    pub fsync: bool,
    /// How to compress the file: `auto` (by extension: `.gz` gzip, `.zst` zstd), `none`, `gzip`, `zstd`.
    /// Compressed output is written whole and renamed into place on close; not with `append` (see
    /// `rivus_plugins::compression`).
    #[serde(default)]
    pub compression: Compression,
}

impl JsonlSinkConfig {
    /// The defaults for writing `path`: replace it, no fsync.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            append: false,
            fsync: false,
            compression: Compression::Auto,
        }
    }
}

/// Writes records as JSON lines, one object per line.
///
/// Keys come in the record's order. See [`JsonlSinkConfig`] and the [module docs](self).
#[rivus_core::sync_sink("jsonl", config = JsonlSinkConfig)]
pub struct JsonlSink {
    config: JsonlSinkConfig,
    out: Option<Destination>,
    /// One line, serialized before one write: the output takes whole records.
    line: Vec<u8>,
    /// The keys rendered so far (see [`crate::json::Keys`]).
    keys: crate::json::Keys,
}

impl JsonlSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: JsonlSinkConfig) -> Self {
        Self {
            config,
            out: None,
            line: Vec::new(),
            keys: crate::json::Keys::default(),
        }
    }

    /// A sink that writes to `writer` (stdout), named `<stdout>` in errors; `open` does nothing.
    pub fn from_writer(writer: Box<dyn Write + Send>) -> Self {
        Self {
            config: JsonlSinkConfig::new("<stdout>"),
            out: Some(Destination::Stream {
                name: "<stdout>",
                plugin: "jsonl",
                writer,
            }),
            line: Vec::new(),
            keys: crate::json::Keys::default(),
        }
    }
}

impl JsonlSinkConfig {
    /// Checks the options, short of opening anything (what `rivus validate` runs).
    ///
    /// # Errors
    ///
    /// The first option that does not fit, named.
    pub fn check(&self) -> Result<(), OptionError> {
        crate::check::path(&self.path, "path")?;
        crate::check::append(&self.path, self.append, self.compression)
    }
}

impl TryFrom<JsonlSinkConfig> for JsonlSink {
    type Error = OptionError;

    fn try_from(config: JsonlSinkConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSink for JsonlSink {
    type In = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "jsonl".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.out.is_none() {
            let c = &self.config;
            let out = Output::open_compressed(
                "jsonl",
                &c.path,
                c.append,
                c.fsync,
                Framing::Lines,
                c.compression.codec(&c.path),
            )?;
            self.out = Some(Destination::File(out));
        }
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("jsonl"))?;
        self.line.clear();
        crate::json::write_record(&mut self.line, &record, &mut self.keys)
            .map_err(|e| PipeError::permanent("jsonl", e))?;
        self.line.push(b'\n');
        out.write(&self.line)
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
    use rivus_core::value::Value;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rivus-jsonl-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_all(config: JsonlSourceConfig) -> Vec<Result<Record, PipeError>> {
        let mut src = JsonlSource::new(config);
        src.open().unwrap();
        std::iter::from_fn(|| src.next()).collect()
    }

    fn raw_input(err: &PipeError) -> Vec<u8> {
        rivus_core::error::InputError::find(err)
            .and_then(|e| e.raw.clone())
            .unwrap()
            .bytes
    }

    #[test]
    fn round_trip_and_located_errors() {
        let dir = dir("round-trip");
        let input = dir.join("in.jsonl");
        std::fs::write(
            &input,
            b"\xef\xbb\xbf{\"a\":1}\n\n{\"a\": 2,}\n[1]\n\xff\n{\"a\":3}\r\n",
        )
        .unwrap();
        let rows = read_all(JsonlSourceConfig::new(&input));
        assert_eq!(rows.len(), 5);
        let errs: Vec<&PipeError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        let text = errs[0].to_string();
        assert!(text.contains("in.jsonl:3:9: trailing comma"), "{text}");
        assert_eq!(raw_input(errs[0]), b"{\"a\": 2,}");
        let text = errs[1].to_string();
        assert!(
            text.contains("in.jsonl:4:") && text.contains("found a list"),
            "{text}"
        );
        let text = errs[2].to_string();
        assert!(
            text.contains("in.jsonl:5:1") && text.contains("UTF-8"),
            "{text}"
        );
        assert_eq!(raw_input(errs[2]), b"\xff");
        assert_eq!(rows[0].as_ref().unwrap().get("a"), Some(&Value::from(1)));
        assert_eq!(rows[4].as_ref().unwrap().get("a"), Some(&Value::from(3)));

        let output = dir.join("out.jsonl");
        let mut sink = JsonlSink::new(JsonlSinkConfig::new(&output));
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

    #[test]
    fn key_order_big_numbers_and_duplicates() {
        let dir = dir("fidelity");
        let input = dir.join("in.jsonl");
        let line =
            r#"{"zeta":1,"alpha":{"z":123456789012345678901234567890,"a":-1.10},"mid":[1e2]}"#;
        std::fs::write(&input, format!("{line}\n{{\"a\":1,\"b\":2,\"a\":3}}\n")).unwrap();
        let rows = read_all(JsonlSourceConfig::new(&input));
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("in.jsonl:2:") && err.contains("duplicate key `a`"),
            "{err}"
        );
        let output = dir.join("out.jsonl");
        let mut sink = JsonlSink::new(JsonlSinkConfig::new(&output));
        sink.open().unwrap();
        sink.write(rows[0].as_ref().unwrap().clone()).unwrap();
        sink.close().unwrap();
        // The digits are kept; an exponent gets its sign written out (serde_json's `arbitrary_precision`).
        let expected = line.replace("1e2", "1e+2");
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            format!("{expected}\n")
        );

        let mut config = JsonlSourceConfig::new(&input);
        config.duplicate_keys = DuplicateKeys::Last;
        let rows = read_all(config);
        assert_eq!(
            serde_json::to_string(rows[1].as_ref().unwrap()).unwrap(),
            r#"{"a":3,"b":2}"#
        );
    }

    #[test]
    fn a_line_past_the_bound_is_an_error_and_reading_goes_on() {
        let dir = dir("bound");
        let input = dir.join("in.jsonl");
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(5000));
        std::fs::write(&input, format!("{{\"a\":1}}\n{long}\n{{\"a\":2}}\n")).unwrap();
        let mut config = JsonlSourceConfig::new(&input);
        config.max_record_bytes = 1000;
        let rows = read_all(config);
        assert_eq!(rows.len(), 3);
        let err = rows[1].as_ref().unwrap_err();
        assert!(
            err.to_string()
                .contains("in.jsonl:2: the line is longer than max_record_bytes (1000 bytes)"),
            "{err}"
        );
        let raw = rivus_core::error::InputError::find(err)
            .and_then(|e| e.raw.clone())
            .unwrap();
        assert!(raw.truncated && raw.bytes.len() == 1000);
        assert_eq!(rows[2].as_ref().unwrap().get("a"), Some(&Value::from(2)));
    }
}

//! Text files line by line: [`LinesSource`] gives one record `{ "line": text }` per line (with the line's bytes
//! as the record's raw bytes); [`LinesSink`] writes one field (or the raw bytes) per line.
//!
//! A line that is not UTF-8, or longer than `max_record_bytes` (default 1 MiB), is a located error that keeps
//! the line's bytes (the first `max_record_bytes` of a long one), and reading goes on with the next line. A UTF-8
//! byte order mark at the start is skipped. See [`LinesSinkConfig`] for how the sink treats an existing file.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::PathBuf;

use rivus_core::ack::Position;
use rivus_core::registry::OptionError;
use rivus_core::value::{Record, Value};
use rivus_core::{PipeError, SyncSink, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compression::Compression;
use crate::files::FileSet;
use crate::output::{Destination, Framing, Output};
use crate::text::TextFile;

fn default_field() -> String {
    "line".to_owned()
}

const fn default_max_record_bytes() -> usize {
    crate::input::default_max_record_bytes()
}

/// Configuration of [`LinesSource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSourceConfig {
    /// The file to read; or a glob (`in/*.csv`) or a directory, whose files are read one after another in the
    /// order of their paths (see `rivus_plugins::files`).
    pub path: PathBuf,
    /// The field that holds each line. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
    /// Skip empty lines. Default: `false`.
    #[serde(default)]
    pub skip_empty: bool,
    /// The longest line read, in bytes; a longer line is a located error for the error policy, and reading
    /// goes on with the next line. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
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

impl LinesSourceConfig {
    /// The defaults for reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            field: default_field(),
            skip_empty: false,
            max_record_bytes: default_max_record_bytes(),
            checkpoint: None,
            compression: Compression::Auto,
            file_field: None,
        }
    }
}

/// Reads a text file line by line, one record per line.
///
/// See the [module docs](self).
#[rivus_core::sync_source("lines", config = LinesSourceConfig)]
pub struct LinesSource {
    config: LinesSourceConfig,
    text: TextFile,
    /// The files after this one (a glob or a directory); set by `open`, none for a stream.
    files: Option<FileSet>,
}

impl LinesSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: LinesSourceConfig) -> Self {
        let text = TextFile::file(
            "lines",
            &config.path,
            config.max_record_bytes,
            config.checkpoint.as_deref(),
        )
        .compressed(config.compression);
        Self {
            config,
            text,
            files: None,
        }
    }

    /// A source that reads `reader` (stdin, a socket) and names it `file_name` in errors; `config.path` and
    /// `config.checkpoint` are not used.
    pub fn from_reader(
        config: LinesSourceConfig,
        file_name: impl Into<String>,
        reader: Box<dyn Read + Send>,
    ) -> Self {
        let text = TextFile::stream("lines", file_name.into(), reader, config.max_record_bytes);
        Self {
            config,
            text,
            files: Some(FileSet::none()),
        }
    }
}

impl LinesSourceConfig {
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

impl TryFrom<LinesSourceConfig> for LinesSource {
    type Error = OptionError;

    fn try_from(config: LinesSourceConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSource for LinesSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        "lines".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.files.is_none() {
            self.files = Some(FileSet::start(
                "lines",
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

impl LinesSource {
    /// Opens the next file of a glob or a directory.
    fn open_file(&mut self) -> Result<(), PipeError> {
        self.text.open()
    }

    /// The next line's record, or its error.
    fn read(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            let line = match self.text.next_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let bytes = self.text.bytes(&line);
            if self.config.skip_empty && bytes.is_empty() {
                continue;
            }
            return Some(match std::str::from_utf8(bytes) {
                Ok(text) => {
                    let mut record = Record::with_capacity(1);
                    record.insert(self.config.field.as_str(), text);
                    record.set_raw(Some(bytes.to_vec()));
                    Ok(record)
                }
                Err(e) => {
                    let at = self.text.at(line.number).column(e.valid_up_to() as u64 + 1);
                    Err(self.text.bad(at, format!("not valid UTF-8 ({e})"), bytes))
                }
            });
        }
    }
}

/// Configuration of [`LinesSink`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinesSinkConfig {
    /// The file to write.
    pub path: PathBuf,
    /// The field written on each line; when the record lacks it, its raw bytes are written, and a record
    /// with neither is an error. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
    /// A first line written before the records into a new or empty file, e.g. the header of CSV rows replayed
    /// from dead letters. Default: none.
    #[serde(default)]
    pub header: Option<String>,
    /// `false` (the default): replace the file when the sink closes (written to a partial file beside it until
    /// then), for one-shot runs. `true`: append, for resumable sources; a torn last line left by a killed run is
    /// cut off on open. See [`JsonlSinkConfig::append`](crate::jsonl::JsonlSinkConfig::append).
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

impl LinesSinkConfig {
    /// The defaults for writing `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            field: default_field(),
            header: None,
            append: false,
            fsync: false,
            compression: Compression::Auto,
        }
    }
}

/// Writes one field of each record per line.
///
/// See [`LinesSinkConfig`].
#[rivus_core::sync_sink("lines", config = LinesSinkConfig)]
pub struct LinesSink {
    config: LinesSinkConfig,
    out: Option<Destination>,
    line: Vec<u8>,
}

impl LinesSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: LinesSinkConfig) -> Self {
        Self {
            config,
            out: None,
            line: Vec::new(),
        }
    }

    /// A sink that writes to `writer` (stdout), named `<stdout>` in errors; `open` does nothing.
    pub fn from_writer(config: LinesSinkConfig, writer: Box<dyn Write + Send>) -> Self {
        Self {
            config,
            out: Some(Destination::Stream {
                name: "<stdout>",
                plugin: "lines",
                writer,
            }),
            line: Vec::new(),
        }
    }
}

impl LinesSinkConfig {
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

impl TryFrom<LinesSinkConfig> for LinesSink {
    type Error = OptionError;

    fn try_from(config: LinesSinkConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSink for LinesSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        "lines".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        if self.out.is_none() {
            let c = &self.config;
            let mut out = Output::open_compressed(
                "lines",
                &c.path,
                c.append,
                c.fsync,
                Framing::Lines,
                c.compression.codec(&c.path),
            )?;
            if let Some(header) = &c.header
                && out.kept_len() == 0
            {
                out.write(format!("{header}\n").as_bytes())?;
            }
            self.out = Some(Destination::File(out));
        }
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("lines"))?;
        self.line.clear();
        match (record.get(&self.config.field), record.raw()) {
            (Some(Value::String(s)), _) => self.line.extend_from_slice(s.as_bytes()),
            (Some(other), _) => self.line.extend_from_slice(other.to_string().as_bytes()),
            (None, Some(raw)) => self.line.extend_from_slice(raw),
            (None, None) => {
                return Err(PipeError::msg(format!(
                    "the record has no field `{}` and no raw bytes to write",
                    self.config.field
                ))
                .with_pipe("lines"));
            }
        }
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

    #[test]
    fn reads_lines_and_locates_bad_utf8() {
        let input: &[u8] = b"\xef\xbb\xbfone\r\n\ntw\xffo\nthree";
        let mut config = LinesSourceConfig::new("mem");
        config.field = "text".into();
        config.skip_empty = true;
        let mut src = LinesSource::from_reader(config, "<mem>", Box::new(input));
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].as_ref().unwrap().get("text"),
            Some(&Value::from("one"))
        );
        let err = rows[1].as_ref().unwrap_err();
        assert!(err.to_string().contains("<mem>:3:3"), "{err}");
        let raw = rivus_core::error::InputError::find(err)
            .and_then(|e| e.raw.clone())
            .unwrap();
        assert_eq!(raw.bytes, b"tw\xffo");
        assert_eq!(rows[2].as_ref().unwrap().raw(), Some(&b"three"[..]));
    }

    /// A reader that gives `ok` and then fails.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_ends_the_input_and_fails_at_close() {
        let config = LinesSourceConfig::new("mem");
        let mut src = LinesSource::from_reader(config, "<disk>", Box::new(Failing(b"a\nb\npart")));
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next()).collect();
        assert_eq!(rows.len(), 2, "the lines before the error, then the end");
        let err = src.close().unwrap_err().to_string();
        assert!(
            err.contains("<disk>:3: cannot read: the disk went away"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_error_fails_the_run_even_when_skipping() {
        use rivus_core::config::ErrorPolicy;
        use rivus_core::prelude::*;
        let config = LinesSourceConfig::new("mem");
        let src = LinesSource::from_reader(config, "<disk>", Box::new(Failing(b"a\nb\npart")));
        let out = sink::collect::<Record>();
        let result = Pipeline::from_source(src)
            .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::Skip))
            .sink(out.clone())
            .run()
            .await;
        let err = result.unwrap_err().to_string();
        assert!(err.contains("<disk>:3: cannot read"), "{err}");
        assert_eq!(
            out.take().len(),
            2,
            "what was read before the error is written"
        );
    }

    #[test]
    fn writes_field_or_raw_after_a_header() {
        let dir = std::env::temp_dir().join(format!("rivus-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let mut config = LinesSinkConfig::new(&path);
        config.header = Some("h".into());
        let mut sink = LinesSink::new(config.clone());
        sink.open().unwrap();
        sink.write([("line", "a")].into_iter().collect()).unwrap();
        sink.write(Record::from_raw(b"b".to_vec())).unwrap();
        assert!(sink.write(Record::new()).is_err());
        sink.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "h\na\nb\n");

        // Appending to a file that has lines: no second header.
        config.append = true;
        let mut sink = LinesSink::new(config);
        sink.open().unwrap();
        sink.write([("line", 3)].into_iter().collect()).unwrap();
        sink.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "h\na\nb\n3\n");
    }
}

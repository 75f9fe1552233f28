//! [`CsvSource`] and its configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rivus_core::ack::Position;
use rivus_core::condition::Condition;
use rivus_core::registry::OptionError;
use rivus_core::value::Record;
use rivus_core::{PipeError, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::read::{Framed, RecordReader, Unclosed};
use super::record::RecordBuilder;
use super::workers::{Batch, Workers};
use super::{FieldType, ascii, default_delimiter, default_quote, default_true};
use crate::MAX_LEFT_OUT_PER_CALL;
use crate::checkpoint::Resume;
use crate::compression::Compression;
use crate::files::FileSet;
use crate::text::TextFile;

const fn default_max_record_bytes() -> usize {
    crate::input::default_max_record_bytes()
}

const fn default_workers() -> usize {
    0
}

/// The most `workers` a source takes.
const MAX_WORKERS: usize = 64;

/// Configuration of [`CsvSource`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    /// The file to read; or a glob (`in/*.csv`) or a directory, whose files are read one after another in the
    /// order of their paths (see `rivus_plugins::files`).
    pub path: PathBuf,
    /// Whether the first row names the columns. Default: `true`.
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// Column names; required when `has_header` is `false`, and replaces the header's names otherwise.
    /// Default: the header.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The field delimiter, one ASCII character, not a line break. Default: `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The quote character, one ASCII character, not a line break nor the delimiter. Default: `"`.
    #[serde(default = "default_quote")]
    pub quote: char,
    /// Types of columns by name (`string`, `int`, `float`, `bool`); unnamed columns are strings.
    /// Default: all strings.
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// The longest row read, in bytes; a longer row, or a quote still open after this many bytes, is a located
    /// error for the error policy, and reading goes on with the next line. Default: 1048576 (1 MiB).
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
    /// Threads that type the rows (UTF-8 checks, numbers, the pushed-down filter, the records) while the
    /// source's own thread splits the file into rows and hands the records out, in file order. Rows go to them
    /// in batches of up to 512 rows or 64 KiB, at most two batches per thread at a time. `0`: the source's
    /// thread does it all. Worth it when that thread is the pipeline's slowest and cores are free: on 2 cores,
    /// where the sink and the transforms use the second one, workers made runs slower (measured: see the
    /// [module docs](super#worker-threads)). At most 64. Default: 0.
    #[serde(default = "default_workers")]
    pub workers: usize,
}

impl CsvSourceConfig {
    /// The defaults for reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            has_header: default_true(),
            columns: None,
            delimiter: default_delimiter(),
            quote: default_quote(),
            types: BTreeMap::new(),
            max_record_bytes: default_max_record_bytes(),
            checkpoint: None,
            compression: Compression::Auto,
            file_field: None,
            workers: default_workers(),
        }
    }
}

/// Reads a CSV file row by row into records, with typed columns.
///
/// See the [module docs](super).
///
/// # Examples
///
/// ```
/// use rivus_core::SyncSource;
/// use rivus_plugins::csv::{CsvSource, CsvSourceConfig};
///
/// let dir = std::env::temp_dir().join(format!("rivus-doc-csv-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("in.csv");
/// std::fs::write(&path, "id,name\n1,ada\n2\n3,\"eve\n4,bob\n").unwrap();
///
/// let mut src = CsvSource::new(CsvSourceConfig::new(&path));
/// src.open().unwrap();
/// assert_eq!(src.next().unwrap().unwrap().get("name").unwrap(), "ada");
/// let err = src.next().unwrap().unwrap_err(); // row 2 has one field: located, and reading goes on
/// assert!(err.to_string().contains("in.csv:3"), "{err}");
/// let err = src.next().unwrap().unwrap_err(); // a quote that never closes costs its line only
/// assert!(err.to_string().contains("in.csv:4: a quote opened on this line does not close"), "{err}");
/// assert_eq!(src.next().unwrap().unwrap().get("name").unwrap(), "bob");
/// assert!(src.next().is_none());
/// ```
#[rivus_core::sync_source("csv", config = CsvSourceConfig)]
pub struct CsvSource {
    config: CsvSourceConfig,
    text: TextFile,
    reader: Option<RecordReader>,
    /// Types the rows of the open file (per file, with a glob or a directory); set by `open`.
    builder: Option<RecordBuilder>,
    /// The threads typing the rows of the open file, with `workers` > 0.
    workers: Option<Workers>,
    /// The typed batch whose records are handed out, with `workers`.
    typed: Option<Batch>,
    /// All rows of the open file were framed (with `workers`).
    framed_all: bool,
    /// The files after this one (a glob or a directory); set by `open`.
    files: Option<FileSet>,
    /// The fields the pipeline reads, when it said ([`SyncSource::project`]); `None`: every column.
    projection: Option<Vec<String>>,
    /// The condition of the `filter` right after the source ([`SyncSource::prefilter`]).
    prefilter: Option<Arc<Condition>>,
    /// Rows the prefilter rejected and left out since [`SyncSource::take_filtered`] was last called.
    left_out: u64,
    /// The most rows one `next` call leaves out ([`MAX_LEFT_OUT_PER_CALL`]; fewer in tests).
    max_left_out: u32,
}

impl CsvSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: CsvSourceConfig) -> Self {
        let text = TextFile::file(
            "csv",
            &config.path,
            config.max_record_bytes,
            config.checkpoint.as_deref(),
        )
        .compressed(config.compression);
        Self {
            config,
            text,
            reader: None,
            builder: None,
            workers: None,
            typed: None,
            framed_all: false,
            files: None,
            projection: None,
            prefilter: None,
            left_out: 0,
            max_left_out: MAX_LEFT_OUT_PER_CALL,
        }
    }

    /// A source that reads `reader` (named `file_name` in errors) instead of `config.path`: a pipe, a test, a
    /// fuzzer. A `checkpoint` is not used.
    pub fn from_reader(
        config: CsvSourceConfig,
        file_name: impl Into<String>,
        reader: Box<dyn std::io::Read + Send>,
    ) -> Self {
        let text = TextFile::stream("csv", file_name.into(), reader, config.max_record_bytes);
        Self {
            config,
            text,
            reader: None,
            builder: None,
            workers: None,
            typed: None,
            framed_all: false,
            files: None,
            projection: None,
            prefilter: None,
            left_out: 0,
            max_left_out: MAX_LEFT_OUT_PER_CALL,
        }
    }

    fn config_error(&self, message: String) -> PipeError {
        PipeError::msg(format!("{}: {message}", self.text.path().display())).with_pipe("csv")
    }

    /// The next framed record of the open file; `None` at its end.
    fn read(&mut self) -> Option<Result<Framed, PipeError>> {
        let input = match self.text.input()? {
            Ok(input) => input,
            Err(e) => return Some(Err(e)),
        };
        let reader = self.reader.as_mut()?;
        let line = input.line();
        match reader.next(input) {
            Ok(Some(framed)) => Some(Ok(framed)),
            Ok(None) => {
                self.text.end();
                None
            }
            Err(e) => {
                self.text.fail_read(line, &e);
                None
            }
        }
    }

    /// The error of a row that cannot close.
    fn unclosed(&self, line: u64, raw: Vec<u8>, truncated: bool, why: Unclosed) -> PipeError {
        if truncated || (why == Unclosed::PastBound && !raw.contains(&self.quote())) {
            return self.text.too_long(line, "the row", raw);
        }
        let message = match why {
            Unclosed::AtEnd => {
                "a quote opened on this line does not close before the end of the file"
            }
            Unclosed::PastBound => {
                "a quote opened on this line does not close within max_record_bytes"
            }
        };
        let message = format!("{message}; reading goes on with the next line");
        self.text.bad(self.text.at(line), message, &raw)
    }

    fn quote(&self) -> u8 {
        ascii(self.config.quote, "quote").unwrap_or(b'"')
    }

    /// The header's column names, or `None` for an empty file.
    fn header(&mut self) -> Result<Option<Vec<String>>, PipeError> {
        match self.read() {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(Framed::Unclosed {
                line,
                raw,
                truncated,
                why,
            })) => Err(self.unclosed(line, raw, truncated, why)),
            Some(Ok(Framed::Record { line, start, end })) => {
                let reader = self
                    .reader
                    .as_ref()
                    .ok_or_else(|| PipeError::msg("no reader"))?;
                let mut names = Vec::with_capacity(reader.len());
                for (i, name) in reader
                    .row(line, self.text.bytes_at(start, end))
                    .fields()
                    .enumerate()
                {
                    let name = std::str::from_utf8(name).map_err(|e| {
                        let at = self.text.at(line).column(i as u64 + 1);
                        let raw = self.raw(start, end);
                        self.text
                            .bad(at, format!("header is not valid UTF-8 ({e})"), &raw)
                    })?;
                    let name = name.trim();
                    // Records hold each field once: a header that names a column twice would make records
                    // whose second field of that name nothing can read.
                    if let Some(first) = names.iter().position(|n| n == name) {
                        let at = self.text.at(line).column(i as u64 + 1);
                        let raw = self.raw(start, end);
                        let message = format!(
                            "the header names column {name:?} twice (columns {} and {}); rename one, or give \
                             `columns`",
                            first + 1,
                            i + 1
                        );
                        return Err(self.text.bad(at, message, &raw));
                    }
                    names.push(name.to_owned());
                }
                Ok(Some(names))
            }
        }
    }

    /// The text of the record at `start..end` of the input's buffer, without its line ending.
    fn raw(&self, start: usize, end: usize) -> Vec<u8> {
        let bytes = self
            .text
            .bytes_at(start, end)
            .strip_suffix(b"\n")
            .unwrap_or(self.text.bytes_at(start, end));
        bytes.strip_suffix(b"\r").unwrap_or(bytes).to_vec()
    }
}

impl CsvSourceConfig {
    /// Checks the options, short of opening anything (what `rivus validate` runs).
    ///
    /// # Errors
    ///
    /// The first option that does not fit, named.
    pub fn check(&self) -> Result<(), OptionError> {
        crate::check::path(&self.path, "path")?;
        crate::check::optional_path(self.checkpoint.as_deref(), "checkpoint")?;
        crate::check::checkpoint(&self.path, self.checkpoint.as_deref(), self.compression)?;
        let delimiter = crate::check::ascii(self.delimiter, "delimiter")?;
        let quote = crate::check::ascii(self.quote, "quote")?;
        if delimiter == quote {
            return Err(OptionError::invalid(
                "quote",
                format!("the quote cannot be the delimiter ({:?})", self.quote),
            ));
        }
        for (option, byte) in [("delimiter", delimiter), ("quote", quote)] {
            if matches!(byte, b'\n' | b'\r') {
                return Err(OptionError::invalid(
                    option,
                    "cannot be a line break: rows end at line breaks",
                ));
            }
        }
        if let Some(columns) = &self.columns {
            for (i, name) in columns.iter().enumerate() {
                if columns[..i].contains(name) {
                    return Err(OptionError::invalid_at(
                        rivus_core::spec::FieldPath::root().key("columns").index(i),
                        format!("column {name:?} is named twice"),
                    ));
                }
            }
        }
        if !self.has_header && self.columns.is_none() {
            return Err(OptionError::invalid(
                "has_header",
                "`has_header = false` needs `columns`: the names of the columns, in order",
            ));
        }
        if self.workers > MAX_WORKERS {
            return Err(OptionError::invalid(
                "workers",
                format!("at most {MAX_WORKERS} threads, not {}", self.workers),
            ));
        }
        crate::check::positive(self.max_record_bytes, "max_record_bytes")
    }
}

impl TryFrom<CsvSourceConfig> for CsvSource {
    type Error = OptionError;

    fn try_from(config: CsvSourceConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSource for CsvSource {
    type Out = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "csv".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        // Checked before any file is listed or opened (and again per file, where they are used).
        ascii(self.config.delimiter, "delimiter")?;
        ascii(self.config.quote, "quote")?;
        if !self.config.has_header && self.config.columns.is_none() {
            return Err(
                self.config_error("`columns` is required when `has_header` is false".into())
            );
        }
        if self.files.is_none() {
            self.files = Some(FileSet::start(
                "csv",
                &self.config.path,
                self.config.checkpoint.as_deref(),
                self.config.compression,
                self.config.max_record_bytes,
                self.config.file_field.clone(),
                &mut self.text,
            )?);
        }
        self.open_file()
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        let mut left_out = 0;
        loop {
            if let Some((item, place)) = self.next_typed(left_out < self.max_left_out) {
                // A row left out gets its place too: the next item's position, or the one after the end,
                // covers it.
                self.text.mark_at(place);
                let item = match item {
                    Ok(None) => {
                        left_out += 1;
                        self.left_out += 1;
                        continue;
                    }
                    Ok(Some(record)) => Ok(record),
                    Err(e) => Err(e),
                };
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

    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.left_out)
    }

    /// Columns nobody reads are neither checked nor built.
    fn project(&mut self, fields: &[String]) -> bool {
        self.projection = Some(fields.to_vec());
        true
    }

    /// Rows the condition rejects cost their condition's columns (and a check of the columns read later),
    /// not a record: they are left out and counted ([`SyncSource::take_filtered`]), up to 1,024 in one `next`
    /// call. Not taken when the condition reads `file_field`, which is added after the row is read.
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        if let Some(file_field) = &self.config.file_field
            && condition.fields().contains(&file_field.as_str())
        {
            return false;
        }
        self.prefilter = Some(Arc::clone(condition));
        true
    }

    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.text.commit(&upto)
    }

    fn close(&mut self) -> Result<(), PipeError> {
        // The workers stop now (after the batch each types), not when the source is dropped.
        self.workers = None;
        self.typed = None;
        match self.files.as_mut() {
            Some(files) => files.close(&mut self.text),
            None => self.text.close(),
        }
    }
}

impl CsvSource {
    /// Opens the current file and reads its header.
    fn open_file(&mut self) -> Result<(), PipeError> {
        let delimiter = ascii(self.config.delimiter, "delimiter")?;
        let quote = ascii(self.config.quote, "quote")?;
        self.text.open()?;
        self.reader = Some(RecordReader::new(delimiter, quote));
        let header = if self.config.has_header {
            self.header()?
        } else {
            None
        };
        let names = match (&self.config.columns, header) {
            (Some(columns), _) => columns.clone(),
            (None, Some(header)) => header,
            // An empty file: no columns, and no rows to type.
            (None, None) => Vec::new(),
        };
        if !names.is_empty() {
            for typed in self.config.types.keys() {
                if !names.iter().any(|n| n == typed) {
                    return Err(self.config_error(format!(
                        "`types` names column `{typed}`, which is not among the columns {names:?}"
                    )));
                }
            }
        }
        // The workers of the file before stop here: its rows were all handed out.
        self.workers = None;
        self.typed = None;
        self.framed_all = false;
        let types = &self.config.types;
        let builder = RecordBuilder::new(
            names,
            |name| types.get(name).copied().unwrap_or_default(),
            self.projection.as_deref(),
            self.prefilter.as_ref(),
            self.text.locator(),
        );
        if self.config.workers > 0 {
            let workers = Workers::start(self.config.workers, &builder)
                .map_err(|e| self.config_error(format!("cannot start a thread: {e}")))?;
            self.workers = Some(workers);
        }
        self.builder = Some(builder);
        self.text.resume()
    }

    /// The next row's record, or its error, and the place after it; `None` inside for a row the prefilter
    /// rejects when `leave_out`. `None` at the end of the file.
    fn next_typed(
        &mut self,
        leave_out: bool,
    ) -> Option<(Result<Option<Record>, PipeError>, Resume)> {
        if self.workers.is_none() {
            let item = self.next_row(leave_out)?;
            return Some((item, self.text.place()));
        }
        loop {
            if let Some(batch) = self.typed.as_mut() {
                if let Some((item, place)) = batch.pop() {
                    // The workers leave out every row the prefilter rejects; past the bound of one call, the
                    // row is typed again here into the record the filter drops.
                    let item = match (item, &self.builder) {
                        (Ok(None), Some(builder)) if !leave_out => {
                            batch.retype_last(builder).unwrap_or(Ok(None))
                        }
                        (item, _) => item,
                    };
                    return Some((item, place));
                }
                if let (Some(done), Some(workers)) = (self.typed.take(), self.workers.as_mut()) {
                    workers.recycle(done);
                }
            }
            self.frame_batches();
            let workers = self.workers.as_mut()?;
            if workers.in_flight() == 0 {
                return None;
            }
            match workers.receive() {
                Ok(batch) => self.typed = Some(batch),
                Err(e) => {
                    self.fail_workers(e);
                    return None;
                }
            }
        }
    }

    /// Frames rows into batches for the workers until each has as many as it takes or the file ends.
    fn frame_batches(&mut self) {
        let Some(mut workers) = self.workers.take() else {
            return;
        };
        while !self.framed_all && !workers.is_full() {
            let mut batch = workers.batch();
            while !batch.is_full() {
                match self.read() {
                    None => {
                        self.framed_all = true;
                        break;
                    }
                    Some(Err(e)) => batch.push_error(e, self.text.place()),
                    Some(Ok(Framed::Unclosed {
                        line,
                        raw,
                        truncated,
                        why,
                    })) => {
                        let error = self.unclosed(line, raw, truncated, why);
                        batch.push_error(error, self.text.place());
                    }
                    Some(Ok(Framed::Record { line, start, end })) => {
                        let Some(reader) = self.reader.as_ref() else {
                            self.framed_all = true;
                            break;
                        };
                        batch.push_row(
                            &reader.row(line, self.text.bytes_at(start, end)),
                            reader.verbatim(),
                            self.text.place(),
                        );
                    }
                }
            }
            if batch.len() == 0 {
                workers.recycle(batch);
                break;
            }
            if let Err(e) = workers.send(batch) {
                self.fail_workers(e);
                return;
            }
        }
        self.workers = Some(workers);
    }

    /// A worker stopped: reading ends with `error`, which fails the run (as a read error does: the rows after
    /// the last one handed out are not read).
    fn fail_workers(&mut self, error: PipeError) {
        self.workers = None;
        self.typed = None;
        self.framed_all = true;
        self.text.fail(error);
    }

    /// The next row's record, or its error; `None` inside for a row the prefilter rejects when `leave_out`.
    fn next_row(&mut self, leave_out: bool) -> Option<Result<Option<Record>, PipeError>> {
        Some(match self.read()? {
            Err(e) => Err(e),
            Ok(Framed::Record { line, start, end }) => {
                let (Some(reader), Some(builder)) = (self.reader.as_ref(), self.builder.as_ref())
                else {
                    return Some(Err(PipeError::msg("read before open").with_pipe("csv")));
                };
                builder.record(&reader.row(line, self.text.bytes_at(start, end)), leave_out)
            }
            Ok(Framed::Unclosed {
                line,
                raw,
                truncated,
                why,
            }) => Err(self.unclosed(line, raw, truncated, why)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivus_core::error::InputError;
    use rivus_core::value::Value;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rivus-csv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn read_all(config: CsvSourceConfig) -> Vec<Result<Record, PipeError>> {
        let mut src = CsvSource::new(config);
        src.open().unwrap();
        std::iter::from_fn(|| src.next()).collect()
    }

    fn raw(err: &PipeError) -> Vec<u8> {
        InputError::find(err)
            .and_then(|e| e.raw.clone())
            .unwrap()
            .bytes
    }

    #[test]
    fn typed_columns_and_located_errors() {
        let path = temp(
            "typed.csv",
            b"id,amount,paid\n1,2.5,yes\nx,3,no\n3,4,maybe\n4,5,\n",
        );
        let mut config = CsvSourceConfig::new(&path);
        config.types.insert("id".into(), FieldType::Int);
        config.types.insert("amount".into(), FieldType::Float);
        config.types.insert("paid".into(), FieldType::Bool);
        let rows = read_all(config);
        assert_eq!(rows.len(), 4);
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.get("id"), Some(&Value::from(1)));
        assert_eq!(first.get("amount"), Some(&Value::from(2.5)));
        assert_eq!(first.get("paid"), Some(&Value::Bool(true)));
        let err = rows[1].as_ref().unwrap_err();
        assert!(
            err.to_string().contains("typed.csv:3:1, field `id`"),
            "{err}"
        );
        assert!(err.to_string().contains("\"x\" is not an integer"), "{err}");
        assert_eq!(raw(err), b"x,3,no");
        let err = rows[2].as_ref().unwrap_err().to_string();
        assert!(err.contains(":4:3, field `paid`"), "{err}");
        assert_eq!(rows[3].as_ref().unwrap().get("paid"), Some(&Value::Null));
    }

    #[test]
    fn broken_quote_wrong_count_and_bad_utf8_are_located() {
        let path = temp(
            "bad.csv",
            b"a,b\n1,2\n3,4,5\n6,\xff\xfe\n7,8\n\"9,10\n11,12\n",
        );
        let rows = read_all(CsvSourceConfig::new(&path));
        let errors: Vec<&PipeError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        let good: Vec<&Record> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(
            good.len(),
            3,
            "rows 1,2 and 7,8 and 11,12 are good: {errors:?}"
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text[0].contains("bad.csv:3") && text[0].contains("expected 2 fields, found 3"));
        assert_eq!(raw(errors[0]), b"3,4,5");
        assert!(text[1].contains("bad.csv:4:2, field `b`") && text[1].contains("UTF-8"));
        assert_eq!(raw(errors[1]), b"6,\xff\xfe");
        assert!(
            text[2].contains("bad.csv:6: a quote opened on this line does not close"),
            "{}",
            text[2]
        );
        assert_eq!(raw(errors[2]), b"\"9,10");
        assert_eq!(good[2].get("a"), Some(&Value::from("11")));
    }

    #[test]
    fn a_column_named_twice_is_an_error() {
        let path = temp("dup.csv", b"a,b,a\n1,2,3\n");
        let mut src = CsvSource::new(CsvSourceConfig::new(&path));
        let err = src.open().unwrap_err().to_string();
        assert!(
            err.contains("dup.csv:1:3")
                && err.contains("the header names column \"a\" twice (columns 1 and 3)"),
            "{err}"
        );
        let mut config = CsvSourceConfig::new(&path);
        config.columns = Some(vec!["x".into(), "y".into(), "x".into()]);
        let err = config.check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `columns[2]`: column \"x\" is named twice"
        );
    }

    #[test]
    fn a_line_break_cannot_be_the_delimiter_or_the_quote() {
        for (delimiter, quote, option) in [('\n', '"', "delimiter"), (',', '\r', "quote")] {
            let mut config = CsvSourceConfig::new("in.csv");
            config.delimiter = delimiter;
            config.quote = quote;
            let err = config.check().unwrap_err().to_string();
            assert!(err.contains(option) && err.contains("line break"), "{err}");
        }
    }

    #[test]
    fn headerless_needs_columns() {
        let path = temp("noheader.csv", b"1;2\n");
        let mut config = CsvSourceConfig::new(&path);
        config.has_header = false;
        config.delimiter = ';';
        let mut src = CsvSource::new(config.clone());
        assert!(
            src.open()
                .unwrap_err()
                .to_string()
                .contains("`columns` is required")
        );
        config.columns = Some(vec!["x".into(), "y".into()]);
        let rows = read_all(config);
        assert_eq!(rows[0].as_ref().unwrap().get("y"), Some(&Value::from("2")));
    }

    #[test]
    fn empty_and_header_only_files_give_no_records() {
        for (name, text) in [
            ("empty.csv", &b""[..]),
            ("header.csv", b"\xef\xbb\xbfa,b\n"),
        ] {
            let mut config = CsvSourceConfig::new(temp(name, text));
            config.types.insert("a".into(), FieldType::Int);
            assert!(read_all(config).is_empty(), "{name}");
        }
    }

    #[test]
    fn missing_file_and_directory_name_the_path() {
        let mut src = CsvSource::new(CsvSourceConfig::new("/nonexistent/rivus.csv"));
        let err = src.open().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/rivus.csv: cannot open"), "{err}");
        // A directory is read file by file (see `crate::files`); a glob must match something.
        let mut src = CsvSource::new(CsvSourceConfig::new("/nonexistent/*.csv"));
        let err = src.open().unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/*.csv: cannot open: no file matches the glob"),
            "{err}"
        );
    }

    #[test]
    fn a_checkpoint_resumes_after_the_last_committed_row() {
        let path = temp("cp.csv", b"id,name\n1,a\n2,\"b\nb\"\n3,c\nbad\n4,d\n");
        let state = path.with_extension("checkpoint");
        let _ = std::fs::remove_file(&state);
        let mut config = CsvSourceConfig::new(&path);
        config.checkpoint = Some(state.clone());
        let ids = |src: &mut CsvSource, n: usize| -> Vec<String> {
            (0..n)
                .filter_map(|_| src.next())
                .map(|r| match r {
                    Ok(r) => r.get("id").unwrap().as_str().unwrap().to_owned(),
                    Err(e) => format!("error at {}", InputError::find(&e).unwrap().location),
                })
                .collect()
        };

        let mut src = CsvSource::new(config.clone());
        src.open().unwrap();
        assert_eq!(ids(&mut src, 1), ["1"]);
        let first = src.position().unwrap();
        assert_eq!(ids(&mut src, 2), ["2", "3"]);
        src.commit(first).unwrap(); // only row 1 reached an end
        src.close().unwrap();

        let mut src = CsvSource::new(config.clone());
        src.open().unwrap();
        assert_eq!(
            ids(&mut src, 2),
            ["2", "3"],
            "resumes after row 1, header read"
        );
        let third = src.position().unwrap();
        src.commit(third).unwrap();
        drop(src);

        let mut src = CsvSource::new(config.clone());
        src.open().unwrap();
        assert_eq!(
            ids(&mut src, 9),
            [format!("error at {}:6", path.display()), "4".to_owned()],
            "line numbers go on from the checkpoint"
        );
        let last = src.position().unwrap();
        src.commit(last).unwrap();
        drop(src);
        let mut src = CsvSource::new(config);
        src.open().unwrap();
        assert!(src.next().is_none(), "everything was committed");
    }

    #[test]
    fn without_a_checkpoint_there_are_no_positions() {
        let path = temp("nocp.csv", b"id\n1\n");
        let mut src = CsvSource::new(CsvSourceConfig::new(&path));
        src.open().unwrap();
        assert!(src.next().unwrap().is_ok());
        assert!(src.position().is_none());
    }

    /// Each row as its field names and values (or its error's text).
    fn shown(rows: &[Result<Record, PipeError>]) -> Vec<String> {
        rows.iter()
            .map(|r| match r {
                Ok(r) => serde_json::to_string(&r.to_json()).unwrap(),
                Err(e) => e.to_string(),
            })
            .collect()
    }

    /// What the source yields under pushdown, with rows rejected by the prefilter yielded (as the filter
    /// after it would see them) rather than left out.
    fn read_pushed(
        config: CsvSourceConfig,
        fields: Option<&[&str]>,
        condition: Option<&str>,
    ) -> Vec<Result<Record, PipeError>> {
        let mut src = pushed_source(config, fields, condition);
        src.max_left_out = 0;
        src.open().unwrap();
        std::iter::from_fn(|| src.next()).collect()
    }

    fn pushed_source(
        config: CsvSourceConfig,
        fields: Option<&[&str]>,
        condition: Option<&str>,
    ) -> CsvSource {
        let mut src = CsvSource::new(config);
        if let Some(fields) = fields {
            let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            assert!(src.project(&fields));
        }
        if let Some(condition) = condition {
            assert!(src.prefilter(&Arc::new(Condition::parse(condition).unwrap())));
        }
        src
    }

    #[test]
    fn rejected_rows_are_left_out_counted_and_covered_by_the_next_position() {
        let text = "id,status\n1,paid\n2,new\n3,new\n4,new\n5,paid\n6,new\n7,new\n";
        let path = temp("left-out.csv", text.as_bytes());
        let mut config = CsvSourceConfig::new(&path);
        config.checkpoint = Some(path.with_extension("checkpoint"));
        let mut src = pushed_source(config, Some(&["id"]), Some("status == 'paid'"));
        src.max_left_out = 2;
        src.open().unwrap();
        // The offset after each line, i.e. the position of its row.
        let after = |line: usize| -> u64 {
            text.split_inclusive('\n')
                .take(line)
                .map(str::len)
                .sum::<usize>() as u64
        };
        let mut next = || {
            let item = src.next().map(|r| shown(&[r]).remove(0));
            let position = src.position().and_then(|p| p.get::<u64>());
            (item, src.take_filtered(), position)
        };
        assert_eq!(
            next(),
            (
                Some(r#"{"id":"1","status":"paid"}"#.into()),
                0,
                Some(after(2))
            )
        );
        // Rows 2 and 3 left out; row 4, after two left out in one call, yielded for the filter to drop.
        assert_eq!(next(), (Some("{}".into()), 2, Some(after(5))));
        assert_eq!(
            next(),
            (
                Some(r#"{"id":"5","status":"paid"}"#.into()),
                0,
                Some(after(6))
            )
        );
        // Rows 6 and 7 left out after the last item: the position after the end covers them.
        assert_eq!(next(), (None, 2, Some(after(8))));
        assert_eq!(after(8), text.len() as u64);
    }

    #[test]
    fn a_projection_builds_only_the_columns_read_in_file_order() {
        let path = temp(
            "projected.csv",
            b"id,note,amount,status\n1,x,2.5,paid\n2,\xff,oops,paid\n3,y\n4,z,zz,new\n",
        );
        let mut config = CsvSourceConfig::new(&path);
        config.types.insert("amount".into(), FieldType::Float);
        config.types.insert("id".into(), FieldType::Int);
        let rows = read_pushed(config, Some(&["status", "id", "gone"]), None);
        let rows = shown(&rows);
        assert_eq!(rows[0], r#"{"id":1,"status":"paid"}"#);
        // The bad note and amount are not read: no error.
        assert_eq!(rows[1], r#"{"id":2,"status":"paid"}"#);
        // The field count is still checked, located.
        assert!(
            rows[2].contains("projected.csv:4: expected 4 fields, found 2"),
            "{}",
            rows[2]
        );
        assert_eq!(rows[3], r#"{"id":4,"status":"new"}"#);
    }

    #[test]
    fn rejected_rows_give_their_own_values_row_after_row() {
        // The prefilter's columns are refilled in place from row to row: strings longer and shorter than the
        // row before's, an empty one, a typed column, a bad row between two good ones.
        let text = "id,status,n,note\n1,new,7,a\n2,a much longer status than the others,1,b\n\
                    3,x,7,c\n4,new,x,d\n5,,7,e\n6,new,8,f\n7,kept,1,g\n8,new,7,h\n";
        let path = temp("refill.csv", text.as_bytes());
        let mut config = CsvSourceConfig::new(&path);
        config.types.insert("n".into(), FieldType::Int);
        // True on an empty record, so a rejected row is its condition's fields, not an empty record.
        let condition = "not (status == 'new' or n == 7)";
        let pushed = shown(&read_pushed(config.clone(), Some(&["id"]), Some(condition)));
        let parsed = Condition::parse(condition).unwrap();
        let expected: Vec<String> = read_all(config)
            .into_iter()
            .map(|row| {
                let row = row.map(|r| {
                    let keep = parsed.eval(&r).unwrap();
                    let fields: &[&str] = if keep {
                        &["id", "status", "n"]
                    } else {
                        &["status", "n"]
                    };
                    fields
                        .iter()
                        .map(|f| (*f, r.get(f).cloned().unwrap()))
                        .collect::<Record>()
                });
                shown(&[row]).remove(0)
            })
            .collect();
        assert_eq!(pushed, expected);
        assert_eq!(pushed[2], r#"{"status":"x","n":7}"#);
        assert_eq!(pushed[4], r#"{"status":"","n":7}"#);
        assert!(pushed[3].contains(":5:3, field `n`"), "{}", pushed[3]);
    }

    #[test]
    fn a_prefilter_gives_the_rejected_rows_as_their_condition_fields_and_keeps_errors() {
        let text = b"id,amount,status,note\n1,2.5,paid,a\n2,3,new,b\n3,x,new,c\n4,5,paid\n5,6,\xff,d\n6,7,paid,e\n\
                     7\xfe,8,new,f\n8\xfe,9,paid,g\n";
        let path = temp("prefilter.csv", text);
        let mut config = CsvSourceConfig::new(&path);
        config.types.insert("amount".into(), FieldType::Float);
        let condition = "status == 'paid'";
        let pushed = shown(&read_pushed(
            config.clone(),
            Some(&["id", "amount", "status"]),
            Some(condition),
        ));
        assert_eq!(
            pushed,
            [
                r#"{"id":"1","amount":2.5,"status":"paid"}"#.to_owned(),
                // Rejected: an empty record, on which the condition is false too (the filter drops it).
                "{}".to_owned(),
                // Rejected, but its `amount` is read later and bad: the same error as without the prefilter.
                format!(
                    "pipe `csv` failed (permanent): {}:4:2, field `amount`: \"x\" is not a number (invalid float literal)",
                    path.display()
                ),
                format!(
                    "pipe `csv` failed (permanent): {}:5: expected 4 fields, found 3 (a missing delimiter, an extra one, or a quote in the wrong place)",
                    path.display()
                ),
                format!(
                    "pipe `csv` failed (permanent): {}:6:3, field `status`: not valid UTF-8 (invalid utf-8 sequence of 1 bytes from index 0)",
                    path.display()
                ),
                r#"{"id":"6","amount":7.0,"status":"paid"}"#.to_owned(),
                // Bad bytes in a column read later, of a row the condition rejects and of one it keeps.
                format!(
                    "pipe `csv` failed (permanent): {}:8:1, field `id`: not valid UTF-8 (invalid utf-8 sequence of 1 bytes from index 1)",
                    path.display()
                ),
                format!(
                    "pipe `csv` failed (permanent): {}:9:1, field `id`: not valid UTF-8 (invalid utf-8 sequence of 1 bytes from index 1)",
                    path.display()
                ),
            ]
        );
        // Without pushdown, the rows the filter keeps and the errors are the same.
        let plain = shown(&read_all(config));
        for (i, (a, b)) in pushed.iter().zip(&plain).enumerate() {
            if i == 1 {
                assert_eq!(b, r#"{"id":"2","amount":3.0,"status":"new","note":"b"}"#);
            } else if a.starts_with('{') {
                let mut whole: serde_json::Value = serde_json::from_str(b).unwrap();
                whole.as_object_mut().unwrap().remove("note");
                assert_eq!(whole, serde_json::from_str::<serde_json::Value>(a).unwrap());
            } else {
                assert_eq!(a, b, "row {i}");
            }
        }
        // A condition that holds on an empty record: a rejected row is its condition's fields.
        let rows = shown(&read_pushed(
            CsvSourceConfig::new(&path),
            Some(&["id"]),
            Some("not (status == 'new')"),
        ));
        assert_eq!(rows[1], r#"{"status":"new"}"#);
        assert_eq!(rows[0], r#"{"id":"1","status":"paid"}"#);
        // A condition that reads the file field is declined: the field comes after the row.
        let mut config = CsvSourceConfig::new(&path);
        config.file_field = Some("_file".into());
        let mut src = CsvSource::new(config);
        assert!(!src.prefilter(&Arc::new(Condition::parse("_file == 'x'").unwrap())));
    }

    #[test]
    fn reading_before_open_is_an_error() {
        let mut src = CsvSource::new(CsvSourceConfig::new("x.csv"));
        assert!(src.next().unwrap().is_err());
    }

    /// A file of `rows` rows of every kind: plain, quoted, quoted with a line break or a doubled quote, CRLF,
    /// blank lines, and bad rows (a field too many, bytes that are not UTF-8, a bad number, a line past the
    /// bound, a quote that does not close), in a pseudo-random order.
    fn mixed_rows(rows: usize) -> Vec<u8> {
        let mut text = b"id,status,amount,note\n".to_vec();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..rows {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let status = ["paid", "new", "sent"][(state % 3) as usize];
            let row: Vec<u8> = match (state >> 8) % 16 {
                0 => format!("{i},{status},1.5,\"a, b\"\n").into(),
                1 => format!("{i},{status},2,\"two\nlines\"\r\n").into(),
                2 => format!("{i},{status},3,\"say \"\"hi\"\"\"\n").into(),
                3 => format!("{i},{status},4,x,extra\n").into(),
                4 => [format!("{i},{status},5,").as_bytes(), b"\xff\xfe\n"].concat(),
                5 => format!("{i},{status},five,x\n").into(),
                6 => format!("{i},{status},6,{}\n", "y".repeat(300)).into(),
                7 => format!("\n{i},{status},7,crlf\r\n").into(),
                _ => format!("{i},{status},{}.25,n{i}\n", i % 100).into(),
            };
            text.extend_from_slice(&row);
        }
        // A quote that never closes, last.
        text.extend_from_slice(b"9999,paid,1,\"open\n");
        text
    }

    /// Every item of `config` read with `workers` threads, with what `take_filtered` and `position` said after
    /// it, and the error's raw input.
    fn read_with(
        mut config: CsvSourceConfig,
        workers: usize,
        fields: Option<&[&str]>,
        condition: Option<&str>,
        max_left_out: u32,
    ) -> Vec<(String, u64, Option<u64>)> {
        config.workers = workers;
        let mut src = pushed_source(config, fields, condition);
        src.max_left_out = max_left_out;
        src.open().unwrap();
        let mut got = Vec::new();
        loop {
            let item = src.next();
            let shown = match &item {
                None => "end".to_owned(),
                Some(Ok(record)) => serde_json::to_string(&record.to_json()).unwrap(),
                Some(Err(e)) => {
                    format!("{e} {:?}", InputError::find(e).and_then(|e| e.raw.clone()))
                }
            };
            let position = src.position().and_then(|p| p.get::<u64>());
            got.push((shown, src.take_filtered(), position));
            if item.is_none() {
                break;
            }
        }
        src.close().unwrap();
        got
    }

    #[test]
    fn workers_give_what_the_source_thread_gives() {
        let path = temp("workers.csv", &mixed_rows(3000));
        let mut config = CsvSourceConfig::new(&path);
        config.types.insert("amount".into(), FieldType::Float);
        config.max_record_bytes = 200;
        config.checkpoint = Some(path.with_extension("checkpoint"));
        // The fields the pipeline reads, the pushed-down condition, the most rows left out per call.
        type Case<'a> = (Option<&'a [&'a str]>, Option<&'a str>, u32);
        let cases: [Case<'_>; 5] = [
            (None, None, MAX_LEFT_OUT_PER_CALL),
            (Some(&["amount", "id"]), None, MAX_LEFT_OUT_PER_CALL),
            (
                Some(&["id"]),
                Some("status == 'paid'"),
                MAX_LEFT_OUT_PER_CALL,
            ),
            // Past the bound of one call, a rejected row is typed again into the record the filter drops.
            (Some(&["id", "note"]), Some("status == 'paid'"), 3),
            (None, Some("not (status == 'new') and amount > 10"), 2),
        ];
        for (fields, condition, max_left_out) in cases {
            let _ = std::fs::remove_file(path.with_extension("checkpoint"));
            let alone = read_with(config.clone(), 0, fields, condition, max_left_out);
            assert!(alone.len() > 100, "{}", alone.len());
            let found = |what: &str| alone.iter().any(|(item, ..)| item.contains(what));
            assert!(found("does not close") && found("longer than max_record_bytes"));
            if fields.is_none() {
                assert!(found("not valid UTF-8") && found("expected 4 fields, found 5"));
                assert!(found("\"five\" is not a number"), "{alone:?}");
            }
            for workers in [1, 3] {
                let got = read_with(config.clone(), workers, fields, condition, max_left_out);
                assert_eq!(
                    got, alone,
                    "{workers} workers, fields {fields:?}, condition {condition:?}"
                );
            }
        }
    }

    #[test]
    fn workers_follow_a_glob() {
        let dir = std::env::temp_dir().join(format!("rivus-csv-{}-glob", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.csv"), mixed_rows(700)).unwrap();
        std::fs::write(dir.join("b.csv"), mixed_rows(900)).unwrap();
        let mut config = CsvSourceConfig::new(dir.join("*.csv"));
        config.file_field = Some("_file".into());
        let alone = read_with(config.clone(), 0, None, Some("status == 'new'"), 1024);
        let got = read_with(config, 2, None, Some("status == 'new'"), 1024);
        assert_eq!(got, alone);
        assert!(got.iter().any(|(item, ..)| item.contains("a.csv")));
        assert!(got.iter().any(|(item, ..)| item.contains("b.csv")));
    }

    #[test]
    fn workers_resume_after_the_last_committed_row() {
        let path = temp("workers-resume.csv", &mixed_rows(4000));
        let state = path.with_extension("checkpoint");
        let _ = std::fs::remove_file(&state);
        let mut config = CsvSourceConfig::new(&path);
        config.checkpoint = Some(state.clone());
        config.workers = 2;
        // Stopped after 1,000 items (about 3,000 rows: batches read ahead) with the first 500 committed.
        let mut src = pushed_source(config.clone(), None, Some("status == 'paid'"));
        src.open().unwrap();
        let mut committed = None;
        for n in 0..1000 {
            src.next().unwrap().ok();
            if n == 499 {
                committed = src.position();
            }
        }
        src.commit(committed.unwrap()).unwrap();
        drop(src);
        let resumed = read_with(config.clone(), 2, None, Some("status == 'paid'"), 1024);
        let _ = std::fs::remove_file(&state);
        config.checkpoint = None;
        let all = read_with(config, 0, None, Some("status == 'paid'"), 1024);
        let items = |rows: &[(String, u64, Option<u64>)]| -> Vec<String> {
            rows.iter().map(|(item, ..)| item.clone()).collect()
        };
        assert_eq!(items(&resumed), items(&all)[500..]);
    }

    proptest::proptest! {
        /// On text made of the bytes that matter (quotes, delimiters, both line endings, a byte that is not
        /// UTF-8) and a small bound, in one batch or several, two workers give the items the source's thread
        /// gives alone.
        #[test]
        fn workers_give_the_same_items_on_any_text(
            text in proptest::collection::vec(
                proptest::sample::select(b"a1,\"\n\r\xff ".to_vec()), 0..3000),
            bound in 4usize..40,
            typed in proptest::prelude::any::<bool>(),
        ) {
            let items = |workers: usize| {
                let mut config = CsvSourceConfig::new("any.csv");
                config.has_header = false;
                config.columns = Some(vec!["a".into(), "b".into()]);
                config.max_record_bytes = bound;
                config.workers = workers;
                if typed {
                    config.types.insert("a".into(), FieldType::Int);
                }
                let reader = Box::new(std::io::Cursor::new(text.clone()));
                let mut src = CsvSource::from_reader(config, "any.csv", reader);
                src.open().unwrap();
                let items: Vec<String> = std::iter::from_fn(|| src.next())
                    .map(|item| match item {
                        Ok(record) => format!("{record:?}"),
                        Err(e) => format!("{e} {:?}", InputError::find(&e).and_then(|e| e.raw.clone())),
                    })
                    .collect();
                items
            };
            proptest::prop_assert_eq!(items(0), items(2));
        }
    }

    #[test]
    fn too_many_workers_is_an_option_error() {
        let mut config = CsvSourceConfig::new("in.csv");
        config.workers = 65;
        let err = config.check().unwrap_err().to_string();
        assert!(
            err.contains("workers") && err.contains("at most 64"),
            "{err}"
        );
    }
}

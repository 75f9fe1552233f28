//! [`CsvSource`] and its configuration.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rivus_core::ack::Position;
use rivus_core::condition::Condition;
use rivus_core::registry::OptionError;
use rivus_core::value::{FieldName, Record, Value};
use rivus_core::{PipeError, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::read::{Framed, RecordReader, Unclosed};
use super::{FieldType, ascii, default_delimiter, default_quote, default_true};
use crate::compression::Compression;
use crate::files::FileSet;
use crate::text::TextFile;

const fn default_max_record_bytes() -> usize {
    crate::input::default_max_record_bytes()
}

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
    /// Column names and their types, fixed at `open` (per file, with a glob or a directory).
    columns: Vec<(FieldName, FieldType)>,
    /// The files after this one (a glob or a directory); set by `open`.
    files: Option<FileSet>,
    /// The fields the pipeline reads, when it said ([`SyncSource::project`]); `None`: every column.
    projection: Option<Vec<String>>,
    /// The condition of the `filter` right after the source ([`SyncSource::prefilter`]).
    prefilter: Option<Arc<Condition>>,
    /// Whether the prefilter's condition is false on an empty record: a rejected row is then an empty record
    /// (no allocation), which the filter drops as surely.
    rejects_empty: bool,
    /// What each column is for, with a projection or a prefilter (per file, as `columns`); empty without
    /// them: every column is built.
    plan: Vec<Use>,
    /// How many columns a prefiltered record and a whole (projected) record hold: their capacities.
    widths: (usize, usize),
    /// The record of the prefilter's columns, refilled in place for every row: a rejected row (most rows, for a
    /// selective filter) then costs no allocation for a string column.
    filtered: RefCell<Record>,
    /// Rows the prefilter rejected and left out since [`SyncSource::take_filtered`] was last called.
    left_out: u64,
    /// The most rows one `next` call leaves out ([`MAX_LEFT_OUT_PER_CALL`]; fewer in tests).
    max_left_out: u32,
}

/// The most rows one `next` call leaves out: after as many rejected rows in a row, the next rejected one is
/// yielded as a record (which the filter drops), so that a call never scans a whole file of rejected rows
/// and the runtime can commit and stop between calls.
const MAX_LEFT_OUT_PER_CALL: u32 = 1024;

/// What a column of the file is for, given the projection and the prefilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Use {
    /// Nobody reads it: not checked, not built.
    Skip,
    /// Read by a later stage: built for the rows the prefilter keeps, checked for the others.
    Read,
    /// Read by the prefilter's condition: built first, for every row.
    Filter,
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
            columns: Vec::new(),
            files: None,
            projection: None,
            prefilter: None,
            rejects_empty: false,
            plan: Vec::new(),
            widths: (0, 0),
            filtered: RefCell::new(Record::new()),
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
            columns: Vec::new(),
            files: None,
            projection: None,
            prefilter: None,
            rejects_empty: false,
            plan: Vec::new(),
            widths: (0, 0),
            filtered: RefCell::new(Record::new()),
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
                for (i, name) in reader.fields().enumerate() {
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

    /// The record of the last row read, or the located error of its first bad field; `None` for a row the
    /// prefilter rejects when `leave_out` (see [`planned_record`](Self::planned_record)).
    fn row_to_record(
        &self,
        line: u64,
        start: usize,
        end: usize,
        leave_out: bool,
    ) -> Result<Option<Record>, PipeError> {
        let Some(reader) = self.reader.as_ref() else {
            return Err(PipeError::msg("read before open").with_pipe("csv"));
        };
        if reader.len() != self.columns.len() {
            let message = format!(
                "expected {} fields, found {} (a missing delimiter, an extra one, or a quote in the wrong place)",
                self.columns.len(),
                reader.len()
            );
            return Err(self
                .text
                .bad(self.text.at(line), message, &self.raw(start, end)));
        }
        if !self.plan.is_empty() {
            return self.planned_record(reader, line, start, end, leave_out);
        }
        let mut record = Record::with_capacity(self.columns.len());
        for (i, (text, (name, ty))) in reader.texts().zip(&self.columns).enumerate() {
            let at = || {
                self.text
                    .at(line)
                    .column(i as u64 + 1)
                    .field(name.to_string())
            };
            let Some(text) = text else {
                let bytes = reader.fields().nth(i).unwrap_or_default();
                let message = match std::str::from_utf8(bytes) {
                    Err(e) => format!("not valid UTF-8 ({e})"),
                    Ok(_) => "not valid UTF-8".to_owned(),
                };
                return Err(self.text.bad(at(), message, &self.raw(start, end)));
            };
            let value = ty
                .parse(text)
                .map_err(|message| self.text.bad(at(), message, &self.raw(start, end)))?;
            record.push(FieldName::clone(name), value);
        }
        Ok(Some(record))
    }

    /// The record of the last row read under a projection or a prefilter (see [`Use`]): with a prefilter,
    /// the condition's columns first. A row the condition rejects, once the columns read later are checked (so
    /// that a bad row is the same error as without the prefilter), is left out (`None`) when `leave_out`, and
    /// otherwise gives a record of the condition's columns only, or an empty one when the condition is false on
    /// that too (the filter after the source drops it, counted `filtered`). Otherwise the columns read, in file
    /// order.
    fn planned_record(
        &self,
        reader: &RecordReader,
        line: u64,
        start: usize,
        end: usize,
        leave_out: bool,
    ) -> Result<Option<Record>, PipeError> {
        if let Some(condition) = &self.prefilter
            && let Ok(partial) = self.refill(reader, line, start, end)
            && matches!(condition.eval(&partial), Ok(false))
        {
            for (i, bytes) in reader.fields().enumerate() {
                if self.plan.get(i) == Some(&Use::Read) {
                    self.value(i, bytes, false, line, start, end)?;
                }
            }
            return Ok(if leave_out {
                None
            } else if self.rejects_empty {
                Some(Record::new())
            } else {
                Some(partial.clone())
            });
        }
        // A row the condition keeps, or cannot decide (the filter then fails it, whole, for the error policy).
        self.build(reader, Use::Read, line, start, end).map(Some)
    }

    /// The prefilter's columns of this row, in the record kept for them (see [`refill_in_place`]).
    ///
    /// [`refill_in_place`]: Self::refill_in_place
    fn refill(
        &self,
        reader: &RecordReader,
        line: u64,
        start: usize,
        end: usize,
    ) -> Result<std::cell::RefMut<'_, Record>, PipeError> {
        let mut record = self.filtered.borrow_mut();
        if record.is_empty() {
            *record = self.build(reader, Use::Filter, line, start, end)?;
        } else {
            self.refill_in_place(&mut record, reader, line, start, end)?;
        }
        Ok(record)
    }

    /// Puts this row's values of the prefilter's columns into `record`, which holds the row before's (same
    /// columns, same order, every row of a file): a string column's text goes into the string it held. On an
    /// error the record is left half refilled; the next row refills it whole.
    fn refill_in_place(
        &self,
        record: &mut Record,
        reader: &RecordReader,
        line: u64,
        start: usize,
        end: usize,
    ) -> Result<(), PipeError> {
        let mut slots = record.iter_mut().map(|(_, value)| value);
        for (i, bytes) in reader.fields().enumerate() {
            if self.plan.get(i) != Some(&Use::Filter) {
                continue;
            }
            let Some(slot) = slots.next() else { break };
            let string_column = matches!(self.columns.get(i), Some((_, FieldType::String)));
            if string_column
                && let Ok(text) = std::str::from_utf8(bytes)
                && let Value::String(kept) = slot
            {
                kept.clear();
                kept.push_str(text);
            } else {
                // Any other column, or a bad one (its located error).
                *slot = self.value(i, bytes, true, line, start, end)?;
            }
        }
        Ok(())
    }

    /// The record of the columns used at least as `at_least`, in file order; the first bad one's error.
    fn build(
        &self,
        reader: &RecordReader,
        at_least: Use,
        line: u64,
        start: usize,
        end: usize,
    ) -> Result<Record, PipeError> {
        let wanted = |i: usize| self.plan.get(i).is_some_and(|u| *u >= at_least);
        let mut record =
            Record::with_capacity(self.plan.iter().filter(|u| **u >= at_least).count());
        for (i, bytes) in reader.fields().enumerate() {
            if wanted(i)
                && let Some((name, _)) = self.columns.get(i)
            {
                let value = self.value(i, bytes, true, line, start, end)?;
                record.push(FieldName::clone(name), value);
            }
        }
        Ok(record)
    }

    /// Column `i`'s value, typed; with `build = false` only checked (nothing is allocated), `Null`.
    fn value(
        &self,
        i: usize,
        bytes: &[u8],
        build: bool,
        line: u64,
        start: usize,
        end: usize,
    ) -> Result<rivus_core::value::Value, PipeError> {
        let Some((name, ty)) = self.columns.get(i) else {
            return Ok(rivus_core::value::Value::Null);
        };
        let at = || {
            self.text
                .at(line)
                .column(i as u64 + 1)
                .field(name.to_string())
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            self.text.bad(
                at(),
                format!("not valid UTF-8 ({e})"),
                &self.raw(start, end),
            )
        })?;
        let bad = |message| self.text.bad(at(), message, &self.raw(start, end));
        if !build {
            return ty
                .check(text)
                .map(|()| rivus_core::value::Value::Null)
                .map_err(bad);
        }
        ty.parse(text).map_err(bad)
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
            if let Some(item) = self.next_row(left_out < self.max_left_out) {
                // A row left out gets its place too: the next item's position, or the one after the end,
                // covers it.
                self.text.mark();
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
        self.rejects_empty = matches!(condition.eval(&Record::new()), Ok(false));
        self.prefilter = Some(Arc::clone(condition));
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
        self.plan = self.plan_for(&names);
        *self.filtered.get_mut() = Record::new();
        let used = |at_least: Use| self.plan.iter().filter(|u| **u >= at_least).count();
        self.widths = (used(Use::Filter), used(Use::Read));
        self.columns = names
            .into_iter()
            .map(|n| {
                let ty = self.config.types.get(&n).copied().unwrap_or_default();
                (FieldName::interned(&n), ty)
            })
            .collect();
        self.text.resume()
    }

    /// What each of `names` is for (see [`Use`]); empty without a projection or a prefilter.
    fn plan_for(&self, names: &[String]) -> Vec<Use> {
        if self.projection.is_none() && self.prefilter.is_none() {
            return Vec::new();
        }
        let filter = self
            .prefilter
            .as_ref()
            .map(|c| c.fields())
            .unwrap_or_default();
        names
            .iter()
            .map(|name| {
                if filter.contains(&name.as_str()) {
                    Use::Filter
                } else if (self.projection.as_ref()).is_none_or(|p| p.contains(name)) {
                    Use::Read
                } else {
                    Use::Skip
                }
            })
            .collect()
    }

    /// The next row's record, or its error; `None` inside for a row the prefilter rejects when `leave_out`.
    fn next_row(&mut self, leave_out: bool) -> Option<Result<Option<Record>, PipeError>> {
        Some(match self.read()? {
            Err(e) => Err(e),
            Ok(Framed::Record { line, start, end }) => {
                self.row_to_record(line, start, end, leave_out)
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
}

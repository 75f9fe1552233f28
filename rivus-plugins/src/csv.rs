//! CSV files: [`CsvSource`] reads rows into [`Record`]s, [`CsvSink`] writes records as rows.
//!
//! A malformed row (a wrong number of fields, bytes that are not UTF-8, a value that does not parse as its
//! column's type, a quote that never closes) is returned as a located [`InputError`] — `file:line:column,
//! field` where the column is the field's number — and the source goes on with the next row, so that the
//! pipeline's error policy decides: count and skip, dead-letter, or fail.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rivus_core::error::{InputError, Location};
use rivus_core::value::{FieldName, Record, Value};
use rivus_core::{PipeError, SyncSink, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::field_type::FieldType;

const fn default_true() -> bool {
    true
}

const fn default_delimiter() -> char {
    ','
}

const fn default_quote() -> char {
    '"'
}

/// Configuration of [`CsvSource`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    /// The file to read.
    pub path: PathBuf,
    /// Whether the first row names the columns. Default: `true`.
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// Column names; required when `has_header` is `false`, and replaces the header's names otherwise.
    /// Default: the header.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The field delimiter, one ASCII character. Default: `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The quote character, one ASCII character. Default: `"`.
    #[serde(default = "default_quote")]
    pub quote: char,
    /// Types of columns by name (`string`, `int`, `float`, `bool`); unnamed columns are strings.
    /// Default: all strings.
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
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
        }
    }
}

/// Reads a CSV file row by row into records, with typed columns.
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
/// std::fs::write(&path, "id,name\n1,ada\n2\n3,eve\n").unwrap();
///
/// let mut src = CsvSource::new(CsvSourceConfig::new(&path));
/// src.open().unwrap();
/// assert_eq!(src.next().unwrap().unwrap().get("name").unwrap(), "ada");
/// let err = src.next().unwrap().unwrap_err(); // row 2 has one field: located, and reading goes on
/// assert!(err.to_string().contains("in.csv:3"), "{err}");
/// assert_eq!(src.next().unwrap().unwrap().get("name").unwrap(), "eve");
/// assert!(src.next().is_none());
/// ```
#[rivus_core::sync_source("csv", config = CsvSourceConfig)]
pub struct CsvSource {
    config: CsvSourceConfig,
    reader: Option<csv::Reader<File>>,
    /// Column names and their types, fixed at `open`.
    columns: Vec<(FieldName, FieldType)>,
    record: csv::ByteRecord,
    file_name: String,
    done: bool,
}

impl CsvSource {
    /// A source for `config`; the file is opened by [`SyncSource::open`].
    pub fn new(config: CsvSourceConfig) -> Self {
        let file_name = config.path.display().to_string();
        Self {
            config,
            reader: None,
            columns: Vec::new(),
            record: csv::ByteRecord::new(),
            file_name,
            done: false,
        }
    }

    fn ascii(c: char, what: &str) -> Result<u8, PipeError> {
        u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
            PipeError::msg(format!("csv {what} must be one ASCII character, not {c:?}"))
        })
    }

    fn located(&self, line: u64, column: Option<u64>, message: impl Into<String>) -> PipeError {
        let mut at = Location::file(self.file_name.clone()).line(line);
        if let Some(column) = column {
            at = at.column(column);
            if let Some((name, _)) = usize::try_from(column - 1)
                .ok()
                .and_then(|i| self.columns.get(i))
            {
                at = at.field(name.to_string());
            }
        }
        PipeError::permanent("csv", InputError::new(at, message))
    }

    fn row_to_record(&self, line: u64) -> Result<Record, PipeError> {
        if self.record.len() != self.columns.len() {
            return Err(self.located(
                line,
                None,
                format!(
                    "expected {} fields, found {} (a missing delimiter, an extra one, or a quote that does not \
                     close)",
                    self.columns.len(),
                    self.record.len()
                ),
            ));
        }
        let mut record = Record::with_capacity(self.columns.len());
        for (i, (bytes, (name, ty))) in self.record.iter().zip(&self.columns).enumerate() {
            let column = i as u64 + 1;
            let text = std::str::from_utf8(bytes)
                .map_err(|e| self.located(line, Some(column), format!("not valid UTF-8 ({e})")))?;
            let value = ty
                .parse(text)
                .map_err(|message| self.located(line, Some(column), message))?;
            record.push(FieldName::clone(name), value);
        }
        Ok(record)
    }
}

impl From<CsvSourceConfig> for CsvSource {
    fn from(config: CsvSourceConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSource for CsvSource {
    type Out = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "csv".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        let file = File::open(&self.config.path).map_err(|e| {
            PipeError::permanent(
                "csv",
                InputError::caused_by(Location::file(self.file_name.clone()), e),
            )
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(self.config.has_header)
            .delimiter(Self::ascii(self.config.delimiter, "delimiter")?)
            .quote(Self::ascii(self.config.quote, "quote")?)
            .flexible(true) // field counts are checked here, with the row's location
            .from_reader(file);
        let names: Vec<String> = match (&self.config.columns, self.config.has_header) {
            (Some(columns), _) => columns.clone(),
            (None, true) => {
                let header = reader
                    .byte_headers()
                    .map_err(|e| self.located(1, None, e.to_string()))?;
                let mut names = Vec::with_capacity(header.len());
                for (i, name) in header.iter().enumerate() {
                    let name = std::str::from_utf8(name).map_err(|e| {
                        self.located(
                            1,
                            Some(i as u64 + 1),
                            format!("header is not valid UTF-8 ({e})"),
                        )
                    })?;
                    names.push(name.trim().to_owned());
                }
                names
            }
            (None, false) => {
                return Err(PipeError::msg(format!(
                    "{}: `columns` is required when `has_header` is false",
                    self.file_name
                ))
                .with_pipe("csv"));
            }
        };
        for typed in self.config.types.keys() {
            if !names.iter().any(|n| n == typed) {
                return Err(PipeError::msg(format!(
                    "{}: `types` names column `{typed}`, which is not among the columns {names:?}",
                    self.file_name
                ))
                .with_pipe("csv"));
            }
        }
        self.columns = names
            .into_iter()
            .map(|n| {
                let ty = self.config.types.get(&n).copied().unwrap_or_default();
                (FieldName::interned(&n), ty)
            })
            .collect();
        self.reader = Some(reader);
        Ok(())
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        if self.done {
            return None;
        }
        let Some(reader) = self.reader.as_mut() else {
            self.done = true;
            return Some(Err(PipeError::msg("read before open").with_pipe("csv")));
        };
        match reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                Some(self.row_to_record(line))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(err) => {
                let line = err.position().map_or(0, csv::Position::line);
                if !matches!(
                    err.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    // An I/O error: the file cannot be read further.
                    self.done = true;
                }
                Some(Err(self.located(line, None, err.to_string())))
            }
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.reader = None;
        Ok(())
    }
}

/// Configuration of [`CsvSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvSinkConfig {
    /// The file to write; created or truncated.
    pub path: PathBuf,
    /// Whether to write a header row (the first record's field names). Default: `true`.
    #[serde(default = "default_true")]
    pub header: bool,
    /// The field delimiter, one ASCII character. Default: `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

impl CsvSinkConfig {
    /// The defaults for writing `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            header: default_true(),
            delimiter: default_delimiter(),
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
    writer: Option<csv::Writer<BufWriter<File>>>,
    columns: Option<Vec<String>>,
    row: Vec<String>,
}

impl CsvSink {
    /// A sink for `config`; the file is created by [`SyncSink::open`].
    pub fn new(config: CsvSinkConfig) -> Self {
        Self {
            config,
            writer: None,
            columns: None,
            row: Vec::new(),
        }
    }

    /// The file this sink writes.
    pub fn path(&self) -> &Path {
        &self.config.path
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl From<CsvSinkConfig> for CsvSink {
    fn from(config: CsvSinkConfig) -> Self {
        Self::new(config)
    }
}

impl SyncSink for CsvSink {
    type In = Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "csv".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        let delimiter = CsvSource::ascii(self.config.delimiter, "delimiter")?;
        let file = crate::fs::create("csv", &self.config.path, false)?;
        self.writer = Some(
            csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(BufWriter::new(file)),
        );
        Ok(())
    }

    fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe("csv"))?;
        let columns = match &self.columns {
            Some(columns) => columns,
            None => {
                let columns: Vec<String> = record.field_names().map(str::to_owned).collect();
                if self.config.header {
                    writer
                        .write_record(&columns)
                        .map_err(|e| PipeError::permanent("csv", e))?;
                }
                self.columns.insert(columns)
            }
        };
        if let Some(extra) = record
            .field_names()
            .find(|f| !columns.iter().any(|c| c == f))
        {
            return Err(PipeError::msg(format!(
                "field `{extra}` is not a column of {} (columns: {})",
                self.config.path.display(),
                columns.join(", ")
            ))
            .with_pipe("csv"));
        }
        self.row.clear();
        self.row.extend(
            columns
                .iter()
                .map(|c| record.get(c).map(cell).unwrap_or_default()),
        );
        writer
            .write_record(&self.row)
            .map_err(|e| PipeError::transient("csv", e))
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self.writer.as_mut() {
            Some(writer) => writer.flush().map_err(|e| PipeError::transient("csv", e)),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            let mut inner = writer
                .into_inner()
                .map_err(|e| PipeError::transient("csv", std::io::Error::other(e.to_string())))?;
            inner.flush().map_err(|e| PipeError::transient("csv", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("typed.csv:3:1, field `id`"), "{err}");
        assert!(err.contains("\"x\" is not an integer"), "{err}");
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
        let errors: Vec<String> = rows
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        let good: Vec<&Record> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(good.len(), 2, "rows 1,2 and 7,8 are good: {errors:?}");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("bad.csv:3") && errors[0].contains("expected 2 fields, found 3")
        );
        assert!(errors[1].contains("bad.csv:4:2, field `b`") && errors[1].contains("UTF-8"));
        assert!(
            errors[2].contains("bad.csv:6"),
            "the unclosed quote swallows the rest: {}",
            errors[2]
        );
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
    fn missing_file_names_the_path() {
        let mut src = CsvSource::new(CsvSourceConfig::new("/nonexistent/rivus.csv"));
        let err = src.open().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/rivus.csv"), "{err}");
    }

    #[test]
    fn sink_round_trips_through_the_source() {
        let path = temp("out.csv", b"");
        let mut sink = CsvSink::new(CsvSinkConfig::new(&path));
        sink.open().unwrap();
        let a: Record = [("id", Value::from(1)), ("name", Value::from("a,b"))]
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
            "id,name\n1,\"a,b\"\n2,c\n"
        );
    }
}

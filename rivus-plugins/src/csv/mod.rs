//! CSV files: [`CsvSource`] reads rows into [`Record`](rivus_core::value::Record)s, [`CsvSink`] writes records
//! as rows.
//!
//! # Reading
//!
//! A malformed row (a wrong number of fields, bytes that are not UTF-8, a value that does not parse as its
//! column's type) is returned as a located [`InputError`](rivus_core::error::InputError) — `file:line:column,
//! field` where the column is the field's number — that keeps the row's text, and the source goes on with the
//! next row, so that the pipeline's error policy decides: count and skip, dead-letter, or fail.
//!
//! Quoted fields may hold line breaks; the CSV grammar decides where a row ends. A quote that never closes is
//! found when the file ends or the row grows past `max_record_bytes` (default 1 MiB) with the quote open: the
//! row's *first line* is then the bad row (it holds the quote), and reading resumes at the next line, so one stray
//! quote costs one row, not the rest of the file. A single line longer than `max_record_bytes` is a bad row too,
//! and the rest of it is read past without being held in memory. (A legitimate quoted field longer than
//! `max_record_bytes` needs a larger bound.)
//!
//! A UTF-8 byte order mark at the start is skipped; blank lines are skipped. An empty file, or one with only a
//! header, gives no records.
//!
//! # Worker threads
//!
//! With `workers = N` (default 0), the source's thread only frames rows (finds where rows and fields end, and
//! copies them into batches of up to 512 rows or 64 KiB) and `N` threads type them: UTF-8 checks, numbers, the
//! pushed-down filter, the records. Batches go to the workers in turn and come back in the same order, so records
//! keep file order, and each lane holds at most two batches, so memory stays bounded (`N` x 2 x 64 KiB, or one
//! row when a row is longer). Each row keeps its line and the place after it: errors are located and dead letters
//! keep the raw row as without workers, and a checkpoint commits only records handed out and acknowledged (rows
//! read ahead and not handed out when a run is killed are read again). Worth it when the source's thread is the
//! slowest stage and cores are free: on 2 cores the sink's thread and the runtime use the second one, and
//! workers only add the cost of the hand-offs (see `docs/architecture.md`, "Parallel parsing").
//!
//! # Writing
//!
//! See [`CsvSinkConfig`]: by default the file is replaced when the sink closes (one-shot runs); with
//! `append = true` it is appended to, and a row torn by a killed run is cut off on open.

mod marks;
mod read;
mod record;
mod sink;
mod source;
mod workers;

pub use crate::field_type::FieldType;
pub use sink::{CsvSink, CsvSinkConfig};
pub use source::{CsvSource, CsvSourceConfig};

const fn default_true() -> bool {
    true
}

const fn default_delimiter() -> char {
    ','
}

const fn default_quote() -> char {
    '"'
}

/// `c` as one ASCII byte, for a delimiter or a quote.
fn ascii(c: char, what: &str) -> Result<u8, rivus_core::PipeError> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        rivus_core::PipeError::msg(format!("csv {what} must be one ASCII character, not {c:?}"))
    })
}

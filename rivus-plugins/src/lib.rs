//! Reference plugins for Rivus, one module per system, each with its configuration type, its sources and
//! sinks, and its tests. Every plugin is registered by name (`rivus list` shows them) and used by name in
//! pipeline files.
//!
//! # Linking: call [`link()`] in applications that use plugins by name only
//!
//! Each plugin registers itself in `rivus_core::registry` at link time, through a static that the linker keeps
//! only when this crate is part of the program. A crate that is only listed in `Cargo.toml` is *not* linked:
//! Rust links a dependency only when the code names it. An application that uses these plugins through a
//! TOML pipeline file, and never names a type of this crate, must therefore say so once:
//!
//! ```
//! // At the start of `main` (or, at the top of the file: `use rivus_plugins as _;`):
//! rivus_plugins::link();
//!
//! let names: Vec<&str> = rivus_core::registry::plugins().map(|p| p.name()).collect();
//! assert!(names.contains(&"csv"));
//! ```
//!
//! The same holds for any crate of plugins: name it in code (`use my_plugins as _;`), or give it a `link()` of its
//! own. Keep each plugin's attribute in the plugin's own module, as the attributes do by default.
//!
//! # Platform support
//!
//! The registry relies on linker sections (`linkme`): it works on Linux, macOS and Windows (also FreeBSD,
//! OpenBSD and illumos), in debug and release builds. It does not work on `wasm32`.
//!
//! | module | what |
//! |---|---|
//! | [`csv`] | CSV files: typed columns, located errors |
//! | [`jsonl`] | JSON lines files |
//! | [`lines`] | text files, one record per line |
//! | [`stdio`] | stdin and stdout |
//! | [`file`](mod@file) | whole files from a directory or a glob |
//! | `kafka` | Kafka source and sink (feature `kafka`) |
//! | `postgres` | PostgreSQL source (incremental by a cursor column) and sink (COPY, upsert) (feature `postgres`) |
//! | `sqlite` | SQLite source and sink (feature `sqlite`, on by default) |
//! | `http` | HTTP sink with retries and batching, webhook source with backpressure (feature `http`) |
//! | [`generator`] | records from a template (demos, tests, benchmarks) |
//! | [`sequence`] | numbers as typed `u64` items (library pipelines, benchmarks) |
//! | [`blackhole`] | a sink that drops and counts |
//! | [`passthrough`] | a transform that changes nothing (wiring checks, placeholders) |
//! | [`transform`] | select, drop, rename, set, cast, filter |
//! | `script` | the Rhai `script` transform (feature `script`, on by default) |
//! | [`field_type`] | the field types of CSV columns and `cast` |
//!
//! # Bad input: bounded, located, kept
//!
//! The line-based sources (`csv`, `jsonl`, `lines`, `stdin`) read at most `max_record_bytes` (default 1 MiB) for
//! one record: a longer line, row or quoted field is a located error, and reading goes on at the next line, so
//! memory stays within a small multiple of the bound whatever the file holds. A CSV quote that never closes costs
//! its own line, not the rest of the file. Every bad record is an
//! [`InputError`](rivus_core::error::InputError) with file, line, column and field, and it keeps the record's raw
//! bytes. A file that cannot be opened (missing, a directory, no permission) fails the run whatever the error
//! policy: it is never a skipped record; nor is a read error in the middle of a file, which ends the source and
//! fails the run once what was read before it is written.
//!
//! # Dead letters and replay
//!
//! With `on_error = "dead_letter"`, a bad source record reaches the `[dead_letter]` sink as
//! `{ "pipe", "error", "kind", "record": null, "file", "line", "column", "field", "input" }`, where `input` is the
//! raw line (or row) as text; one that is not UTF-8 has `input_base64` instead, and one cut at the bound has
//! `input_truncated: true`. To replay after a fix: correct the `input`s in the dead-letter file, write them back
//! as lines with the `lines` sink (`field = "input"`, and for CSV `header` = the input's header), and run the same
//! pipeline on that file. `docs/files.md` has the recipe as pipeline files; a test in `rivus-cli/tests/files.rs`
//! runs it.
//!
//! # File sinks and crashes
//!
//! The `csv`, `jsonl` and `lines` sinks hand whole records to the file and count them as written once
//! [`flush`](rivus_core::SyncSink::flush) pushed them to the operating system (and to the disk, with
//! `fsync = true`); a write or flush error names the path and says why (`/dev/full: cannot write: No space left
//! on device (os error 28)`, `people.csv/out.jsonl: cannot create: people.csv is not a directory`).
//!
//! - `append = false` (the default), for one-shot runs: the records go to a partial file beside the output
//!   (`.NAME.XXXXXX.partial`), renamed over the output when the sink closes. A reader sees the old file or the
//!   whole new one; a killed run leaves the old output as it was (and its partial file, which no run uses and
//!   which can be deleted), so running it again gives the output of an uninterrupted run. A run that stops on an
//!   error still closes its sinks: the output then holds what the summary counts as written.
//! - `append = true`, for resumable sources (Kafka, a file source with a `checkpoint`): the file is never
//!   truncated, so output whose positions were committed is never lost; a record torn by a killed run is cut off
//!   when the file is opened again, and a failed write is cut back to the last flush.
//!
//! Paths that are not regular files (`/dev/null`, a FIFO) are written in place.
//!
//! # Checkpoints
//!
//! `csv`, `jsonl` and `lines` take `checkpoint = "state-file"`: the source then gives the runtime the byte offset
//! after each record as its position, the runtime commits a position once every record up to it was written,
//! filtered, skipped or dead-lettered, and the source writes it to the state file. A run that is stopped or killed
//! resumes after the last committed record; with `append = true` on the sinks every record arrives at least once,
//! and a kill repeats at most the records in flight (the pipeline's buffer, `buffer_size`). The state file
//! checks that the input is the same file (device, inode, and the bytes before the offset), and says so when it
//! is not. A finished run's checkpoint makes the next run read only what was appended since.

/// The most rows (or records) a source that takes a prefilter leaves out in one `next` call: after as many
/// rejected ones in a row, the next rejected one is yielded (the filter after the source drops it), so that a call
/// never scans a whole file of rejected rows and the runtime can commit and stop between calls. The `csv`
/// source's and the `generator`'s.
const MAX_LEFT_OUT_PER_CALL: u32 = 1024;

/// Makes sure that this crate, and with it every plugin it defines, is linked into the program.
///
/// Calling it does nothing at run time; naming the crate is what matters. `use rivus_plugins as _;` has the same
/// effect. See the crate documentation.
///
/// ```
/// rivus_plugins::link();
/// assert!(rivus_core::registry::find(rivus_core::registry::PluginKind::SyncSource, "csv").is_some());
/// ```
#[inline]
pub fn link() {}

pub mod blackhole;
mod check;
mod checkpoint;
pub mod compression;
pub mod csv;
pub mod field_type;
pub mod file;
pub mod files;
mod fs;
pub mod generator;
#[cfg(feature = "http")]
pub mod http;
mod input;
mod json;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lines;
mod output;
pub mod passthrough;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "script")]
pub mod script;
pub mod sequence;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod stdio;
mod text;
pub mod transform;
mod word;

//! Reference plugins for Rivus, one module per system, each with its configuration type, its sources and
//! sinks, and its tests.
//!
//! | module | what |
//! |---|---|
//! | [`csv`] | CSV files: typed columns, located errors |
//! | [`jsonl`] | JSON lines files |
//! | [`lines`] | text files, one record per line |
//! | [`stdio`] | stdin and stdout |
//! | [`file`] | whole files from a directory or a glob |
//! | `kafka` | Kafka source and sink (feature `kafka`) |
//! | [`generator`] | records from a template (demos, tests, benchmarks) |
//! | [`blackhole`] | a sink that drops and counts |
//! | [`transform`] | select, drop, rename, set, cast, filter |
//! | `script` | the Rhai `script` transform (feature `script`, on by default) |
//! | [`field_type`] | the field types of CSV columns and `cast` |

pub mod blackhole;
pub mod csv;
pub mod field_type;
pub mod file;
mod fs;
pub mod generator;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lines;
#[cfg(feature = "script")]
pub mod script;
pub mod stdio;
pub mod transform;

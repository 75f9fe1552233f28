//! Reference plugins for Rivus, one module per system, each with its configuration type, its sources and
//! sinks, and its tests. Every plugin is registered by name (`rivus list` shows them) and used by name in
//! pipeline files.
//!
//! # Linking
//!
//! A program that uses these plugins only by name must link this crate: call [`link()`] at start-up or write
//! `use rivus_plugins as _;`. Naming the crate in `Cargo.toml` alone is not enough: the linker drops crates the
//! program does not use, and their plugins with them.
//!
//! | module | what |
//! |---|---|
//! | [`csv`] | CSV files: typed columns, located errors |
//! | [`jsonl`] | JSON lines files |
//! | [`lines`] | text files, one record per line |
//! | [`stdio`] | stdin and stdout |
//! | [`file`] | whole files from a directory or a glob |
//! | [`generator`] | records from a template (demos, tests, benchmarks) |
//! | [`sequence`] | numbers as typed `u64` items (library pipelines, benchmarks) |
//! | [`blackhole`] | a sink that drops and counts |
//! | [`transform`] | select, drop, rename, set, cast, filter |
//! | `script` | the Rhai `script` transform (feature `script`, on by default) |
//! | [`field_type`] | the field types of CSV columns and `cast` |

/// Makes sure this crate is linked, so that its plugins are in the registry.
///
/// The linker leaves out a crate whose items a program never uses, and with it the plugins the crate registers.
/// A program that uses these plugins only by name (from a pipeline file) must name the crate in its code: call
/// `rivus_plugins::link()` at start-up, or write `use rivus_plugins as _;`.
///
/// ```
/// rivus_plugins::link();
/// assert!(rivus_core::registry::find(rivus_core::registry::PluginKind::SyncSource, "csv").is_some());
/// ```
#[inline(never)]
pub fn link() {
    // Reading a descriptor keeps this crate's registrations reachable.
    std::hint::black_box(&csv::CsvSource::new);
}

pub mod blackhole;
pub mod csv;
pub mod field_type;
pub mod file;
mod fs;
pub mod generator;
pub mod jsonl;
pub mod lines;
#[cfg(feature = "script")]
pub mod script;
pub mod sequence;
pub mod stdio;
pub mod transform;

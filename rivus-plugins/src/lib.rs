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
//! | [`generator`] | records from a template (demos, tests, benchmarks) |
//! | [`sequence`] | numbers as typed `u64` items (library pipelines, benchmarks) |
//! | [`blackhole`] | a sink that drops and counts |
//! | [`passthrough`] | a transform that changes nothing (wiring checks, placeholders) |
//! | [`transform`] | select, drop, rename, set, cast, filter |
//! | `script` | the Rhai `script` transform (feature `script`, on by default) |
//! | [`field_type`] | the field types of CSV columns and `cast` |

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
pub mod csv;
pub mod field_type;
pub mod file;
mod fs;
pub mod generator;
mod input;
mod json;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lines;
mod output;
pub mod passthrough;
#[cfg(feature = "script")]
pub mod script;
pub mod sequence;
pub mod stdio;
mod text;
pub mod transform;

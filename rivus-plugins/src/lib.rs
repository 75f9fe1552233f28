//! Reference plugins for Rivus, one module per system, each with its configuration type, its sources and
//! sinks, and its tests.
//!
//! | module | what |
//! |---|---|
//! | [`csv`] | CSV files: typed columns, located errors |
//! | [`jsonl`] | JSON lines files |
//! | [`transform`] | select, drop, rename, set, cast, filter |
//! | `script` | the Rhai `script` transform (feature `script`, on by default) |
//! | [`field_type`] | the field types of CSV columns and `cast` |

pub mod csv;
pub mod field_type;
pub mod jsonl;
#[cfg(feature = "script")]
pub mod script;
pub mod transform;

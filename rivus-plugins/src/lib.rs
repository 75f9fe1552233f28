//! Reference plugins for Rivus, one module per system, each with its configuration type, its sources and
//! sinks, and its tests.
//!
//! | module | what |
//! |---|---|
//! | [`csv`] | CSV files: typed columns, located errors |
//! | [`jsonl`] | JSON lines files |

pub mod csv;
pub mod jsonl;

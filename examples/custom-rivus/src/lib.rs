//! A custom distribution of `rivus`: this crate's plugins, one of each kind, and a binary that is the `rivus`
//! command with them in it (`src/main.rs`, three lines). Every subcommand knows them:
//!
//! ```sh
//! cargo run -p custom-rivus -- list
//! cargo run -p custom-rivus -- describe readings
//! cargo run -p custom-rivus -- run examples/custom-rivus/pipelines/readings.toml
//! cargo run -p custom-rivus -- test examples/custom-rivus/pipelines/readings.toml
//! ```
//!
//! | plugin | kind | how it takes its options |
//! |---|---|---|
//! | [`readings`](sources::Readings) | sync source | derives `Deserialize` |
//! | [`ticker`](sources::Ticker) | async source | derives `Deserialize` and `JsonSchema` |
//! | [`fahrenheit`](pipes::Fahrenheit) | sync pipe | none (no fields) |
//! | [`label`](pipes::Label) | async pipe | `config = LabelConfig`, checked by `TryFrom` |
//! | [`tsv`](sinks::Tsv) | sync sink | derives `Deserialize` |
//! | [`stats`](sinks::Stats) | async sink | none (fields and `Default`) |

pub mod pipes;
pub mod sinks;
pub mod sources;

/// Makes sure this crate, and with it its plugins, is linked into the program: call it in `main`.
#[inline]
pub fn link() {}

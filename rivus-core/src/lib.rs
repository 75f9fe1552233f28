//! # Rivus
//!
//! Typed, composable data pipelines for Rust: pipes that turn inputs into outputs, sync or async, composed with
//! `>>` and checked by the compiler; sources and sinks with an `open`/`close` lifecycle; a runtime that runs them
//! over bounded channels; plugins registered by name at link time, and pipelines described in TOML by those
//! names. This page walks from a pipe, to a plugin, to a pipeline file; `rivus-core` is the only dependency any
//! of it needs.
//!
//! ## A pipe
//!
//! A pipe is a struct that implements [`SyncPipe`] (or [`AsyncPipe`]); closures become pipes with [`pipe::map`]
//! and its siblings. `>>` and `.then()` compose them, and a chain that does not line up does not compile.
//!
//! ```
//! use rivus_core::prelude::*;
//!
//! /// Parses "name,amount" lines.
//! struct Parse;
//!
//! impl SyncPipe for Parse {
//!     type In = String;
//!     type Out = (String, u64);
//!     fn process(&self, line: String) -> Result<(String, u64), PipeError> {
//!         let (name, amount) = line.split_once(',').ok_or_else(|| PipeError::msg("no comma"))?;
//!         let amount = amount.trim().parse().permanent("parse")?;
//!         Ok((name.to_owned(), amount))
//!     }
//! }
//!
//! let p = Parse
//!     .then(pipe::filter(|(_, amount): &(String, u64)| *amount > 0))
//!     >> pipe::map(|(name, amount): (String, u64)| format!("{name}: {amount}"));
//!
//! let mut out = Vec::new();
//! for line in ["ada,3", "bob,0", "eve,7"] {
//!     p.process_each(line.to_owned(), &mut out).unwrap();
//! }
//! assert_eq!(out, ["ada: 3", "eve: 7"]);
//!
//! let err = p.process("oops".to_owned()).unwrap_err();
//! assert_eq!(err.pipe(), "Parse");
//!
//! // On the runtime (Tokio, re-exported as `rivus_core::tokio`): a source, the pipe, a sink, and a report.
//! # rivus_core::tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let out = sink::collect();
//! let report = Pipeline::from_iter(["ada,3", "eve,7"].map(String::from))
//!     .pipe(p)
//!     .sink(out.clone())
//!     .run()
//!     .await
//!     .unwrap();
//! assert_eq!((out.items(), report.items_written()), (vec!["ada: 3".to_owned(), "eve: 7".to_owned()], 2));
//! # });
//! ```
//!
//! ## A plugin
//!
//! One attribute makes a struct a plugin, registered by name: [`macro@sync_pipe`] here, and
//! [`macro@async_pipe`], [`macro@sync_source`], [`macro@async_source`], [`macro@sync_sink`],
//! [`macro@async_sink`] for the other kinds. A struct that derives `Deserialize` takes its fields as options; a
//! struct without fields takes none (the [registry](registry#options-what-a-plugins-table-holds) lists the forms).
//! The attribute also gives the type `>>`. Plugins that pipeline files use carry [`Record`](value::Record)s.
//!
//! ```standalone_crate
//! use rivus_core::prelude::*;
//!
//! /// Adds `amount` to a numeric field.
//! #[sync_pipe("add")]
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Add {
//!     /// The field to add to.
//!     field: String,
//!     /// What to add.
//!     #[serde(default)]
//!     amount: i64,
//! }
//!
//! impl SyncPipe for Add {
//!     type In = Record;
//!     type Out = Record;
//!     fn process(&self, mut record: Record) -> Result<Record, PipeError> {
//!         let n = record.get(&self.field).and_then(Value::as_i64);
//!         let n = n.ok_or_else(|| PipeError::msg(format!("`{}` is not a number", self.field)))?;
//!         record.insert(self.field.as_str(), n + self.amount);
//!         Ok(record)
//!     }
//! }
//!
//! let add = registry::lookup(PluginKind::SyncPipe, "add").unwrap();
//! assert_eq!(add.description(), "Adds `amount` to a numeric field.");
//! let options: Vec<(String, bool)> = add.config_fields().into_iter().map(|f| (f.name, f.required)).collect();
//! assert_eq!(options, [("field".to_owned(), true), ("amount".to_owned(), false)]); // in the struct's order
//!
//! let plus_two: Add = add.build(json!({ "field": "n", "amount": 2 })).unwrap().downcast().unwrap();
//! let record = (plus_two >> pipe::map(|r: Record| r.with("done", true))).process(Record::new().with("n", 1));
//! assert_eq!(record.unwrap().to_json(), json!({ "n": 3, "done": true }));
//! ```
//!
//! ## A pipeline file
//!
//! A pipeline file names plugins and gives their options ([`spec`]); every mistake in it is reported at its file,
//! line and column. This is what the `rivus` command runs, and what an application with its own plugins runs
//! with [`spec::PipelineFile`].
//!
//! ```standalone_crate
//! # use rivus_core::prelude::*;
//! # /// Adds `amount` to a numeric field.
//! # #[sync_pipe("add")]
//! # #[derive(Deserialize)]
//! # #[serde(deny_unknown_fields)]
//! # struct Add { field: String, #[serde(default)] amount: i64 }
//! # impl SyncPipe for Add {
//! #     type In = Record;
//! #     type Out = Record;
//! #     fn process(&self, mut record: Record) -> Result<Record, PipeError> {
//! #         let n = record.get(&self.field).and_then(Value::as_i64).unwrap_or(0);
//! #         record.insert(self.field.as_str(), n + self.amount);
//! #         Ok(record)
//! #     }
//! # }
//! use std::path::Path;
//! use std::sync::Mutex;
//!
//! use rivus_core::spec::{PipelineFile, SourceText};
//!
//! /// Gives `{ "n": 1 }` to `{ "n": count }`.
//! #[sync_source("count")]
//! #[derive(Deserialize)]
//! struct Count {
//!     count: i64,
//!     #[serde(skip)]
//!     at: i64,
//! }
//!
//! impl SyncSource for Count {
//!     type Out = Record;
//!     fn next(&mut self) -> Option<Result<Record, PipeError>> {
//!         self.at += 1;
//!         (self.at <= self.count).then(|| Ok(Record::new().with("n", self.at)))
//!     }
//! }
//!
//! static SEEN: Mutex<Vec<Value>> = Mutex::new(Vec::new());
//!
//! /// Keeps what it takes in `SEEN`.
//! #[sync_sink("seen")]
//! struct Seen;
//!
//! impl SyncSink for Seen {
//!     type In = Record;
//!     fn write(&mut self, record: Record) -> Result<(), PipeError> {
//!         SEEN.lock().unwrap().push(record.to_json());
//!         Ok(())
//!     }
//! }
//!
//! const FILE: &str = r#"
//! [source]
//! plugin = "count"
//! count = 3
//!
//! [[transforms]]
//! plugin = "add"
//! field = "n"
//! amount = 10
//!
//! [[sinks]]
//! plugin = "seen"
//! "#;
//! let parse = |text: &str| {
//!     PipelineFile::parse(Path::new("numbers.toml"), SourceText::new("numbers.toml", text), &|_| None)
//! };
//! let pipeline = parse(FILE)?.build()?.into_pipeline();
//! # rivus_core::tokio::runtime::Runtime::new()?.block_on(async {
//! let report = pipeline.run().await?;
//! assert_eq!(report.items_written(), 3);
//! # Ok::<(), PipelineError>(()) })?;
//! assert_eq!(*SEEN.lock().unwrap(), [json!({ "n": 11 }), json!({ "n": 12 }), json!({ "n": 13 })]);
//!
//! let err = parse(&FILE.replace("amount", "amout"))?.build().err().unwrap();
//! assert_eq!(
//!     err.to_string(),
//!     "numbers.toml:9:1: `transforms[0].amout`: plugin `add`: unknown field `amout`, expected `field` or `amount`"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Plugins in another crate are listed only when that crate is linked: see [`registry`] ("Linking"). The
//! registry works on Linux, macOS and Windows, not on `wasm32`. A program that links its plugin crates and calls
//! `rivus_cli::main()` is the `rivus` command with its plugins in it (see the `rivus-cli` crate).
//!
//! ## The map
//!
//! The map of the workspace, the delivery guarantees and the reasons behind the crate's shape are in the
//! repository's `docs/architecture.md`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`pipe`] | the six traits; closures as pipes |
//! | [`compose`] | `>>` and `.then()` |
//! | [`stream`] | the runtime: [`Pipeline`], sources and sinks for programs and tests, the `Stream` form |
//! | [`registry`] | plugins registered by the attributes: look-ups, duplicates, building from configuration |
//! | [`spec`] | pipeline files: TOML by plugin names, located errors |
//! | [`value`] | [`Record`](value::Record), the dynamic item of pipelines built from files |
//! | [`dynamic`] | type-erased pipes, sources, sinks and plugins, for pipelines built at run time |
//! | [`error`] | [`PipeError`] |
//! | [`config`] | [`PipeConfig`], [`StreamConfig`], [`ErrorPolicy`] |
//! | [`message`] | [`Message`] and [`MessageMetadata`] |
//! | [`window`] | tumbling, sliding and session windows |
//! | [`retry`] | [`RetryPolicy`](retry::RetryPolicy) |
//! | [`ack`] | at-least-once: source [`Position`](ack::Position)s and their commits |
//! | [`metrics`] | [`RunReport`](metrics::RunReport), [`PipelineMonitor`](metrics::PipelineMonitor), metric names |
//!
//! The crate re-exports [`serde`], [`schemars`], [`serde_json`] and [`tokio`], so that a plugin crate derives
//! `Deserialize` and `JsonSchema` and a program runs its pipelines with `rivus-core` as its only dependency
//! (`#[rivus_core::tokio::main(crate = "rivus_core::tokio")]` on an `async fn main`).

pub mod ack;
pub mod compose;
pub mod condition;
pub mod config;
pub mod dynamic;
pub mod error;
pub mod message;
pub mod metrics;
pub mod pipe;
pub mod registry;
pub mod retry;
pub mod secrets;
pub mod spec;
pub mod stream;
pub mod value;
pub mod window;

#[doc(hidden)]
pub mod __private;

pub use rivus_macros::{async_pipe, async_sink, async_source, sync_pipe, sync_sink, sync_source};
pub use schemars;
pub use serde;
pub use serde_json;
pub use tokio;

pub use compose::{PipeExt, SyncPipeExt};
pub use config::{ErrorPolicy, PipeConfig, StreamConfig};
pub use error::{BoxError, ErrorKind, PipeError, ResultExt};
pub use message::{Headers, Message, MessageMetadata};
pub use pipe::{AsyncPipe, AsyncSink, AsyncSource, Emit, SyncPipe, SyncSink, SyncSource};
pub use stream::{DeadLetter, Pipeline, PipelineError};

/// The names most programs need: `use rivus_core::prelude::*;`.
///
/// The traits, `>>`, the runtime, the registry and the plugin attributes; [`Record`](crate::value::Record), its
/// [`Value`](crate::value::Value)s and `json!`; and the `Deserialize` and `JsonSchema` derives that plugins use
/// for their options.
pub mod prelude {
    pub use crate::compose::{PipeExt, SyncPipeExt};
    pub use crate::config::{ErrorPolicy, PipeConfig, StreamConfig};
    pub use crate::error::{ErrorKind, PipeError, ResultExt};
    pub use crate::json;
    pub use crate::message::{Message, MessageMetadata};
    pub use crate::metrics::{PipelineMonitor, RunReport};
    pub use crate::pipe::{
        self, AsyncPipe, AsyncSink, AsyncSource, Emit, SyncPipe, SyncSink, SyncSource,
    };
    pub use crate::registry::{self, PluginKind};
    pub use crate::retry::RetryPolicy;
    pub use crate::stream::{
        DeadLetter, Pipeline, PipelineError, PipelineStream, StreamPipe, sink, source,
    };
    pub use crate::value::{Record, Value};
    pub use crate::window::{Window, Windows};
    pub use rivus_macros::{
        async_pipe, async_sink, async_source, sync_pipe, sync_sink, sync_source,
    };
    pub use schemars::JsonSchema;
    pub use serde::Deserialize;
}

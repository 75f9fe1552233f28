//! # Rivus
//!
//! Typed, composable data pipelines for Rust: pipes that turn inputs into outputs, sync or async, composed with
//! `>>` and checked by the compiler; sources and sinks with an `open`/`close` lifecycle; one error type that
//! knows which pipe failed and whether a retry may help.
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
//! ```
//!
//! The map of the crate, and the reasons behind its shape, are in the repository's `DESIGN.md`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`pipe`] | the six traits; closures as pipes |
//! | [`compose`] | `>>` and `.then()` |
//! | [`message`] | [`Message`] and [`MessageMetadata`] |
//! | [`dynamic`] | type-erased pipes, sources and sinks for pipelines built at run time |
//! | [`error`] | [`PipeError`] |
//! | [`config`] | [`PipeConfig`], [`StreamConfig`], [`ErrorPolicy`] |
//! | [`spec`] | pipeline files: TOML by plugin names, located errors |
//! | [`value`] | [`Record`](value::Record), the dynamic item of config-built pipelines |
//! | [`stream`] | the runtime: [`Pipeline`], sinks and sources for tests, the `Stream` form |
//! | [`window`] | tumbling, sliding and session windows |
//! | [`retry`] | [`RetryPolicy`](retry::RetryPolicy) |
//! | [`ack`] | at-least-once: source [`Position`](ack::Position)s and their commits |
//! | [`metrics`] | [`RunReport`](metrics::RunReport), [`PipelineMonitor`](metrics::PipelineMonitor), metric names |
//! | [`registry`] | plugins registered by the attributes below: look-ups, duplicates, build from configuration |
//!
//! # Plugins
//!
//! One attribute per kind makes a struct a plugin, registered by name at link time: [`macro@async_source`],
//! [`macro@async_sink`], [`macro@sync_source`], [`macro@sync_sink`], [`macro@async_pipe`], [`macro@sync_pipe`].
//! The attribute also gives the type `>>` (see [`compose`]). Plugins in another crate are listed only when that
//! crate is linked: see [`registry`] ("Linking"). The registry works on Linux, macOS and Windows, not on
//! `wasm32`.
//!
//! The crate re-exports [`serde`] and [`schemars`], so that a plugin crate can derive a configuration's
//! `Deserialize` and `JsonSchema` with `rivus-core` as its only dependency (with
//! `#[serde(crate = "rivus_core::serde")]` and `#[schemars(crate = "rivus_core::schemars")]`).

pub mod ack;
pub mod compose;
pub mod config;
pub mod dynamic;
pub mod error;
pub mod message;
pub mod metrics;
pub mod pipe;
pub mod registry;
pub mod retry;
pub mod spec;
pub mod stream;
pub mod value;
pub mod window;

#[doc(hidden)]
pub mod __private;

pub use rivus_macros::{async_pipe, async_sink, async_source, sync_pipe, sync_sink, sync_source};
pub use schemars;
pub use serde;

pub use compose::{PipeExt, SyncPipeExt};
pub use config::{ErrorPolicy, PipeConfig, StreamConfig};
pub use error::{BoxError, ErrorKind, PipeError, ResultExt};
pub use message::{Headers, Message, MessageMetadata};
pub use pipe::{AsyncPipe, AsyncSink, AsyncSource, Emit, SyncPipe, SyncSink, SyncSource};
pub use stream::{DeadLetter, Pipeline, PipelineError};

/// The names most programs need: `use rivus_core::prelude::*;`.
pub mod prelude {
    pub use crate::compose::{PipeExt, SyncPipeExt};
    pub use crate::config::{ErrorPolicy, PipeConfig, StreamConfig};
    pub use crate::error::{ErrorKind, PipeError, ResultExt};
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
    pub use crate::window::{Window, Windows};
    pub use rivus_macros::{
        async_pipe, async_sink, async_source, sync_pipe, sync_sink, sync_source,
    };
}

/// The README's examples run as doctests, so that the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

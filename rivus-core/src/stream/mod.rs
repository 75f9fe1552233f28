//! The runtime: a [`Pipeline`] runs a source, pipes and sinks as tasks joined by bounded channels, and
//! accounts for every item in a ledger.
//!
//! ```text
//! source ─▶ [pipe] ─▶ [pipe >> pipe] ─▶ [batch / window] ─▶ [fan-out] ─▶ sink(s)     dead letters ─▶ dead-letter sink
//!        chan      chan              chan                chan         chan
//! ```
//!
//! * **The ledger.** Every item a source yields ends written, filtered, skipped, dead-lettered, failed or not
//!   processed, and the [`RunReport`](crate::metrics::RunReport) counts them per stage and in total: `read +
//!   expanded = written + filtered + skipped + dead-lettered + failed + not processed`, always (see
//!   [`crate::metrics`]). An item is *written* only once every sink's `flush` after its `write` returned `Ok`.
//! * **Backpressure.** Every channel holds at most `buffer_size` items ([`PipeConfig::buffer_size`] of the
//!   stage it feeds, [`StreamConfig::buffer_size`] by default): a slow sink slows the source, memory stays
//!   bounded.
//! * **Chunks.** Items travel in chunks of up to [`StreamConfig::chunk_size`] items (and never more than the
//!   channel's buffer). A stage sends a partial chunk as soon as its input runs dry or it is about to wait, so
//!   chunking costs no latency on a quiet stream, and one channel operation carries many items on a busy one.
//! * **Fusion.** Sync pipes added one after another with [`.pipe()`](Pipeline::pipe) run in one task as one
//!   [`Chain`](crate::compose::Chain), with no channel between them (turn it off with
//!   [`StreamConfig::fuse_sync_stages`]). A pipe added with [`.pipe_with()`](Pipeline::pipe_with) always gets
//!   its own task, concurrency, retries and error policy.
//! * **Concurrency.** An async pipe with `concurrency = N` works on N items at once; a sync pipe with
//!   `concurrency = N` (or `blocking = true`) runs on N workers that each take a whole chunk (on Tokio's
//!   blocking pool with `blocking`); both keep the input order unless [`PipeConfig::ordered`] is off. Sync
//!   sources and sinks run on a thread of their own, so a call that blocks in the OS never holds a worker.
//! * **Errors.** A failed item (after its [retries](crate::retry::RetryPolicy)) goes to its stage's
//!   [`ErrorPolicy`]: skip (counted), dead-letter ([`DeadLetter`]: the item, the error, the pipe's name;
//!   counted once the dead-letter sink confirmed it), or fail fast. Fail fast is deterministic: the items
//!   before the failing one that passed every stage are written, the ones after it that the pipeline had
//!   taken are given back unread, the run's error is the failing item's, and the same input gives the same
//!   output every time (see [`crate::metrics`] for the one count that can move). A panicking pipe is an error
//!   of that item.
//! * **Acknowledgements.** See [`crate::ack`]: a source that gives positions is committed only past items that
//!   were written, filtered, skipped or dead-lettered.
//! * **Stopping.** [`shutdown_on`](Pipeline::shutdown_on) (a token) or
//!   [`shutdown_on_signals`](Pipeline::shutdown_on_signals) (Ctrl-C, SIGTERM): the source stops, items in
//!   flight drain to the sinks, sinks are flushed and closed once, positions are committed. A second request,
//!   or [`StreamConfig::shutdown_timeout`] after the first, aborts: tasks are dropped where they are, threads
//!   blocked in the OS are left behind, and `run` returns at once with the ledger so far
//!   ([`PipelineError::Aborted`]).
//! * **Numbers.** A [`RunReport`](crate::metrics::RunReport) per run, a live
//!   [`PipelineMonitor`](crate::metrics::PipelineMonitor), and the [`metrics`](crate::metrics) facade; every
//!   stage task runs in a `tracing` span `rivus_stage{pipeline, stage}`.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `builder` | [`Pipeline`], [`Sinks`], [`PipelineError`] |
//! | `parts` | the sealed traits each kind of part joins the builder through |
//! | `coordinator` | wiring a run, driving its state from outside (tokens, signals, timeout), the report |
//! | `state` | the run-state machine (running → draining → stopped / aborted), the run's error, the gate |
//! | `channel` | chunks, their per-item bookkeeping (ledger weight, ack tag), the bounded chunk channel |
//! | `task` | one module per task kind: source, sync pipe, async pipe, batch, window, fan-out, sink |
//! | `driver` | how tasks call sources and sinks: inline (async) or on a thread of their own (sync) |
//! | `dead_letter` | [`DeadLetter`] and the dead-letter task |
//! | `acks` | the tracker behind acknowledgements |
//! | `stream_form` | [`PipelineStream`], [`process`], [`StreamPipe`] |
//! | `endpoints` | [`source`] and [`sink`]: small in-memory sources and sinks for programs, tests and benchmarks |
//! | `wiring` | starting a run: registering each stage (counters, place, policies) and spawning its task |
//!
//! # Items
//!
//! Items are plain values ([`Item`]: `Clone + Send + 'static`), not [`Message`](crate::Message)s: the runtime
//! adds no id, timestamp or allocation per item. Use `Message<T>` as the item type when you want metadata to
//! travel with the payload. Items are cloned only when needed: before a call whose stage may retry or
//! dead-letter, and once per extra sink.
//!
//! # Examples
//!
//! ```
//! use rivus_core::prelude::*;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let out = sink::collect();
//! let report = Pipeline::from_iter(0..10u64)
//!     .pipe(pipe::filter(|x: &u64| x % 2 == 0))
//!     .pipe(pipe::map(|x: u64| x * 10))
//!     .batch(2, None)
//!     .sink(out.clone())
//!     .run()
//!     .await?;
//! assert_eq!(out.items(), [vec![0, 20], vec![40, 60], vec![80]]);
//! let ledger = report.ledger();
//! assert_eq!((ledger.read, ledger.filtered, ledger.written), (10, 5, 5));
//! # Ok::<(), PipelineError>(())
//! # }).unwrap();
//! ```
//!
//! [`PipeConfig::buffer_size`]: crate::PipeConfig::buffer_size
//! [`PipeConfig::ordered`]: crate::PipeConfig::ordered
//! [`StreamConfig::buffer_size`]: crate::StreamConfig::buffer_size
//! [`StreamConfig::chunk_size`]: crate::StreamConfig::chunk_size
//! [`StreamConfig::fuse_sync_stages`]: crate::StreamConfig::fuse_sync_stages
//! [`StreamConfig::shutdown_timeout`]: crate::StreamConfig::shutdown_timeout
//! [`ErrorPolicy`]: crate::ErrorPolicy

pub(crate) mod acks;
mod builder;
pub(crate) mod channel;
mod coordinator;
mod dead_letter;
mod driver;
mod endpoints;
mod parts;
mod state;
mod stream_form;
mod task;
#[doc(hidden)]
pub mod wiring;

pub use builder::{Pipeline, PipelineError, Sinks};
pub use dead_letter::DeadLetter;
pub use endpoints::{sink, source};
pub use parts::{AddPipe, Identity, IntoDeadLetterSink, IntoSink, IntoSource, IntoStage, SyncTail};
pub use stream_form::{PipelineStream, StreamPipe, process};

/// How long a sink stage whose sink asks for larger flushes ([`SyncSink::flush_batch`](crate::SyncSink::flush_batch))
/// waits, once its input ran dry, for more items before it flushes what it has: the most latency such a sink
/// adds to a quiet stream.
pub const FLUSH_LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// What can travel through a pipeline: `Clone + Send + 'static` (cloned only for retries, dead letters and
/// extra sinks).
pub trait Item: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Item for T {}

//! The runtime: a [`Pipeline`] runs a source, pipes and sinks as tasks joined by bounded channels.
//!
//! ```text
//! source ─▶ [pipe] ─▶ [pipe >> pipe] ─▶ [batch / window] ─▶ sink(s)        dead letters ─▶ dead-letter sink
//!        chan      chan              chan                chan
//! ```
//!
//! * **Backpressure.** Every channel holds at most `buffer_size` items ([`PipeConfig::buffer_size`] of the
//!   stage it feeds, [`StreamConfig::buffer_size`] by default): a slow sink slows the source, memory stays
//!   bounded.
//! * **Chunks.** Items travel in chunks of up to [`StreamConfig::chunk_size`] items (and never more than the
//!   channel's buffer). A stage sends a partial chunk as soon as its input runs dry or it is about to wait, so
//!   chunking costs no latency on a quiet stream, and one channel operation carries many items on a busy one.
//! * **Fusion.** Sync pipes added one after another with [`.pipe()`](Pipeline::pipe) run in one task, one call
//!   after the other with no channel between them (turn it off with [`StreamConfig::fuse_sync_stages`]). A pipe
//!   added with [`.pipe_with()`](Pipeline::pipe_with) always gets its own task, concurrency, retries and error
//!   policy.
//! * **Concurrency.** An async pipe with `concurrency = N` works on N items at once, in input order or not
//!   ([`PipeConfig::ordered`]); a sync pipe with `concurrency > 1` or `blocking = true` runs on the blocking
//!   pool. Sync sources and sinks always run on the blocking pool.
//! * **Errors.** A failed item (after its [retries](crate::retry::RetryPolicy)) goes to its stage's
//!   [`ErrorPolicy`]: fail fast, skip (counted), or dead-letter ([`DeadLetter`]: the item, the error, the
//!   pipe's name). A panicking pipe is an error of that item, not a dead pipeline.
//! * **Acknowledgements.** See [`crate::ack`]: with a positioned source, each item is acknowledged once every
//!   sink has written and flushed it (or the policy dropped it), and the source commits only positions below
//!   which everything is acknowledged.
//! * **Shutdown.** [`shutdown_on`](Pipeline::shutdown_on) (a token) or
//!   [`shutdown_on_signals`](Pipeline::shutdown_on_signals) (Ctrl-C, SIGTERM): the source stops, items in
//!   flight drain to the sinks, sinks are flushed and closed once, and `run` returns the report. A second
//!   signal (or [`abort_on`](Pipeline::abort_on)) aborts at once.
//! * **Numbers.** A [`RunReport`] per run, a live [`PipelineMonitor`], and the [`metrics`](crate::metrics)
//!   facade; every stage task runs in a `tracing` span `rivus_stage{pipeline, stage}`.
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
//! assert_eq!(report.items_read(), 10);
//! # Ok::<(), PipelineError>(())
//! # }).unwrap();
//! ```

mod io;
mod stages;
#[doc(hidden)]
pub mod wiring;

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use io::{sink, source};

use crate::ack::Tag;
use crate::compose::{AsyncMode, SyncMode};
use crate::config::{ErrorPolicy, PipeConfig, StreamConfig};
use crate::error::PipeError;
use crate::metrics::{PipelineMonitor, RunReport, StageKind};
use crate::pipe::{AsyncPipe, AsyncSink, AsyncSource, Emit, SyncPipe, SyncSink, SyncSource};
use crate::window::{Window, Windows};

use stages::{
    AsyncDriver, AsyncSinkDriver, SyncDriver, SyncSinkDriver, async_stage, batch_stage,
    dead_letter_task, fan_out, sink_task, source_task, sync_stage, window_stage,
};
use wiring::{ChunkRx, ChunkTx, DeadLetterStart, Head, Shared, SinkStart, Wiring};

/// What can travel through a pipeline: `Clone + Send + 'static` (cloned only for retries, dead letters and
/// extra sinks).
pub trait Item: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Item for T {}

/// A failed item on its way to the dead-letter sink: the item (when there is one: a bad source item has
/// none), the error, and the name of the pipe that failed.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
/// use rivus_core::config::ErrorPolicy;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dead = sink::collect::<DeadLetter>();
/// let report = Pipeline::from_iter([1u32, 0, 2])
///     .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
///     .pipe(pipe::try_map(|x: u32| 10u32.checked_div(x).ok_or("division by zero")).named("divide"))
///     .sink(sink::discard())
///     .dead_letter(dead.clone())
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(report.dead_lettered(), 1);
/// let letters = dead.take();
/// assert_eq!(letters[0].pipe(), "divide");
/// assert_eq!(letters[0].item::<u32>(), Some(&0));
/// assert!(letters[0].error().to_string().contains("division by zero"));
/// # });
/// ```
pub struct DeadLetter {
    pub(crate) pipe: String,
    pub(crate) error: PipeError,
    pub(crate) item: Option<Box<dyn Any + Send>>,
    pub(crate) item_type: &'static str,
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("pipe", &self.pipe)
            .field("error", &self.error)
            .field("item_type", &self.item_type)
            .field("has_item", &self.item.is_some())
            .finish()
    }
}

impl DeadLetter {
    /// The name of the pipe that failed.
    pub fn pipe(&self) -> &str {
        &self.pipe
    }
    /// The error.
    pub fn error(&self) -> &PipeError {
        &self.error
    }
    /// The item, if it is a `T` (`None` for another type, or for a bad source item, which has no item).
    pub fn item<T: 'static>(&self) -> Option<&T> {
        self.item.as_ref()?.downcast_ref()
    }
    /// The item, taken out.
    ///
    /// # Errors
    ///
    /// Gives `self` back when there is no item or it is not a `T`.
    pub fn into_item<T: 'static>(mut self) -> Result<T, Self> {
        match self.item.take().map(|b| b.downcast::<T>()) {
            Some(Ok(item)) => Ok(*item),
            Some(Err(b)) => {
                self.item = Some(b);
                Err(self)
            }
            None => Err(self),
        }
    }
    /// The Rust type name of the item (`"()"` for a bad source item).
    pub fn item_type(&self) -> &'static str {
        self.item_type
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A stage failed with the fail-fast policy, a part failed to open, or a sink failed to flush. The
    /// pipeline was stopped, sinks were flushed and closed.
    #[error("pipeline failed: {error}")]
    Failed {
        /// The first error.
        error: PipeError,
        /// What the run did before it stopped.
        report: Box<RunReport>,
    },
    /// A second shutdown request aborted the run: tasks were dropped where they were, sinks were not closed.
    #[error("pipeline aborted by a second shutdown request")]
    Aborted {
        /// What the run did before it was aborted.
        report: Box<RunReport>,
    },
    /// The pipeline cannot run as built (e.g. a dead-letter policy without a dead-letter sink).
    #[error("invalid pipeline: {0}")]
    Config(String),
}

impl PipelineError {
    /// The report of the run, when it started.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Self::Failed { report, .. } | Self::Aborted { report } => Some(report),
            Self::Config(_) => None,
        }
    }
    /// The pipe error that stopped the run, if one did.
    pub fn pipe_error(&self) -> Option<&PipeError> {
        match self {
            Self::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
    fn into_pipe_error(self) -> PipeError {
        match self {
            Self::Failed { error, .. } => error,
            other => PipeError::msg(other.to_string()),
        }
    }
}

/// Settings that travel with the builder.
#[derive(Debug, Clone, Default)]
struct Settings {
    cfg: StreamConfig,
    monitor: PipelineMonitor,
    stop: CancellationToken,
    abort: CancellationToken,
    signals: bool,
}

/// A pipeline being built: a source, then pipes, batches and windows, then one or more sinks.
///
/// `U` is the item type of the last channel and `F` the sync pipes added after it, which will run fused in
/// one task. Both are inferred; code rarely names them.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(async {
/// let out = sink::collect();
/// let lookup = pipe::async_map(|id: u32| async move { format!("customer-{id}") });
/// let report = Pipeline::from_iter(1..=3u32)
///     .pipe(pipe::map(|x: u32| x * 10))
///     .pipe_with(lookup, PipeConfig::named("lookup").with_concurrency(4, true))
///     .sink(out.clone())
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(out.items(), ["customer-10", "customer-20", "customer-30"]);
/// assert_eq!(report.stage("lookup").unwrap().items_out, 3);
/// # });
/// ```
pub struct Pipeline<U, F = Identity<U>> {
    settings: Settings,
    head: Head<U>,
    tail: F,
}

impl<U, F> fmt::Debug for Pipeline<U, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.settings.cfg)
            .finish_non_exhaustive()
    }
}

impl<T: Item> Pipeline<T, Identity<T>> {
    /// Starts a pipeline at `source`: an [`AsyncSource`] (run on the async workers) or a [`SyncSource`] (run
    /// on a thread of the blocking pool, since its `next` may block). A source that gives
    /// [positions](crate::ack) is committed past the items that reached an end: at-least-once, with nothing to
    /// choose.
    pub fn from_source<S, M>(source: S) -> Self
    where
        S: IntoSource<M, Out = T>,
    {
        Self::start(source.into_head())
    }

    /// Starts a pipeline at an in-memory iterator (see [`source::iter`]).
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::from_source(source::iter(items))
    }

    fn start(head: Head<T>) -> Self {
        Self {
            settings: Settings::default(),
            head,
            tail: Identity::new(),
        }
    }
}

impl<U: Item, F: SyncTail<In = U>> Pipeline<U, F> {
    /// Sets the pipeline's configuration (defaults for every stage, chunking, fusion, error policy).
    #[must_use]
    pub fn with_config(mut self, cfg: StreamConfig) -> Self {
        self.settings.cfg = cfg;
        self
    }

    /// A live view of the pipeline's counters; see [`PipelineMonitor`].
    pub fn monitor(&self) -> PipelineMonitor {
        self.settings.monitor.clone()
    }

    /// Shuts down gracefully when `token` is cancelled: the source stops, items in flight reach the sinks.
    #[must_use]
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.settings.stop = token;
        self
    }

    /// Aborts when `token` is cancelled: tasks are dropped where they are.
    #[must_use]
    pub fn abort_on(mut self, token: CancellationToken) -> Self {
        self.settings.abort = token;
        self
    }

    /// Shuts down gracefully on the first Ctrl-C or SIGTERM, aborts on the second.
    #[must_use]
    pub fn shutdown_on_signals(mut self) -> Self {
        self.settings.signals = true;
        self
    }

    /// Adds a pipe with the pipeline's defaults. A [`SyncPipe`] is fused with the sync pipes around it (one
    /// task); an [`AsyncPipe`] gets its own task.
    pub fn pipe<P, M>(self, pipe: P) -> P::Output
    where
        P: AddPipe<U, F, M>,
    {
        pipe.add_to(self)
    }

    /// Adds a pipe as its own stage, configured by `cfg`: name, concurrency and order, retries, timeout (async
    /// pipes), error policy, buffer, blocking pool.
    pub fn pipe_with<P, M>(self, pipe: P, cfg: PipeConfig) -> Pipeline<P::Out, Identity<P::Out>>
    where
        P: IntoStage<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Pipeline {
            settings,
            head: pipe.into_stage(head, Some(cfg)),
            tail: Identity::new(),
        }
    }

    /// Groups items into `Vec`s of `size` (at least 1); with `max_wait`, a partial batch leaves once that long
    /// has passed since its first item, also when no further item comes. The last batch may be short.
    pub fn batch(
        self,
        size: usize,
        max_wait: impl Into<Option<Duration>>,
    ) -> Pipeline<Vec<F::Out>, Identity<Vec<F::Out>>> {
        let size = size.max(1);
        let max_wait = max_wait.into();
        let (settings, head) = self.finish();
        let head = Head::new(move |w: &mut Wiring, tx| {
            let cfg = w.default_pipe_config();
            let (itx, irx) = w.channel(cfg.buffer_size);
            head.start(w, itx);
            let ctx = w.stage(
                Cow::Owned(format!("batch({size})")),
                StageKind::Batch,
                Some(&cfg),
                irx.depth(),
            );
            w.spawn(&ctx, batch_stage(irx, tx, ctx.clone(), size, max_wait));
        });
        Pipeline {
            settings,
            head,
            tail: Identity::new(),
        }
    }

    /// Cuts the stream into windows; see [`crate::window`]. Late items (event time) go to the pipeline's
    /// error policy.
    pub fn window(
        self,
        windows: Windows<F::Out>,
    ) -> Pipeline<Window<F::Out>, Identity<Window<F::Out>>> {
        let (settings, head) = self.finish();
        let head = Head::new(move |w: &mut Wiring, tx| {
            let cfg = w.default_pipe_config();
            let (itx, irx) = w.channel(cfg.buffer_size);
            head.start(w, itx);
            let ctx = w.stage(
                Cow::Borrowed("window"),
                StageKind::Window,
                Some(&cfg),
                irx.depth(),
            );
            w.spawn(&ctx, window_stage(irx, tx, ctx.clone(), windows));
        });
        Pipeline {
            settings,
            head,
            tail: Identity::new(),
        }
    }

    /// Adds a sink: an [`AsyncSink`] (on the async workers) or a [`SyncSink`] (on the blocking pool).
    pub fn sink<S, M>(self, sink: S) -> Sinks<F::Out>
    where
        S: IntoSink<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: vec![(sink.into_sink(), None)],
            dead_letter: None,
        }
    }

    /// Adds a sink configured by `cfg` (name, retries, error policy, buffer).
    pub fn sink_with<S, M>(self, sink: S, cfg: PipeConfig) -> Sinks<F::Out>
    where
        S: IntoSink<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: vec![(sink.into_sink(), Some(cfg))],
            dead_letter: None,
        }
    }

    /// Runs the pipeline and gives its outputs as a [`Stream`] instead of writing them to sinks: Rivusio's
    /// `async for item in pipeline.stream(source)`. Items count as delivered (acknowledged) when the stream
    /// yields them. An error that stops the run comes as the last item; with the skip or dead-letter policy,
    /// failed items do not appear.
    ///
    /// Dropping the stream stops the pipeline.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (it spawns the pipeline's tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut out = Pipeline::from_iter(1..=3u32).pipe(pipe::map(|x: u32| x * 2)).into_stream();
    /// let mut seen = Vec::new();
    /// while let Some(item) = out.next().await {
    ///     seen.push(item.unwrap());
    /// }
    /// assert_eq!(seen, [2, 4, 6]);
    /// # });
    /// ```
    pub fn into_stream(self) -> PipelineStream<F::Out> {
        let (settings, head) = self.finish();
        let (tx, rx) = wiring::channel(
            settings.cfg.buffer_size.get(),
            settings.cfg.chunk_size.get(),
        );
        let shared = prepare(&settings);
        shared.add_terminal();
        let run = tokio::spawn(execute(
            Arc::clone(&shared),
            settings,
            head,
            Terminal::Stream(tx),
            None,
        ));
        PipelineStream {
            rx,
            items: Vec::new().into_iter(),
            tags: Vec::new().into_iter(),
            shared,
            run,
            rx_done: false,
            finished: false,
        }
    }

    /// The pending fused sync pipes become a stage; gives the settings and the head of the pipeline.
    fn finish(self) -> (Settings, Head<F::Out>) {
        (self.settings, self.tail.into_head(self.head))
    }
}

/// A pipeline with its sinks: add more sinks (each gets every item), a dead-letter sink, then [`run`](Self::run).
pub struct Sinks<T> {
    settings: Settings,
    head: Head<T>,
    sinks: Vec<(SinkStart<T>, Option<PipeConfig>)>,
    dead_letter: Option<DeadLetterStart>,
}

impl<T> fmt::Debug for Sinks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sinks")
            .field("sinks", &self.sinks.len())
            .field("dead_letter", &self.dead_letter.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Item> Sinks<T> {
    /// Adds another sink; every item goes to every sink (fan-out), and is acknowledged once all took it.
    #[must_use]
    pub fn sink<S, M>(mut self, sink: S) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks.push((sink.into_sink(), None));
        self
    }

    /// Adds another sink, configured by `cfg`.
    #[must_use]
    pub fn sink_with<S, M>(mut self, sink: S, cfg: PipeConfig) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks.push((sink.into_sink(), Some(cfg)));
        self
    }

    /// Sets the sink that takes [`DeadLetter`]s from stages with [`ErrorPolicy::DeadLetter`].
    #[must_use]
    pub fn dead_letter<S, M>(mut self, sink: S) -> Self
    where
        S: IntoDeadLetterSink<M>,
    {
        self.dead_letter = Some(sink.into_dead_letter());
        self
    }

    /// Sets the pipeline's configuration; see [`Pipeline::with_config`].
    #[must_use]
    pub fn with_config(mut self, cfg: StreamConfig) -> Self {
        self.settings.cfg = cfg;
        self
    }

    /// A live view of the pipeline's counters.
    pub fn monitor(&self) -> PipelineMonitor {
        self.settings.monitor.clone()
    }

    /// See [`Pipeline::shutdown_on`].
    #[must_use]
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.settings.stop = token;
        self
    }

    /// See [`Pipeline::abort_on`].
    #[must_use]
    pub fn abort_on(mut self, token: CancellationToken) -> Self {
        self.settings.abort = token;
        self
    }

    /// See [`Pipeline::shutdown_on_signals`].
    #[must_use]
    pub fn shutdown_on_signals(mut self) -> Self {
        self.settings.signals = true;
        self
    }

    /// Opens every part, runs until the source is exhausted (or shutdown), drains, flushes and closes every
    /// part once, and reports.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Failed`] when a fail-fast stage failed, a part did not open, a flush or close failed
    /// (the report is inside); [`PipelineError::Aborted`] on a second shutdown request;
    /// [`PipelineError::Config`] when the pipeline cannot run as built.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the coordinator, and with it every task of the run (as an abort does): items
    /// in flight are not delivered, and sinks are not closed. Use [`shutdown_on`](Self::shutdown_on) to stop a
    /// run gracefully.
    pub async fn run(self) -> Result<RunReport, PipelineError> {
        let shared = prepare(&self.settings);
        execute(
            shared,
            self.settings,
            self.head,
            Terminal::Sinks(self.sinks),
            self.dead_letter,
        )
        .await
    }
}

/// Where the last channel goes.
enum Terminal<T> {
    Sinks(Vec<(SinkStart<T>, Option<PipeConfig>)>),
    Stream(ChunkTx<T>),
}

fn prepare(settings: &Settings) -> Arc<Shared> {
    Arc::new(Shared::new(
        settings.cfg.clone(),
        Arc::clone(&settings.monitor.inner),
        settings.stop.child_token(),
        settings.abort.child_token(),
    ))
}

/// Spawns every stage, opens, runs, waits, reports.
async fn execute<T: Item>(
    shared: Arc<Shared>,
    settings: Settings,
    head: Head<T>,
    terminal: Terminal<T>,
    dead_letter: Option<DeadLetterStart>,
) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let mut w = Wiring::new(Arc::clone(&shared));
    let dead_rx = dead_letter.as_ref().map(|_| {
        let (tx, rx) = mpsc::channel(64);
        w.dead_letters = Some(tx);
        rx
    });
    match terminal {
        Terminal::Stream(tx) => head.start(&mut w, tx),
        Terminal::Sinks(mut sinks) if sinks.len() == 1 => {
            if let Some((start, cfg)) = sinks.pop() {
                let cfg = cfg.unwrap_or_else(|| w.default_pipe_config());
                let (tx, rx) = w.channel(cfg.buffer_size);
                head.start(&mut w, tx);
                (start.0)(&mut w, rx, cfg);
            }
        }
        Terminal::Sinks(sinks) => {
            let buffer = w.default_pipe_config().buffer_size;
            let (tx, rx) = w.channel(buffer);
            head.start(&mut w, tx);
            let ctx = w.stage(
                Cow::Borrowed("fan-out"),
                StageKind::FanOut,
                None,
                rx.depth(),
            );
            let mut txs = Vec::with_capacity(sinks.len());
            for (start, cfg) in sinks {
                let cfg = cfg.unwrap_or_else(|| w.default_pipe_config());
                let (stx, srx) = w.channel(cfg.buffer_size);
                (start.0)(&mut w, srx, cfg);
                txs.push(stx);
            }
            w.spawn(&ctx, fan_out(rx, txs, ctx.clone()));
        }
    }
    // The dead-letter task must not hold a sender of its own channel: it ends when every stage is done.
    w.dead_letters = None;
    if let (Some(start), Some(rx)) = (dead_letter, dead_rx) {
        (start.0)(&mut w, wiring::DeadLetterRx(rx), ());
    }
    let mut tasks = std::mem::take(&mut w.tasks);
    if let Some(msg) = w.config_error.take() {
        shared.gate.fail();
        shared.halt();
        drop(w);
        while tasks.join_next().await.is_some() {}
        return Err(PipelineError::Config(msg));
    }
    shared.gate.seal(w.parts);
    drop(w);
    let watcher = settings
        .signals
        .then(|| tokio::spawn(watch_signals(shared.stop.clone(), shared.abort.clone())));
    let stop_watcher = tokio::spawn(Arc::clone(&shared).watch_stop());
    let mut aborted = false;
    loop {
        tokio::select! {
            biased;
            () = shared.abort.cancelled() => {
                aborted = true;
                tasks.abort_all();
                tasks.detach_all();
                break;
            }
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    if e.is_panic() {
                        shared.fail(PipeError::from(e));
                    }
                }
            },
        }
    }
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    stop_watcher.abort();
    let report = RunReport {
        stages: settings.monitor.snapshot(),
        elapsed: started.elapsed(),
        cancelled: shared.cancelled.load(std::sync::atomic::Ordering::Relaxed),
    };
    tracing::info!(
        pipeline = %settings.cfg.name,
        read = report.items_read(),
        written = report.items_written(),
        errors = report.errors(),
        elapsed = ?report.elapsed,
        "pipeline finished"
    );
    if aborted {
        return Err(PipelineError::Aborted {
            report: Box::new(report),
        });
    }
    match shared.take_error() {
        Some(error) => Err(PipelineError::Failed {
            error,
            report: Box::new(report),
        }),
        None => Ok(report),
    }
}

/// First Ctrl-C / SIGTERM: graceful stop. Second: abort.
async fn watch_signals(stop: CancellationToken, abort: CancellationToken) {
    next_signal().await;
    tracing::info!("shutdown requested: draining (signal again to abort)");
    stop.cancel();
    next_signal().await;
    tracing::warn!("second shutdown request: aborting");
    abort.cancel();
}

async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The outputs of a running pipeline as a [`Stream`]; see [`Pipeline::into_stream`].
pub struct PipelineStream<T> {
    rx: ChunkRx<T>,
    items: std::vec::IntoIter<T>,
    tags: std::vec::IntoIter<Tag>,
    shared: Arc<Shared>,
    run: JoinHandle<Result<RunReport, PipelineError>>,
    rx_done: bool,
    finished: bool,
}

impl<T> fmt::Debug for PipelineStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

// No field is ever pinned: the stream only moves values out of its buffers.
impl<T> Unpin for PipelineStream<T> {}

impl<T> Stream for PipelineStream<T> {
    type Item = Result<T, PipeError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.items.next() {
                if let (Some(t), Some(tag)) = (this.shared.tracker.as_deref(), this.tags.next()) {
                    t.ack([tag]);
                }
                return Poll::Ready(Some(Ok(item)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            if !this.rx_done {
                match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(chunk)) => {
                        this.items = chunk.items.into_iter();
                        this.tags = chunk.tags.into_iter();
                        continue;
                    }
                    Poll::Ready(None) => {
                        this.rx_done = true;
                        this.shared.terminal_done();
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            return match Pin::new(&mut this.run).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(result) => {
                    this.finished = true;
                    match result {
                        Ok(Ok(_)) => Poll::Ready(None),
                        Ok(Err(e)) => Poll::Ready(Some(Err(e.into_pipe_error()))),
                        Err(e) => Poll::Ready(Some(Err(PipeError::from(e)))),
                    }
                }
            };
        }
    }
}

impl<T> Drop for PipelineStream<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.halt();
        }
        if !self.rx_done {
            self.shared.terminal_done();
        }
    }
}

/// Rivusio's form: runs `pipe` over `source` and gives the outputs as a [`Stream`] (see
/// [`Pipeline::into_stream`]; also available as the method [`StreamPipe::stream`]).
///
/// # Panics
///
/// Outside a Tokio runtime.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use rivus_core::prelude::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let p = pipe::map(|x: u32| x + 1) >> pipe::filter(|x: &u32| x % 2 == 0);
/// let mut out = p.stream(source::iter(0..6u32));
/// let mut seen = Vec::new();
/// while let Some(item) = out.next().await {
///     seen.push(item.unwrap());
/// }
/// assert_eq!(seen, [2, 4, 6]);
/// # });
/// ```
pub fn process<P, MP, S, MS>(pipe: P, source: S) -> PipelineStream<P::Out>
where
    P: IntoStage<MP>,
    S: IntoSource<MS, Out = P::In>,
{
    let Pipeline { settings, head, .. } = Pipeline::from_source(source);
    Pipeline {
        settings,
        head: pipe.into_stage(head, None),
        tail: Identity::new(),
    }
    .into_stream()
}

/// `pipe.stream(source)`: [`process`] as a method of every pipe.
pub trait StreamPipe<M>: IntoStage<M> + Sized {
    /// Runs `self` over `source`; see [`process`].
    fn stream<S, MS>(self, source: S) -> PipelineStream<Self::Out>
    where
        S: IntoSource<MS, Out = Self::In>,
    {
        process(self, source)
    }
}

impl<P: IntoStage<M>, M> StreamPipe<M> for P {}

// ---------------------------------------------------------------------------------------------------------
// How parts join the builder. The trait methods are hidden: they wire the part into a run.

/// A source the builder takes: every [`AsyncSource`] and every [`SyncSource`] (whose `M` is
/// [`AsyncMode`] or [`SyncMode`]).
pub trait IntoSource<M>: Send + 'static {
    /// What the source yields.
    type Out: Item;
    /// Wires the source into a run.
    #[doc(hidden)]
    fn into_head(self) -> Head<Self::Out>;
}

impl<S> IntoSource<AsyncMode> for S
where
    S: AsyncSource + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn into_head(self) -> Head<S::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            let ctx = w.stage(
                self.name(),
                StageKind::Source,
                None,
                Arc::new(AtomicI64::new(0)),
            );
            w.spawn(&ctx, source_task(AsyncDriver(self), tx, ctx.clone()));
        })
    }
}

impl<S> IntoSource<SyncMode> for S
where
    S: SyncSource + Send + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn into_head(self) -> Head<S::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            let ctx = w.stage(
                self.name(),
                StageKind::Source,
                None,
                Arc::new(AtomicI64::new(0)),
            );
            w.spawn_blocking(&ctx, source_task(SyncDriver(self), tx, ctx.clone()));
        })
    }
}

/// A pipe that can be a stage of its own: every [`SyncPipe`] and every [`AsyncPipe`].
pub trait IntoStage<M>: Send + 'static {
    /// What the stage takes.
    type In: Item;
    /// What the stage gives.
    type Out: Item;
    /// Wires the stage after `head`.
    #[doc(hidden)]
    fn into_stage(self, head: Head<Self::In>, cfg: Option<PipeConfig>) -> Head<Self::Out>;
}

impl<P> IntoStage<SyncMode> for P
where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Item,
    P::Out: Item,
{
    type In = P::In;
    type Out = P::Out;
    fn into_stage(self, head: Head<P::In>, cfg: Option<PipeConfig>) -> Head<P::Out> {
        Head::new(move |w: &mut Wiring, tx| spawn_sync(w, self, cfg, head, tx))
    }
}

impl<P> IntoStage<AsyncMode> for P
where
    P: AsyncPipe + 'static,
    P::In: Item,
    P::Out: Item,
{
    type In = P::In;
    type Out = P::Out;
    fn into_stage(self, head: Head<P::In>, cfg: Option<PipeConfig>) -> Head<P::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            let cfg = cfg.unwrap_or_else(|| w.default_pipe_config());
            let (itx, irx) = w.channel(cfg.buffer_size);
            head.start(w, itx);
            let ctx = w.stage(self.name(), StageKind::Pipe, Some(&cfg), irx.depth());
            let (n, ordered) = (cfg.concurrency.get(), cfg.ordered);
            w.spawn(&ctx, async_stage(self, irx, tx, ctx.clone(), n, ordered));
        })
    }
}

fn spawn_sync<P>(
    w: &mut Wiring,
    pipe: P,
    cfg: Option<PipeConfig>,
    head: Head<P::In>,
    tx: ChunkTx<P::Out>,
) where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Item,
    P::Out: Item,
{
    let cfg = cfg.unwrap_or_else(|| w.default_pipe_config());
    let (itx, irx) = w.channel(cfg.buffer_size);
    head.start(w, itx);
    let ctx = w.stage(pipe.name(), StageKind::Pipe, Some(&cfg), irx.depth());
    let (n, ordered) = (cfg.concurrency.get(), cfg.ordered);
    if n == 1 && !cfg.blocking {
        w.spawn(&ctx, sync_stage(pipe, irx, tx, ctx.clone()));
    } else {
        let pooled = crate::compose::blocking(pipe);
        w.spawn(&ctx, async_stage(pooled, irx, tx, ctx.clone(), n, ordered));
    }
}

/// How [`Pipeline::pipe`] adds a pipe: a [`SyncPipe`] joins the pending fused sync pipes, an [`AsyncPipe`]
/// becomes a stage.
pub trait AddPipe<U, F, M> {
    /// The pipeline with the pipe added.
    type Output;
    /// Adds the pipe.
    #[doc(hidden)]
    fn add_to(self, pipeline: Pipeline<U, F>) -> Self::Output;
}

impl<U, F, P> AddPipe<U, F, SyncMode> for P
where
    U: Item,
    F: SyncTail<In = U>,
    P: SyncPipe<In = F::Out> + Send + Sync + 'static,
    P::Out: Item,
{
    type Output = Pipeline<U, Fused<F, P>>;
    fn add_to(self, pipeline: Pipeline<U, F>) -> Self::Output {
        Pipeline {
            settings: pipeline.settings,
            head: pipeline.head,
            tail: Fused {
                first: pipeline.tail,
                second: self,
            },
        }
    }
}

impl<U, F, P> AddPipe<U, F, AsyncMode> for P
where
    U: Item,
    F: SyncTail<In = U>,
    P: AsyncPipe<In = F::Out> + 'static,
    P::Out: Item,
{
    type Output = Pipeline<P::Out, Identity<P::Out>>;
    fn add_to(self, pipeline: Pipeline<U, F>) -> Self::Output {
        let (settings, head) = pipeline.finish();
        Pipeline {
            settings,
            head: IntoStage::<AsyncMode>::into_stage(self, head, None),
            tail: Identity::new(),
        }
    }
}

/// A sink the builder takes: every [`AsyncSink`] and every [`SyncSink`].
pub trait IntoSink<M>: Send + 'static {
    /// What the sink takes.
    type In: Item;
    /// Wires the sink into a run.
    #[doc(hidden)]
    fn into_sink(self) -> SinkStart<Self::In>;
}

impl<S> IntoSink<AsyncMode> for S
where
    S: AsyncSink + 'static,
    S::In: Item,
{
    type In = S::In;
    fn into_sink(self) -> SinkStart<S::In> {
        SinkStart(Box::new(move |w: &mut Wiring, rx: ChunkRx<S::In>, cfg| {
            let ctx = w.stage(self.name(), StageKind::Sink, Some(&cfg), rx.depth());
            w.shared.add_terminal();
            w.spawn(&ctx, sink_task(AsyncSinkDriver(self), rx, ctx.clone()));
        }))
    }
}

impl<S> IntoSink<SyncMode> for S
where
    S: SyncSink + Send + 'static,
    S::In: Item,
{
    type In = S::In;
    fn into_sink(self) -> SinkStart<S::In> {
        SinkStart(Box::new(move |w: &mut Wiring, rx: ChunkRx<S::In>, cfg| {
            let ctx = w.stage(self.name(), StageKind::Sink, Some(&cfg), rx.depth());
            w.shared.add_terminal();
            w.spawn_blocking(&ctx, sink_task(SyncSinkDriver(self), rx, ctx.clone()));
        }))
    }
}

/// A sink of [`DeadLetter`]s: every [`AsyncSink`] or [`SyncSink`] with `In = DeadLetter`.
pub trait IntoDeadLetterSink<M>: Send + 'static {
    /// Wires the dead-letter sink into a run.
    #[doc(hidden)]
    fn into_dead_letter(self) -> DeadLetterStart;
}

impl<S: AsyncSink<In = DeadLetter> + 'static> IntoDeadLetterSink<AsyncMode> for S {
    fn into_dead_letter(self) -> DeadLetterStart {
        DeadLetterStart(Box::new(
            move |w: &mut Wiring, rx: wiring::DeadLetterRx, ()| {
                let cfg = PipeConfig::default().with_error_policy(ErrorPolicy::FailFast);
                let ctx = w.stage(
                    self.name(),
                    StageKind::DeadLetter,
                    Some(&cfg),
                    Arc::default(),
                );
                w.shared.add_terminal();
                w.spawn(
                    &ctx,
                    dead_letter_task(AsyncSinkDriver(self), rx.0, ctx.clone()),
                );
            },
        ))
    }
}

impl<S: SyncSink<In = DeadLetter> + Send + 'static> IntoDeadLetterSink<SyncMode> for S {
    fn into_dead_letter(self) -> DeadLetterStart {
        DeadLetterStart(Box::new(
            move |w: &mut Wiring, rx: wiring::DeadLetterRx, ()| {
                let cfg = PipeConfig::default().with_error_policy(ErrorPolicy::FailFast);
                let ctx = w.stage(
                    self.name(),
                    StageKind::DeadLetter,
                    Some(&cfg),
                    Arc::default(),
                );
                w.shared.add_terminal();
                w.spawn_blocking(
                    &ctx,
                    dead_letter_task(SyncSinkDriver(self), rx.0, ctx.clone()),
                );
            },
        ))
    }
}

/// The sync pipes added since the last stage, waiting to run fused: [`Identity`] (none) or [`Fused`].
pub trait SyncTail: SyncPipe<In: Item, Out: Item> + Send + Sync + Sized + 'static {
    /// Wires the pending pipes after `head`: one task when fusion is on, one task each when it is off.
    #[doc(hidden)]
    fn into_head(self, head: Head<Self::In>) -> Head<Self::Out>;
}

/// No pipe: passes every item on unchanged.
pub struct Identity<T>(PhantomData<fn(T) -> T>);

impl<T> Identity<T> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> fmt::Debug for Identity<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity")
    }
}

impl<T> SyncPipe for Identity<T> {
    type In = T;
    type Out = T;
    #[inline(always)]
    fn process(&self, input: T) -> Result<T, PipeError> {
        Ok(input)
    }
    #[inline(always)]
    fn process_each<E: Emit<T>>(&self, input: T, out: &mut E) -> Result<(), PipeError> {
        out.emit(input)
    }
    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        Vec::new()
    }
}

impl<T: Item> SyncTail for Identity<T> {
    fn into_head(self, head: Head<T>) -> Head<T> {
        head
    }
}

/// Sync pipes that run one after the other in one task (see [`Pipeline::pipe`]).
#[derive(Debug)]
pub struct Fused<A, B> {
    first: A,
    second: B,
}

/// Feeds each output of the first part into the second.
struct FusedEmit<'a, B, E> {
    next: &'a B,
    out: &'a mut E,
}

impl<B: SyncPipe, E: Emit<B::Out>> Emit<B::In> for FusedEmit<'_, B, E> {
    #[inline(always)]
    fn emit(&mut self, item: B::In) -> Result<(), PipeError> {
        self.next.process_each(item, &mut *self.out)
    }
}

impl<A, B> SyncPipe for Fused<A, B>
where
    A: SyncPipe,
    B: SyncPipe<In = A::Out>,
{
    type In = A::In;
    type Out = B::Out;

    fn process(&self, input: A::In) -> Result<B::Out, PipeError> {
        let mut out = crate::pipe::Outputs::new();
        self.process_each(input, &mut out)?;
        let mut it = out.into_iter();
        match (it.next(), it.next()) {
            (Some(one), None) => Ok(one),
            _ => Err(
                PipeError::msg("fused pipes gave no or several outputs; use `process_each`")
                    .with_pipe(self.name()),
            ),
        }
    }

    #[inline(always)]
    fn process_each<E: Emit<B::Out>>(&self, input: A::In, out: &mut E) -> Result<(), PipeError> {
        self.first.process_each(
            input,
            &mut FusedEmit {
                next: &self.second,
                out,
            },
        )
    }

    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(self.stage_names().join(" >> "))
    }

    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        let mut names = self.first.stage_names();
        names.extend(self.second.stage_names());
        names
    }

    fn open(&mut self) -> Result<(), PipeError> {
        self.first.open()?;
        self.second.open()
    }

    fn close(&mut self) -> Result<(), PipeError> {
        let first = self.first.close();
        let second = self.second.close();
        first.and(second)
    }
}

impl<A, B> SyncTail for Fused<A, B>
where
    A: SyncTail,
    B: SyncPipe<In = A::Out> + Send + Sync + 'static,
    B::Out: Item,
{
    fn into_head(self, head: Head<A::In>) -> Head<B::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            if w.fuse() {
                spawn_sync(w, self, None, head, tx);
            } else {
                let Self { first, second } = self;
                let head = first.into_head(head);
                spawn_sync(w, second, None, head, tx);
            }
        })
    }
}

//! The builder: [`Pipeline`] (a source, then pipes, batches and windows), [`Sinks`] (one or more sinks and a
//! dead-letter sink, then `run`), and [`PipelineError`]. How each kind of part joins it is in `parts`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Item;
use super::coordinator::{self, Terminal};
use super::parts::{
    AddPipe, Identity, IntoDeadLetterSink, IntoSink, IntoSource, IntoStage, SyncTail,
};
use super::stream_form::PipelineStream;
use super::task::fan_out::Route;
use super::task::{batch, window};
use super::wiring::{DeadLetterStart, Head, SinkStart, Wiring};
use crate::compose::Connected;
use crate::config::{PipeConfig, StreamConfig};
use crate::error::PipeError;
use crate::metrics::{PipelineMonitor, RunReport, StageKind};
use crate::window::{Window, Windows};

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A stage failed with the fail-fast policy, a part failed to open, a flush or close failed, or the
    /// dead-letter sink failed. The pipeline was stopped (the stages before the failing one where they were,
    /// the ones after it drained), sinks were flushed and closed.
    #[error("pipeline failed: {error}")]
    Failed {
        /// The error that stopped the run; under fail fast, that of the first failing item (in input order, for
        /// an ordered pipeline), whatever failed first in time.
        error: PipeError,
        /// What the run did before it stopped: its ledger adds up.
        report: Box<RunReport>,
    },
    /// The run was aborted (a second shutdown request, or `shutdown_timeout` after the first): tasks were
    /// dropped where they were, what was in flight is counted as not processed, and sinks were not closed.
    #[error("pipeline aborted: {reason}")]
    Aborted {
        /// Why: a second shutdown request, or the drain outlived `shutdown_timeout`.
        reason: String,
        /// What the run did before it was aborted: its ledger adds up.
        report: Box<RunReport>,
    },
    /// The pipeline cannot run as built (e.g. a dead-letter policy without a dead-letter sink, or an option
    /// that would do nothing for its part).
    #[error("invalid pipeline: {0}")]
    Config(String),
}

impl PipelineError {
    /// The report of the run, when it started.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Self::Failed { report, .. } | Self::Aborted { report, .. } => Some(report),
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
    pub(crate) fn into_pipe_error(self) -> PipeError {
        match self {
            Self::Failed { error, .. } => error,
            other => PipeError::msg(other.to_string()),
        }
    }
}

/// Settings that travel with the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) cfg: StreamConfig,
    pub(crate) monitor: PipelineMonitor,
    pub(crate) stop: Option<CancellationToken>,
    pub(crate) abort: Option<CancellationToken>,
    pub(crate) signals: bool,
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
/// assert!(report.ledger().is_balanced());
/// # });
/// ```
pub struct Pipeline<U, F = Identity<U>> {
    pub(crate) settings: Settings,
    pub(crate) head: Head<U>,
    pub(crate) tail: F,
}

impl<U, F> fmt::Debug for Pipeline<U, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.settings.cfg)
            .finish_non_exhaustive()
    }
}

impl<T: Item> Pipeline<T, Identity<T>> {
    /// Starts a pipeline at `source`: an [`AsyncSource`](crate::AsyncSource) (called on the async workers) or a [`SyncSource`](crate::SyncSource)
    /// (called on a thread of its own, since its `next` may block).
    ///
    /// A source that gives [positions](crate::ack) is committed past the items that reached an end
    /// (at-least-once), with nothing else to choose.
    pub fn from_source<S, M>(source: S) -> Self
    where
        S: IntoSource<M, Out = T>,
    {
        Self::start(source.into_head(None))
    }

    /// Starts a pipeline at `source`, configured by `cfg`: its `name`, and `on_error` for its bad items (an
    /// `Err` from `next`). Other options would do nothing for a source: `run` then fails with
    /// [`PipelineError::Config`].
    pub fn from_source_with<S, M>(source: S, cfg: PipeConfig) -> Self
    where
        S: IntoSource<M, Out = T>,
    {
        Self::start(source.into_head(Some(cfg)))
    }

    /// Starts a pipeline at an in-memory iterator (see [`source::iter`](super::source::iter)).
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::from_source(super::source::iter(items))
    }

    pub(crate) fn start(head: Head<T>) -> Self {
        Self {
            settings: Settings::default(),
            head,
            tail: Identity::new(),
        }
    }
}

impl<U: Item, F: SyncTail<In = U>> Pipeline<U, F> {
    /// Sets the pipeline's configuration (defaults for every stage, chunking, fusion, error policy, shutdown
    /// timeout).
    #[must_use]
    pub fn with_config(mut self, cfg: StreamConfig) -> Self {
        self.settings.cfg = cfg;
        self
    }

    /// A live view of the pipeline's counters; see [`PipelineMonitor`].
    pub fn monitor(&self) -> PipelineMonitor {
        self.settings.monitor.clone()
    }

    /// Stops gracefully when `token` is cancelled: the source stops, items in flight reach the sinks, positions
    /// are committed; after [`StreamConfig::shutdown_timeout`] the run is aborted.
    #[must_use]
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.settings.stop = Some(token);
        self
    }

    /// Aborts when `token` is cancelled: tasks are dropped where they are; see [`PipelineError::Aborted`].
    #[must_use]
    pub fn abort_on(mut self, token: CancellationToken) -> Self {
        self.settings.abort = Some(token);
        self
    }

    /// Stops gracefully on the first Ctrl-C or SIGTERM (as [`shutdown_on`](Self::shutdown_on)), aborts on the
    /// second.
    #[must_use]
    pub fn shutdown_on_signals(mut self) -> Self {
        self.settings.signals = true;
        self
    }

    /// Adds a pipe with the pipeline's defaults. A [`SyncPipe`](crate::SyncPipe) is fused with the sync pipes around it (one
    /// task); an [`AsyncPipe`](crate::AsyncPipe) gets its own task.
    pub fn pipe<P, M>(self, pipe: P) -> P::Output
    where
        P: AddPipe<U, F, M>,
    {
        pipe.add_to(self)
    }

    /// Adds a pipe as its own stage, configured by `cfg`: name, concurrency and order, retries, timeout (async
    /// pipes), error policy, buffer, blocking pool (sync pipes). An option that would do nothing for the pipe
    /// (a `timeout` on a sync pipe, which cannot be interrupted; `blocking` on an async pipe) makes `run` fail
    /// with [`PipelineError::Config`].
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

    /// Merges `other`'s items into this pipeline: both run (each with its own source and stages) and feed
    /// the stages added next, in the order they come. `other`'s settings (configuration, monitor, tokens) are
    /// not used: this pipeline's are. Each source is committed for its own items, but no further than the
    /// oldest item still in flight from any of them (at-least-once holds; a slow source holds back commits).
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let out = sink::collect();
    /// let report = Pipeline::from_iter(0..3u32)
    ///     .pipe(pipe::map(|x: u32| format!("a{x}")))
    ///     .merge(Pipeline::from_iter(0..2u32).pipe(pipe::map(|x: u32| format!("b{x}"))))
    ///     .sink(out.clone())
    ///     .run()
    ///     .await
    ///     .unwrap();
    /// let mut seen = out.items();
    /// seen.sort();
    /// assert_eq!(seen, ["a0", "a1", "a2", "b0", "b1"]);
    /// assert_eq!(report.ledger().read, 5);
    /// # });
    /// ```
    pub fn merge<U2, F2>(self, other: Pipeline<U2, F2>) -> Pipeline<F::Out, Identity<F::Out>>
    where
        U2: Item,
        F2: SyncTail<In = U2, Out = F::Out>,
    {
        let (settings, head) = self.finish();
        let (_, other) = other.finish();
        Pipeline {
            settings,
            head: Head::new(move |w: &mut Wiring, tx| {
                head.start(w, tx.clone());
                other.start(w, tx);
            }),
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
            w.spawn(ctx, |ctx| batch::batch_stage(irx, tx, ctx, size, max_wait));
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
            w.spawn(ctx, |ctx| window::window_stage(irx, tx, ctx, windows));
        });
        Pipeline {
            settings,
            head,
            tail: Identity::new(),
        }
    }

    /// Adds a sink: an [`AsyncSink`](crate::AsyncSink) (called on the async workers) or a [`SyncSink`](crate::SyncSink) (called on a thread of
    /// its own).
    pub fn sink<S, M>(self, sink: S) -> Sinks<F::Out>
    where
        S: IntoSink<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: vec![SinkEntry::new(sink.into_sink(), None, Route::All)],
            dead_letter: None,
        }
    }

    /// Adds a sink configured by `cfg` (name, retries, timeout of each write and flush, error policy, buffer).
    /// An option that would do nothing for a sink (`concurrency`, `ordered`, `blocking`) makes `run` fail with
    /// [`PipelineError::Config`].
    pub fn sink_with<S, M>(self, sink: S, cfg: PipeConfig) -> Sinks<F::Out>
    where
        S: IntoSink<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: vec![SinkEntry::new(sink.into_sink(), Some(cfg), Route::All)],
            dead_letter: None,
        }
    }

    /// Adds a sink that takes only the items `when` holds for; see [`Sinks::sink_when`].
    pub fn sink_when<S, M>(
        self,
        sink: S,
        when: impl Fn(&F::Out) -> bool + Send + Sync + 'static,
    ) -> Sinks<F::Out>
    where
        S: IntoSink<M, In = F::Out>,
    {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: vec![SinkEntry::new(
                sink.into_sink(),
                None,
                Route::When(Arc::new(when)),
            )],
            dead_letter: None,
        }
    }

    /// Runs the pipeline and gives its outputs as a [`Stream`](futures::Stream) instead of writing them to
    /// sinks: Rivusio's `async for item in pipeline.stream(source)`. Items count as written (and are
    /// acknowledged) when the stream yields them. An error that stops the run comes as the last item; with the
    /// skip or dead-letter policy, failed items do not appear.
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
        PipelineStream::start(settings, head)
    }

    /// The pipeline with no sink yet, for callers (pipeline files) that add every sink the same way through
    /// [`Sinks`]; running it with none is not possible from outside the crate.
    pub(crate) fn into_sinks(self) -> Sinks<F::Out> {
        let (settings, head) = self.finish();
        Sinks {
            settings,
            head,
            sinks: Vec::new(),
            dead_letter: None,
        }
    }

    /// The pending fused sync pipes become a stage; gives the settings and the head of the pipeline.
    pub(crate) fn finish(self) -> (Settings, Head<F::Out>) {
        (self.settings, self.tail.into_head(self.head))
    }
}

/// A pipeline with its sinks: add more sinks (each gets every item, or the items its route is for), a
/// dead-letter sink, then [`run`](Self::run).
pub struct Sinks<T> {
    settings: Settings,
    head: Head<T>,
    sinks: Vec<SinkEntry<T>>,
    dead_letter: Option<DeadLetterStart>,
}

/// A sink being added: how it starts, its configuration, which items it takes.
pub(crate) struct SinkEntry<T> {
    pub(crate) start: SinkStart<T>,
    pub(crate) cfg: Option<PipeConfig>,
    pub(crate) route: Route<T>,
}

impl<T> SinkEntry<T> {
    fn new(start: SinkStart<T>, cfg: Option<PipeConfig>, route: Route<T>) -> Self {
        Self { start, cfg, route }
    }
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
        self.sinks
            .push(SinkEntry::new(sink.into_sink(), None, Route::All));
        self
    }

    /// Adds another sink, configured by `cfg`.
    #[must_use]
    pub fn sink_with<S, M>(mut self, sink: S, cfg: PipeConfig) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks
            .push(SinkEntry::new(sink.into_sink(), Some(cfg), Route::All));
        self
    }

    /// Adds a sink that takes only the items `when` holds for (a route). An item no route takes goes to the
    /// [`sink_otherwise`](Self::sink_otherwise) sinks, or, when there is none, ends `unrouted` in the ledger
    /// (acknowledged, counted, never dropped silently). Sinks added with [`sink`](Self::sink) still take every
    /// item.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (small, big, other) = (sink::collect(), sink::collect(), sink::collect());
    /// let report = Pipeline::from_iter([1u32, 50, 7, 500])
    ///     .sink_when(small.clone(), |x: &u32| *x < 10)
    ///     .sink_when(big.clone(), |x: &u32| (10..100).contains(x))
    ///     .sink_otherwise(other.clone())
    ///     .run()
    ///     .await
    ///     .unwrap();
    /// assert_eq!((small.items(), big.items(), other.items()), (vec![1, 7], vec![50], vec![500]));
    /// assert!(report.ledger().is_balanced());
    /// # });
    /// ```
    #[must_use]
    pub fn sink_when<S, M>(
        mut self,
        sink: S,
        when: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks.push(SinkEntry::new(
            sink.into_sink(),
            None,
            Route::When(Arc::new(when)),
        ));
        self
    }

    /// [`sink_when`](Self::sink_when), configured by `cfg`.
    #[must_use]
    pub fn sink_when_with<S, M>(
        mut self,
        sink: S,
        cfg: PipeConfig,
        when: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks.push(SinkEntry::new(
            sink.into_sink(),
            Some(cfg),
            Route::When(Arc::new(when)),
        ));
        self
    }

    /// Adds a sink that takes the items no [`sink_when`](Self::sink_when) route took (the default route).
    #[must_use]
    pub fn sink_otherwise<S, M>(mut self, sink: S) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks
            .push(SinkEntry::new(sink.into_sink(), None, Route::Otherwise));
        self
    }

    /// [`sink_otherwise`](Self::sink_otherwise), configured by `cfg`.
    #[must_use]
    pub fn sink_otherwise_with<S, M>(mut self, sink: S, cfg: PipeConfig) -> Self
    where
        S: IntoSink<M, In = T>,
    {
        self.sinks.push(SinkEntry::new(
            sink.into_sink(),
            Some(cfg),
            Route::Otherwise,
        ));
        self
    }

    /// Sets the sink that takes [`DeadLetter`](super::DeadLetter)s from stages with the dead-letter policy. An item counts as
    /// dead-lettered once this sink has written and flushed its letter; if this sink fails, the run fails.
    #[must_use]
    pub fn dead_letter<S, M>(mut self, sink: S) -> Self
    where
        S: IntoDeadLetterSink<M>,
    {
        self.dead_letter = Some(sink.into_dead_letter(None));
        self
    }

    /// Sets the dead-letter sink, configured by `cfg` (name, timeout).
    #[must_use]
    pub fn dead_letter_with<S, M>(mut self, sink: S, cfg: PipeConfig) -> Self
    where
        S: IntoDeadLetterSink<M>,
    {
        self.dead_letter = Some(sink.into_dead_letter(Some(cfg)));
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
        self.settings.stop = Some(token);
        self
    }

    /// See [`Pipeline::abort_on`].
    #[must_use]
    pub fn abort_on(mut self, token: CancellationToken) -> Self {
        self.settings.abort = Some(token);
        self
    }

    /// See [`Pipeline::shutdown_on_signals`].
    #[must_use]
    pub fn shutdown_on_signals(mut self) -> Self {
        self.settings.signals = true;
        self
    }

    /// Opens every part, runs until the source is exhausted (or a stop), drains, flushes and closes every part
    /// once, and reports. The report's [ledger](RunReport::ledger) adds up, whatever happened.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Failed`] when a fail-fast stage failed, a part did not open, a flush or close failed,
    /// or the dead-letter sink failed (the report is inside); [`PipelineError::Aborted`] on a second shutdown
    /// request or when the drain outlived the shutdown timeout; [`PipelineError::Config`] when the pipeline
    /// cannot run as built.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, or on one without timers: the runtime times drains, linger windows and
    /// retries. `#[tokio::main]`, `#[tokio::test]` and `Builder::enable_all` (or `enable_time`) give them.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts the run (as [`abort_on`](Pipeline::abort_on) does): items in flight are not
    /// delivered, and sinks are not closed. Use [`shutdown_on`](Self::shutdown_on) to stop a run gracefully.
    /// Sync sources and sinks that are blocked in the operating system are left to finish on their own
    /// threads; nothing waits for them.
    pub async fn run(self) -> Result<RunReport, PipelineError> {
        let run = coordinator::prepare(&self.settings);
        coordinator::execute(
            run,
            self.settings,
            self.head,
            Terminal::Sinks(self.sinks),
            self.dead_letter,
        )
        .await
    }
}

/// `source >> sink` on the runtime.
impl<S, K> Connected<S, K> {
    /// The pipeline this is, as a [`Sinks`] builder: add sinks, a dead-letter sink, a configuration.
    pub fn into_pipeline<MS, MK>(self) -> Sinks<S::Out>
    where
        S: IntoSource<MS>,
        K: IntoSink<MK, In = S::Out>,
    {
        let (source, sink) = self.into_parts();
        Pipeline::from_source(source).sink(sink)
    }

    /// Runs the pipeline; see [`Sinks::run`].
    ///
    /// # Errors
    ///
    /// As [`Sinks::run`].
    ///
    /// # Cancel safety
    ///
    /// As [`Sinks::run`].
    pub async fn run<MS, MK>(self) -> Result<RunReport, PipelineError>
    where
        S: IntoSource<MS>,
        K: IntoSink<MK, In = S::Out>,
    {
        self.into_pipeline().run().await
    }
}

//! The plumbing of a running pipeline: chunked bounded channels, the state every stage shares, and the
//! per-stage context. Public only as opaque types that appear in the hidden methods of the builder traits.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::ack::{AckTracker, Tag};
use crate::config::{ErrorPolicy, PipeConfig, StreamConfig};
use crate::error::PipeError;
use crate::metrics::{MonitorInner, StageKind, StageStats};
use crate::retry::RetryPolicy;

use super::DeadLetter;

/// A group of items travelling together between two stages; `tags` is empty when nothing is tracked, else
/// parallel to `items`.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) items: Vec<T>,
    pub(crate) tags: Vec<Tag>,
}

impl<T> Chunk<T> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            tags: Vec::new(),
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub(crate) fn push(&mut self, item: T, tag: Option<Tag>) {
        self.items.push(item);
        if let Some(tag) = tag {
            self.tags.push(tag);
        }
    }
    /// Takes the items out, leaving an empty chunk with room for `cap` items.
    pub(crate) fn take(&mut self, cap: usize) -> Self {
        std::mem::replace(self, Self::with_capacity(cap))
    }
    /// Items with their tags (`None` when untracked).
    pub(crate) fn into_pairs(self) -> impl Iterator<Item = (T, Option<Tag>)> {
        let mut tags = self.tags.into_iter();
        self.items.into_iter().map(move |i| (i, tags.next()))
    }
}

/// The sending half of a chunked channel between two stages.
pub struct ChunkTx<T> {
    inner: mpsc::Sender<Chunk<T>>,
    depth: Arc<AtomicI64>,
    max: usize,
}

impl<T> fmt::Debug for ChunkTx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkTx").field("max", &self.max).finish()
    }
}

impl<T> Clone for ChunkTx<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            depth: Arc::clone(&self.depth),
            max: self.max,
        }
    }
}

impl<T> ChunkTx<T> {
    /// Most items per chunk on this channel.
    pub(crate) fn chunk_max(&self) -> usize {
        self.max
    }

    /// Sends a chunk; `false` when the receiver is gone. Empty chunks are not sent.
    pub(crate) async fn send(&self, chunk: Chunk<T>) -> bool {
        let n = chunk.len() as i64;
        if n == 0 {
            return true;
        }
        self.depth.fetch_add(n, Ordering::Relaxed);
        if self.inner.send(chunk).await.is_err() {
            self.depth.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The receiving half of a chunked channel between two stages.
pub struct ChunkRx<T> {
    inner: mpsc::Receiver<Chunk<T>>,
    depth: Arc<AtomicI64>,
}

impl<T> fmt::Debug for ChunkRx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkRx").finish_non_exhaustive()
    }
}

impl<T> ChunkRx<T> {
    pub(crate) async fn recv(&mut self) -> Option<Chunk<T>> {
        let c = self.inner.recv().await?;
        self.depth.fetch_sub(c.len() as i64, Ordering::Relaxed);
        Some(c)
    }
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk<T>>> {
        self.inner.poll_recv(cx).map(|c| {
            if let Some(c) = &c {
                self.depth.fetch_sub(c.len() as i64, Ordering::Relaxed);
            }
            c
        })
    }
    pub(crate) fn try_recv(&mut self) -> Option<Chunk<T>> {
        let c = self.inner.try_recv().ok()?;
        self.depth.fetch_sub(c.len() as i64, Ordering::Relaxed);
        Some(c)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    pub(crate) fn depth(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.depth)
    }
}

/// A channel that holds at most `buffer` items, in chunks of at most `min(chunk, buffer)` items.
pub(crate) fn channel<T>(buffer: usize, chunk: usize) -> (ChunkTx<T>, ChunkRx<T>) {
    let max = chunk.min(buffer).max(1);
    let cap = (buffer / max).max(1);
    let (tx, rx) = mpsc::channel(cap);
    let depth = Arc::new(AtomicI64::new(0));
    (
        ChunkTx {
            inner: tx,
            depth: Arc::clone(&depth),
            max,
        },
        ChunkRx { inner: rx, depth },
    )
}

/// A dead letter on its way to the dead-letter sink, with the tag to acknowledge once it is written.
pub(crate) type DeadMsg = (DeadLetter, Option<Tag>);

/// The receiving end of the dead-letter channel.
#[derive(Debug)]
pub struct DeadLetterRx(pub(crate) mpsc::Receiver<DeadMsg>);

/// A deferred start of a part: called once when the run wires its stages.
pub(crate) type StartFn<A, B> = Box<dyn FnOnce(&mut Wiring, A, B) + Send>;

/// How a sink is started, given the channel it reads and its configuration.
pub struct SinkStart<T>(pub(crate) StartFn<ChunkRx<T>, PipeConfig>);

impl<T> fmt::Debug for SinkStart<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SinkStart")
    }
}

/// How the dead-letter sink is started.
pub struct DeadLetterStart(pub(crate) StartFn<DeadLetterRx, ()>);

impl fmt::Debug for DeadLetterStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeadLetterStart")
    }
}

/// The upstream part of a pipeline that is not started yet: given the channel its output goes into, it
/// spawns its stages.
pub struct Head<T>(StartFn<ChunkTx<T>, ()>);

impl<T> fmt::Debug for Head<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Head")
    }
}

impl<T> Head<T> {
    pub(crate) fn new(f: impl FnOnce(&mut Wiring, ChunkTx<T>) + Send + 'static) -> Self {
        Self(Box::new(move |w, tx, ()| f(w, tx)))
    }
    pub(crate) fn start(self, w: &mut Wiring, tx: ChunkTx<T>) {
        (self.0)(w, tx, ());
    }
}

/// Every part starts only once all parts have opened; if one fails to open, none runs.
#[derive(Debug)]
pub(crate) struct Gate {
    state: watch::Sender<GateState>,
}

#[derive(Debug, Clone, Copy, Default)]
struct GateState {
    arrived: usize,
    expected: Option<usize>,
    failed: bool,
}

impl Gate {
    fn new() -> Self {
        Self {
            state: watch::Sender::new(GateState::default()),
        }
    }
    /// Reports this part opened (`ok`) or not; waits for all others. `true`: go on.
    pub(crate) async fn arrive(&self, ok: bool) -> bool {
        self.state.send_modify(|s| {
            s.arrived += 1;
            s.failed |= !ok;
        });
        let mut rx = self.state.subscribe();
        match rx
            .wait_for(|s| s.failed || s.expected.is_some_and(|n| s.arrived >= n))
            .await
        {
            Ok(s) => !s.failed,
            Err(_) => false,
        }
    }
    pub(crate) fn seal(&self, parts: usize) {
        self.state.send_modify(|s| s.expected = Some(parts));
    }
    pub(crate) fn fail(&self) {
        self.state.send_modify(|s| s.failed = true);
    }
}

/// What all stages of one run share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: StreamConfig,
    pub(crate) monitor: Arc<MonitorInner>,
    pub(crate) tracker: Option<Arc<AckTracker>>,
    /// Graceful shutdown: the source stops, the rest drains.
    pub(crate) stop: CancellationToken,
    /// Fail fast: every stage stops; sinks flush and close.
    pub(crate) halt: CancellationToken,
    /// A second signal: tasks are dropped where they are.
    pub(crate) abort: CancellationToken,
    /// Every sink (and the stream consumer, and the dead-letter sink) has finished.
    pub(crate) drained: CancellationToken,
    terminals: AtomicUsize,
    pub(crate) cancelled: AtomicBool,
    /// Mirrors of `stop` and `halt` that cost one atomic load to read (a token's `is_cancelled` locks).
    stopped: AtomicBool,
    halted: AtomicBool,
    error: Mutex<Option<PipeError>>,
    pub(crate) gate: Gate,
}

impl Shared {
    pub(crate) fn new(
        cfg: StreamConfig,
        monitor: Arc<MonitorInner>,
        stop: CancellationToken,
        abort: CancellationToken,
    ) -> Self {
        Self {
            cfg,
            monitor,
            tracker: Some(Arc::new(AckTracker::default())),
            stop,
            halt: CancellationToken::new(),
            abort,
            drained: CancellationToken::new(),
            terminals: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            halted: AtomicBool::new(false),
            error: Mutex::new(None),
            gate: Gate::new(),
        }
    }

    /// Keeps the first error of the run.
    pub(crate) fn record(&self, e: PipeError) {
        tracing::warn!(error = %e, "pipeline error");
        let mut slot = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// Records `e` and stops the pipeline.
    pub(crate) fn fail(&self, e: PipeError) {
        self.record(e);
        self.halt();
    }

    /// Stops every stage (fail fast).
    pub(crate) fn halt(&self) {
        self.halted.store(true, Ordering::Release);
        self.halt.cancel();
    }

    pub(crate) fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// Graceful shutdown was requested (see [`Self::watch_stop`]).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Sets the `stopped` flag once the `stop` token is cancelled; runs for the whole run.
    pub(crate) async fn watch_stop(self: Arc<Self>) {
        self.stop.cancelled().await;
        self.mark_stopped();
    }

    /// Sets the `stopped` flag (the `stop` token was seen cancelled).
    pub(crate) fn mark_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn take_error(&self) -> Option<PipeError> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    pub(crate) fn add_terminal(&self) {
        self.terminals.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn terminal_done(&self) {
        if self.terminals.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.cancel();
        }
    }
}

/// A pipeline being started: the shared state, the tasks spawned so far, the dead-letter channel.
pub struct Wiring {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tasks: JoinSet<()>,
    pub(crate) dead_letters: Option<mpsc::Sender<DeadMsg>>,
    pub(crate) parts: usize,
    pub(crate) config_error: Option<String>,
}

impl fmt::Debug for Wiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wiring")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Wiring {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            tasks: JoinSet::new(),
            dead_letters: None,
            parts: 0,
            config_error: None,
        }
    }

    pub(crate) fn fuse(&self) -> bool {
        self.shared.cfg.fuse_sync_stages
    }

    /// The configuration of a stage added without one.
    pub(crate) fn default_pipe_config(&self) -> PipeConfig {
        PipeConfig::default().with_buffer_size(self.shared.cfg.buffer_size.get())
    }

    pub(crate) fn channel<T>(&self, buffer: NonZeroUsize) -> (ChunkTx<T>, ChunkRx<T>) {
        channel(buffer.get(), self.shared.cfg.chunk_size.get())
    }

    /// Registers a stage (its counters, one part for the open gate) and gives it its context.
    pub(crate) fn stage(
        &mut self,
        name: Cow<'static, str>,
        kind: StageKind,
        cfg: Option<&PipeConfig>,
        queue: Arc<AtomicI64>,
    ) -> StageCtx {
        let configured = cfg.and_then(|c| c.name.clone());
        let renamed_from = configured
            .as_ref()
            .filter(|c| **c != *name)
            .map(|_| name.clone());
        let display = configured.map_or(name, Cow::Owned);
        let stats = self.shared.monitor.add(StageStats::new(
            &self.shared.cfg.name,
            display.to_string(),
            kind,
            queue,
        ));
        let policy = cfg
            .and_then(|c| c.on_error)
            .unwrap_or(self.shared.cfg.on_error);
        if policy == ErrorPolicy::DeadLetter && self.dead_letters.is_none() {
            self.config_error = Some(format!(
                "stage `{display}` dead-letters failed items, but the pipeline has no dead-letter sink \
                 (add one with `.dead_letter(sink)`)"
            ));
        }
        self.parts += 1;
        StageCtx {
            shared: Arc::clone(&self.shared),
            stats,
            name: display,
            policy,
            retry: cfg.map(PipeConfig::retry_policy).unwrap_or_default(),
            timeout: cfg.and_then(|c| c.timeout),
            dead_letters: self.dead_letters.clone(),
            renamed_from,
        }
    }

    /// Spawns a stage's task inside a tracing span.
    pub(crate) fn spawn(&mut self, ctx: &StageCtx, fut: impl Future<Output = ()> + Send + 'static) {
        let span =
            tracing::info_span!("rivus_stage", pipeline = %self.shared.cfg.name, stage = %ctx.name);
        self.tasks.spawn(fut.instrument(span));
    }

    /// Runs a stage's task on a thread of the blocking pool (sync sources and sinks, which may block).
    pub(crate) fn spawn_blocking(
        &mut self,
        ctx: &StageCtx,
        fut: impl Future<Output = ()> + Send + 'static,
    ) {
        let span =
            tracing::info_span!("rivus_stage", pipeline = %self.shared.cfg.name, stage = %ctx.name);
        let handle = tokio::runtime::Handle::current();
        self.tasks
            .spawn_blocking(move || handle.block_on(fut.instrument(span)));
    }
}

/// What one stage knows: its counters, name, policies, and the shared state.
#[derive(Debug, Clone)]
pub(crate) struct StageCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stats: Arc<StageStats>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) policy: ErrorPolicy,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    pub(crate) dead_letters: Option<mpsc::Sender<DeadMsg>>,
    /// The pipe's own name when the configuration renamed it: its errors then carry the configured name.
    pub(crate) renamed_from: Option<Cow<'static, str>>,
}

impl StageCtx {
    /// Names an error after this stage: fills in a missing name, and applies the configured name to errors
    /// of the pipe itself (errors of inner parts of a chain keep their part's name).
    pub(crate) fn name_error(&self, err: PipeError) -> PipeError {
        match &self.renamed_from {
            Some(own) if err.pipe() == own.as_ref() => err.with_pipe(self.name.clone()),
            _ => err.or_pipe(self.name.clone()),
        }
    }

    /// Whether inputs must be copied before a call: a retry or a dead letter may need them again.
    pub(crate) fn keeps_copies(&self) -> bool {
        self.retry.retries > 0 || self.policy == ErrorPolicy::DeadLetter
    }

    pub(crate) fn tracker(&self) -> Option<&AckTracker> {
        self.shared.tracker.as_deref()
    }

    pub(crate) fn halted(&self) -> bool {
        self.shared.is_halted()
    }

    /// Reports the result of `open` and waits until every part has opened; `false`: do not run.
    pub(crate) async fn opened(&self, result: Result<(), PipeError>) -> bool {
        let ok = match result {
            Ok(()) => true,
            Err(e) => {
                self.shared.record(self.name_error(e));
                false
            }
        };
        self.shared.gate.arrive(ok).await && ok
    }

    /// Records a failed `close` or `flush`.
    pub(crate) fn closed(&self, result: Result<(), PipeError>) {
        if let Err(e) = result {
            self.stats.add_error();
            self.shared.record(self.name_error(e));
        }
    }

    /// The next chunk, or `None` when the input ended or the pipeline halted.
    pub(crate) async fn recv<T>(&self, rx: &mut ChunkRx<T>) -> Option<Chunk<T>> {
        if self.halted() {
            return None;
        }
        // Fast path: a chunk is waiting, no need to watch the halt token.
        if let Some(c) = rx.try_recv() {
            self.stats.observe_queue();
            return Some(c);
        }
        let c = tokio::select! {
            biased;
            () = self.shared.halt.cancelled() => None,
            c = rx.recv() => c,
        };
        self.stats.observe_queue();
        c
    }

    /// Drops one reference of `tag`: the item was written, filtered out, skipped or dead-lettered.
    pub(crate) fn ack(&self, tag: Option<Tag>) {
        if let (Some(t), Some(tag)) = (self.tracker(), tag) {
            t.ack([tag]);
        }
    }

    /// An input with `tag` gave `produced` outputs: each carries the tag (0 outputs acknowledge it).
    pub(crate) fn settle(&self, tag: Tag, produced: usize, out: &mut Vec<Tag>) {
        let Some(t) = self.tracker() else { return };
        match produced {
            0 => t.ack([tag]),
            1 => out.push(tag),
            n => {
                t.retain(&tag, u32::try_from(n - 1).unwrap_or(u32::MAX));
                out.extend(std::iter::repeat_n(tag, n));
            }
        }
    }

    /// Hands a failed item to the error policy. `false`: the stage must stop (fail fast).
    pub(crate) async fn fail_item<T: Send + 'static>(
        &self,
        err: PipeError,
        item: Option<T>,
        tag: Option<Tag>,
    ) -> bool {
        let err = self.name_error(err);
        self.stats.add_error();
        tracing::debug!(error = %err, policy = ?self.policy, "item failed");
        match self.policy {
            ErrorPolicy::FailFast => {
                self.shared.fail(err);
                false
            }
            ErrorPolicy::Skip => {
                self.stats.add_skipped();
                self.ack(tag);
                true
            }
            ErrorPolicy::DeadLetter => {
                let Some(tx) = &self.dead_letters else {
                    self.shared.fail(err);
                    return false;
                };
                let letter = DeadLetter {
                    pipe: err.pipe().to_owned(),
                    item_type: std::any::type_name::<T>(),
                    item: item.map(|i| Box::new(i) as Box<dyn Any + Send>),
                    error: err,
                };
                self.stats.add_dead_lettered();
                if tx.send((letter, tag)).await.is_err() {
                    self.shared.fail(
                        PipeError::msg("the dead-letter sink stopped").with_pipe(self.name.clone()),
                    );
                    return false;
                }
                true
            }
        }
    }
}

//! Starting a run: the [`Wiring`] that registers each stage (its counters, its place in the pipeline, its
//! policies) and spawns its task, and the deferred starts ([`Head`], [`SinkStart`], [`DeadLetterStart`]) that
//! the builder collects. Public only as opaque types that appear in the hidden methods of the builder traits.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use tokio::task::JoinSet;
use tracing::Instrument;

pub use super::channel::{ChunkRx, ChunkTx};
pub use super::dead_letter::DeadLetterRx;

use super::channel;
use super::dead_letter::DeadLetterTx;
use super::state::Run;
use super::task::{StageCtx, StagePolicy};
use crate::config::{ErrorPolicy, PipeConfig, Role};
use crate::metrics::{StageKind, StageStats};

/// A deferred start of a part: called once when the run wires its stages.
pub(crate) type StartFn<A, B> = Box<dyn FnOnce(&mut Wiring, A, B) + Send>;

/// How a sink is started, given the channel it reads and its configuration; gives the sink's counters.
#[allow(clippy::type_complexity)]
pub struct SinkStart<T>(
    pub(crate) Box<dyn FnOnce(&mut Wiring, ChunkRx<T>, PipeConfig) -> Arc<StageStats> + Send>,
);

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

/// Where a stage stands in the pipeline, which decides what a fail-fast cut does to it (see
/// [`super::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The source, a pipe, a batch, a window, the fan-out: numbered in pipeline order.
    Chain,
    /// A sink: every sink shares the index after the chain's last stage.
    Sink,
    /// The dead-letter sink: after every sink.
    DeadLetter,
}

/// A pipeline being started: the run's shared state, the tasks spawned so far, the dead-letter channel.
pub struct Wiring {
    pub(crate) run: Arc<Run>,
    pub(crate) tasks: JoinSet<()>,
    pub(crate) dead_letters: Option<DeadLetterTx>,
    pub(crate) parts: usize,
    pub(crate) config_error: Option<String>,
    next_index: usize,
    sink_index: Option<usize>,
    /// Several sinks share every item (a fan-out feeds them).
    pub(crate) fanned_out: bool,
}

impl fmt::Debug for Wiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wiring")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Wiring {
    pub(crate) fn new(run: Arc<Run>) -> Self {
        Self {
            run,
            tasks: JoinSet::new(),
            dead_letters: None,
            parts: 0,
            config_error: None,
            next_index: 0,
            sink_index: None,
            fanned_out: false,
        }
    }

    pub(crate) fn fuse(&self) -> bool {
        self.run.cfg.fuse_sync_stages
    }

    /// The configuration of a stage added without one.
    pub(crate) fn default_pipe_config(&self) -> PipeConfig {
        PipeConfig::default().with_buffer_size(self.run.cfg.buffer_size.get())
    }

    pub(crate) fn channel<T>(&self, buffer: NonZeroUsize) -> (ChunkTx<T>, ChunkRx<T>) {
        channel::channel(buffer.get(), self.run.cfg.chunk_size.get())
    }

    /// Records why the pipeline cannot run as built; the run then fails before any part starts.
    pub(crate) fn reject(&mut self, message: String) {
        self.config_error.get_or_insert(message);
    }

    /// Registers a stage (its counters, its index, one part for the open gate) and gives it its context.
    /// Stages register upstream first, so indices follow the pipeline.
    pub(crate) fn stage(
        &mut self,
        name: Cow<'static, str>,
        kind: StageKind,
        cfg: Option<&PipeConfig>,
        queue: Arc<AtomicI64>,
    ) -> StageCtx {
        let place = match kind {
            StageKind::Sink => Place::Sink,
            StageKind::DeadLetter => Place::DeadLetter,
            _ => Place::Chain,
        };
        let index = match place {
            Place::Chain => {
                self.next_index += 1;
                self.next_index - 1
            }
            Place::Sink => *self.sink_index.get_or_insert(self.next_index),
            Place::DeadLetter => self.sink_index.unwrap_or(self.next_index) + 1,
        };
        let configured = cfg.and_then(|c| c.name.clone());
        let renamed_from = configured
            .as_ref()
            .filter(|c| **c != *name)
            .map(|_| name.clone());
        let display = configured.map_or(name, Cow::Owned);
        let stats = self.run.monitor.add(StageStats::new(
            &self.run.cfg.name,
            display.to_string(),
            kind,
            queue,
        ));
        let on_error = cfg
            .and_then(|c| c.on_error)
            .unwrap_or(self.run.cfg.on_error);
        if on_error == ErrorPolicy::DeadLetter
            && self.dead_letters.is_none()
            && place != Place::DeadLetter
        {
            self.reject(format!(
                "stage `{display}` dead-letters failed items, but the pipeline has no dead-letter sink \
                 (add one with `.dead_letter(sink)`)"
            ));
        }
        self.parts += 1;
        StageCtx::new(
            Arc::clone(&self.run),
            stats,
            Arc::new(StagePolicy {
                name: display,
                renamed_from,
                on_error,
                retry: cfg.map(PipeConfig::retry_policy).unwrap_or_default(),
                timeout: cfg.and_then(|c| c.timeout),
                skips_logged: AtomicU64::new(0),
            }),
            index,
            self.dead_letters.clone(),
            // What a stage stops with can be given back unread unless another sink has it too.
            match place {
                Place::Chain => true,
                Place::Sink => !self.fanned_out,
                Place::DeadLetter => false,
            },
        )
    }

    /// Registers a part (see [`stage`](Self::stage)) whose options are checked for its `role`: an option that
    /// would do nothing for it makes the run fail before it starts.
    pub(crate) fn part(
        &mut self,
        name: Cow<'static, str>,
        kind: StageKind,
        cfg: Option<&PipeConfig>,
        role: Role,
        queue: Arc<AtomicI64>,
    ) -> StageCtx {
        let ctx = self.stage(name, kind, cfg, queue);
        if let Some(cfg) = cfg {
            let ignored = cfg.ignored_by(role);
            if !ignored.is_empty() {
                self.reject(format!(
                    "`{}`: {} would do nothing for {}",
                    ctx.policy.name,
                    ignored
                        .iter()
                        .map(|o| format!("`{o}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    role.describe()
                ));
            }
        }
        ctx
    }

    /// Spawns a stage's task, made by `task` from the stage's context, inside a tracing span.
    pub(crate) fn spawn<F>(&mut self, ctx: StageCtx, task: impl FnOnce(StageCtx) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let span = tracing::info_span!(
            "rivus_stage",
            pipeline = %self.run.cfg.name,
            stage = %ctx.policy.name
        );
        self.tasks.spawn(task(ctx).instrument(span));
    }
}

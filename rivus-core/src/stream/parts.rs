//! How each kind of part joins the builder: the sealed traits [`IntoSource`], [`IntoStage`], [`AddPipe`],
//! [`IntoSink`], [`IntoDeadLetterSink`] and [`SyncTail`]. Their methods are hidden: they wire the part into a
//! run (register its stage, check its options for its role, spawn its task).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::Item;
use super::builder::Pipeline;
use super::dead_letter::{DeadLetter, DeadLetterRx, dead_letter_task};
use super::driver::{AsyncSinkDriver, AsyncSourceDriver, ThreadSink, ThreadSource};
use super::task::{pipe_async, pipe_sync, sink, source};
use super::wiring::{DeadLetterStart, Head, SinkStart, Wiring};
use crate::compose::{AsyncMode, Chain, SyncMode};
use crate::config::{PipeConfig, Role};
use crate::error::PipeError;
use crate::metrics::StageKind;
use crate::pipe::{AsyncPipe, AsyncSink, AsyncSource, Emit, SyncPipe, SyncSink, SyncSource};

mod sealed {
    use std::marker::PhantomData;

    /// Seals the builder traits: only the impls of the builder module exist.
    pub trait Sealed<M> {}

    /// Names what a sealed impl is for: a role and a mode.
    #[derive(Debug)]
    pub struct Part<M>(PhantomData<M>);

    /// The source role.
    #[derive(Debug)]
    pub enum Source {}
    /// The stage role.
    #[derive(Debug)]
    pub enum Stage {}
    /// The sink role.
    #[derive(Debug)]
    pub enum SinkRole {}
}
use sealed::{Part, Sealed, SinkRole, Source, Stage};

/// A source the builder takes: every [`AsyncSource`] and every [`SyncSource`] (whose `M` is
/// [`AsyncMode`] or [`SyncMode`]).
pub trait IntoSource<M>: Sealed<Part<(M, Source)>> + Send + 'static {
    /// What the source yields.
    type Out: Item;
    /// Wires the source into a run.
    #[doc(hidden)]
    fn into_head(self, cfg: Option<PipeConfig>) -> Head<Self::Out>;
}

impl<S: AsyncSource + 'static> Sealed<Part<(AsyncMode, Source)>> for S where S::Out: Item {}
impl<S: SyncSource + Send + 'static> Sealed<Part<(SyncMode, Source)>> for S where S::Out: Item {}

impl<S> IntoSource<AsyncMode> for S
where
    S: AsyncSource + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn into_head(self, cfg: Option<PipeConfig>) -> Head<S::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            let name = self.name();
            let ctx = w.part(
                name,
                StageKind::Source,
                cfg.as_ref(),
                Role::Source,
                Arc::default(),
            );
            w.spawn(ctx, |ctx| {
                source::source_task(AsyncSourceDriver(self), tx, ctx)
            });
        })
    }
}

impl<S> IntoSource<SyncMode> for S
where
    S: SyncSource + Send + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn into_head(self, cfg: Option<PipeConfig>) -> Head<S::Out> {
        Head::new(move |w: &mut Wiring, tx| {
            let name = self.name();
            let ctx = w.part(
                name,
                StageKind::Source,
                cfg.as_ref(),
                Role::Source,
                Arc::default(),
            );
            // The thread hands over a channel's worth at a time when it can: one wake-up of the task (and,
            // down the line, one trip to a sink's thread) per batch, not per chunk.
            let driver = ThreadSource::new(self, tx.items_max(), Arc::clone(&ctx.stats));
            w.spawn(ctx, |ctx| source::source_task(driver, tx, ctx));
        })
    }
}

/// A pipe that can be a stage of its own: every [`SyncPipe`] and every [`AsyncPipe`].
pub trait IntoStage<M>: Sealed<Part<(M, Stage)>> + Send + 'static {
    /// What the stage takes.
    type In: Item;
    /// What the stage gives.
    type Out: Item;
    /// Wires the stage after `head`.
    #[doc(hidden)]
    fn into_stage(self, head: Head<Self::In>, cfg: Option<PipeConfig>) -> Head<Self::Out>;
}

impl<P> Sealed<Part<(SyncMode, Stage)>> for P
where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Item,
    P::Out: Item,
{
}

impl<P> Sealed<Part<(AsyncMode, Stage)>> for P
where
    P: AsyncPipe + 'static,
    P::In: Item,
    P::Out: Item,
{
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
            let ctx = w.part(
                self.name(),
                StageKind::Pipe,
                Some(&cfg),
                Role::AsyncPipe,
                irx.depth(),
            );
            let (n, ordered) = (cfg.concurrency.get(), cfg.ordered);
            w.spawn(ctx, |ctx| {
                pipe_async::async_stage(self, irx, tx, ctx, n, ordered)
            });
        })
    }
}

fn spawn_sync<P>(
    w: &mut Wiring,
    pipe: P,
    cfg: Option<PipeConfig>,
    head: Head<P::In>,
    tx: super::channel::ChunkTx<P::Out>,
) where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Item,
    P::Out: Item,
{
    let cfg = cfg.unwrap_or_else(|| w.default_pipe_config());
    let (itx, irx) = w.channel(cfg.buffer_size);
    head.start(w, itx);
    let ctx = w.part(
        pipe.name(),
        StageKind::Pipe,
        Some(&cfg),
        Role::SyncPipe,
        irx.depth(),
    );
    let (n, ordered) = (cfg.concurrency.get(), cfg.ordered);
    if n == 1 && !cfg.blocking {
        w.spawn(ctx, |ctx| pipe_sync::inline_stage(pipe, irx, tx, ctx));
    } else {
        let blocking = cfg.blocking;
        w.spawn(ctx, |ctx| {
            pipe_sync::worker_stage(pipe, irx, tx, ctx, n, ordered, blocking)
        });
    }
}

/// How [`Pipeline::pipe`] adds a pipe: a [`SyncPipe`] joins the pending fused sync pipes, an [`AsyncPipe`]
/// becomes a stage.
pub trait AddPipe<U, F, M>: Sealed<Part<(U, F, M)>> {
    /// The pipeline with the pipe added.
    type Output;
    /// Adds the pipe.
    #[doc(hidden)]
    fn add_to(self, pipeline: Pipeline<U, F>) -> Self::Output;
}

impl<U, F, P> Sealed<Part<(U, F, SyncMode)>> for P
where
    U: Item,
    F: SyncTail<In = U>,
    P: SyncPipe<In = F::Out> + Send + Sync + 'static,
    P::Out: Item,
{
}

impl<U, F, P> Sealed<Part<(U, F, AsyncMode)>> for P
where
    U: Item,
    F: SyncTail<In = U>,
    P: AsyncPipe<In = F::Out> + 'static,
    P::Out: Item,
{
}

impl<U, F, P> AddPipe<U, F, SyncMode> for P
where
    U: Item,
    F: SyncTail<In = U>,
    P: SyncPipe<In = F::Out> + Send + Sync + 'static,
    P::Out: Item,
{
    type Output = Pipeline<U, Chain<F, P>>;
    fn add_to(self, pipeline: Pipeline<U, F>) -> Self::Output {
        Pipeline {
            settings: pipeline.settings,
            head: pipeline.head,
            tail: Chain::new(pipeline.tail, self),
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
pub trait IntoSink<M>: Sealed<Part<(M, SinkRole)>> + Send + 'static {
    /// What the sink takes.
    type In: Item;
    /// Wires the sink into a run.
    #[doc(hidden)]
    fn into_sink(self) -> SinkStart<Self::In>;
}

impl<S: AsyncSink + 'static> Sealed<Part<(AsyncMode, SinkRole)>> for S where S::In: Item {}
impl<S: SyncSink + Send + 'static> Sealed<Part<(SyncMode, SinkRole)>> for S where S::In: Item {}

impl<S> IntoSink<AsyncMode> for S
where
    S: AsyncSink + 'static,
    S::In: Item,
{
    type In = S::In;
    fn into_sink(self) -> SinkStart<S::In> {
        SinkStart(Box::new(move |w: &mut Wiring, rx, cfg| {
            let ctx = w.part(
                self.name(),
                StageKind::Sink,
                Some(&cfg),
                Role::Sink,
                rx.depth(),
            );
            let stats = Arc::clone(&ctx.stats);
            let terminal = w.run.terminal();
            w.spawn(ctx, |ctx| {
                sink::sink_task(AsyncSinkDriver(self), rx, ctx, terminal)
            });
            stats
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
        SinkStart(Box::new(move |w: &mut Wiring, rx, cfg| {
            let ctx = w.part(
                self.name(),
                StageKind::Sink,
                Some(&cfg),
                Role::Sink,
                rx.depth(),
            );
            let stats = Arc::clone(&ctx.stats);
            let terminal = w.run.terminal();
            w.spawn(ctx, |ctx| {
                sink::sink_task(ThreadSink::new(self), rx, ctx, terminal)
            });
            stats
        }))
    }
}

/// A sink of [`DeadLetter`]s: every [`AsyncSink`] or [`SyncSink`] with `In = DeadLetter`.
pub trait IntoDeadLetterSink<M>: Sealed<Part<(M, DeadLetter)>> + Send + 'static {
    /// Wires the dead-letter sink into a run.
    #[doc(hidden)]
    fn into_dead_letter(self, cfg: Option<PipeConfig>) -> DeadLetterStart;
}

impl<S: AsyncSink<In = DeadLetter> + 'static> Sealed<Part<(AsyncMode, DeadLetter)>> for S {}
impl<S: SyncSink<In = DeadLetter> + Send + 'static> Sealed<Part<(SyncMode, DeadLetter)>> for S {}

/// Wires a dead-letter sink's task, given its driver.
fn start_dead_letter<D>(
    name: Cow<'static, str>,
    cfg: Option<PipeConfig>,
    driver: D,
) -> DeadLetterStart
where
    D: super::driver::SinkDriver<In = DeadLetter>,
{
    DeadLetterStart(Box::new(move |w: &mut Wiring, rx: DeadLetterRx, ()| {
        let ctx = w.part(
            name,
            StageKind::DeadLetter,
            cfg.as_ref(),
            Role::DeadLetter,
            Arc::default(),
        );
        let terminal = w.run.terminal();
        w.spawn(ctx, |ctx| dead_letter_task(driver, rx, ctx, terminal));
    }))
}

impl<S: AsyncSink<In = DeadLetter> + 'static> IntoDeadLetterSink<AsyncMode> for S {
    fn into_dead_letter(self, cfg: Option<PipeConfig>) -> DeadLetterStart {
        start_dead_letter(self.name(), cfg, AsyncSinkDriver(self))
    }
}

impl<S: SyncSink<In = DeadLetter> + Send + 'static> IntoDeadLetterSink<SyncMode> for S {
    fn into_dead_letter(self, cfg: Option<PipeConfig>) -> DeadLetterStart {
        start_dead_letter(self.name(), cfg, ThreadSink::new(self))
    }
}

/// The sync pipes added since the last stage, waiting to run fused: [`Identity`] (none) or a
/// [`Chain`](crate::compose::Chain) of them.
pub trait SyncTail:
    Sealed<Part<Self>> + SyncPipe<In: Item, Out: Item> + Send + Sync + Sized + 'static
{
    /// Wires the pending pipes after `head`: one task when fusion is on, one task each when it is off.
    #[doc(hidden)]
    fn into_head(self, head: Head<Self::In>) -> Head<Self::Out>;
}

/// No pipe: passes every item on unchanged.
pub struct Identity<T>(PhantomData<fn(T) -> T>);

impl<T> Identity<T> {
    pub(crate) fn new() -> Self {
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

impl<T: Item> Sealed<Part<Identity<T>>> for Identity<T> {}

impl<T: Item> SyncTail for Identity<T> {
    fn into_head(self, head: Head<T>) -> Head<T> {
        head
    }
}

impl<A, B> Sealed<Part<Chain<A, B>>> for Chain<A, B>
where
    A: SyncTail,
    B: SyncPipe<In = A::Out> + Send + Sync + 'static,
    B::Out: Item,
{
}

impl<A, B> SyncTail for Chain<A, B>
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
                let (first, second) = self.into_parts();
                let head = first.into_head(head);
                spawn_sync(w, second, None, head, tx);
            }
        })
    }
}

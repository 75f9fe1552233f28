//! `>>` at the ends of a chain: `source >> pipe` is a source, `pipe >> sink` is a sink.
//!
//! Sources and sinks carry a [`Composable::Mode`] of their own ([`SyncSourceMode`], [`AsyncSourceMode`],
//! [`SyncSinkMode`], [`AsyncSinkMode`]), which the plugin attributes (`#[sync_source]`, `#[async_sink]`, …)
//! implement. A source on the left of `>>` takes pipes; a pipe on the left of `>>` takes a sink. The result is
//! again a source or a sink, so that `KafkaSource >> enrich >> CsvSink` reads as in the plugin page: the part
//! before the sink is a source with the pipes applied, the part after the source a sink with the pipes in front.
//! Sync parts are lifted where they meet async ones, as between pipes.
//!
//! Joining a source to a sink makes a runnable pipeline: `(source >> pipe >> sink).run().await` runs it on the
//! runtime (the pipes run fused in the source's task; use the runtime's `Pipeline` for stages of
//! their own, concurrency, batching and windows).
//!
//! ```
//! use rivus_core::prelude::*;
//!
//! /// Counts down.
//! #[sync_source]
//! struct Countdown(u32);
//!
//! impl SyncSource for Countdown {
//!     type Out = u32;
//!     fn next(&mut self) -> Option<Result<u32, PipeError>> {
//!         (self.0 > 0).then(|| {
//!             self.0 -= 1;
//!             Ok(self.0)
//!         })
//!     }
//! }
//!
//! let mut evens = Countdown(6) >> pipe::filter(|n: &u32| n % 2 == 0) >> pipe::map(|n: u32| n * 10);
//! let mut out = Vec::new();
//! while let Some(item) = evens.next() {
//!     out.push(item.unwrap());
//! }
//! assert_eq!(out, [40, 20, 0]);
//! ```

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;

use super::positions::Positions;
use super::{Composable, Feeds, Join, Lift};
use crate::ack::Position;
use crate::compose::{AsyncMode, SyncMode};
use crate::error::PipeError;
use crate::pipe::{
    AsyncPipe, AsyncSink, AsyncSource, Emit, Outputs, Rejected, SyncPipe, SyncSink, SyncSource,
};

/// Marks sync sources (`Composable::Mode`): they stand on the left of `>>` and take pipes.
#[derive(Debug, Clone, Copy)]
pub enum SyncSourceMode {}

/// Marks async sources (`Composable::Mode`).
#[derive(Debug, Clone, Copy)]
pub enum AsyncSourceMode {}

/// Marks sync sinks (`Composable::Mode`): they stand on the right of `>>`, after a pipe.
#[derive(Debug, Clone, Copy)]
pub enum SyncSinkMode {}

/// Marks async sinks (`Composable::Mode`).
#[derive(Debug, Clone, Copy)]
pub enum AsyncSinkMode {}

/// The items a source's pipes produced and it has not yet handed out.
struct Queue<T>(VecDeque<T>);

impl<T> Emit<T> for Queue<T> {
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        self.0.push_back(item);
        Ok(())
    }
}

fn joined(a: Cow<'static, str>, b: Cow<'static, str>) -> Cow<'static, str> {
    Cow::Owned(format!("{a} >> {b}"))
}

/// A sync source followed by a sync pipe: `source >> pipe`, again a [`SyncSource`].
///
/// An item the pipe drops (a filter: no output, no error) is counted by
/// [`take_filtered`](SyncSource::take_filtered), with the rows the source itself left out: the runtime counts
/// it read and `filtered` at the source's stage, so the ledger still adds up. The source's positions are passed
/// on, so a resumable source keeps its commits: an output carries its input's position when it is the last
/// output of that input, and the input before's otherwise, so that a commit never passes an input before all
/// its outputs reached an end. The positions it hands out are its own, and [`commit`](SyncSource::commit)
/// gives the source its own position, once per input.
pub struct SourceThen<S, P: SyncPipe> {
    source: S,
    pipe: P,
    ready: Queue<P::Out>,
    /// Items the pipe dropped since [`take_filtered`](SyncSource::take_filtered) was last asked.
    dropped: u64,
    positions: Positions,
}

impl<S, P> SyncSource for SourceThen<S, P>
where
    S: SyncSource,
    P: SyncPipe,
    S::Out: Feeds<P::In>,
{
    type Out = P::Out;

    fn next(&mut self) -> Option<Result<P::Out, PipeError>> {
        loop {
            if let Some(item) = self.ready.0.pop_front() {
                self.positions.hand_out(self.ready.0.is_empty());
                return Some(Ok(item));
            }
            let Some(read) = self.source.next() else {
                // Rows the source left out after its last item are covered by its position after them.
                let left_out = self.source.take_filtered();
                self.dropped += left_out;
                self.positions
                    .ended((left_out > 0).then(|| self.source.position()).flatten());
                return None;
            };
            self.positions.read(self.source.position());
            match read {
                Ok(item) => {
                    if let Err(e) = self.pipe.process_each(item.feed(), &mut self.ready) {
                        // Outputs made before the error follow it: it is not its input's last.
                        self.positions.hand_out(self.ready.0.is_empty());
                        return Some(Err(e));
                    }
                    self.dropped += u64::from(self.ready.0.is_empty());
                }
                Err(e) => {
                    self.positions.hand_out(true);
                    return Some(Err(e));
                }
            }
        }
    }

    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.dropped) + self.source.take_filtered()
    }

    fn position(&self) -> Option<Position> {
        self.positions.position()
    }

    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        match self.positions.commit_of(&upto) {
            Some(inner) => self.source.commit(inner),
            None => Ok(()),
        }
    }

    fn name(&self) -> Cow<'static, str> {
        joined(self.source.name(), self.pipe.name())
    }

    fn open(&mut self) -> Result<(), PipeError> {
        self.source.open()?;
        self.pipe.open()
    }

    fn close(&mut self) -> Result<(), PipeError> {
        let first = self.pipe.close();
        let second = self.source.close();
        first.and(second)
    }
}

impl<S, P: SyncPipe> Composable for SourceThen<S, P> {
    type Mode = SyncSourceMode;
}

crate::__impl_shr!([S, P: SyncPipe,] SourceThen<S, P>);

/// An async source followed by an async pipe: `source >> pipe` with an async part, an [`AsyncSource`].
///
/// Items the pipe drops are counted, and the source's positions passed on, as [`SourceThen`]'s are.
pub struct AsyncSourceThen<S, P: AsyncPipe> {
    source: S,
    pipe: P,
    ready: Queue<P::Out>,
    /// Items the pipe dropped since [`take_filtered`](AsyncSource::take_filtered) was last asked.
    dropped: u64,
    positions: Positions,
}

impl<S, P> AsyncSource for AsyncSourceThen<S, P>
where
    S: AsyncSource,
    P: AsyncPipe,
    S::Out: Feeds<P::In>,
{
    type Out = P::Out;

    async fn next(&mut self) -> Option<Result<P::Out, PipeError>> {
        loop {
            if let Some(item) = self.ready.0.pop_front() {
                self.positions.hand_out(self.ready.0.is_empty());
                return Some(Ok(item));
            }
            let Some(read) = self.source.next().await else {
                // Rows the source left out after its last item are covered by its position after them.
                let left_out = self.source.take_filtered();
                self.dropped += left_out;
                self.positions
                    .ended((left_out > 0).then(|| self.source.position()).flatten());
                return None;
            };
            self.positions.read(self.source.position());
            match read {
                Ok(item) => {
                    if let Err(e) = self.pipe.process_each(item.feed(), &mut self.ready).await {
                        // Outputs made before the error follow it: it is not its input's last.
                        self.positions.hand_out(self.ready.0.is_empty());
                        return Some(Err(e));
                    }
                    self.dropped += u64::from(self.ready.0.is_empty());
                }
                Err(e) => {
                    self.positions.hand_out(true);
                    return Some(Err(e));
                }
            }
        }
    }

    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.dropped) + self.source.take_filtered()
    }

    fn position(&self) -> Option<Position> {
        self.positions.position()
    }

    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        match self.positions.commit_of(&upto) {
            Some(inner) => self.source.commit(inner).await,
            None => Ok(()),
        }
    }

    fn name(&self) -> Cow<'static, str> {
        joined(self.source.name(), self.pipe.name())
    }

    async fn open(&mut self) -> Result<(), PipeError> {
        self.source.open().await?;
        self.pipe.open().await
    }

    async fn close(&mut self) -> Result<(), PipeError> {
        let first = self.pipe.close().await;
        let second = self.source.close().await;
        first.and(second)
    }
}

impl<S, P: AsyncPipe> Composable for AsyncSourceThen<S, P> {
    type Mode = AsyncSourceMode;
}

crate::__impl_shr!([S, P: AsyncPipe,] AsyncSourceThen<S, P>);

/// A [`SyncSource`] read inline inside an async chain, where it meets an async pipe.
#[derive(Debug, Clone)]
pub struct LiftSource<S>(S);

impl<S> AsyncSource for LiftSource<S>
where
    S: SyncSource + Send,
    S::Out: Send,
{
    type Out = S::Out;

    fn next(&mut self) -> impl Future<Output = Option<Result<S::Out, PipeError>>> + Send {
        std::future::ready(self.0.next())
    }

    /// The sync source's `next`, as `next` calls it.
    fn try_next(&mut self) -> std::task::Poll<Option<Result<S::Out, PipeError>>> {
        std::task::Poll::Ready(self.0.next())
    }

    fn take_filtered(&mut self) -> u64 {
        self.0.take_filtered()
    }

    fn position(&self) -> Option<Position> {
        self.0.position()
    }

    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.commit(upto))
    }

    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }

    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.open())
    }

    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.close())
    }
}

/// A sync pipe in front of a sync sink: `pipe >> sink`, again a [`SyncSink`].
#[derive(Debug, Clone)]
pub struct PipeSink<P, K> {
    pipe: P,
    sink: K,
}

/// Writes a pipe's outputs into a sink.
struct WriteTo<'a, K>(&'a mut K);

impl<T, K> Emit<T> for WriteTo<'_, K>
where
    K: SyncSink,
    T: Feeds<K::In>,
{
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        self.0
            .write(item.feed())
            .map_err(|e| e.or_pipe(self.0.name()))
    }
}

impl<P, K> SyncSink for PipeSink<P, K>
where
    P: SyncPipe,
    K: SyncSink,
    P::Out: Feeds<K::In>,
{
    type In = P::In;

    fn write(&mut self, item: P::In) -> Result<(), PipeError> {
        self.pipe.process_each(item, &mut WriteTo(&mut self.sink))
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        self.sink.flush()
    }

    fn flush_batch(&self) -> Option<NonZeroUsize> {
        self.sink.flush_batch()
    }

    fn name(&self) -> Cow<'static, str> {
        joined(self.pipe.name(), self.sink.name())
    }

    fn open(&mut self) -> Result<(), PipeError> {
        self.pipe.open()?;
        self.sink.open()
    }

    fn close(&mut self) -> Result<(), PipeError> {
        let first = self.sink.close();
        let second = self.pipe.close();
        first.and(second)
    }
}

impl<P, K> Composable for PipeSink<P, K> {
    type Mode = SyncSinkMode;
}

/// A pipe in front of a sink with an async part: an [`AsyncSink`].
#[derive(Debug, Clone)]
pub struct AsyncPipeSink<P, K> {
    pipe: P,
    sink: K,
}

impl<P, K> AsyncSink for AsyncPipeSink<P, K>
where
    P: AsyncPipe,
    K: AsyncSink,
    P::Out: Feeds<K::In>,
{
    type In = P::In;

    async fn write(&mut self, item: P::In) -> Result<(), PipeError> {
        // An `Emit` cannot await, so the pipe's outputs wait here (no allocation for 0 or 1 item).
        let mut outputs = Outputs::new();
        self.pipe.process_each(item, &mut outputs).await?;
        for output in outputs {
            let name = self.sink.name();
            self.sink
                .write(output.feed())
                .await
                .map_err(|e| e.or_pipe(name))?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), PipeError> {
        self.sink.flush().await
    }

    fn flush_batch(&self) -> Option<NonZeroUsize> {
        self.sink.flush_batch()
    }

    fn name(&self) -> Cow<'static, str> {
        joined(self.pipe.name(), self.sink.name())
    }

    async fn open(&mut self) -> Result<(), PipeError> {
        self.pipe.open().await?;
        self.sink.open().await
    }

    async fn close(&mut self) -> Result<(), PipeError> {
        let first = self.sink.close().await;
        let second = self.pipe.close().await;
        first.and(second)
    }
}

impl<P, K> Composable for AsyncPipeSink<P, K> {
    type Mode = AsyncSinkMode;
}

/// A [`SyncSink`] written inline inside an async chain, where an async pipe feeds it.
#[derive(Debug, Clone)]
pub struct LiftSink<K>(K);

impl<K> AsyncSink for LiftSink<K>
where
    K: SyncSink + Send,
    K::In: Send,
{
    type In = K::In;

    fn write(&mut self, item: K::In) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.write(item))
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.flush())
    }

    fn flush_each(&mut self) -> impl Future<Output = Result<Vec<Rejected>, PipeError>> + Send {
        std::future::ready(self.0.flush_each())
    }

    fn flush_batch(&self) -> Option<NonZeroUsize> {
        self.0.flush_batch()
    }

    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }

    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.open())
    }

    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.close())
    }
}

fn source_then<S, P: SyncPipe>(source: S, pipe: P) -> SourceThen<S, P> {
    SourceThen {
        source,
        pipe,
        ready: Queue(VecDeque::new()),
        dropped: 0,
        positions: Positions::default(),
    }
}

fn async_source_then<S, P: AsyncPipe>(source: S, pipe: P) -> AsyncSourceThen<S, P> {
    AsyncSourceThen {
        source,
        pipe,
        ready: Queue(VecDeque::new()),
        dropped: 0,
        positions: Positions::default(),
    }
}

impl<A, B> Join<A, B> for (SyncSourceMode, SyncMode)
where
    A: SyncSource,
    B: SyncPipe,
    A::Out: Feeds<B::In>,
{
    type Output = SourceThen<A, B>;
    fn join(a: A, b: B) -> Self::Output {
        source_then(a, b)
    }
}

impl<A, B> Join<A, B> for (SyncSourceMode, AsyncMode)
where
    A: SyncSource + Send,
    A::Out: Send + Feeds<B::In>,
    B: AsyncPipe,
{
    type Output = AsyncSourceThen<LiftSource<A>, B>;
    fn join(a: A, b: B) -> Self::Output {
        async_source_then(LiftSource(a), b)
    }
}

impl<A, B> Join<A, B> for (AsyncSourceMode, SyncMode)
where
    A: AsyncSource,
    A::Out: Feeds<B::In>,
    B: SyncPipe + Send + Sync,
    B::In: Send,
    B::Out: Send,
{
    type Output = AsyncSourceThen<A, Lift<B>>;
    fn join(a: A, b: B) -> Self::Output {
        async_source_then(a, Lift(b))
    }
}

impl<A, B> Join<A, B> for (AsyncSourceMode, AsyncMode)
where
    A: AsyncSource,
    A::Out: Feeds<B::In>,
    B: AsyncPipe,
{
    type Output = AsyncSourceThen<A, B>;
    fn join(a: A, b: B) -> Self::Output {
        async_source_then(a, b)
    }
}

impl<A, B> Join<A, B> for (SyncMode, SyncSinkMode)
where
    A: SyncPipe,
    B: SyncSink,
    A::Out: Feeds<B::In>,
{
    type Output = PipeSink<A, B>;
    fn join(pipe: A, sink: B) -> Self::Output {
        PipeSink { pipe, sink }
    }
}

impl<A, B> Join<A, B> for (SyncMode, AsyncSinkMode)
where
    A: SyncPipe + Send + Sync,
    A::In: Send,
    A::Out: Send + Feeds<B::In>,
    B: AsyncSink,
{
    type Output = AsyncPipeSink<Lift<A>, B>;
    fn join(pipe: A, sink: B) -> Self::Output {
        AsyncPipeSink {
            pipe: Lift(pipe),
            sink,
        }
    }
}

impl<A, B> Join<A, B> for (AsyncMode, SyncSinkMode)
where
    A: AsyncPipe,
    A::Out: Feeds<B::In>,
    B: SyncSink + Send,
    B::In: Send,
{
    type Output = AsyncPipeSink<A, LiftSink<B>>;
    fn join(pipe: A, sink: B) -> Self::Output {
        AsyncPipeSink {
            pipe,
            sink: LiftSink(sink),
        }
    }
}

impl<A, B> Join<A, B> for (AsyncMode, AsyncSinkMode)
where
    A: AsyncPipe,
    A::Out: Feeds<B::In>,
    B: AsyncSink,
{
    type Output = AsyncPipeSink<A, B>;
    fn join(pipe: A, sink: B) -> Self::Output {
        AsyncPipeSink { pipe, sink }
    }
}

/// `source >> sink`: a source joined to a sink. It is plain data here; the runtime gives it
/// [`run`](Connected::run) and [`into_pipeline`](Connected::into_pipeline) (a
/// [`Sinks`](crate::stream::Sinks) builder, for more sinks, a dead-letter sink or a configuration).
#[derive(Debug, Clone)]
pub struct Connected<S, K> {
    pub(crate) source: S,
    pub(crate) sink: K,
}

impl<S, K> Connected<S, K> {
    /// The source and the sink.
    pub fn into_parts(self) -> (S, K) {
        (self.source, self.sink)
    }
}

macro_rules! source_to_sink {
    ($($src_mode:ident: $src:ident, $sink_mode:ident: $sink:ident;)*) => {$(
        impl<A, B> Join<A, B> for ($src_mode, $sink_mode)
        where
            A: $src,
            B: $sink<In = A::Out>,
        {
            type Output = Connected<A, B>;
            fn join(source: A, sink: B) -> Self::Output {
                Connected { source, sink }
            }
        }
    )*};
}

source_to_sink! {
    SyncSourceMode: SyncSource, SyncSinkMode: SyncSink;
    SyncSourceMode: SyncSource, AsyncSinkMode: AsyncSink;
    AsyncSourceMode: AsyncSource, SyncSinkMode: SyncSink;
    AsyncSourceMode: AsyncSource, AsyncSinkMode: AsyncSink;
}

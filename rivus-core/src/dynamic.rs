//! Type-erased pipes, sources and sinks: what a pipeline built from a file (by plugin names, at run time) holds.
//!
//! The six traits use generic methods and `async fn`, which keep the typed path free of boxing but make them
//! unusable as `dyn` objects. The boxes here erase a value's type behind a vtable and implement the same traits
//! again, so a [`BoxSyncPipe`] composes with `>>` and runs in the runtime like any other pipe. Each call costs one
//! virtual call, and for the async boxes one boxed future; typed pipelines never pay that.
//!
//! [`BoxPlugin`] is one of the six boxes: what a registered plugin builds into
//! ([`PluginDescriptor::build_erased`](crate::registry::PluginDescriptor::build_erased)).

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::ack::Position;
use crate::compose::{AsyncMode, Composable};
use crate::condition::Condition;
use crate::error::PipeError;
use crate::pipe::{
    AsyncPipe, AsyncSink, AsyncSource, Emit, Outputs, Rejected, SyncPipe, SyncSink, SyncSource,
};
use crate::registry::PluginKind;

/// A boxed, `Send` future: what the erased async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`SyncPipe`]; implemented for every `SyncPipe + Send + Sync`.
pub trait DynSyncPipe<I, O>: Send + Sync {
    /// [`SyncPipe::process_each`] into a `dyn Emit`.
    ///
    /// # Errors
    ///
    /// As [`SyncPipe::process_each`].
    fn dyn_process_each(&self, input: I, out: &mut dyn Emit<O>) -> Result<(), PipeError>;
    /// [`SyncPipe::name`].
    fn dyn_name(&self) -> Cow<'static, str>;
    /// [`SyncPipe::stage_names`].
    fn dyn_stage_names(&self) -> Vec<Cow<'static, str>>;
    /// [`SyncPipe::open`].
    ///
    /// # Errors
    ///
    /// As [`SyncPipe::open`].
    fn dyn_open(&mut self) -> Result<(), PipeError>;
    /// [`SyncPipe::close`].
    ///
    /// # Errors
    ///
    /// As [`SyncPipe::close`].
    fn dyn_close(&mut self) -> Result<(), PipeError>;
}

impl<T: SyncPipe + Send + Sync> DynSyncPipe<T::In, T::Out> for T {
    fn dyn_process_each(
        &self,
        input: T::In,
        mut out: &mut dyn Emit<T::Out>,
    ) -> Result<(), PipeError> {
        self.process_each(input, &mut out)
    }
    fn dyn_name(&self) -> Cow<'static, str> {
        self.name()
    }
    fn dyn_stage_names(&self) -> Vec<Cow<'static, str>> {
        self.stage_names()
    }
    fn dyn_open(&mut self) -> Result<(), PipeError> {
        self.open()
    }
    fn dyn_close(&mut self) -> Result<(), PipeError> {
        self.close()
    }
}

/// A [`SyncPipe`] of any type with input `I` and output `O`.
pub struct BoxSyncPipe<I, O>(Box<dyn DynSyncPipe<I, O>>);

impl<I, O> BoxSyncPipe<I, O> {
    /// Erases `pipe`'s type.
    pub fn new<P: SyncPipe<In = I, Out = O> + Send + Sync + 'static>(pipe: P) -> Self {
        Self(Box::new(pipe))
    }
}

impl<I, O> std::fmt::Debug for BoxSyncPipe<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BoxSyncPipe")
            .field(&self.0.dyn_name())
            .finish()
    }
}

impl<I, O> SyncPipe for BoxSyncPipe<I, O> {
    type In = I;
    type Out = O;
    fn process(&self, input: I) -> Result<O, PipeError> {
        let mut out = Outputs::new();
        self.0.dyn_process_each(input, &mut out)?;
        out.into_single(|| self.0.dyn_name())
    }
    #[inline]
    fn process_each<E: Emit<O>>(&self, input: I, out: &mut E) -> Result<(), PipeError> {
        self.0.dyn_process_each(input, out)
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.dyn_name()
    }
    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        self.0.dyn_stage_names()
    }
    fn open(&mut self) -> Result<(), PipeError> {
        self.0.dyn_open()
    }
    fn close(&mut self) -> Result<(), PipeError> {
        self.0.dyn_close()
    }
}

crate::__impl_shr!([I, O,] BoxSyncPipe<I, O>);

/// The object-safe form of [`AsyncPipe`]; implemented for every `AsyncPipe`.
pub trait DynAsyncPipe<I, O>: Send + Sync {
    /// [`AsyncPipe::process_each`] into a `dyn Emit`.
    fn dyn_process_each<'a>(
        &'a self,
        input: I,
        out: &'a mut (dyn Emit<O> + Send),
    ) -> BoxFuture<'a, Result<(), PipeError>>;
    /// [`AsyncPipe::name`].
    fn dyn_name(&self) -> Cow<'static, str>;
    /// [`AsyncPipe::open`].
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncPipe::close`].
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
}

impl<T: AsyncPipe> DynAsyncPipe<T::In, T::Out> for T
where
    T::In: 'static,
{
    fn dyn_process_each<'a>(
        &'a self,
        input: T::In,
        out: &'a mut (dyn Emit<T::Out> + Send),
    ) -> BoxFuture<'a, Result<(), PipeError>> {
        Box::pin(async move {
            let mut out = out;
            self.process_each(input, &mut out).await
        })
    }
    fn dyn_name(&self) -> Cow<'static, str> {
        self.name()
    }
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.open())
    }
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.close())
    }
}

/// An [`AsyncPipe`] of any type with input `I` and output `O`.
pub struct BoxAsyncPipe<I, O>(Box<dyn DynAsyncPipe<I, O>>);

impl<I: Send + 'static, O: Send> BoxAsyncPipe<I, O> {
    /// Erases `pipe`'s type.
    pub fn new<P: AsyncPipe<In = I, Out = O> + 'static>(pipe: P) -> Self {
        Self(Box::new(pipe))
    }
}

impl<I, O> std::fmt::Debug for BoxAsyncPipe<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BoxAsyncPipe")
            .field(&self.0.dyn_name())
            .finish()
    }
}

impl<I: Send, O: Send> AsyncPipe for BoxAsyncPipe<I, O> {
    type In = I;
    type Out = O;
    async fn process(&self, input: I) -> Result<O, PipeError> {
        let mut out = Outputs::new();
        self.0.dyn_process_each(input, &mut out).await?;
        out.into_single(|| self.0.dyn_name())
    }
    async fn process_each<E: Emit<O> + Send>(
        &self,
        input: I,
        out: &mut E,
    ) -> Result<(), PipeError> {
        self.0.dyn_process_each(input, out).await
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.dyn_name()
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_open()
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_close()
    }
}

impl<I, O> Composable for BoxAsyncPipe<I, O> {
    type Mode = AsyncMode;
}

crate::__impl_shr!([I, O,] BoxAsyncPipe<I, O>);

/// Forwards [`SyncSource`] through a box, so that `Box<dyn SyncSource<Out = T> + Send>` is a source.
impl<S: SyncSource + ?Sized> SyncSource for Box<S> {
    type Out = S::Out;
    fn next(&mut self) -> Option<Result<S::Out, PipeError>> {
        (**self).next()
    }
    fn position(&self) -> Option<Position> {
        (**self).position()
    }
    fn project(&mut self, fields: &[String]) -> bool {
        (**self).project(fields)
    }
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        (**self).prefilter(condition)
    }
    fn take_filtered(&mut self) -> u64 {
        (**self).take_filtered()
    }
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        (**self).commit(upto)
    }
    fn name(&self) -> Cow<'static, str> {
        (**self).name()
    }
    fn open(&mut self) -> Result<(), PipeError> {
        (**self).open()
    }
    fn close(&mut self) -> Result<(), PipeError> {
        (**self).close()
    }
}

/// Forwards [`SyncSink`] through a box, so that `Box<dyn SyncSink<In = T> + Send>` is a sink.
impl<S: SyncSink + ?Sized> SyncSink for Box<S> {
    type In = S::In;
    fn write(&mut self, item: S::In) -> Result<(), PipeError> {
        (**self).write(item)
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        (**self).flush()
    }
    fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        (**self).flush_each()
    }
    fn flush_batch(&self) -> Option<NonZeroUsize> {
        (**self).flush_batch()
    }
    fn name(&self) -> Cow<'static, str> {
        (**self).name()
    }
    fn open(&mut self) -> Result<(), PipeError> {
        (**self).open()
    }
    fn close(&mut self) -> Result<(), PipeError> {
        (**self).close()
    }
}

/// A type-erased sync source.
pub type BoxSyncSource<O> = Box<dyn SyncSource<Out = O> + Send>;

/// A type-erased sync sink.
pub type BoxSyncSink<I> = Box<dyn SyncSink<In = I> + Send>;

/// The object-safe form of [`AsyncSource`]; implemented for every `AsyncSource`.
pub trait DynAsyncSource<O>: Send {
    /// [`AsyncSource::next`].
    fn dyn_next(&mut self) -> BoxFuture<'_, Option<Result<O, PipeError>>>;
    /// [`AsyncSource::try_next`].
    fn dyn_try_next(&mut self) -> Poll<Option<Result<O, PipeError>>>;
    /// [`AsyncSource::position`].
    fn dyn_position(&self) -> Option<Position>;
    /// [`AsyncSource::project`].
    fn dyn_project(&mut self, fields: &[String]) -> bool;
    /// [`AsyncSource::prefilter`].
    fn dyn_prefilter(&mut self, condition: &Arc<Condition>) -> bool;
    /// [`AsyncSource::take_filtered`].
    fn dyn_take_filtered(&mut self) -> u64;
    /// [`AsyncSource::commit`].
    fn dyn_commit(&mut self, upto: Position) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncSource::name`].
    fn dyn_name(&self) -> Cow<'static, str>;
    /// [`AsyncSource::open`].
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncSource::close`].
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
}

impl<T: AsyncSource> DynAsyncSource<T::Out> for T {
    fn dyn_next(&mut self) -> BoxFuture<'_, Option<Result<T::Out, PipeError>>> {
        Box::pin(self.next())
    }
    fn dyn_try_next(&mut self) -> Poll<Option<Result<T::Out, PipeError>>> {
        self.try_next()
    }
    fn dyn_position(&self) -> Option<Position> {
        self.position()
    }
    fn dyn_project(&mut self, fields: &[String]) -> bool {
        self.project(fields)
    }
    fn dyn_prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        self.prefilter(condition)
    }
    fn dyn_take_filtered(&mut self) -> u64 {
        self.take_filtered()
    }
    fn dyn_commit(&mut self, upto: Position) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.commit(upto))
    }
    fn dyn_name(&self) -> Cow<'static, str> {
        self.name()
    }
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.open())
    }
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.close())
    }
}

/// An [`AsyncSource`] of any type yielding `O`.
pub struct BoxAsyncSource<O>(Box<dyn DynAsyncSource<O>>);

impl<O: Send> BoxAsyncSource<O> {
    /// Erases `source`'s type.
    pub fn new<S: AsyncSource<Out = O> + 'static>(source: S) -> Self {
        Self(Box::new(source))
    }
}

impl<O: Send> AsyncSource for BoxAsyncSource<O> {
    type Out = O;
    fn next(&mut self) -> impl Future<Output = Option<Result<O, PipeError>>> + Send {
        self.0.dyn_next()
    }
    fn try_next(&mut self) -> Poll<Option<Result<O, PipeError>>> {
        self.0.dyn_try_next()
    }
    fn position(&self) -> Option<Position> {
        self.0.dyn_position()
    }
    fn project(&mut self, fields: &[String]) -> bool {
        self.0.dyn_project(fields)
    }
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        self.0.dyn_prefilter(condition)
    }
    fn take_filtered(&mut self) -> u64 {
        self.0.dyn_take_filtered()
    }
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_commit(upto)
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.dyn_name()
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_open()
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_close()
    }
}

/// The object-safe form of [`AsyncSink`]; implemented for every `AsyncSink`.
pub trait DynAsyncSink<I>: Send {
    /// [`AsyncSink::write`].
    fn dyn_write(&mut self, item: I) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncSink::write_run`].
    fn dyn_write_run<'a>(
        &'a mut self,
        items: &'a mut std::vec::IntoIter<I>,
    ) -> BoxFuture<'a, Result<(), PipeError>>;
    /// [`AsyncSink::flush`].
    fn dyn_flush(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncSink::flush_each`].
    fn dyn_flush_each(&mut self) -> BoxFuture<'_, Result<Vec<Rejected>, PipeError>>;
    /// [`AsyncSink::name`].
    fn dyn_name(&self) -> Cow<'static, str>;
    /// [`AsyncSink::flush_batch`].
    fn dyn_flush_batch(&self) -> Option<NonZeroUsize>;
    /// [`AsyncSink::open`].
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
    /// [`AsyncSink::close`].
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>>;
}

impl<T: AsyncSink> DynAsyncSink<T::In> for T
where
    T::In: 'static,
{
    fn dyn_write(&mut self, item: T::In) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.write(item))
    }
    fn dyn_write_run<'a>(
        &'a mut self,
        items: &'a mut std::vec::IntoIter<T::In>,
    ) -> BoxFuture<'a, Result<(), PipeError>> {
        Box::pin(self.write_run(items))
    }
    fn dyn_flush(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.flush())
    }
    fn dyn_flush_each(&mut self) -> BoxFuture<'_, Result<Vec<Rejected>, PipeError>> {
        Box::pin(self.flush_each())
    }
    fn dyn_name(&self) -> Cow<'static, str> {
        self.name()
    }
    fn dyn_flush_batch(&self) -> Option<NonZeroUsize> {
        self.flush_batch()
    }
    fn dyn_open(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.open())
    }
    fn dyn_close(&mut self) -> BoxFuture<'_, Result<(), PipeError>> {
        Box::pin(self.close())
    }
}

/// An [`AsyncSink`] of any type taking `I`.
pub struct BoxAsyncSink<I>(Box<dyn DynAsyncSink<I>>);

impl<I: Send + 'static> BoxAsyncSink<I> {
    /// Erases `sink`'s type.
    pub fn new<S: AsyncSink<In = I> + 'static>(sink: S) -> Self {
        Self(Box::new(sink))
    }
}

impl<I: Send> AsyncSink for BoxAsyncSink<I> {
    type In = I;
    fn write(&mut self, item: I) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_write(item)
    }
    async fn write_run(&mut self, items: &mut std::vec::IntoIter<I>) -> Result<(), PipeError> {
        self.0.dyn_write_run(items).await
    }
    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_flush()
    }
    fn flush_each(&mut self) -> impl Future<Output = Result<Vec<Rejected>, PipeError>> + Send {
        self.0.dyn_flush_each()
    }
    fn flush_batch(&self) -> Option<NonZeroUsize> {
        self.0.dyn_flush_batch()
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.dyn_name()
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_open()
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.dyn_close()
    }
}

/// A plugin of any of the six kinds, type-erased, for a pipeline whose items are `T`: what
/// [`PluginDescriptor::build_erased`](crate::registry::PluginDescriptor::build_erased) gives.
pub enum BoxPlugin<T> {
    /// An [`AsyncSource`].
    AsyncSource(BoxAsyncSource<T>),
    /// An [`AsyncSink`].
    AsyncSink(BoxAsyncSink<T>),
    /// A [`SyncSource`].
    SyncSource(BoxSyncSource<T>),
    /// A [`SyncSink`].
    SyncSink(BoxSyncSink<T>),
    /// An [`AsyncPipe`].
    AsyncPipe(BoxAsyncPipe<T, T>),
    /// A [`SyncPipe`].
    SyncPipe(BoxSyncPipe<T, T>),
}

impl<T: 'static> BoxPlugin<T> {
    /// The plugin's kind.
    pub fn kind(&self) -> PluginKind {
        match self {
            Self::AsyncSource(_) => PluginKind::AsyncSource,
            Self::AsyncSink(_) => PluginKind::AsyncSink,
            Self::SyncSource(_) => PluginKind::SyncSource,
            Self::SyncSink(_) => PluginKind::SyncSink,
            Self::AsyncPipe(_) => PluginKind::AsyncPipe,
            Self::SyncPipe(_) => PluginKind::SyncPipe,
        }
    }

    /// The box that a generated constructor made for a plugin of `kind` whose items are `T`; `None` when `boxed`
    /// is not that box.
    pub(crate) fn from_any(kind: PluginKind, boxed: Box<dyn Any + Send>) -> Option<Self> {
        fn take<B: 'static>(boxed: Box<dyn Any + Send>) -> Option<B> {
            boxed.downcast::<B>().ok().map(|b| *b)
        }
        Some(match kind {
            PluginKind::AsyncSource => Self::AsyncSource(take(boxed)?),
            PluginKind::AsyncSink => Self::AsyncSink(take(boxed)?),
            PluginKind::SyncSource => Self::SyncSource(take(boxed)?),
            PluginKind::SyncSink => Self::SyncSink(take(boxed)?),
            PluginKind::AsyncPipe => Self::AsyncPipe(take(boxed)?),
            PluginKind::SyncPipe => Self::SyncPipe(take(boxed)?),
        })
    }
}

impl<T: Send + 'static> std::fmt::Debug for BoxPlugin<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::AsyncSource(p) => p.name(),
            Self::AsyncSink(p) => p.name(),
            Self::SyncSource(p) => p.name(),
            Self::SyncSink(p) => p.name(),
            Self::AsyncPipe(p) => AsyncPipe::name(p),
            Self::SyncPipe(p) => SyncPipe::name(p),
        };
        f.debug_tuple("BoxPlugin")
            .field(&self.kind())
            .field(&name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::PipeExt;
    use crate::pipe;

    #[tokio::test]
    async fn boxes_compose_and_keep_names() {
        let a = BoxSyncPipe::new(pipe::map(|x: u64| x + 1).named("inc"));
        let b = BoxAsyncPipe::new(pipe::async_filter(|x: &u64| {
            let keep = *x > 2;
            async move { keep }
        }));
        let p = a.then(b) >> pipe::map(|x: u64| x * 10);
        let mut out = Vec::new();
        for x in 0..4 {
            p.process_each(x, &mut out).await.unwrap();
        }
        assert_eq!(out, [30, 40]);
        assert_eq!(p.stage_names(), ["inc", "async_filter", "map"]);

        let mut src: BoxSyncSource<u32> = Box::new(Counter(2));
        assert_eq!(src.next().unwrap().unwrap(), 1);
        let mut asrc = BoxAsyncSource::new(AsyncCounter(1));
        assert_eq!(asrc.next().await.unwrap().unwrap(), 0);
        assert!(asrc.next().await.is_none());
    }

    struct Counter(u32);
    impl SyncSource for Counter {
        type Out = u32;
        fn next(&mut self) -> Option<Result<u32, PipeError>> {
            (self.0 > 0).then(|| {
                self.0 -= 1;
                Ok(self.0)
            })
        }
    }

    struct AsyncCounter(u32);
    impl AsyncSource for AsyncCounter {
        type Out = u32;
        async fn next(&mut self) -> Option<Result<u32, PipeError>> {
            (self.0 > 0).then(|| {
                self.0 -= 1;
                Ok(self.0)
            })
        }
    }
}

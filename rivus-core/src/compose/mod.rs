//! Composition: `a >> b` and `a.then(b)`.
//!
//! | left  | right | result                                   |
//! |-------|-------|------------------------------------------|
//! | sync  | sync  | [`Chain`], a [`SyncPipe`]: no runtime needed |
//! | sync  | async | [`AsyncChain`], an [`AsyncPipe`] (the sync part is [lifted](lift)) |
//! | async | sync  | [`AsyncChain`]                            |
//! | async | async | [`AsyncChain`]                            |
//!
//! A sync chain runs its parts in one call, with no allocation and no channel between them: the compiler inlines
//! it to about what the same closures cost in an iterator chain. Composition is associative: `(a >> b) >> c` and
//! `a >> (b >> c)` behave the same and list the same [`stage_names`](SyncPipe::stage_names).
//!
//! When the output of the left side is not the input of the right side, the program does not compile, with an
//! error that names both types.
//!
//! # Which types compose
//!
//! Everything this crate builds (closures from [`pipe`](crate::pipe), chains, [`lift`], [`blocking`],
//! [`from_async`]) supports `>>`. Any [`SyncPipe`] supports `.then()` and can stand on the right of `>>`. A
//! user's own type gets `>>` on its left from the plugin attributes (`#[sync_pipe]`, `#[async_pipe]`), because
//! Rust lets only the crate that defines a type implement an operator for it; an [`AsyncPipe`] that carries no
//! attribute composes once wrapped in [`from_async`].
//!
//! # Sources and sinks
//!
//! `source >> pipe` is a source and `pipe >> sink` a sink (see [`io`]), for sources and sinks that carry their
//! plugin attribute (`#[sync_source]`, `#[async_sink]`, …).

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use crate::error::PipeError;
use crate::pipe::{AsyncPipe, Emit, Outputs, OutputsIter, SyncPipe};

pub mod io;
mod positions;

pub use io::{
    AsyncPipeSink, AsyncSinkMode, AsyncSourceMode, AsyncSourceThen, Connected, LiftSink,
    LiftSource, PipeSink, SourceThen, SyncSinkMode, SyncSourceMode,
};

/// Marks pipes that run synchronously (`Composable::Mode`).
#[derive(Debug, Clone, Copy)]
pub enum SyncMode {}

/// Marks pipes that run asynchronously (`Composable::Mode`).
#[derive(Debug, Clone, Copy)]
pub enum AsyncMode {}

/// A value that can stand on either side of `>>`: a [`SyncPipe`] (always), or an [`AsyncPipe`] that says so.
///
/// Every `SyncPipe` is `Composable`. For an `AsyncPipe`, `#[async_pipe]` implements it, or wrap the value with
/// [`from_async`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pipe, so it cannot be composed with `>>` or `.then()`",
    label = "not a pipe",
    note = "implement `SyncPipe` for it, or implement `AsyncPipe` and mark it `#[async_pipe]` (or wrap it in \
            `pipe::from_async(..)`)"
)]
pub trait Composable {
    /// [`SyncMode`] or [`AsyncMode`]: decides whether a chain that contains this pipe is sync or async.
    type Mode;
}

impl<P: SyncPipe> Composable for P {
    type Mode = SyncMode;
}

/// Proof that the output of one pipe is the input of the next; it holds exactly when the two types are equal.
#[diagnostic::on_unimplemented(
    message = "the output of the left pipe (`{Self}`) is not the input of the right pipe (`{T}`)",
    label = "the left pipe gives `{Self}`, the right pipe takes `{T}`",
    note = "insert a pipe that converts `{Self}` into `{T}`, e.g. `pipe::map(|x: {Self}| -> {T} {{ ... }})`"
)]
pub trait Feeds<T> {
    /// The identity: moves the value across the join.
    fn feed(self) -> T;
}

impl<T> Feeds<T> for T {
    #[inline(always)]
    fn feed(self) -> T {
        self
    }
}

/// How two pipes of given modes join; implemented for the four pairs of [`SyncMode`] and [`AsyncMode`].
pub trait Join<A, B> {
    /// The composed pipe.
    type Output;
    /// Builds the composed pipe.
    fn join(a: A, b: B) -> Self::Output;
}

/// The mode of a composable pipe.
pub type ModeOf<P> = <P as Composable>::Mode;

/// The type of `a >> b`.
pub type Composed<A, B> = <(ModeOf<A>, ModeOf<B>) as Join<A, B>>::Output;

impl<A, B> Join<A, B> for (SyncMode, SyncMode)
where
    A: SyncPipe,
    B: SyncPipe,
    A::Out: Feeds<B::In>,
{
    type Output = Chain<A, B>;
    #[inline]
    fn join(a: A, b: B) -> Chain<A, B> {
        Chain {
            first: a,
            second: b,
        }
    }
}

impl<A, B> Join<A, B> for (SyncMode, AsyncMode)
where
    A: SyncPipe + Send + Sync,
    A::In: Send,
    A::Out: Send + Feeds<B::In>,
    B: AsyncPipe,
{
    type Output = AsyncChain<Lift<A>, B>;
    #[inline]
    fn join(a: A, b: B) -> Self::Output {
        AsyncChain {
            first: Lift(a),
            second: b,
        }
    }
}

impl<A, B> Join<A, B> for (AsyncMode, SyncMode)
where
    A: AsyncPipe,
    A::Out: Feeds<B::In>,
    B: SyncPipe + Send + Sync,
    B::In: Send,
    B::Out: Send,
{
    type Output = AsyncChain<A, Lift<B>>;
    #[inline]
    fn join(a: A, b: B) -> Self::Output {
        AsyncChain {
            first: a,
            second: Lift(b),
        }
    }
}

impl<A, B> Join<A, B> for (AsyncMode, AsyncMode)
where
    A: AsyncPipe,
    A::Out: Feeds<B::In>,
    B: AsyncPipe,
{
    type Output = AsyncChain<A, B>;
    #[inline]
    fn join(a: A, b: B) -> Self::Output {
        AsyncChain {
            first: a,
            second: b,
        }
    }
}

/// `.then()`: the method form of `>>`, available on every [`Composable`] value (also on user types that have no
/// `>>` of their own).
///
/// ```
/// use rivus_core::prelude::*;
///
/// let p = pipe::map(|x: u32| x + 1).then(pipe::filter(|x: &u32| x.is_multiple_of(2)));
/// let mut out = Vec::new();
/// for x in 0..6 {
///     p.process_each(x, &mut out).unwrap();
/// }
/// assert_eq!(out, [2, 4, 6]);
/// ```
pub trait PipeExt: Composable + Sized {
    /// `self >> next`.
    fn then<B>(self, next: B) -> Composed<Self, B>
    where
        B: Composable,
        (ModeOf<Self>, ModeOf<B>): Join<Self, B>,
    {
        <(ModeOf<Self>, ModeOf<B>) as Join<Self, B>>::join(self, next)
    }
}

impl<P: Composable> PipeExt for P {}

/// Closures appended to a sync pipe, with their argument type taken from the pipe: `parse.map(|x| x + 1)`
/// needs no annotation, where `parse >> pipe::map(|x: u64| x + 1)` does (a free function cannot learn its
/// argument type from the chain it ends up in).
///
/// ```
/// use rivus_core::prelude::*;
///
/// let p = pipe::map(|s: &str| s.len())
///     .filter(|n| *n > 1)
///     .map(|n| n * 10)
///     .flat_map(|n| [n, n + 1]);
/// let mut out = Vec::new();
/// for s in ["a", "abc"] {
///     p.process_each(s, &mut out).unwrap();
/// }
/// assert_eq!(out, [30, 31]);
/// ```
pub trait SyncPipeExt: SyncPipe + Sized {
    /// `self >> pipe::map(f)`.
    fn map<O, F: Fn(Self::Out) -> O>(self, f: F) -> Chain<Self, crate::pipe::Map<F, Self::Out>> {
        Chain {
            first: self,
            second: crate::pipe::map(f),
        }
    }

    /// `self >> pipe::filter(predicate)`.
    fn filter<F: Fn(&Self::Out) -> bool>(
        self,
        predicate: F,
    ) -> Chain<Self, crate::pipe::Filter<F, Self::Out>> {
        Chain {
            first: self,
            second: crate::pipe::filter(predicate),
        }
    }

    /// `self >> pipe::filter_map(f)`.
    fn filter_map<O, F: Fn(Self::Out) -> Option<O>>(
        self,
        f: F,
    ) -> Chain<Self, crate::pipe::FilterMap<F, Self::Out>> {
        Chain {
            first: self,
            second: crate::pipe::filter_map(f),
        }
    }

    /// `self >> pipe::flat_map(f)`.
    fn flat_map<It: IntoIterator, F: Fn(Self::Out) -> It>(
        self,
        f: F,
    ) -> Chain<Self, crate::pipe::FlatMap<F, Self::Out>> {
        Chain {
            first: self,
            second: crate::pipe::flat_map(f),
        }
    }

    /// Runs the pipe over `inputs`, lazily: an iterator of every output, in order, and of the errors where
    /// an input failed (the iteration goes on after an error; stop it where you want).
    ///
    /// This is the way to run a sync chain over many items outside the runtime: it compiles to about what the
    /// same closures cost in an iterator chain (`cargo bench -p rivus-core --bench compose`).
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// let p = pipe::map(|x: u64| x + 1) >> pipe::filter(|x: &u64| x % 2 == 0);
    /// let out: Result<Vec<u64>, PipeError> = p.process_iter(0..6).collect();
    /// assert_eq!(out.unwrap(), [2, 4, 6]);
    /// ```
    fn process_iter<I>(self, inputs: I) -> ProcessIter<Self, I::IntoIter>
    where
        I: IntoIterator<Item = Self::In>,
    {
        ProcessIter {
            pipe: self,
            inputs: inputs.into_iter(),
            pending: Outputs::new().into_iter(),
        }
    }

    /// `self >> pipe::try_map(f)`.
    fn try_map<O, E: Into<crate::error::BoxError>, F: Fn(Self::Out) -> Result<O, E>>(
        self,
        f: F,
    ) -> Chain<Self, crate::pipe::TryMap<F, Self::Out>> {
        Chain {
            first: self,
            second: crate::pipe::try_map(f),
        }
    }
}

impl<P: SyncPipe> SyncPipeExt for P {}

/// The outputs of a sync pipe run over an iterator; see [`SyncPipeExt::process_iter`].
pub struct ProcessIter<P: SyncPipe, I> {
    pipe: P,
    inputs: I,
    pending: OutputsIter<P::Out>,
}

impl<P: SyncPipe, I> std::fmt::Debug for ProcessIter<P, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessIter").finish_non_exhaustive()
    }
}

impl<P, I> Iterator for ProcessIter<P, I>
where
    P: SyncPipe,
    I: Iterator<Item = P::In>,
{
    type Item = Result<P::Out, PipeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(out) = self.pending.next() {
                return Some(Ok(out));
            }
            let input = self.inputs.next()?;
            let mut outs = Outputs::new();
            if let Err(e) = self.pipe.process_each(input, &mut outs) {
                return Some(Err(e));
            }
            self.pending = outs.into_iter();
        }
    }

    // Each input's outputs are folded as they come: no state kept between inputs, which is what lets the
    // compiler treat the chain like the iterator chain it is.
    #[inline]
    fn fold<B, F>(self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let Self {
            pipe,
            inputs,
            pending,
        } = self;
        let acc = pending.fold(init, |acc, out| f(acc, Ok(out)));
        inputs.fold(acc, |acc, input| {
            let mut outs = Outputs::new();
            match pipe.process_each(input, &mut outs) {
                Ok(()) => outs.into_iter().fold(acc, |acc, out| f(acc, Ok(out))),
                Err(e) => f(acc, Err(e)),
            }
        })
    }
}

/// Implements `>>` for a type of this crate (and, through `__private`, for the plugin attributes).
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_shr {
    ([$($gen:tt)*] $ty:ty) => {
        impl<$($gen)* __Rhs> ::core::ops::Shr<__Rhs> for $ty
        where
            Self: $crate::compose::Composable,
            __Rhs: $crate::compose::Composable,
            (
                $crate::compose::ModeOf<Self>,
                $crate::compose::ModeOf<__Rhs>,
            ): $crate::compose::Join<Self, __Rhs>,
        {
            type Output = $crate::compose::Composed<Self, __Rhs>;
            #[inline]
            fn shr(self, rhs: __Rhs) -> Self::Output {
                <(
                    $crate::compose::ModeOf<Self>,
                    $crate::compose::ModeOf<__Rhs>,
                ) as $crate::compose::Join<Self, __Rhs>>::join(self, rhs)
            }
        }
    };
}

/// Two sync pipes run one after the other: `a >> b` where both are [`SyncPipe`]s. The one sync chain of
/// Rivus: `>>`, the runtime's fused stages and pipeline files all build it.
#[derive(Debug, Clone)]
pub struct Chain<A, B> {
    first: A,
    second: B,
}

impl<A, B> Chain<A, B> {
    /// `first` then `second`, without the type check of `>>` (callers check `A::Out = B::In` themselves).
    pub(crate) fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The two parts.
    pub(crate) fn into_parts(self) -> (A, B) {
        (self.first, self.second)
    }
}

/// Pushes each output of the first pipe of a chain through the second.
struct Then<'a, P, E> {
    next: &'a P,
    out: &'a mut E,
}

impl<T, P, E> Emit<T> for Then<'_, P, E>
where
    T: Feeds<P::In>,
    P: SyncPipe,
    E: Emit<P::Out>,
{
    #[inline(always)]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        self.next.process_each(item.feed(), &mut *self.out)
    }
}

impl<A, B> SyncPipe for Chain<A, B>
where
    A: SyncPipe,
    B: SyncPipe,
    A::Out: Feeds<B::In>,
{
    type In = A::In;
    type Out = B::Out;

    fn process(&self, input: A::In) -> Result<B::Out, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out)?;
        out.into_single(|| SyncPipe::name(self))
    }

    #[inline(always)]
    fn process_each<E: Emit<B::Out>>(&self, input: A::In, out: &mut E) -> Result<(), PipeError> {
        self.first.process_each(
            input,
            &mut Then {
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
        // Close both even if the first fails; report the first error.
        let first = self.first.close();
        let second = self.second.close();
        first.and(second)
    }
}

__impl_shr!([A, B,] Chain<A, B>);

/// Two pipes, at least one of them async, run one after the other: an [`AsyncPipe`].
#[derive(Debug, Clone)]
pub struct AsyncChain<A, B> {
    first: A,
    second: B,
}

impl<A, B> AsyncPipe for AsyncChain<A, B>
where
    A: AsyncPipe,
    B: AsyncPipe,
    A::Out: Feeds<B::In>,
{
    type In = A::In;
    type Out = B::Out;

    async fn process(&self, input: A::In) -> Result<B::Out, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out).await?;
        out.into_single(|| AsyncPipe::name(self))
    }

    async fn process_each<E: Emit<B::Out> + Send>(
        &self,
        input: A::In,
        out: &mut E,
    ) -> Result<(), PipeError> {
        // The first part's outputs wait in a buffer that does not allocate for 0 or 1 item; an `Emit` cannot
        // await, so the second part cannot be called from inside the first.
        let mut middle = Outputs::new();
        self.first.process_each(input, &mut middle).await?;
        for item in middle {
            self.second.process_each(item.feed(), out).await?;
        }
        Ok(())
    }

    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(self.stage_names().join(" >> "))
    }

    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        let mut names = self.first.stage_names();
        names.extend(self.second.stage_names());
        names
    }

    async fn open(&mut self) -> Result<(), PipeError> {
        self.first.open().await?;
        self.second.open().await
    }

    async fn close(&mut self) -> Result<(), PipeError> {
        let first = self.first.close().await;
        let second = self.second.close().await;
        first.and(second)
    }
}

impl<A, B> Composable for AsyncChain<A, B> {
    type Mode = AsyncMode;
}

__impl_shr!([A, B,] AsyncChain<A, B>);

/// A [`SyncPipe`] run inline inside an async chain; see [`lift`].
#[derive(Debug, Clone)]
pub struct Lift<P>(P);

/// Lifts a sync pipe into an [`AsyncPipe`] that runs it inline on the calling task.
///
/// `>>` does this by itself where a sync pipe meets an async one; call it to hand a sync pipe to an API that
/// wants an `AsyncPipe`. For CPU-heavy work use [`blocking`] instead.
pub fn lift<P>(pipe: P) -> Lift<P>
where
    P: SyncPipe + Send + Sync,
    P::In: Send,
    P::Out: Send,
{
    Lift(pipe)
}

impl<P> AsyncPipe for Lift<P>
where
    P: SyncPipe + Send + Sync,
    P::In: Send,
    P::Out: Send,
{
    type In = P::In;
    type Out = P::Out;

    fn process(&self, input: P::In) -> impl Future<Output = Result<P::Out, PipeError>> + Send {
        std::future::ready(self.0.process(input).map_err(|e| e.or_pipe(self.0.name())))
    }

    fn process_each<E: Emit<P::Out> + Send>(
        &self,
        input: P::In,
        out: &mut E,
    ) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.process_each(input, out))
    }

    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }

    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        self.0.stage_names()
    }

    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.open())
    }

    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.close())
    }
}

impl<P> Composable for Lift<P> {
    type Mode = AsyncMode;
}

__impl_shr!([P,] Lift<P>);

/// A [`SyncPipe`] run on Tokio's blocking thread pool; see [`blocking`].
#[derive(Debug)]
pub struct Blocking<P>(Arc<P>);

impl<P> Clone for Blocking<P> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// Marks a CPU-heavy sync pipe to run on Tokio's blocking pool (`spawn_blocking`), so that it does not stall
/// the async workers that drive I/O. Costs a thread hand-off per item: use it for work of tens of microseconds
/// or more per item, not for cheap maps.
///
/// `open` and `close` of a `Blocking` pipe are not forwarded to the inner pipe, which is shared with the
/// blocking tasks: open it before wrapping it.
///
/// ```
/// use rivus_core::prelude::*;
///
/// # tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap().block_on(async {
/// let hash = pipe::blocking(pipe::map(|s: String| s.len() as u64 * 31));
/// let p = hash >> pipe::map(|h: u64| h + 1);
/// assert_eq!(p.process("abc".to_owned()).await.unwrap(), 94);
/// # });
/// ```
pub fn blocking<P>(pipe: P) -> Blocking<P>
where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Send + 'static,
    P::Out: Send + 'static,
{
    Blocking(Arc::new(pipe))
}

impl<P> AsyncPipe for Blocking<P>
where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Send + 'static,
    P::Out: Send + 'static,
{
    type In = P::In;
    type Out = P::Out;

    async fn process(&self, input: P::In) -> Result<P::Out, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out).await?;
        out.into_single(|| self.0.name())
    }

    async fn process_each<E: Emit<P::Out> + Send>(
        &self,
        input: P::In,
        out: &mut E,
    ) -> Result<(), PipeError> {
        let pipe = Arc::clone(&self.0);
        let outputs = tokio::task::spawn_blocking(move || {
            let mut outputs = Outputs::new();
            pipe.process_each(input, &mut outputs).map(|()| outputs)
        })
        .await
        .map_err(|e| PipeError::from(e).or_pipe(self.0.name()))??;
        for item in outputs {
            out.emit(item)?;
        }
        Ok(())
    }

    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }

    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        self.0.stage_names()
    }
}

impl<P> Composable for Blocking<P> {
    type Mode = AsyncMode;
}

__impl_shr!([P,] Blocking<P>);

/// An [`AsyncPipe`] of the user's made composable; see [`from_async`].
#[derive(Debug, Clone)]
pub struct FromAsync<P>(P);

/// Makes a user's [`AsyncPipe`] usable with `>>` and `.then()`, for types that do not carry `#[async_pipe]`.
pub fn from_async<P: AsyncPipe>(pipe: P) -> FromAsync<P> {
    FromAsync(pipe)
}

impl<P> FromAsync<P> {
    /// The wrapped pipe.
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P: AsyncPipe> AsyncPipe for FromAsync<P> {
    type In = P::In;
    type Out = P::Out;

    fn process(&self, input: P::In) -> impl Future<Output = Result<P::Out, PipeError>> + Send {
        self.0.process(input)
    }

    fn process_each<E: Emit<P::Out> + Send>(
        &self,
        input: P::In,
        out: &mut E,
    ) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.process_each(input, out)
    }

    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }

    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        self.0.stage_names()
    }

    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.open()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.close()
    }
}

impl<P> Composable for FromAsync<P> {
    type Mode = AsyncMode;
}

__impl_shr!([P,] FromAsync<P>);

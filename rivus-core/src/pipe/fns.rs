//! Closures as pipes.
//!
//! Each helper takes a closure and returns a named pipe (`"map"`, `"filter"`, …; rename it with `.named(..)` so
//! that errors and metrics say what it is). The closure's argument type usually needs an annotation
//! (`|x: u64| x + 1`), as with any closure stored before it is called.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use super::{AsyncPipe, Emit, Outputs, SyncPipe};
use crate::compose::{AsyncMode, Composable};
use crate::error::{BoxError, PipeError};

/// Declares a closure pipe struct with its constructor-independent parts: fields, `named`, `Debug`, `Clone`.
macro_rules! closure_pipe {
    ($(#[$doc:meta])* $name:ident<$f:ident, $i:ident>) => {
        $(#[$doc])*
        pub struct $name<$f, $i> {
            f: $f,
            name: Cow<'static, str>,
            _in: PhantomData<fn($i)>,
        }

        impl<$f, $i> $name<$f, $i> {
            fn new(f: $f, name: &'static str) -> Self {
                Self { f, name: Cow::Borrowed(name), _in: PhantomData }
            }

            /// Renames the pipe, for errors, metrics and logs.
            #[must_use]
            pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
                self.name = name.into();
                self
            }
        }

        impl<$f, $i> fmt::Debug for $name<$f, $i> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.name).finish_non_exhaustive()
            }
        }

        impl<$f: Clone, $i> Clone for $name<$f, $i> {
            fn clone(&self) -> Self {
                Self { f: self.f.clone(), name: self.name.clone(), _in: PhantomData }
            }
        }

        $crate::__impl_shr!([$f, $i,] $name<$f, $i>);
    };
}

closure_pipe!(
    /// A pipe from a closure `In -> Out`; see [`map`].
    Map<F, I>
);
closure_pipe!(
    /// A pipe that keeps the items a predicate accepts; see [`filter`].
    Filter<F, I>
);
closure_pipe!(
    /// A pipe that maps and drops `None`s; see [`filter_map`].
    FilterMap<F, I>
);
closure_pipe!(
    /// A pipe that turns each item into any number of items; see [`flat_map`].
    FlatMap<F, I>
);
closure_pipe!(
    /// A pipe from a fallible closure; see [`try_map`].
    TryMap<F, I>
);
closure_pipe!(
    /// An async pipe from a closure `In -> impl Future<Output = Out>`; see [`async_map`].
    AsyncMap<F, I>
);
closure_pipe!(
    /// An async filter; see [`async_filter`].
    AsyncFilter<F, I>
);
closure_pipe!(
    /// An async filter-map; see [`async_filter_map`].
    AsyncFilterMap<F, I>
);
closure_pipe!(
    /// An async flat-map; see [`async_flat_map`].
    AsyncFlatMap<F, I>
);
closure_pipe!(
    /// An async fallible map; see [`async_try_map`].
    AsyncTryMap<F, I>
);

/// A pipe that applies `f` to every item.
///
/// ```
/// use rivus_core::prelude::*;
/// assert_eq!(pipe::map(|x: u32| x * 2).process(21).unwrap(), 42);
/// ```
pub fn map<I, O, F: Fn(I) -> O>(f: F) -> Map<F, I> {
    Map::new(f, "map")
}

impl<I, O, F: Fn(I) -> O> SyncPipe for Map<F, I> {
    type In = I;
    type Out = O;
    #[inline(always)]
    fn process(&self, input: I) -> Result<O, PipeError> {
        Ok((self.f)(input))
    }
    #[inline(always)]
    fn process_each<E: Emit<O>>(&self, input: I, out: &mut E) -> Result<(), PipeError> {
        out.emit((self.f)(input))
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// A pipe that keeps the items for which `predicate` returns `true` and drops the rest.
///
/// ```
/// use rivus_core::prelude::*;
/// let mut kept = Vec::new();
/// let even = pipe::filter(|x: &u32| x.is_multiple_of(2));
/// for x in 0..5 {
///     even.process_each(x, &mut kept).unwrap();
/// }
/// assert_eq!(kept, [0, 2, 4]);
/// ```
pub fn filter<T, F: Fn(&T) -> bool>(predicate: F) -> Filter<F, T> {
    Filter::new(predicate, "filter")
}

impl<T, F: Fn(&T) -> bool> SyncPipe for Filter<F, T> {
    type In = T;
    type Out = T;
    fn process(&self, input: T) -> Result<T, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out)?;
        out.into_single(|| self.name.clone())
    }
    #[inline(always)]
    fn process_each<E: Emit<T>>(&self, input: T, out: &mut E) -> Result<(), PipeError> {
        if (self.f)(&input) {
            out.emit(input)
        } else {
            Ok(())
        }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// A pipe that applies `f` and keeps the `Some` results.
///
/// ```
/// use rivus_core::prelude::*;
/// let mut out = Vec::new();
/// let parse = pipe::filter_map(|s: &str| s.parse::<u32>().ok());
/// for s in ["1", "x", "3"] {
///     parse.process_each(s, &mut out).unwrap();
/// }
/// assert_eq!(out, [1, 3]);
/// ```
pub fn filter_map<I, O, F: Fn(I) -> Option<O>>(f: F) -> FilterMap<F, I> {
    FilterMap::new(f, "filter_map")
}

impl<I, O, F: Fn(I) -> Option<O>> SyncPipe for FilterMap<F, I> {
    type In = I;
    type Out = O;
    fn process(&self, input: I) -> Result<O, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out)?;
        out.into_single(|| self.name.clone())
    }
    #[inline(always)]
    fn process_each<E: Emit<O>>(&self, input: I, out: &mut E) -> Result<(), PipeError> {
        match (self.f)(input) {
            Some(item) => out.emit(item),
            None => Ok(()),
        }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// A pipe that turns each item into zero or more items.
///
/// ```
/// use rivus_core::prelude::*;
/// let mut out = Vec::new();
/// pipe::flat_map(|line: &str| line.split(' ').collect::<Vec<_>>())
///     .process_each("a b c", &mut out)
///     .unwrap();
/// assert_eq!(out, ["a", "b", "c"]);
/// ```
pub fn flat_map<I, It: IntoIterator, F: Fn(I) -> It>(f: F) -> FlatMap<F, I> {
    FlatMap::new(f, "flat_map")
}

impl<I, It: IntoIterator, F: Fn(I) -> It> SyncPipe for FlatMap<F, I> {
    type In = I;
    type Out = It::Item;
    fn process(&self, input: I) -> Result<It::Item, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out)?;
        out.into_single(|| self.name.clone())
    }
    #[inline(always)]
    fn process_each<E: Emit<It::Item>>(&self, input: I, out: &mut E) -> Result<(), PipeError> {
        for item in (self.f)(input) {
            out.emit(item)?;
        }
        Ok(())
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// A pipe from a fallible closure; its errors become permanent [`PipeError`]s named after the pipe (a
/// `PipeError` returned by the closure keeps its own kind).
///
/// ```
/// use rivus_core::prelude::*;
/// let parse = pipe::try_map(|s: &str| s.parse::<u32>()).named("parse");
/// assert_eq!(parse.process("7").unwrap(), 7);
/// assert_eq!(parse.process("x").unwrap_err().pipe(), "parse");
/// ```
pub fn try_map<I, O, E, F>(f: F) -> TryMap<F, I>
where
    F: Fn(I) -> Result<O, E>,
    E: Into<BoxError>,
{
    TryMap::new(f, "try_map")
}

impl<I, O, Er, F> SyncPipe for TryMap<F, I>
where
    F: Fn(I) -> Result<O, Er>,
    Er: Into<BoxError>,
{
    type In = I;
    type Out = O;
    #[inline(always)]
    fn process(&self, input: I) -> Result<O, PipeError> {
        (self.f)(input).map_err(|e| PipeError::permanent(self.name.clone(), e))
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// An async pipe that applies `f` and awaits the future it returns.
///
/// ```
/// use rivus_core::prelude::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let p = pipe::async_map(|x: u32| async move { x + 1 });
/// assert_eq!(p.process(1).await.unwrap(), 2);
/// # });
/// ```
pub fn async_map<I, O, Fut, F>(f: F) -> AsyncMap<F, I>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = O>,
{
    AsyncMap::new(f, "async_map")
}

impl<I, O, Fut, F> AsyncPipe for AsyncMap<F, I>
where
    I: Send,
    O: Send,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = O> + Send,
{
    type In = I;
    type Out = O;
    fn process(&self, input: I) -> impl Future<Output = Result<O, PipeError>> + Send {
        let fut = (self.f)(input);
        async move { Ok(fut.await) }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// An async filter: keeps the items for which the future returned by `predicate` resolves to `true`.
///
/// The future cannot borrow the item (it outlives the call that lends it); copy what the check needs before the
/// `async` block.
pub fn async_filter<T, Fut, F>(predicate: F) -> AsyncFilter<F, T>
where
    F: Fn(&T) -> Fut,
    Fut: Future<Output = bool>,
{
    AsyncFilter::new(predicate, "async_filter")
}

impl<T, Fut, F> AsyncPipe for AsyncFilter<F, T>
where
    T: Send,
    F: Fn(&T) -> Fut + Send + Sync,
    Fut: Future<Output = bool> + Send,
{
    type In = T;
    type Out = T;
    async fn process(&self, input: T) -> Result<T, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out).await?;
        out.into_single(|| self.name.clone())
    }
    async fn process_each<E: Emit<T> + Send>(
        &self,
        input: T,
        out: &mut E,
    ) -> Result<(), PipeError> {
        if (self.f)(&input).await {
            out.emit(input)
        } else {
            Ok(())
        }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// An async filter-map: keeps the `Some` results of the futures `f` returns.
pub fn async_filter_map<I, O, Fut, F>(f: F) -> AsyncFilterMap<F, I>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Option<O>>,
{
    AsyncFilterMap::new(f, "async_filter_map")
}

impl<I, O, Fut, F> AsyncPipe for AsyncFilterMap<F, I>
where
    I: Send,
    O: Send,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Option<O>> + Send,
{
    type In = I;
    type Out = O;
    async fn process(&self, input: I) -> Result<O, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out).await?;
        out.into_single(|| self.name.clone())
    }
    async fn process_each<E: Emit<O> + Send>(
        &self,
        input: I,
        out: &mut E,
    ) -> Result<(), PipeError> {
        match (self.f)(input).await {
            Some(item) => out.emit(item),
            None => Ok(()),
        }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// An async flat-map: emits every item of the collection the future returned by `f` resolves to.
pub fn async_flat_map<I, It, Fut, F>(f: F) -> AsyncFlatMap<F, I>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = It>,
    It: IntoIterator,
{
    AsyncFlatMap::new(f, "async_flat_map")
}

impl<I, It, Fut, F> AsyncPipe for AsyncFlatMap<F, I>
where
    I: Send,
    It: IntoIterator,
    It::Item: Send,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = It> + Send,
{
    type In = I;
    type Out = It::Item;
    async fn process(&self, input: I) -> Result<It::Item, PipeError> {
        let mut out = Outputs::new();
        self.process_each(input, &mut out).await?;
        out.into_single(|| self.name.clone())
    }
    async fn process_each<E: Emit<It::Item> + Send>(
        &self,
        input: I,
        out: &mut E,
    ) -> Result<(), PipeError> {
        let items = (self.f)(input).await;
        for item in items {
            out.emit(item)?;
        }
        Ok(())
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

/// An async fallible map; errors become permanent [`PipeError`]s named after the pipe (a `PipeError` keeps
/// its own kind, so a closure can return `PipeError::transient(..)` to ask for a retry).
pub fn async_try_map<I, O, Er, Fut, F>(f: F) -> AsyncTryMap<F, I>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, Er>>,
    Er: Into<BoxError>,
{
    AsyncTryMap::new(f, "async_try_map")
}

impl<I, O, Er, Fut, F> AsyncPipe for AsyncTryMap<F, I>
where
    I: Send,
    O: Send,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, Er>> + Send,
    Er: Into<BoxError>,
{
    type In = I;
    type Out = O;
    fn process(&self, input: I) -> impl Future<Output = Result<O, PipeError>> + Send {
        let fut = (self.f)(input);
        async move {
            fut.await
                .map_err(|e| PipeError::permanent(self.name.clone(), e))
        }
    }
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }
}

macro_rules! async_composable {
    ($($name:ident),*) => {$(
        impl<F, I> Composable for $name<F, I> {
            type Mode = AsyncMode;
        }
    )*};
}

async_composable!(
    AsyncMap,
    AsyncFilter,
    AsyncFilterMap,
    AsyncFlatMap,
    AsyncTryMap
);

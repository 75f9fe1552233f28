//! Small sources and sinks for programs, tests and benchmarks.
//!
//! They compose with `>>` like the plugins do: `source::iter(..) >> pipe >> sink::collect()` is a runnable
//! pipeline.
//!
//! ```
//! use rivus_core::prelude::*;
//!
//! # rivus_core::tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let out = sink::collect();
//! let report = (source::iter(1..=3u32) >> pipe::map(|x: u32| x * 10) >> out.clone()).run().await.unwrap();
//! assert_eq!(out.items(), [10, 20, 30]);
//! assert_eq!(report.items_written(), 3);
//! # });
//! ```

/// Sources.
pub mod source {
    use crate::compose::{AsyncSourceMode, Composable};
    use crate::error::PipeError;
    use crate::pipe::AsyncSource;

    /// A source over an in-memory iterator; see [`iter`].
    #[derive(Debug, Clone)]
    pub struct Iter<I>(I);

    /// A source that yields the items of `items`. It never blocks, so it runs on the async workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let out = sink::collect();
    /// Pipeline::from_source(source::iter(1..=3)).sink(out.clone()).run().await.unwrap();
    /// assert_eq!(out.items(), [1, 2, 3]);
    /// # });
    /// ```
    pub fn iter<I>(items: I) -> Iter<I::IntoIter>
    where
        I: IntoIterator,
        I::IntoIter: Send,
        I::Item: Send,
    {
        Iter(items.into_iter())
    }

    impl<I> AsyncSource for Iter<I>
    where
        I: Iterator + Send,
        I::Item: Send,
    {
        type Out = I::Item;
        fn next(&mut self) -> impl Future<Output = Option<Result<I::Item, PipeError>>> + Send {
            std::future::ready(self.0.next().map(Ok))
        }
        fn try_next(&mut self) -> std::task::Poll<Option<Result<I::Item, PipeError>>> {
            std::task::Poll::Ready(self.0.next().map(Ok))
        }
    }

    impl<I> Composable for Iter<I> {
        type Mode = AsyncSourceMode;
    }

    crate::__impl_shr!([I,] Iter<I>);
}

/// Sinks.
pub mod sink {
    use std::fmt;
    use std::marker::PhantomData;
    use std::sync::{Arc, Mutex, PoisonError};

    use crate::compose::{AsyncSinkMode, Composable};
    use crate::error::PipeError;
    use crate::pipe::AsyncSink;

    /// Every helper stands on the right of `>>`, after a pipe or a source.
    macro_rules! composable_sink {
        ($($ty:ident<$($param:ident),*>),*) => {$(
            impl<$($param),*> Composable for $ty<$($param),*> {
                type Mode = AsyncSinkMode;
            }
        )*};
    }

    composable_sink!(Collect<T>, ForEach<F, T>, Discard<T>);

    /// A sink that keeps every item in memory; clones share the items. See [`collect`].
    pub struct Collect<T> {
        items: Arc<Mutex<Vec<T>>>,
    }

    impl<T> Clone for Collect<T> {
        fn clone(&self) -> Self {
            Self {
                items: Arc::clone(&self.items),
            }
        }
    }

    impl<T> fmt::Debug for Collect<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Collect").finish_non_exhaustive()
        }
    }

    /// A sink that keeps every item; keep a clone to read them with [`Collect::items`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let out = sink::collect();
    /// Pipeline::from_iter(0..4u32).pipe(pipe::map(|x: u32| x * x)).sink(out.clone()).run().await.unwrap();
    /// assert_eq!(out.items(), [0, 1, 4, 9]);
    /// # });
    /// ```
    pub fn collect<T>() -> Collect<T> {
        Collect {
            items: Arc::new(Mutex::new(Vec::new())),
        }
    }

    impl<T> Collect<T> {
        /// Takes the items written so far out of the sink.
        pub fn take(&self) -> Vec<T> {
            std::mem::take(&mut *self.items.lock().unwrap_or_else(PoisonError::into_inner))
        }
    }

    impl<T: Clone> Collect<T> {
        /// A copy of the items written so far.
        pub fn items(&self) -> Vec<T> {
            self.items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl<T: Send + 'static> AsyncSink for Collect<T> {
        type In = T;
        fn write(&mut self, item: T) -> impl Future<Output = Result<(), PipeError>> + Send {
            self.items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(item);
            std::future::ready(Ok(()))
        }
    }

    /// A sink that calls a closure for every item; see [`for_each`].
    pub struct ForEach<F, T> {
        f: F,
        _item: PhantomData<fn(T)>,
    }

    impl<F, T> fmt::Debug for ForEach<F, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ForEach").finish_non_exhaustive()
        }
    }

    /// A sink that calls `f` for every item, inline on the async workers (so `f` must not block).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = Arc::clone(&sum);
    /// Pipeline::from_iter(1..=4u64)
    ///     .sink(sink::for_each(move |x: u64| { s.fetch_add(x, Ordering::Relaxed); }))
    ///     .run()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(sum.load(Ordering::Relaxed), 10);
    /// # });
    /// ```
    pub fn for_each<T, F: FnMut(T) + Send + 'static>(f: F) -> ForEach<F, T> {
        ForEach {
            f,
            _item: PhantomData,
        }
    }

    impl<T, F> AsyncSink for ForEach<F, T>
    where
        T: Send + 'static,
        F: FnMut(T) + Send + 'static,
    {
        type In = T;
        fn write(&mut self, item: T) -> impl Future<Output = Result<(), PipeError>> + Send {
            (self.f)(item);
            std::future::ready(Ok(()))
        }
    }

    /// A sink that drops every item; see [`discard`].
    pub struct Discard<T>(PhantomData<fn(T)>);

    impl<T> fmt::Debug for Discard<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Discard")
        }
    }

    /// A sink that drops every item.
    pub fn discard<T>() -> Discard<T> {
        Discard(PhantomData)
    }

    impl<T: Send + 'static> AsyncSink for Discard<T> {
        type In = T;
        fn write(&mut self, _item: T) -> impl Future<Output = Result<(), PipeError>> + Send {
            std::future::ready(Ok(()))
        }
    }
}

//! The six traits of Rivus — [`SyncPipe`], [`AsyncPipe`], [`SyncSource`], [`AsyncSource`], [`SyncSink`],
//! [`AsyncSink`] — and closures as pipes ([`map`], [`filter`], [`filter_map`], [`flat_map`], [`try_map`] and
//! their `async_` twins).
//!
//! # One in, one out — and zero or many
//!
//! A pipe is written as a one-in, one-out function: implement [`SyncPipe::process`] (or
//! [`AsyncPipe::process`]). Pipes that drop or multiply items ([`filter`], [`flat_map`], and chains that contain
//! them) override the provided [`SyncPipe::process_each`], which pushes every output into an [`Emit`] sink. The
//! runtime and the composition always call `process_each`, so a filter in a chain simply emits nothing. Calling
//! `process` on such a pipe returns the single output, or an error saying that there were none or several.
//!
//! # Lifecycle
//!
//! All six traits have `open` and `close` (the async twins of Python's `__aenter__`/`__aexit__`), which default
//! to doing nothing. The runtime opens every part before the first item and closes every part once after the
//! last, also when the run fails; sinks are flushed before they are closed.

mod fns;

use std::borrow::Cow;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::task::Poll;

pub use fns::{
    AsyncFilter, AsyncFilterMap, AsyncFlatMap, AsyncMap, AsyncTryMap, Filter, FilterMap, FlatMap,
    Map, TryMap, async_filter, async_filter_map, async_flat_map, async_map, async_try_map, filter,
    filter_map, flat_map, map, try_map,
};

pub use crate::compose::{blocking, from_async, lift};

use crate::ack::Position;
use crate::condition::Condition;
use crate::error::PipeError;

/// A synchronous pipe: turns one input into one output.
///
/// A `SyncPipe` is plain Rust: it can be called with no runtime at all, and a chain of them (`a >> b`) is again
/// a `SyncPipe`. In an async pipeline it runs inline on the task of its stage (see [`blocking`] for CPU-heavy
/// work that must not hold up the async workers).
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// struct Double;
///
/// impl SyncPipe for Double {
///     type In = u64;
///     type Out = u64;
///     fn process(&self, input: u64) -> Result<u64, PipeError> {
///         Ok(input * 2)
///     }
/// }
///
/// let p = Double.then(pipe::map(|x: u64| x + 1));
/// assert_eq!(p.process(20).unwrap(), 41);
/// ```
pub trait SyncPipe {
    /// What the pipe takes.
    type In;
    /// What the pipe gives.
    type Out;

    /// Processes one input into one output.
    ///
    /// # Errors
    ///
    /// Returns a [`PipeError`] when the input cannot be processed; its [`kind`](PipeError::kind) tells retry
    /// policies whether another attempt may help. Pipes that emit zero or several outputs (filters, flat-maps)
    /// return an error here when the count is not exactly one; use [`process_each`](Self::process_each) for them.
    fn process(&self, input: Self::In) -> Result<Self::Out, PipeError>;

    /// Processes one input and pushes each of its outputs (zero, one or many) into `out`.
    ///
    /// The default pushes the one output of [`process`](Self::process), naming errors after this pipe. Filters
    /// and flat-maps override it; the runtime and the composition call only this method.
    ///
    /// # Errors
    ///
    /// Returns this pipe's error, or the first error of `out` (a downstream pipe or sink).
    #[inline]
    fn process_each<E: Emit<Self::Out>>(
        &self,
        input: Self::In,
        out: &mut E,
    ) -> Result<(), PipeError> {
        let output = self.process(input).map_err(|e| e.or_pipe(self.name()))?;
        out.emit(output)
    }

    /// The pipe's name in errors, metrics and logs. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// The names of the pipes this pipe is made of, in order: one for a single pipe, every part for a chain
    /// (`(a >> b) >> c` and `a >> (b >> c)` both give `[a, b, c]`).
    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        vec![self.name()]
    }

    /// Acquires resources before the first item. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> Result<(), PipeError> {
        Ok(())
    }

    /// Releases resources after the last item; called once, also after a failure. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run; it does not undo work already done.
    fn close(&mut self) -> Result<(), PipeError> {
        Ok(())
    }
}

/// An asynchronous pipe: turns one input into one output with an `async fn`.
///
/// Implement it with `async fn process(&self, input: Self::In) -> Result<Self::Out, PipeError>`; the returned
/// future must be `Send` (the runtime moves it between worker threads), which the compiler checks at the impl.
///
/// # Cancel safety
///
/// The runtime drops a `process` future only on shutdown-abort or a [timeout](crate::PipeConfig::timeout). A
/// pipe whose side effects must not be cut in half should make them idempotent or finish them in `close`.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// struct Lookup;
///
/// impl AsyncPipe for Lookup {
///     type In = u32;
///     type Out = String;
///     async fn process(&self, id: u32) -> Result<String, PipeError> {
///         tokio::task::yield_now().await; // a real pipe would await a database here
///         Ok(format!("customer-{id}"))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let p = pipe::map(|id: u32| id + 1).then(pipe::from_async(Lookup));
/// assert_eq!(p.process(41).await.unwrap(), "customer-42");
/// # });
/// ```
pub trait AsyncPipe: Send + Sync {
    /// What the pipe takes.
    type In: Send;
    /// What the pipe gives.
    type Out: Send;

    /// Processes one input into one output.
    ///
    /// # Errors
    ///
    /// As [`SyncPipe::process`].
    fn process(&self, input: Self::In)
    -> impl Future<Output = Result<Self::Out, PipeError>> + Send;

    /// Processes one input and pushes each of its outputs into `out`; see [`SyncPipe::process_each`].
    ///
    /// # Errors
    ///
    /// Returns this pipe's error, or the first error of `out`.
    fn process_each<E: Emit<Self::Out> + Send>(
        &self,
        input: Self::In,
        out: &mut E,
    ) -> impl Future<Output = Result<(), PipeError>> + Send {
        async move {
            let output = self
                .process(input)
                .await
                .map_err(|e| e.or_pipe(self.name()))?;
            out.emit(output)
        }
    }

    /// The pipe's name in errors, metrics and logs. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// The names of the parts, in order; see [`SyncPipe::stage_names`].
    fn stage_names(&self) -> Vec<Cow<'static, str>> {
        vec![self.name()]
    }

    /// Acquires resources (connections, clients) before the first item. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }

    /// Releases resources after the last item; called once, also after a failure. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run.
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }
}

/// A synchronous source: yields items until it is exhausted.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// struct Count(u32);
///
/// impl SyncSource for Count {
///     type Out = u32;
///     fn next(&mut self) -> Option<Result<u32, PipeError>> {
///         (self.0 > 0).then(|| {
///             self.0 -= 1;
///             Ok(self.0)
///         })
///     }
/// }
///
/// let mut c = Count(2);
/// assert_eq!(c.next().unwrap().unwrap(), 1);
/// ```
pub trait SyncSource {
    /// What the source yields.
    type Out;

    /// The next item; `None` once the source is exhausted.
    ///
    /// An `Err` is one bad item (a malformed row): the error policy decides, and the source is asked again. A
    /// source that cannot go on at all returns its error and then `None`.
    fn next(&mut self) -> Option<Result<Self::Out, PipeError>>;

    /// Tells the source which top-level fields the rest of the pipeline reads (projection pushdown). The
    /// source may leave every other field out of its records, and need not check or convert them; it returns
    /// whether it does. Called at most once, before [`open`](Self::open), by a pipeline built from a file (see
    /// [`spec::pushdown`](crate::spec::pushdown)); a source that keeps every field ignores it, the default.
    ///
    /// A source that adds fields of its own (a file name, a source tag) keeps adding them.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    /// use rivus_core::value::{Record, Value};
    ///
    /// /// Rows of three columns; with a projection, only the columns read are built.
    /// struct Rows {
    ///     left: u32,
    ///     keep: Option<Vec<String>>,
    /// }
    ///
    /// impl SyncSource for Rows {
    ///     type Out = Record;
    ///     fn next(&mut self) -> Option<Result<Record, PipeError>> {
    ///         self.left = self.left.checked_sub(1)?;
    ///         let read = |name: &str| self.keep.as_ref().is_none_or(|k| k.iter().any(|f| f == name));
    ///         let mut record = Record::new();
    ///         for name in ["id", "name", "note"] {
    ///             if read(name) {
    ///                 record.insert(name, Value::from(format!("{name}{}", self.left)));
    ///             }
    ///         }
    ///         Some(Ok(record))
    ///     }
    ///     fn project(&mut self, fields: &[String]) -> bool {
    ///         self.keep = Some(fields.to_vec());
    ///         true
    ///     }
    /// }
    ///
    /// let mut rows = Rows { left: 1, keep: None };
    /// assert!(rows.project(&["id".to_owned()]));
    /// let record = rows.next().unwrap().unwrap();
    /// assert_eq!(record.field_names().collect::<Vec<_>>(), ["id"]);
    /// ```
    fn project(&mut self, fields: &[String]) -> bool {
        let _ = fields;
        false
    }

    /// Tells the source the condition of the `filter` that comes right after it (filter pushdown), so that it
    /// can test a row on the condition's fields (see [`Condition::fields`]) before it builds the rest of the
    /// record. Returns whether it does. Called at most once, before [`open`](Self::open); ignored by default.
    ///
    /// The filter stays in the pipeline. For a row the condition rejects, the source either leaves it out
    /// and counts it in [`take_filtered`](Self::take_filtered) (the runtime counts it read and `filtered`
    /// at the source's stage: it costs no item), or yields any record on which the condition is false too,
    /// such as an empty record when the condition is false on one (the filter, evaluating it again, drops it
    /// and counts it `filtered`). For a row it keeps, or on which the condition is an error, the source yields
    /// the whole record, so that the filter's error and its dead letter are those of the run without
    /// pushdown. A row that is bad (a located error) is the same error as without the condition.
    ///
    /// A source that leaves rows out keeps each `next` call short (it yields a rejected row as a record after
    /// a run of them, as the `csv` source does every 1,024), so that commits and stops are not held up by a
    /// long run of rejected rows.
    ///
    /// [`Condition::fields`]: crate::condition::Condition::fields
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        let _ = condition;
        false
    }

    /// How many rows the source left out since it was last asked, because the [`prefilter`](Self::prefilter)'s
    /// condition is false on them. The runtime asks after every `next` call, the one that returned `None`
    /// included, and counts them read and `filtered` at the source's stage. Defaults to 0.
    ///
    /// Positions: a row left out reached its end, so committing the position of the next item covers it; rows
    /// left out after the last item are covered by [`position`](Self::position) as it is after `next` returned
    /// `None` (the runtime asks for it then only when this returned more than 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// /// The numbers below `end`; with a prefilter, only the even ones, the odd ones counted as left out.
    /// struct Evens {
    ///     at: u64,
    ///     end: u64,
    ///     left_out: u64,
    /// }
    ///
    /// impl SyncSource for Evens {
    ///     type Out = u64;
    ///     fn next(&mut self) -> Option<Result<u64, PipeError>> {
    ///         while self.at < self.end {
    ///             self.at += 1;
    ///             if (self.at - 1) % 2 == 0 {
    ///                 return Some(Ok(self.at - 1));
    ///             }
    ///             self.left_out += 1;
    ///         }
    ///         None
    ///     }
    ///     fn take_filtered(&mut self) -> u64 {
    ///         std::mem::take(&mut self.left_out)
    ///     }
    /// }
    ///
    /// let mut evens = Evens { at: 0, end: 4, left_out: 0 };
    /// assert_eq!(evens.next().unwrap().unwrap(), 0);
    /// assert_eq!(evens.take_filtered(), 0);
    /// assert_eq!(evens.next().unwrap().unwrap(), 2);
    /// assert_eq!(evens.take_filtered(), 1); // 1
    /// assert!(evens.next().is_none());
    /// assert_eq!(evens.take_filtered(), 1); // 3
    /// ```
    fn take_filtered(&mut self) -> u64 {
        0
    }

    /// The position of the item [`next`](Self::next) returned last (also of an `Err` item), for a source that
    /// can resume where it stopped: a line in a file, an offset, a cursor value. See [`crate::ack`].
    ///
    /// `None`, the default, means the source has no positions: nothing is tracked or committed. The runtime
    /// asks after every `Some` from `next` (and after a `None` that followed rows left out by a prefilter:
    /// see [`take_filtered`](Self::take_filtered)); the first item decides for the whole run, so a source
    /// gives positions for all of its items or for none.
    fn position(&self) -> Option<Position> {
        None
    }

    /// Everything up to and including `upto` reached an end (written by every sink, filtered, skipped or
    /// dead-lettered): the source may make that durable, e.g. write a checkpoint. Positions passed here only
    /// grow. The runtime calls it on the source's own thread, between two `next` calls and after the last one.
    /// Defaults to nothing.
    ///
    /// # Errors
    ///
    /// A failed commit is counted in the report and retried with the next, higher position; it does not stop
    /// the pipeline.
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let _ = upto;
        Ok(())
    }

    /// The source's name. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// Opens files or connections before the first `next`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> Result<(), PipeError> {
        Ok(())
    }

    /// Releases resources; called once after the last item. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run.
    fn close(&mut self) -> Result<(), PipeError> {
        Ok(())
    }
}

/// An asynchronous source: yields items until it is exhausted.
///
/// # Cancel safety
///
/// The runtime may drop a pending `next` future when it shuts down (Ctrl-C, a cancellation token), and, for a
/// source with [positions](Self::position), to [`commit`](Self::commit) while `next` waits for an item. An
/// implementation must not lose an item that way: keep a received-but-not-returned item in `self`, as
/// `tokio::sync::mpsc::Receiver::recv` does, so that dropping the future loses nothing.
pub trait AsyncSource: Send {
    /// What the source yields.
    type Out: Send;

    /// The next item; `None` once the source is exhausted. See [`SyncSource::next`] for `Err`.
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Out, PipeError>>> + Send;

    /// The next item when the source has it at once, without waiting: `Poll::Ready` with what
    /// [`next`](Self::next) would give (an item, an error, or `None` at the end), or `Poll::Pending` when it
    /// would have to wait, or cannot tell (the default): the runtime then calls `next`.
    ///
    /// A source that makes or holds its items in memory answers here, so that the runtime takes them without
    /// a future per item (for a type-erased source, a boxed one). Positions, left-out rows and commits are as
    /// after `next`: the runtime asks [`position`](Self::position) and [`take_filtered`](Self::take_filtered)
    /// after either.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Poll;
    ///
    /// use rivus_core::{AsyncSource, PipeError};
    ///
    /// /// The numbers below `end`, ready at once.
    /// struct Count { next: u64, end: u64 }
    ///
    /// impl AsyncSource for Count {
    ///     type Out = u64;
    ///     async fn next(&mut self) -> Option<Result<u64, PipeError>> {
    ///         match self.try_next() {
    ///             Poll::Ready(next) => next,
    ///             Poll::Pending => unreachable!("always ready"),
    ///         }
    ///     }
    ///     fn try_next(&mut self) -> Poll<Option<Result<u64, PipeError>>> {
    ///         let n = self.next;
    ///         self.next += 1;
    ///         Poll::Ready((n < self.end).then_some(Ok(n)))
    ///     }
    /// }
    ///
    /// let mut count = Count { next: 0, end: 2 };
    /// assert!(matches!(count.try_next(), Poll::Ready(Some(Ok(0)))));
    /// assert!(matches!(count.try_next(), Poll::Ready(Some(Ok(1)))));
    /// assert!(matches!(count.try_next(), Poll::Ready(None)));
    /// ```
    fn try_next(&mut self) -> Poll<Option<Result<Self::Out, PipeError>>> {
        Poll::Pending
    }

    /// See [`SyncSource::project`]: the fields the rest of the pipeline reads. Ignored by default.
    fn project(&mut self, fields: &[String]) -> bool {
        let _ = fields;
        false
    }

    /// See [`SyncSource::prefilter`]: the condition of the `filter` right after the source. Ignored by
    /// default.
    fn prefilter(&mut self, condition: &Arc<Condition>) -> bool {
        let _ = condition;
        false
    }

    /// See [`SyncSource::take_filtered`]: the rows left out since last asked, because the prefilter's
    /// condition is false on them. Defaults to 0.
    fn take_filtered(&mut self) -> u64 {
        0
    }

    /// The position of the item [`next`](Self::next) returned last; see [`SyncSource::position`]. `None` by
    /// default: no positions.
    fn position(&self) -> Option<Position> {
        None
    }

    /// Everything up to and including `upto` reached an end: commit it (e.g. store the Kafka offsets); see
    /// [`SyncSource::commit`]. Called from the source's own task, between two `next` calls and after the last
    /// one; also while `next` waits for an item, whose pending future is then dropped (see
    /// [Cancel safety](AsyncSource#cancel-safety)) and called again after the commit, so that a source learns
    /// what reached an end without waiting for its next item. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// As [`SyncSource::commit`]: counted and retried with the next position, never a stop.
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        let _ = upto;
        async { Ok(()) }
    }

    /// The source's name. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// Connects before the first `next`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }

    /// Disconnects; called once after the last item. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run.
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }
}

/// A synchronous sink: takes items, and flushes what it buffers.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// #[derive(Default)]
/// struct Collect(Vec<u32>);
///
/// impl SyncSink for Collect {
///     type In = u32;
///     fn write(&mut self, item: u32) -> Result<(), PipeError> {
///         self.0.push(item);
///         Ok(())
///     }
/// }
///
/// let mut sink = Collect::default();
/// sink.write(7).unwrap();
/// sink.flush().unwrap();
/// assert_eq!(sink.0, [7]);
/// ```
pub trait SyncSink {
    /// What the sink takes.
    type In;

    /// Takes one item. The item counts as delivered once `write` returns `Ok` and the next `flush` succeeds.
    ///
    /// # Errors
    ///
    /// The item could not be written; the error policy decides what happens to it.
    fn write(&mut self, item: Self::In) -> Result<(), PipeError>;

    /// Pushes buffered items to their destination: all of them are durable once it returns `Ok`. Defaults to
    /// nothing.
    ///
    /// # Errors
    ///
    /// Buffered items could not be written (none of them counts as written).
    fn flush(&mut self) -> Result<(), PipeError> {
        Ok(())
    }

    /// Flushes, and says which of the items written since the last flush the destination refused (a row that
    /// violates a constraint, in a batch whose other rows landed). The runtime hands each refused item to the
    /// stage's error policy and counts the others as written. The default calls [`flush`](Self::flush): all or
    /// nothing. A sink that implements it should make its `flush` fail when an item is refused.
    ///
    /// # Errors
    ///
    /// The flush failed as a whole (none of the items counts as written).
    fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        self.flush().map(|()| Vec::new())
    }

    /// How many written items this sink would like each flush to cover while items keep coming; `None` (the
    /// default) lets the runtime flush whenever the stage's input runs dry, and at least every `buffer_size`
    /// items. A sink whose flush is costly (a database transaction, an HTTP request) asks for more: the runtime
    /// then flushes once this many items wait unflushed, once the input has been dry for
    /// [`FLUSH_LINGER`](crate::stream::FLUSH_LINGER), and at the end. Items count as written (and their source
    /// positions as committable) only at that flush, so a larger batch also holds acknowledgements longer.
    fn flush_batch(&self) -> Option<NonZeroUsize> {
        None
    }

    /// The sink's name. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// Opens files or connections before the first `write`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> Result<(), PipeError> {
        Ok(())
    }

    /// Releases resources; called once, after the final `flush`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run.
    fn close(&mut self) -> Result<(), PipeError> {
        Ok(())
    }
}

/// An asynchronous sink: takes items, and flushes what it buffers.
///
/// # Cancel safety
///
/// `write` and `flush` futures are awaited to completion except when the runtime aborts (a second Ctrl-C). An
/// item counts as delivered only once `write` and the following `flush` have returned `Ok`, so an aborted
/// write is replayed, never lost, by at-least-once sources.
pub trait AsyncSink: Send {
    /// What the sink takes.
    type In: Send;

    /// Takes one item.
    ///
    /// # Errors
    ///
    /// The item could not be written; the error policy decides what happens to it.
    fn write(&mut self, item: Self::In) -> impl Future<Output = Result<(), PipeError>> + Send;

    /// Writes the items of `items`, in order, until it is empty or a write fails, and returns that error. The
    /// runtime calls it with the run of items a sink stage took at once, when the stage has no `timeout` (with
    /// one, it calls [`write`](Self::write) per item, each under the limit).
    ///
    /// The default calls `write` for each item, and there is rarely a reason to change it: a type-erased
    /// sink ([`BoxAsyncSink`](crate::dynamic::BoxAsyncSink)) forwards it whole, so that a run costs one boxed
    /// future instead of one per item. An implementation must keep its meaning for the ledger: on an error, the
    /// last item it took from `items` is the one that failed, every item taken before it was written, and the
    /// items left in `items` were not tried (an error before any item was taken is the first item's).
    ///
    /// # Errors
    ///
    /// The error of the item that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// struct Count(u32);
    ///
    /// impl AsyncSink for Count {
    ///     type In = u32;
    ///     async fn write(&mut self, item: u32) -> Result<(), PipeError> {
    ///         if item == 3 {
    ///             return Err(PipeError::msg("three"));
    ///         }
    ///         self.0 += 1;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut sink = Count(0);
    /// let mut items = vec![1, 2, 3, 4].into_iter();
    /// assert!(sink.write_run(&mut items).await.is_err());
    /// assert_eq!(sink.0, 2); // 1 and 2 written, 3 failed
    /// assert_eq!(items.collect::<Vec<_>>(), [4]); // not tried
    /// # });
    /// ```
    fn write_run(
        &mut self,
        items: &mut std::vec::IntoIter<Self::In>,
    ) -> impl Future<Output = Result<(), PipeError>> + Send {
        async move {
            for item in items {
                self.write(item).await?;
            }
            Ok(())
        }
    }

    /// Pushes buffered items to their destination; see [`SyncSink::flush`]. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// Buffered items could not be written (none of them counts as written).
    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }

    /// Flushes, and says which items written since the last flush the destination refused; see
    /// [`SyncSink::flush_each`]. The default calls [`flush`](Self::flush): all or nothing.
    ///
    /// # Errors
    ///
    /// The flush failed as a whole.
    fn flush_each(&mut self) -> impl Future<Output = Result<Vec<Rejected>, PipeError>> + Send {
        async { self.flush().await.map(|()| Vec::new()) }
    }

    /// How many written items this sink would like each flush to cover while items keep coming; see
    /// [`SyncSink::flush_batch`]. Defaults to `None`.
    fn flush_batch(&self) -> Option<NonZeroUsize> {
        None
    }

    /// The sink's name. Defaults to the type's name without its module path.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_type_name::<Self>())
    }

    /// Connects before the first `write`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here stops the pipeline before it starts.
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }

    /// Disconnects; called once, after the final `flush`. Defaults to nothing.
    ///
    /// # Errors
    ///
    /// An error here is reported after the run.
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        async { Ok(()) }
    }
}

/// An item a sink's destination refused at a flush; see [`SyncSink::flush_each`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Rejected {
    /// Which item: its place among the items written since the last flush, from 0.
    pub index: usize,
    /// Why (the destination's message, e.g. the constraint a row violates).
    pub error: PipeError,
}

impl Rejected {
    /// The item written `index`-th since the last flush was refused for `error`.
    pub fn new(index: usize, error: PipeError) -> Self {
        Self { index, error }
    }
}

/// Where a pipe pushes its outputs: the next pipe of a chain, a runtime buffer, a `Vec`.
pub trait Emit<T> {
    /// Takes one output.
    ///
    /// # Errors
    ///
    /// Returns the error of whatever consumes the item (the next pipe in a chain); the emitting pipe passes it
    /// on unchanged.
    fn emit(&mut self, item: T) -> Result<(), PipeError>;
}

impl<T> Emit<T> for Vec<T> {
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        self.push(item);
        Ok(())
    }
}

impl<T, E: Emit<T> + ?Sized> Emit<T> for &mut E {
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        (**self).emit(item)
    }
}

/// An [`Emit`] from a closure; see [`emit_fn`].
#[derive(Debug, Clone, Copy)]
pub struct EmitFn<F>(F);

/// Turns a closure into an [`Emit`], e.g. to sum a chain's outputs without collecting them.
///
/// ```
/// use rivus_core::prelude::*;
/// use rivus_core::pipe::emit_fn;
///
/// let p = pipe::flat_map(|n: u32| 0..n);
/// let mut sum = 0;
/// p.process_each(4, &mut emit_fn(|x| {
///     sum += x;
///     Ok(())
/// }))
/// .unwrap();
/// assert_eq!(sum, 6);
/// ```
pub fn emit_fn<T, F: FnMut(T) -> Result<(), PipeError>>(f: F) -> EmitFn<F> {
    EmitFn(f)
}

impl<T, F: FnMut(T) -> Result<(), PipeError>> Emit<T> for EmitFn<F> {
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        (self.0)(item)
    }
}

/// A small buffer of outputs that does not allocate for zero or one item (the common cases).
#[derive(Debug, Clone)]
pub struct Outputs<T> {
    state: OutputsState<T>,
}

#[derive(Debug, Clone)]
enum OutputsState<T> {
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> Outputs<T> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            state: OutputsState::Empty,
        }
    }

    /// The number of buffered outputs.
    pub fn len(&self) -> usize {
        match &self.state {
            OutputsState::Empty => 0,
            OutputsState::One(_) => 1,
            OutputsState::Many(v) => v.len(),
        }
    }

    /// `true` when nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The one output, or an error naming `pipe` when there were none or several.
    pub(crate) fn into_single(
        self,
        pipe: impl FnOnce() -> Cow<'static, str>,
    ) -> Result<T, PipeError> {
        match self.state {
            OutputsState::One(item) => Ok(item),
            OutputsState::Empty => Err(PipeError::msg(
                "produced no output for this input (it was filtered out); call `process_each` on pipes that \
                 filter",
            )
            .with_pipe(pipe())),
            OutputsState::Many(v) => Err(PipeError::msg(format!(
                "produced {} outputs where `process` returns one; call `process_each` on pipes that fan out",
                v.len()
            ))
            .with_pipe(pipe())),
        }
    }
}

impl<T> Default for Outputs<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Emit<T> for Outputs<T> {
    #[inline]
    fn emit(&mut self, item: T) -> Result<(), PipeError> {
        // The first output is stored in place; a second one (a flat-map) takes the cold path.
        if matches!(self.state, OutputsState::Empty) {
            self.state = OutputsState::One(item);
        } else {
            self.emit_more(item);
        }
        Ok(())
    }
}

impl<T> Outputs<T> {
    #[cold]
    fn emit_more(&mut self, item: T) {
        self.state = match std::mem::replace(&mut self.state, OutputsState::Empty) {
            OutputsState::Empty => OutputsState::One(item),
            OutputsState::One(first) => OutputsState::Many(vec![first, item]),
            OutputsState::Many(mut v) => {
                v.push(item);
                OutputsState::Many(v)
            }
        };
    }
}

impl<T> IntoIterator for Outputs<T> {
    type Item = T;
    type IntoIter = OutputsIter<T>;
    fn into_iter(self) -> OutputsIter<T> {
        OutputsIter {
            inner: match self.state {
                OutputsState::Empty => OutputsIterState::Done,
                OutputsState::One(item) => OutputsIterState::One(item),
                OutputsState::Many(v) => OutputsIterState::Many(v.into_iter()),
            },
        }
    }
}

/// The iterator of [`Outputs`].
#[derive(Debug)]
pub struct OutputsIter<T> {
    inner: OutputsIterState<T>,
}

#[derive(Debug)]
enum OutputsIterState<T> {
    Done,
    One(T),
    Many(std::vec::IntoIter<T>),
}

impl<T> Iterator for OutputsIter<T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        match std::mem::replace(&mut self.inner, OutputsIterState::Done) {
            OutputsIterState::Done => None,
            OutputsIterState::One(item) => Some(item),
            OutputsIterState::Many(mut it) => {
                let item = it.next();
                self.inner = OutputsIterState::Many(it);
                item
            }
        }
    }

    // Without a loop for the common cases (none or one output), so that a chain run by `process_iter` folds
    // as the iterator chain it stands for.
    #[inline]
    fn fold<B, F>(self, init: B, mut f: F) -> B
    where
        F: FnMut(B, T) -> B,
    {
        match self.inner {
            OutputsIterState::Done => init,
            OutputsIterState::One(item) => f(init, item),
            OutputsIterState::Many(it) => it.fold(init, f),
        }
    }
}

/// The type's name without module paths: `my_app::orders::Parse` → `Parse`, `rivus_core::pipe::Map<…>` → `Map`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name::<Vec<u8>>(), "Vec");
        assert_eq!(short_type_name::<Outputs<u8>>(), "Outputs");
        assert_eq!(short_type_name::<u8>(), "u8");
    }

    #[test]
    fn outputs_keep_order() {
        let mut o = Outputs::new();
        assert!(o.is_empty());
        for i in 0..5 {
            o.emit(i).unwrap();
        }
        assert_eq!(o.len(), 5);
        assert_eq!(o.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }
}

//! How the source and sink tasks call a source or a sink: an async one inline on the task, a sync one on a
//! thread of its own ([`thread`]), since its calls may block in the OS and a blocked call cannot be cancelled.
//! Either way the task sees one interface, [`SourceDriver`] or [`SinkDriver`], and stays responsive: it can
//! give up a sink call that outlives the stage's `timeout`, and an abort never waits for a blocked thread.

mod handoff;
mod thread;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;

use crate::ack::Position;
use crate::error::{ErrorKind, PipeError};
use crate::metrics::StageStats;
use crate::pipe::{AsyncSink, AsyncSource, Rejected, SyncSink, SyncSource};

use handoff::Handoff;
use thread::{Lost, OnThread, Progress};

use super::Item;
use super::task::panic_error;

/// A source as the source task sees it.
pub(crate) trait SourceDriver: Send + 'static {
    type Out: Item;
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
    /// The next item; `None` when the source is exhausted (or, after [`stop`](Self::stop), when what it had
    /// read is given).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is never lost when the future is dropped.
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Out, PipeError>>> + Send;
    /// What `next` would give when it is there at once ([`AsyncSource::try_next`]; for a source on a thread,
    /// an item already handed over); `Pending`: call `next`.
    fn try_next(&mut self) -> Poll<Option<Result<Self::Out, PipeError>>>;
    /// The position of the item `next` gave last; after a `None` that followed rows the source left out
    /// (see [`take_filtered`](Self::take_filtered)), the position after them.
    fn position(&self) -> Option<Position>;
    /// The rows the source left out since last asked, its prefilter's condition being false on them
    /// ([`SyncSource::take_filtered`]); asked after every `next` and `next_read`.
    fn take_filtered(&mut self) -> u64;
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send;
    /// Reads no more; [`next_read`](Self::next_read) then gives what was read already.
    fn stop(&mut self);
    /// After [`stop`](Self::stop): the next item read before the stop, without waiting on the source.
    fn next_read(&mut self) -> Option<Result<Self::Out, PipeError>>;
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
}

/// Why a sink call failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The call returned an error (or panicked, or an async call timed out): the sink can be called again.
    Failed(PipeError),
    /// A blocking call outlived the stage's timeout and is still blocked: the sink is lost.
    Stuck(PipeError),
}

/// The outcome of writing a run of items: how many were written, and the first failure with the items after
/// it that were not tried. The failing item was consumed by its `write`; when a stuck call took the whole run
/// with it, fewer items come back than were not written (the caller counts the missing ones).
#[derive(Debug)]
pub(crate) struct Written<T> {
    pub(crate) count: usize,
    pub(crate) failure: Option<(Fault, Vec<T>)>,
}

/// What a flush gives: the items the destination refused, or why it failed.
pub(crate) type Flush = Result<Vec<Rejected>, Fault>;

/// A sink as the sink task sees it. Every call takes the stage's time limit.
pub(crate) trait SinkDriver: Send + 'static {
    type In: Send + 'static;
    /// See [`SyncSink::flush_batch`].
    fn flush_batch(&self) -> Option<usize>;
    fn open(&mut self, limit: Option<Duration>) -> impl Future<Output = Result<(), Fault>> + Send;
    fn write_many(
        &mut self,
        items: Vec<Self::In>,
        limit: Option<Duration>,
    ) -> impl Future<Output = Written<Self::In>> + Send;
    /// Flushes; `Ok` with the items the destination refused (see [`SyncSink::flush_each`]).
    fn flush(
        &mut self,
        limit: Option<Duration>,
    ) -> impl Future<Output = Result<Vec<Rejected>, Fault>> + Send;
    /// [`write_many`](Self::write_many), then, when every write succeeded, [`flush`](Self::flush) (`None`
    /// when a write failed): for a sink on a thread, one trip to the thread instead of two.
    fn write_and_flush(
        &mut self,
        items: Vec<Self::In>,
        limit: Option<Duration>,
    ) -> impl Future<Output = (Written<Self::In>, Option<Flush>)> + Send {
        async move {
            let written = self.write_many(items, limit).await;
            if written.failure.is_some() {
                return (written, None);
            }
            let flushed = self.flush(limit).await;
            (written, Some(flushed))
        }
    }
    fn close(&mut self, limit: Option<Duration>) -> impl Future<Output = Result<(), Fault>> + Send;
}

/// The error of an async call that ran past its limit: transient, the call was dropped.
fn timed_out(what: &str, limit: Duration) -> PipeError {
    PipeError::with_message(
        "",
        ErrorKind::Transient,
        format!("{what} timed out after {limit:?}"),
        None,
    )
}

/// Runs an async call with the stage's limit and panic capture.
async fn guarded<T>(
    what: &str,
    limit: Option<Duration>,
    fut: impl Future<Output = Result<T, PipeError>> + Send,
) -> Result<T, PipeError> {
    let call = AssertUnwindSafe(fut).catch_unwind();
    let result = match limit {
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => return Err(timed_out(what, limit)),
        },
        None => call.await,
    };
    result.unwrap_or_else(|payload| Err(panic_error(payload.as_ref(), "")))
}

/// Runs a sync call with panic capture.
fn caught<T>(f: impl FnOnce() -> Result<T, PipeError>) -> Result<T, PipeError> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(panic_error(payload.as_ref(), "")))
}

/// The fault of a sync call that did not come back.
fn lost(what: &str, how: Lost) -> Fault {
    match how {
        Lost::Stuck(after) => Fault::Stuck(PipeError::with_message(
            "",
            ErrorKind::Permanent,
            format!(
                "{what} timed out after {after:.1?} and is still blocked in the operating system; the sink \
                 is given up"
            ),
            None,
        )),
        Lost::Gone => Fault::Failed(PipeError::msg(format!("{what}: the sink's thread is gone"))),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Async: inline on the stage's task.

/// An [`AsyncSource`], called on the stage's task.
pub(crate) struct AsyncSourceDriver<S>(pub(crate) S);

impl<S> SourceDriver for AsyncSourceDriver<S>
where
    S: AsyncSource + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.open()
    }
    fn next(&mut self) -> impl Future<Output = Option<Result<S::Out, PipeError>>> + Send {
        self.0.next()
    }
    fn try_next(&mut self) -> Poll<Option<Result<S::Out, PipeError>>> {
        self.0.try_next()
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    fn take_filtered(&mut self) -> u64 {
        self.0.take_filtered()
    }
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.commit(upto)
    }
    fn stop(&mut self) {}
    fn next_read(&mut self) -> Option<Result<S::Out, PipeError>> {
        None
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.close()
    }
}

/// An [`AsyncSink`], called on the stage's task; a call past the limit is dropped (its error is transient).
pub(crate) struct AsyncSinkDriver<S>(pub(crate) S);

impl<S: AsyncSink> AsyncSinkDriver<S> {
    /// Writes `items` in one [`AsyncSink::write_run`] call (no limit to apply per item): one boxed future for a
    /// type-erased sink instead of one per item. A panic is the error of the item being written.
    async fn write_run(&mut self, items: Vec<S::In>) -> Written<S::In> {
        let total = items.len();
        let mut items = items.into_iter();
        let result = AssertUnwindSafe(self.0.write_run(&mut items))
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| Err(panic_error(payload.as_ref(), "")));
        let Err(e) = result else {
            return Written {
                count: total - items.len(),
                failure: None,
            };
        };
        if items.len() == total {
            // Failed before taking an item: the first one's error (see `AsyncSink::write_run`).
            items.next();
        }
        Written {
            count: total - items.len() - 1,
            failure: Some((Fault::Failed(e), items.collect())),
        }
    }
}

impl<S: AsyncSink + 'static> SinkDriver for AsyncSinkDriver<S> {
    type In = S::In;
    fn flush_batch(&self) -> Option<usize> {
        self.0.flush_batch().map(NonZeroUsize::get)
    }
    async fn open(&mut self, limit: Option<Duration>) -> Result<(), Fault> {
        guarded("open", limit, self.0.open())
            .await
            .map_err(Fault::Failed)
    }
    async fn write_many(&mut self, items: Vec<S::In>, limit: Option<Duration>) -> Written<S::In> {
        if limit.is_none() {
            return self.write_run(items).await;
        }
        let mut count = 0;
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            if let Err(e) = guarded("write", limit, self.0.write(item)).await {
                return Written {
                    count,
                    failure: Some((Fault::Failed(e), items.collect())),
                };
            }
            count += 1;
        }
        Written {
            count,
            failure: None,
        }
    }
    async fn flush(&mut self, limit: Option<Duration>) -> Result<Vec<Rejected>, Fault> {
        guarded("flush", limit, self.0.flush_each())
            .await
            .map_err(Fault::Failed)
    }
    async fn close(&mut self, limit: Option<Duration>) -> Result<(), Fault> {
        guarded("close", limit, self.0.close())
            .await
            .map_err(Fault::Failed)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sync: on a thread of its own.

/// What the reader thread hands over: an item (or a bad item's error) with its position, or the end (`None`)
/// when the source left rows out after its last item (with the position after them); and how many rows the
/// source left out before it ([`SyncSource::take_filtered`]).
struct Read<T> {
    item: Option<Result<T, PipeError>>,
    position: Option<Position>,
    filtered: u64,
}

/// A [`SyncSource`] on a thread of its own: a reader loop hands items over as they come, and takes the
/// commits the task asks for between two `next` calls.
pub(crate) struct ThreadSource<S: SyncSource> {
    name: Cow<'static, str>,
    source: Option<S>,
    thread: Option<OnThread<S>>,
    handoff: Arc<Handoff<Read<S::Out>>>,
    taken: VecDeque<Read<S::Out>>,
    position: Option<Position>,
    /// Rows left out by the source, handed over with the items taken and not asked for yet.
    filtered: u64,
    /// The newest commit the task asked for while the reader runs; positions only grow, so one slot is enough.
    commit_slot: Arc<Mutex<Option<Position>>>,
    reading: bool,
    stats: Arc<StageStats>,
}

impl<S: SyncSource> ThreadSource<S> {
    /// A source whose items the task takes `batch` at a time when it can (see [`Handoff`]).
    pub(crate) fn new(source: S, batch: usize, stats: Arc<StageStats>) -> Self {
        Self {
            name: source.name(),
            source: Some(source),
            thread: None,
            handoff: Arc::new(Handoff::new(batch)),
            taken: VecDeque::new(),
            position: None,
            filtered: 0,
            commit_slot: Arc::new(Mutex::new(None)),
            reading: false,
            stats,
        }
    }
}

impl<S: SyncSource> ThreadSource<S> {
    /// The next item taken from the reader, noting its position and the rows left out before it.
    fn take_next(&mut self) -> Option<Result<S::Out, PipeError>> {
        let read = self.taken.pop_front()?;
        self.position = read.position;
        self.filtered += read.filtered;
        read.item
    }
}

/// Commits on the reader's thread; a failure is counted and logged (the next, higher position retries it).
fn commit_on_thread<S: SyncSource>(
    source: &mut S,
    progress: &Progress,
    upto: Position,
    stats: &StageStats,
) {
    if let Err(e) = progress.call(|| caught(|| source.commit(upto))) {
        stats.add_error();
        tracing::warn!(error = %e.or_pipe(source.name()), "commit failed");
    }
}

impl<S> SourceDriver for ThreadSource<S>
where
    S: SyncSource + Send + 'static,
    S::Out: Item,
{
    type Out = S::Out;

    async fn open(&mut self) -> Result<(), PipeError> {
        let Some(source) = self.source.take() else {
            return Ok(());
        };
        let thread = OnThread::spawn(&self.name, source)?;
        let opened = thread
            .call(None, |s, p| p.call(|| caught(|| s.open())))
            .await
            .unwrap_or_else(|_| Err(PipeError::msg("the source's thread is gone")));
        if opened.is_ok() {
            let handoff = Arc::clone(&self.handoff);
            let slot = Arc::clone(&self.commit_slot);
            let stats = Arc::clone(&self.stats);
            // The reader runs as one long call on the thread; later calls (commits after the end, close)
            // queue behind it.
            self.reading = thread.post(move |s: &mut S, p: &Progress| {
                loop {
                    let pending = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(upto) = pending {
                        commit_on_thread(s, p, upto, &stats);
                    }
                    if p.abandoned() {
                        break;
                    }
                    let next = p.call(|| {
                        std::panic::catch_unwind(AssertUnwindSafe(|| s.next()))
                            .unwrap_or_else(|payload| Some(Err(panic_error(payload.as_ref(), ""))))
                    });
                    let filtered = s.take_filtered();
                    let end = next.is_none();
                    if end && filtered == 0 {
                        break;
                    }
                    let read = Read {
                        item: next,
                        position: s.position(),
                        filtered,
                    };
                    if handoff.push(read).is_err() || end {
                        break;
                    }
                }
                let pending = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(upto) = pending {
                    commit_on_thread(s, p, upto, &stats);
                }
                handoff.finish();
            });
        }
        self.thread = Some(thread);
        opened
    }

    async fn next(&mut self) -> Option<Result<S::Out, PipeError>> {
        if self.taken.is_empty() && self.reading && !self.handoff.take_all(&mut self.taken).await {
            self.reading = false;
        }
        self.take_next()
    }

    fn try_next(&mut self) -> Poll<Option<Result<S::Out, PipeError>>> {
        if self.taken.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(self.take_next())
        }
    }

    fn position(&self) -> Option<Position> {
        self.position.clone()
    }

    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.filtered)
    }

    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        if self.reading {
            *self
                .commit_slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(upto);
            return Ok(());
        }
        let Some(thread) = &self.thread else {
            return Ok(());
        };
        thread
            .call(None, |s, p| p.call(|| caught(|| s.commit(upto))))
            .await
            .unwrap_or_else(|_| Err(PipeError::msg("the source's thread is gone")))
    }

    fn stop(&mut self) {
        self.handoff.close();
        self.handoff.take_ready(&mut self.taken);
        self.reading = false;
    }

    fn next_read(&mut self) -> Option<Result<S::Out, PipeError>> {
        self.take_next()
    }

    async fn close(&mut self) -> Result<(), PipeError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        thread
            .call(None, |s, p| p.call(|| caught(|| s.close())))
            .await
            .unwrap_or_else(|_| Err(PipeError::msg("the source's thread is gone")))
    }
}

impl<S: SyncSource> Drop for ThreadSource<S> {
    fn drop(&mut self) {
        // A reader waiting for room gives up; one blocked in `next` stops after it returns.
        self.handoff.close();
    }
}

/// Writes `items` on the sink's thread: how many were written, and the first error with the items not tried.
#[allow(clippy::type_complexity, reason = "a private helper's plain tuple")]
fn write_on_thread<S: SyncSink>(
    s: &mut S,
    p: &Progress,
    items: Vec<S::In>,
) -> (usize, Option<(PipeError, Vec<S::In>)>) {
    let mut items = items.into_iter();
    let mut count = 0;
    while let Some(item) = items.next() {
        if let Err(e) = p.call(|| caught(|| s.write(item))) {
            return (count, Some((e, items.collect())));
        }
        count += 1;
    }
    (count, None)
}

/// A [`SyncSink`] on a thread of its own: the task hands it whole runs of items, and gives it up when one call
/// outlives the stage's limit.
pub(crate) struct ThreadSink<S: SyncSink> {
    name: Cow<'static, str>,
    flush_batch: Option<usize>,
    sink: Option<S>,
    thread: Option<OnThread<S>>,
}

impl<S: SyncSink> ThreadSink<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            name: sink.name(),
            flush_batch: sink.flush_batch().map(NonZeroUsize::get),
            sink: Some(sink),
            thread: None,
        }
    }

    async fn call<R: Send + 'static>(
        &mut self,
        what: &str,
        limit: Option<Duration>,
        f: impl FnOnce(&mut S, &Progress) -> R + Send + 'static,
    ) -> Result<R, Fault>
    where
        S: Send + 'static,
    {
        let Some(thread) = &self.thread else {
            return Err(Fault::Failed(PipeError::msg(format!(
                "{what}: the sink is not open"
            ))));
        };
        match thread.call(limit, f).await {
            Ok(r) => Ok(r),
            Err(how) => {
                // A stuck thread is never called again: later calls fail at once.
                self.thread = None;
                Err(lost(what, how))
            }
        }
    }

    /// Writes `items` in one trip to the thread and, with `then_flush` and every write successful, flushes in the
    /// same trip.
    async fn write_run(
        &mut self,
        items: Vec<S::In>,
        limit: Option<Duration>,
        then_flush: bool,
    ) -> (Written<S::In>, Option<Flush>)
    where
        S: Send + 'static,
        S::In: Send + 'static,
    {
        let n = items.len();
        let result = self
            .call("write", limit, move |s, p| {
                let (count, failure) = write_on_thread(s, p, items);
                let flushed =
                    (then_flush && failure.is_none()).then(|| p.call(|| caught(|| s.flush_each())));
                (count, failure, flushed)
            })
            .await;
        match result {
            Ok((count, failure, flushed)) => (
                Written {
                    count,
                    failure: failure.map(|(e, rest)| (Fault::Failed(e), rest)),
                },
                flushed.map(|f| f.map_err(Fault::Failed)),
            ),
            // The items went with the call and did not come back.
            Err(fault) => (
                Written {
                    count: 0,
                    failure: Some((fault, Vec::new())).filter(|_| n > 0),
                },
                None,
            ),
        }
    }
}

impl<S> SinkDriver for ThreadSink<S>
where
    S: SyncSink + Send + 'static,
    S::In: Send + 'static,
{
    type In = S::In;

    fn flush_batch(&self) -> Option<usize> {
        self.flush_batch
    }

    async fn open(&mut self, limit: Option<Duration>) -> Result<(), Fault> {
        if let Some(sink) = self.sink.take() {
            self.thread = Some(OnThread::spawn(&self.name, sink).map_err(Fault::Failed)?);
        }
        self.call("open", limit, |s, p| p.call(|| caught(|| s.open())))
            .await?
            .map_err(Fault::Failed)
    }

    async fn write_many(&mut self, items: Vec<S::In>, limit: Option<Duration>) -> Written<S::In> {
        self.write_run(items, limit, false).await.0
    }

    async fn flush(&mut self, limit: Option<Duration>) -> Result<Vec<Rejected>, Fault> {
        self.call("flush", limit, |s, p| p.call(|| caught(|| s.flush_each())))
            .await?
            .map_err(Fault::Failed)
    }

    async fn write_and_flush(
        &mut self,
        items: Vec<S::In>,
        limit: Option<Duration>,
    ) -> (Written<S::In>, Option<Flush>) {
        self.write_run(items, limit, true).await
    }

    async fn close(&mut self, limit: Option<Duration>) -> Result<(), Fault> {
        let closed = self
            .call("close", limit, |s, p| p.call(|| caught(|| s.close())))
            .await?
            .map_err(Fault::Failed);
        self.thread = None;
        closed
    }
}

//! The tasks of a running pipeline: source, sync and async pipe stages, batching, windows, fan-out, sinks, and
//! the dead-letter sink. Every task receives chunks, works item by item, and sends chunks.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt, stream::FuturesUnordered};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ack::{AckTracker, Position, Tag};
use crate::error::{ErrorKind, PipeError, panic_message};
use crate::pipe::{AsyncPipe, AsyncSink, AsyncSource, Outputs, SyncPipe, SyncSink, SyncSource};
use crate::window::{Domain, Engine, Window, WindowTime, Windows};

use super::Item;
use super::wiring::{Chunk, ChunkRx, ChunkTx, DeadMsg, StageCtx};

/// A pipe that panicked, as a permanent error of that pipe.
fn panic_error(payload: &(dyn std::any::Any + Send), name: &str) -> PipeError {
    PipeError::with_message(
        name.to_owned(),
        ErrorKind::Permanent,
        format!("panicked: {}", panic_message(payload)),
        None,
    )
}

/// Sends `out` (if not empty), counting it as output. `false`: the receiver is gone.
async fn send_out<T>(tx: &ChunkTx<T>, out: &mut Chunk<T>, ctx: &StageCtx) -> bool {
    if out.is_empty() {
        return true;
    }
    // The next chunk gets room for as many items as this one had: exact in a steady stream, and no large
    // allocation for chunks that carry few (big) items.
    let c = out.take(out.len().min(tx.chunk_max()));
    ctx.stats.add_out(c.len());
    tx.send(c).await
}

/// Calls `open`, reports to the gate; on `false` the part must not run (it was closed if it had opened).
macro_rules! open_or_return {
    ($ctx:expr, $open:expr, $close:expr) => {{
        let result = $open;
        let ok = result.is_ok();
        if !$ctx.opened(result).await {
            if ok {
                $ctx.closed($close);
            }
            return;
        }
    }};
}

// ---------------------------------------------------------------------------------------------------------
// Sources

/// A source as the source task sees it.
pub(crate) trait SourceDriver: Send + 'static {
    type Out: Item;
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Out, PipeError>>> + Send;
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
    fn position(&self) -> Option<Position>;
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send;
}

/// An [`AsyncSource`], run on the async workers.
pub(crate) struct AsyncDriver<S>(pub(crate) S);

impl<S> SourceDriver for AsyncDriver<S>
where
    S: AsyncSource + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn next(&mut self) -> impl Future<Output = Option<Result<S::Out, PipeError>>> + Send {
        self.0.next()
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.open()
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.close()
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.commit(upto)
    }
}

/// A [`SyncSource`], run on a thread of the blocking pool.
pub(crate) struct SyncDriver<S>(pub(crate) S);

impl<S> SourceDriver for SyncDriver<S>
where
    S: SyncSource + Send + 'static,
    S::Out: Item,
{
    type Out = S::Out;
    fn next(&mut self) -> impl Future<Output = Option<Result<S::Out, PipeError>>> + Send {
        std::future::ready(self.0.next())
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.open())
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.close())
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    fn commit(&mut self, upto: Position) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.commit(upto))
    }
}

/// The positions of the items in flight, by sequence number.
#[derive(Default)]
struct Positions(VecDeque<(u64, Position)>);

impl Positions {
    /// Commits the position of the last item below sequence number `low`, if that moved.
    async fn commit_below<D: SourceDriver>(&mut self, d: &mut D, low: u64, ctx: &StageCtx) {
        let mut upto = None;
        while self.0.front().is_some_and(|(seq, _)| *seq < low) {
            upto = self.0.pop_front().map(|(_, p)| p);
        }
        if let Some(p) = upto
            && let Err(e) = d.commit(p).await
        {
            ctx.stats.add_error();
            tracing::warn!(error = %e.or_pipe(ctx.name.clone()), "commit failed");
        }
    }
}

/// Reads the source into chunks until it is exhausted, the pipeline stops, or shutdown is requested; then
/// commits what the sinks acknowledge (positioned sources) and closes the source.
pub(crate) async fn source_task<D: SourceDriver>(mut d: D, tx: ChunkTx<D::Out>, ctx: StageCtx) {
    open_or_return!(ctx, d.open().await, d.close().await);
    let max = tx.chunk_max();
    // The first item decides whether the source has positions; only then are items tracked.
    let mut tracker: Option<Arc<AckTracker>> = None;
    let mut first = true;
    let mut positions = Positions::default();
    let mut chunk = Chunk::with_capacity(max);
    let stop = ctx.shared.stop.clone();
    let halt = ctx.shared.halt.clone();
    'run: loop {
        if ctx.shared.is_stopped() {
            ctx.shared
                .cancelled
                .store(true, std::sync::atomic::Ordering::Relaxed);
            break;
        }
        if ctx.shared.is_halted() {
            break;
        }
        if let Some(t) = &tracker {
            positions
                .commit_below(&mut d, t.low_watermark(), &ctx)
                .await;
        }
        let next = {
            let fut = d.next();
            tokio::pin!(fut);
            match futures::poll!(fut.as_mut()) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    // Nothing ready: let the next stage work on what we have while we wait.
                    ctx.stats.add_in(chunk.len());
                    if !send_out(&tx, &mut chunk, &ctx).await {
                        break 'run;
                    }
                    tokio::select! {
                        biased;
                        () = halt.cancelled() => break 'run,
                        () = stop.cancelled() => {
                            ctx.shared.mark_stopped();
                            continue 'run;
                        }
                        next = fut => next,
                    }
                }
            }
        };
        let Some(next) = next else { break };
        let position = d.position();
        if std::mem::take(&mut first) && position.is_some() {
            tracker = ctx.shared.tracker.clone();
        }
        let tag = match (&tracker, position) {
            (Some(t), Some(p)) => {
                let seq = t.register(1);
                positions.0.push_back((seq, p));
                Some(Tag::One(seq))
            }
            _ => None,
        };
        match next {
            Ok(item) => {
                chunk.push(item, tag);
                if chunk.len() >= max {
                    ctx.stats.add_in(chunk.len());
                    if !send_out(&tx, &mut chunk, &ctx).await {
                        break;
                    }
                }
            }
            Err(e) => {
                ctx.stats.add_in(1);
                if !ctx.fail_item::<()>(e, None, tag).await {
                    break;
                }
            }
        }
    }
    if !ctx.shared.is_halted() {
        ctx.stats.add_in(chunk.len());
        send_out(&tx, &mut chunk, &ctx).await;
    }
    drop(tx);
    if let Some(t) = &tracker {
        // Everything is read: commit as the rest of the pipeline acknowledges, until all is done.
        loop {
            positions
                .commit_below(&mut d, t.low_watermark(), &ctx)
                .await;
            if t.all_done() || ctx.shared.is_halted() || ctx.shared.drained.is_cancelled() {
                break;
            }
            tokio::select! {
                () = t.changed() => {}
                () = halt.cancelled() => {}
                () = ctx.shared.drained.cancelled() => {}
            }
        }
        positions
            .commit_below(&mut d, t.low_watermark(), &ctx)
            .await;
    }
    ctx.closed(d.close().await);
}

// ---------------------------------------------------------------------------------------------------------
// Pipes

fn call_sync<P: SyncPipe>(
    pipe: &P,
    item: P::In,
    out: &mut Vec<P::Out>,
    name: &str,
) -> Result<(), PipeError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| pipe.process_each(item, out))) {
        Ok(r) => r,
        Err(payload) => Err(panic_error(payload.as_ref(), name)),
    }
}

/// A sync pipe inline on its task: the hot path. Outputs go straight into the outgoing chunk.
pub(crate) async fn sync_stage<P>(
    mut pipe: P,
    mut rx: ChunkRx<P::In>,
    tx: ChunkTx<P::Out>,
    ctx: StageCtx,
) where
    P: SyncPipe + Send + 'static,
    P::In: Item,
    P::Out: Item,
{
    open_or_return!(ctx, pipe.open(), pipe.close());
    let max = tx.chunk_max();
    let keep = ctx.keeps_copies();
    let mut out = Chunk::with_capacity(max);
    'run: while let Some(chunk) = ctx.recv(&mut rx).await {
        let n = chunk.len();
        ctx.stats.add_in(n);
        let started = Instant::now();
        for (item, tag) in chunk.into_pairs() {
            let before = out.items.len();
            let copy = if keep { Some(item.clone()) } else { None };
            let mut result = call_sync(&pipe, item, &mut out.items, &ctx.name);
            let mut retries = 0;
            while let Err(e) = &result {
                if !ctx.retry.should_retry(e, retries) {
                    break;
                }
                let Some(again) = copy.clone() else { break };
                out.items.truncate(before);
                retries += 1;
                tokio::time::sleep(ctx.retry.delay(retries)).await;
                result = call_sync(&pipe, again, &mut out.items, &ctx.name);
            }
            ctx.stats.add_retries(retries);
            match result {
                Ok(()) => {
                    if let Some(tag) = tag {
                        ctx.settle(tag, out.items.len() - before, &mut out.tags);
                    }
                }
                Err(e) => {
                    out.items.truncate(before);
                    if !ctx.fail_item(e, copy, tag).await {
                        break 'run;
                    }
                }
            }
            if out.len() >= max && !send_out(&tx, &mut out, &ctx).await {
                break 'run;
            }
        }
        ctx.stats.record_latency(started.elapsed(), n);
        if rx.is_empty() && !send_out(&tx, &mut out, &ctx).await {
            break;
        }
    }
    // Items that passed before a failure still go on (a halted receiver simply drops them).
    send_out(&tx, &mut out, &ctx).await;
    drop(tx);
    ctx.closed(pipe.close());
}

/// One call of an async pipe, with timeout and panic capture.
async fn attempt<P: AsyncPipe>(
    pipe: &P,
    input: P::In,
    ctx: &StageCtx,
) -> Result<Outputs<P::Out>, PipeError> {
    let mut out = Outputs::new();
    let result = {
        let call = AssertUnwindSafe(pipe.process_each(input, &mut out)).catch_unwind();
        match ctx.timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(PipeError::with_message(
                        ctx.name.clone(),
                        ErrorKind::Transient,
                        format!("timed out after {limit:?}"),
                        None,
                    ));
                }
            },
            None => call.await,
        }
    };
    match result {
        Ok(Ok(())) => Ok(out),
        Ok(Err(e)) => Err(e.or_pipe(ctx.name.clone())),
        Err(payload) => Err(panic_error(payload.as_ref(), &ctx.name)),
    }
}

/// The outcome of one item: its outputs or error, the copy kept for the error policy, the retries made.
type Done<I, O> = (Result<Outputs<O>, PipeError>, Option<I>, u32);

/// A finished item with its tag.
type Finished<I, O> = (Done<I, O>, Option<Tag>);

/// Calls an async pipe with the stage's retry policy.
async fn call_async<P: AsyncPipe>(pipe: &P, item: P::In, ctx: &StageCtx) -> Done<P::In, P::Out>
where
    P::In: Item,
{
    let copy = ctx.keeps_copies().then(|| item.clone());
    let mut retries = 0;
    let mut result = attempt(pipe, item, ctx).await;
    loop {
        match result {
            Ok(out) => return (Ok(out), copy, retries),
            Err(e) => {
                if ctx.retry.should_retry(&e, retries)
                    && let Some(again) = copy.clone()
                {
                    retries += 1;
                    tokio::time::sleep(ctx.retry.delay(retries)).await;
                    result = attempt(pipe, again, ctx).await;
                    continue;
                }
                return (Err(e), copy, retries);
            }
        }
    }
}

/// Puts the outcome of one item into `out` or hands it to the error policy. `false`: stop the stage.
async fn finish<I: Item, O>(
    done: Done<I, O>,
    tag: Option<Tag>,
    out: &mut Chunk<O>,
    ctx: &StageCtx,
) -> bool {
    let (result, copy, retries) = done;
    ctx.stats.add_retries(retries);
    match result {
        Ok(outputs) => {
            let before = out.items.len();
            out.items.extend(outputs);
            if let Some(tag) = tag {
                ctx.settle(tag, out.items.len() - before, &mut out.tags);
            }
            true
        }
        Err(e) => ctx.fail_item(e, copy, tag).await,
    }
}

/// An async pipe (or a sync pipe moved to the blocking pool), `concurrency` items at a time.
pub(crate) async fn async_stage<P>(
    mut pipe: P,
    mut rx: ChunkRx<P::In>,
    tx: ChunkTx<P::Out>,
    ctx: StageCtx,
    concurrency: usize,
    ordered: bool,
) where
    P: AsyncPipe + 'static,
    P::In: Item,
    P::Out: Item,
{
    open_or_return!(ctx, pipe.open().await, pipe.close().await);
    let mut out = Chunk::with_capacity(tx.chunk_max());
    if concurrency <= 1 {
        sequential(&pipe, &mut rx, &tx, &ctx, &mut out).await;
    } else {
        concurrent(&pipe, &mut rx, &tx, &ctx, &mut out, concurrency, ordered).await;
    }
    send_out(&tx, &mut out, &ctx).await;
    drop(tx);
    ctx.closed(pipe.close().await);
}

async fn sequential<P>(
    pipe: &P,
    rx: &mut ChunkRx<P::In>,
    tx: &ChunkTx<P::Out>,
    ctx: &StageCtx,
    out: &mut Chunk<P::Out>,
) where
    P: AsyncPipe,
    P::In: Item,
    P::Out: Item,
{
    let max = tx.chunk_max();
    'run: while let Some(chunk) = ctx.recv(rx).await {
        let n = chunk.len();
        ctx.stats.add_in(n);
        let started = Instant::now();
        for (item, tag) in chunk.into_pairs() {
            let fut = call_async(pipe, item, ctx);
            tokio::pin!(fut);
            let done = match futures::poll!(fut.as_mut()) {
                Poll::Ready(done) => done,
                Poll::Pending => {
                    // The call waits: pass on what is ready first.
                    if !send_out(tx, out, ctx).await {
                        break 'run;
                    }
                    fut.await
                }
            };
            if !finish(done, tag, out, ctx).await {
                break 'run;
            }
            if out.len() >= max && !send_out(tx, out, ctx).await {
                break 'run;
            }
        }
        ctx.stats.record_latency(started.elapsed(), n);
        if rx.is_empty() && !send_out(tx, out, ctx).await {
            break;
        }
    }
}

async fn concurrent<P>(
    pipe: &P,
    rx: &mut ChunkRx<P::In>,
    tx: &ChunkTx<P::Out>,
    ctx: &StageCtx,
    out: &mut Chunk<P::Out>,
    concurrency: usize,
    ordered: bool,
) where
    P: AsyncPipe,
    P::In: Item,
    P::Out: Item,
{
    let max = tx.chunk_max();
    let call = |seq: u64, item: P::In, tag: Option<Tag>| async move {
        let started = Instant::now();
        let done = call_async(pipe, item, ctx).await;
        ctx.stats.record_latency(started.elapsed(), 1);
        (seq, done, tag)
    };
    let mut pending: VecDeque<(P::In, Option<Tag>)> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    // Ordered mode: finished items wait here until all earlier ones are finished.
    let mut waiting: BTreeMap<u64, Finished<P::In, P::Out>> = BTreeMap::new();
    let (mut next_seq, mut next_out) = (0u64, 0u64);
    let mut input_open = true;
    loop {
        if ctx.halted() {
            break;
        }
        while running.len() + waiting.len() < concurrency {
            let Some((item, tag)) = pending.pop_front() else {
                break;
            };
            running.push(call(next_seq, item, tag));
            next_seq += 1;
        }
        if running.is_empty() && pending.is_empty() && !input_open {
            break;
        }
        // Make progress without waiting if possible; send the outgoing chunk only before waiting.
        let finished = if running.is_empty() {
            None
        } else {
            match futures::poll!(running.next()) {
                Poll::Ready(f) => f,
                Poll::Pending => None,
            }
        };
        let finished = match finished {
            Some(f) => Some(f),
            None => {
                if input_open
                    && pending.is_empty()
                    && let Some(c) = rx.try_recv()
                {
                    ctx.stats.add_in(c.len());
                    pending.extend(c.into_pairs());
                    continue;
                }
                if !send_out(tx, out, ctx).await {
                    break;
                }
                tokio::select! {
                    f = running.next(), if !running.is_empty() => f,
                    c = ctx.recv(rx), if input_open && pending.is_empty() => {
                        match c {
                            Some(c) => {
                                ctx.stats.add_in(c.len());
                                pending.extend(c.into_pairs());
                            }
                            None => input_open = false,
                        }
                        None
                    }
                    else => None,
                }
            }
        };
        let Some((seq, done, tag)) = finished else {
            continue;
        };
        if ordered {
            waiting.insert(seq, (done, tag));
            while let Some((done, tag)) = waiting.remove(&next_out) {
                next_out += 1;
                if !finish(done, tag, out, ctx).await {
                    return;
                }
            }
        } else if !finish(done, tag, out, ctx).await {
            return;
        }
        if out.len() >= max && !send_out(tx, out, ctx).await {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Batches and windows

enum Event<T> {
    Input(Option<Chunk<T>>),
    Timer,
}

/// Groups items into `Vec`s of `size`, sending a partial batch when `max_wait` has passed since its first item.
pub(crate) async fn batch_stage<T: Item>(
    mut rx: ChunkRx<T>,
    tx: ChunkTx<Vec<T>>,
    ctx: StageCtx,
    size: usize,
    max_wait: Option<Duration>,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    // Items carry tags when the source gives positions (decided by its first item, so by every chunk alike).
    let mut tracked = false;
    let max = tx.chunk_max();
    let mut out = Chunk::with_capacity(max);
    let mut batch: Vec<T> = Vec::with_capacity(size);
    let mut seqs: Vec<u64> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let emit = |batch: &mut Vec<T>, seqs: &mut Vec<u64>, out: &mut Chunk<Vec<T>>, tracked: bool| {
        if !batch.is_empty() {
            let full = std::mem::replace(batch, Vec::with_capacity(size));
            out.push(full, tracked.then(|| Tag::Many(std::mem::take(seqs))));
        }
    };
    loop {
        let event = tokio::select! {
            biased;
            c = ctx.recv(&mut rx) => Event::Input(c),
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                Event::Timer
            }
        };
        match event {
            Event::Input(None) => break,
            Event::Input(Some(mut chunk)) => {
                ctx.stats.add_in(chunk.len());
                tracked |= !chunk.tags.is_empty();
                if batch.is_empty() && chunk.len() == size && !tracked {
                    // A chunk that is exactly one batch becomes the batch, without copying.
                    out.push(std::mem::take(&mut chunk.items), None);
                }
                for (item, tag) in chunk.into_pairs() {
                    if batch.is_empty() {
                        deadline = max_wait.map(|w| Instant::now() + w);
                    }
                    batch.push(item);
                    if let Some(tag) = tag {
                        tag.extend_into(&mut seqs);
                    }
                    if batch.len() >= size {
                        emit(&mut batch, &mut seqs, &mut out, tracked);
                        deadline = None;
                    }
                }
                if (out.len() >= max || rx.is_empty()) && !send_out(&tx, &mut out, &ctx).await {
                    return;
                }
            }
            Event::Timer => {
                emit(&mut batch, &mut seqs, &mut out, tracked);
                deadline = None;
                if !send_out(&tx, &mut out, &ctx).await {
                    return;
                }
            }
        }
    }
    if !ctx.halted() {
        emit(&mut batch, &mut seqs, &mut out, tracked);
        send_out(&tx, &mut out, &ctx).await;
    }
}

fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Cuts the stream into windows; see [`crate::window`].
pub(crate) async fn window_stage<T: Item>(
    mut rx: ChunkRx<T>,
    tx: ChunkTx<Window<T>>,
    ctx: StageCtx,
    spec: Windows<T>,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let mut tracked = false;
    let processing = matches!(spec.domain, Domain::Processing);
    let origin = Instant::now();
    let mut engine = Engine::new(spec.shape, spec.lateness);
    let (mut index, mut watermark) = (0u64, 0u64);
    let mut out = Chunk::with_capacity(tx.chunk_max());
    let bound = |t: u64| match spec.domain {
        Domain::Count => WindowTime::Index(t),
        Domain::Processing => WindowTime::Elapsed(Duration::from_nanos(t)),
        Domain::Event(_) => WindowTime::Event(UNIX_EPOCH + Duration::from_nanos(t)),
    };
    let emit =
        |closed: Vec<crate::window::Closed<T>>, out: &mut Chunk<Window<T>>, tracked: bool| {
            for c in closed {
                let w = Window::new(bound(c.start), bound(c.end), c.items);
                out.push(w, tracked.then_some(Tag::Many(c.tags)));
            }
        };
    loop {
        let deadline = if processing {
            engine
                .next_close()
                .map(|c| origin + Duration::from_nanos(c))
        } else {
            None
        };
        let event = tokio::select! {
            biased;
            c = ctx.recv(&mut rx) => Event::Input(c),
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                Event::Timer
            }
        };
        match event {
            Event::Input(None) => break,
            Event::Input(Some(chunk)) => {
                ctx.stats.add_in(chunk.len());
                tracked |= !chunk.tags.is_empty();
                for (item, tag) in chunk.into_pairs() {
                    let t = match &spec.domain {
                        Domain::Count => {
                            index += 1;
                            index - 1
                        }
                        Domain::Processing => ticks(origin.elapsed()),
                        Domain::Event(at) => ticks(
                            at(&item)
                                .duration_since(SystemTime::UNIX_EPOCH)
                                .unwrap_or_default(),
                        ),
                    };
                    if processing {
                        emit(engine.close_upto(t), &mut out, tracked);
                    }
                    let mut seqs = Vec::new();
                    if let Some(tag) = &tag {
                        tag.clone().extend_into(&mut seqs);
                    }
                    match engine.push(item, &seqs, t, watermark) {
                        Ok(joined) => {
                            if let (Some(tracker), Some(tag)) = (ctx.tracker(), tag) {
                                match joined {
                                    0 => tracker.ack([tag]),
                                    n => tracker
                                        .retain(&tag, u32::try_from(n - 1).unwrap_or(u32::MAX)),
                                }
                            }
                        }
                        Err(item) => {
                            let err = PipeError::with_message(
                                ctx.name.clone(),
                                ErrorKind::Permanent,
                                "late item: every window it belongs to is closed already",
                                None,
                            );
                            if !ctx.fail_item(err, Some(item), tag).await {
                                return;
                            }
                        }
                    }
                    watermark = match spec.domain {
                        Domain::Count => t + 1,
                        Domain::Processing => t,
                        Domain::Event(_) => watermark.max(t),
                    };
                    if !processing {
                        emit(engine.close_upto(watermark), &mut out, tracked);
                    }
                }
                if rx.is_empty() && !send_out(&tx, &mut out, &ctx).await {
                    return;
                }
            }
            Event::Timer => {
                emit(
                    engine.close_upto(ticks(origin.elapsed())),
                    &mut out,
                    tracked,
                );
                if !send_out(&tx, &mut out, &ctx).await {
                    return;
                }
            }
        }
    }
    if !ctx.halted() {
        emit(engine.close_all(), &mut out, tracked);
        send_out(&tx, &mut out, &ctx).await;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sinks

/// A sink as the sink task sees it.
pub(crate) trait SinkDriver: Send + 'static {
    type In: Send + 'static;
    fn write(&mut self, item: Self::In) -> impl Future<Output = Result<(), PipeError>> + Send;
    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send;
}

/// An [`AsyncSink`].
pub(crate) struct AsyncSinkDriver<S>(pub(crate) S);

impl<S: AsyncSink + 'static> SinkDriver for AsyncSinkDriver<S> {
    type In = S::In;
    fn write(&mut self, item: S::In) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.write(item)
    }
    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.flush()
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.open()
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        self.0.close()
    }
}

/// A [`SyncSink`], run on a thread of the blocking pool.
pub(crate) struct SyncSinkDriver<S>(pub(crate) S);

impl<S> SinkDriver for SyncSinkDriver<S>
where
    S: SyncSink + Send + 'static,
    S::In: Send + 'static,
{
    type In = S::In;
    fn write(&mut self, item: S::In) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.write(item))
    }
    fn flush(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.flush())
    }
    fn open(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.open())
    }
    fn close(&mut self) -> impl Future<Output = Result<(), PipeError>> + Send {
        std::future::ready(self.0.close())
    }
}

/// Marks a terminal task finished when dropped (also on panic or abort).
struct TerminalGuard(Arc<super::wiring::Shared>);

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.0.terminal_done();
    }
}

async fn write_once<D: SinkDriver>(
    d: &mut D,
    item: D::In,
    ctx: &StageCtx,
) -> Result<(), PipeError> {
    match AssertUnwindSafe(d.write(item)).catch_unwind().await {
        Ok(r) => r.map_err(|e| e.or_pipe(ctx.name.clone())),
        Err(payload) => Err(panic_error(payload.as_ref(), &ctx.name)),
    }
}

/// Flushes `d` and acknowledges what it had taken. `false`: the flush failed and the pipeline stops.
async fn flush<D: SinkDriver>(d: &mut D, unflushed: &mut Vec<Tag>, ctx: &StageCtx) -> bool {
    match d.flush().await {
        Ok(()) => {
            if let Some(t) = ctx.tracker() {
                t.ack(unflushed.drain(..));
            }
            true
        }
        Err(e) => {
            ctx.stats.add_error();
            ctx.shared.fail(e.or_pipe(ctx.name.clone()));
            false
        }
    }
}

/// Writes every item, flushing whenever the input runs dry (and at least every `buffer_size` items); items
/// are acknowledged after the flush that follows their write.
pub(crate) async fn sink_task<D>(mut d: D, mut rx: ChunkRx<D::In>, ctx: StageCtx)
where
    D: SinkDriver,
    D::In: Item,
{
    let _terminal = TerminalGuard(Arc::clone(&ctx.shared));
    open_or_return!(ctx, d.open().await, d.close().await);
    let keep = ctx.keeps_copies();
    let flush_every = ctx.shared.cfg.buffer_size.get();
    let mut unflushed: Vec<Tag> = Vec::new();
    let mut since_flush = 0usize;
    let mut healthy = true;
    'run: while let Some(chunk) = ctx.recv(&mut rx).await {
        let n = chunk.len();
        ctx.stats.add_in(n);
        let started = Instant::now();
        let mut written = 0;
        for (item, tag) in chunk.into_pairs() {
            let copy = if keep { Some(item.clone()) } else { None };
            let mut result = write_once(&mut d, item, &ctx).await;
            let mut retries = 0;
            while let Err(e) = &result {
                if !ctx.retry.should_retry(e, retries) {
                    break;
                }
                let Some(again) = copy.clone() else { break };
                retries += 1;
                tokio::time::sleep(ctx.retry.delay(retries)).await;
                result = write_once(&mut d, again, &ctx).await;
            }
            ctx.stats.add_retries(retries);
            match result {
                Ok(()) => {
                    written += 1;
                    since_flush += 1;
                    if let Some(tag) = tag {
                        unflushed.push(tag);
                    }
                }
                Err(e) => {
                    if !ctx.fail_item(e, copy, tag).await {
                        ctx.stats.add_out(written);
                        break 'run;
                    }
                }
            }
        }
        ctx.stats.add_out(written);
        ctx.stats.record_latency(started.elapsed(), n);
        if rx.is_empty() || since_flush >= flush_every {
            since_flush = 0;
            if !flush(&mut d, &mut unflushed, &ctx).await {
                healthy = false;
                break;
            }
        }
    }
    if healthy {
        flush(&mut d, &mut unflushed, &ctx).await;
    }
    ctx.closed(d.close().await);
}

/// Copies every chunk to each sink (the last one gets the original).
pub(crate) async fn fan_out<T: Item>(mut rx: ChunkRx<T>, txs: Vec<ChunkTx<T>>, ctx: StageCtx) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let extra = u32::try_from(txs.len().saturating_sub(1)).unwrap_or(u32::MAX);
    while let Some(chunk) = ctx.recv(&mut rx).await {
        if let Some(t) = ctx.tracker() {
            for tag in &chunk.tags {
                t.retain(tag, extra);
            }
        }
        let Some((last, rest)) = txs.split_last() else {
            return;
        };
        for tx in rest {
            let copy = Chunk {
                items: chunk.items.clone(),
                tags: chunk.tags.clone(),
            };
            tx.send(copy).await;
        }
        ctx.stats.add_in(chunk.len());
        ctx.stats.add_out(chunk.len());
        last.send(chunk).await;
    }
}

/// Writes dead letters; they are acknowledged once written and flushed. A failing dead-letter sink stops the
/// pipeline; letters that arrive after that are dropped (and not acknowledged).
pub(crate) async fn dead_letter_task<D>(mut d: D, mut rx: mpsc::Receiver<DeadMsg>, ctx: StageCtx)
where
    D: SinkDriver<In = super::DeadLetter>,
{
    let _terminal = TerminalGuard(Arc::clone(&ctx.shared));
    let opened = d.open().await;
    let ok = opened.is_ok();
    let mut healthy = ctx.opened(opened).await;
    let mut unflushed = Vec::new();
    while let Some((letter, tag)) = rx.recv().await {
        if !healthy {
            continue;
        }
        ctx.stats.add_in(1);
        match write_once(&mut d, letter, &ctx).await {
            Ok(()) => {
                ctx.stats.add_out(1);
                unflushed.extend(tag);
            }
            Err(e) => {
                ctx.stats.add_error();
                ctx.shared.fail(e);
                healthy = false;
                continue;
            }
        }
        if rx.is_empty() && !flush(&mut d, &mut unflushed, &ctx).await {
            healthy = false;
        }
    }
    if healthy {
        flush(&mut d, &mut unflushed, &ctx).await;
    }
    if ok {
        ctx.closed(d.close().await);
    }
}

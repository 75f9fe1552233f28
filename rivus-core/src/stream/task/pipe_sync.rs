//! A sync pipe's stage: inline on its task (the hot path), or, with `concurrency > 1` or `blocking`, on
//! workers that each take a whole chunk, kept in input order by chunk sequence where the stage is `ordered`.
//!
//! Both run [`process_chunk`], which works one chunk and *reports* what happened (outputs, counts, letters to
//! send, the failing item) without touching the run: the stage applies reports in order, so a fail-fast stop
//! is the same whatever the workers' timing — the outputs before the failing item go on, the rest of the
//! chunk and every later chunk are not processed.
//!
//! A retry's backoff ends when the stage is halted (an abort, or a fail-fast cut after it), and a worker looks
//! before each item whether it was: a stopping run does not wait out a backoff, and a worker that an aborted
//! run left behind (its task is aborted with the stage's, but a blocking thread cannot be) makes no more calls.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::{Remains, Retrying, StageCtx, StagePolicy, open_or_return, panic_error};
use crate::error::PipeError;
use crate::metrics::Delta;
use crate::pipe::SyncPipe;
use crate::stream::Item;
use crate::stream::acks::Tag;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx, Settled};
use crate::stream::dead_letter::DeadLetter;
use crate::stream::state::Run;

/// What one chunk did.
pub(crate) struct Report {
    /// The weight of the chunk's inputs (to count them all as not processed when the report is dropped).
    input: u64,
    delta: Delta,
    acks: Vec<Tag>,
    letters: Vec<(DeadLetter, crate::stream::channel::ItemMeta)>,
    /// The error that stops the run, and the weight of the inputs after the failing one.
    fatal: Option<(PipeError, u64)>,
    /// The stage was halted before an item ended (a worker looks between items; a retry's backoff ends): the
    /// weight of that item and the ones after it, not processed here.
    halted: Option<u64>,
}

/// One call, with panic capture; outputs go to `out`.
#[inline]
fn call<P: SyncPipe>(pipe: &P, item: P::In, out: &mut Vec<P::Out>) -> Result<(), PipeError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| pipe.process_each(item, out))) {
        Ok(r) => r,
        Err(payload) => Err(panic_error(payload.as_ref(), "")),
    }
}

/// Runs `pipe` over `chunk` for the stage at `index` of `run`, pushing outputs to `out`; see the
/// [module docs](self). A worker (`on_worker`) looks before each item whether the stage was halted: its chunk
/// may outlive its stage's task (an abort), and the inline stage's hot path does not pay for the look.
pub(crate) async fn process_chunk<P>(
    pipe: &P,
    chunk: Chunk<P::In>,
    policy: &StagePolicy,
    (run, index, on_worker): (&Run, usize, bool),
    out: &mut Chunk<P::Out>,
) -> Report
where
    P: SyncPipe,
    P::In: Item,
{
    let input = chunk.weight();
    let keep = policy.keeps_copies();
    let mut report = Report {
        input,
        delta: Delta::default(),
        acks: Vec::new(),
        letters: Vec::new(),
        fatal: None,
        halted: None,
    };
    let len = chunk.len();
    let mut metas = chunk.meta.into_items(len);
    for item in chunk.items {
        let Some(meta) = metas.next() else { break };
        if on_worker && run.state().halts(index) {
            let (rest, _tags) = metas.rest();
            report.halted = Some(meta.weight + rest);
            break;
        }
        let before = out.len();
        let copy = if keep { Some(item.clone()) } else { None };
        let mut result = call(pipe, item, &mut out.items);
        if result.is_err() && copy.is_some() {
            // Retries (rare) go through a buffer of their own, so a failed attempt leaves nothing behind.
            out.items.truncate(before);
            let mut retrying = Retrying::new(&policy.retry, (run, index));
            while let Err(e) = &result
                && retrying.again(e).await
                && let Some(again) = copy.clone()
            {
                let mut outputs = Vec::new();
                result = call(pipe, again, &mut outputs).map(|()| out.items.extend(outputs));
            }
            report.delta.retries += u64::from(retrying.retries());
            if retrying.halted() {
                // Its tag and the later ones stay unacknowledged.
                let (rest, _tags) = metas.rest();
                report.halted = Some(meta.weight + rest);
                break;
            }
        }
        match result {
            Ok(()) => match out.settle_outputs(before, meta, Some(&run.tracker)) {
                Settled::Filtered(meta) => {
                    report.delta.filtered += meta.weight;
                    report.acks.extend(meta.tag);
                }
                Settled::Passed { expanded } => report.delta.expanded += expanded,
            },
            Err(e) => {
                out.items.truncate(before);
                match policy
                    .judge(e, copy)
                    .account(meta, &mut report.delta, &mut report.acks)
                {
                    Remains::Nothing => {}
                    Remains::Letter(letter, meta) => report.letters.push((letter, meta)),
                    Remains::Fatal(err) => {
                        let (rest, _tags) = metas.rest();
                        report.fatal = Some((err, rest));
                        break;
                    }
                }
            }
        }
    }
    report
}

/// Applies a chunk's report; `false` when the stage must stop (a fail-fast error, or the dead-letter sink is
/// gone). The outputs of the chunk are in `out` already.
async fn apply(ctx: &StageCtx, report: Report) -> bool {
    let Report {
        delta,
        acks,
        letters,
        fatal,
        halted,
        ..
    } = report;
    let mut delta = delta;
    if let Some((_, rest)) = &fatal {
        ctx.stopped_into(&mut delta, *rest);
    }
    if let Some(rest) = halted {
        ctx.stopped_into(&mut delta, rest);
    }
    ctx.stats.apply(&delta);
    ctx.ack(acks);
    for (letter, meta) in letters {
        if !ctx.send_letter(letter, meta).await {
            return false;
        }
    }
    match fatal {
        Some((err, _)) => ctx.carry_out(Remains::Fatal(err)).await,
        None => halted.is_none(),
    }
}

/// Ends the stage: passes on what is ready (or, when halted, counts it as not processed) and gives up the
/// input.
async fn finish<I, O>(ctx: &StageCtx, rx: &mut ChunkRx<I>, tx: &ChunkTx<O>, out: &mut Chunk<O>) {
    if ctx.halted() {
        ctx.stopped_with(out.take(0).abandon());
    } else {
        ctx.send_all(tx, out).await;
    }
    ctx.give_up(rx).await;
}

/// A sync pipe inline on its task: the hot path. Outputs go straight into the outgoing chunk.
pub(crate) async fn inline_stage<P>(
    mut pipe: P,
    mut rx: ChunkRx<P::In>,
    tx: ChunkTx<P::Out>,
    mut ctx: StageCtx,
) where
    P: SyncPipe + Send + 'static,
    P::In: Item,
    P::Out: Item,
{
    open_or_return!(ctx, pipe.open(), pipe.close());
    let max = tx.chunk_max();
    let mut out = Chunk::with_capacity(max);
    while let Some(chunk) = ctx.recv(&mut rx).await {
        let n = chunk.len();
        let started = Instant::now();
        let report = process_chunk(
            &pipe,
            chunk,
            &ctx.policy,
            (&ctx.run, ctx.index, false),
            &mut out,
        )
        .await;
        ctx.stats.record_latency(started.elapsed(), n);
        let fatal = report.fatal.is_some();
        // Halted: what is ready is not sent (`finish` counts it).
        let halted = report.halted.is_some();
        let go_on = apply(&ctx, report).await;
        // Outputs before a failing item still go on: they come before it.
        if !halted
            && (fatal || out.len() >= max || rx.is_empty())
            && !ctx.send_all(&tx, &mut out).await
        {
            break;
        }
        if !go_on {
            break;
        }
    }
    finish(&ctx, &mut rx, &tx, &mut out).await;
    drop(tx);
    ctx.closed(pipe.close());
}

/// A sync pipe on `workers` chunk workers: async tasks, or threads of the blocking pool with `blocking`.
pub(crate) async fn worker_stage<P>(
    mut pipe: P,
    mut rx: ChunkRx<P::In>,
    tx: ChunkTx<P::Out>,
    mut ctx: StageCtx,
    workers: usize,
    ordered: bool,
    blocking: bool,
) where
    P: SyncPipe + Send + Sync + 'static,
    P::In: Item,
    P::Out: Item,
{
    open_or_return!(ctx, pipe.open(), pipe.close());
    let pipe = Arc::new(pipe);
    let (policy, run, stats, index) = (
        Arc::clone(&ctx.policy),
        Arc::clone(&ctx.run),
        Arc::clone(&ctx.stats),
        ctx.index,
    );
    let spawn = |chunk: Chunk<P::In>| {
        let pipe = Arc::clone(&pipe);
        let policy = Arc::clone(&policy);
        let run = Arc::clone(&run);
        let stats = Arc::clone(&stats);
        let work = async move {
            let n = chunk.len();
            let started = Instant::now();
            let mut out = Chunk::with_capacity(n);
            let report = process_chunk(&*pipe, chunk, &policy, (&run, index, true), &mut out).await;
            stats.record_latency(started.elapsed(), n);
            (out, report)
        };
        // Aborted when dropped: an aborted run drops its stage's task, and with it the workers' handles; a
        // worker still queued then never starts, one in a retry's backoff stops there (see process_chunk).
        AbortOnDropHandle::new(if blocking {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || handle.block_on(work))
        } else {
            tokio::spawn(work)
        })
    };
    let mut out = Chunk::with_capacity(tx.chunk_max());
    if ordered {
        let mut running = FuturesOrdered::new();
        dispatch(
            &mut ctx,
            &mut rx,
            &tx,
            &mut out,
            workers,
            &mut running,
            |r, c| {
                r.push_back(spawn(c));
            },
        )
        .await;
    } else {
        let mut running = FuturesUnordered::new();
        dispatch(
            &mut ctx,
            &mut rx,
            &tx,
            &mut out,
            workers,
            &mut running,
            |r, c| {
                r.push(spawn(c));
            },
        )
        .await;
    }
    finish(&ctx, &mut rx, &tx, &mut out).await;
    drop(tx);
    match Arc::try_unwrap(pipe) {
        Ok(mut pipe) => ctx.closed(pipe.close()),
        // A worker that panicked outside a call still holds the pipe; nothing left to close it with.
        Err(_) => {
            tracing::warn!(stage = %ctx.policy.name, "a worker still holds the pipe: not closed")
        }
    }
}

/// A chunk's work, finished: its outputs and report.
type Done<O> = Result<(Chunk<O>, Report), tokio::task::JoinError>;

/// What the dispatcher waited for.
enum Next<I, O> {
    Finished(Option<Done<O>>),
    Input(Option<Chunk<I>>),
}

/// Keeps up to `workers` chunks in work, applies their reports as `running` yields them (in order for
/// `FuturesOrdered`), and after a fail-fast error counts every chunk still in work as not processed.
async fn dispatch<I, O, R>(
    ctx: &mut StageCtx,
    rx: &mut ChunkRx<I>,
    tx: &ChunkTx<O>,
    out: &mut Chunk<O>,
    workers: usize,
    running: &mut R,
    mut push: impl FnMut(&mut R, Chunk<I>),
) where
    I: Item,
    O: Item,
    R: Stream<Item = Done<O>> + Unpin + Len,
{
    let mut input_open = true;
    let mut stopped = false;
    loop {
        let next = if !stopped && input_open && running.len() < workers {
            // Take input while there is room; wait only for input when nothing is in work.
            if running.len() == 0 {
                Next::Input(ctx.recv(rx).await)
            } else {
                tokio::select! {
                    biased;
                    done = running.next() => Next::Finished(done),
                    c = ctx.recv(rx) => Next::Input(c),
                }
            }
        } else {
            Next::Finished(running.next().await)
        };
        match next {
            Next::Input(Some(chunk)) => push(running, chunk),
            Next::Input(None) => input_open = false,
            Next::Finished(None) => break,
            Next::Finished(Some(done)) => {
                if stopped || ctx.halted() {
                    // After a stop, work still in progress comes back unused.
                    if let Ok((_, report)) = done {
                        ctx.stopped_with(report.input);
                    }
                    stopped = true;
                    continue;
                }
                stopped = !settle(ctx, tx, out, done).await;
            }
        }
    }
}

/// Applies one finished chunk; `false` when the stage must stop.
async fn settle<O: Item>(
    ctx: &StageCtx,
    tx: &ChunkTx<O>,
    out: &mut Chunk<O>,
    done: Done<O>,
) -> bool {
    let (produced, report) = match done {
        Ok(done) => done,
        Err(e) => {
            // A worker died outside a pipe call (process_chunk catches the pipe's panics): what its chunk did
            // is unknown, so the run fails.
            ctx.fail(PipeError::from(e));
            return false;
        }
    };
    let fatal = report.fatal.is_some();
    let go_on = apply(ctx, report).await;
    out.append(produced);
    if (fatal || out.len() >= tx.chunk_max()) && !ctx.send_all(tx, out).await {
        return false;
    }
    go_on
}

/// The number of jobs in work.
trait Len {
    fn len(&self) -> usize;
}

impl<T: std::future::Future> Len for FuturesOrdered<T> {
    fn len(&self) -> usize {
        FuturesOrdered::len(self)
    }
}

impl<T: std::future::Future> Len for FuturesUnordered<T> {
    fn len(&self) -> usize {
        FuturesUnordered::len(self)
    }
}

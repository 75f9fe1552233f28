//! An async pipe's stage: one item at a time, or `concurrency` items at once, in input order or as they
//! finish. Each call runs under the stage's time limit (a late call is dropped: a transient error) and its
//! retry policy. Under fail fast, the outputs of the items before the failing one (in input order, for an
//! ordered stage) go on; the items after it are not processed, even when their calls had finished.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::{Retrying, StageCtx, StagePolicy, open_or_return, panic_error};
use crate::error::{ErrorKind, PipeError};
use crate::metrics::Delta;
use crate::pipe::{AsyncPipe, Outputs};
use crate::stream::Item;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx, ItemMeta, Settled};
use crate::stream::state::Run;

/// One call of an async pipe, with the stage's time limit and panic capture.
async fn attempt<P: AsyncPipe>(
    pipe: &P,
    input: P::In,
    policy: &StagePolicy,
) -> Result<Outputs<P::Out>, PipeError> {
    let mut out = Outputs::new();
    let call = AssertUnwindSafe(pipe.process_each(input, &mut out)).catch_unwind();
    let result = match policy.timeout {
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => {
                return Err(PipeError::with_message(
                    policy.name.clone(),
                    ErrorKind::Transient,
                    format!("timed out after {limit:?}"),
                    None,
                ));
            }
        },
        None => call.await,
    };
    match result {
        Ok(Ok(())) => Ok(out),
        Ok(Err(e)) => Err(e),
        Err(payload) => Err(panic_error(payload.as_ref(), "")),
    }
}

/// The outcome of one item: its outputs or error, and the copy kept for the error policy.
struct Outcome<I, O> {
    result: Result<Outputs<O>, PipeError>,
    copy: Option<I>,
    /// The stage was halted while the item waited to be retried: it is not judged (its retries did not run
    /// out), but stopped with.
    halted: bool,
}

/// Calls the pipe with the stage's retry policy; `stage` is the run and the stage's place in it.
async fn call<P>(
    pipe: &P,
    item: P::In,
    policy: &StagePolicy,
    stage: (&Run, usize),
    delta: &mut Delta,
) -> Outcome<P::In, P::Out>
where
    P: AsyncPipe,
    P::In: Item,
{
    let copy = policy.keeps_copies().then(|| item.clone());
    let mut result = attempt(pipe, item, policy).await;
    let mut halted = false;
    if result.is_err() && copy.is_some() {
        let mut retrying = Retrying::new(&policy.retry, stage);
        while let Err(e) = &result
            && retrying.again(e).await
            && let Some(again) = copy.clone()
        {
            result = attempt(pipe, again, policy).await;
        }
        delta.retries += u64::from(retrying.retries());
        halted = retrying.halted();
    }
    Outcome {
        result,
        copy,
        halted,
    }
}

/// Puts one item's outputs into `out`, or hands it to the error policy; `false` when the stage must stop.
async fn settle<I: Item, O>(
    ctx: &StageCtx,
    outcome: Outcome<I, O>,
    meta: ItemMeta,
    out: &mut Chunk<O>,
    delta: &mut Delta,
) -> bool {
    if outcome.halted {
        ctx.stopped_into(delta, meta.weight);
        return false;
    }
    match outcome.result {
        Ok(outputs) => {
            let before = out.len();
            out.items.extend(outputs);
            match out.settle_outputs(before, meta, Some(ctx.tracker())) {
                Settled::Filtered(meta) => {
                    delta.filtered += meta.weight;
                    ctx.ack(meta.tag);
                }
                Settled::Passed { expanded } => delta.expanded += expanded,
            }
            true
        }
        Err(e) => {
            let judged = ctx.policy.judge(e, outcome.copy);
            ctx.settle_failure(judged, meta, delta).await
        }
    }
}

/// An async pipe, `concurrency` items at a time; see the [module docs](self).
pub(crate) async fn async_stage<P>(
    mut pipe: P,
    mut rx: ChunkRx<P::In>,
    tx: ChunkTx<P::Out>,
    mut ctx: StageCtx,
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
        sequential(&pipe, &mut rx, &tx, &mut ctx, &mut out).await;
    } else {
        concurrent(
            &pipe,
            &mut rx,
            &tx,
            &mut ctx,
            &mut out,
            concurrency,
            ordered,
        )
        .await;
    }
    if ctx.halted() {
        ctx.stopped_with(out.take(0).abandon());
    } else {
        ctx.send_all(&tx, &mut out).await;
    }
    ctx.give_up(&mut rx).await;
    drop(tx);
    ctx.closed(pipe.close().await);
}

async fn sequential<P>(
    pipe: &P,
    rx: &mut ChunkRx<P::In>,
    tx: &ChunkTx<P::Out>,
    ctx: &mut StageCtx,
    out: &mut Chunk<P::Out>,
) where
    P: AsyncPipe,
    P::In: Item,
    P::Out: Item,
{
    let max = tx.chunk_max();
    while let Some(chunk) = ctx.recv(rx).await {
        let n = chunk.len();
        let started = Instant::now();
        let mut delta = Delta::default();
        // How the items whose outputs wait in `out` ended: counted before those outputs are sent, so that a
        // report read meanwhile (an abort) never shows outputs without the expansions that made them.
        let mut settled = Delta::default();
        let mut go_on = true;
        let mut items = chunk.into_pairs();
        for (item, meta) in items.by_ref() {
            let done = {
                let fut = call(pipe, item, &ctx.policy, (&ctx.run, ctx.index), &mut delta);
                tokio::pin!(fut);
                match futures::poll!(fut.as_mut()) {
                    Poll::Ready(done) => done,
                    Poll::Pending => {
                        // The call waits: pass on what is ready first.
                        ctx.stats.apply(&std::mem::take(&mut settled));
                        go_on = ctx.send_all(tx, out).await;
                        fut.await
                    }
                }
            };
            if go_on {
                go_on = settle(ctx, done, meta, out, &mut settled).await;
            } else {
                // The next stage went away while the call ran: the item is stopped with, like those after it.
                ctx.stopped_into(&mut delta, meta.weight);
            }
            if go_on && out.len() >= max {
                ctx.stats.apply(&std::mem::take(&mut settled));
                go_on = ctx.send_all(tx, out).await;
            }
            if !go_on {
                break;
            }
        }
        ctx.stats.apply(&settled);
        for (_, meta) in items {
            ctx.stopped_into(&mut delta, meta.weight);
        }
        ctx.stats.apply(&delta);
        ctx.stats.record_latency(started.elapsed(), n);
        if !go_on || (rx.is_empty() && !ctx.send_all(tx, out).await) {
            break;
        }
    }
}

async fn concurrent<P>(
    pipe: &P,
    rx: &mut ChunkRx<P::In>,
    tx: &ChunkTx<P::Out>,
    ctx: &mut StageCtx,
    out: &mut Chunk<P::Out>,
    concurrency: usize,
    ordered: bool,
) where
    P: AsyncPipe,
    P::In: Item,
    P::Out: Item,
{
    type Finished<I, O> = (u64, Outcome<I, O>, ItemMeta, Delta);
    let max = tx.chunk_max();
    let policy = std::sync::Arc::clone(&ctx.policy);
    let stats = std::sync::Arc::clone(&ctx.stats);
    let (run, index) = (std::sync::Arc::clone(&ctx.run), ctx.index);
    let call = |seq: u64, item: P::In, meta: ItemMeta| {
        let (policy, stats, run) = (&policy, &stats, &run);
        async move {
            let started = Instant::now();
            let mut delta = Delta::default();
            let done = call(pipe, item, policy, (run, index), &mut delta).await;
            stats.record_latency(started.elapsed(), 1);
            (seq, done, meta, delta)
        }
    };
    let mut pending: VecDeque<(P::In, ItemMeta)> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    // Ordered mode: finished items wait here until all earlier ones are finished.
    let mut waiting: BTreeMap<u64, Finished<P::In, P::Out>> = BTreeMap::new();
    let (mut next_seq, mut next_out) = (0u64, 0u64);
    let mut input_open = true;
    let mut go_on = true;
    // The weight of the calls in progress, counted as not processed if the stage stops before they end.
    let mut in_flight = 0;
    while go_on && !ctx.halted() {
        while running.len() + waiting.len() < concurrency {
            let Some((item, meta)) = pending.pop_front() else {
                break;
            };
            in_flight += meta.weight;
            running.push(call(next_seq, item, meta));
            next_seq += 1;
        }
        if running.is_empty() && pending.is_empty() && !input_open {
            break;
        }
        // Make progress without waiting if possible; send the outgoing chunk only before waiting.
        let finished = match futures::poll!(running.next()) {
            Poll::Ready(f) => f,
            Poll::Pending => None,
        };
        let finished = match finished {
            Some(f) => Some(f),
            None => {
                if input_open
                    && pending.is_empty()
                    && let Some(c) = rx.try_recv()
                {
                    ctx.stats.add_in(c.weight());
                    pending.extend(c.into_pairs());
                    continue;
                }
                if !ctx.send_all(tx, out).await {
                    break;
                }
                enum Next<F, C> {
                    Finished(Option<F>),
                    Input(Option<C>),
                }
                let next = tokio::select! {
                    f = running.next(), if !running.is_empty() => Next::Finished(f),
                    c = ctx.recv(rx), if input_open && pending.is_empty() => Next::Input(c),
                    else => Next::Finished(None),
                };
                match next {
                    Next::Finished(f) => f,
                    Next::Input(Some(c)) => {
                        pending.extend(c.into_pairs());
                        None
                    }
                    Next::Input(None) => {
                        input_open = false;
                        None
                    }
                }
            }
        };
        let Some((seq, done, meta, delta)) = finished else {
            continue;
        };
        in_flight -= meta.weight;
        let mut ready = Vec::new();
        if ordered {
            waiting.insert(seq, (seq, done, meta, delta));
            while let Some(f) = waiting.remove(&next_out) {
                next_out += 1;
                ready.push(f);
            }
        } else {
            ready.push((seq, done, meta, delta));
        }
        for (_, done, meta, mut delta) in ready {
            if !go_on {
                ctx.stopped_into(&mut delta, meta.weight);
            } else {
                go_on = settle(ctx, done, meta, out, &mut delta).await;
            }
            ctx.stats.apply(&delta);
        }
        if go_on && out.len() >= max && !ctx.send_all(tx, out).await {
            go_on = false;
        }
    }
    // Stopped: items whose calls finished or still run (they are dropped), and items not started, are not
    // processed.
    drop(running);
    let mut left = in_flight;
    for (_, _, meta, _) in waiting.into_values() {
        left += meta.weight;
    }
    for (_, meta) in pending {
        left += meta.weight;
    }
    ctx.stopped_with(left);
}

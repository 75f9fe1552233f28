//! The sink task: writes every item, flushes whenever its input runs dry (and at least every `buffer_size`
//! items; a sink that asks for larger flushes, [`SyncSink::flush_batch`](crate::SyncSink::flush_batch), every
//! that many items or once its input stayed dry for [`FLUSH_LINGER`]), and counts an item as written only once
//! the flush after its write succeeded. That is what makes `written` a fact about the sink: a file sink's flush
//! reaches the OS, and a write whose flush fails is not written (it is failed).
//!
//! Writes and flushes run under the stage's time limit and retry policy. A failed write goes to the stage's
//! error policy; under fail fast, what was written before it is flushed first (so the items before the
//! failing one are written), and the rest is not processed. A failed flush, or a sync sink whose call outlived
//! the time limit (still blocked in the OS, so it can never be called again), fails the run whatever the
//! policy: which of the buffered items reached the destination is unknown. A sink that can tell which items
//! its destination refused at a flush ([`SyncSink::flush_each`](crate::SyncSink::flush_each): a row that violates
//! a constraint, in a batch whose other rows landed) has each refused item handed to the error policy, and the
//! others counted as written.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{Judged, Remains, StageCtx, open_or_return};
use crate::error::PipeError;
use crate::metrics::Delta;
use crate::pipe::Rejected;
use crate::stream::channel::{ChunkRx, ItemMeta};
use crate::stream::driver::{Fault, Flush, SinkDriver};
use crate::stream::state::TerminalGuard;
use crate::stream::{FLUSH_LINGER, Item};

/// Items written since the last flush, with the copies the error policy may need if the flush refuses one.
#[derive(Debug)]
struct Unflushed<T> {
    metas: Vec<ItemMeta>,
    copies: Vec<T>,
}

impl<T> Unflushed<T> {
    fn new() -> Self {
        Self {
            metas: Vec::new(),
            copies: Vec::new(),
        }
    }
    /// Room for `n` more items' bookkeeping at once: emptied at every flush, the list otherwise grew again by
    /// doubling, copying itself several times per flush.
    fn reserve(&mut self, n: usize) {
        self.metas.reserve(n);
    }
    fn add(&mut self, meta: ItemMeta, copy: Option<T>) {
        self.metas.push(meta);
        self.copies.extend(copy);
    }
    fn len(&self) -> usize {
        self.metas.len()
    }
    fn take(&mut self) -> Self {
        std::mem::replace(self, Self::new())
    }
    fn weight(&self) -> u64 {
        self.metas.iter().map(|m| m.weight).sum()
    }
}

fn fault_error(fault: Fault) -> PipeError {
    match fault {
        Fault::Failed(e) | Fault::Stuck(e) => e,
    }
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    Done,
    Failed,
    /// A sync sink's flush outlived the time limit: the sink cannot be called again.
    Stuck,
}

/// Flushes with the stage's retries; on success counts the unflushed items as written and acknowledges them
/// (each item the destination refused goes to the error policy instead), on failure counts them as failed and
/// fails the run.
///
/// `made` is the outcome of a first flush already made (by [`SinkDriver::write_and_flush`]).
async fn flush<D: SinkDriver>(
    d: &mut D,
    ctx: &StageCtx,
    unflushed: &mut Unflushed<D::In>,
    mut made: Option<Flush>,
) -> Flushed
where
    D::In: Item,
{
    let limit = ctx.policy.timeout;
    let mut backoff = ctx.policy.retry.backoff();
    let mut stuck = false;
    let result = loop {
        let attempt = match made.take() {
            Some(outcome) => outcome,
            None => d.flush(limit).await,
        };
        match attempt {
            Ok(rejected) => break Ok(rejected),
            Err(Fault::Stuck(e)) => {
                stuck = true;
                break Err(e);
            }
            Err(Fault::Failed(e)) => {
                if !backoff.wait(&e).await {
                    break Err(e);
                }
            }
        }
    };
    let done = unflushed.take();
    let mut delta = Delta {
        retries: u64::from(backoff.retries()),
        ..Delta::default()
    };
    let flushed = match result {
        Ok(rejected) if rejected.is_empty() => {
            delta.items_out = done.weight();
            ctx.ack(done.metas.into_iter().filter_map(|m| m.tag));
            Flushed::Done
        }
        Ok(rejected) => settle_rejected(ctx, done, rejected, &mut delta).await,
        Err(e) => {
            delta.errors = 1;
            delta.failed = done.weight();
            ctx.fail(e.in_context("flush"));
            if stuck {
                Flushed::Stuck
            } else {
                Flushed::Failed
            }
        }
    };
    ctx.stats.apply(&delta);
    flushed
}

/// A flush that landed all but `rejected`: those go to the error policy, the rest is written.
async fn settle_rejected<T: Item>(
    ctx: &StageCtx,
    done: Unflushed<T>,
    mut rejected: Vec<Rejected>,
    delta: &mut Delta,
) -> Flushed {
    rejected.sort_by_key(|r| r.index);
    let mut rejected = rejected.into_iter().peekable();
    // Copies were kept (for every item, in order) only when the policy may need them.
    let mut copies = done.copies.into_iter();
    let mut acks = Vec::new();
    let mut flushed = Flushed::Done;
    for (i, meta) in done.metas.into_iter().enumerate() {
        let copy = copies.next();
        let Some(r) = rejected.next_if(|r| r.index == i) else {
            delta.items_out += meta.weight;
            acks.extend(meta.tag);
            continue;
        };
        if flushed != Flushed::Done {
            // The run stops at the first refused item under fail fast; the others were not written either.
            ctx.stopped_into(delta, meta.weight);
            continue;
        }
        let remains = ctx
            .policy
            .judge(r.error, copy)
            .account(meta, delta, &mut acks);
        if !ctx.carry_out(remains).await {
            flushed = Flushed::Failed;
        }
    }
    ctx.ack(acks);
    flushed
}

/// Writes one item again with the stage's retries, after its first write failed with `first`.
async fn retry_write<D: SinkDriver>(
    d: &mut D,
    ctx: &StageCtx,
    first: PipeError,
    copy: D::In,
    delta: &mut Delta,
) -> Result<(), Fault>
where
    D::In: Clone,
{
    let limit = ctx.policy.timeout;
    let mut backoff = ctx.policy.retry.backoff();
    let mut last = first;
    let result = loop {
        if !backoff.wait(&last).await {
            break Err(Fault::Failed(last));
        }
        match d.write_many(vec![copy.clone()], limit).await.failure {
            None => break Ok(()),
            Some((Fault::Failed(e), _)) => last = e,
            Some((Fault::Stuck(e), _)) => break Err(Fault::Stuck(e)),
        }
    };
    delta.retries += u64::from(backoff.retries());
    result
}

/// Writes and flushes; see the [module docs](self).
pub(crate) async fn sink_task<D>(
    mut d: D,
    mut rx: ChunkRx<D::In>,
    mut ctx: StageCtx,
    _terminal: TerminalGuard,
) where
    D: SinkDriver,
    D::In: Item,
{
    let limit: Option<Duration> = ctx.policy.timeout;
    open_or_return!(
        ctx,
        d.open(limit).await.map_err(fault_error),
        d.close(limit).await.map_err(fault_error)
    );
    let keep = ctx.policy.keeps_copies();
    // A sink that asks for larger flushes gets them: a dry input is then no reason to flush until it has
    // stayed dry for `FLUSH_LINGER`.
    let batch = d.flush_batch();
    let flush_every = batch.unwrap_or(ctx.run.cfg.buffer_size.get());
    let flush_when_dry = batch.is_none();
    let mut unflushed = Unflushed::new();
    // Whether the sink can still be called (a stuck sync sink cannot).
    let mut usable = true;
    'run: loop {
        let received = if !flush_when_dry && unflushed.len() > 0 {
            match tokio::time::timeout(FLUSH_LINGER, ctx.recv(&mut rx)).await {
                Ok(received) => received,
                // Dry for the linger: what waits is flushed.
                Err(_) => match flush(&mut d, &ctx, &mut unflushed, None).await {
                    Flushed::Done => continue,
                    Flushed::Failed => break,
                    Flushed::Stuck => {
                        usable = false;
                        break;
                    }
                },
            }
        } else {
            ctx.recv(&mut rx).await
        };
        let Some(mut chunk) = received else {
            break;
        };
        // The chunks already waiting go with it: a sink on a thread costs one trip per gathering.
        ctx.gather(&mut rx, &mut chunk, flush_every);
        let n = chunk.len();
        let started = Instant::now();
        let mut delta = Delta::default();
        let mut metas = chunk.meta.into_items(n);
        let mut copies: VecDeque<D::In> = if keep {
            chunk.items.iter().cloned().collect()
        } else {
            VecDeque::new()
        };
        let mut batch = chunk.items;
        let mut stop = None;
        // The flush that follows when the input ran dry (or enough waits unflushed) goes with the chunk's
        // writes: a sink on a thread then costs one trip to it per chunk, not two.
        let mut flush_with_writes =
            (flush_when_dry && rx.is_empty()) || unflushed.len() + n >= flush_every;
        let mut made_flush = None;
        while !batch.is_empty() {
            let sent = batch.len();
            let written = if std::mem::take(&mut flush_with_writes) {
                let (written, flushed) = d.write_and_flush(batch, limit).await;
                made_flush = flushed;
                written
            } else {
                d.write_many(batch, limit).await
            };
            unflushed.reserve(written.count);
            for _ in 0..written.count {
                if let Some(meta) = metas.next() {
                    unflushed.add(meta, copies.pop_front());
                }
            }
            let Some((fault, rest)) = written.failure else {
                break;
            };
            let Some(meta) = metas.next() else { break };
            let copy = copies.pop_front();
            // A stuck call takes every item with it (`rest` is empty): `metas` still counts them all below.
            debug_assert!(rest.len() < sent - written.count);
            batch = rest;
            let (fault, copy) = match (fault, copy) {
                (Fault::Failed(e), Some(c)) if ctx.policy.retry.retries > 0 => {
                    let kept = c.clone();
                    (
                        retry_write(&mut d, &ctx, e, c, &mut delta).await,
                        Some(kept),
                    )
                }
                (fault, copy) => (Err(fault), copy),
            };
            match fault {
                Ok(()) => unflushed.add(meta, copy),
                Err(Fault::Stuck(e)) => {
                    usable = false;
                    delta.errors += 1;
                    delta.failed += meta.weight;
                    // The items written before it went with the sink, unflushed.
                    delta.failed += unflushed.take().weight();
                    let (rest_weight, _) = metas.rest();
                    ctx.stopped_into(&mut delta, rest_weight);
                    stop = Some(e);
                    break;
                }
                Err(Fault::Failed(e)) => {
                    let judged = ctx.policy.judge(e, copy);
                    if let Judged::Fatal(_) = &judged {
                        // The items before the failing one are written before the run stops.
                        ctx.stats.apply(&std::mem::take(&mut delta));
                        if flush(&mut d, &ctx, &mut unflushed, None).await == Flushed::Stuck {
                            usable = false;
                        }
                    }
                    let mut acks = Vec::new();
                    match judged.account(meta, &mut delta, &mut acks) {
                        Remains::Nothing => ctx.ack(acks),
                        Remains::Letter(letter, meta) => {
                            if !ctx.send_letter(letter, meta).await {
                                let (rest_weight, _) = metas.rest();
                                ctx.stopped_into(&mut delta, rest_weight);
                                break;
                            }
                        }
                        Remains::Fatal(err) => {
                            let (rest_weight, _) = metas.rest();
                            ctx.stopped_into(&mut delta, rest_weight);
                            stop = Some(err);
                            break;
                        }
                    }
                }
            }
        }
        ctx.stats.apply(&delta);
        ctx.stats.record_latency(started.elapsed(), n);
        if let Some(err) = stop {
            ctx.run.fail(ctx.index, ctx.policy.name_error(err));
            break 'run;
        }
        if made_flush.is_none() && ctx.halted() {
            break;
        }
        if made_flush.is_some()
            || (flush_when_dry && rx.is_empty())
            || unflushed.len() >= flush_every
        {
            match flush(&mut d, &ctx, &mut unflushed, made_flush).await {
                Flushed::Done => {}
                Flushed::Failed => break,
                Flushed::Stuck => {
                    usable = false;
                    break;
                }
            }
        }
    }
    // What was written before the run stopped (or the input ended) is flushed, if the sink can still be.
    if usable
        && unflushed.len() > 0
        && flush(&mut d, &ctx, &mut unflushed, None).await == Flushed::Stuck
    {
        usable = false;
    }
    ctx.give_up(&mut rx).await;
    if usable {
        ctx.closed(d.close(limit).await.map_err(fault_error));
    }
}

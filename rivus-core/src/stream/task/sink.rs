//! The sink task: writes every item, flushes whenever its input runs dry (and at least every `buffer_size`
//! items), and counts an item as written only once the flush after its write succeeded. That is what makes
//! `written` a fact about the sink: a file sink's flush reaches the OS, and a write whose flush fails is not
//! written (it is failed).
//!
//! Writes and flushes run under the stage's time limit and retry policy. A failed write goes to the stage's
//! error policy; under fail fast, what was written before it is flushed first (so the items before the
//! failing one are written), and the rest is not processed. A failed flush, or a sync sink whose call outlived
//! the time limit (still blocked in the OS, so it can never be called again), fails the run whatever the
//! policy: which of the buffered items reached the destination is unknown.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{Judged, Remains, StageCtx, open_or_return};
use crate::error::PipeError;
use crate::metrics::Delta;
use crate::stream::Item;
use crate::stream::acks::Tag;
use crate::stream::channel::{ChunkRx, ItemMeta};
use crate::stream::driver::{Fault, SinkDriver};
use crate::stream::state::TerminalGuard;

/// Items written since the last flush.
#[derive(Debug, Default)]
struct Unflushed {
    count: usize,
    weight: u64,
    tags: Vec<Tag>,
}

impl Unflushed {
    fn add(&mut self, meta: ItemMeta) {
        self.count += 1;
        self.weight += meta.weight;
        self.tags.extend(meta.tag);
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

/// Flushes with the stage's retries; on success counts the unflushed items as written and acknowledges them,
/// on failure counts them as failed and fails the run.
async fn flush<D: SinkDriver>(d: &mut D, ctx: &StageCtx, unflushed: &mut Unflushed) -> Flushed {
    let limit = ctx.policy.timeout;
    let mut backoff = ctx.policy.retry.backoff();
    let mut stuck = false;
    let result = loop {
        match d.flush(limit).await {
            Ok(()) => break Ok(()),
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
    let retries = backoff.retries();
    let done = std::mem::take(unflushed);
    let mut delta = Delta {
        retries: u64::from(retries),
        ..Delta::default()
    };
    let flushed = match result {
        Ok(()) => {
            delta.items_out = done.weight;
            ctx.ack(done.tags);
            Flushed::Done
        }
        Err(e) => {
            delta.errors = 1;
            delta.failed = done.weight;
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
    let flush_every = ctx.run.cfg.buffer_size.get();
    let mut unflushed = Unflushed::default();
    // Whether the sink can still be called (a stuck sync sink cannot).
    let mut usable = true;
    'run: while let Some(chunk) = ctx.recv(&mut rx).await {
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
        while !batch.is_empty() {
            let sent = batch.len();
            let written = d.write_many(batch, limit).await;
            for _ in 0..written.count {
                if let Some(meta) = metas.next() {
                    unflushed.add(meta);
                }
                copies.pop_front();
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
                Ok(()) => unflushed.add(meta),
                Err(Fault::Stuck(e)) => {
                    usable = false;
                    delta.errors += 1;
                    delta.failed += meta.weight;
                    // The items written before it went with the sink, unflushed.
                    delta.failed += std::mem::take(&mut unflushed).weight;
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
                        if flush(&mut d, &ctx, &mut unflushed).await == Flushed::Stuck {
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
        if ctx.halted() {
            break;
        }
        if rx.is_empty() || unflushed.count >= flush_every {
            match flush(&mut d, &ctx, &mut unflushed).await {
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
    if usable && unflushed.count > 0 && flush(&mut d, &ctx, &mut unflushed).await == Flushed::Stuck
    {
        usable = false;
    }
    ctx.give_up(&mut rx).await;
    if usable {
        ctx.closed(d.close(limit).await.map_err(fault_error));
    }
}

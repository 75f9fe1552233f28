//! The source task: reads the source into chunks until it is exhausted or the run stops it, then commits what
//! the rest of the pipeline acknowledges (for a source that gives positions) and closes the source.
//!
//! * A graceful stop ends reading; what was read is passed on (and the run is marked cancelled).
//! * A fail-fast cut downstream stops it where it is: what it holds is not processed.
//! * A bad item (an `Err` from `next`) goes to the stage's error policy; under fail fast, the items read before
//!   it are passed on first, so they are written before the run stops.
//! * Rows the source left out under its prefilter ([`take_filtered`](crate::SyncSource::take_filtered)) are
//!   counted read and filtered here; the next item's position covers them, and rows left out after the last
//!   item are committed at the position the source gives after its end.
//! * An item the source has at once ([`AsyncSource::try_next`](crate::AsyncSource::try_next); for a source on
//!   a thread, one already handed over) is taken without a `next` future.
//! * Commits are made between two `next` calls, and also while `next` waits for an item (the pending call is
//!   dropped, the commit made, `next` called again), so that a quiet source still learns what reached an end.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Poll;

use super::{StageCtx, open_or_return};
use crate::ack::Position;
use crate::metrics::Delta;
use crate::stream::acks::{AckTracker, Tag};
use crate::stream::channel::{Chunk, ChunkTx, ItemMeta};
use crate::stream::driver::SourceDriver;

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
            tracing::warn!(error = %ctx.policy.name_error(e), "commit failed");
        }
    }
}

/// Waits until an item in flight is acknowledged, i.e. there is a position to commit; never for a source
/// without positions.
async fn acknowledged(positions: Option<&Positions>, tracker: &AckTracker) {
    let Some(positions) = positions else {
        return std::future::pending().await;
    };
    loop {
        if positions
            .0
            .front()
            .is_some_and(|(seq, _)| *seq < tracker.low_watermark())
        {
            return;
        }
        tracker.changed().await;
    }
}

/// Why reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exhausted,
    /// A graceful stop, or a cut or abort (then the stage is halted).
    Stopped,
    /// A bad item failed the run.
    Failed,
}

/// Tags items with sequence numbers once the source turns out to give positions (decided by its first item).
struct Tracking {
    decided: bool,
    positions: Option<Positions>,
}

impl Tracking {
    fn tag<D: SourceDriver>(&mut self, d: &D, ctx: &StageCtx) -> Option<Tag> {
        let position = d.position();
        if !self.decided {
            self.decided = true;
            if position.is_some() {
                self.positions = Some(Positions::default());
            }
        }
        let (positions, position) = (self.positions.as_mut()?, position?);
        let seq = ctx.tracker().register(1);
        positions.0.push_back((seq, position));
        Some(Tag::One(seq))
    }

    /// The source ended after leaving rows out: the position after them, done at once, is committed once
    /// every item before it is.
    fn left_out_at_end<D: SourceDriver>(&mut self, d: &D, ctx: &StageCtx) {
        if let Some(tag) = self.tag(d, ctx) {
            ctx.tracker().ack([tag]);
        }
    }
}

/// Counts the rows the source left out since last asked (its prefilter's condition is false on them): read,
/// and filtered at this stage. Returns how many.
fn count_left_out<D: SourceDriver>(d: &mut D, ctx: &StageCtx) -> u64 {
    let n = d.take_filtered();
    if n > 0 {
        ctx.stats.apply(&Delta {
            items_in: n,
            filtered: n,
            ..Delta::default()
        });
    }
    n
}

/// Reads the source; see the [module docs](self).
pub(crate) async fn source_task<D: SourceDriver>(mut d: D, tx: ChunkTx<D::Out>, mut ctx: StageCtx) {
    open_or_return!(ctx, d.open().await, d.close().await);
    let max = tx.chunk_max();
    let mut tracking = Tracking {
        decided: false,
        positions: None,
    };
    let mut chunk = Chunk::with_capacity(max);
    let end = 'run: loop {
        if ctx.run.state().stops_source() {
            break End::Stopped;
        }
        if let Some(p) = &mut tracking.positions {
            p.commit_below(&mut d, ctx.tracker().low_watermark(), &ctx)
                .await;
        }
        // An item there at once is taken without a future (a type-erased source boxes one per call).
        let next = match d.try_next() {
            Poll::Ready(next) => next,
            Poll::Pending => loop {
                let waited = {
                    let fut = d.next();
                    tokio::pin!(fut);
                    if let Poll::Ready(next) = futures::poll!(fut.as_mut()) {
                        break next;
                    }
                    // Nothing ready: let the next stage work on what we have while we wait.
                    if !ctx.send(&tx, &mut chunk).await {
                        break 'run End::Stopped;
                    }
                    let run = Arc::clone(&ctx.run);
                    loop {
                        tokio::select! {
                            biased;
                            () = ctx.state_changed() => {
                                if ctx.run.state().stops_source() {
                                    break 'run End::Stopped;
                                }
                            }
                            next = &mut fut => break Some(next),
                            () = acknowledged(tracking.positions.as_ref(), &run.tracker) => break None,
                        }
                    }
                };
                if let Some(next) = waited {
                    break next;
                }
                // Items were acknowledged while the source waits for its next item: commit now, not after that
                // item (a webhook holds its callers' answers until the commit). The pending `next` was dropped,
                // which sources allow (cancel safety), and is called again.
                if let Some(p) = &mut tracking.positions {
                    p.commit_below(&mut d, ctx.tracker().low_watermark(), &ctx)
                        .await;
                }
            },
        };
        let left_out = count_left_out(&mut d, &ctx);
        let Some(next) = next else {
            if left_out > 0 {
                tracking.left_out_at_end(&d, &ctx);
            }
            break End::Exhausted;
        };
        ctx.stats.add_in(1);
        let meta = ItemMeta::one(tracking.tag(&d, &ctx));
        match next {
            Ok(item) => {
                chunk.push(item, meta);
                if chunk.len() >= max && !ctx.send(&tx, &mut chunk).await {
                    break End::Stopped;
                }
            }
            Err(e) => {
                let judged = ctx.policy.judge::<()>(e, None);
                if matches!(judged, super::Judged::Fatal(_)) && !ctx.send(&tx, &mut chunk).await {
                    // Under fail fast the items before the bad one go first; the next stage is gone already.
                    ctx.stopped_with(1);
                    break End::Stopped;
                }
                let mut delta = Delta::default();
                let go_on = ctx.settle_failure(judged, meta, &mut delta).await;
                ctx.stats.apply(&delta);
                if !go_on {
                    break End::Failed;
                }
            }
        }
    };
    // A sync source's thread reads ahead of the pipeline. After a graceful stop, what it had read is taken and
    // passed on; after a bad item failed the run, or when the stage is halted, it is left untaken: those items
    // come after the failing one, never entered the pipeline, and are never committed (a restart reads them).
    d.stop();
    let halted = ctx.halted();
    if end == End::Stopped && !halted {
        while let Some(next) = d.next_read() {
            ctx.stats.add_in(1);
            let meta = ItemMeta::one(tracking.tag(&d, &ctx));
            match next {
                Ok(item) => chunk.push(item, meta),
                Err(e) => {
                    let judged = ctx.policy.judge::<()>(e, None);
                    let mut delta = Delta::default();
                    ctx.settle_failure(judged, meta, &mut delta).await;
                    ctx.stats.apply(&delta);
                }
            }
        }
        // Rows left out among what was read; those after the last item are not committed (a restart reads
        // them again, and leaves them out again).
        count_left_out(&mut d, &ctx);
    }
    if end == End::Stopped && !halted {
        ctx.run.mark_cancelled();
    }
    if ctx.halted() {
        ctx.stopped_with(chunk.abandon());
    } else {
        ctx.send(&tx, &mut chunk).await;
    }
    drop(tx);
    // The dead-letter sink is one of the terminals waited for below, and it ends only once every stage has
    // dropped its sender: drop ours first.
    ctx.dead_letters = None;
    if let Some(mut positions) = tracking.positions {
        // Everything is read: commit as the rest of the pipeline acknowledges, until every item is done or no
        // terminal is left to acknowledge anything.
        let t = ctx.tracker();
        loop {
            // Looked at before the watermark: once everything is done, the watermark read after it is final.
            let all_done = t.all_done();
            positions
                .commit_below(&mut d, t.low_watermark(), &ctx)
                .await;
            if all_done {
                break;
            }
            tokio::select! {
                () = t.changed() => {}
                () = ctx.run.until_terminals_done() => {
                    positions.commit_below(&mut d, t.low_watermark(), &ctx).await;
                    break;
                }
            }
        }
    }
    ctx.closed(d.close().await);
}

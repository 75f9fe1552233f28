//! The fan-out stage: hands every item to the sinks it is for. Without routes every sink takes every item (the
//! chunk is copied, the last sink gets the original); with routes each item goes to the unconditional sinks,
//! to the conditional sinks whose condition holds, and — when no condition held — to the `otherwise` sinks.
//!
//! In the ledger each copy beyond the first is an expansion; an item no sink is for is `unrouted` (an end: it
//! is acknowledged, never dropped without a count); a copy a stopped sink cannot take is counted at that sink as
//! not processed.

use std::sync::Arc;

use super::{StageCtx, open_or_return};
use crate::metrics::{Delta, StageStats};
use crate::stream::Item;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx};

/// Which items a sink takes.
pub(crate) enum Route<T> {
    /// Every item.
    All,
    /// The items the condition holds for.
    When(Arc<dyn Fn(&T) -> bool + Send + Sync>),
    /// The items no conditional sink took.
    Otherwise,
}

/// One sink's channel, its counters, and which items it takes.
pub(crate) struct Branch<T> {
    pub(crate) tx: ChunkTx<T>,
    pub(crate) stats: Arc<StageStats>,
    pub(crate) route: Route<T>,
}

/// Hands every chunk's items to their branches; see the [module docs](self).
pub(crate) async fn fan_out<T: Item>(
    mut rx: ChunkRx<T>,
    branches: Vec<Branch<T>>,
    mut ctx: StageCtx,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let routed = branches.iter().any(|b| !matches!(b.route, Route::All));
    while let Some(chunk) = ctx.recv(&mut rx).await {
        if routed {
            route(&ctx, &branches, chunk).await;
        } else {
            copy(&ctx, &branches, chunk).await;
        }
    }
    ctx.give_up(&mut rx).await;
}

/// Every branch takes the whole chunk.
async fn copy<T: Item>(ctx: &StageCtx, branches: &[Branch<T>], chunk: Chunk<T>) {
    let extra = branches.len().saturating_sub(1);
    let w = chunk.weight();
    for tag in chunk.meta.tags() {
        ctx.tracker()
            .retain(tag, u32::try_from(extra).unwrap_or(u32::MAX));
    }
    ctx.stats.add_expanded(w * extra as u64);
    let Some((last, rest)) = branches.split_last() else {
        return;
    };
    for b in rest {
        let copy = Chunk {
            items: chunk.items.clone(),
            meta: chunk.meta.clone(),
        };
        hand(b, copy).await;
        ctx.stats.add_out(w);
    }
    hand(last, chunk).await;
    ctx.stats.add_out(w);
}

/// Each item goes to the branches it is for.
async fn route<T: Item>(ctx: &StageCtx, branches: &[Branch<T>], chunk: Chunk<T>) {
    let mut outs: Vec<Chunk<T>> = branches
        .iter()
        .map(|_| Chunk::with_capacity(chunk.len()))
        .collect();
    let mut delta = Delta::default();
    let mut acks = Vec::new();
    let mut targets = Vec::with_capacity(branches.len());
    for (item, meta) in chunk.into_pairs() {
        targets.clear();
        let mut taken = false;
        for (i, b) in branches.iter().enumerate() {
            match &b.route {
                Route::All => targets.push(i),
                Route::When(holds) if holds(&item) => {
                    taken = true;
                    targets.push(i);
                }
                Route::When(_) | Route::Otherwise => {}
            }
        }
        if !taken {
            targets.extend(
                branches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| matches!(b.route, Route::Otherwise))
                    .map(|(i, _)| i),
            );
        }
        let Some((&last, rest)) = targets.split_last() else {
            delta.unrouted += meta.weight;
            acks.extend(meta.tag);
            continue;
        };
        if let Some(tag) = &meta.tag {
            ctx.tracker()
                .retain(tag, u32::try_from(rest.len()).unwrap_or(u32::MAX));
        }
        delta.expanded += meta.weight * rest.len() as u64;
        for &i in rest {
            outs[i].push(item.clone(), meta.clone());
        }
        outs[last].push(item, meta);
    }
    ctx.stats.apply(&delta);
    ctx.ack(acks);
    for (b, out) in branches.iter().zip(outs) {
        if out.is_empty() {
            continue;
        }
        let w = out.weight();
        hand(b, out).await;
        ctx.stats.add_out(w);
    }
}

/// Gives `chunk` to a branch; one its sink cannot take any more is that sink's, not processed.
async fn hand<T>(b: &Branch<T>, chunk: Chunk<T>) {
    if let Err(back) = b.tx.send(chunk).await {
        let w = back.abandon();
        b.stats.add_in(w);
        b.stats.add_not_processed(w);
    }
}

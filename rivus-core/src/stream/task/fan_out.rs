//! The fan-out stage: copies every chunk to each sink (the last one gets the original). Each extra copy is an
//! expansion in the ledger; a copy a stopped sink cannot take is counted at that sink as not processed.

use std::sync::Arc;

use super::{StageCtx, open_or_return};
use crate::metrics::StageStats;
use crate::stream::Item;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx};

/// One sink's channel, and its counters.
pub(crate) struct Branch<T> {
    pub(crate) tx: ChunkTx<T>,
    pub(crate) stats: Arc<StageStats>,
}

/// Copies every chunk to each branch; see the [module docs](self).
pub(crate) async fn fan_out<T: Item>(
    mut rx: ChunkRx<T>,
    branches: Vec<Branch<T>>,
    mut ctx: StageCtx,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let extra = branches.len().saturating_sub(1);
    while let Some(chunk) = ctx.recv(&mut rx).await {
        let w = chunk.weight();
        if chunk.meta.tracked() {
            for tag in chunk.meta.tags() {
                ctx.tracker()
                    .retain(tag, u32::try_from(extra).unwrap_or(u32::MAX));
            }
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
    ctx.give_up(&mut rx).await;
}

/// Gives `chunk` to a branch; one its sink cannot take any more is that sink's, not processed.
async fn hand<T>(b: &Branch<T>, chunk: Chunk<T>) {
    if let Err(back) = b.tx.send(chunk).await {
        let w = back.abandon();
        b.stats.add_in(w);
        b.stats.add_not_processed(w);
    }
}

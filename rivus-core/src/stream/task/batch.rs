//! The batch stage: groups items into `Vec`s of `size`, sending a partial batch once `max_wait` has passed since
//! its first item (also when no further item comes), and the last one short. A batch weighs the items it holds.

use std::time::Duration;

use tokio::time::Instant;

use super::{StageCtx, open_or_return};
use crate::stream::Item;
use crate::stream::acks::Tag;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx, ItemMeta};

enum Event<T> {
    Input(Option<Chunk<T>>),
    Timer,
}

/// The batch being filled.
struct Filling<T> {
    items: Vec<T>,
    weight: u64,
    seqs: Vec<u64>,
    tracked: bool,
    size: usize,
}

impl<T> Filling<T> {
    /// Moves the batch (if any) to `out`.
    fn emit(&mut self, out: &mut Chunk<Vec<T>>) {
        if self.items.is_empty() {
            return;
        }
        let items = std::mem::replace(&mut self.items, Vec::with_capacity(self.size));
        let tag = self
            .tracked
            .then(|| Tag::Many(std::mem::take(&mut self.seqs)));
        out.push(
            items,
            ItemMeta {
                weight: std::mem::take(&mut self.weight),
                tag,
            },
        );
    }
}

/// Groups items into batches; see the [module docs](self).
pub(crate) async fn batch_stage<T: Item>(
    mut rx: ChunkRx<T>,
    tx: ChunkTx<Vec<T>>,
    mut ctx: StageCtx,
    size: usize,
    max_wait: Option<Duration>,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let max = tx.chunk_max();
    let mut out = Chunk::with_capacity(max);
    let mut filling = Filling {
        items: Vec::with_capacity(size),
        weight: 0,
        seqs: Vec::new(),
        tracked: false,
        size,
    };
    let mut deadline: Option<Instant> = None;
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
                // Items carry tags when the source gives positions (decided by its first item: every chunk
                // alike).
                filling.tracked |= chunk.meta.tracked();
                if filling.items.is_empty() && chunk.len() == size && !filling.tracked {
                    // A chunk that is exactly one batch becomes the batch, without copying.
                    let weight = chunk.weight();
                    out.push(
                        std::mem::take(&mut chunk.items),
                        ItemMeta { weight, tag: None },
                    );
                }
                for (item, meta) in chunk.into_pairs() {
                    if filling.items.is_empty() {
                        deadline = max_wait.and_then(|w| Instant::now().checked_add(w));
                    }
                    filling.items.push(item);
                    filling.weight += meta.weight;
                    if let Some(tag) = meta.tag {
                        tag.extend_into(&mut filling.seqs);
                    }
                    if filling.items.len() >= size {
                        filling.emit(&mut out);
                        deadline = None;
                    }
                }
                if (out.len() >= max || rx.is_empty()) && !ctx.send(&tx, &mut out).await {
                    break;
                }
            }
            Event::Timer => {
                filling.emit(&mut out);
                deadline = None;
                if !ctx.send(&tx, &mut out).await {
                    break;
                }
            }
        }
    }
    if ctx.halted() {
        let open = std::mem::take(&mut filling.weight);
        ctx.stopped_with(open + out.take(0).abandon());
    } else {
        filling.emit(&mut out);
        ctx.send(&tx, &mut out).await;
    }
    ctx.give_up(&mut rx).await;
}

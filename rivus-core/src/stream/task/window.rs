//! The window stage: cuts the stream into windows (see [`crate::window`]). A window weighs the items it holds;
//! an item in several windows (sliding) adds the extra copies as expansions, an item in none (a gap between
//! sliding windows) is filtered, and a late item (event time: every window it belongs to is closed) goes to
//! the stage's error policy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{StageCtx, open_or_return};
use crate::error::{ErrorKind, PipeError};
use crate::metrics::Delta;
use crate::stream::Item;
use crate::stream::acks::Tag;
use crate::stream::channel::{Chunk, ChunkRx, ChunkTx, ItemMeta};
use crate::window::{Closed, Domain, Engine, Window, WindowTime, Windows};

enum Event<T> {
    Input(Option<Chunk<T>>),
    Timer,
}

fn ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Cuts the stream into windows; see the [module docs](self).
pub(crate) async fn window_stage<T: Item>(
    mut rx: ChunkRx<T>,
    tx: ChunkTx<Window<T>>,
    mut ctx: StageCtx,
    spec: Windows<T>,
) {
    open_or_return!(ctx, Ok(()), Ok(()));
    let mut tracked = false;
    let processing = matches!(spec.domain, Domain::Processing);
    let origin = Instant::now();
    let mut engine = Engine::new(spec.shape, spec.lateness);
    let (mut index, mut watermark) = (0u64, 0u64);
    let mut out = Chunk::with_capacity(tx.chunk_max());
    // The ledger weight held by open windows (counted as not processed if the stage is halted).
    let mut held = 0u64;
    let bound = |t: u64| match spec.domain {
        Domain::Count => WindowTime::Index(t),
        Domain::Processing => WindowTime::Elapsed(Duration::from_nanos(t)),
        Domain::Event(_) => WindowTime::Event(UNIX_EPOCH + Duration::from_nanos(t)),
    };
    let emit =
        |closed: Vec<Closed<T>>, out: &mut Chunk<Window<T>>, tracked: bool, held: &mut u64| {
            for c in closed {
                *held -= c.weight;
                let w = Window::new(bound(c.start), bound(c.end), c.items);
                out.push(
                    w,
                    ItemMeta {
                        weight: c.weight,
                        tag: tracked.then_some(Tag::Many(c.tags)),
                    },
                );
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
                tracked |= chunk.meta.tracked();
                let mut delta = Delta::default();
                let mut go_on = true;
                let mut items = chunk.into_pairs();
                for (item, meta) in items.by_ref() {
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
                        emit(engine.close_upto(t), &mut out, tracked, &mut held);
                    }
                    let mut seqs = Vec::new();
                    if let Some(tag) = &meta.tag {
                        tag.clone().extend_into(&mut seqs);
                    }
                    match engine.push(item, &seqs, meta.weight, t, watermark) {
                        Ok(0) => {
                            delta.filtered += meta.weight;
                            ctx.ack(meta.tag);
                        }
                        Ok(joined) => {
                            let copies = joined as u64;
                            held += meta.weight * copies;
                            delta.expanded += meta.weight * (copies - 1);
                            if let Some(tag) = &meta.tag {
                                ctx.tracker()
                                    .retain(tag, u32::try_from(joined - 1).unwrap_or(u32::MAX));
                            }
                        }
                        Err(item) => {
                            let err = PipeError::with_message(
                                ctx.policy.name.clone(),
                                ErrorKind::Permanent,
                                "late item: every window it belongs to is closed already",
                                None,
                            );
                            let judged = ctx.policy.judge(err, Some(item));
                            if !ctx.settle_failure(judged, meta, &mut delta).await {
                                go_on = false;
                                break;
                            }
                        }
                    }
                    watermark = match spec.domain {
                        Domain::Count => t + 1,
                        Domain::Processing => t,
                        Domain::Event(_) => watermark.max(t),
                    };
                    if !processing {
                        emit(engine.close_upto(watermark), &mut out, tracked, &mut held);
                    }
                }
                for (_, meta) in items {
                    ctx.stopped_into(&mut delta, meta.weight);
                }
                ctx.stats.apply(&delta);
                if !go_on || (rx.is_empty() && !ctx.send(&tx, &mut out).await) {
                    break;
                }
            }
            Event::Timer => {
                emit(
                    engine.close_upto(ticks(origin.elapsed())),
                    &mut out,
                    tracked,
                    &mut held,
                );
                if !ctx.send(&tx, &mut out).await {
                    break;
                }
            }
        }
    }
    if ctx.halted() {
        ctx.stopped_with(held + out.take(0).abandon());
    } else {
        emit(engine.close_all(), &mut out, tracked, &mut held);
        ctx.send(&tx, &mut out).await;
    }
    ctx.give_up(&mut rx).await;
}

//! Dead letters: failed items on their way to the dead-letter sink, and the task that writes them.
//!
//! A stage with the dead-letter policy hands each failed item, its error and its weight to the dead-letter
//! sink. The item counts as dead-lettered *at the stage where it failed*, and is acknowledged, only once the
//! dead-letter sink has written and flushed its letter. A dead-letter sink that fails is a failure of the run:
//! the letter that failed (and those written but not flushed) count as failed, later ones as not processed
//! (the items where they failed, the letters at the dead-letter stage), and the run stops everywhere (the
//! dead-letter sink comes after every sink).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::channel::ItemMeta;
use super::driver::{Fault, SinkDriver};
use super::state::TerminalGuard;
use super::task::{StageCtx, open_or_return};
use crate::error::PipeError;
use crate::metrics::{Delta, StageStats};

/// A failed item on its way to the dead-letter sink: the item (when there is one: a bad source item has
/// none), the error, and the name of the pipe that failed.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
/// use rivus_core::config::ErrorPolicy;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dead = sink::collect::<DeadLetter>();
/// let report = Pipeline::from_iter([1u32, 0, 2])
///     .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
///     .pipe(pipe::try_map(|x: u32| 10u32.checked_div(x).ok_or("division by zero")).named("divide"))
///     .sink(sink::discard())
///     .dead_letter(dead.clone())
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(report.dead_lettered(), 1);
/// let letters = dead.take();
/// assert_eq!(letters[0].pipe(), "divide");
/// assert_eq!(letters[0].item::<u32>(), Some(&0));
/// assert!(letters[0].error().to_string().contains("division by zero"));
/// # });
/// ```
pub struct DeadLetter {
    pipe: String,
    error: PipeError,
    item: Option<Box<dyn Any + Send>>,
    item_type: &'static str,
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("pipe", &self.pipe)
            .field("error", &self.error)
            .field("item_type", &self.item_type)
            .field("has_item", &self.item.is_some())
            .finish()
    }
}

impl DeadLetter {
    /// A letter for `error`, with the failed item when there is one.
    pub(crate) fn new<T: Send + 'static>(error: PipeError, item: Option<T>) -> Self {
        Self {
            pipe: error.pipe().to_owned(),
            item_type: std::any::type_name::<T>(),
            item: item.map(|i| Box::new(i) as Box<dyn Any + Send>),
            error,
        }
    }
    /// The name of the pipe that failed.
    pub fn pipe(&self) -> &str {
        &self.pipe
    }
    /// The error.
    pub fn error(&self) -> &PipeError {
        &self.error
    }
    /// The item, if it is a `T` (`None` for another type, or for a bad source item, which has no item).
    pub fn item<T: 'static>(&self) -> Option<&T> {
        self.item.as_ref()?.downcast_ref()
    }
    /// The item, taken out.
    ///
    /// # Errors
    ///
    /// Gives `self` back when there is no item or it is not a `T`.
    pub fn into_item<T: 'static>(mut self) -> Result<T, Self> {
        match self.item.take().map(|b| b.downcast::<T>()) {
            Some(Ok(item)) => Ok(*item),
            Some(Err(b)) => {
                self.item = Some(b);
                Err(self)
            }
            None => Err(self),
        }
    }
    /// The Rust type name of the item (`"()"` for a bad source item).
    pub fn item_type(&self) -> &'static str {
        self.item_type
    }
}

/// A letter with its [`Book`].
pub(crate) struct Letter {
    pub(crate) letter: DeadLetter,
    pub(crate) book: Book,
}

/// What a letter stands for in the ledger (weight, tag), and the stage that counts it.
pub(crate) struct Book {
    pub(crate) meta: ItemMeta,
    pub(crate) origin: Arc<StageStats>,
}

impl Book {
    /// Counts the letter's items at the stage where they failed.
    fn count(&self, f: impl FnOnce(&mut Delta, u64)) {
        let mut d = Delta::default();
        f(&mut d, self.meta.weight);
        self.origin.apply(&d);
    }
}

/// Sends letters to the dead-letter task.
pub(crate) type DeadLetterTx = mpsc::Sender<Letter>;

/// The receiving end of the dead-letter channel.
pub struct DeadLetterRx(pub(crate) mpsc::Receiver<Letter>);

impl fmt::Debug for DeadLetterRx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeadLetterRx")
    }
}

/// The dead-letter channel holds this many letters before a failing stage waits.
pub(crate) const CAPACITY: usize = 256;

/// Writes letters as they come, flushing whenever none is waiting; see the [module docs](self).
pub(crate) async fn dead_letter_task<D>(
    mut d: D,
    DeadLetterRx(mut rx): DeadLetterRx,
    ctx: StageCtx,
    _terminal: TerminalGuard,
) where
    D: SinkDriver<In = DeadLetter>,
{
    let limit = ctx.policy.timeout;
    open_or_return!(
        ctx,
        d.open(limit).await.map_err(fault_error),
        d.close(limit).await.map_err(fault_error)
    );
    let mut unflushed: Vec<Book> = Vec::new();
    let mut healthy = true;
    let mut batch: Vec<Letter> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < CAPACITY
            && let Ok(more) = rx.try_recv()
        {
            batch.push(more);
        }
        if !healthy {
            // The run is stopping: these letters will never be written.
            for l in batch.drain(..) {
                l.book.count(|d, w| d.not_processed += w);
            }
            continue;
        }
        ctx.stats.add_in(batch.len() as u64);
        let (letters, books): (Vec<DeadLetter>, Vec<Book>) =
            batch.drain(..).map(|l| (l.letter, l.book)).unzip();
        let written = d.write_many(letters, limit).await;
        let mut books = books.into_iter();
        unflushed.extend(books.by_ref().take(written.count));
        if let Some((fault, _rest)) = written.failure {
            healthy = false;
            let failed = books.next();
            // What was written before the failure still gets its chance to be flushed.
            settle_flush(&mut d, &ctx, &mut unflushed, limit).await;
            // The items count where they failed; the letters count here, so this stage adds up too.
            let mut letters = Delta::default();
            if let Some(l) = failed {
                l.count(|d, w| d.failed += w);
                letters.failed += 1;
            }
            for l in books {
                l.count(|d, w| d.not_processed += w);
                letters.not_processed += 1;
            }
            ctx.stats.apply(&letters);
            fail(&ctx, fault);
            continue;
        }
        if rx.is_empty() && !settle_flush(&mut d, &ctx, &mut unflushed, limit).await {
            healthy = false;
        }
    }
    if healthy {
        settle_flush(&mut d, &ctx, &mut unflushed, limit).await;
    }
    if let Err(Fault::Failed(e)) = d.close(limit).await {
        ctx.closed(Err(e.in_context("the dead-letter sink")));
    }
}

/// Flushes, then counts the written letters as dead-lettered (and acknowledges them), or as failed. `false`
/// when the flush failed.
async fn settle_flush<D: SinkDriver>(
    d: &mut D,
    ctx: &StageCtx,
    unflushed: &mut Vec<Book>,
    limit: Option<std::time::Duration>,
) -> bool {
    if unflushed.is_empty() {
        return true;
    }
    let flushed = match d.flush(limit).await {
        // A letter the dead-letter sink refuses fails the run like a failed flush: it has nowhere else to go.
        Ok(rejected) => match rejected.into_iter().next() {
            None => Ok(()),
            Some(r) => Err(Fault::Failed(r.error)),
        },
        Err(fault) => Err(fault),
    };
    match flushed {
        Ok(()) => {
            ctx.stats.add_out(unflushed.len() as u64);
            for l in unflushed.drain(..) {
                l.count(|d, w| d.dead_lettered += w);
                if let Some(tag) = l.meta.tag {
                    ctx.ack([tag]);
                }
            }
            true
        }
        Err(fault) => {
            ctx.stats.apply(&Delta {
                failed: unflushed.len() as u64,
                ..Delta::default()
            });
            for l in unflushed.drain(..) {
                l.count(|d, w| d.failed += w);
            }
            fail(ctx, fault);
            false
        }
    }
}

fn fault_error(fault: Fault) -> PipeError {
    match fault {
        Fault::Failed(e) | Fault::Stuck(e) => e,
    }
}

/// The dead-letter sink failed: the run stops everywhere.
fn fail(ctx: &StageCtx, fault: Fault) {
    ctx.stats.add_error();
    ctx.fail(fault_error(fault).in_context("the dead-letter sink"));
}

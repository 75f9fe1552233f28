//! The tasks of a running pipeline, one module per kind, and what each stage knows ([`StageCtx`]).
//!
//! Every task receives chunks, works item by item, and sends chunks. What happens to each item is counted in
//! the stage's ledger (see [`crate::metrics`]) and, when the source gives positions, acknowledged to the
//! tracker once it reached an end.

pub(crate) mod batch;
pub(crate) mod fan_out;
pub(crate) mod pipe_async;
pub(crate) mod pipe_sync;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod window;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::acks::{AckTracker, Tag};
use super::channel::{Chunk, ChunkRx, ChunkTx, ItemMeta};
use super::dead_letter::{Book, DeadLetter, DeadLetterTx, Letter};
use super::state::{Run, State};
use crate::config::ErrorPolicy;
use crate::error::{ErrorKind, PipeError, panic_message};
use crate::metrics::{Delta, StageStats};
use crate::retry::{Backoff, RetryPolicy};

/// A call that panicked, as a permanent error of the stage `name` (named later when empty).
pub(crate) fn panic_error(payload: &(dyn std::any::Any + Send), name: &str) -> PipeError {
    PipeError::with_message(
        name.to_owned(),
        ErrorKind::Permanent,
        format!("panicked: {}", panic_message(payload)),
        None,
    )
}

/// How a stage treats its items: its name, error policy, retries and time limit.
#[derive(Debug)]
pub(crate) struct StagePolicy {
    pub(crate) name: Cow<'static, str>,
    /// The part's own name when the configuration renamed it: its errors then carry the configured name.
    pub(crate) renamed_from: Option<Cow<'static, str>>,
    pub(crate) on_error: ErrorPolicy,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    /// How many skipped errors were logged as warnings: the first few are, so that `skipped 3` in a summary
    /// comes with its reasons, then only at debug level (a bad file must not flood the log).
    pub(crate) skips_logged: AtomicU64,
}

/// How many errors the skip policy logs as warnings, per stage.
const SKIPS_LOGGED: u64 = 10;

/// What the error policy made of a failed item.
#[derive(Debug)]
pub(crate) enum Judged {
    /// Dropped and counted as skipped.
    Skipped,
    /// To be written to the dead-letter sink.
    Letter(DeadLetter),
    /// The run stops: fail fast.
    Fatal(PipeError),
}

/// What remains to do for a failed item once it is counted.
#[derive(Debug)]
pub(crate) enum Remains {
    Nothing,
    /// Send the letter to the dead-letter sink.
    Letter(DeadLetter, ItemMeta),
    /// Stop the run at this stage.
    Fatal(PipeError),
}

impl Judged {
    /// Counts the item (skipped and acknowledged, or failed) in `delta`; says what remains to do.
    pub(crate) fn account(self, meta: ItemMeta, delta: &mut Delta, acks: &mut Vec<Tag>) -> Remains {
        delta.errors += 1;
        match self {
            Self::Skipped => {
                delta.skipped += meta.weight;
                acks.extend(meta.tag);
                Remains::Nothing
            }
            Self::Letter(letter) => Remains::Letter(letter, meta),
            Self::Fatal(err) => {
                delta.failed += meta.weight;
                Remains::Fatal(err)
            }
        }
    }
}

impl StagePolicy {
    /// Names an error after this stage: fills in a missing name, and applies the configured name to errors of
    /// the part itself (errors of inner parts of a chain keep their part's name).
    pub(crate) fn name_error(&self, err: PipeError) -> PipeError {
        match &self.renamed_from {
            Some(own) if err.pipe() == own.as_ref() => err.with_pipe(self.name.clone()),
            _ => err.or_pipe(self.name.clone()),
        }
    }

    /// Whether inputs must be copied before a call: a retry or a dead letter may need them again.
    pub(crate) fn keeps_copies(&self) -> bool {
        self.retry.retries > 0 || self.on_error == ErrorPolicy::DeadLetter
    }

    /// Hands a failed item (and its copy, when kept) to the error policy.
    pub(crate) fn judge<T: Send + 'static>(&self, err: PipeError, copy: Option<T>) -> Judged {
        let err = self.name_error(err);
        tracing::debug!(error = %err, policy = ?self.on_error, "item failed");
        match self.on_error {
            ErrorPolicy::FailFast => Judged::Fatal(err),
            ErrorPolicy::Skip => {
                // A skipped item leaves no other trace than its count: its reason goes to the log.
                let logged = self.skips_logged.fetch_add(1, Ordering::Relaxed);
                if logged < SKIPS_LOGGED {
                    tracing::warn!(error = %err, "skipped");
                } else if logged == SKIPS_LOGGED {
                    tracing::warn!(
                        stage = %self.name,
                        "more items skipped: their errors are logged at debug level (RUST_LOG=debug)"
                    );
                }
                Judged::Skipped
            }
            ErrorPolicy::DeadLetter => Judged::Letter(DeadLetter::new(err, copy)),
        }
    }
}

/// The retries of one failed item at one stage: a [`Backoff`] that a halted stage (an abort, or a fail-fast cut
/// after it) stops waiting out, so a stopping run makes no further attempt and does not wait for one.
pub(crate) struct Retrying<'a> {
    backoff: Backoff<'a>,
    run: &'a Run,
    index: usize,
    halted: bool,
}

impl<'a> Retrying<'a> {
    /// The retries under `policy` of an item at the stage at `index` of `run`.
    pub(crate) fn new(policy: &'a RetryPolicy, (run, index): (&'a Run, usize)) -> Self {
        Self {
            backoff: policy.backoff(),
            run,
            index,
            halted: false,
        }
    }

    /// After a failed attempt with `error`: `true` once the backoff is waited out and another attempt is due;
    /// `false` when the error is permanent, the retries are used up, or the stage was halted first
    /// ([`halted`](Self::halted)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn again(&mut self, error: &PipeError) -> bool {
        tokio::select! {
            biased;
            () = self.run.until_halted(self.index) => {
                self.halted = true;
                false
            }
            again = self.backoff.wait(error) => again,
        }
    }

    /// The attempts made after the first.
    pub(crate) fn retries(&self) -> u32 {
        self.backoff.retries()
    }

    /// Whether the retries ended because the stage was halted: the item is then not judged (its retries did
    /// not run out) but stopped with, like the items after it.
    pub(crate) fn halted(&self) -> bool {
        self.halted
    }
}

/// What one stage knows: its counters, policies, place in the pipeline, and the run it belongs to.
#[derive(Debug)]
pub(crate) struct StageCtx {
    pub(crate) run: Arc<Run>,
    pub(crate) stats: Arc<StageStats>,
    pub(crate) policy: Arc<StagePolicy>,
    /// The stage's place: stages before a fail-fast cut stop (see [`super::state`]).
    pub(crate) index: usize,
    pub(crate) dead_letters: Option<DeadLetterTx>,
    /// Whether items this stage stops with are given back unread (no other sink has them), or not processed.
    gives_back: bool,
    state: watch::Receiver<State>,
}

impl StageCtx {
    pub(crate) fn new(
        run: Arc<Run>,
        stats: Arc<StageStats>,
        policy: Arc<StagePolicy>,
        index: usize,
        dead_letters: Option<DeadLetterTx>,
        gives_back: bool,
    ) -> Self {
        let state = run.watch();
        Self {
            run,
            stats,
            policy,
            index,
            dead_letters,
            gives_back,
            state,
        }
    }

    /// Counts `weight` the stage stops with (held, or after a failing item): given back unread, or, for a sink
    /// that shares its items with other sinks, not processed.
    pub(crate) fn stopped_with(&self, weight: u64) {
        let mut d = Delta::default();
        self.stopped_into(&mut d, weight);
        self.stats.apply(&d);
    }

    /// As [`stopped_with`](Self::stopped_with), into `delta`.
    pub(crate) fn stopped_into(&self, delta: &mut Delta, weight: u64) {
        // Only a fail-fast stop gives items back; an abort leaves them in flight.
        if self.gives_back && self.run.state() != State::Aborted {
            delta.returned += weight;
        } else {
            delta.not_processed += weight;
        }
    }

    pub(crate) fn tracker(&self) -> &AckTracker {
        &self.run.tracker
    }

    /// Acknowledges `tags`: their items reached an end (written, filtered, skipped, dead-lettered).
    pub(crate) fn ack(&self, tags: impl IntoIterator<Item = Tag>) {
        self.run.tracker.ack(tags);
    }

    /// Whether the stage must stop where it is (a fail-fast cut after it, or an abort).
    pub(crate) fn halted(&self) -> bool {
        self.run.state().halts(self.index)
    }

    /// Completes once the stage must stop where it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn until_halted(&mut self) {
        let index = self.index;
        if self.state.wait_for(|s| s.halts(index)).await.is_err() {
            // The run is gone: nothing will ever halt us; wait forever like a closed token would not.
            std::future::pending::<()>().await;
        }
    }

    /// Completes once the state changes.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn state_changed(&mut self) {
        if self.state.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The next chunk, counted as taken; `None` when the input ended or the stage must stop.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn recv<T>(&mut self, rx: &mut ChunkRx<T>) -> Option<Chunk<T>> {
        if self.halted() {
            return None;
        }
        // Fast path: a chunk is waiting, no need to watch the state.
        let c = match rx.try_recv() {
            Some(c) => Some(c),
            None => {
                tokio::select! {
                    biased;
                    () = self.until_halted() => None,
                    c = rx.recv() => c,
                }
            }
        };
        self.stats.observe_queue();
        if let Some(c) = &c {
            self.stats.add_in(c.weight());
        }
        c
    }

    /// Appends the chunks already waiting to `chunk` while it holds fewer than `max` items, without waiting.
    pub(crate) fn gather<T>(&self, rx: &mut ChunkRx<T>, chunk: &mut Chunk<T>, max: usize) {
        let mut first = true;
        while chunk.len() < max
            && !self.halted()
            && let Some(more) = rx.try_recv()
        {
            if std::mem::take(&mut first) {
                // Room for what waits at once: appended chunk by chunk, the vector doubled and copied its items
                // several times per gathering (about 30 instructions per item; callgrind, issue 18's benches).
                let waiting = more.len().saturating_mul(rx.waiting() + 1);
                chunk.reserve(waiting.min(max.saturating_sub(chunk.len())));
            }
            self.stats.add_in(more.weight());
            chunk.append(more);
        }
    }

    /// Gives up the input: refuses what would come and counts what waits as taken and stopped with.
    pub(crate) async fn give_up<T>(&self, rx: &mut ChunkRx<T>) {
        let w = rx.close_and_receive_all().await;
        self.stats.add_in(w);
        self.stopped_with(w);
    }

    /// Reports the result of `open` and waits until every part has opened; `false`: do not run.
    pub(crate) async fn opened(&self, result: Result<(), PipeError>) -> bool {
        let ok = match result {
            Ok(()) => true,
            Err(e) => {
                self.run.record(self.policy.name_error(e));
                false
            }
        };
        self.run.gate.arrive(ok).await && ok
    }

    /// Records a failed `close`.
    pub(crate) fn closed(&self, result: Result<(), PipeError>) {
        if let Err(e) = result {
            self.stats.add_error();
            self.run.record(self.policy.name_error(e));
        }
    }

    /// Stops the run at this stage (fail fast) with `err`.
    pub(crate) fn fail(&self, err: PipeError) {
        self.run.fail(self.index, self.policy.name_error(err));
    }

    /// Sends `out` (if not empty), counting it as passed on. `false`: the next stage is gone; the chunk is
    /// counted as not processed here.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe (the chunk would be lost): await it to completion.
    pub(crate) async fn send<T>(&self, tx: &ChunkTx<T>, out: &mut Chunk<T>) -> bool {
        if out.is_empty() {
            return true;
        }
        // The next chunk gets room for as many items as this one had: exact in a steady stream, and no large
        // allocation for chunks that carry few (big) items.
        let chunk = out.take(out.len().min(tx.chunk_max()));
        let w = chunk.weight();
        match tx.send(chunk).await {
            Ok(()) => {
                self.stats.add_out(w);
                true
            }
            Err(back) => {
                // The next stage stopped: it took nothing of this chunk.
                self.stopped_with(back.abandon());
                false
            }
        }
    }

    /// Hands `letter` for an item with `meta` to the dead-letter sink; it counts it (here) once confirmed.
    /// `false`: the dead-letter sink is gone (it failed), and the item is counted as not processed.
    pub(crate) async fn send_letter(&self, letter: DeadLetter, meta: ItemMeta) -> bool {
        let weight = meta.weight;
        let sent = match &self.dead_letters {
            Some(tx) => tx
                .send(Letter {
                    letter,
                    book: Book {
                        meta,
                        origin: Arc::clone(&self.stats),
                    },
                })
                .await
                .is_ok(),
            None => false,
        };
        if !sent {
            self.stats.add_not_processed(weight);
        }
        sent
    }

    /// Applies what the error policy made of a failed item: counts it in `delta`, acknowledges a skipped item,
    /// sends a letter, or stops the run. `false` when the stage must stop.
    pub(crate) async fn settle_failure(
        &self,
        judged: Judged,
        meta: ItemMeta,
        delta: &mut Delta,
    ) -> bool {
        let mut acks = Vec::new();
        let remains = judged.account(meta, delta, &mut acks);
        self.ack(acks);
        self.carry_out(remains).await
    }

    /// Does what remains for a counted failure; `false` when the stage must stop.
    pub(crate) async fn carry_out(&self, remains: Remains) -> bool {
        match remains {
            Remains::Nothing => true,
            Remains::Letter(letter, meta) => self.send_letter(letter, meta).await,
            Remains::Fatal(err) => {
                self.run.fail(self.index, err);
                false
            }
        }
    }

    /// Sends `out` in chunks of at most the channel's size; `false` when the next stage is gone (the rest is
    /// counted as not processed here).
    pub(crate) async fn send_all<T>(&self, tx: &ChunkTx<T>, out: &mut Chunk<T>) -> bool {
        let max = tx.chunk_max();
        while out.len() > max {
            let mut first = out.split_front(max);
            if !self.send(tx, &mut first).await {
                self.stopped_with(out.take(0).abandon());
                return false;
            }
        }
        self.send(tx, out).await
    }
}

/// Calls `open`, reports to the gate; on `false` the part must not run (it was closed if it had opened).
macro_rules! open_or_return {
    ($ctx:expr, $open:expr, $close:expr) => {{
        let result = $open;
        let ok = result.is_ok();
        if !$ctx.opened(result).await {
            if ok {
                $ctx.closed($close);
            }
            return;
        }
    }};
}
pub(crate) use open_or_return;

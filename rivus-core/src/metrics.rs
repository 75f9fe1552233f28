//! Numbers about a running pipeline: the ledger of every stage in the [`RunReport`] and the
//! [`PipelineMonitor`], and the same numbers through the [`metrics`] facade for whatever exporter the
//! application installs.
//!
//! # The ledger
//!
//! Every item a source yields ends in exactly one outcome, counted at the stage where it ended:
//!
//! | outcome | meaning |
//! |---|---|
//! | written | every sink confirmed it: `write` and then `flush` returned `Ok` (a file sink's flush reaches the OS) |
//! | filtered | a pipe produced no output for it |
//! | skipped | it failed, and the error policy dropped it |
//! | dead-lettered | it failed, and the dead-letter sink wrote and flushed its letter |
//! | failed | its error stopped a fail-fast run (or its write, flush or letter failed for good) |
//! | not processed | it was in flight when an abort came (or, at a fail-fast stop, in a sink that shares its items with other sinks): counted, never acknowledged |
//!
//! A fail-fast stop is deterministic: the items before the failing one that passed every stage are written;
//! the items after it that the pipeline had already taken are *given back unread* (each stage's `returned`):
//! they are not counted as read, never reached a sink, and are never committed, so a restart reads them again.
//! For an ordered pipeline the same input gives the same output, the same `written` and `failed`, and the same
//! error every time. One count can move with timing: an item after the failing one that a stage *before* it had
//! already filtered, skipped or dead-lettered when the stop came stays counted there (it reached an end) instead
//! of being given back. When the failure is the source's own (a bad row), nothing can run ahead of it and the
//! whole ledger is the same every time.
//!
//! Counts are in *items*: a batch or window weighs the items it holds, and a stage that makes more outputs than
//! inputs (a flat-map, a sliding window, several sinks) adds the extra ones as `expanded`. So, for the whole run,
//! and for every stage:
//!
//! ```text
//! read + expanded = written + filtered + skipped + dead-lettered + failed + not processed
//! in   + expanded = out     + filtered + skipped + dead-lettered + failed + not processed     (a sink's out is its written)
//! ```
//!
//! [`RunReport::ledger`] gives the run's totals (with several sinks, each copy an extra sink takes counts as an
//! expansion), and [`RunReport::sink_ledgers`] one ledger per sink.
//!
//! # Metrics
//!
//! | metric (labels `pipeline`, `stage`) | kind | meaning |
//! |---|---|---|
//! | `rivus_items_in_total` | counter | items a stage took |
//! | `rivus_items_out_total` | counter | items a stage passed on (sinks: items written, i.e. flushed) |
//! | `rivus_items_filtered_total` | counter | items a pipe dropped |
//! | `rivus_items_expanded_total` | counter | outputs beyond one per input |
//! | `rivus_items_skipped_total` | counter | failed items the error policy dropped |
//! | `rivus_dead_letters_total` | counter | items the dead-letter sink confirmed |
//! | `rivus_items_failed_total` | counter | items whose error stopped the run |
//! | `rivus_items_not_processed_total` | counter | items in flight at an abort |
//! | `rivus_items_returned_total` | counter | items after a fail-fast error, given back unread |
//! | `rivus_errors_total` | counter | failures (after retries): pipe errors, bad source items, failed writes |
//! | `rivus_retries_total` | counter | retried calls |
//! | `rivus_stage_latency_seconds` | histogram | processing time per item, averaged over each chunk |
//! | `rivus_queue_depth` | gauge | items waiting in the channel in front of the stage |
//!
//! Counters are updated once per chunk of items, not once per item, so the facade costs nothing measurable.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

/// What a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StageKind {
    /// The source.
    Source,
    /// A pipe, or several fused sync pipes.
    Pipe,
    /// A batching stage.
    Batch,
    /// A windowing stage.
    Window,
    /// Copies items to several sinks.
    FanOut,
    /// A sink.
    Sink,
    /// The dead-letter sink (its counts are letters; the items they carry are counted where they failed).
    DeadLetter,
}

impl StageKind {
    /// The kind's name in summaries: `source`, `pipe`, `batch`, `window`, `fan-out`, `sink`, `dead-letter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Pipe => "pipe",
            Self::Batch => "batch",
            Self::Window => "window",
            Self::FanOut => "fan-out",
            Self::Sink => "sink",
            Self::DeadLetter => "dead-letter",
        }
    }
}

/// Changes to one stage's counters, applied at once (once per chunk).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) items_in: u64,
    pub(crate) items_out: u64,
    pub(crate) filtered: u64,
    pub(crate) expanded: u64,
    pub(crate) skipped: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) failed: u64,
    pub(crate) not_processed: u64,
    pub(crate) returned: u64,
    pub(crate) unrouted: u64,
    pub(crate) errors: u64,
    pub(crate) retries: u64,
}

/// One counter: the value the report reads and the facade's handle.
#[derive(Debug)]
struct Count {
    value: AtomicU64,
    facade: Counter,
}

impl Count {
    fn new(name: &'static str, labels: &[(&'static str, String); 2]) -> Self {
        Self {
            value: AtomicU64::new(0),
            facade: metrics::counter!(name, labels),
        }
    }
    #[inline]
    fn add(&self, n: u64) {
        if n > 0 {
            self.value.fetch_add(n, Ordering::Relaxed);
            self.facade.increment(n);
        }
    }
    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The counters of one stage.
#[derive(Debug)]
pub(crate) struct StageStats {
    pub(crate) name: String,
    pub(crate) kind: StageKind,
    items_in: Count,
    items_out: Count,
    filtered: Count,
    expanded: Count,
    skipped: Count,
    dead_lettered: Count,
    failed: Count,
    not_processed: Count,
    returned: Count,
    unrouted: Count,
    errors: Count,
    retries: Count,
    queue: Arc<AtomicI64>,
    m_latency: Histogram,
    m_queue: Gauge,
}

impl StageStats {
    pub(crate) fn new(
        pipeline: &str,
        name: String,
        kind: StageKind,
        queue: Arc<AtomicI64>,
    ) -> Self {
        let labels = [("pipeline", pipeline.to_owned()), ("stage", name.clone())];
        Self {
            items_in: Count::new("rivus_items_in_total", &labels),
            items_out: Count::new("rivus_items_out_total", &labels),
            filtered: Count::new("rivus_items_filtered_total", &labels),
            expanded: Count::new("rivus_items_expanded_total", &labels),
            skipped: Count::new("rivus_items_skipped_total", &labels),
            dead_lettered: Count::new("rivus_dead_letters_total", &labels),
            failed: Count::new("rivus_items_failed_total", &labels),
            not_processed: Count::new("rivus_items_not_processed_total", &labels),
            returned: Count::new("rivus_items_returned_total", &labels),
            unrouted: Count::new("rivus_items_unrouted_total", &labels),
            errors: Count::new("rivus_errors_total", &labels),
            retries: Count::new("rivus_retries_total", &labels),
            m_latency: metrics::histogram!("rivus_stage_latency_seconds", &labels),
            m_queue: metrics::gauge!("rivus_queue_depth", &labels),
            name,
            kind,
            queue,
        }
    }

    /// Adds `d` to the counters. Outcomes are added before intake, so that a report read while the run goes on
    /// (an abort) never sees more outcomes than items taken.
    pub(crate) fn apply(&self, d: &Delta) {
        self.items_out.add(d.items_out);
        self.filtered.add(d.filtered);
        self.skipped.add(d.skipped);
        self.dead_lettered.add(d.dead_lettered);
        self.failed.add(d.failed);
        self.not_processed.add(d.not_processed);
        self.returned.add(d.returned);
        self.unrouted.add(d.unrouted);
        self.errors.add(d.errors);
        self.retries.add(d.retries);
        self.expanded.add(d.expanded);
        self.items_in.add(d.items_in);
    }

    pub(crate) fn add_in(&self, n: u64) {
        self.items_in.add(n);
    }
    pub(crate) fn add_out(&self, n: u64) {
        self.items_out.add(n);
    }
    pub(crate) fn add_expanded(&self, n: u64) {
        self.expanded.add(n);
    }
    pub(crate) fn add_not_processed(&self, n: u64) {
        self.not_processed.add(n);
    }
    pub(crate) fn add_error(&self) {
        self.errors.add(1);
    }

    /// Records the time `elapsed` spent on `n` items.
    pub(crate) fn record_latency(&self, elapsed: Duration, n: usize) {
        if n > 0 {
            self.m_latency.record(elapsed.as_secs_f64() / n as f64);
        }
    }

    /// Publishes the depth of the channel in front of this stage to the gauge.
    pub(crate) fn observe_queue(&self) {
        self.m_queue.set(self.queue.load(Ordering::Relaxed) as f64);
    }

    /// The counters now. Outcomes are read before intake (the reverse of the order they are written in), so a
    /// snapshot of a running stage never shows more outcomes than items taken.
    pub(crate) fn snapshot(&self) -> StageReport {
        let items_out = self.items_out.get();
        let filtered = self.filtered.get();
        let skipped = self.skipped.get();
        let dead_lettered = self.dead_lettered.get();
        let failed = self.failed.get();
        let not_processed = self.not_processed.get();
        let returned = self.returned.get();
        let unrouted = self.unrouted.get();
        let errors = self.errors.get();
        let retries = self.retries.get();
        let expanded = self.expanded.get();
        let items_in = self.items_in.get();
        StageReport {
            name: self.name.clone(),
            kind: self.kind,
            items_in,
            items_out,
            filtered,
            expanded,
            skipped,
            dead_lettered,
            failed,
            not_processed,
            returned,
            unrouted,
            errors,
            retries,
            queue_depth: u64::try_from(self.queue.load(Ordering::Relaxed)).unwrap_or(0),
        }
    }
}

/// The numbers of one stage. Item counts are ledger counts (see the [module docs](self)): a batch counts as the
/// items it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name (a pipe's name, fused pipes joined with `" >> "`).
    pub name: String,
    /// What the stage is.
    pub kind: StageKind,
    /// Items taken (a source: items read, bad ones included).
    pub items_in: u64,
    /// Items passed on (a sink: items written, i.e. confirmed by a flush).
    pub items_out: u64,
    /// Items a pipe produced no output for.
    pub filtered: u64,
    /// Outputs beyond the stage's inputs (a flat-map's extra items, an item in several windows, the copies
    /// for extra sinks).
    pub expanded: u64,
    /// Failed items the error policy skipped.
    pub skipped: u64,
    /// Failed items whose letter the dead-letter sink confirmed.
    pub dead_lettered: u64,
    /// Items whose error stopped the run (or whose write, flush or letter failed for good).
    pub failed: u64,
    /// Items the stage held or was handed when a stop came that it could not give back: an abort, or a
    /// fail-fast stop of a sink that shares its items with other sinks.
    pub not_processed: u64,
    /// Items after a fail-fast error that the stage held or was handed when the run stopped: given back unread.
    /// They never reached a sink, are not counted as read, and are never committed (a restart reads them).
    pub returned: u64,
    /// Items no sink was for (the fan-out's routes: no condition held and there is no `otherwise` sink).
    pub unrouted: u64,
    /// Failures (after retries): pipe errors, bad source items, failed writes and flushes.
    pub errors: u64,
    /// Retried calls.
    pub retries: u64,
    /// Items waiting in the channel in front of the stage (in a snapshot; 0 after the run).
    pub queue_depth: u64,
}

impl StageReport {
    /// The sum of the stage's outcomes (`out + filtered + skipped + dead-lettered + failed + not processed +
    /// returned`).
    pub fn outcomes(&self) -> u64 {
        self.items_out
            + self.filtered
            + self.skipped
            + self.dead_lettered
            + self.failed
            + self.not_processed
            + self.returned
            + self.unrouted
    }

    /// Whether the stage's ledger adds up: `in + expanded = out + filtered + skipped + dead-lettered + failed +
    /// not processed + returned`. Always true after a run; a snapshot taken while items are in the stage's hands
    /// is not.
    pub fn is_balanced(&self) -> bool {
        self.items_in + self.expanded == self.outcomes()
    }
}

/// The ledger of a run, or of one sink's path through it; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Ledger {
    /// Items the source yielded (bad ones included), less those given back unread after a fail-fast error
    /// ([`StageReport::returned`]; given back beyond the items read, they were a flat-map's outputs and leave
    /// `expanded` instead).
    pub read: u64,
    /// Outputs beyond one per input (flat-maps, sliding windows, copies for extra sinks).
    pub expanded: u64,
    /// Items every sink confirmed (with several sinks in [`RunReport::ledger`]: confirmed writes over all of
    /// them).
    pub written: u64,
    /// Items a pipe dropped.
    pub filtered: u64,
    /// Failed items the error policy dropped.
    pub skipped: u64,
    /// Failed items the dead-letter sink confirmed.
    pub dead_lettered: u64,
    /// Items whose error stopped the run.
    pub failed: u64,
    /// Items in flight at a fail-fast stop or an abort.
    pub not_processed: u64,
    /// Items no sink's route was for.
    pub unrouted: u64,
}

impl Ledger {
    /// `read + expanded`: every item the run had to account for.
    pub fn total(&self) -> u64 {
        self.read + self.expanded
    }

    /// `written + filtered + skipped + dead-lettered + failed + not processed`.
    pub fn accounted(&self) -> u64 {
        self.written
            + self.filtered
            + self.skipped
            + self.dead_lettered
            + self.failed
            + self.not_processed
            + self.unrouted
    }

    /// Whether every item is accounted for: `read + expanded = written + filtered + skipped + dead-lettered +
    /// failed + not processed`.
    pub fn is_balanced(&self) -> bool {
        self.total() == self.accounted()
    }

    /// Items given back (`returned`, after a fail-fast error) were never read: they leave the ledger on both
    /// sides. Outputs of a flat-map given back can outnumber the items read so far: the rest leave `expanded`.
    fn give_back(&mut self, returned: u64) {
        let unread = returned.min(self.read);
        self.read -= unread;
        self.expanded -= (returned - unread).min(self.expanded);
    }

    fn add_outcomes(&mut self, s: &StageReport) {
        self.give_back(s.returned);
        self.filtered += s.filtered;
        self.skipped += s.skipped;
        self.dead_lettered += s.dead_lettered;
        self.failed += s.failed;
        self.not_processed += s.not_processed;
        self.unrouted += s.unrouted;
    }
}

/// Shared list of the stages of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct MonitorInner {
    pub(crate) stages: Mutex<Vec<Arc<StageStats>>>,
}

impl MonitorInner {
    pub(crate) fn add(&self, stats: StageStats) -> Arc<StageStats> {
        let stats = Arc::new(stats);
        self.push(Arc::clone(&stats));
        stats
    }

    pub(crate) fn push(&self, stats: Arc<StageStats>) {
        self.stages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(stats);
    }

    /// Every stage's counters, read from the last stage to the first: an item is counted upstream before it
    /// is counted downstream, so a snapshot of a running pipeline never shows an item ending before it began.
    pub(crate) fn snapshot(&self) -> Vec<StageReport> {
        let stages = self
            .stages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<StageReport> = stages.iter().rev().map(|s| s.snapshot()).collect();
        out.reverse();
        out
    }
}

/// A live view of a pipeline's counters, for code that wants numbers without a metrics exporter.
///
/// Get it from [`Pipeline::monitor`](crate::stream::Pipeline::monitor) (or the sinks builder) before `run`;
/// it stays valid during and after the run.
///
/// # Examples
///
/// ```
/// use rivus_core::prelude::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pipeline = Pipeline::from_iter(0..10u32).pipe(pipe::map(|x: u32| x + 1)).sink(sink::discard());
/// let monitor = pipeline.monitor();
/// pipeline.run().await.unwrap();
/// let stages = monitor.snapshot();
/// assert_eq!(stages[0].items_out, 10);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct PipelineMonitor {
    pub(crate) inner: Arc<MonitorInner>,
}

impl PipelineMonitor {
    /// The counters of every stage, source first, sinks last (empty before `run` starts the stages).
    pub fn snapshot(&self) -> Vec<StageReport> {
        self.inner.snapshot()
    }
}

/// What a finished run did: the ledger of every stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Every stage, source first, then pipes, sinks, and the dead-letter sink if any.
    pub stages: Vec<StageReport>,
    /// Wall time of the run (Tokio's clock).
    pub elapsed: Duration,
    /// `true` when a shutdown request (a signal, a token) stopped the run before the source was exhausted.
    pub cancelled: bool,
    /// `true` when the run was aborted (a second shutdown request, or `shutdown_timeout` after the first):
    /// items in flight were counted as not processed where they were.
    pub aborted: bool,
}

impl RunReport {
    /// Items the source yielded (bad ones included); see [`Ledger::read`] for the ledger's count, which leaves
    /// out items given back unread.
    pub fn items_read(&self) -> u64 {
        self.sum(|s| s.kind == StageKind::Source, |s| s.items_in)
    }
    /// Items written, summed over all sinks (not counting the dead-letter sink): each was confirmed by a flush.
    pub fn items_written(&self) -> u64 {
        self.sum(|s| s.kind == StageKind::Sink, |s| s.items_out)
    }
    /// Failures over all stages (after retries; the dead-letter sink's included).
    pub fn errors(&self) -> u64 {
        self.stages.iter().map(|s| s.errors).sum()
    }
    /// Retries over all stages.
    pub fn retries(&self) -> u64 {
        self.stages.iter().map(|s| s.retries).sum()
    }
    /// Items a pipe dropped.
    pub fn filtered(&self) -> u64 {
        self.ledger().filtered
    }
    /// Skipped items over all stages.
    pub fn skipped(&self) -> u64 {
        self.ledger().skipped
    }
    /// Dead-lettered items over all stages (confirmed by the dead-letter sink).
    pub fn dead_lettered(&self) -> u64 {
        self.ledger().dead_lettered
    }
    /// Items whose error stopped the run.
    pub fn failed(&self) -> u64 {
        self.ledger().failed
    }
    /// Items in flight at a fail-fast stop or an abort.
    pub fn not_processed(&self) -> u64 {
        self.ledger().not_processed
    }
    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The run's ledger: `read + expanded = written + filtered + skipped + dead-lettered + failed + not
    /// processed`. With several sinks, `written` sums the sinks and each extra sink's copies are `expanded`;
    /// see [`sink_ledgers`](Self::sink_ledgers) for one ledger per sink.
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let report = Pipeline::from_iter(0..10u32)
    ///     .pipe(pipe::filter(|x: &u32| x % 3 != 0))
    ///     .sink(sink::discard())
    ///     .run()
    ///     .await
    ///     .unwrap();
    /// let ledger = report.ledger();
    /// assert_eq!((ledger.read, ledger.written, ledger.filtered), (10, 6, 4));
    /// assert!(ledger.is_balanced());
    /// # });
    /// ```
    pub fn ledger(&self) -> Ledger {
        let mut ledger = Ledger {
            read: self.items_read(),
            ..Ledger::default()
        };
        for s in self.ledger_stages() {
            if s.kind == StageKind::Sink {
                ledger.written += s.items_out;
            }
            ledger.expanded += s.expanded;
            ledger.add_outcomes(s);
        }
        ledger
    }

    /// One ledger per sink, in the order the sinks were added: the items on that sink's path (the stages before
    /// the fan-out, and the sink) add up on their own. With routes, a sink's `unrouted` counts the items the
    /// fan-out did not give it (they went to other sinks, or to none).
    pub fn sink_ledgers(&self) -> Vec<(String, Ledger)> {
        let mut upstream = Ledger {
            read: self.items_read(),
            ..Ledger::default()
        };
        // What reached the fan-out and it did not stop with: every sink's share of it, routed or not.
        let mut handed = None;
        for s in self.ledger_stages() {
            match s.kind {
                StageKind::Sink => {}
                StageKind::FanOut => {
                    upstream.give_back(s.returned);
                    upstream.not_processed += s.not_processed;
                    handed = Some(s.items_in.saturating_sub(s.not_processed + s.returned));
                }
                _ => {
                    upstream.expanded += s.expanded;
                    upstream.add_outcomes(s);
                }
            }
        }
        self.stages
            .iter()
            .filter(|s| s.kind == StageKind::Sink)
            .map(|s| {
                let mut ledger = upstream;
                ledger.written = s.items_out;
                ledger.expanded += s.expanded;
                ledger.add_outcomes(s);
                // With routes, the items the fan-out did not give this sink (given to others, or to none).
                if let Some(handed) = handed {
                    ledger.unrouted += handed.saturating_sub(s.items_in);
                }
                (s.name.clone(), ledger)
            })
            .collect()
    }

    fn ledger_stages(&self) -> impl Iterator<Item = &StageReport> {
        self.stages
            .iter()
            .filter(|s| s.kind != StageKind::DeadLetter)
    }

    fn sum(&self, keep: impl Fn(&StageReport) -> bool, f: impl Fn(&StageReport) -> u64) -> u64 {
        self.stages.iter().filter(|s| keep(s)).map(f).sum()
    }

    /// A report read while tasks run can catch a stage between sending items and counting them sent (or
    /// counting the expansions that made them), after the next stage counted them taken: what the next stage
    /// took was sent.
    fn settle_sent(&mut self) {
        let chain: Vec<usize> = (0..self.stages.len())
            .filter(|&i| !matches!(self.stages[i].kind, StageKind::Sink | StageKind::DeadLetter))
            .collect();
        let mut taken: Vec<(usize, u64)> = chain
            .windows(2)
            .map(|w| (w[0], self.stages[w[1]].items_in))
            .collect();
        let sinks: Vec<u64> = self
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Sink)
            .map(|s| s.items_in)
            .collect();
        if let (Some(&last), [sink_in]) = (chain.last(), sinks.as_slice()) {
            taken.push((last, *sink_in));
        }
        for (i, taken) in taken {
            let s = &mut self.stages[i];
            if taken > s.items_out {
                s.items_out = taken;
                let uncounted = s.outcomes().saturating_sub(s.items_in + s.expanded);
                s.expanded += uncounted;
            }
        }
    }

    /// Counts what an abort left in flight as not processed, where it was: in a stage's hands, or in the
    /// channel in front of it (given to the stage that would have taken it).
    pub(crate) fn settle_abandoned(&mut self) {
        self.settle_sent();
        let mut upstream_out: Option<u64> = None;
        let mut fan_out_at: Option<usize> = None;
        for i in 0..self.stages.len() {
            let s = &mut self.stages[i];
            match s.kind {
                // The dead-letter stage counts letters: those in its hands are not processed, like items.
                StageKind::DeadLetter | StageKind::Sink => {}
                _ => {
                    if let Some(out) = upstream_out {
                        s.not_processed += out.saturating_sub(s.items_in);
                        s.items_in = s.items_in.max(out);
                    }
                    upstream_out = Some(s.items_out);
                }
            }
            if s.kind == StageKind::FanOut {
                fan_out_at = Some(i);
            }
            let owed = (s.items_in + s.expanded).saturating_sub(s.outcomes());
            s.not_processed += owed;
        }
        let single_sink = fan_out_at.is_none();
        if single_sink {
            // One sink: the channel in front of it belongs to it.
            if let Some(sink) = self.stages.iter_mut().find(|s| s.kind == StageKind::Sink)
                && let Some(out) = upstream_out
            {
                let owed = out.saturating_sub(sink.items_in);
                sink.items_in += owed;
                sink.not_processed += owed;
            }
        } else if let Some(i) = fan_out_at {
            // Several sinks: each is owed a copy of every item the fan-out took; a copy it did not take (in its
            // channel, or not yet handed over) is its own, not processed, as when a sink stops (see the fan-out
            // task). So each sink's path adds up on its own.
            // The fan-out counts its copies as it takes each chunk: that says how many items it was handing
            // over; what else it holds (given back, or taken and not yet copied) is its own.
            let copies = self
                .stages
                .iter()
                .filter(|s| s.kind == StageKind::Sink)
                .count() as u64;
            let handed = self.stages[i].expanded / copies.saturating_sub(1).max(1);
            for s in self.stages.iter_mut().filter(|s| s.kind == StageKind::Sink) {
                let owed = handed.saturating_sub(s.items_in);
                s.items_in += owed;
                s.not_processed += owed;
            }
            let f = &mut self.stages[i];
            f.items_out = handed * copies;
            f.not_processed = 0;
            f.not_processed = (f.items_in + f.expanded).saturating_sub(f.outcomes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(kind: StageKind, name: &str) -> StageReport {
        StageReport {
            name: name.to_owned(),
            kind,
            items_in: 0,
            items_out: 0,
            filtered: 0,
            expanded: 0,
            skipped: 0,
            dead_lettered: 0,
            failed: 0,
            not_processed: 0,
            returned: 0,
            unrouted: 0,
            errors: 0,
            retries: 0,
            queue_depth: 0,
        }
    }

    #[test]
    fn abandoned_items_become_not_processed_where_they_were() {
        let mut src = stage(StageKind::Source, "src");
        src.items_in = 100;
        src.items_out = 90; // 10 in its hands
        let mut pipe = stage(StageKind::Pipe, "pipe");
        pipe.items_in = 80; // 10 in the channel
        pipe.items_out = 60;
        pipe.filtered = 5; // 15 in its hands
        let mut sink = stage(StageKind::Sink, "sink");
        sink.items_in = 50; // 10 in the channel
        sink.items_out = 40; // 10 unflushed
        let mut report = RunReport {
            stages: vec![src, pipe, sink],
            elapsed: Duration::ZERO,
            cancelled: false,
            aborted: true,
        };
        assert!(!report.ledger().is_balanced());
        report.settle_abandoned();
        let l = report.ledger();
        assert!(l.is_balanced(), "{l:?}");
        assert_eq!(l.not_processed, 55);
        assert!(report.stages.iter().all(StageReport::is_balanced));
        assert_eq!(report.stages[1].not_processed, 25);
        assert_eq!(report.stages[2].not_processed, 20);
    }

    #[test]
    fn items_taken_downstream_before_they_were_counted_sent_are_sent() {
        // Read while running: `pipe` sent 10 items (4 of them made by a flat-map) but had counted neither
        // when the report was taken; the sink had counted them taken.
        let mut src = stage(StageKind::Source, "src");
        src.items_in = 20;
        src.items_out = 20;
        let mut pipe = stage(StageKind::Pipe, "pipe");
        pipe.items_in = 20;
        pipe.items_out = 12;
        pipe.filtered = 2;
        let mut sink = stage(StageKind::Sink, "sink");
        sink.items_in = 22;
        sink.items_out = 22;
        let mut report = RunReport {
            stages: vec![src, pipe, sink],
            elapsed: Duration::ZERO,
            cancelled: false,
            aborted: true,
        };
        report.settle_abandoned();
        let l = report.ledger();
        assert!(l.is_balanced(), "{l:?}");
        assert!(
            report.stages.iter().all(StageReport::is_balanced),
            "{:?}",
            report.stages
        );
        assert_eq!((l.written, l.expanded, l.not_processed), (22, 4, 0));
    }

    #[test]
    fn sink_ledgers_add_up_on_their_own() {
        let mut src = stage(StageKind::Source, "src");
        src.items_in = 10;
        src.items_out = 10;
        let mut fan = stage(StageKind::FanOut, "fan-out");
        fan.items_in = 10;
        fan.expanded = 10;
        fan.items_out = 20;
        let mut a = stage(StageKind::Sink, "a");
        a.items_in = 10;
        a.items_out = 10;
        let mut b = stage(StageKind::Sink, "b");
        b.items_in = 10;
        b.items_out = 7;
        b.skipped = 3;
        let report = RunReport {
            stages: vec![src, fan, a, b],
            elapsed: Duration::ZERO,
            cancelled: false,
            aborted: false,
        };
        let total = report.ledger();
        assert!(total.is_balanced(), "{total:?}");
        assert_eq!((total.written, total.expanded), (17, 10));
        for (name, l) in report.sink_ledgers() {
            assert!(l.is_balanced(), "{name}: {l:?}");
            assert_eq!(l.read, 10);
        }
    }

    /// A fail-fast run (the runtime's property test found it): every item read was given back before the
    /// fan-out, so the item the fan-out gave back was a flat-map's output. It leaves `expanded` in each sink's
    /// ledger, as it does in the run's; it used to be taken from `read` (already 0) and lost.
    #[test]
    fn a_flat_map_output_given_back_at_the_fan_out_leaves_expanded_in_every_sink_ledger() {
        let counts = |kind, name, items_in, items_out, expanded, returned, failed| {
            let mut s = stage(kind, name);
            (s.items_in, s.items_out, s.expanded, s.returned, s.failed) =
                (items_in, items_out, expanded, returned, failed);
            s
        };
        let report = RunReport {
            stages: vec![
                counts(StageKind::Source, "src", 242, 242, 0, 0, 0),
                counts(StageKind::Pipe, "s0", 242, 8, 0, 234, 0),
                counts(StageKind::Pipe, "flat-map", 8, 9, 3, 2, 0),
                counts(StageKind::Pipe, "s2", 9, 9, 0, 0, 0),
                counts(StageKind::Pipe, "s3", 9, 3, 0, 6, 0),
                counts(StageKind::FanOut, "fan-out", 3, 6, 4, 1, 0),
                counts(StageKind::Sink, "k0", 2, 2, 0, 0, 0),
                counts(StageKind::Sink, "k1", 2, 0, 0, 0, 2),
                counts(StageKind::Sink, "k2", 2, 0, 0, 0, 2),
            ],
            elapsed: Duration::ZERO,
            cancelled: false,
            aborted: false,
        };
        let total = report.ledger();
        assert!(total.is_balanced(), "{total:?}");
        for (name, l) in report.sink_ledgers() {
            assert!(l.is_balanced(), "{name}: {l:?}");
            assert_eq!((l.read, l.expanded), (0, 2), "{name}");
        }
    }
}

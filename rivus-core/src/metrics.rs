//! Numbers about a running pipeline: per-stage counters in the [`RunReport`] and the [`PipelineMonitor`], and
//! the same numbers through the [`metrics`] facade for whatever exporter the application installs.
//!
//! | metric (labels `pipeline`, `stage`) | kind | meaning |
//! |---|---|---|
//! | `rivus_items_in_total` | counter | items a stage took |
//! | `rivus_items_out_total` | counter | items a stage passed on (sinks: items written) |
//! | `rivus_errors_total` | counter | failed items (after retries), bad source items, failed writes |
//! | `rivus_retries_total` | counter | retried calls |
//! | `rivus_dead_letters_total` | counter | items sent to the dead-letter sink |
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
    /// The dead-letter sink.
    DeadLetter,
}

/// The counters of one stage.
#[derive(Debug)]
pub(crate) struct StageStats {
    pub(crate) name: String,
    pub(crate) kind: StageKind,
    items_in: AtomicU64,
    items_out: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    queue: Arc<AtomicI64>,
    m_in: Counter,
    m_out: Counter,
    m_errors: Counter,
    m_retries: Counter,
    m_dead: Counter,
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
            m_in: metrics::counter!("rivus_items_in_total", &labels),
            m_out: metrics::counter!("rivus_items_out_total", &labels),
            m_errors: metrics::counter!("rivus_errors_total", &labels),
            m_retries: metrics::counter!("rivus_retries_total", &labels),
            m_dead: metrics::counter!("rivus_dead_letters_total", &labels),
            m_latency: metrics::histogram!("rivus_stage_latency_seconds", &labels),
            m_queue: metrics::gauge!("rivus_queue_depth", &labels),
            name,
            kind,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            queue,
        }
    }

    pub(crate) fn add_in(&self, n: usize) {
        if n > 0 {
            self.items_in.fetch_add(n as u64, Ordering::Relaxed);
            self.m_in.increment(n as u64);
        }
    }
    pub(crate) fn add_out(&self, n: usize) {
        if n > 0 {
            self.items_out.fetch_add(n as u64, Ordering::Relaxed);
            self.m_out.increment(n as u64);
        }
    }
    pub(crate) fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.m_errors.increment(1);
    }
    pub(crate) fn add_retries(&self, n: u32) {
        if n > 0 {
            self.retries.fetch_add(u64::from(n), Ordering::Relaxed);
            self.m_retries.increment(u64::from(n));
        }
    }
    pub(crate) fn add_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.m_dead.increment(1);
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

    pub(crate) fn snapshot(&self) -> StageReport {
        StageReport {
            name: self.name.clone(),
            kind: self.kind,
            items_in: self.items_in.load(Ordering::Relaxed),
            items_out: self.items_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            queue_depth: u64::try_from(self.queue.load(Ordering::Relaxed)).unwrap_or(0),
        }
    }
}

/// The numbers of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name (a pipe's name, fused pipes joined with `" >> "`).
    pub name: String,
    /// What the stage is.
    pub kind: StageKind,
    /// Items taken (a source: items read, bad ones included).
    pub items_in: u64,
    /// Items passed on (a sink: items written).
    pub items_out: u64,
    /// Items that failed after their retries (or bad source items, or failed writes).
    pub errors: u64,
    /// Retried calls.
    pub retries: u64,
    /// Failed items the error policy skipped.
    pub skipped: u64,
    /// Failed items handed to the dead-letter sink.
    pub dead_lettered: u64,
    /// Items waiting in the channel in front of the stage (in a snapshot; 0 after the run).
    pub queue_depth: u64,
}

/// Shared list of the stages of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct MonitorInner {
    pub(crate) stages: Mutex<Vec<Arc<StageStats>>>,
}

impl MonitorInner {
    pub(crate) fn add(&self, stats: StageStats) -> Arc<StageStats> {
        let stats = Arc::new(stats);
        self.stages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::clone(&stats));
        stats
    }

    pub(crate) fn snapshot(&self) -> Vec<StageReport> {
        self.stages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|s| s.snapshot())
            .collect()
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

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Every stage, source first, then pipes, sinks, and the dead-letter sink if any.
    pub stages: Vec<StageReport>,
    /// Wall time of the run (Tokio's clock).
    pub elapsed: Duration,
    /// `true` when the run was stopped by a shutdown signal or token before the source was exhausted.
    pub cancelled: bool,
}

impl RunReport {
    /// Items read from the source.
    pub fn items_read(&self) -> u64 {
        self.sum(StageKind::Source, |s| s.items_out + s.errors)
    }
    /// Items written, summed over all sinks (not counting the dead-letter sink).
    pub fn items_written(&self) -> u64 {
        self.sum(StageKind::Sink, |s| s.items_out)
    }
    /// Failed items over all stages.
    pub fn errors(&self) -> u64 {
        self.stages.iter().map(|s| s.errors).sum()
    }
    /// Retries over all stages.
    pub fn retries(&self) -> u64 {
        self.stages.iter().map(|s| s.retries).sum()
    }
    /// Skipped items over all stages.
    pub fn skipped(&self) -> u64 {
        self.stages.iter().map(|s| s.skipped).sum()
    }
    /// Dead-lettered items over all stages.
    pub fn dead_lettered(&self) -> u64 {
        self.stages.iter().map(|s| s.dead_lettered).sum()
    }
    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }
    fn sum(&self, kind: StageKind, f: impl Fn(&StageReport) -> u64) -> u64 {
        self.stages.iter().filter(|s| s.kind == kind).map(f).sum()
    }
}

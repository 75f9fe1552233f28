//! What must hold after every run, and, where the model can say, exactly what the run must have done.

use std::sync::atomic::{AtomicU64, Ordering};

use rivus_core::metrics::{RunReport, StageKind};
use rivus_core::prelude::*;

use crate::model::{Event, Model, SinkFate};
use crate::parts::Shared;
use crate::plan::Tok;

/// How runs ended, over all cases (printed at the end, for the record).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) completed: AtomicU64,
    pub(crate) stopped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) fail_fast_exact: AtomicU64,
    pub(crate) commits: AtomicU64,
    /// Fail-fast runs (ordered) that a sink failed, whose error is not the one of the first failing item.
    pub(crate) other_error: AtomicU64,
    /// Fail-fast runs (ordered, one sink) whose counts are not those of the items before the failing one.
    pub(crate) other_counts: AtomicU64,
}

pub(crate) static STATS: Stats = Stats {
    completed: AtomicU64::new(0),
    stopped: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    aborted: AtomicU64::new(0),
    fail_fast_exact: AtomicU64::new(0),
    commits: AtomicU64::new(0),
    other_error: AtomicU64::new(0),
    other_counts: AtomicU64::new(0),
};

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Whether every item of `part` is in `whole` (as many times).
fn sub_multiset<T: Ord + Clone>(part: &[T], whole: &[T]) -> bool {
    let (part, whole) = (sorted(part), sorted(whole));
    let mut w = whole.iter().peekable();
    part.iter().all(|x| {
        while w.peek().is_some_and(|y| *y < x) {
            w.next();
        }
        w.next() == Some(x)
    })
}

enum Outcome {
    Ok,
    Failed(PipeError),
    Aborted,
}

pub(crate) fn check(
    shared: &Shared,
    result: Result<RunReport, PipelineError>,
) -> Result<(), String> {
    let plan = &shared.plan;
    let model = &shared.model;
    let logs = shared.logs();
    let (report, outcome) = match result {
        Ok(report) => (report, Outcome::Ok),
        Err(PipelineError::Failed { error, report }) => (*report, Outcome::Failed(error)),
        Err(PipelineError::Aborted { report, .. }) => (*report, Outcome::Aborted),
        Err(e) => return Err(format!("the pipeline did not run: {e}")),
    };
    let aborted = matches!(outcome, Outcome::Aborted);
    let stages = || format!("{:#?}", report.stages);

    // Commits: each judged when it was made.
    ensure!(
        logs.violations.is_empty(),
        "commits passed items that were not done: {:#?}",
        logs.violations
    );
    STATS
        .commits
        .fetch_add(logs.commits.len() as u64, Ordering::Relaxed);

    // The ledger adds up: in total, per sink, per stage.
    let ledger = report.ledger();
    ensure!(ledger.is_balanced(), "ledger {ledger:?}\n{}", stages());
    for (name, l) in report.sink_ledgers() {
        ensure!(l.is_balanced(), "sink {name}: {l:?}\n{}", stages());
    }
    for s in &report.stages {
        ensure!(s.is_balanced(), "stage {} does not add up: {s:?}", s.name);
    }
    ensure!(
        report.aborted == aborted,
        "report.aborted = {}",
        report.aborted
    );

    // Written is what each sink flushed; what it flushed is what the model says it writes.
    let full: Vec<Vec<Tok>> = (0..plan.sinks.len())
        .map(|j| Model::written(&model.events, j))
        .collect();
    let ordered = plan.ordered();
    for (j, log) in logs.sinks.iter().enumerate() {
        let name = format!("k{j}");
        let stage = report
            .stage(&name)
            .ok_or_else(|| format!("no stage {name}"))?;
        ensure!(
            stage.kind == StageKind::Sink,
            "{name} is a {:?}",
            stage.kind
        );
        let flushed = log.flushed.len() as u64;
        if aborted {
            // A sink may finish a flush after the abort took the report: written never counts more.
            ensure!(
                stage.items_out <= flushed,
                "{name}: written {} > flushed {flushed}",
                stage.items_out
            );
        } else {
            ensure!(
                stage.items_out == flushed,
                "{name}: written {} != flushed {flushed}",
                stage.items_out
            );
        }
        if ordered {
            ensure!(
                full[j].starts_with(&log.flushed),
                "{name} wrote {:?}, not a prefix of {:?}",
                log.flushed,
                full[j]
            );
        } else {
            ensure!(
                sub_multiset(&log.flushed, &full[j]),
                "{name} wrote {:?}, not among {:?}",
                log.flushed,
                full[j]
            );
        }
    }

    // Dead letters: counted once the dead-letter sink confirmed them, and each one the model expects.
    let confirmed = logs.letters.len() as u64;
    if aborted {
        ensure!(
            report.dead_lettered() <= confirmed,
            "dead-lettered {} > confirmed {confirmed}",
            report.dead_lettered()
        );
    } else {
        ensure!(
            report.dead_lettered() == confirmed,
            "dead-lettered {} != confirmed letters {confirmed}",
            report.dead_lettered()
        );
    }
    let letters: Vec<(Option<usize>, Tok)> = logs
        .letters
        .iter()
        .map(|(j, t)| t.map(|t| (*j, t)).ok_or("a letter without its item"))
        .collect::<Result<_, _>>()?;
    let all_letters = Model::letters(&model.events);
    ensure!(
        sub_multiset(&letters, &all_letters),
        "letters {letters:?} not among {all_letters:?}"
    );

    let read = usize::try_from(report.items_read()).map_err(|e| e.to_string())?;
    let events = model.first(read);
    let fatal = events.iter().position(Event::is_fatal);
    match outcome {
        Outcome::Aborted => bump(&STATS.aborted),
        Outcome::Ok => {
            if read < plan.n {
                bump(&STATS.stopped);
                ensure!(report.cancelled, "read {read} of {} without a stop", plan.n);
                // A sync source's thread may have read one more item than the task took when the stop came:
                // it is dropped, never committed (a restart reads it again).
                let in_transit = usize::from(plan.source_sync);
                ensure!(
                    plan.stop_after.is_some_and(|k| k <= read + in_transit),
                    "read {read} of {} but the stop came after {:?}",
                    plan.n,
                    plan.stop_after
                );
            } else {
                bump(&STATS.completed);
            }
            ensure!(
                fatal.is_none(),
                "the run succeeded past a failing item: {:?}",
                fatal.map(|f| &events[f])
            );
            complete(
                shared,
                &report,
                &logs.flushed_by_sink(),
                &letters,
                events,
                ordered,
            )?;
            if read > 0 {
                ensure!(
                    logs.commits.last() == Some(&(read as u64 - 1)),
                    "last commit {:?}, {read} items read",
                    logs.commits.last()
                );
            }
        }
        Outcome::Failed(error) => {
            bump(&STATS.failed);
            if !plan.may_fail_otherwise() {
                let f = fatal
                    .ok_or_else(|| format!("the run failed ({error}) though no item fails it"))?;
                if ordered {
                    bump(&STATS.fail_fast_exact);
                    fail_fast(
                        shared,
                        &report,
                        &logs.flushed_by_sink(),
                        &letters,
                        events,
                        f,
                        &error,
                    )?;
                }
            }
        }
    }
    Ok(())
}

impl crate::parts::Logs {
    fn flushed_by_sink(&self) -> Vec<Vec<Tok>> {
        self.sinks.iter().map(|s| s.flushed.clone()).collect()
    }
}

/// A run that went to the end (or stopped gracefully after `events`): outputs and ledger exactly as the model.
fn complete(
    shared: &Shared,
    report: &RunReport,
    flushed: &[Vec<Tok>],
    letters: &[(Option<usize>, Tok)],
    events: &[Event],
    ordered: bool,
) -> Result<(), String> {
    let model = &shared.model;
    for (j, got) in flushed.iter().enumerate() {
        let want = Model::written(events, j);
        if ordered {
            ensure!(*got == want, "k{j} wrote {got:?}, want {want:?}");
        } else {
            ensure!(
                sorted(got) == sorted(&want),
                "k{j} wrote {got:?}, want (in any order) {want:?}"
            );
        }
    }
    let want_letters = Model::letters(events);
    ensure!(
        sorted(letters) == sorted(&want_letters),
        "letters {letters:?}, want {want_letters:?}"
    );
    let t = model.tally(events);
    let l = report.ledger();
    let got = (
        l.read,
        l.expanded,
        l.written,
        l.filtered,
        l.skipped,
        l.dead_lettered,
        l.failed,
        l.not_processed,
    );
    let want = (
        report.items_read(),
        t.expanded,
        t.written.iter().sum::<u64>(),
        t.filtered,
        t.skipped,
        t.dead_lettered,
        0,
        0,
    );
    ensure!(
        got == want,
        "ledger (read, expanded, written, filtered, skipped, dead-lettered, failed, not processed) = {got:?}, want {want:?}\n{:#?}",
        report.stages
    );
    for (j, (name, l)) in report.sink_ledgers().iter().enumerate() {
        ensure!(
            l.written == t.written[j],
            "{name}: written {}, want {}",
            l.written,
            t.written[j]
        );
    }
    Ok(())
}

/// A fail-fast run of an ordered pipeline whose first failing item is `events[f]`: every sink wrote exactly
/// the items before it (a sink that fails on it, or every sink when a pipe fails on it); another sink may have
/// written more of its own stream. Everything before the failing item is accounted for.
fn fail_fast(
    shared: &Shared,
    report: &RunReport,
    flushed: &[Vec<Tok>],
    letters: &[(Option<usize>, Tok)],
    events: &[Event],
    f: usize,
    error: &PipeError,
) -> Result<(), String> {
    let model = &shared.model;
    let before = &events[..f];
    for (j, got) in flushed.iter().enumerate() {
        let want = Model::written(before, j);
        let exact = match &events[f] {
            Event::Leaf { sinks, .. } => sinks[j] == SinkFate::Fatal,
            _ => true,
        };
        if exact {
            ensure!(
                *got == want,
                "fail fast at {:?}: k{j} wrote {got:?}, want {want:?}",
                events[f]
            );
        } else {
            ensure!(
                got.starts_with(&want),
                "fail fast at {:?}: k{j} wrote {got:?}, want at least {want:?}",
                events[f]
            );
        }
    }
    let want_letters = Model::letters(before);
    ensure!(
        sub_multiset(&want_letters, letters),
        "fail fast at {:?}: letters {letters:?}, want at least {want_letters:?}",
        events[f]
    );
    let t = model.tally(before);
    let l = report.ledger();
    ensure!(
        l.filtered >= t.filtered
            && l.skipped >= t.skipped
            && l.dead_lettered >= t.dead_lettered
            && l.failed >= 1,
        "fail fast at {:?}: ledger {l:?}, want at least {t:?}",
        events[f]
    );
    // The run's error is the failing item's. (When sinks fail on different items, the one that fails first in
    // time may be the later item: sinks share one place in the pipeline. Counted, not asserted.)
    match &events[f] {
        Event::PipeFatal { tok } => ensure!(
            error.to_string().contains(&format!("{tok:?}")),
            "fail fast at {:?}: the run's error is {error}",
            events[f]
        ),
        Event::Leaf { tok, .. } => {
            if !error.to_string().contains(&format!("{tok:?}")) {
                bump(&STATS.other_error);
            }
        }
        _ => unreachable!("not a failing event"),
    }
    if shared.plan.sinks.len() == 1
        && (
            l.filtered,
            l.skipped,
            l.dead_lettered,
            l.failed,
            l.not_processed,
        ) != (t.filtered, t.skipped, t.dead_lettered, 1, 0)
    {
        bump(&STATS.other_counts);
    }
    Ok(())
}

//! The runtime's promises, checked on random pipelines (issue 10, "Proof").
//!
//! Each case builds a pipeline of 1 to 4 sync and async stages (fused `.pipe()` stages and `.pipe_with()`
//! stages with concurrency 1 to 8, ordered or not, on blocking workers or not, with retries and an error policy
//! of their own), maybe a batch or window, 1 to 3 sinks and a dead-letter sink, and runs it on 0 to 500 items
//! with injected faults: pipe errors (transient, recovered by retries or not, and permanent), panics, sink
//! write and flush failures, a failing dead-letter sink, a stop request and an abort at a random point.
//!
//! Checked on every run: it ends; each commit, when it is made, passes only items that are done (written and
//! flushed by every sink, filtered, skipped, or dead-lettered and confirmed) and never one that fails the run;
//! the ledger adds up in total, per sink and per stage; each sink's `written` is what it flushed, and that is
//! what the iterator model says it writes; `dead_lettered` is what the dead-letter sink confirmed. Where the
//! model can say exactly (a run that completes or stops gracefully; a fail-fast run of an ordered pipeline), the
//! outputs and counts are exactly the model's.
//!
//! `PROPTEST_CASES` sets the number of cases (default [`DEFAULT_CASES`], a few seconds in debug).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod build;
mod check;
mod model;
mod parts;
mod plan;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, TestCaseError, TestRunner};

use check::STATS;
use parts::Shared;

const DEFAULT_CASES: u32 = 256;

/// Injected panics are expected: keep their messages out of the test output.
fn silence_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("injected"));
        if !injected {
            default(info);
        }
    }));
}

fn run_case(plan: plan::Plan) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let shared = Arc::new(Shared::new(plan.clone()));
    let pipeline = build::pipeline(&shared);
    let monitor = pipeline.monitor();
    let result =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), pipeline.run()).await });
    rt.shutdown_timeout(Duration::from_secs(1));
    let result = match result {
        Ok(result) => check::check(&shared, result),
        Err(_) => Err(format!(
            "the run did not end within 10 s; its stages: {:#?}",
            monitor.snapshot()
        )),
    };
    if let Err(e) = &result
        && std::env::var_os("RIVUS_PROPS_VERBOSE").is_some()
    {
        eprintln!("FAILED: {e}\n{plan:#?}");
    }
    result
}

#[test]
fn random_pipelines_keep_their_promises() {
    silence_injected_panics();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    });
    let started = Instant::now();
    let result = runner.run(&plan::plan(), |plan| {
        run_case(plan).map_err(TestCaseError::fail)
    });
    let s = &STATS;
    eprintln!(
        "{cases} cases in {:.1?}: {} completed, {} stopped, {} failed ({} fail-fast checked exactly; {} failed by \
         a sink with another item's error, {} with counts beyond the items before the failing one), {} aborted; {} commits \
         judged",
        started.elapsed(),
        s.completed.load(Ordering::Relaxed),
        s.stopped.load(Ordering::Relaxed),
        s.failed.load(Ordering::Relaxed),
        s.fail_fast_exact.load(Ordering::Relaxed),
        s.other_error.load(Ordering::Relaxed),
        s.other_counts.load(Ordering::Relaxed),
        s.aborted.load(Ordering::Relaxed),
        s.commits.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

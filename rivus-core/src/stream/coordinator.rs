//! The run coordinator: wires every stage, opens them through the gate, drives the run-state machine from
//! the outside (stop and abort tokens, signals, the shutdown timeout), waits for the tasks, and reports.
//!
//! An abort never waits: async tasks are dropped where they are, and the threads of sync sources and sinks
//! that are blocked in the operating system are left behind (they end when their call returns). What was in
//! flight is counted as not processed, where it was, so the report's ledger adds up.

use std::borrow::Cow;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Item;
use super::builder::SinkEntry;
use super::builder::{PipelineError, Settings};
use super::channel::ChunkTx;
use super::dead_letter::{self, DeadLetterRx};
use super::state::{Run, State};
use super::task::fan_out::{Branch, Route, fan_out};
use super::wiring::{DeadLetterStart, Head, Wiring};
use crate::error::PipeError;
use crate::metrics::{RunReport, StageKind, StageStats};

/// How long an abort waits for its tasks to stop where they are (each stops at its next await).
const ABORTED_TASKS_STOP: std::time::Duration = std::time::Duration::from_millis(100);

/// Where the last channel goes.
pub(crate) enum Terminal<T> {
    Sinks(Vec<SinkEntry<T>>),
    /// The consumer of a [`PipelineStream`](super::PipelineStream) reads it, counting in `StageStats`.
    Stream(ChunkTx<T>, Arc<StageStats>),
}

/// The shared state of a run about to start.
pub(crate) fn prepare(settings: &Settings) -> Arc<Run> {
    Arc::new(Run::new(
        settings.cfg.clone(),
        Arc::clone(&settings.monitor.inner),
    ))
}

/// Wires every stage; `Err` when the pipeline cannot run as built (then nothing runs).
fn wire<T: Item>(
    run: &Arc<Run>,
    head: Head<T>,
    terminal: Terminal<T>,
    dead_letter: Option<DeadLetterStart>,
) -> Result<Wiring, (Wiring, String)> {
    let mut w = Wiring::new(Arc::clone(run));
    let dead_rx = dead_letter.as_ref().map(|_| {
        let (tx, rx) = mpsc::channel(dead_letter::CAPACITY);
        w.dead_letters = Some(tx);
        rx
    });
    match terminal {
        Terminal::Stream(tx, stats) => {
            head.start(&mut w, tx);
            run.monitor.push(stats);
        }
        Terminal::Sinks(mut sinks) if sinks.len() == 1 && matches!(sinks[0].route, Route::All) => {
            if let Some(entry) = sinks.pop() {
                let cfg = entry.cfg.unwrap_or_else(|| w.default_pipe_config());
                let (tx, rx) = w.channel(cfg.buffer_size);
                head.start(&mut w, tx);
                (entry.start.0)(&mut w, rx, cfg);
            }
        }
        Terminal::Sinks(sinks) => {
            let buffer = w.default_pipe_config().buffer_size;
            let (tx, rx) = w.channel(buffer);
            head.start(&mut w, tx);
            // The fan-out is the chain's last stage, registered before the sinks.
            let ctx = w.stage(
                Cow::Borrowed("fan-out"),
                StageKind::FanOut,
                None,
                rx.depth(),
            );
            w.fanned_out = true;
            let mut branches = Vec::with_capacity(sinks.len());
            for entry in sinks {
                let cfg = entry.cfg.unwrap_or_else(|| w.default_pipe_config());
                let (stx, srx) = w.channel(cfg.buffer_size);
                let stats = (entry.start.0)(&mut w, srx, cfg);
                branches.push(Branch {
                    tx: stx,
                    stats,
                    route: entry.route,
                });
            }
            w.spawn(ctx, |ctx| fan_out(rx, branches, ctx));
        }
    }
    // The dead-letter task must not hold a sender of its own channel: it ends when every stage is done.
    w.dead_letters = None;
    if let (Some(start), Some(rx)) = (dead_letter, dead_rx) {
        (start.0)(&mut w, DeadLetterRx(rx), ());
    }
    match w.config_error.take() {
        Some(message) => Err((w, message)),
        None => Ok(w),
    }
}

/// Spawns every stage, opens, runs, waits, reports; see the [module docs](self).
pub(crate) async fn execute<T: Item>(
    run: Arc<Run>,
    settings: Settings,
    head: Head<T>,
    terminal: Terminal<T>,
    dead_letter: Option<DeadLetterStart>,
) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let w = match wire(&run, head, terminal, dead_letter) {
        Ok(w) => w,
        Err((w, message)) => {
            run.gate.fail();
            run.abort_because("the pipeline cannot run as built");
            let mut tasks = w.tasks;
            while tasks.join_next().await.is_some() {}
            return Err(PipelineError::Config(message));
        }
    };
    // Watch the state before any part can move it: a change before the watch would go unseen.
    let mut state = run.watch();
    run.gate.seal(w.parts);
    let mut tasks = w.tasks;
    drop(w.dead_letters);
    // Outside requests move the state machine: a stop token, an abort token, signals.
    let mut watchers = tokio::task::JoinSet::new();
    if let Some(token) = settings.stop.clone() {
        let run = Arc::clone(&run);
        watchers.spawn(async move {
            token.cancelled().await;
            tracing::info!("shutdown requested: draining");
            run.request_stop();
        });
    }
    if let Some(token) = settings.abort.clone() {
        let run = Arc::clone(&run);
        watchers.spawn(async move {
            token.cancelled().await;
            abort(&run, "abort requested");
        });
    }
    if settings.signals {
        let run = Arc::clone(&run);
        watchers.spawn(async move {
            next_signal().await;
            tracing::info!("shutdown requested: draining (signal again to abort)");
            run.request_stop();
            next_signal().await;
            abort(&run, "a second shutdown request");
        });
    }
    let mut deadline: Option<Instant> = None;
    // A task that died outside a call (a bug in the runtime, not in a part) leaves its items unaccounted.
    let mut abandoned = false;
    let aborted = loop {
        tokio::select! {
            biased;
            changed = state.changed() => {
                if changed.is_err() {
                    continue;
                }
                match *state.borrow_and_update() {
                    State::Aborted => break true,
                    State::Draining { .. } if deadline.is_none() => {
                        // A timeout past what the clock can hold never ends the drain.
                        deadline = Instant::now().checked_add(run.cfg.shutdown_timeout);
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                abort(
                    &run,
                    &format!(
                        "the drain took longer than the shutdown timeout ({:?})",
                        run.cfg.shutdown_timeout
                    ),
                );
            }
            next = tasks.join_next() => match next {
                None => break false,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    if e.is_panic() {
                        abandoned = true;
                        run.fail(usize::MAX, PipeError::from(e));
                    }
                }
            },
        }
    };
    if aborted {
        tasks.abort_all();
        // An aborted task stops at its next await; a report read before then can catch it between two counts
        // (items sent but not counted sent). Wait until the tasks have stopped, briefly: one busy in a long
        // synchronous call is left behind.
        let stopped = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(ABORTED_TASKS_STOP, stopped).await;
        tasks.detach_all();
    }
    watchers.abort_all();
    run.finish();
    let mut report = RunReport {
        stages: settings.monitor.snapshot(),
        elapsed: started.elapsed(),
        cancelled: run.cancelled(),
        aborted,
    };
    if aborted || abandoned {
        report.settle_abandoned();
    }
    tracing::info!(
        pipeline = %run.cfg.name,
        read = report.items_read(),
        written = report.items_written(),
        errors = report.errors(),
        elapsed = ?report.elapsed,
        "pipeline finished"
    );
    if aborted {
        return Err(PipelineError::Aborted {
            reason: run.abort_reason().unwrap_or_default(),
            report: Box::new(report),
        });
    }
    match run.take_error() {
        Some(error) => Err(PipelineError::Failed {
            error,
            report: Box::new(report),
        }),
        None => Ok(report),
    }
}

/// Aborts the run, keeping why.
fn abort(run: &Run, reason: &str) {
    tracing::warn!("{reason}: aborting");
    run.abort_because(reason);
}

/// The next Ctrl-C or SIGTERM.
async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

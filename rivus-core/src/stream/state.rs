//! The state every stage of one run shares: the run-state machine, the run's error, the acknowledgement
//! tracker, the gate that opens every part before any runs, and the counters.
//!
//! ```text
//!            request_stop ┌───────────────────────────┐ all tasks ended
//!   Running ─────────────▶│ Draining { stop, cut }    │────────────────▶ Stopped
//!      │    fail(stage)   │  stop: the source stops   │
//!      └─────────────────▶│  cut: stages before it    │ abort (second request,
//!                         │       stop, the rest drain│ shutdown_timeout)
//!                         └───────────────────────────┘────────────────▶ Aborted
//! ```
//!
//! A graceful stop (a signal, a token) only stops the source: everything in flight drains to the sinks. A
//! fail-fast error at stage `k` *cuts* the pipeline there: stages before `k` stop where they are (what they hold
//! is not processed), stage `k` passes on what it produced before the failing item, and the stages after it
//! drain. That is what makes fail-fast deterministic: the items before the failing one that passed every stage
//! are written, the rest is not, whatever the timing. Sinks share one index, so a failing sink stops the
//! stages before it and lets the other sinks drain; the dead-letter sink comes after every sink, so its failure
//! stops them all.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use std::sync::Arc;

use super::acks::AckTracker;
use crate::config::StreamConfig;
use crate::error::PipeError;
use crate::metrics::MonitorInner;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Every stage works.
    Running,
    /// Finishing: the source stops (`stop`) and/or the stages before index `cut` stop (a fail-fast error at
    /// stage `cut`; 0 when none); the others drain.
    Draining { stop: bool, cut: usize },
    /// Every task ended.
    Stopped,
    /// Tasks were dropped where they were.
    Aborted,
}

impl State {
    /// Whether the stage at `index` must stop where it is.
    pub(crate) fn halts(self, index: usize) -> bool {
        match self {
            Self::Running | Self::Stopped => false,
            Self::Draining { cut, .. } => index < cut,
            Self::Aborted => true,
        }
    }

    /// Whether the source must stop reading.
    pub(crate) fn stops_source(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// What every stage of one run shares.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) cfg: StreamConfig,
    pub(crate) monitor: Arc<MonitorInner>,
    /// Counts outstanding work per source item; used when the source gives positions.
    pub(crate) tracker: AckTracker,
    pub(crate) gate: Gate,
    state: watch::Sender<State>,
    error: Mutex<Option<PipeError>>,
    /// A graceful stop ended reading before the source was exhausted.
    cancelled: AtomicBool,
    abort_reason: Mutex<Option<String>>,
    /// Terminals (sinks, the stream's consumer, the dead-letter sink) still running: once none is, no item
    /// can be acknowledged any more.
    terminals: watch::Sender<usize>,
}

impl Run {
    pub(crate) fn new(cfg: StreamConfig, monitor: Arc<MonitorInner>) -> Self {
        Self {
            cfg,
            monitor,
            tracker: AckTracker::default(),
            gate: Gate::new(),
            state: watch::Sender::new(State::Running),
            error: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            abort_reason: Mutex::new(None),
            terminals: watch::Sender::new(0),
        }
    }

    /// A terminal starts; the guard marks it finished when dropped (also on panic or abort).
    pub(crate) fn terminal(self: &Arc<Self>) -> TerminalGuard {
        self.terminals.send_modify(|n| *n += 1);
        TerminalGuard(Arc::clone(self))
    }

    /// Completes once every terminal has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn until_terminals_done(&self) {
        let mut rx = self.terminals.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// The state now.
    pub(crate) fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver that wakes on every change of state.
    pub(crate) fn watch(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// Completes once the stage at `index` must stop where it is (see [`State::halts`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn until_halted(&self, index: usize) {
        // `self` holds the sender, so the wait ends only by a change of state.
        let _ = self.state.subscribe().wait_for(|s| s.halts(index)).await;
    }

    /// A graceful stop: the source stops, the rest drains.
    pub(crate) fn request_stop(&self) {
        self.state.send_if_modified(|s| match *s {
            State::Running => {
                *s = State::Draining { stop: true, cut: 0 };
                true
            }
            State::Draining { stop: false, cut } => {
                *s = State::Draining { stop: true, cut };
                true
            }
            _ => false,
        });
    }

    /// A fail-fast error at the stage at `index`: cuts the pipeline there (stages before `index` stop), and
    /// keeps `error` if it is the run's first or cuts further downstream than the ones before it. Items reach
    /// stages in order, so the error furthest downstream is that of the earliest failing item, whatever the
    /// timing: an item after it can only fail upstream (the cut stops it there).
    pub(crate) fn fail(&self, index: usize, error: PipeError) {
        tracing::warn!(error = %error, "pipeline error");
        // The slot is held while the state moves, so the kept error is the one of the last cut.
        let mut slot = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cut = self.state.send_if_modified(|s| match *s {
            State::Running => {
                *s = State::Draining {
                    stop: false,
                    cut: index,
                };
                true
            }
            State::Draining { stop, cut } if cut < index => {
                *s = State::Draining { stop, cut: index };
                true
            }
            // Already cut at or past `index`, or over: the stages this error would stop are stopped.
            _ => false,
        });
        if cut || slot.is_none() {
            *slot = Some(error);
        }
    }

    /// Keeps `error` if it is the run's first, without stopping anything (a failed `close`).
    pub(crate) fn record(&self, error: PipeError) {
        tracing::warn!(error = %error, "pipeline error");
        let mut slot = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// Drops every task where it is, for `reason`.
    pub(crate) fn abort_because(&self, reason: &str) {
        self.abort_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(|| reason.to_owned());
        self.state.send_replace(State::Aborted);
    }

    /// Why the run was aborted.
    pub(crate) fn abort_reason(&self) -> Option<String> {
        self.abort_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every task ended.
    pub(crate) fn finish(&self) {
        self.state.send_if_modified(|s| {
            if *s == State::Aborted {
                return false;
            }
            *s = State::Stopped;
            true
        });
    }

    pub(crate) fn take_error(&self) -> Option<PipeError> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The source stopped reading because of a graceful stop.
    pub(crate) fn mark_cancelled(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Marks a terminal finished when dropped.
#[derive(Debug)]
pub(crate) struct TerminalGuard(Arc<Run>);

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.0.terminals.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Every part starts only once all parts have opened; if one fails to open, none runs.
#[derive(Debug)]
pub(crate) struct Gate {
    state: watch::Sender<GateState>,
}

#[derive(Debug, Clone, Copy, Default)]
struct GateState {
    arrived: usize,
    expected: Option<usize>,
    failed: bool,
}

impl Gate {
    fn new() -> Self {
        Self {
            state: watch::Sender::new(GateState::default()),
        }
    }

    /// Reports this part opened (`ok`) or not; waits for all others. `true`: go on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait has already reported.
    pub(crate) async fn arrive(&self, ok: bool) -> bool {
        self.state.send_modify(|s| {
            s.arrived += 1;
            s.failed |= !ok;
        });
        let mut rx = self.state.subscribe();
        match rx
            .wait_for(|s| s.failed || s.expected.is_some_and(|n| s.arrived >= n))
            .await
        {
            Ok(s) => !s.failed,
            Err(_) => false,
        }
    }

    /// Every part is wired: `parts` will arrive.
    pub(crate) fn seal(&self, parts: usize) {
        self.state.send_modify(|s| s.expected = Some(parts));
    }

    /// No part may start (the pipeline cannot run as built).
    pub(crate) fn fail(&self) {
        self.state.send_modify(|s| s.failed = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_only_move_downstream() {
        let run = Run::new(StreamConfig::default(), Arc::default());
        run.fail(3, PipeError::msg("first"));
        assert_eq!(
            run.state(),
            State::Draining {
                stop: false,
                cut: 3
            }
        );
        assert!(run.state().halts(2) && !run.state().halts(3) && !run.state().halts(4));
        run.fail(1, PipeError::msg("later, upstream"));
        assert_eq!(
            run.state(),
            State::Draining {
                stop: false,
                cut: 3
            }
        );
        run.request_stop();
        run.fail(5, PipeError::msg("later, downstream"));
        assert_eq!(run.state(), State::Draining { stop: true, cut: 5 });
        assert_eq!(
            run.take_error().map(|e| e.message().to_owned()),
            Some("later, downstream".into()),
            "the error of the last cut"
        );
        run.abort_because("test");
        run.finish();
        assert_eq!(run.state(), State::Aborted);
    }
}

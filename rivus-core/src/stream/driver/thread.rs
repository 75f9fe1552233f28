//! A dedicated thread that owns a sync source or sink: its calls may block in the OS (a FIFO nobody reads, a
//! full pipe, a stalled network disk), and a blocked thread cannot be cancelled. The stage's task stays on the
//! async workers and talks to the thread, so it can give up on a call that outlives its timeout, and an abort
//! never waits for it. The threads are plain OS threads, not Tokio's blocking pool, so a runtime shutdown does
//! not wait for one that is stuck either.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::PipeError;

/// Work sent to the thread.
type Job<S> = Box<dyn FnOnce(&mut S, &Progress) + Send>;

/// What the thread is doing, for the watchdog of a call with a time limit.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Calls begun plus calls ended, so odd while a call runs. The watchdog tells one long call from many short
    /// ones by this count, and times the call itself: reading the clock on every call (twice per record, at the
    /// source and at the sink) cost about 8% of a CSV copy's time (issue 18).
    calls: AtomicU64,
    abandoned: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Runs one call of the source or sink, marked busy while it runs.
    pub(crate) fn call<R>(&self, f: impl FnOnce() -> R) -> R {
        // Only this thread writes the count: a load and a store, no atomic read-modify-write.
        self.calls
            .store(self.calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let r = f();
        self.calls
            .store(self.calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        r
    }

    /// The call running now (its number in the count), if one is.
    fn running(&self) -> Option<u64> {
        let calls = self.calls.load(Ordering::Relaxed);
        (calls % 2 == 1).then_some(calls)
    }

    /// Whether the stage gave the thread up (it should stop at the next chance).
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// Why a call on the thread did not return a value.
#[derive(Debug)]
pub(crate) enum Lost {
    /// The call ran past its time limit and is still blocked: the thread is left behind.
    Stuck(Duration),
    /// The thread is gone (it could not start, or the value panicked outside a call).
    Gone,
}

/// A value owned by a thread of its own; see the [module docs](self).
pub(crate) struct OnThread<S> {
    jobs: std::sync::mpsc::Sender<Job<S>>,
    progress: Arc<Progress>,
}

impl<S> std::fmt::Debug for OnThread<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnThread").finish_non_exhaustive()
    }
}

impl<S: Send + 'static> OnThread<S> {
    /// Moves `value` onto a new thread named `name`.
    ///
    /// # Errors
    ///
    /// The OS refused a new thread.
    pub(crate) fn spawn(name: &str, mut value: S) -> Result<Self, PipeError> {
        let (jobs, rx) = std::sync::mpsc::channel::<Job<S>>();
        let progress = Arc::new(Progress::new());
        let p = Arc::clone(&progress);
        std::thread::Builder::new()
            .name(format!("rivus {name}"))
            .spawn(move || {
                // Ends when the stage drops its sender (after `close`, or when it gives the thread up).
                while let Ok(job) = rx.recv() {
                    job(&mut value, &p);
                }
            })
            .map_err(|e| {
                PipeError::msg(format!("cannot start a thread: {e}")).with_pipe(name.to_owned())
            })?;
        Ok(Self { jobs, progress })
    }

    /// Runs `f` on the thread without waiting for it; `false` when the thread is gone.
    pub(crate) fn post(&self, f: impl FnOnce(&mut S, &Progress) + Send + 'static) -> bool {
        self.jobs.send(Box::new(f)).is_ok()
    }

    /// Runs `f` on the thread and waits for its result. With a `limit`, a single call of the value (marked with
    /// [`Progress::call`]) that runs longer than `limit` makes the wait give up with [`Lost::Stuck`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves `f` to run on the thread; its result is dropped.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        limit: Option<Duration>,
        f: impl FnOnce(&mut S, &Progress) -> R + Send + 'static,
    ) -> Result<R, Lost> {
        let (tx, mut rx) = oneshot::channel();
        let job: Job<S> = Box::new(move |value, progress| {
            let _ = tx.send(f(value, progress));
        });
        if self.jobs.send(job).is_err() {
            return Err(Lost::Gone);
        }
        let Some(limit) = limit else {
            return rx.await.map_err(|_| Lost::Gone);
        };
        // Look a few times per limit. A call is timed from the first look that finds it running (up to a tick
        // after it began), so it is declared stuck between `limit` and 1.25 × `limit`.
        let tick = (limit / 8).max(Duration::from_millis(1));
        let mut watched: Option<(u64, Instant)> = None;
        loop {
            tokio::select! {
                r = &mut rx => return r.map_err(|_| Lost::Gone),
                () = tokio::time::sleep(tick) => {
                    let Some(running) = self.progress.running() else {
                        watched = None;
                        continue;
                    };
                    let since = match watched {
                        Some((call, since)) if call == running => since,
                        _ => watched.insert((running, Instant::now())).1,
                    };
                    let busy = since.elapsed();
                    if busy >= limit {
                        self.progress.abandoned.store(true, Ordering::Relaxed);
                        return Err(Lost::Stuck(busy));
                    }
                }
            }
        }
    }
}

impl<S> Drop for OnThread<S> {
    fn drop(&mut self) {
        self.progress.abandoned.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_run_on_the_thread_in_order() {
        let t = OnThread::spawn("test", Vec::<u32>::new()).unwrap();
        for i in 0..3 {
            t.call(None, move |v, p| p.call(|| v.push(i)))
                .await
                .unwrap();
        }
        let seen = t.call(None, |v, _| v.clone()).await.unwrap();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[tokio::test]
    async fn many_short_calls_past_the_limit_together_are_not_stuck() {
        let t = OnThread::spawn("busy", ()).unwrap();
        let r = t
            .call(Some(Duration::from_millis(100)), move |(), p| {
                for _ in 0..40 {
                    p.call(|| std::thread::sleep(Duration::from_millis(5)));
                }
            })
            .await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn a_blocked_call_is_given_up_after_its_limit() {
        let t = OnThread::spawn("stuck", ()).unwrap();
        let (_hold, blocker) = std::sync::mpsc::channel::<()>();
        let r = t
            .call(Some(Duration::from_millis(50)), move |(), p| {
                p.call(|| {
                    let _ = blocker.recv(); // blocks until the test ends
                })
            })
            .await;
        assert!(matches!(r, Err(Lost::Stuck(d)) if d >= Duration::from_millis(50)));
    }
}

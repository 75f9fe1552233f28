//! Sinks that fail: a write (each error policy, with and without retries), a flush, a sync sink blocked past
//! its `timeout`, a failing dead-letter sink, an abort while a sync sink is blocked, and a graceful stop that
//! drains. Each run's ledger is checked exactly: the test feeds the source item by item and waits for the sink
//! where the order of events would otherwise depend on timing.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivus_core::metrics::Ledger;
use rivus_core::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A source fed by the test: waits while nothing is sent, ends when the sender is dropped.
struct Feed {
    rx: mpsc::UnboundedReceiver<u32>,
    yielded: Arc<AtomicUsize>,
}

fn feed() -> (mpsc::UnboundedSender<u32>, Feed, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let yielded = Arc::new(AtomicUsize::new(0));
    let source = Feed {
        rx,
        yielded: Arc::clone(&yielded),
    };
    (tx, source, yielded)
}

impl AsyncSource for Feed {
    type Out = u32;
    async fn next(&mut self) -> Option<Result<u32, PipeError>> {
        let item = self.rx.recv().await?;
        self.yielded.fetch_add(1, Ordering::SeqCst);
        Some(Ok(item))
    }
}

/// How a sink's write of one item fails.
#[derive(Clone, Copy)]
enum Failure {
    /// Every attempt, with a permanent error.
    Permanent,
    /// The first `n` attempts, with a transient error.
    Transient(u32),
    /// The call blocks until the test releases it (a sync sink stuck in the OS).
    Block,
}

/// What a sink did; clones share it.
#[derive(Clone, Default)]
struct Out {
    pending: Arc<Mutex<Vec<u32>>>,
    flushed: Arc<Mutex<Vec<u32>>>,
    flushes: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    blocked: Arc<AtomicBool>,
}

impl Out {
    fn flushed(&self) -> Vec<u32> {
        self.flushed.lock().unwrap().clone()
    }

    /// Waits (polling) until the sink has flushed `n` items.
    async fn until_flushed(&self, n: usize) {
        while self.flushed.lock().unwrap().len() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits (polling) until a call is blocked.
    async fn until_blocked(&self) {
        while !self.blocked.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A sink that fails as told: `fail` per item, `fail_flush` on the n-th flush (1-based).
struct Faulty {
    out: Out,
    fail: HashMap<u32, Failure>,
    attempts: HashMap<u32, u32>,
    fail_flush: Option<usize>,
    release: Option<std::sync::mpsc::Receiver<()>>,
}

impl Faulty {
    fn new(out: &Out) -> Self {
        Self {
            out: out.clone(),
            fail: HashMap::new(),
            attempts: HashMap::new(),
            fail_flush: None,
            release: None,
        }
    }

    fn failing(mut self, item: u32, how: Failure) -> Self {
        self.fail.insert(item, how);
        self
    }

    fn write(&mut self, item: u32) -> Result<(), PipeError> {
        let attempt = self.attempts.entry(item).or_default();
        *attempt += 1;
        match self.fail.get(&item) {
            Some(Failure::Permanent) => return Err(PipeError::msg(format!("cannot write {item}"))),
            Some(Failure::Transient(n)) if *attempt <= *n => {
                return Err(PipeError::transient("", format!("busy writing {item}")));
            }
            Some(Failure::Block) => {
                self.out.blocked.store(true, Ordering::SeqCst);
                if let Some(release) = &self.release {
                    let _ = release.recv();
                }
            }
            _ => {}
        }
        self.out.pending.lock().unwrap().push(item);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        let n = self.out.flushes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_flush == Some(n) {
            return Err(PipeError::msg("disk full"));
        }
        let done = std::mem::take(&mut *self.out.pending.lock().unwrap());
        self.out.flushed.lock().unwrap().extend(done);
        Ok(())
    }
}

impl AsyncSink for Faulty {
    type In = u32;
    async fn write(&mut self, item: u32) -> Result<(), PipeError> {
        Faulty::write(self, item)
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        Faulty::flush(self)
    }
    async fn close(&mut self) -> Result<(), PipeError> {
        self.out.closes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The same sink, called on a thread of its own.
struct SyncFaulty(Faulty);

impl SyncSink for SyncFaulty {
    type In = u32;
    fn write(&mut self, item: u32) -> Result<(), PipeError> {
        self.0.write(item)
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
    fn close(&mut self) -> Result<(), PipeError> {
        self.0.out.closes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A letter as the dead-letter sink keeps it: the pipe that failed, and the item.
type Kept = (String, Option<u32>);

/// A dead-letter sink that fails its `n`-th write.
#[derive(Clone, Default)]
struct Letters {
    items: Arc<Mutex<Vec<Kept>>>,
    fail_write: Option<usize>,
    writes: Arc<AtomicUsize>,
}

impl AsyncSink for Letters {
    type In = DeadLetter;
    async fn write(&mut self, letter: DeadLetter) -> Result<(), PipeError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_write == Some(n) {
            return Err(PipeError::msg("the letter box is full"));
        }
        let entry = (letter.pipe().to_owned(), letter.item::<u32>().copied());
        self.items.lock().unwrap().push(entry);
        Ok(())
    }
}

/// The ledger as a tuple: (read, expanded, written, filtered, skipped, dead-lettered, failed, not processed).
fn counts(l: &Ledger) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    (
        l.read,
        l.expanded,
        l.written,
        l.filtered,
        l.skipped,
        l.dead_lettered,
        l.failed,
        l.not_processed,
    )
}

/// Asserts that the report adds up everywhere and gives the run's ledger.
fn balanced(report: &RunReport) -> Ledger {
    for s in &report.stages {
        assert!(s.is_balanced(), "{s:?}");
    }
    for (name, l) in report.sink_ledgers() {
        assert!(l.is_balanced(), "{name}: {l:?}");
    }
    let l = report.ledger();
    assert!(l.is_balanced(), "{l:?}");
    l
}

fn retrying(retries: u32) -> PipeConfig {
    PipeConfig::named("out")
        .with_retry(RetryPolicy::new(retries).with_initial_delay(Duration::ZERO))
}

/// A write that fails for good under `policy`, on an async and on a sync sink.
async fn failed_writes(
    policy: ErrorPolicy,
    sync: bool,
) -> (Result<RunReport, PipelineError>, Out, Letters) {
    let out = Out::default();
    let sink = Faulty::new(&out)
        .failing(2, Failure::Permanent)
        .failing(4, Failure::Transient(5));
    let letters = Letters::default();
    let pipeline =
        Pipeline::from_iter(0..6u32).with_config(StreamConfig::default().with_chunk_size(2));
    let cfg = retrying(1).with_error_policy(policy);
    let sinks = if sync {
        pipeline.sink_with(SyncFaulty(sink), cfg)
    } else {
        pipeline.sink_with(sink, cfg)
    };
    let result = sinks.dead_letter(letters.clone()).run().await;
    (result, out, letters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_skipped_and_counted() {
    for sync in [false, true] {
        let (result, out, _) = failed_writes(ErrorPolicy::Skip, sync).await;
        let report = result.unwrap();
        assert_eq!(out.flushed(), [0, 1, 3, 5]);
        assert_eq!(counts(&balanced(&report)), (6, 0, 4, 0, 2, 0, 0, 0));
        let stage = report.stage("out").unwrap();
        // Item 2 once (permanent: not retried), item 4 once more (transient: retried once, then given up).
        assert_eq!((stage.errors, stage.retries), (2, 1));
        assert_eq!(out.closes.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_goes_to_the_dead_letter_sink() {
    for sync in [false, true] {
        let (result, out, letters) = failed_writes(ErrorPolicy::DeadLetter, sync).await;
        let report = result.unwrap();
        assert_eq!(out.flushed(), [0, 1, 3, 5]);
        assert_eq!(counts(&balanced(&report)), (6, 0, 4, 0, 0, 2, 0, 0));
        let letters = letters.items.lock().unwrap().clone();
        assert_eq!(
            letters,
            [("out".to_owned(), Some(2)), ("out".to_owned(), Some(4))]
        );
        assert_eq!(report.stage("out").unwrap().dead_lettered, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_write_failures_are_recovered_by_retries() {
    for sync in [false, true] {
        let out = Out::default();
        let sink = Faulty::new(&out)
            .failing(1, Failure::Transient(2))
            .failing(3, Failure::Transient(1));
        let pipeline = Pipeline::from_iter(0..5u32);
        let report = if sync {
            pipeline
                .sink_with(SyncFaulty(sink), retrying(2))
                .run()
                .await
        } else {
            pipeline.sink_with(sink, retrying(2)).run().await
        }
        .unwrap();
        assert_eq!(out.flushed(), [0, 1, 2, 3, 4]);
        assert_eq!(counts(&balanced(&report)), (5, 0, 5, 0, 0, 0, 0, 0));
        let stage = report.stage("out").unwrap();
        assert_eq!((stage.errors, stage.retries), (0, 3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_fails_fast_after_what_came_before() {
    for sync in [false, true] {
        let (result, out, letters) = failed_writes(ErrorPolicy::FailFast, sync).await;
        let err = result.unwrap_err();
        let e = err.pipe_error().unwrap();
        assert_eq!(e.pipe(), "out");
        assert!(e.to_string().contains("cannot write 2"), "{e}");
        assert_eq!(out.flushed(), [0, 1]);
        // Items 3.. were taken but are given back unread: read counts 0, 1 and the failing 2.
        assert_eq!(
            counts(&balanced(err.report().unwrap())),
            (3, 0, 2, 0, 0, 0, 1, 0)
        );
        assert!(letters.items.lock().unwrap().is_empty());
        assert_eq!(out.closes.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_fails_the_run_and_the_items_it_held() {
    for sync in [false, true] {
        let (tx, source, _) = feed();
        let out = Out::default();
        let mut sink = Faulty::new(&out);
        sink.fail_flush = Some(2);
        let pipeline =
            Pipeline::from_source(source).with_config(StreamConfig::default().with_chunk_size(4));
        let run = tokio::spawn(if sync {
            pipeline
                .sink_with(SyncFaulty(sink), PipeConfig::named("out"))
                .run()
        } else {
            pipeline.sink_with(sink, PipeConfig::named("out")).run()
        });
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        out.until_flushed(3).await;
        tx.send(3).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the run ends")
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("flush: disk full"), "{err}");
        assert_eq!(err.pipe_error().unwrap().pipe(), "out");
        assert_eq!(out.flushed(), [0, 1, 2]);
        assert_eq!(
            counts(&balanced(err.report().unwrap())),
            (4, 0, 3, 0, 0, 0, 1, 0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_sink_blocked_past_its_timeout_is_given_up() {
    let (tx, source, _) = feed();
    let out = Out::default();
    let (release, blocker) = std::sync::mpsc::channel();
    let mut sink = Faulty::new(&out).failing(2, Failure::Block);
    sink.release = Some(blocker);
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink_with(
                SyncFaulty(sink),
                PipeConfig::named("out").with_timeout(Duration::from_millis(50)),
            )
            .run(),
    );
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    out.until_flushed(2).await;
    tx.send(2).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends while the sink is still blocked")
        .unwrap()
        .unwrap_err();
    let e = err.pipe_error().unwrap();
    assert_eq!(e.pipe(), "out");
    assert!(e.to_string().contains("still blocked"), "{e}");
    assert_eq!(
        counts(&balanced(err.report().unwrap())),
        (3, 0, 2, 0, 0, 0, 1, 0)
    );
    assert_eq!(
        out.closes.load(Ordering::SeqCst),
        0,
        "a sink that is given up is not called again"
    );
    release.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dead_letter_sink_fails_the_run_named_as_such() {
    let (tx, source, _) = feed();
    let out = Out::default();
    let letters = Letters {
        fail_write: Some(1),
        ..Letters::default()
    };
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .pipe_with(
                pipe::try_map(|x: u32| if x == 3 { Err("three") } else { Ok(x) }),
                PipeConfig::named("no3").with_error_policy(ErrorPolicy::DeadLetter),
            )
            .sink_with(Faulty::new(&out), PipeConfig::named("out"))
            .dead_letter_with(letters.clone(), PipeConfig::named("letters"))
            .run(),
    );
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    out.until_flushed(3).await;
    tx.send(3).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends")
        .unwrap()
        .unwrap_err();
    let e = err.pipe_error().unwrap();
    assert_eq!(e.pipe(), "letters");
    assert!(
        e.to_string()
            .contains("the dead-letter sink: the letter box is full"),
        "{e}"
    );
    // Item 3's letter failed: the item is failed (at the stage that dead-lettered it), not dead-lettered.
    let report = err.report().unwrap();
    assert_eq!(counts(&balanced(report)), (4, 0, 3, 0, 0, 0, 1, 0));
    assert_eq!(report.stage("no3").unwrap().failed, 1);
    assert_eq!(out.flushed(), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_while_a_sync_sink_is_blocked_returns_at_once() {
    let (tx, source, _) = feed();
    let out = Out::default();
    let (release, blocker) = std::sync::mpsc::channel();
    let mut sink = Faulty::new(&out).failing(2, Failure::Block);
    sink.release = Some(blocker);
    let abort = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink_with(SyncFaulty(sink), PipeConfig::named("out"))
            .abort_on(abort.clone())
            .run(),
    );
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    out.until_flushed(2).await;
    tx.send(2).unwrap();
    out.until_blocked().await;
    abort.cancel();
    let err = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("an abort does not wait for a blocked sink")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, PipelineError::Aborted { .. }), "{err}");
    let report = err.report().unwrap();
    assert!(report.aborted);
    // 0 and 1 were flushed; 2 is in the blocked call: not processed.
    assert_eq!(counts(&balanced(report)), (3, 0, 2, 0, 0, 0, 0, 1));
    assert_eq!(
        out.closes.load(Ordering::SeqCst),
        0,
        "an abort does not close"
    );
    release.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_drains_what_was_read() {
    let (tx, source, yielded) = feed();
    let out = Out::default();
    let stop = CancellationToken::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let held = Arc::clone(&gate);
    let slow = pipe::async_map(move |x: u32| {
        let held = Arc::clone(&held);
        async move {
            let _permit = held.acquire().await;
            x * 10
        }
    });
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .pipe_with(slow, PipeConfig::named("slow").with_concurrency(2, true))
            .sink_with(Faulty::new(&out), PipeConfig::named("out"))
            .shutdown_on(stop.clone())
            .run(),
    );
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    while yielded.load(Ordering::SeqCst) < 5 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every item read is held in the pipeline when the stop comes; the source is still open.
    stop.cancel();
    gate.add_permits(5);
    let report = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends")
        .unwrap()
        .unwrap();
    assert!(report.cancelled);
    assert_eq!(out.flushed(), [0, 10, 20, 30, 40]);
    assert_eq!(counts(&balanced(&report)), (5, 0, 5, 0, 0, 0, 0, 0));
    assert_eq!(out.closes.load(Ordering::SeqCst), 1);
    drop(tx);
}

/// An abort with two sinks, one blocked: each sink's ledger adds up on its own, the copies the blocked sink
/// never took being its own, not processed. (They used to stay with the fan-out, on every sink's path.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_with_two_sinks_leaves_each_sink_ledger_balanced() {
    let (tx, source, _) = feed();
    let (blocked, other) = (Out::default(), Out::default());
    let (release, blocker) = std::sync::mpsc::channel();
    let mut sink = Faulty::new(&blocked).failing(2, Failure::Block);
    sink.release = Some(blocker);
    let abort = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .with_config(StreamConfig::default().with_chunk_size(1))
            .sink_with(SyncFaulty(sink), PipeConfig::named("blocked"))
            .sink_with(Faulty::new(&other), PipeConfig::named("other"))
            .abort_on(abort.clone())
            .run(),
    );
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    blocked.until_flushed(2).await;
    for i in 2..6 {
        tx.send(i).unwrap();
    }
    blocked.until_blocked().await;
    other.until_flushed(6).await;
    abort.cancel();
    let err = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("an abort does not wait for a blocked sink")
        .unwrap()
        .unwrap_err();
    let report = err.report().unwrap();
    let total = balanced(report);
    assert_eq!((total.read, total.written), (6, 8));
    let ledgers = report.sink_ledgers();
    assert_eq!(ledgers[0].0, "blocked");
    assert_eq!(counts(&ledgers[0].1), (6, 0, 2, 0, 0, 0, 0, 4));
    assert_eq!(counts(&ledgers[1].1), (6, 0, 6, 0, 0, 0, 0, 0));
    release.send(()).unwrap();
}

/// A dead-letter sink blocked in a call (on its own thread).
struct BlockedLetters {
    entered: Arc<AtomicBool>,
    release: std::sync::mpsc::Receiver<()>,
}

impl SyncSink for BlockedLetters {
    type In = DeadLetter;
    fn write(&mut self, _letter: DeadLetter) -> Result<(), PipeError> {
        self.entered.store(true, Ordering::SeqCst);
        let _ = self.release.recv();
        Ok(())
    }
}

/// An abort while the dead-letter sink is blocked: the letter it holds is counted (not processed) at the
/// dead-letter stage, whose ledger adds up like every other. (It used to be left out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_while_the_dead_letter_sink_is_blocked_adds_up() {
    let (tx, source, _) = feed();
    let out = Out::default();
    let entered = Arc::new(AtomicBool::new(false));
    let (release, blocker) = std::sync::mpsc::channel();
    let abort = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .pipe_with(
                pipe::try_map(|x: u32| if x == 1 { Err("one") } else { Ok(x) }),
                PipeConfig::named("no1").with_error_policy(ErrorPolicy::DeadLetter),
            )
            .sink_with(Faulty::new(&out), PipeConfig::named("out"))
            .dead_letter(BlockedLetters {
                entered: Arc::clone(&entered),
                release: blocker,
            })
            .abort_on(abort.clone())
            .run(),
    );
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    out.until_flushed(1).await;
    while !entered.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    abort.cancel();
    let err = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("an abort does not wait for a blocked dead-letter sink")
        .unwrap()
        .unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(counts(&balanced(report)), (2, 0, 1, 0, 0, 0, 0, 1));
    let dead = report.stages.last().unwrap();
    assert_eq!((dead.items_in, dead.not_processed), (1, 1));
    release.send(()).unwrap();
}

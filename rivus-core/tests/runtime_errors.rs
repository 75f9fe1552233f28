//! Retries (attempts and delays on the paused clock, permanent errors not retried, timeouts) and error policies
//! (fail fast, skip, dead letter) with their report counts; panics become errors of the item.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivus_core::prelude::*;
use tokio::time::Instant;

/// Fails the first `fail` calls for each item with `kind`, recording when each call happened.
#[derive(Clone)]
struct Flaky {
    fail: usize,
    transient: bool,
    calls: Arc<Mutex<Vec<(u32, Duration)>>>,
    start: Instant,
}

impl Flaky {
    fn new(fail: usize, transient: bool) -> Self {
        Self {
            fail,
            transient,
            calls: Arc::default(),
            start: Instant::now(),
        }
    }
    fn calls(&self) -> Vec<(u32, Duration)> {
        self.calls.lock().unwrap().clone()
    }
}

impl AsyncPipe for Flaky {
    type In = u32;
    type Out = u32;
    async fn process(&self, x: u32) -> Result<u32, PipeError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((x, self.start.elapsed()));
            calls.iter().filter(|(y, _)| *y == x).count()
        };
        if n <= self.fail {
            return Err(if self.transient {
                PipeError::transient("", "busy")
            } else {
                PipeError::msg("bad input")
            });
        }
        Ok(x)
    }
}

fn retrying(retries: u32) -> PipeConfig {
    PipeConfig::named("flaky").with_retry(
        RetryPolicy::new(retries)
            .with_initial_delay(Duration::from_millis(100))
            .with_factor(2.0)
            .with_max_delay(Duration::from_millis(250)),
    )
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_with_backoff() {
    let flaky = Flaky::new(3, true);
    let out = sink::collect();
    let report = Pipeline::from_iter([7u32])
        .pipe_with(flaky.clone(), retrying(3))
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    let times: Vec<u128> = flaky.calls().iter().map(|(_, t)| t.as_millis()).collect();
    // Delays 100, 200, then 400 capped at 250.
    assert_eq!(times, [0, 100, 300, 550]);
    assert_eq!(out.items(), [7]);
    assert_eq!(report.retries(), 3);
    assert_eq!(report.errors(), 0);
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_then_the_policy_decides() {
    let flaky = Flaky::new(10, true);
    let report = Pipeline::from_iter([1u32, 2])
        .pipe_with(
            flaky.clone(),
            retrying(2).with_error_policy(ErrorPolicy::Skip),
        )
        .sink(sink::discard())
        .run()
        .await
        .unwrap();
    assert_eq!(flaky.calls().len(), 6, "3 attempts per item");
    let stage = report.stage("flaky").unwrap();
    assert_eq!((stage.retries, stage.errors, stage.skipped), (4, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let flaky = Flaky::new(1, false);
    let err = Pipeline::from_iter([1u32])
        .pipe_with(flaky.clone(), retrying(5))
        .sink(sink::discard())
        .run()
        .await
        .unwrap_err();
    assert_eq!(flaky.calls().len(), 1);
    let e = err.pipe_error().unwrap();
    assert_eq!(e.pipe(), "flaky");
    assert_eq!(e.kind(), ErrorKind::Permanent);
    assert_eq!(err.report().unwrap().retries(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_over_its_timeout_is_a_transient_error() {
    let slow = pipe::async_map(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        x
    });
    let started = Instant::now();
    let err = Pipeline::from_iter([1u32])
        .pipe_with(
            slow,
            PipeConfig::named("slow")
                .with_timeout(Duration::from_secs(1))
                .with_retry(RetryPolicy::new(1).with_initial_delay(Duration::from_millis(500))),
        )
        .sink(sink::discard())
        .run()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(2500));
    let e = err.pipe_error().unwrap();
    assert!(e.is_transient());
    assert!(e.message().contains("timed out"), "{e}");
    assert_eq!(err.report().unwrap().retries(), 1);
}

/// Counts closes.
#[derive(Clone, Default)]
struct Closing {
    items: Arc<Mutex<Vec<u32>>>,
    closes: Arc<AtomicUsize>,
}

impl AsyncSink for Closing {
    type In = u32;
    async fn write(&mut self, item: u32) -> Result<(), PipeError> {
        self.items.lock().unwrap().push(item);
        Ok(())
    }
    async fn close(&mut self) -> Result<(), PipeError> {
        self.closes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn reject_multiples_of_three() -> impl SyncPipe<In = u32, Out = u32> + Send + Sync + 'static {
    pipe::try_map(|x: u32| {
        if x.is_multiple_of(3) {
            Err(format!("{x} is a multiple of three"))
        } else {
            Ok(x)
        }
    })
    .named("no3")
}

/// Fail fast is deterministic: on a multi-thread runtime, every run writes exactly the items before the
/// failing one and reports exactly the same ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_stops_and_reports_the_error() {
    for run in 0..200 {
        let sink = Closing::default();
        let err = Pipeline::from_iter(1..100u32)
            .with_config(
                StreamConfig::default()
                    .with_chunk_size(1)
                    .with_buffer_size(1),
            )
            .pipe(reject_multiples_of_three())
            .sink(sink.clone())
            .run()
            .await
            .unwrap_err();
        let e = err.pipe_error().unwrap();
        assert_eq!(e.pipe(), "no3");
        assert!(e.to_string().contains("3 is a multiple of three"), "{e}");
        let report = err.report().unwrap();
        assert_eq!(report.errors(), 1);
        assert_eq!(*sink.items.lock().unwrap(), [1, 2], "run {run}");
        let l = report.ledger();
        // Read: 1, 2 and the failing 3; what the source had read beyond it is given back unread.
        assert_eq!(
            (
                l.read,
                l.expanded,
                l.written,
                l.filtered,
                l.skipped,
                l.dead_lettered,
                l.failed,
                l.not_processed
            ),
            (3, 0, 2, 0, 0, 0, 1, 0),
            "run {run}: {l:?}"
        );
        assert!(
            report.stages.iter().all(|s| s.is_balanced()),
            "run {run}: {:?}",
            report.stages
        );
        assert_eq!(sink.closes.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn skip_counts_and_goes_on() {
    let sink = Closing::default();
    let report = Pipeline::from_iter(1..=10u32)
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::Skip))
        .pipe(reject_multiples_of_three())
        .sink(sink.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(*sink.items.lock().unwrap(), [1, 2, 4, 5, 7, 8, 10]);
    assert_eq!(report.skipped(), 3);
    assert_eq!(report.errors(), 3);
    assert_eq!(report.items_written(), 7);
    assert_eq!(report.dead_lettered(), 0);
}

#[tokio::test]
async fn dead_letters_carry_item_error_and_pipe_name() {
    let dead = sink::collect::<DeadLetter>();
    let report = Pipeline::from_iter(1..=7u32)
        .pipe(pipe::filter(|_: &u32| true).named("all"))
        .pipe_with(
            reject_multiples_of_three(),
            PipeConfig::named("check").with_error_policy(ErrorPolicy::DeadLetter),
        )
        .sink(sink::discard())
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    let letters = dead.take();
    let items: Vec<u32> = letters.iter().map(|l| *l.item::<u32>().unwrap()).collect();
    assert_eq!(items, [3, 6]);
    // The configured stage name replaces the pipe's own name.
    assert!(letters.iter().all(|l| l.pipe() == "check"));
    assert!(
        letters[1]
            .error()
            .to_string()
            .contains("6 is a multiple of three")
    );
    assert_eq!(report.stage("check").unwrap().dead_lettered, 2);
    assert_eq!(report.dead_lettered(), 2);
    assert_eq!(report.items_written(), 5);
}

/// A source whose third item is bad.
struct Rows(u32);

impl AsyncSource for Rows {
    type Out = u32;
    async fn next(&mut self) -> Option<Result<u32, PipeError>> {
        self.0 += 1;
        match self.0 {
            3 => Some(Err(PipeError::msg("malformed row"))),
            n if n <= 5 => Some(Ok(n)),
            _ => None,
        }
    }
}

#[tokio::test]
async fn a_bad_source_item_goes_to_the_dead_letter_sink_without_an_item() {
    let dead = sink::collect::<DeadLetter>();
    let out = sink::collect();
    let report = Pipeline::from_source(Rows(0))
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
        .sink(out.clone())
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(out.items(), [1, 2, 4, 5]);
    let letters = dead.take();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].pipe(), "Rows");
    assert!(letters[0].item::<u32>().is_none());
    assert_eq!(report.items_read(), 5);
}

#[tokio::test]
async fn dead_letter_policy_without_a_dead_letter_sink_is_rejected() {
    let err = Pipeline::from_iter(0..3u32)
        .pipe_with(
            pipe::map(|x: u32| x),
            PipeConfig::named("m").with_error_policy(ErrorPolicy::DeadLetter),
        )
        .sink(sink::discard())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, PipelineError::Config(ref m) if m.contains("`m`")),
        "{err}"
    );
}

#[tokio::test]
async fn a_panicking_pipe_is_an_error_of_the_item() {
    let out = sink::collect();
    let report = Pipeline::from_iter(0..5u32)
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::Skip))
        .pipe(
            pipe::map(|x: u32| {
                assert!(x != 2, "two is not allowed");
                x
            })
            .named("picky"),
        )
        .pipe(pipe::async_map(|x: u32| async move {
            assert!(x != 3, "three is not allowed either");
            x
        }))
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(out.items(), [0, 1, 4]);
    assert_eq!(report.skipped(), 2);
    let err = Pipeline::from_iter(0..5u32)
        .pipe(pipe::map(|x: u32| {
            assert!(x != 2, "two is not allowed");
            x
        }))
        .sink(sink::discard())
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("panicked: two is not allowed"),
        "{err}"
    );
}

/// An async stage whose next stage fails fast while one of its calls is in progress: that item is given back
/// like the ones after it. (It used to be counted nowhere: the stage's ledger and the run's were one short.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_in_a_call_when_the_next_stage_stops_is_counted() {
    let slow = pipe::async_map(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        x
    });
    let err = Pipeline::from_iter(0..10u32)
        .pipe_with(slow, PipeConfig::named("slow"))
        .pipe_with(
            pipe::try_map(|x: u32| if x == 0 { Err("zero") } else { Ok(x) }),
            PipeConfig::named("no0"),
        )
        .sink(sink::discard())
        .run()
        .await
        .unwrap_err();
    let report = err.report().unwrap();
    for s in &report.stages {
        assert!(s.is_balanced(), "{s:?}");
    }
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!((ledger.read, ledger.written, ledger.failed), (1, 0, 1));
}

/// Fail fast after a flat-map: the outputs given back can outnumber the items read; the ledger still adds up.
/// (`read` less the items given back used to stop at 0, leaving the run's ledger short.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_after_a_flat_map_adds_up() {
    let out = sink::collect();
    let err = Pipeline::from_iter([0u32])
        .pipe(pipe::flat_map(|x: u32| [x, x + 1, x + 2, x + 3]))
        .pipe_with(
            pipe::try_map(|x: u32| if x == 1 { Err("one") } else { Ok(x) }),
            PipeConfig::named("no1"),
        )
        .sink(out.clone())
        .run()
        .await
        .unwrap_err();
    assert_eq!(out.items(), [0]);
    let report = err.report().unwrap();
    assert_eq!(report.stage("no1").unwrap().returned, 2);
    let l = report.ledger();
    assert!(l.is_balanced(), "{l:?}");
    assert_eq!((l.written, l.failed, l.total()), (1, 1, 2));
    for (name, l) in report.sink_ledgers() {
        assert!(l.is_balanced(), "{name}: {l:?}");
    }
}

/// Fail fast reports the error of the first failing item, not of the first failure in time: here item 5
/// fails at the first stage long before item 2 reaches the second, slow stage and fails there; the output
/// ends before item 2, and so does the error. (The first failure in time used to be the run's error.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_reports_the_first_failing_item() {
    let slow = pipe::async_try_map(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if x == 2 { Err("two") } else { Ok(x) }
    });
    let out = sink::collect();
    let err = Pipeline::from_iter(0..10u32)
        .pipe_with(
            pipe::try_map(|x: u32| if x == 5 { Err("five") } else { Ok(x) }),
            PipeConfig::named("no5"),
        )
        .pipe_with(slow, PipeConfig::named("no2"))
        .sink(out.clone())
        .run()
        .await
        .unwrap_err();
    assert_eq!(out.items(), [0, 1]);
    let e = err.pipe_error().unwrap();
    assert_eq!(e.pipe(), "no2", "{e}");
}

/// A sink that takes runs of items in one call (`write_run`) and fails as told: a run that starts with 100 fails
/// before taking an item; item 7 fails when written; item 9 panics.
#[derive(Clone, Default)]
struct Runs {
    written: Arc<Mutex<Vec<u32>>>,
    runs: Arc<AtomicUsize>,
}

impl AsyncSink for Runs {
    type In = u32;
    async fn write(&mut self, item: u32) -> Result<(), PipeError> {
        match item {
            7 => Err(PipeError::msg("seven")),
            9 => panic!("nine"),
            _ => {
                self.written.lock().unwrap().push(item);
                Ok(())
            }
        }
    }
    async fn write_run(&mut self, items: &mut std::vec::IntoIter<u32>) -> Result<(), PipeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if items.as_slice().first() == Some(&100) {
            return Err(PipeError::msg("the run is refused"));
        }
        for item in items {
            self.write(item).await?;
        }
        Ok(())
    }
}

/// A sink stage without a timeout writes what it takes at once through `write_run`, boxed or not: the items
/// before a failing one are written, the failing one goes to the policy (a panic is its item's error, a run
/// refused before taking an item is its first item's), the rest are written after it.
#[tokio::test]
async fn a_run_of_writes_fails_item_by_item() {
    for boxed in [false, true] {
        let sink = Runs::default();
        // 100 comes right after a failing item, so it starts a run.
        let items: Vec<u32> = vec![1, 2, 7, 3, 9, 100, 4, 5];
        let pipeline = Pipeline::from_iter(items).with_config(
            StreamConfig::default()
                .with_error_policy(ErrorPolicy::Skip)
                .with_chunk_size(256),
        );
        let report = if boxed {
            pipeline
                .sink(rivus_core::dynamic::BoxAsyncSink::new(sink.clone()))
                .run()
                .await
        } else {
            pipeline.sink(sink.clone()).run().await
        }
        .unwrap();
        assert_eq!(
            *sink.written.lock().unwrap(),
            [1, 2, 3, 4, 5],
            "boxed {boxed}"
        );
        let ledger = report.ledger();
        assert_eq!((ledger.read, ledger.written, ledger.skipped), (8, 5, 3));
        assert!(ledger.is_balanced());
        assert!(sink.runs.load(Ordering::SeqCst) >= 1);
    }
}

/// A sync pipe that always fails with a transient error, counting its calls.
fn always_busy(
    calls: &Arc<AtomicUsize>,
) -> impl SyncPipe<In = u32, Out = u32> + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    pipe::try_map(move |_: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err::<u32, _>(PipeError::transient("", "busy"))
    })
}

fn retrying_for_ever(delay: Duration) -> RetryPolicy {
    RetryPolicy::new(u32::MAX)
        .with_initial_delay(delay)
        .with_factor(1.0)
        .with_max_delay(delay)
}

/// Aborts `run` once the pipe was called three times; returns the run's error once it returned (within a
/// limit: an abort never waits for the pipe) and the calls made by then, a call in progress left to end.
async fn abort_after_three_calls(
    calls: &AtomicUsize,
    abort: &tokio_util::sync::CancellationToken,
    run: tokio::task::JoinHandle<Result<RunReport, PipelineError>>,
) -> (PipelineError, usize) {
    while calls.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    abort.cancel();
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("an abort does not wait for the pipe")
        .unwrap()
        .unwrap_err();
    tokio::time::sleep(Duration::from_millis(20)).await;
    (err, calls.load(Ordering::SeqCst))
}

/// A sync pipe on workers (async tasks or the blocking pool) that is waiting out a retry's backoff when the run
/// is aborted stops there: the run returns at once, the item is not processed (not skipped: its retries did not
/// run out), and the pipe is never called again once the run has returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_ends_a_retry_backoff_on_workers_and_no_call_comes_after_the_run() {
    for blocking in [false, true] {
        let calls = Arc::new(AtomicUsize::new(0));
        let abort = tokio_util::sync::CancellationToken::new();
        let run = tokio::spawn(
            Pipeline::from_iter([1u32])
                .pipe_with(
                    always_busy(&calls),
                    PipeConfig::named("busy")
                        .with_concurrency(2, true)
                        .with_blocking(blocking)
                        .with_error_policy(ErrorPolicy::Skip)
                        .with_retry(retrying_for_ever(Duration::from_millis(20))),
                )
                .sink(sink::discard())
                .abort_on(abort.clone())
                .run(),
        );
        let (err, after) = abort_after_three_calls(&calls, &abort, run).await;
        assert!(matches!(err, PipelineError::Aborted { .. }), "{err}");
        // Ten backoffs' time: a worker left retrying would have called the pipe again.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            after,
            "blocking {blocking}: the pipe was called after the run returned"
        );
        let report = err.report().unwrap();
        let ledger = report.ledger();
        assert_eq!(
            (ledger.read, ledger.skipped, ledger.not_processed),
            (1, 0, 1),
            "blocking {blocking}: {ledger:?}"
        );
        assert!(ledger.is_balanced(), "blocking {blocking}: {ledger:?}");
    }
}

/// A sync pipe on workers (async tasks or the blocking pool) in the middle of a chunk when the run is aborted
/// stops before its next item: no call comes after the run returned. (Four runtime threads: the two async
/// workers block theirs in each call.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abort_stops_a_worker_between_two_items_of_its_chunk() {
    for blocking in [false, true] {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let slow = pipe::map(move |x: u32| {
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            x
        });
        let abort = tokio_util::sync::CancellationToken::new();
        let run = tokio::spawn(
            Pipeline::from_iter(0..1000u32)
                .with_config(StreamConfig::default().with_chunk_size(500))
                .pipe_with(
                    slow,
                    PipeConfig::named("slow")
                        .with_concurrency(2, true)
                        .with_blocking(blocking),
                )
                .sink(sink::discard())
                .abort_on(abort.clone())
                .run(),
        );
        // A call in progress when the run returned may still end; none starts after it.
        let (err, after) = abort_after_three_calls(&calls, &abort, run).await;
        assert!(matches!(err, PipelineError::Aborted { .. }), "{err}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            after,
            "blocking {blocking}: the pipe was called after the run returned"
        );
        assert!(after < 1000, "blocking {blocking}: every item was worked");
        let ledger = err.report().unwrap().ledger();
        assert!(ledger.is_balanced(), "blocking {blocking}: {ledger:?}");
    }
}

/// Fails item 1 with a transient error, counting those calls; passes item 0.
fn busy_on_one(calls: &Arc<AtomicUsize>, x: u32) -> Result<u32, PipeError> {
    if x == 0 {
        return Ok(x);
    }
    calls.fetch_add(1, Ordering::SeqCst);
    Err(PipeError::transient("", "busy"))
}

/// A fail-fast error downstream halts a stage that is waiting out a retry's backoff (a sync pipe inline or on
/// workers, an async pipe one item at a time or several): the run ends at once with that error, without waiting
/// for the backoff, and the retrying item is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_fast_cut_ends_a_retry_backoff_upstream() {
    for (is_async, concurrency) in [(false, 1), (false, 2), (true, 1), (true, 2)] {
        let case = format!("async {is_async}, concurrency {concurrency}");
        let calls = Arc::new(AtomicUsize::new(0));
        // Item 1 is retried a minute apart for ever; item 0 passes, and fails the stage after.
        let cfg = PipeConfig::named("busy")
            .with_concurrency(concurrency, true)
            .with_retry(retrying_for_ever(Duration::from_secs(60)));
        let pipeline =
            Pipeline::from_iter([0u32, 1]).with_config(StreamConfig::default().with_chunk_size(1));
        let c = Arc::clone(&calls);
        let pipeline = if is_async {
            pipeline.pipe_with(
                pipe::async_try_map(move |x: u32| std::future::ready(busy_on_one(&c, x))),
                cfg,
            )
        } else {
            pipeline.pipe_with(pipe::try_map(move |x: u32| busy_on_one(&c, x)), cfg)
        };
        let no_zero = pipe::try_map(|x: u32| if x == 0 { Err("no zero") } else { Ok(x) });
        let run = pipeline
            .pipe(no_zero.named("no_zero"))
            .sink(sink::discard())
            .run();
        let err = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .unwrap_or_else(|_| panic!("{case}: a fail-fast cut waits out a retry upstream"))
            .unwrap_err();
        assert!(err.to_string().contains("no zero"), "{case}: {err}");
        let ledger = err.report().unwrap().ledger();
        // Item 1 is given back unread (a restart reads it again), as any item a fail-fast cut stops.
        assert_eq!(
            (ledger.read, ledger.failed, ledger.written),
            (1, 1, 0),
            "{case}: {ledger:?}"
        );
        assert!(ledger.is_balanced(), "{case}: {ledger:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{case}: one attempt, no retry"
        );
    }
}

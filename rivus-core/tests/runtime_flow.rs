//! The runner: backpressure, concurrency (ordered and unordered), fusion, fan-out, sync sources and sinks,
//! the `Stream` form, open/close once, the monitor.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use rivus_core::metrics::StageKind;
use rivus_core::prelude::*;

/// An endless source that counts how many items were pulled from it.
struct Counting {
    next: u64,
    pulled: Arc<AtomicUsize>,
    /// Whether it answers `try_next` (items at once, without a future).
    ready: bool,
}

impl AsyncSource for Counting {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        self.pulled.fetch_add(1, Ordering::SeqCst);
        self.next += 1;
        Some(Ok(self.next))
    }
    fn try_next(&mut self) -> Poll<Option<Result<u64, PipeError>>> {
        if !self.ready {
            return Poll::Pending;
        }
        self.pulled.fetch_add(1, Ordering::SeqCst);
        self.next += 1;
        Poll::Ready(Some(Ok(self.next)))
    }
}

/// A sink whose `write` never completes.
struct Stuck;

impl AsyncSink for Stuck {
    type In = u64;
    async fn write(&mut self, _item: u64) -> Result<(), PipeError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn backpressure_bounds_what_is_pulled() {
    // By `next`, and by `try_next` (a source always ready must be held back the same).
    for ready in [false, true] {
        backpressure_bounds_what_is_pulled_from(ready).await;
    }
}

async fn backpressure_bounds_what_is_pulled_from(ready: bool) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let buffer = 4;
    let pipeline = Pipeline::from_source(Counting {
        next: 0,
        pulled: Arc::clone(&pulled),
        ready,
    })
    .with_config(
        StreamConfig::default()
            .with_chunk_size(1)
            .with_buffer_size(buffer),
    )
    .pipe(pipe::map(|x: u64| x * 2))
    .sink(Stuck);
    let run = tokio::spawn(pipeline.run());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = pulled.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let later = pulled.load(Ordering::SeqCst);
    run.abort();
    // Two channels of `buffer` items, one item (a chunk) held by each of source and pipe, and the sink's
    // write: the chunks that waited when it took its input, up to `buffer` items.
    let bound = 3 * buffer + 2;
    assert_eq!(first, later, "the source kept being pulled");
    assert!(later <= bound, "pulled {later} > {bound}");
    assert!(
        later >= 2 * buffer,
        "pulled {later}: the buffers did not fill"
    );
}

/// Items `0..n`, every third one bad; `try_next` answers for some (ready at once) and leaves the others to `next`
/// (which waits a little), in a pattern that mixes both paths.
struct Mixed {
    i: u64,
    n: u64,
}

impl Mixed {
    fn item(&mut self) -> Option<Result<u64, PipeError>> {
        let i = self.i;
        self.i += 1;
        (i < self.n).then(|| {
            if i % 3 == 2 {
                Err(PipeError::permanent("mixed", format!("bad {i}")))
            } else {
                Ok(i)
            }
        })
    }
}

impl AsyncSource for Mixed {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.item()
    }
    fn try_next(&mut self) -> Poll<Option<Result<u64, PipeError>>> {
        if self.i % 5 < 3 {
            Poll::Ready(self.item())
        } else {
            Poll::Pending
        }
    }
}

#[tokio::test(start_paused = true)]
async fn items_ready_at_once_and_waited_for_keep_their_order_and_ledger() {
    let n = 1000;
    let out = sink::collect();
    let report = Pipeline::from_source(Mixed { i: 0, n })
        .with_config(
            StreamConfig::default()
                .with_chunk_size(7)
                .with_error_policy(ErrorPolicy::Skip),
        )
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    let want: Vec<u64> = (0..n).filter(|i| i % 3 != 2).collect();
    assert_eq!(out.items(), want);
    assert_eq!(report.items_read(), n);
    assert_eq!(report.items_written(), want.len() as u64);
    assert_eq!(report.skipped(), n - want.len() as u64);
}

/// Sleeps `20 - x` ms (later items finish first) and tracks how many calls run at once.
#[derive(Clone, Default)]
struct Slow {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl AsyncPipe for Slow {
    type In = u64;
    type Out = u64;
    async fn process(&self, x: u64) -> Result<u64, PipeError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20 - x)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(x)
    }
}

async fn run_concurrent(ordered: bool) -> (Vec<u64>, usize) {
    let slow = Slow::default();
    let peak = Arc::clone(&slow.peak);
    let out = sink::collect();
    Pipeline::from_iter(0..20u64)
        .pipe_with(slow, PipeConfig::named("slow").with_concurrency(4, ordered))
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    (out.items(), peak.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn concurrency_four_ordered_keeps_input_order() {
    let (items, peak) = run_concurrent(true).await;
    assert_eq!(peak, 4);
    assert_eq!(items, (0..20).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn concurrency_four_unordered_leaves_when_ready() {
    let (mut items, peak) = run_concurrent(false).await;
    assert_eq!(peak, 4);
    assert_ne!(
        items,
        (0..20).collect::<Vec<_>>(),
        "later items finish first"
    );
    items.sort_unstable();
    assert_eq!(items, (0..20).collect::<Vec<_>>());
}

/// Counts the calls in progress; each call waits (up to a shared deadline, a guard against a hang) until two
/// have been in progress at once.
#[derive(Default)]
struct Meet {
    now: AtomicUsize,
    peak: AtomicUsize,
    deadline: Mutex<Option<std::time::Instant>>,
}

impl Meet {
    fn call(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        let deadline = *self
            .deadline
            .lock()
            .unwrap()
            .get_or_insert_with(|| std::time::Instant::now() + Duration::from_secs(2));
        while self.peak.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A sync pipe with `concurrency = 4` works on several chunks at once (on async workers, or on the blocking pool)
/// and keeps the input order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_pipe_concurrency_runs_on_the_pool_in_order() {
    for blocking in [false, true] {
        let meet = Arc::new(Meet::default());
        let m = Arc::clone(&meet);
        let out = sink::collect();
        Pipeline::from_iter(0..200u64)
            .with_config(StreamConfig::default().with_chunk_size(4))
            .pipe_with(
                pipe::map(move |x: u64| {
                    m.call();
                    x * 3
                }),
                PipeConfig::named("triple")
                    .with_concurrency(4, true)
                    .with_blocking(blocking),
            )
            .sink(out.clone())
            .run()
            .await
            .unwrap();
        assert_eq!(out.items(), (0..200).map(|x| x * 3).collect::<Vec<_>>());
        let peak = meet.peak.load(Ordering::SeqCst);
        assert!(
            peak >= 2,
            "blocking {blocking}: at most {peak} call at a time"
        );
    }
}

async fn fused_run(fuse: bool) -> (Vec<u64>, Vec<String>) {
    let out = sink::collect();
    let pipeline = Pipeline::from_iter(0..1000u64)
        .with_config(StreamConfig::default().with_fusion(fuse).with_chunk_size(7))
        .pipe(pipe::map(|x: u64| x + 1).named("inc"))
        .pipe(pipe::filter(|x: &u64| !x.is_multiple_of(3)).named("drop3"))
        .pipe(pipe::flat_map(|x: u64| [x, x]).named("twice"))
        .sink(out.clone());
    let report = pipeline.run().await.unwrap();
    let names = report
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Pipe)
        .map(|s| s.name.clone())
        .collect();
    (out.items(), names)
}

#[tokio::test]
async fn fused_and_unfused_stages_agree() {
    let (fused, fused_names) = fused_run(true).await;
    let (split, split_names) = fused_run(false).await;
    let want: Vec<u64> = (1..=1000)
        .filter(|x: &u64| !x.is_multiple_of(3))
        .flat_map(|x| [x, x])
        .collect();
    assert_eq!(fused, want);
    assert_eq!(split, want);
    assert_eq!(fused_names, ["inc >> drop3 >> twice"]);
    assert_eq!(split_names, ["inc", "drop3", "twice"]);
}

/// A sync source of `0..n` and a sync sink that collects; both count open and close.
#[derive(Clone, Default)]
struct Life {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

struct Numbers(u32, u32, Life);

impl SyncSource for Numbers {
    type Out = u32;
    fn next(&mut self) -> Option<Result<u32, PipeError>> {
        (self.0 < self.1).then(|| {
            self.0 += 1;
            Ok(self.0 - 1)
        })
    }
    fn open(&mut self) -> Result<(), PipeError> {
        self.2.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn close(&mut self) -> Result<(), PipeError> {
        self.2.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Keep(Arc<Mutex<Vec<u32>>>, Life);

impl SyncSink for Keep {
    type In = u32;
    fn write(&mut self, item: u32) -> Result<(), PipeError> {
        self.0.lock().unwrap().push(item);
        Ok(())
    }
    fn open(&mut self) -> Result<(), PipeError> {
        self.1.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn close(&mut self) -> Result<(), PipeError> {
        self.1.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_source_and_sinks_fan_out_and_close_once() {
    let life = Life::default();
    let a = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::new(Mutex::new(Vec::new()));
    let pipeline = Pipeline::from_source(Numbers(0, 500, life.clone()))
        .pipe(pipe::map(|x: u32| x * 2))
        .sink(Keep(Arc::clone(&a), life.clone()))
        .sink(Keep(Arc::clone(&b), life.clone()));
    let monitor = pipeline.monitor();
    let report = pipeline.run().await.unwrap();
    let want: Vec<u32> = (0..500).map(|x| x * 2).collect();
    assert_eq!(*a.lock().unwrap(), want);
    assert_eq!(*b.lock().unwrap(), want);
    assert_eq!(life.opened.load(Ordering::SeqCst), 3);
    assert_eq!(life.closed.load(Ordering::SeqCst), 3);
    assert_eq!(report.items_read(), 500);
    assert_eq!(report.items_written(), 1000);
    assert_eq!(monitor.snapshot(), report.stages);
    assert!(!report.cancelled);
}

#[tokio::test]
async fn stream_form_iterates_with_while_let() {
    let p = pipe::map(|x: u32| x * 10) >> pipe::filter(|x: &u32| *x != 20);
    let mut out = p.stream(source::iter(0..5u32));
    let mut seen = Vec::new();
    while let Some(item) = out.next().await {
        seen.push(item.unwrap());
    }
    assert_eq!(seen, [0, 10, 30, 40]);
}

#[tokio::test]
async fn stream_form_ends_with_the_error() {
    let mut out = Pipeline::from_iter(0..5u32)
        .pipe(pipe::try_map(|x: u32| if x == 3 { Err("three") } else { Ok(x) }).named("no3"))
        .into_stream();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = out.next().await {
        match item {
            Ok(x) => ok.push(x),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(ok, [0, 1, 2]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pipe(), "no3");
}

/// An async source that fails to open.
struct Broken;

impl AsyncSource for Broken {
    type Out = u32;
    async fn next(&mut self) -> Option<Result<u32, PipeError>> {
        Some(Ok(1))
    }
    async fn open(&mut self) -> Result<(), PipeError> {
        Err(PipeError::transient("", "no connection"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_open_stops_before_start_and_closes_the_others() {
    let life = Life::default();
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Pipeline::from_source(Broken)
        .sink(Keep(Arc::clone(&out), life.clone()))
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.pipe_error().unwrap().pipe(), "Broken");
    assert!(out.lock().unwrap().is_empty());
    assert_eq!(life.opened.load(Ordering::SeqCst), 1);
    assert_eq!(life.closed.load(Ordering::SeqCst), 1);
}

#[test]
fn run_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let fut = Pipeline::from_iter(0..3u32).sink(sink::discard()).run();
    is_send(&fut);
}

/// A source that gives `count` items, `gap` apart, then waits `then` before it ends.
struct Spaced {
    next: u64,
    count: u64,
    gap: Duration,
    then: Duration,
}

impl AsyncSource for Spaced {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        if self.next == self.count {
            tokio::time::sleep(self.then).await;
            return None;
        }
        if self.next > 0 {
            tokio::time::sleep(self.gap).await;
        }
        self.next += 1;
        Some(Ok(self.next))
    }
}

/// What each flush covered, and when.
type Flushed = Vec<(tokio::time::Instant, Vec<u64>)>;

/// A sink that keeps what each flush covered, and when, and may ask for larger flushes.
struct Flushes {
    batch: Option<usize>,
    pending: Vec<u64>,
    flushed: Arc<Mutex<Flushed>>,
}

impl AsyncSink for Flushes {
    type In = u64;
    async fn write(&mut self, item: u64) -> Result<(), PipeError> {
        self.pending.push(item);
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        let items = std::mem::take(&mut self.pending);
        if !items.is_empty() {
            let mut flushed = self.flushed.lock().unwrap();
            flushed.push((tokio::time::Instant::now(), items));
        }
        Ok(())
    }
    fn flush_batch(&self) -> Option<std::num::NonZeroUsize> {
        self.batch.and_then(std::num::NonZeroUsize::new)
    }
}

async fn flushes(batch: Option<usize>, source: Spaced) -> (tokio::time::Instant, Flushed) {
    let flushed = Arc::new(Mutex::new(Vec::new()));
    let start = tokio::time::Instant::now();
    let report = Pipeline::from_source(source)
        .sink(Flushes {
            batch,
            pending: Vec::new(),
            flushed: Arc::clone(&flushed),
        })
        .run()
        .await
        .unwrap();
    let flushed = std::mem::take(&mut *flushed.lock().unwrap());
    let written: u64 = flushed.iter().map(|(_, items)| items.len() as u64).sum();
    assert_eq!(report.items_written(), written);
    (start, flushed)
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_asks_for_larger_flushes_gets_them() {
    let source = || Spaced {
        next: 0,
        count: 100,
        gap: Duration::from_millis(1),
        then: Duration::ZERO,
    };
    // By default a sink flushes whenever its input runs dry: here, after every item.
    let (_, by_default) = flushes(None, source()).await;
    assert_eq!(by_default.len(), 100);
    // Asking for 40: flushes of 40, 40 and the last 20 at the end; the items keep coming faster than the
    // linger, so a dry input is no reason to flush.
    let (_, batched) = flushes(Some(40), source()).await;
    let sizes: Vec<usize> = batched.iter().map(|(_, items)| items.len()).collect();
    assert_eq!(sizes, [40, 40, 20]);
    let items: Vec<u64> = batched.into_iter().flat_map(|(_, items)| items).collect();
    assert_eq!(items, (1..=100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_quiet_stream_is_flushed_after_the_linger() {
    // Three items, then the source waits an hour: they are flushed once the input stayed dry for the linger,
    // not at the end of the run.
    let source = Spaced {
        next: 0,
        count: 3,
        gap: Duration::from_millis(1),
        then: Duration::from_secs(3600),
    };
    let (start, flushed) = flushes(Some(1000), source).await;
    assert_eq!(flushed.len(), 1);
    let (at, items) = &flushed[0];
    assert_eq!(items, &[1, 2, 3]);
    let after = *at - start;
    assert!(
        after >= rivus_core::stream::FLUSH_LINGER && after < Duration::from_millis(100),
        "flushed after {after:?}"
    );
}

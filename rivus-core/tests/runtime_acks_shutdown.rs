//! At-least-once acknowledgements (the committed position never passes an unacknowledged item, also with
//! unordered concurrency) and graceful shutdown (items in flight reach the sink; `close` runs once).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivus_core::ack::Position;
use rivus_core::prelude::*;
use tokio_util::sync::CancellationToken;

/// What the sinks and the filter have done so far, and every commit with what was wrong with it when it was made.
#[derive(Default)]
struct Log {
    /// Per sink: how many copies of each item were written, and how many of them flushed.
    pending: [Mutex<HashMap<u64, usize>>; 2],
    flushed: [Mutex<HashMap<u64, usize>>; 2],
    /// Items the filter dropped.
    filtered: Mutex<HashSet<u64>>,
    /// Positions committed, in order, each with the items at or below it that were not done at that moment.
    commits: Mutex<Vec<(u64, Vec<u64>)>>,
}

impl Log {
    /// Whether item `p` is done now: dropped by the filter, or each of its `copies` flushed by both sinks.
    fn done(&self, p: u64, copies: usize) -> bool {
        self.filtered.lock().unwrap().contains(&p)
            || self
                .flushed
                .iter()
                .all(|f| f.lock().unwrap().get(&p).copied().unwrap_or(0) >= copies)
    }
}

/// Offsets `0..end`; each commit is judged when it is made, against what the sinks have flushed by then.
struct Topic {
    next: u64,
    end: u64,
    /// How many copies of each item reach each sink.
    copies: usize,
    log: Arc<Log>,
}

impl Topic {
    fn new(end: u64, copies: usize, log: &Arc<Log>) -> Self {
        Self {
            next: 0,
            end,
            copies,
            log: Arc::clone(log),
        }
    }
}

impl AsyncSource for Topic {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Ok(self.next - 1)
        })
    }
    fn position(&self) -> Option<Position> {
        Some(Position::from(self.next - 1))
    }
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let upto = upto.get::<u64>().unwrap();
        let not_done = (0..=upto)
            .filter(|&p| !self.log.done(p, self.copies))
            .collect();
        self.log.commits.lock().unwrap().push((upto, not_done));
        Ok(())
    }
}

/// Sink `0` or `1`: an item counts once a flush after its write returned.
struct Record(Arc<Log>, usize);

impl AsyncSink for Record {
    type In = u64;
    async fn write(&mut self, item: u64) -> Result<(), PipeError> {
        *self.0.pending[self.1]
            .lock()
            .unwrap()
            .entry(item)
            .or_default() += 1;
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        let pending = std::mem::take(&mut *self.0.pending[self.1].lock().unwrap());
        let mut flushed = self.0.flushed[self.1].lock().unwrap();
        for (item, n) in pending {
            *flushed.entry(item).or_default() += n;
        }
        Ok(())
    }
}

/// Asserts that every commit, when it was made, passed only items that were done; gives the positions.
fn judged_commits(log: &Log) -> Vec<u64> {
    let commits = log.commits.lock().unwrap().clone();
    for (upto, not_done) in &commits {
        assert!(
            not_done.is_empty(),
            "committed {upto} while {not_done:?} were neither flushed by both sinks nor filtered"
        );
    }
    let ups: Vec<u64> = commits.iter().map(|(u, _)| *u).collect();
    assert!(
        ups.windows(2).all(|w| w[0] < w[1]),
        "commits go up: {ups:?}"
    );
    ups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_never_pass_an_unacknowledged_item() {
    let log = Arc::new(Log::default());
    // Item 3 takes 100 ms, the others 1 ms; four at a time, unordered: 4.. finish long before 3.
    let slow = pipe::async_map(|x: u64| async move {
        let ms = if x == 3 { 100 } else { 1 };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        x
    });
    let filtered = Arc::clone(&log);
    let report = Pipeline::from_source(Topic::new(40, 2, &log))
        .with_config(StreamConfig::default().with_chunk_size(4))
        .pipe_with(slow, PipeConfig::named("slow").with_concurrency(4, false))
        .pipe(pipe::filter(move |x: &u64| {
            let keep = !x.is_multiple_of(5);
            if !keep {
                filtered.filtered.lock().unwrap().insert(*x);
            }
            keep
        }))
        .pipe(pipe::flat_map(|x: u64| [x, x]))
        .sink(Record(Arc::clone(&log), 0))
        .sink(Record(Arc::clone(&log), 1))
        .run()
        .await
        .unwrap();
    let ups = judged_commits(&log);
    assert_eq!(ups.last(), Some(&39));
    // While item 3 was slow, later items were written, yet nothing at or past 3 was committed before it.
    assert!(ups.iter().any(|&u| u < 3), "early commits happen: {ups:?}");
    assert_eq!(report.items_written(), 2 * 2 * 32);
    for f in &log.flushed {
        let f = f.lock().unwrap();
        assert_eq!(f.len(), 32);
        assert!(f.values().all(|&n| n == 2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_and_dead_lettered_items_are_acknowledged() {
    let log = Arc::new(Log::default());
    let dead = sink::collect::<DeadLetter>();
    Pipeline::from_source(Topic::new(10, 1, &log))
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
        .pipe(pipe::try_map(
            |x: u64| if x == 4 { Err("four") } else { Ok(x) },
        ))
        .pipe(pipe::filter(|x: &u64| *x != 7))
        .sink(Record(Arc::clone(&log), 0))
        .sink(Record(Arc::clone(&log), 1))
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    let last = log.commits.lock().unwrap().last().map(|(u, _)| *u);
    assert_eq!(last, Some(9), "everything is acknowledged in the end");
    assert_eq!(dead.take().len(), 1);
}

/// A fail-fast run of a source that gives positions, with a dead-letter sink: the run fails at once with its
/// error. (The source task used to wait for every terminal, the dead-letter sink among them, while it held a
/// sender of the dead-letter channel: the run hung until `shutdown_timeout` and was reported as aborted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_with_positions_and_a_dead_letter_sink_ends_with_its_error() {
    let log = Arc::new(Log::default());
    let run = Pipeline::from_source(Topic::new(100, 1, &log))
        .with_config(
            StreamConfig::default()
                .with_chunk_size(4)
                .with_shutdown_timeout(Duration::from_secs(3600)),
        )
        .pipe(pipe::try_map(|x: u64| if x == 10 { Err("ten") } else { Ok(x) }).named("no10"))
        .sink(Record(Arc::clone(&log), 0))
        .sink(Record(Arc::clone(&log), 1))
        .dead_letter(sink::collect::<DeadLetter>())
        .run();
    let err = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends")
        .unwrap_err();
    assert!(matches!(err, PipelineError::Failed { .. }), "{err}");
    assert_eq!(err.pipe_error().unwrap().pipe(), "no10");
    let ups = judged_commits(&log);
    assert_eq!(ups.last(), Some(&9), "committed up to the failing item");
    let report = err.report().unwrap();
    assert_eq!((report.ledger().written, report.ledger().failed), (20, 1));
}

/// Yields an item every 100 ms, counting what it handed out.
struct Ticker {
    n: u64,
    pulled: Arc<AtomicUsize>,
}

impl AsyncSource for Ticker {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.n += 1;
        self.pulled.fetch_add(1, Ordering::SeqCst);
        Some(Ok(self.n))
    }
}

#[derive(Clone, Default)]
struct Closing {
    items: Arc<Mutex<Vec<u64>>>,
    closes: Arc<AtomicUsize>,
    stuck: bool,
}

impl AsyncSink for Closing {
    type In = u64;
    async fn write(&mut self, item: u64) -> Result<(), PipeError> {
        if self.stuck {
            std::future::pending::<()>().await;
        }
        self.items.lock().unwrap().push(item);
        Ok(())
    }
    async fn close(&mut self) -> Result<(), PipeError> {
        self.closes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_items_in_flight_and_closes_once() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let sink = Closing::default();
    let token = CancellationToken::new();
    // Each item spends 250 ms in the pipe, so several are in flight when the token fires.
    let slow = pipe::async_map(|x: u64| async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        x * 10
    });
    let run = tokio::spawn(
        Pipeline::from_source(Ticker {
            n: 0,
            pulled: Arc::clone(&pulled),
        })
        .pipe_with(slow, PipeConfig::named("slow").with_concurrency(4, true))
        .sink(sink.clone())
        .shutdown_on(token.clone())
        .run(),
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let written_before = sink.items.lock().unwrap().len();
    token.cancel();
    let report = run.await.unwrap().unwrap();
    let n = pulled.load(Ordering::SeqCst);
    let items = sink.items.lock().unwrap().clone();
    assert!(
        written_before < n,
        "some items were in flight at the signal"
    );
    assert_eq!(items, (1..=n as u64).map(|x| x * 10).collect::<Vec<_>>());
    assert_eq!(sink.closes.load(Ordering::SeqCst), 1);
    assert!(report.cancelled);
    assert_eq!(report.items_written(), n as u64);
}

#[tokio::test(start_paused = true)]
async fn a_second_request_aborts() {
    let sink = Closing {
        stuck: true,
        ..Closing::default()
    };
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(Ticker {
            n: 0,
            pulled: Arc::default(),
        })
        .sink(sink.clone())
        .shutdown_on(stop.clone())
        .abort_on(abort.clone())
        .run(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!run.is_finished(), "the drain waits for the stuck sink");
    abort.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, PipelineError::Aborted { .. }), "{err}");
    assert_eq!(
        sink.closes.load(Ordering::SeqCst),
        0,
        "an abort does not close"
    );
}

/// Offsets `0..end` from a sync source (read on a thread of its own); remembers every commit.
struct SyncTopic {
    next: u64,
    end: u64,
    commits: Arc<Mutex<Vec<u64>>>,
}

impl SyncSource for SyncTopic {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Ok(self.next - 1)
        })
    }
    fn position(&self) -> Option<Position> {
        Some(Position::from(self.next - 1))
    }
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        // A commit takes a while (a round trip to a broker): items are acknowledged meanwhile.
        std::thread::sleep(Duration::from_millis(2));
        self.commits
            .lock()
            .unwrap()
            .push(upto.get::<u64>().unwrap());
        Ok(())
    }
}

/// A run that reads everything commits everything, also when the last items are acknowledged while a commit
/// is in progress. (The source task used to look whether all was done *after* reading the watermark it
/// committed: the items acknowledged in between were never committed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_is_committed_to_its_last_item() {
    for _ in 0..20 {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let source = SyncTopic {
            next: 0,
            end: 6,
            commits: Arc::clone(&commits),
        };
        Pipeline::from_source(source)
            .with_config(StreamConfig::default().with_chunk_size(1))
            .pipe(pipe::async_map(|x: u64| async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                x
            }))
            .sink(sink::discard())
            .run()
            .await
            .unwrap();
        let commits = commits.lock().unwrap().clone();
        assert_eq!(commits.last(), Some(&5), "commits {commits:?}");
    }
}

/// A source that requests an abort as soon as it opens, then yields forever.
struct AbortAtOnce(CancellationToken);

impl AsyncSource for AbortAtOnce {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        tokio::task::yield_now().await;
        Some(Ok(1))
    }
    async fn open(&mut self) -> Result<(), PipeError> {
        self.0.cancel();
        Ok(())
    }
}

/// An abort that comes before the run is under way is an abort. (The coordinator used to watch the run's
/// state only from after it had started the watchers: an abort before that went unseen, and the halted run
/// returned `Ok` with what it had done.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_abort_is_reported_as_an_abort() {
    for run in 0..200 {
        let abort = CancellationToken::new();
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            Pipeline::from_source(AbortAtOnce(abort.clone()))
                .sink(sink::discard())
                .abort_on(abort)
                .run(),
        )
        .await
        .expect("the run ends");
        assert!(
            matches!(result, Err(PipelineError::Aborted { .. })),
            "run {run}: {result:?}"
        );
    }
}

/// Items from a channel, numbered; every commit is reported on `commits`.
struct Inbox {
    rx: tokio::sync::mpsc::Receiver<u64>,
    taken: u64,
    commits: tokio::sync::mpsc::UnboundedSender<u64>,
}

impl AsyncSource for Inbox {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        let item = self.rx.recv().await?; // cancel safe
        self.taken += 1;
        Some(Ok(item))
    }
    fn position(&self) -> Option<Position> {
        Some(Position::from(self.taken - 1))
    }
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.commits.send(upto.get::<u64>().unwrap()).unwrap();
        Ok(())
    }
}

/// A source that waits for its next item still gets the commits of the items before: it need not yield
/// another item first (a webhook answers its callers on commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_source_is_committed_without_its_next_item() {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (commits, mut committed) = tokio::sync::mpsc::unbounded_channel();
    let out = sink::collect::<u64>();
    let run = tokio::spawn(
        Pipeline::from_source(Inbox {
            rx,
            taken: 0,
            commits,
        })
        .sink(out.clone())
        .run(),
    );
    for i in 0..3u64 {
        tx.send(i * 10).await.unwrap();
        // The source is now waiting in `next`; the commit of item `i` comes all the same.
        let upto = tokio::time::timeout(Duration::from_secs(30), committed.recv())
            .await
            .expect("no commit while the source waits")
            .unwrap();
        assert_eq!(upto, i);
    }
    drop(tx);
    let report = run.await.unwrap().unwrap();
    assert_eq!(out.items(), [0, 10, 20]);
    assert_eq!(report.ledger().written, 3);
}

/// Offsets `0..end`, leaving out the multiples of 3 as a prefilter would (counted, not yielded); remembers
/// every commit. The position is the offset read last, yielded or left out.
struct LeavesOut {
    next: u64,
    end: u64,
    left_out: u64,
    commits: Arc<Mutex<Vec<u64>>>,
}

impl LeavesOut {
    fn new(end: u64, commits: &Arc<Mutex<Vec<u64>>>) -> Self {
        Self {
            next: 0,
            end,
            left_out: 0,
            commits: Arc::clone(commits),
        }
    }

    fn read(&mut self) -> Option<Result<u64, PipeError>> {
        while self.next < self.end {
            self.next += 1;
            if !(self.next - 1).is_multiple_of(3) {
                return Some(Ok(self.next - 1));
            }
            self.left_out += 1;
        }
        None
    }
}

impl SyncSource for LeavesOut {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        self.read()
    }
    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.left_out)
    }
    fn position(&self) -> Option<Position> {
        self.next.checked_sub(1).map(Position::from)
    }
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.commits
            .lock()
            .unwrap()
            .push(upto.get::<u64>().unwrap());
        Ok(())
    }
}

/// The same, as an async source (read on the source's task); with `ready`, it also gives every other item by
/// `try_next`, at once.
struct AsyncLeavesOut(LeavesOut, bool);

impl AsyncSource for AsyncLeavesOut {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        tokio::task::yield_now().await;
        self.0.read()
    }
    fn try_next(&mut self) -> std::task::Poll<Option<Result<u64, PipeError>>> {
        if self.1 && self.0.next.is_multiple_of(2) {
            std::task::Poll::Ready(self.0.read())
        } else {
            std::task::Poll::Pending
        }
    }
    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.0.left_out)
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.0.commit(upto)
    }
}

/// Rows a source leaves out under a prefilter are read and filtered at its stage, the ledger adds up, and the
/// last commit covers the rows left out after the last item (offsets 9 and 12 here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_source_leaves_out_are_counted_filtered_and_committed() {
    for (end, chunk) in [(10, 256), (13, 1), (3_001, 7)] {
        // A sync source, an async one by `next`, and one that gives some items by `try_next`.
        for (sync, ready) in [(true, false), (false, false), (false, true)] {
            let commits = Arc::new(Mutex::new(Vec::new()));
            let out = sink::collect();
            let config = StreamConfig::default().with_chunk_size(chunk);
            let source = LeavesOut::new(end, &commits);
            let pipeline = if sync {
                Pipeline::from_source(source)
            } else {
                Pipeline::from_source(AsyncLeavesOut(source, ready))
            };
            let report = pipeline
                .with_config(config)
                .pipe(pipe::map(|x: u64| x * 2))
                .sink(out.clone())
                .run()
                .await
                .unwrap();
            let left_out = (0..end).filter(|n| n.is_multiple_of(3)).count() as u64;
            let ledger = report.ledger();
            assert_eq!(
                (ledger.read, ledger.written, ledger.filtered),
                (end, end - left_out, left_out),
                "end {end}, sync {sync}, ready {ready}: {ledger:?}"
            );
            assert!(ledger.is_balanced());
            let source = &report.stages[0];
            assert_eq!((source.items_in, source.filtered), (end, left_out));
            assert!(report.stages.iter().all(|s| s.is_balanced()), "{report:?}");
            let expected: Vec<u64> = (0..end)
                .filter(|n| !n.is_multiple_of(3))
                .map(|n| n * 2)
                .collect();
            assert_eq!(out.items(), expected);
            let commits = commits.lock().unwrap().clone();
            assert_eq!(commits.last(), Some(&(end - 1)), "commits {commits:?}");
            assert!(commits.windows(2).all(|w| w[0] < w[1]), "{commits:?}");
        }
    }
}

/// A source that always has its next item at once (`try_next`), without end.
struct Endless(u64);

impl AsyncSource for Endless {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        unreachable!("always ready")
    }
    fn try_next(&mut self) -> std::task::Poll<Option<Result<u64, PipeError>>> {
        self.0 += 1;
        std::task::Poll::Ready(Some(Ok(self.0)))
    }
}

/// A source that never has to wait still stops on a graceful shutdown, with every item it read accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_always_ready_stops_on_shutdown_and_its_ledger_adds_up() {
    let token = CancellationToken::new();
    let written = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&written);
    let run = tokio::spawn(
        Pipeline::from_source(Endless(0))
            .pipe(pipe::map(|x: u64| x + 1))
            .sink(sink::for_each(move |_: u64| {
                counted.fetch_add(1, Ordering::Relaxed);
            }))
            .shutdown_on(token.clone())
            .run(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    token.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run stopped")
        .unwrap()
        .unwrap();
    assert!(report.cancelled);
    let ledger = report.ledger();
    assert!(ledger.read > 0, "{ledger:?}");
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.written, written.load(Ordering::Relaxed) as u64);
    assert_eq!(
        ledger.written, ledger.read,
        "a graceful stop writes what was read"
    );
}

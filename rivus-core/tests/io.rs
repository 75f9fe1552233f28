//! `source >> pipe` and `pipe >> sink` (compose::io): buffering of fan-out, errors, lifting between sync and
//! async, the open/close order, and the positions a composed source passes on.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use rivus_core::prelude::*;

/// What happened, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn log(log: &Log, what: impl Into<String>) {
    if let Ok(mut l) = log.lock() {
        l.push(what.into());
    }
}

/// Yields its items; an item of `None` is a bad item (an `Err`).
#[sync_source]
struct Items {
    items: Vec<Option<u32>>,
    log: Log,
}

impl SyncSource for Items {
    type Out = u32;
    fn next(&mut self) -> Option<Result<u32, PipeError>> {
        if self.items.is_empty() {
            return None;
        }
        Some(
            self.items
                .remove(0)
                .ok_or_else(|| PipeError::msg("bad item").with_pipe("items")),
        )
    }
    fn open(&mut self) -> Result<(), PipeError> {
        log(&self.log, "open source");
        Ok(())
    }
    fn close(&mut self) -> Result<(), PipeError> {
        log(&self.log, "close source");
        Ok(())
    }
}

/// Collects items; fails on 13.
#[sync_sink]
struct Collect {
    seen: Log,
}

impl SyncSink for Collect {
    type In = String;
    fn write(&mut self, item: String) -> Result<(), PipeError> {
        if item == "13" {
            return Err(PipeError::msg("unlucky"));
        }
        log(&self.seen, item);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        log(&self.seen, "flush");
        Ok(())
    }
    fn open(&mut self) -> Result<(), PipeError> {
        log(&self.seen, "open sink");
        Ok(())
    }
    fn close(&mut self) -> Result<(), PipeError> {
        log(&self.seen, "close sink");
        Ok(())
    }
}

/// Adds one, asynchronously.
#[async_pipe]
struct AsyncInc;

impl AsyncPipe for AsyncInc {
    type In = u32;
    type Out = u32;
    async fn process(&self, x: u32) -> Result<u32, PipeError> {
        tokio::task::yield_now().await;
        Ok(x + 1)
    }
}

/// Sums, asynchronously.
#[async_sink]
struct AsyncSum(Arc<Mutex<u32>>);

impl AsyncSink for AsyncSum {
    type In = u32;
    async fn write(&mut self, x: u32) -> Result<(), PipeError> {
        tokio::task::yield_now().await;
        *self.0.lock().map_err(|_| PipeError::msg("poisoned"))? += x;
        Ok(())
    }
}

fn drain<S: SyncSource>(s: &mut S) -> Vec<Result<S::Out, String>> {
    std::iter::from_fn(|| s.next())
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

#[test]
fn a_source_with_pipes_is_a_source_and_buffers_fan_out() {
    let l = Log::default();
    let mut s = Items {
        items: vec![Some(1), Some(2), Some(3)],
        log: l.clone(),
    } >> pipe::flat_map(|n: u32| 0..n)
        >> pipe::filter(|x: &u32| *x != 1);
    assert_eq!(s.name(), "Items >> flat_map >> filter");
    s.open().unwrap();
    assert_eq!(drain(&mut s), [Ok(0), Ok(0), Ok(0), Ok(2)]);
    // Of the flat-map's six outputs, the filter dropped two (the `1`s).
    assert_eq!(s.take_filtered(), 2);
    assert_eq!(s.take_filtered(), 0);
    s.close().unwrap();
    assert_eq!(*l.lock().unwrap(), ["open source", "close source"]);
}

#[test]
fn bad_items_and_pipe_errors_come_out_in_place() {
    let mut s =
        Items {
            items: vec![Some(4), None, Some(0), Some(6)],
            log: Log::default(),
        } >> pipe::try_map(|x: u32| 12u32.checked_div(x).ok_or_else(|| PipeError::msg("zero")));
    assert_eq!(
        drain(&mut s),
        [
            Ok(3),
            Err("pipe `items` failed (permanent): bad item".to_owned()),
            Err("pipe `try_map` failed (permanent): zero".to_owned()),
            Ok(2)
        ]
    );
}

#[test]
fn a_pipe_with_a_sink_is_a_sink() {
    let seen = Log::default();
    let mut sink = pipe::filter(|x: &u32| *x > 1)
        >> pipe::map(|x: u32| x.to_string())
        >> Collect { seen: seen.clone() };
    assert_eq!(SyncSink::name(&sink), "filter >> map >> Collect");
    sink.open().unwrap();
    for x in [1, 2, 3] {
        sink.write(x).unwrap();
    }
    let err = sink.write(13).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pipe `Collect` failed (permanent): unlucky"
    );
    sink.flush().unwrap();
    sink.close().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["open sink", "2", "3", "flush", "close sink"]
    );
}

#[tokio::test]
async fn sync_source_then_async_pipe_then_sync_pipe() {
    let mut s = Items {
        items: vec![Some(1), Some(2)],
        log: Log::default(),
    } >> AsyncInc
        >> pipe::map(|x: u32| x * 10);
    let mut out = Vec::new();
    while let Some(x) = s.next().await {
        out.push(x.unwrap());
    }
    assert_eq!(out, [20, 30]);
}

#[tokio::test]
async fn async_pipe_then_sync_sink_and_sync_pipe_then_async_sink() {
    let seen = Log::default();
    let mut sink = AsyncInc >> pipe::map(|x: u32| x.to_string()) >> Collect { seen: seen.clone() };
    sink.open().await.unwrap();
    sink.write(1).await.unwrap();
    assert_eq!(
        sink.write(12).await.unwrap_err().to_string(),
        "pipe `Collect` failed (permanent): unlucky"
    );
    sink.flush().await.unwrap();
    sink.close().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["open sink", "2", "flush", "close sink"]
    );

    let total = Arc::new(Mutex::new(0));
    let mut sum = pipe::flat_map(|n: u32| 0..n) >> AsyncSum(total.clone());
    sum.write(4).await.unwrap();
    sum.flush().await.unwrap();
    assert_eq!(*total.lock().unwrap(), 6);

    let mut both = AsyncInc >> AsyncSum(total.clone());
    both.write(1).await.unwrap();
    assert_eq!(*total.lock().unwrap(), 8);
}

#[tokio::test]
async fn source_then_pipes_then_sink_runs_on_the_runtime() {
    let seen: Log = Arc::default();
    let source = Items {
        items: (1..=5).map(Some).collect(),
        log: Arc::clone(&seen),
    };
    let sink = Collect {
        seen: Arc::clone(&seen),
    };
    let pipeline = source
        >> pipe::filter(|x: &u32| *x != 3)
        >> AsyncInc
        >> pipe::map(|x: u32| x.to_string())
        >> sink;
    let report = pipeline.run().await.unwrap();
    assert_eq!(report.items_written(), 4);
    // The item the composed source's filter dropped is read and filtered, at the source's stage.
    let ledger = report.ledger();
    assert_eq!((ledger.read, ledger.filtered, ledger.written), (5, 1, 4));
    assert!(ledger.is_balanced(), "{ledger:?}");
    let log = seen.lock().unwrap().clone();
    let items: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|s| s.parse::<u32>().is_ok())
        .collect();
    assert_eq!(items, ["2", "3", "5", "6"]);
    assert_eq!(log.first().map(String::as_str), Some("open source"));
    assert_eq!(log.iter().filter(|l| *l == "close sink").count(), 1);

    // An async source into an async sink.
    let total = Arc::new(Mutex::new(0));
    let numbers = Items {
        items: vec![Some(1), Some(2)],
        log: Arc::default(),
    } >> AsyncInc;
    (numbers >> AsyncSum(Arc::clone(&total)))
        .run()
        .await
        .unwrap();
    assert_eq!(*total.lock().unwrap(), 5);
}

/// The numbers after `at` up to `to`, each at its own number as position; records what it is asked to commit.
/// Those from `left_out_from` on it leaves out, as a source's prefilter does (`take_filtered`).
#[sync_source]
struct Numbered {
    at: u64,
    to: u64,
    commits: Arc<Mutex<Vec<u64>>>,
    left_out_from: u64,
    left_out: u64,
}

impl Numbered {
    fn new(at: u64, to: u64, commits: &Arc<Mutex<Vec<u64>>>) -> Self {
        Self {
            at,
            to,
            commits: Arc::clone(commits),
            left_out_from: u64::MAX,
            left_out: 0,
        }
    }
}

impl SyncSource for Numbered {
    type Out = u64;
    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        while self.at < self.to {
            self.at += 1;
            if self.at < self.left_out_from {
                return Some(Ok(self.at));
            }
            self.left_out += 1;
        }
        None
    }
    fn take_filtered(&mut self) -> u64 {
        std::mem::take(&mut self.left_out)
    }
    fn position(&self) -> Option<rivus_core::ack::Position> {
        Some(rivus_core::ack::Position::new(self.at))
    }
    fn commit(&mut self, upto: rivus_core::ack::Position) -> Result<(), PipeError> {
        self.commits
            .lock()
            .unwrap()
            .push(upto.get::<u64>().unwrap());
        Ok(())
    }
}

/// Keeps what it is given; fails on `fail_on`.
#[sync_sink]
struct Gather {
    written: Arc<Mutex<Vec<u64>>>,
    fail_on: Option<u64>,
}

impl SyncSink for Gather {
    type In = u64;
    fn write(&mut self, x: u64) -> Result<(), PipeError> {
        if Some(x) == self.fail_on {
            return Err(PipeError::msg(format!("refused {x}")));
        }
        self.written.lock().unwrap().push(x);
        Ok(())
    }
}

/// Two outputs per input (`10x` and `10x + 1`), none for a multiple of three.
fn twice_but_threes(x: u64) -> Vec<u64> {
    if x.is_multiple_of(3) {
        Vec::new()
    } else {
        vec![10 * x, 10 * x + 1]
    }
}

/// A resumable source composed with a pipe keeps its commits: through `>>` on the runtime, sync and async, the
/// source is committed up to its last item (one the pipe dropped included), once per input, in order.
#[tokio::test]
async fn a_composed_source_passes_its_positions_on() {
    for is_async in [false, true] {
        let (commits, written) = (Arc::<Mutex<Vec<u64>>>::default(), Arc::default());
        let source = Numbered::new(0, 12, &commits);
        let sink = Gather {
            written: Arc::clone(&written),
            fail_on: None,
        };
        let report = if is_async {
            (source
                >> pipe::async_flat_map(|x: u64| std::future::ready(twice_but_threes(x)))
                >> sink)
                .run()
                .await
        } else {
            (source >> pipe::flat_map(twice_but_threes) >> sink)
                .run()
                .await
        }
        .unwrap();
        assert_eq!(report.items_written(), 16, "async {is_async}");
        let commits = commits.lock().unwrap().clone();
        assert_eq!(commits.last(), Some(&12), "async {is_async}: {commits:?}");
        assert!(
            commits.windows(2).all(|w| w[0] < w[1]),
            "async {is_async}: {commits:?}"
        );
    }
}

/// Rows the source itself leaves out after its last item (its prefilter) are committed through a composed
/// source too: the source's position after them.
#[tokio::test]
async fn a_composed_source_commits_the_rows_its_source_left_out_at_the_end() {
    for is_async in [false, true] {
        let commits = Arc::<Mutex<Vec<u64>>>::default();
        let mut source = Numbered::new(0, 12, &commits);
        source.left_out_from = 11;
        let sink = Gather {
            written: Arc::default(),
            fail_on: None,
        };
        let report = if is_async {
            (source
                >> pipe::async_flat_map(|x: u64| std::future::ready(twice_but_threes(x)))
                >> sink)
                .run()
                .await
        } else {
            (source >> pipe::flat_map(twice_but_threes) >> sink)
                .run()
                .await
        }
        .unwrap();
        let ledger = report.ledger();
        // 1..=10: 3, 6 and 9 dropped by the pipe, 11 and 12 left out by the source; 7 inputs of 2 outputs.
        assert_eq!(
            (ledger.read, ledger.filtered, ledger.written),
            (19, 5, 14),
            "async {is_async}"
        );
        assert!(ledger.is_balanced(), "async {is_async}: {ledger:?}");
        assert_eq!(
            commits.lock().unwrap().last(),
            Some(&12),
            "async {is_async}"
        );
    }
}

/// A composed source never commits an input before every output of it reached an end: a run that fails on the
/// second output of input 7 commits at most input 6, and a run resumed from that commit writes what the first
/// one did not, so the two together hold every output (at least once).
#[tokio::test]
async fn a_composed_source_commits_an_input_only_after_all_its_outputs() {
    let expected: Vec<u64> = (1..=12).flat_map(twice_but_threes).collect();
    let (commits, written) = (
        Arc::<Mutex<Vec<u64>>>::default(),
        Arc::<Mutex<Vec<u64>>>::default(),
    );
    let first = Numbered::new(0, 12, &commits)
        >> pipe::flat_map(twice_but_threes)
        >> Gather {
            written: Arc::clone(&written),
            fail_on: Some(71),
        };
    let err = first.run().await.unwrap_err();
    assert!(err.to_string().contains("refused 71"), "{err}");
    let committed = commits.lock().unwrap().last().copied().unwrap_or(0);
    assert!(
        committed < 7,
        "input 7 committed though its output 71 failed: {committed}"
    );
    let again = Numbered::new(committed, 12, &commits)
        >> pipe::flat_map(twice_but_threes)
        >> Gather {
            written: Arc::clone(&written),
            fail_on: None,
        };
    again.run().await.unwrap();
    let mut all = written.lock().unwrap().clone();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, expected);
    assert_eq!(commits.lock().unwrap().last(), Some(&12));
}

//! Every composition case: sync>>sync, async>>async, sync>>async, async>>sync, pipeline>>pipe, pipe>>pipeline,
//! filters and flat-maps in chains, errors that keep their cause and the failing pipe's name, lifecycles.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test on error")]

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rivus_core::pipe::{Outputs, emit_fn};
use rivus_core::prelude::*;

struct Double;

impl SyncPipe for Double {
    type In = u64;
    type Out = u64;
    fn process(&self, input: u64) -> Result<u64, PipeError> {
        Ok(input * 2)
    }
}

struct ToText;

impl SyncPipe for ToText {
    type In = u64;
    type Out = String;
    fn process(&self, input: u64) -> Result<String, PipeError> {
        Ok(input.to_string())
    }
}

/// An async pipe that really suspends before answering.
struct SlowAdd(u64);

impl AsyncPipe for SlowAdd {
    type In = u64;
    type Out = u64;
    async fn process(&self, input: u64) -> Result<u64, PipeError> {
        tokio::task::yield_now().await;
        Ok(input + self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("odd input {0}")]
struct OddInput(u64);

/// Fails permanently on odd inputs, with a typed cause.
struct RejectOdd;

impl SyncPipe for RejectOdd {
    type In = u64;
    type Out = u64;
    fn process(&self, input: u64) -> Result<u64, PipeError> {
        if input % 2 == 1 {
            Err(PipeError::permanent("", OddInput(input)))
        } else {
            Ok(input)
        }
    }
}

fn run_each<P: SyncPipe>(p: &P, inputs: impl IntoIterator<Item = P::In>) -> Vec<P::Out> {
    let mut out = Vec::new();
    for x in inputs {
        if let Err(e) = p.process_each(x, &mut out) {
            panic!("{e}");
        }
    }
    out
}

async fn run_each_async<P: AsyncPipe>(
    p: &P,
    inputs: impl IntoIterator<Item = P::In>,
) -> Vec<P::Out> {
    let mut out = Vec::new();
    for x in inputs {
        if let Err(e) = p.process_each(x, &mut out).await {
            panic!("{e}");
        }
    }
    out
}

#[test]
fn sync_then_sync_is_a_sync_pipe_without_runtime() {
    let p = pipe::map(|x: u64| x + 1) >> Double >> ToText;
    // No runtime exists in this test: the chain is a plain SyncPipe.
    fn assert_sync_pipe<P: SyncPipe<In = u64, Out = String>>(_: &P) {}
    assert_sync_pipe(&p);
    assert_eq!(p.process(4).unwrap(), "10");
    let q = Double.then(Double).then(ToText);
    assert_eq!(q.process(3).unwrap(), "12");
}

#[tokio::test]
async fn async_then_async() {
    let p = pipe::from_async(SlowAdd(1)) >> pipe::async_map(|x: u64| async move { x * 10 });
    assert_eq!(p.process(2).await.unwrap(), 30);
    assert_eq!(run_each_async(&p, 0..3).await, [10, 20, 30]);
}

#[tokio::test]
async fn sync_then_async() {
    let p = Double.then(pipe::from_async(SlowAdd(1)));
    assert_eq!(p.process(5).await.unwrap(), 11);
    let q = pipe::map(|x: u64| x + 1) >> pipe::from_async(SlowAdd(100));
    assert_eq!(q.process(1).await.unwrap(), 102);
}

#[tokio::test]
async fn async_then_sync() {
    let p = pipe::from_async(SlowAdd(1)) >> Double >> ToText;
    assert_eq!(p.process(4).await.unwrap(), "10");
}

#[tokio::test]
async fn pipeline_then_pipe_and_pipe_then_pipeline_flatten() {
    let left = (pipe::map(|x: u64| x + 1).named("inc") >> Double) >> ToText;
    let right = pipe::map(|x: u64| x + 1).named("inc") >> Double.then(ToText);
    assert_eq!(left.stage_names(), ["inc", "Double", "ToText"]);
    assert_eq!(right.stage_names(), ["inc", "Double", "ToText"]);
    assert_eq!(left.name(), "inc >> Double >> ToText");
    assert_eq!(run_each(&left, 0..4), run_each(&right, 0..4));

    // The same with async parts on either side.
    let a = (pipe::from_async(SlowAdd(1)) >> Double) >> pipe::async_map(|x: u64| async move { x });
    let b = pipe::from_async(SlowAdd(1)) >> Double.then(pipe::async_map(|x: u64| async move { x }));
    assert_eq!(a.stage_names(), ["SlowAdd", "Double", "async_map"]);
    assert_eq!(b.stage_names(), a.stage_names());
    assert_eq!(
        run_each_async(&a, 0..4).await,
        run_each_async(&b, 0..4).await
    );
}

#[test]
fn filter_and_flat_map_change_counts() {
    let p = pipe::flat_map(|n: u64| 0..n) >> pipe::filter(|x: &u64| x.is_multiple_of(2)) >> Double;
    // 0..5 expands to 0+1+2+3+4 = 10 items (0; 0,1; 0,1,2; 0,1,2,3), of which 6 are even.
    let out = run_each(&p, 0..5);
    assert_eq!(out.len(), 6);
    assert_eq!(out, [0, 0, 0, 4, 0, 4]);
}

#[test]
fn process_iter_gives_every_output_of_a_flat_map_in_order() {
    let p = || pipe::flat_map(|n: u64| 0..n) >> Double;
    // Inputs with no, one and several outputs, through `next` (`by_ref`) and through `fold` (`sum`).
    let by_next: Vec<u64> = p()
        .process_iter(0..4)
        .by_ref()
        .map(Result::unwrap)
        .collect();
    assert_eq!(by_next, [0, 0, 2, 0, 2, 4]);
    let sum: u64 = p().process_iter(0..4).map(Result::unwrap).sum();
    assert_eq!(sum, 8);
}

#[test]
fn filter_map_and_try_map() {
    let p = pipe::filter_map(|s: &str| s.parse::<u64>().ok()) >> pipe::map(|x: u64| x * 3);
    assert_eq!(run_each(&p, ["1", "two", "3"]), [3, 9]);

    let q = pipe::try_map(|s: &str| s.parse::<u64>()).named("parse") >> Double;
    assert_eq!(q.process("21").unwrap(), 42);
    let err = q.process("x").unwrap_err();
    assert_eq!(err.pipe(), "parse");
    assert!(err.source().unwrap().is::<std::num::ParseIntError>());
}

#[test]
fn process_on_a_filtering_chain_reports_zero_or_many() {
    let p = pipe::map(|x: u64| x) >> pipe::filter(|x: &u64| *x > 10);
    let err = p.process(1).unwrap_err();
    assert!(err.message().contains("no output"), "{err}");
    let q = pipe::flat_map(|x: u64| [x, x]) >> Double;
    let err = q.process(1).unwrap_err();
    assert!(err.message().contains("2 outputs"), "{err}");
}

#[tokio::test]
async fn async_filters_and_flat_maps() {
    let p = pipe::async_flat_map(|n: u64| async move { 0..n })
        >> pipe::async_filter(|x: &u64| {
            let keep = x % 2 == 1;
            async move { keep }
        })
        >> pipe::async_filter_map(|x: u64| async move { (x < 3).then_some(x) })
        >> pipe::async_try_map(|x: u64| async move { Ok::<_, PipeError>(x * 100) });
    // 0..5 -> 0; 0,1; 0,1,2; 0,1,2,3 ; odd -> 1; 1; 1,3 ; < 3 -> 1, 1, 1
    assert_eq!(run_each_async(&p, 0..5).await, [100, 100, 100]);
}

#[test]
fn error_keeps_cause_and_the_failing_pipe_name() {
    let p = pipe::map(|x: u64| x + 1).named("inc") >> RejectOdd >> Double;
    assert_eq!(p.process(1).unwrap(), 4);
    let err = p.process(2).unwrap_err();
    assert_eq!(err.pipe(), "RejectOdd");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(
        err.to_string(),
        "pipe `RejectOdd` failed (permanent): odd input 3"
    );
    let cause = err.source().unwrap();
    assert!(
        cause.is::<OddInput>(),
        "cause is the pipe's own error, not a second PipeError"
    );
}

#[tokio::test]
async fn error_in_async_chain_names_the_failing_pipe() {
    let p = pipe::from_async(SlowAdd(0)) >> RejectOdd >> pipe::async_map(|x: u64| async move { x });
    let err = p.process(3).await.unwrap_err();
    assert_eq!(err.pipe(), "RejectOdd");
    assert!(err.source().unwrap().is::<OddInput>());

    let q = pipe::from_async(SlowAdd(0))
        >> pipe::async_try_map(|x: u64| async move {
            if x > 5 {
                Err(PipeError::transient(
                    "",
                    std::io::Error::other("backend busy"),
                ))
            } else {
                Ok(x)
            }
        })
        .named("lookup");
    let err = q.process(6).await.unwrap_err();
    assert_eq!(err.pipe(), "lookup");
    assert!(
        err.is_transient(),
        "a PipeError returned by the closure keeps its kind"
    );
}

#[test]
fn downstream_error_stops_a_flat_map() {
    let seen = AtomicUsize::new(0);
    let p = pipe::flat_map(|n: u64| 0..n)
        >> pipe::map(|x: u64| {
            seen.fetch_add(1, Ordering::Relaxed);
            x
        })
        >> RejectOdd;
    let err = p.process_each(10, &mut Vec::new()).unwrap_err();
    assert_eq!(err.pipe(), "RejectOdd");
    assert_eq!(
        seen.load(Ordering::Relaxed),
        2,
        "0 passed, 1 failed, nothing after it ran"
    );
}

#[test]
fn emit_fn_sums_without_collecting() {
    let p = pipe::map(|x: u64| x + 1)
        >> pipe::filter(|x: &u64| x.is_multiple_of(2))
        >> pipe::map(|x: u64| x * 2);
    let mut sum = 0;
    let mut sink = emit_fn(|x: u64| {
        sum += x;
        Ok(())
    });
    for x in 0..10 {
        p.process_each(x, &mut sink).unwrap();
    }
    assert_eq!(sum, (2 + 4 + 6 + 8 + 10) * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn blocking_pipe_runs_off_the_async_workers() {
    let p = pipe::blocking(pipe::map(|x: u64| {
        (x, std::thread::current().name().map(str::to_owned))
    })) >> pipe::map(|(x, thread): (u64, Option<String>)| (x * 2, thread));
    let (value, thread) = p.process(4).await.unwrap();
    assert_eq!(value, 8);
    assert_ne!(thread.as_deref(), std::thread::current().name());

    let panicky = pipe::blocking(pipe::map(|x: u64| {
        assert!(x < 5, "too big: {x}");
        x
    }));
    let err = panicky.process(7).await.unwrap_err();
    assert_eq!(err.pipe(), "map");
    assert!(err.message().contains("too big: 7"), "{err}");
}

#[tokio::test]
async fn open_and_close_run_on_every_part_once() {
    struct Counted {
        opened: Arc<AtomicUsize>,
        closed: Arc<AtomicUsize>,
    }
    impl SyncPipe for Counted {
        type In = u64;
        type Out = u64;
        fn process(&self, input: u64) -> Result<u64, PipeError> {
            Ok(input)
        }
        fn open(&mut self) -> Result<(), PipeError> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn close(&mut self) -> Result<(), PipeError> {
            self.closed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let part = || Counted {
        opened: Arc::clone(&opened),
        closed: Arc::clone(&closed),
    };
    let mut p = part().then(part()) >> pipe::from_async(SlowAdd(0)) >> part();
    p.open().await.unwrap();
    assert_eq!(p.process(1).await.unwrap(), 1);
    p.close().await.unwrap();
    assert_eq!(opened.load(Ordering::SeqCst), 3);
    assert_eq!(closed.load(Ordering::SeqCst), 3);
}

#[test]
fn outputs_buffer_collects_a_chain() {
    let p = pipe::flat_map(|n: u64| 0..n) >> Double;
    let mut out = Outputs::new();
    p.process_each(3, &mut out).unwrap();
    assert_eq!(out.into_iter().collect::<Vec<_>>(), [0, 2, 4]);
}

#[test]
fn closure_methods_infer_their_argument_from_the_pipe() {
    // No annotation on any closure: each takes the output type of the pipe before it.
    let p = Double
        .map(|x| x + 1)
        .filter(|x| !x.is_multiple_of(3))
        .filter_map(|x| x.checked_sub(2))
        .flat_map(|x| [x, x]);
    assert_eq!(run_each(&p, 0..4), [3, 3, 5, 5]);
    let parse = pipe::map(|s: &str| s.trim()).try_map(|s| s.parse::<u64>());
    assert_eq!(parse.process(" 7 ").unwrap(), 7);
    assert!(parse.process("x").is_err());
}

//! What composition costs: the chain x+1 → keep even → x*2, summed over 2,000,000 u64, as
//! (a) a plain iterator chain, (b) a `>>` chain of sync pipes run over the items with `process_iter`, (b2) the
//! same chain called per item into an emitter (`process_each`), (c) an async `>>` chain awaited per item.
//!
//! Run: `cargo bench -p rivus-core --bench compose`. Criterion prints each as elements/s; the ratio (b)/(a) is
//! the cost of `>>` over hand-written closures (target ≥ 0.9). At about one cycle per item, (b2) depends on how
//! the compiler turns the emitter's conditional update into code (a `cmov` on the sum's dependency chain
//! doubles the cycles per item on some CPUs): it is here to show that cost, and why `process_iter` exists.

#![allow(clippy::expect_used, reason = "a bench without a runtime cannot run")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rivus_core::pipe::emit_fn;
use rivus_core::prelude::*;

const N: u64 = 2_000_000;

fn iterator_chain(n: u64) -> u64 {
    (0..n)
        .map(|x| black_box(x) + 1)
        .filter(|x| x.is_multiple_of(2))
        .map(|x| x * 2)
        .sum()
}

fn sync_pipes(n: u64) -> u64 {
    let p = pipe::map(|x: u64| black_box(x) + 1)
        >> pipe::filter(|x: &u64| x.is_multiple_of(2))
        >> pipe::map(|x: u64| x * 2);
    p.process_iter(0..n).map(|r| r.unwrap_or_default()).sum()
}

fn sync_pipes_per_item(n: u64) -> u64 {
    let p = pipe::map(|x: u64| black_box(x) + 1)
        >> pipe::filter(|x: &u64| x.is_multiple_of(2))
        >> pipe::map(|x: u64| x * 2);
    let mut sum = 0u64;
    let mut out = emit_fn(|x: u64| {
        sum += x;
        Ok(())
    });
    for x in 0..n {
        if p.process_each(x, &mut out).is_err() {
            break;
        }
    }
    sum
}

async fn async_pipes(n: u64) -> u64 {
    let p = pipe::async_map(|x: u64| async move { black_box(x) + 1 })
        >> pipe::async_filter(|x: &u64| {
            let keep = x.is_multiple_of(2);
            async move { keep }
        })
        >> pipe::async_map(|x: u64| async move { x * 2 });
    let mut sum = 0u64;
    let mut out = emit_fn(|x: u64| {
        sum += x;
        Ok(())
    });
    for x in 0..n {
        if p.process_each(x, &mut out).await.is_err() {
            break;
        }
    }
    sum
}

fn compose(c: &mut Criterion) {
    let expected = iterator_chain(N);
    assert_eq!(
        sync_pipes(N),
        expected,
        "the pipe chain computes what the iterator computes"
    );
    assert_eq!(sync_pipes_per_item(N), expected);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime for the async case");
    assert_eq!(rt.block_on(async_pipes(N)), expected);

    let mut group = c.benchmark_group("compose");
    group.throughput(Throughput::Elements(N));
    group.bench_function("a_iterator_chain", |b| {
        b.iter(|| iterator_chain(black_box(N)))
    });
    group.bench_function("b_sync_pipes", |b| b.iter(|| sync_pipes(black_box(N))));
    group.bench_function("b2_sync_pipes_per_item", |b| {
        b.iter(|| sync_pipes_per_item(black_box(N)))
    });
    group.bench_function("c_async_pipes_awaited", |b| {
        b.iter(|| rt.block_on(async_pipes(black_box(N))))
    });
    group.finish();
}

criterion_group!(benches, compose);
criterion_main!(benches);

//! The runtime against hand-written Tokio channels, side by side, on the same 3-stage work over 2,000,000 u64.
//!
//! * `a_mpsc_per_item`: a task per stage, `tokio::sync::mpsc` of capacity 1024, one item per send.
//! * `b_mpsc_chunks_256`: the same with `Vec` chunks of 256 items per send.
//! * `c_rivus_per_item`: the Rivus runtime, one task per stage (fusion off), per-item pipes.
//! * `d_rivus_fused`: the Rivus runtime, the three sync stages fused into one task (the default).
//! * `e_rivus_batched_256`: the Rivus runtime with `.batch(256)`, each stage mapping a `Vec` of 256.
//!
//! And sync concurrency (`runtime_sync_concurrency_*`): a CPU-heavy sync pipe (about 2 µs per item) at
//! concurrency 1 and 2, and a cheap one (`x + 1`) at concurrency 1 and 4; each pair's ratio is what matters
//! (target: heavy 2 vs 1 >= 1.7x on 2 cores; cheap 4 vs 1 >= 0.9x, never a slowdown).
//!
//! Run: `cargo bench -p rivus-core --bench runtime -- --warm-up-time 1 --measurement-time 5`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rivus_core::prelude::*;
use tokio::sync::mpsc;

const N: u64 = 2_000_000;

#[inline]
fn s1(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
#[inline]
fn s2(x: u64) -> u64 {
    x ^ (x >> 29)
}
#[inline]
fn s3(x: u64) -> u64 {
    x.wrapping_add(7)
}

/// What every variant must produce.
fn expected() -> u64 {
    (0..N).map(|x| s3(s2(s1(x)))).fold(0, u64::wrapping_add)
}

async fn mpsc_per_item() -> u64 {
    let (tx0, rx0) = mpsc::channel::<u64>(1024);
    let (tx1, rx1) = mpsc::channel::<u64>(1024);
    let (tx2, rx2) = mpsc::channel::<u64>(1024);
    let (tx3, mut rx3) = mpsc::channel::<u64>(1024);
    tokio::spawn(async move {
        for x in 0..N {
            if tx0.send(x).await.is_err() {
                return;
            }
        }
    });
    for (f, mut rx, tx) in [
        (s1 as fn(u64) -> u64, rx0, tx1),
        (s2, rx1, tx2),
        (s3, rx2, tx3),
    ] {
        tokio::spawn(async move {
            while let Some(x) = rx.recv().await {
                if tx.send(f(x)).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut sum = 0u64;
    while let Some(x) = rx3.recv().await {
        sum = sum.wrapping_add(x);
    }
    sum
}

async fn mpsc_chunks() -> u64 {
    const CHUNK: usize = 256;
    let cap = 1024 / CHUNK;
    let (tx0, rx0) = mpsc::channel::<Vec<u64>>(cap);
    let (tx1, rx1) = mpsc::channel::<Vec<u64>>(cap);
    let (tx2, rx2) = mpsc::channel::<Vec<u64>>(cap);
    let (tx3, mut rx3) = mpsc::channel::<Vec<u64>>(cap);
    tokio::spawn(async move {
        let mut chunk = Vec::with_capacity(CHUNK);
        for x in 0..N {
            chunk.push(x);
            if chunk.len() == CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if tx0.send(full).await.is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx0.send(chunk).await;
        }
    });
    for (f, mut rx, tx) in [
        (s1 as fn(u64) -> u64, rx0, tx1),
        (s2, rx1, tx2),
        (s3, rx2, tx3),
    ] {
        tokio::spawn(async move {
            while let Some(mut chunk) = rx.recv().await {
                chunk.iter_mut().for_each(|x| *x = f(*x));
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut sum = 0u64;
    while let Some(chunk) = rx3.recv().await {
        sum = chunk.into_iter().fold(sum, u64::wrapping_add);
    }
    sum
}

fn summing_sink<T: Send + 'static>(
    total: &Arc<AtomicU64>,
    add: fn(u64, T) -> u64,
) -> sink::ForEach<impl FnMut(T) + Send + 'static, T> {
    let total = Arc::clone(total);
    let mut sum = 0u64;
    sink::for_each(move |x: T| {
        sum = add(sum, x);
        // A relaxed store of the running sum (no read-modify-write): the last one wins.
        total.store(sum, Ordering::Relaxed);
    })
}

async fn rivus_stages(fuse: bool) -> u64 {
    let total = Arc::new(AtomicU64::new(0));
    Pipeline::from_iter(0..N)
        .with_config(StreamConfig::default().with_fusion(fuse))
        .pipe(pipe::map(s1))
        .pipe(pipe::map(s2))
        .pipe(pipe::map(s3))
        .sink(summing_sink(&total, u64::wrapping_add))
        .run()
        .await
        .map(|_| total.load(Ordering::Relaxed))
        .unwrap_or_default()
}

async fn rivus_batched() -> u64 {
    let total = Arc::new(AtomicU64::new(0));
    let stage = |f: fn(u64) -> u64| {
        pipe::map(move |mut v: Vec<u64>| {
            v.iter_mut().for_each(|x| *x = f(*x));
            v
        })
    };
    Pipeline::from_iter(0..N)
        .with_config(StreamConfig::default().with_fusion(false))
        .batch(256, None)
        .pipe(stage(s1))
        .pipe(stage(s2))
        .pipe(stage(s3))
        .sink(summing_sink(&total, |sum, v: Vec<u64>| {
            v.into_iter().fold(sum, u64::wrapping_add)
        }))
        .run()
        .await
        .map(|_| total.load(Ordering::Relaxed))
        .unwrap_or_default()
}

/// About 2 µs of arithmetic per item (on a 2020s x86 core), that the compiler cannot fold away.
#[inline(never)]
fn heavy(x: u64) -> u64 {
    let mut h = x;
    for i in 0..black_box(1_000u64) {
        h = (h ^ i).wrapping_mul(0x100_0000_01b3).rotate_left(5);
    }
    h
}

async fn rivus_sync_concurrency(n: u64, f: fn(u64) -> u64, concurrency: usize) -> u64 {
    let total = Arc::new(AtomicU64::new(0));
    Pipeline::from_iter(0..n)
        .pipe_with(
            pipe::map(f),
            PipeConfig::named("work").with_concurrency(concurrency, true),
        )
        .sink(summing_sink(&total, u64::wrapping_add))
        .run()
        .await
        .map(|_| total.load(Ordering::Relaxed))
        .unwrap_or_default()
}

fn concurrency(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    const HEAVY: u64 = 20_000;
    const CHEAP: u64 = 2_000_000;
    let want_heavy = (0..HEAVY).map(heavy).fold(0, u64::wrapping_add);
    let want_cheap = (0..CHEAP).map(s3).fold(0, u64::wrapping_add);
    for n in [1, 2] {
        let got = rt.block_on(rivus_sync_concurrency(HEAVY, heavy, n));
        assert_eq!(
            got, want_heavy,
            "heavy at concurrency {n} computed a different sum"
        );
    }
    for n in [1, 4] {
        let got = rt.block_on(rivus_sync_concurrency(CHEAP, s3, n));
        assert_eq!(
            got, want_cheap,
            "cheap at concurrency {n} computed a different sum"
        );
    }
    let mut g = c.benchmark_group("runtime_sync_concurrency_heavy_20k");
    g.throughput(Throughput::Elements(HEAVY));
    g.sample_size(10);
    for n in [1, 2] {
        g.bench_function(format!("concurrency_{n}"), |b| {
            b.to_async(rt)
                .iter(|| async move { black_box(rivus_sync_concurrency(HEAVY, heavy, n).await) })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("runtime_sync_concurrency_cheap_2M");
    g.throughput(Throughput::Elements(CHEAP));
    g.sample_size(10);
    for n in [1, 4] {
        g.bench_function(format!("concurrency_{n}"), |b| {
            b.to_async(rt)
                .iter(|| async move { black_box(rivus_sync_concurrency(CHEAP, s3, n).await) })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build the runtime: {e}"));
    let want = expected();
    for (name, got) in [
        ("a", rt.block_on(mpsc_per_item())),
        ("b", rt.block_on(mpsc_chunks())),
        ("c", rt.block_on(rivus_stages(false))),
        ("d", rt.block_on(rivus_stages(true))),
        ("e", rt.block_on(rivus_batched())),
    ] {
        assert_eq!(got, want, "variant {name} computed a different sum");
    }
    let mut g = c.benchmark_group("runtime_3_stages_2M_u64");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("a_mpsc_per_item", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(mpsc_per_item().await) })
    });
    g.bench_function("b_mpsc_chunks_256", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(mpsc_chunks().await) })
    });
    g.bench_function("c_rivus_per_item", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(rivus_stages(false).await) })
    });
    g.bench_function("d_rivus_fused", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(rivus_stages(true).await) })
    });
    g.bench_function("e_rivus_batched_256", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(rivus_batched().await) })
    });
    g.finish();
    concurrency(c, &rt);
}

criterion_group!(benches, bench);
criterion_main!(benches);

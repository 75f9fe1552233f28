//! Webhook throughput beside a bare axum handler, under the same load on loopback, in one run:
//!
//! * **webhook**: `WebhookSource` → `BlackholeSink`, every request answered 200 only once its records were
//!   written (acknowledgements and commits included);
//! * **bare axum**: a handler on the same stack (axum, hyper, HTTP/1.1) that reads the body and answers 200;
//! * **axum + parse**: the same handler parsing the body into records (`serde_json` into `Record`s, as the
//!   webhook does), to tell the cost of parsing from the cost of the pipeline.
//!
//! Two loads: 1 record per request with 64 connections, and 100 records per request (JSON lines, ~4 KB) with
//! 16 connections. Each is driven by an in-process client (reqwest, keep-alive, on the same runtime as the
//! servers) and, when `wrk` is on `PATH` (Debian: `apt-get install wrk`), by `wrk` too. Every load runs
//! `RIVUS_BENCH_SECS` seconds (default 5) after a warm-up.
//!
//! Run: `cargo bench -p rivus-plugins --features http --bench http_webhook`.
//!
//! Measured on 2 cores (AMD EPYC) shared with other builds (load average 5-9, so ±15 %), two runs, wrk:
//! 1 record per request, 64 connections: bare axum 55-63k requests/s, webhook 38-45k (0.60-0.82x; the
//! in-process client, which loads the cores more evenly: 0.88x). 100 records per request (JSON lines),
//! 16 connections: webhook 1.08-1.18M records/s (10.8-11.8k requests/s), 0.90-1.04x the handler that only
//! parses the same records, 0.22-0.29x the bare handler that parses nothing.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use rivus_core::prelude::*;
use rivus_plugins::blackhole::BlackholeSink;
use rivus_plugins::http::{WebhookConfig, WebhookSource};

/// One load: records per request and connections.
#[derive(Clone, Copy)]
struct Load {
    records: usize,
    connections: usize,
}

const LOADS: [Load; 2] = [
    Load {
        records: 1,
        connections: 64,
    },
    Load {
        records: 100,
        connections: 16,
    },
];

fn body(records: usize) -> String {
    (0..records)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"event\":\"order.paid\",\"amount\":12.5,\"customer\":\"c-{i}\"}}\n"
            )
        })
        .collect()
}

/// Requests per second from `connections` clients posting `body` to `url` for `secs`.
async fn in_process(url: &str, body: &str, connections: usize, secs: f64) -> f64 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, url, body, done) = (
            client.clone(),
            url.to_owned(),
            Bytes::from(body.to_owned()),
            Arc::clone(&done),
        );
        clients.spawn(async move {
            while Instant::now() < until {
                let r = client.post(&url).body(body.clone()).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while clients.join_next().await.is_some() {}
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Requests per second by `wrk` (2 threads) posting `body` to `url`, if `wrk` is installed.
fn with_wrk(url: &str, body: &str, connections: usize, secs: f64) -> Option<f64> {
    let dir = std::env::temp_dir().join(format!("rivus-bench-wrk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/x-ndjson\"\n\
             done = function(summary, latency, requests)\n  io.write(string.format(\"non2xx %d\\n\", \
             summary.errors.status))\nend\n",
            serde_json::to_string(body).unwrap()
        ),
    )
    .ok()?;
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", secs.ceil()),
            "-s",
            script.to_str()?,
            url,
        ])
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("non2xx 0"), "wrk saw errors:\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

async fn bare_axum() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/",
        post(|body: Bytes| async move {
            std::hint::black_box(body);
            "{}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn parsing_axum() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/",
        post(|body: Bytes| async move {
            let records: Vec<rivus_core::value::Record> =
                serde_json::Deserializer::from_slice(&body)
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .unwrap();
            std::hint::black_box(records);
            "{}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn webhook() -> SocketAddr {
    let mut cfg = WebhookConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.max_queued = std::num::NonZeroUsize::new(1 << 16).unwrap();
    let mut source = WebhookSource::try_from(cfg).unwrap();
    source.open().await.unwrap();
    let addr = source.local_addr().unwrap();
    tokio::spawn(
        Pipeline::from_source(source)
            .sink::<_, rivus_core::compose::AsyncMode>(BlackholeSink::default())
            .run(),
    );
    addr
}

fn main() {
    let secs: f64 = std::env::var("RIVUS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let wrk = Command::new("wrk").arg("--version").output().is_ok();
    runtime.block_on(async {
        let servers = [
            format!("http://{}/", bare_axum().await),
            format!("http://{}/", parsing_axum().await),
            format!("http://{}/", webhook().await),
        ];
        println!(
            "{:<10} {:>7} {:>5} {:>10} {:>12} {:>13} {:>13} {:>12} {:>12}",
            "client",
            "records",
            "conns",
            "bare req/s",
            "parse req/s",
            "webhook req/s",
            "webhook rec/s",
            "vs bare",
            "vs parse"
        );
        for load in LOADS {
            let body = body(load.records);
            let mut rates = [0.0; 3];
            for (rate, url) in rates.iter_mut().zip(&servers) {
                // Warm-up: connections, allocator, caches.
                in_process(url, &body, load.connections, 0.5).await;
                *rate = in_process(url, &body, load.connections, secs).await;
            }
            report("in-process", load, rates);
            if wrk {
                let (servers, body) = (servers.clone(), body.clone());
                let rates = tokio::task::spawn_blocking(move || {
                    servers.map(|url| with_wrk(&url, &body, load.connections, secs))
                })
                .await
                .unwrap();
                if let [Some(b), Some(p), Some(h)] = rates {
                    report("wrk", load, [b, p, h]);
                }
            }
        }
    });
}

fn report(client: &str, load: Load, [bare, parse, hook]: [f64; 3]) {
    println!(
        "{client:<10} {:>7} {:>5} {bare:>10.0} {parse:>12.0} {hook:>13.0} {:>13.0} {:>11.2}x {:>11.2}x",
        load.records,
        load.connections,
        hook * load.records as f64,
        hook / bare,
        hook / parse
    );
}

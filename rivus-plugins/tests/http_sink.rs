//! The `http` sink against real HTTP servers in-process on 127.0.0.1: retries until every record arrives
//! exactly once, refusals to the dead-letter sink (a partly refused batch counted exactly), `Retry-After` on a
//! paused clock, a server that starts late, the concurrency limit, timeouts, and secrets kept out of errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod http_support;

use std::num::NonZeroUsize;
use std::time::Duration;

use http_support::{Api, Reply};
use rivus_core::prelude::*;
use rivus_core::retry::RetryPolicy;
use rivus_core::value::{Record, Value};
use rivus_plugins::http::{BodyFormat, HttpSink, HttpSinkConfig};

/// Records `{"id": i, "bad": i % 7 == 3}`.
fn records(n: u64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            [("id", Value::from(i)), ("bad", Value::from(i % 7 == 3))]
                .into_iter()
                .collect()
        })
        .collect()
}

fn config(url: String, format: BodyFormat, batch: usize) -> HttpSinkConfig {
    let mut cfg = HttpSinkConfig::new(url);
    cfg.format = format;
    if format != BodyFormat::Json {
        cfg.batch_size = NonZeroUsize::new(batch);
    }
    cfg
}

fn retrying(retries: u32, delay_ms: u64) -> PipeConfig {
    PipeConfig::named("api")
        .with_retry(RetryPolicy::new(retries).with_initial_delay(Duration::from_millis(delay_ms)))
}

const FORMATS: [BodyFormat; 3] = [
    BodyFormat::Json,
    BodyFormat::JsonArray,
    BodyFormat::JsonLines,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_fails_twice_gets_every_record_exactly_once() {
    for format in FORMATS {
        let api = Api::start(|n, _| {
            if n < 2 {
                Reply::status(503).body("warming up")
            } else {
                Reply::ok()
            }
        })
        .await;
        let sink = HttpSink::try_from(config(api.url("/ingest"), format, 10)).unwrap();
        let report = Pipeline::from_iter(records(50))
            .sink_with(sink, retrying(3, 10))
            .run()
            .await
            .unwrap();
        assert_eq!(api.ids(), (0..50).collect::<Vec<_>>(), "{format:?}");
        let ledger = report.ledger();
        assert_eq!((ledger.read, ledger.written), (50, 50), "{format:?}");
        assert!(ledger.is_balanced(), "{ledger:?}");
        let calls = api.calls();
        assert_eq!(calls.iter().filter(|c| c.status == 503).count(), 2);
        // The failed requests were sent again, and nothing else twice.
        let sent: usize = calls.iter().map(|c| c.records.len()).sum();
        let failed: usize = calls
            .iter()
            .filter(|c| c.status == 503)
            .map(|c| c.records.len())
            .sum();
        assert_eq!(sent, 50 + failed, "{format:?}");
        let expected_type = match format {
            BodyFormat::JsonLines => "application/x-ndjson",
            _ => "application/json",
        };
        assert_eq!(calls[0].headers["content-type"], expected_type);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_records_go_to_the_dead_letter_sink_and_the_others_are_written() {
    // The API refuses any request that holds a bad record, whole (as a validating API does).
    let refuse_bad = |_: usize, records: &[Value]| match records
        .iter()
        .find(|r| r["bad"] == Value::Bool(true))
    {
        Some(r) => Reply::status(400).body(format!(
            "{{\"error\":\"record {} is bad\"}}\n{}",
            r["id"],
            "x".repeat(1000)
        )),
        None => Reply::ok(),
    };
    let bad: Vec<u64> = (0..60).filter(|i| i % 7 == 3).collect();
    let good: Vec<u64> = (0..60).filter(|i| i % 7 != 3).collect();
    for (format, split) in [
        (BodyFormat::Json, true),
        (BodyFormat::JsonArray, true),
        (BodyFormat::JsonLines, true),
        (BodyFormat::JsonArray, false),
    ] {
        let api = Api::start(refuse_bad).await;
        let mut cfg = config(api.url("/v1/events"), format, 8);
        if !split {
            cfg.split_on.clear();
        }
        let dead = sink::collect::<DeadLetter>();
        let report = Pipeline::from_iter(records(60))
            .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
            .sink(HttpSink::try_from(cfg).unwrap())
            .dead_letter(dead.clone())
            .run()
            .await
            .unwrap();
        let letters = dead.take();
        let mut lettered: Vec<u64> = letters
            .iter()
            .map(|l| {
                l.item::<Record>()
                    .unwrap()
                    .get("id")
                    .unwrap()
                    .as_u64()
                    .unwrap()
            })
            .collect();
        lettered.sort_unstable();
        let ledger = report.ledger();
        assert!(ledger.is_balanced(), "{ledger:?}");
        if split {
            // Exactly the bad records are refused; every good one is written, once.
            assert_eq!(api.ids(), good, "{format:?}");
            assert_eq!(lettered, bad, "{format:?}");
        } else {
            // A refused batch goes to the error policy whole: each of its records, counted once.
            let accepted = api.ids();
            assert_eq!(accepted.len() + lettered.len(), 60);
            assert!(lettered.len() >= bad.len() * 2, "{lettered:?}");
            assert!(accepted.iter().all(|i| !lettered.contains(i)));
        }
        assert_eq!(
            (ledger.written, ledger.dead_lettered),
            (api.ids().len() as u64, lettered.len() as u64),
            "{format:?}"
        );
        let error = letters[0].error();
        let text = error.to_string();
        assert!(!error.is_transient());
        assert_eq!(error.pipe(), "http");
        assert!(text.contains("HTTP 400 Bad Request"), "{text}");
        assert!(text.contains("is bad"), "{text}");
        // The host is named; the path is not (it may hold a secret); the body is cut.
        assert!(
            text.contains(&format!("POST http://{}/…", api.addr)),
            "{text}"
        );
        assert!(!text.contains("v1/events"), "{text}");
        assert!(text.len() < 600, "{}", text.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_fails_a_fail_fast_run_and_is_not_written() {
    let api = Api::start(|_, records| {
        if records.iter().any(|r| r["id"] == 5) {
            Reply::status(422).body("id 5 is taken")
        } else {
            Reply::ok()
        }
    })
    .await;
    let err = Pipeline::from_iter(records(10))
        .sink(HttpSink::try_from(config(api.url("/"), BodyFormat::JsonLines, 100)).unwrap())
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("id 5 is taken"), "{err}");
    let ledger = err.report().unwrap().ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.failed, 1, "{ledger:?}");
    assert_eq!(ledger.written, api.ids().len() as u64);
    assert!(!api.ids().contains(&5));
}

/// The times (on Tokio's paused clock) between the calls the API got.
fn gaps(api: &Api) -> Vec<Duration> {
    let calls = api.calls();
    calls.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_the_next_attempt_back() {
    // Two 503s that ask for 7 s, then success; the stage's own backoff is 100 ms, then 200 ms.
    let api = Api::start(|n, _| {
        if n < 2 {
            Reply::status(503).retry_after("7")
        } else {
            Reply::ok()
        }
    })
    .await;
    let sink = HttpSink::try_from(config(api.url("/"), BodyFormat::JsonLines, 100)).unwrap();
    let report = Pipeline::from_iter(records(5))
        .sink_with(sink, retrying(5, 100))
        .run()
        .await
        .unwrap();
    assert_eq!(report.ledger().written, 5);
    assert_eq!(api.calls().len(), 3, "three attempts");
    for gap in gaps(&api) {
        // The server's wait, not the backoff's (nor both added up).
        assert!(
            gap >= Duration::from_secs(7) && gap < Duration::from_millis(7_200),
            "{gap:?}"
        );
    }

    // The same without `Retry-After`: the backoff alone.
    let api = Api::start(|n, _| {
        if n < 2 {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    })
    .await;
    let sink = HttpSink::try_from(config(api.url("/"), BodyFormat::JsonLines, 100)).unwrap();
    Pipeline::from_iter(records(5))
        .sink_with(sink, retrying(5, 100))
        .run()
        .await
        .unwrap();
    let gaps = gaps(&api);
    assert_eq!(gaps.len(), 2);
    assert!(gaps[0] >= Duration::from_millis(100) && gaps[0] < Duration::from_millis(150));
    assert!(gaps[1] >= Duration::from_millis(200) && gaps[1] < Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn retry_after_of_a_429_is_capped_at_max_retry_after() {
    // A 429 asking for an hour, with `max_retry_after` at 30 s (HTTP dates are read in the unit tests: they
    // are on the system clock, not Tokio's).
    let api = Api::start(|n, _| match n {
        0 => Reply::status(429).retry_after("3600"),
        _ => Reply::ok(),
    })
    .await;
    let mut cfg = config(api.url("/"), BodyFormat::Json, 1);
    cfg.max_retry_after = Duration::from_secs(30);
    let sink = HttpSink::try_from(cfg).unwrap();
    Pipeline::from_iter(records(1))
        .sink_with(sink, retrying(2, 10))
        .run()
        .await
        .unwrap();
    let gaps = gaps(&api);
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0] >= Duration::from_secs(30) && gaps[0] < Duration::from_millis(30_100),
        "{gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_retries_the_run_fails_and_nothing_counts_as_written() {
    let api = Api::start(|_, _| Reply::status(500).body("down")).await;
    let sink = HttpSink::try_from(config(api.url("/"), BodyFormat::JsonArray, 4)).unwrap();
    let err = Pipeline::from_iter(records(10))
        .sink_with(sink, retrying(2, 1))
        .run()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 500") && text.contains("down"), "{text}");
    let ledger = err.report().unwrap().ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.written, 0);
    // First attempt and two retries, of each of the three batches.
    assert_eq!(api.calls().len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_starts_late_gets_every_record_once() {
    // A port nobody listens on yet: connection refused until the API starts on it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let sink =
        HttpSink::try_from(config(format!("http://{addr}/"), BodyFormat::JsonLines, 7)).unwrap();
    let run = tokio::spawn(
        Pipeline::from_iter(records(40))
            .sink_with(sink, retrying(30, 50))
            .run(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let api = Api::serve(listener, Duration::ZERO, Box::new(|_, _| Reply::ok()));
    let report = run.await.unwrap().unwrap();
    assert_eq!(api.ids(), (0..40).collect::<Vec<_>>());
    assert_eq!(report.ledger().written, 40);
    assert!(report.stage("api").unwrap().retries > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_requests_in_flight_than_the_limit() {
    let api = Api::start_holding(Duration::from_millis(100), |_, _| Reply::ok()).await;
    let mut cfg = config(api.url("/"), BodyFormat::Json, 1);
    cfg.max_in_flight = NonZeroUsize::new(3).unwrap();
    Pipeline::from_iter(records(30))
        .sink(HttpSink::try_from(cfg).unwrap())
        .run()
        .await
        .unwrap();
    assert_eq!(api.ids(), (0..30).collect::<Vec<_>>());
    let most = api
        .state
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_times_out() {
    let api = Api::start_holding(Duration::from_secs(30), |_, _| Reply::ok()).await;
    let mut cfg = config(api.url("/"), BodyFormat::Json, 1);
    cfg.timeout = Duration::from_millis(200);
    let err = Pipeline::from_iter(records(1))
        .sink(HttpSink::try_from(cfg).unwrap())
        .run()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("timed out") || text.contains("timeout"),
        "{text}"
    );
    assert!(err.pipe_error().unwrap().is_transient(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_cut_at_batch_bytes() {
    let api = Api::start(|_, _| Reply::ok()).await;
    let mut cfg = config(api.url("/"), BodyFormat::JsonArray, 1000);
    cfg.batch_bytes = 100;
    Pipeline::from_iter(records(20))
        .sink(HttpSink::try_from(cfg).unwrap())
        .run()
        .await
        .unwrap();
    assert_eq!(api.ids(), (0..20).collect::<Vec<_>>());
    let calls = api.calls();
    assert!(calls.len() > 3, "{}", calls.len());
    for c in &calls {
        let body = serde_json::to_string(&c.records).unwrap();
        assert!(body.len() <= 100, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_headers_and_url_stay_out_of_errors() {
    let api = Api::start(|_, _| Reply::status(401).body("who are you?")).await;
    let mut cfg = config(
        api.url("/hooks/s3cret-path?key=s3cret-query"),
        BodyFormat::Json,
        1,
    );
    cfg.headers
        .insert("Authorization".into(), "Bearer s3cret-token".into());
    let sink = HttpSink::try_from(cfg).unwrap();
    let debug = format!("{sink:?}");
    let err = Pipeline::from_iter(records(1))
        .sink(sink)
        .run()
        .await
        .unwrap_err();
    let calls = api.calls();
    assert_eq!(calls[0].headers["authorization"], "Bearer s3cret-token");
    for text in [err.to_string(), format!("{err:?}"), debug] {
        assert!(!text.contains("s3cret"), "{text}");
    }
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_cut_by_the_stage_timeout_sends_nothing_twice() {
    // Each call is held 300 ms; the stage gives each flush 100 ms and retries: the requests in flight go on
    // across the cut flushes, and the retries wait for them instead of sending them again.
    let api = Api::start_holding(Duration::from_millis(300), |_, _| Reply::ok()).await;
    let sink = HttpSink::try_from(config(api.url("/"), BodyFormat::JsonLines, 5)).unwrap();
    let report = Pipeline::from_iter(records(20))
        .sink_with(
            sink,
            retrying(20, 10).with_timeout(Duration::from_millis(100)),
        )
        .run()
        .await
        .unwrap();
    assert_eq!(api.ids(), (0..20).collect::<Vec<_>>());
    assert_eq!(api.calls().len(), 4);
    assert_eq!(report.ledger().written, 20);
    assert!(report.stage("api").unwrap().retries > 0);
}

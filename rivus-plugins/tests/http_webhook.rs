//! The `webhook` source with real HTTP clients on 127.0.0.1: 1,000 concurrent posts all land in a JSON lines
//! file; a token, a size limit and malformed bodies are refused before anything is taken; a blocked sink makes
//! the webhook answer 503 with `Retry-After`, and every record it accepted is written; a failed record makes
//! its request's answer a 500.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivus_core::prelude::*;
use rivus_core::value::{Record, Value};
use rivus_plugins::http::{Respond, WebhookConfig, WebhookSource};
use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A webhook on an ephemeral port of 127.0.0.1, opened so that its address is known.
async fn webhook(mut cfg: WebhookConfig) -> (WebhookSource, String) {
    cfg.address = "127.0.0.1:0".parse().unwrap();
    let mut source = WebhookSource::try_from(cfg).unwrap();
    source.open().await.unwrap();
    let addr: SocketAddr = source.local_addr().unwrap();
    (source, format!("http://{addr}"))
}

/// An HTTP client (reqwest as the `http` feature builds it needs a crypto provider for rustls, even for
/// plain HTTP).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A guard against a hung test, not a timing assertion.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: String) -> Answer {
    let mut request = client.post(url).body(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

/// Posts until the answer is not 503, waiting as `Retry-After` says; the answers to every attempt.
async fn post_until_taken(client: &reqwest::Client, url: &str, body: String) -> Vec<u16> {
    let mut statuses = Vec::new();
    loop {
        let a = post(client, url, None, body.clone()).await;
        statuses.push(a.status);
        if a.status != 503 {
            return statuses;
        }
        let secs: u64 = a.retry_after.unwrap().parse().unwrap();
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

fn jsonl_sink(path: &std::path::Path) -> JsonlSink {
    let cfg: JsonlSinkConfig = serde_json::from_value(serde_json::json!({ "path": path })).unwrap();
    JsonlSink::new(cfg)
}

fn ids_in_file(path: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_posts_all_land_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    // A short queue, so that some posts are told to come back (503), and do.
    let cfg = WebhookConfig {
        max_queued: NonZeroUsize::new(64).unwrap(),
        ..WebhookConfig::default()
    };
    let (source, url) = webhook(cfg).await;
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink(jsonl_sink(&out))
            .shutdown_on(stop.clone())
            .run(),
    );
    // 1,000 posts at once, of 1 to 3 records each (one object, an array, JSON lines): 1,999 records.
    let client = client();
    let mut posts = tokio::task::JoinSet::new();
    let mut expected: Vec<u64> = Vec::new();
    for i in 0..1000u64 {
        let ids: Vec<u64> = (0..=(i % 3)).map(|k| i * 10 + k).collect();
        expected.extend(&ids);
        let body = match i % 3 {
            0 => format!("{{\"id\":{}}}", ids[0]),
            1 => serde_json::to_string(
                &ids.iter()
                    .map(|id| serde_json::json!({ "id": id, "n": i }))
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
            _ => ids
                .iter()
                .map(|id| format!("{{\"id\":{id},\"text\":\"line {id}\"}}\n"))
                .collect(),
        };
        let (client, url) = (client.clone(), url.clone());
        posts.spawn(async move { post_until_taken(&client, &url, body).await });
    }
    let mut busy = 0;
    while let Some(statuses) = posts.join_next().await {
        let statuses = statuses.unwrap();
        assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
        busy += statuses.len() - 1;
    }
    stop.cancel();
    let report = run
        .await
        .unwrap()
        .unwrap_or_else(|e| e.report().unwrap().clone());
    expected.sort_unstable();
    // Every record once: answered 200 means written, and nothing answered 503 was taken.
    assert_eq!(ids_in_file(&out), expected);
    let ledger = report.ledger();
    assert_eq!(ledger.written, expected.len() as u64);
    assert!(ledger.is_balanced(), "{ledger:?}");
    eprintln!("{} records; {busy} answers were 503", expected.len());
}

/// A sink that takes records only while its gate is open.
#[derive(Clone)]
struct Gated {
    open: watch::Receiver<bool>,
    written: Arc<Mutex<Vec<u64>>>,
}

impl AsyncSink for Gated {
    type In = Record;
    async fn write(&mut self, record: Record) -> Result<(), PipeError> {
        self.open.wait_for(|open| *open).await.unwrap();
        let id = record.get("id").and_then(Value::as_u64).unwrap();
        self.written.lock().unwrap().push(id);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_sink_gets_503_with_retry_after_and_loses_nothing_accepted() {
    let cfg = WebhookConfig {
        max_queued: NonZeroUsize::new(8).unwrap(),
        retry_after_secs: 3,
        ..WebhookConfig::default()
    };
    let (source, url) = webhook(cfg).await;
    let (gate, open) = watch::channel(false);
    let sink = Gated {
        open,
        written: Arc::default(),
    };
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .with_config(StreamConfig::default().with_buffer_size(4))
            .sink(sink.clone())
            .shutdown_on(stop.clone())
            .run(),
    );
    let client = client();
    let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for id in 0..100u64 {
        let (client, url, tx) = (client.clone(), url.clone(), tx.clone());
        tokio::spawn(async move {
            let a = post(&client, &url, None, format!("{{\"id\":{id}}}")).await;
            tx.send((id, a)).unwrap();
        });
    }
    drop(tx);
    // While the sink is blocked, nothing can be answered 200; the requests that do not fit are answered at
    // once with 503 and `Retry-After`.
    let mut refused = HashSet::new();
    while refused.len() < 50 {
        let (id, a) = tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the webhook answers a full queue at once")
            .unwrap();
        assert_eq!(a.status, 503, "{}", a.body);
        assert_eq!(a.retry_after.as_deref(), Some("3"));
        assert!(a.body.contains("full"), "{}", a.body);
        refused.insert(id);
    }
    assert!(sink.written.lock().unwrap().is_empty());
    gate.send(true).unwrap();
    let mut accepted = Vec::new();
    while let Some((id, a)) = answers.recv().await {
        match a.status {
            200 => accepted.push(id),
            503 => {
                refused.insert(id);
            }
            other => panic!("{other}: {}", a.body),
        }
    }
    assert!(!accepted.is_empty());
    assert_eq!(accepted.len() + refused.len(), 100);
    stop.cancel();
    let report = run
        .await
        .unwrap()
        .unwrap_or_else(|e| e.report().unwrap().clone());
    // Exactly the accepted records were written; none of the refused ones.
    let mut written = sink.written.lock().unwrap().clone();
    written.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(written, accepted);
    assert_eq!(report.ledger().written, accepted.len() as u64);
}

/// A sink that fails on a record with `"fail": true`.
struct FailOnMark(Arc<Mutex<Vec<u64>>>);

impl AsyncSink for FailOnMark {
    type In = Record;
    async fn write(&mut self, record: Record) -> Result<(), PipeError> {
        if record.get("fail") == Some(&Value::Bool(true)) {
            return Err(PipeError::permanent("marked", "this record fails"));
        }
        self.0
            .lock()
            .unwrap()
            .push(record.get("id").and_then(Value::as_u64).unwrap());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_record_failed_is_answered_500() {
    let (source, url) = webhook(WebhookConfig::default()).await;
    let written = Arc::new(Mutex::new(Vec::new()));
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink(FailOnMark(Arc::clone(&written)))
            .run(),
    );
    let client = client();
    let a = post(&client, &url, None, r#"{"id":1}"#.into()).await;
    assert_eq!((a.status, a.body.as_str()), (200, r#"{"records":1}"#));
    let a = post(
        &client,
        &url,
        None,
        "{\"id\":2}\n{\"id\":3,\"fail\":true}\n".into(),
    )
    .await;
    assert_eq!(a.status, 500, "{}", a.body);
    assert!(a.body.contains("send the request again"), "{}", a.body);
    let err = run.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("this record fails"), "{err}");
    let ledger = err.report().unwrap().ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.failed, 1);
    // The source has stopped: nobody listens any more.
    assert!(client.post(&url).body("{}").send().await.is_err());
    assert_eq!(*written.lock().unwrap(), [1, 2]);
}

/// Sends raw bytes and returns the status line's code.
async fn raw_status(url: &str, request: &[u8]) -> u16 {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = vec![0; 12];
    stream.read_exact(&mut answer).await.unwrap();
    std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_take_nothing() {
    let cfg = WebhookConfig {
        token: Some("s3cret".into()),
        path: "/hooks/orders".into(),
        max_body_bytes: 1000,
        max_queued: NonZeroUsize::new(5).unwrap(),
        ..WebhookConfig::default()
    };
    let (source, base) = webhook(cfg).await;
    assert!(!format!("{source:?}").contains("s3cret"));
    let url = format!("{base}/hooks/orders");
    let out = sink::collect::<Record>();
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink(out.clone())
            .shutdown_on(stop.clone())
            .run(),
    );
    let client = client();
    let one = r#"{"id":1}"#.to_owned();

    // No token, a wrong one, another scheme: 401.
    for token in [None, Some("s3cre"), Some("s3cretx")] {
        let a = post(&client, &url, token, one.clone()).await;
        assert_eq!(a.status, 401, "{token:?}");
        assert!(!a.body.contains("s3cret"));
    }
    let basic = client
        .post(&url)
        .header("authorization", "Basic s3cret")
        .body(one.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");

    // Too large: declared, and streamed in chunks without a length.
    let big = format!("{{\"id\":2,\"pad\":\"{}\"}}", "x".repeat(2000));
    let a = post(&client, &url, Some("s3cret"), big).await;
    assert_eq!(a.status, 413);
    assert!(a.body.contains("max_body_bytes"), "{}", a.body);
    let chunk = "x".repeat(600);
    let chunked = format!(
        "POST /hooks/orders HTTP/1.1\r\nhost: x\r\nauthorization: Bearer s3cret\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len(),
        chunk.len()
    );
    assert_eq!(raw_status(&base, chunked.as_bytes()).await, 413);
    // More records than the queue can ever hold.
    let six: String = (0..6).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    let a = post(&client, &url, Some("s3cret"), six).await;
    assert_eq!(a.status, 413);
    assert!(a.body.contains("max_queued"), "{}", a.body);

    // Malformed: the error says where; nothing of the request is taken.
    let a = post(
        &client,
        &url,
        Some("s3cret"),
        "{\"id\":3}\n{\"id\":4,}\n".into(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("record 2") && a.body.contains("line 2"),
        "{}",
        a.body
    );
    let a = post(&client, &url, Some("s3cret"), "[1, 2]".into()).await;
    assert_eq!(a.status, 400, "{}", a.body);

    // Another path, another method.
    assert_eq!(
        post(&client, &base, Some("s3cret"), one.clone())
            .await
            .status,
        404
    );
    let get = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(get.status(), 405);

    // And a good one, by PUT.
    let put = client
        .put(&url)
        .bearer_auth("s3cret")
        .body(r#"[{"id":7},{"id":8}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.text().await.unwrap(), r#"{"records":2}"#);
    stop.cancel();
    run.await
        .unwrap()
        .unwrap_or_else(|e| e.report().unwrap().clone());
    let ids: Vec<u64> = out
        .items()
        .iter()
        .map(|r| r.get("id").and_then(Value::as_u64).unwrap())
        .collect();
    assert_eq!(ids, [7, 8]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_receipt_answers_202_at_once() {
    let cfg = WebhookConfig {
        respond: Respond::OnReceipt,
        ..WebhookConfig::default()
    };
    let (source, url) = webhook(cfg).await;
    let out = sink::collect::<Record>();
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .sink(out.clone())
            .shutdown_on(stop.clone())
            .run(),
    );
    let client = client();
    let a = post(&client, &url, None, "{\"id\":1}\n{\"id\":2}".into()).await;
    assert_eq!((a.status, a.body.as_str()), (202, r#"{"records":2}"#));
    while out.items().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let report = run
        .await
        .unwrap()
        .unwrap_or_else(|e| e.report().unwrap().clone());
    assert_eq!(report.ledger().written, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_answers_what_it_wrote_200_and_the_rest_503() {
    let (source, url) = webhook(WebhookConfig::default()).await;
    let (gate, open) = watch::channel(false);
    let sink = Gated {
        open,
        written: Arc::default(),
    };
    let stop = CancellationToken::new();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            .with_config(StreamConfig::default().with_buffer_size(4))
            .sink(sink.clone())
            .shutdown_on(stop.clone())
            .run(),
    );
    let client = client();
    let mut posts = tokio::task::JoinSet::new();
    for id in 0..40u64 {
        let (client, url) = (client.clone(), url.clone());
        posts.spawn(async move {
            let sent = client
                .post(&url)
                .body(format!("{{\"id\":{id}}}"))
                .send()
                .await;
            (id, sent.map(|r| r.status().as_u16()))
        });
    }
    // Let the requests arrive (a set-up wait: one that has not arrived yet is simply refused below).
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    gate.send(true).unwrap();
    let mut answered = Vec::new();
    while let Some(done) = posts.join_next().await {
        let (id, status) = done.unwrap();
        match status {
            Ok(200) => answered.push(id),
            Ok(503) | Err(_) => {}
            Ok(other) => panic!("{id}: {other}"),
        }
    }
    run.await
        .unwrap()
        .unwrap_or_else(|e| e.report().unwrap().clone());
    // What was taken was drained to the sink and answered 200; what was still queued was told to come back.
    let mut written = sink.written.lock().unwrap().clone();
    written.sort_unstable();
    answered.sort_unstable();
    assert_eq!(written, answered);
    assert!(!answered.is_empty());
    eprintln!("{} of 40 written and answered 200", answered.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_is_an_error_that_names_it() {
    let (first, url) = webhook(WebhookConfig::default()).await;
    let address: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let mut second = WebhookSource::try_from(WebhookConfig::new(address)).unwrap();
    let err = second.open().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("cannot listen on {address}")),
        "{err}"
    );
    drop(first);
    for bad in ["events", "/a b", "/{id}", "/*rest"] {
        let cfg = WebhookConfig {
            path: bad.into(),
            ..WebhookConfig::default()
        };
        let err = WebhookSource::try_from(cfg).unwrap_err().to_string();
        assert!(err.contains("`path`"), "{err}");
    }
    let cfg = WebhookConfig {
        token: Some(" ".into()),
        ..WebhookConfig::default()
    };
    assert!(WebhookSource::try_from(cfg).is_err());
}

//! A scriptable HTTP API in-process on 127.0.0.1 (an ephemeral port), for the tests of the `http` sink: it
//! logs every call (its time on Tokio's clock, the records it carried, the status it got) and the records it
//! accepted, and answers as the test's script says.

#![allow(dead_code, reason = "each test file uses a part")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use rivus_core::value::Value;
use tokio::time::Instant;

/// How the API answers one call.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<&'static str>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn ok() -> Self {
        Self::status(200)
    }

    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            body: String::new(),
        }
    }

    pub(crate) fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

/// One call the API got.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) at: Instant,
    pub(crate) records: Vec<Value>,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
}

/// Decides the reply to call number `n` (from 0) carrying `records`.
pub(crate) type Script = Box<dyn Fn(usize, &[Value]) -> Reply + Send + Sync>;

pub(crate) struct ApiState {
    script: Script,
    pub(crate) calls: Mutex<Vec<Call>>,
    /// Records of the calls answered 2xx, in the order they arrived.
    pub(crate) log: Mutex<Vec<Value>>,
    /// How long each call is held before the answer.
    hold: Duration,
    in_flight: AtomicUsize,
    pub(crate) most_in_flight: AtomicUsize,
}

pub(crate) struct Api {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Api {
    /// Starts the API on an ephemeral port of 127.0.0.1.
    pub(crate) async fn start(
        script: impl Fn(usize, &[Value]) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start_holding(Duration::ZERO, script).await
    }

    /// Starts the API, holding each call for `hold` before it answers.
    pub(crate) async fn start_holding(
        hold: Duration,
        script: impl Fn(usize, &[Value]) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, hold, Box::new(script))
    }

    /// Serves on `listener`.
    pub(crate) fn serve(listener: tokio::net::TcpListener, hold: Duration, script: Script) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ApiState {
            script,
            calls: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            hold,
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/", any(handle))
            .route("/{*path}", any(handle))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// The URL of `path` on this API.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub(crate) fn log(&self) -> Vec<Value> {
        self.state.log.lock().unwrap().clone()
    }

    /// The `id` fields of the accepted records, sorted.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .log()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// The records of a body: JSON lines, a JSON array, or one object.
fn records(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(one) => vec![one],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

async fn handle(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(now, Ordering::SeqCst);
    if !state.hold.is_zero() {
        tokio::time::sleep(state.hold).await;
    }
    let records = records(&body);
    let at = Instant::now();
    let reply = {
        let mut calls = state.calls.lock().unwrap();
        let reply = (state.script)(calls.len(), &records);
        calls.push(Call {
            at,
            records: records.clone(),
            status: reply.status,
            headers,
        });
        reply
    };
    let status = StatusCode::from_u16(reply.status).unwrap();
    if status.is_success() {
        state.log.lock().unwrap().extend(records);
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = (status, reply.body).into_response();
    if let Some(v) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", v.parse().unwrap());
    }
    response
}

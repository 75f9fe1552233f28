//! The webhook's HTTP side: checks a request (token, size), reads its records, queues them if they fit, and
//! answers once [`WebhookSource`](super::WebhookSource) says what became of them.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use rivus_core::value::Record;
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, TryAcquireError, mpsc, oneshot};

use super::config::{Respond, WebhookConfig};

/// Records of one request, queued for the source, with where to send the answer (`None` when the request
/// was answered on receipt).
pub(super) struct Accepted {
    pub(super) records: Vec<Record>,
    pub(super) reply: Option<oneshot::Sender<Answer>>,
}

/// What became of a request's records, as the source tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Every record reached an end.
    Done,
    /// The pipeline stopped after taking records of the request and before all of them reached an end.
    Failed,
    /// The pipeline stopped before it took any record of the request.
    NotTaken,
}

/// What the handler and the source share.
pub(super) struct Shared {
    /// The token's bytes; no `Debug`, never printed.
    token: Option<Vec<u8>>,
    max_body_bytes: usize,
    max_queued: usize,
    retry_after: HeaderValue,
    respond: Respond,
    /// One permit per free place in the queue; the source gives a request's places back when it takes the
    /// request, and closes it when it stops (then every request gets 503).
    pub(super) room: Semaphore,
    queue: mpsc::UnboundedSender<Accepted>,
}

impl Shared {
    pub(super) fn new(config: &WebhookConfig, queue: mpsc::UnboundedSender<Accepted>) -> Self {
        Self {
            token: config.token.as_ref().map(|t| t.as_bytes().to_vec()),
            max_body_bytes: config.max_body_bytes,
            max_queued: config.max_queued.get(),
            retry_after: HeaderValue::from(config.retry_after_secs),
            respond: config.respond,
            room: Semaphore::new(config.max_queued.get().min(Semaphore::MAX_PERMITS)),
            queue,
        }
    }
}

/// The routes: `POST` and `PUT` on `path`.
pub(super) fn router(path: &str, shared: Arc<Shared>) -> Router {
    Router::new()
        .route(path, post(receive).put(receive))
        .with_state(shared)
}

/// A JSON answer `{ key: value }` with `status`.
fn answer(status: StatusCode, key: &str, value: serde_json::Value) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), value);
    (
        status,
        [("content-type", "application/json")],
        serde_json::Value::Object(body).to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    answer(status, "error", serde_json::Value::String(message.into()))
}

/// 503 with `Retry-After`: come back later.
fn busy(shared: &Shared, message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(RETRY_AFTER, shared.retry_after.clone());
    r
}

/// `Authorization: Bearer <token>`, the token compared in constant time (its length is not hidden).
fn authorized(expected: &[u8], headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((scheme, given)) = value.split_at_checked(7) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer ") && bool::from(given.trim_ascii().ct_eq(expected))
}

/// The records of a body: a JSON array of objects, or JSON objects one after the other (JSON lines, or a
/// single object), read as the `jsonl` source reads a line (a key twice is an error, a byte order mark is
/// skipped).
///
/// # Errors
///
/// What is wrong and where (record number, line and column).
fn parse(body: &[u8]) -> Result<Vec<Record>, String> {
    crate::json::parse_records(body, crate::json::DuplicateKeys::Error)
}

async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(token) = &shared.token
        && !authorized(token, &parts.headers)
    {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "a valid `Authorization: Bearer` token is required",
        );
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let body = match read(&shared, &parts.headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let records = match parse(&body) {
        Ok(records) => records,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let n = records.len();
    if n == 0 {
        return answer(StatusCode::OK, "records", 0.into());
    }
    let too_many = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request holds {n} records; at most {} fit in the queue (`max_queued`)",
                shared.max_queued
            ),
        )
    };
    if n > shared.max_queued {
        return too_many();
    }
    let Ok(permits) = u32::try_from(n) else {
        return too_many();
    };
    match shared.room.try_acquire_many(permits) {
        // The source gives the places back when it takes the request.
        Ok(permit) => permit.forget(),
        Err(TryAcquireError::NoPermits) => {
            return busy(
                &shared,
                "the pipeline is full; send the request again later",
            );
        }
        Err(TryAcquireError::Closed) => return busy(&shared, "the pipeline is stopping"),
    }
    let (reply, answered) = match shared.respond {
        Respond::WhenDone => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        }
        Respond::OnReceipt => (None, None),
    };
    if shared.queue.send(Accepted { records, reply }).is_err() {
        return busy(&shared, "the pipeline is stopping");
    }
    let Some(answered) = answered else {
        return answer(StatusCode::ACCEPTED, "records", n.into());
    };
    match answered.await {
        Ok(Answer::Done) => answer(StatusCode::OK, "records", n.into()),
        Ok(Answer::Failed) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the pipeline stopped before every record of this request reached an end (a record failed, or \
             the run was interrupted); send the request again",
        ),
        Ok(Answer::NotTaken) | Err(_) => {
            busy(&shared, "the pipeline stopped; send the request again")
        }
    }
}

/// The body, at most `max_body_bytes` of it.
///
/// # Errors
///
/// 413 when it is larger (told by `Content-Length` before reading, or found while reading), 400 when it cannot
/// be read.
async fn read(shared: &Shared, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} bytes (`max_body_bytes`)",
                shared.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body_bytes as u64) {
        return Err(too_large());
    }
    match Limited::new(body, shared.max_body_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_every_shape() {
        let v = |b: &str| parse(b.as_bytes()).map(|r| r.len());
        assert_eq!(v(r#"{"a":1}"#), Ok(1));
        assert_eq!(v("{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}\n"), Ok(3));
        assert_eq!(v(" [ {\"a\":1}, {\"b\":2} ] "), Ok(2));
        assert_eq!(v("{\n  \"pretty\": true\n}"), Ok(1));
        assert_eq!(v("  \n"), Ok(0));
        let err = parse(b"{\"a\":1}\n{\"a\":\n").unwrap_err();
        assert!(err.contains("record 2") && err.contains("line 3"), "{err}");
        let err = parse(b"[{\"a\":1}, 5]").unwrap_err();
        assert!(err.contains("column"), "{err}");
        assert!(parse(b"{\"a\":1}\n7\n").is_err());
        // As the `jsonl` source reads a line: a key twice is an error, a byte order mark is skipped, numbers and
        // key order are kept.
        let err = parse(b"{\"id\":10,\"id\":11}").unwrap_err();
        assert!(
            err.contains("record 1") && err.contains("duplicate key `id`"),
            "{err}"
        );
        let err = parse(b"[{\"id\":10,\"id\":11}]").unwrap_err();
        assert!(err.contains("duplicate key `id`"), "{err}");
        assert_eq!(v("\u{feff}{\"a\":1}\n{\"a\":2}"), Ok(2));
        assert_eq!(v("\u{feff}[{\"a\":1}]"), Ok(1));
        let r = parse(b"{\"z\":1,\"a\":123456789012345678901234567890}").unwrap();
        assert_eq!(
            serde_json::to_string(&r[0]).unwrap(),
            "{\"z\":1,\"a\":123456789012345678901234567890}"
        );
        assert!(parse(b"[{\"a\":1}] x").is_err(), "trailing text");
    }

    #[test]
    fn tokens_are_checked() {
        let h = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_static(v));
            h
        };
        assert!(authorized(b"s3cret", &h("Bearer s3cret")));
        assert!(authorized(b"s3cret", &h("bearer  s3cret ")));
        assert!(!authorized(b"s3cret", &h("Bearer s3cre")));
        assert!(!authorized(b"s3cret", &h("Bearer s3cretx")));
        assert!(!authorized(b"s3cret", &h("Basic s3cret")));
        assert!(!authorized(b"s3cret", &h("Bearer")));
        assert!(!authorized(b"s3cret", &HeaderMap::new()));
    }
}

//! One request of [`HttpSink`](super::HttpSink): send a body, and say what became of it — delivered, refused
//! for good, or failed for now (and how long the server asked us to wait).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Response, StatusCode};
use rivus_core::PipeError;

use super::config::{BodyFormat, HttpSinkConfig, Method};
use super::{SINK, excerpt, redacted_url};

/// How much of an answer's body is read (the rest is dropped with the connection).
const READ_AT_MOST: usize = 64 * 1024;

/// How many characters of an answer's body an error quotes.
const EXCERPT_CHARS: usize = 300;

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The server answered 2xx.
    Delivered,
    /// The server refused the body (a 4xx other than 408 and 429, or a redirect): another attempt cannot help.
    Refused {
        /// The status, for deciding whether to split a batch.
        status: u16,
        /// Method, shown URL, status and the start of the body.
        message: String,
    },
    /// The request failed for now: 408, 429, 5xx, a connection error, a timeout.
    Failed {
        /// Method, shown URL, and the status or the connection error.
        message: String,
        /// The server's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// Where and how requests go: built once, shared by every request in flight.
#[derive(Debug)]
pub(super) struct Target {
    client: reqwest::Client,
    method: reqwest::Method,
    url: reqwest::Url,
    /// `METHOD scheme://host:port/…`, for messages.
    shown: String,
    headers: HeaderMap,
}

impl Target {
    /// Checks the URL and headers, and builds the client.
    ///
    /// # Errors
    ///
    /// A permanent error for a URL that does not parse or is not `http(s)`, a header that is not valid HTTP
    /// (its value is not printed), or a client reqwest cannot build.
    pub(super) fn new(config: &HttpSinkConfig) -> Result<Self, PipeError> {
        let invalid = |what: String| PipeError::permanent(SINK, what);
        let url = reqwest::Url::parse(&config.url).map_err(|e| {
            invalid(format!(
                "`url` is not a valid URL ({e}); it is not shown, as it may hold a secret"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "`url` must start with http:// or https://, not {}://",
                url.scheme()
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("`headers`: {name:?} is not a valid header name")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "`headers`: the value of {name} is not a valid header value (visible ASCII; it is not \
                     shown)"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let content_type = match config.format {
            BodyFormat::Json | BodyFormat::JsonArray => "application/json",
            BodyFormat::JsonLines => "application/x-ndjson",
        };
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(content_type));
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "rivus/",
                env!("CARGO_PKG_VERSION")
            )));
        // reqwest's rustls needs a process-wide crypto provider: ring, unless the program installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // A redirected POST may turn into a GET, or carry the body and headers (secrets) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {}", chain(&e))))?;
        let method = match config.method {
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let shown = format!("{method} {}", redacted_url(&config.url));
        Ok(Self {
            client,
            method,
            url,
            shown,
            headers,
        })
    }

    /// Sends `body` once.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the request; whether the server got it is then unknown.
    pub(super) async fn send(&self, body: Bytes) -> Outcome {
        let sent = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => self.judge(response).await,
            Err(e) if e.is_builder() => Outcome::Refused {
                status: 0,
                message: format!("{}: {}", self.shown, chain(&e)),
            },
            Err(e) => Outcome::Failed {
                message: format!("{}: {}", self.shown, chain(&e)),
                retry_after: None,
            },
        }
    }

    async fn judge(&self, mut response: Response) -> Outcome {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| retry_after(v, SystemTime::now()));
        // Read (some of) the body: for the message, and so that the connection can be used again.
        let mut body = Vec::new();
        while body.len() < READ_AT_MOST {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        if status.is_success() {
            return Outcome::Delivered;
        }
        let mut message = format!("{}: HTTP {status}", self.shown);
        if let Some(wait) = retry_after {
            message.push_str(&format!(" (retry after {}s)", wait.as_secs()));
        }
        if !body.is_empty() {
            message.push_str(": ");
            message.push_str(&excerpt(&body, EXCERPT_CHARS));
        }
        if is_transient(status) {
            Outcome::Failed {
                message,
                retry_after,
            }
        } else {
            if status.is_redirection() {
                message.push_str(" (redirects are not followed: point `url` at the final address)");
            }
            Outcome::Refused {
                status: status.as_u16(),
                message,
            }
        }
    }
}

/// 408 Request Timeout, 429 Too Many Requests and every 5xx may succeed later.
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// A `Retry-After` value: seconds, or an HTTP date (the wait until then, as of `now`).
fn retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error and its causes, `a: b: c` (reqwest's own message is terse; the cause says what happened). The URL
/// is left out: it may hold a secret.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(retry_after(&v("5"), now), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(&v(" 0 "), now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let later = HeaderValue::from_str(&later).unwrap();
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        let past = HeaderValue::from_str(&past).unwrap();
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&v("soon"), now), None);
        assert_eq!(retry_after(&v("-3"), now), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [301, 400, 401, 403, 404, 409, 413, 422] {
            assert!(!is_transient(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn bad_headers_are_named_without_their_value() {
        let mut cfg = HttpSinkConfig::new("http://127.0.0.1:1/");
        cfg.headers
            .insert("Authorization".into(), "Bearer s3cret\n".into());
        let err = Target::new(&cfg).unwrap_err().to_string();
        assert!(err.contains("authorization"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");

        let mut cfg = HttpSinkConfig::new("ftp://s3cret@example.com/");
        cfg.headers.clear();
        let err = Target::new(&cfg).unwrap_err().to_string();
        assert!(err.contains("ftp://"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = Target::new(&HttpSinkConfig::new("http//s3cret"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}

//! The configuration of [`HttpSink`](super::HttpSink) and [`WebhookSource`](super::WebhookSource).
//!
//! Both hold secrets: header values (`Authorization = "Bearer ${API_TOKEN}"`), the webhook's token, and often the
//! URL itself (a token in its path or query). Their `Debug` output redacts them, and no error of these plugins
//! prints them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::redacted_url;

const REDACTED: &str = "<redacted>";

/// A non-zero constant.
const fn non_zero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// Records per request with `json_array` and `json_lines` when `batch_size` is not set.
pub const DEFAULT_BATCH_SIZE: NonZeroUsize = non_zero(100);

const fn default_batch_bytes() -> usize {
    1 << 20
}

const fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

const fn default_max_in_flight() -> NonZeroUsize {
    non_zero(4)
}

const fn default_max_retry_after() -> Duration {
    Duration::from_secs(60)
}

fn default_split_on() -> Vec<u16> {
    vec![400, 413, 422]
}

const fn default_address() -> SocketAddr {
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)
}

fn default_path() -> String {
    "/".to_owned()
}

const fn default_max_body_bytes() -> usize {
    1 << 20
}

const fn default_max_queued() -> NonZeroUsize {
    non_zero(1024)
}

const fn default_retry_after_secs() -> u32 {
    1
}

/// The HTTP method of the sink's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `POST` (the default).
    #[default]
    Post,
    /// `PUT`.
    Put,
}

/// How the sink puts records into a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// One record per request, as a JSON object (`application/json`; the default).
    #[default]
    Json,
    /// Up to `batch_size` records per request, as a JSON array of objects (`application/json`).
    JsonArray,
    /// Up to `batch_size` records per request, one JSON object per line (`application/x-ndjson`).
    JsonLines,
}

/// Configuration of [`HttpSink`](super::HttpSink): where and how records are sent.
///
/// # Examples
///
/// ```
/// use rivus_plugins::http::{BodyFormat, HttpSinkConfig};
///
/// let cfg: HttpSinkConfig = serde_json::from_str(r#"{
///     "url": "https://api.example.com/events?key=s3cret",
///     "format": "json_lines",
///     "batch_size": 500,
///     "headers": { "Authorization": "Bearer s3cret" }
/// }"#).unwrap();
/// assert_eq!(cfg.format, BodyFormat::JsonLines);
/// assert_eq!(cfg.max_in_flight.get(), 4);
/// // Secrets stay out of Debug output.
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// The URL requests go to (`http://` or `https://`). Errors show only its scheme, host and port, since a
    /// path or query may hold a secret.
    pub url: String,
    /// The HTTP method: `post` or `put`. Default: `post`.
    #[serde(default)]
    pub method: Method,
    /// How records go into a body: `json` (one record per request, as an object), `json_array` or
    /// `json_lines` (up to `batch_size` records per request). Default: `json`.
    #[serde(default)]
    pub format: BodyFormat,
    /// The most records in one request, with `json_array` and `json_lines` (not allowed with `json`).
    /// Default: 100.
    #[serde(default)]
    pub batch_size: Option<NonZeroUsize>,
    /// The largest body of a batch, in bytes: a batch is sent before a record would make it larger (a record
    /// larger than this on its own is sent alone). Default: 1048576 (1 MiB).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Headers sent with every request, e.g. `{ Authorization = "Bearer ${API_TOKEN}" }`. Their values are
    /// never printed. `Content-Type` defaults to the format's type and `User-Agent` to `rivus/VERSION`.
    /// Default: none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The longest one request may take, from connecting to the end of the response, e.g. `"10s"`; a request
    /// that takes longer fails with a transient error. Default: `"30s"`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// The longest connecting may take, e.g. `"2s"`. Default: `"10s"`.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub connect_timeout: Duration,
    /// The most requests in flight at once (when several batches are ready). Records may arrive out of order
    /// with more than 1, and after a retry. Default: 4.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: NonZeroUsize,
    /// The longest wait a `Retry-After` header of a 429 or 5xx answer can impose before the next attempt, e.g.
    /// `"5m"`; a longer one is cut to this. Default: `"1m"`.
    #[serde(default = "default_max_retry_after", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_retry_after: Duration,
    /// Statuses that make the sink split a refused batch in halves and send them again, down to single
    /// records, so that only the records the server refuses go to the error policy and the others are
    /// written. Assumes the server takes a batch whole or not at all. Empty: a refused batch goes to the
    /// error policy whole. Default: `[400, 413, 422]`.
    #[serde(default = "default_split_on")]
    pub split_on: Vec<u16>,
}

impl HttpSinkConfig {
    /// A configuration with the defaults that POSTs each record to `url` as a JSON object.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: Method::default(),
            format: BodyFormat::default(),
            batch_size: None,
            batch_bytes: default_batch_bytes(),
            headers: BTreeMap::new(),
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            max_in_flight: default_max_in_flight(),
            max_retry_after: default_max_retry_after(),
            split_on: default_split_on(),
        }
    }
}

/// Header names with their values redacted.
struct RedactedHeaders<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, REDACTED)))
            .finish()
    }
}

impl fmt::Debug for HttpSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSinkConfig")
            .field("url", &redacted_url(&self.url))
            .field("method", &self.method)
            .field("format", &self.format)
            .field("batch_size", &self.batch_size)
            .field("batch_bytes", &self.batch_bytes)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_retry_after", &self.max_retry_after)
            .field("split_on", &self.split_on)
            .finish()
    }
}

/// When the webhook answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Respond {
    /// `200` once every record of the request reached an end (written by every sink, filtered, skipped or
    /// dead-lettered); `500` when the pipeline stopped before that (the default).
    #[default]
    WhenDone,
    /// `202` as soon as the records are queued: faster, but a record lost in a crash is not sent again.
    OnReceipt,
}

/// Configuration of [`WebhookSource`](super::WebhookSource): where it listens and what it accepts.
///
/// # Examples
///
/// ```
/// use rivus_plugins::http::WebhookConfig;
///
/// let cfg: WebhookConfig =
///     serde_json::from_str(r#"{ "address": "0.0.0.0:9000", "token": "s3cret" }"#).unwrap();
/// assert_eq!(cfg.address.port(), 9000);
/// assert_eq!(cfg.max_queued.get(), 1024);
/// assert!(!format!("{cfg:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The address to listen on, `ip:port`: `127.0.0.1` takes requests from this machine only, `0.0.0.0`
    /// from every network; port 0 picks a free port. Default: `"127.0.0.1:8080"`.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// The path that takes records (`POST` or `PUT`); other paths answer 404. Letters, digits and
    /// `/-._~%` only. Default: `"/"`.
    #[serde(default = "default_path")]
    pub path: String,
    /// A token callers must send as `Authorization: Bearer <token>`, compared in constant time; a request
    /// without it gets 401. Never printed. Default: none (no check).
    #[serde(default)]
    pub token: Option<String>,
    /// The largest request body, in bytes; a larger one gets 413. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most records accepted but not yet taken by the pipeline. A request that does not fit gets 503
    /// with `Retry-After` (backpressure: memory stays bounded); one with more records than this gets 413.
    /// Default: 1024.
    #[serde(default = "default_max_queued")]
    pub max_queued: NonZeroUsize,
    /// The `Retry-After` of a 503, in seconds. Default: 1.
    #[serde(default = "default_retry_after_secs")]
    pub retry_after_secs: u32,
    /// When a request is answered: `when_done` (200 once every record reached an end; at least once) or
    /// `on_receipt` (202 once queued). Default: `when_done`.
    #[serde(default)]
    pub respond: Respond,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            path: default_path(),
            token: None,
            max_body_bytes: default_max_body_bytes(),
            max_queued: default_max_queued(),
            retry_after_secs: default_retry_after_secs(),
            respond: Respond::default(),
        }
    }
}

impl WebhookConfig {
    /// A configuration with the defaults that listens on `address`.
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            ..Self::default()
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("address", &self.address)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_queued", &self.max_queued)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("respond", &self.respond)
            .finish()
    }
}

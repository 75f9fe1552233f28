//! HTTP (feature `http`): [`HttpSink`], which sends records to an HTTP API one by one or in batches, with
//! retries, and [`WebhookSource`], an HTTP server that takes records from callers and answers each request
//! once its records reached an end.
//!
//! # The sink
//!
//! `POST`s (or `PUT`s) each record as a JSON object, or batches as a JSON array or JSON lines (see
//! [`HttpSinkConfig`]), through [reqwest](https://docs.rs/reqwest) with rustls. An item counts as written once
//! the server answered its request with a 2xx. Answers 408, 429 and 5xx, and connection errors and timeouts,
//! are transient: the stage's `runtime = { retries = .., retry_delay = .. }` retries them, and a
//! `Retry-After` header holds the next attempt back for as long as it says. Any other 4xx is permanent: the
//! items of that request go to the stage's error policy (a dead letter holds the status and the start of the
//! answer's body). See [`HttpSink`] for the details.
//!
//! # The webhook
//!
//! Listens on `127.0.0.1:8080` by default and takes JSON or JSON lines bodies, with an optional bearer token,
//! a body size limit and backpressure (503 with `Retry-After` when the pipeline is full). A request is
//! answered 200 only once every one of its records was written, filtered, skipped or dead-lettered, so a
//! caller that retries until it gets a 200 loses nothing. See [`WebhookSource`] for every answer.
//!
//! ```no_run
//! use rivus_core::prelude::*;
//! use rivus_plugins::http::{HttpSink, HttpSinkConfig, WebhookConfig, WebhookSource};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Relay a webhook to an API, in batches of up to 100 records as JSON lines.
//! let source = WebhookSource::try_from(WebhookConfig::new("127.0.0.1:8080".parse()?))?;
//! let mut cfg = HttpSinkConfig::new("https://api.example.com/events");
//! cfg.format = rivus_plugins::http::BodyFormat::JsonLines;
//! let sink = HttpSink::try_from(cfg)?;
//! Pipeline::from_source(source)
//!     .sink_with(sink, PipeConfig::named("api").with_retry(rivus_core::retry::RetryPolicy::new(5)))
//!     .shutdown_on_signals()
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Secrets
//!
//! Header values, the webhook's token and the sink's URL past its host may hold secrets (`${ENV}` values of a
//! pipeline file): the configurations' `Debug` output redacts them, and no error or answer of these plugins
//! prints them.

mod config;
mod request;
mod server;
mod sink;
mod source;

pub use config::{BodyFormat, DEFAULT_BATCH_SIZE, HttpSinkConfig, Method, Respond, WebhookConfig};
pub use sink::HttpSink;
pub use source::WebhookSource;

/// The plugin name of the sink.
const SINK: &str = "http";

/// The plugin name of the source.
const SOURCE: &str = "webhook";

/// A URL as errors may show it: scheme, host and port, and `/…` for whatever follows (a path, a query or
/// credentials may hold a secret).
pub(crate) fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut out = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(port) = u.port() {
                out.push_str(&format!(":{port}"));
            }
            let bare = u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none();
            out.push_str(if bare { "/" } else { "/…" });
            out
        }
        Err(_) => "<a URL that does not parse>".to_owned(),
    }
}

/// At most `max` characters of `body`, as text (invalid UTF-8 replaced, control characters escaped), with `…`
/// when cut: the part of an answer's body that an error quotes.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_to_the_host() {
        assert_eq!(
            redacted_url("https://api.example.com/hooks/T0/s3cret?key=s3cret"),
            "https://api.example.com/…"
        );
        assert_eq!(
            redacted_url("http://user:s3cret@127.0.0.1:9000/"),
            "http://127.0.0.1:9000/…"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000/"
        );
        assert!(!redacted_url("not a url s3cret").contains("s3cret"));
    }

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(excerpt(b"bad\nrequest", 100), "bad\\nrequest");
        assert_eq!(excerpt("ééééé".as_bytes(), 3), "ééé…");
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}

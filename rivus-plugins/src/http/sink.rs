//! [`HttpSink`]: records to an HTTP API, one per request or in batches, with per-item outcomes.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rivus_core::pipe::Rejected;
use rivus_core::value::Record;
use rivus_core::{AsyncSink, PipeError};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::SINK;
use super::config::{BodyFormat, DEFAULT_BATCH_SIZE, HttpSinkConfig};
use super::request::{Outcome, Target};

/// Sends records to an HTTP API: each as a JSON object, or in batches as a JSON array or JSON lines.
///
/// # Delivery
///
/// `write` adds a record to the batch being gathered, and sends a batch once it is full (`batch_size`
/// records, or `batch_bytes`), keeping at most `max_in_flight` requests in flight. [`flush`](AsyncSink::flush)
/// sends the last, partial batch and waits for every answer. The runtime counts an item as written only after
/// that flush, so an item is *written* only once the server answered its request with a 2xx.
///
/// * **Transient** failures — answers 408, 429 and 5xx, connection errors, timeouts — make the flush fail
///   with a transient error, which the stage's retry policy (`runtime = { retries = 5, retry_delay = "1s" }`)
///   retries with its backoff. The sink keeps the failed batches and sends only those again, so a record
///   the server took is not sent twice by a retry. Without retries the run stops, and its items are not
///   acknowledged (an at-least-once source delivers them again).
/// * **`Retry-After`** on such an answer (seconds or an HTTP date, at most `max_retry_after`) holds back every
///   request of the sink until then: the next attempt comes after the backoff's delay *and* after the
///   server's wait, whichever is later. The wait happens in the next attempt, not in the failing one, so it
///   costs nothing when no attempt is left.
/// * **Permanent** failures — any other 4xx, or a redirect (not followed) — are refusals: each item of the
///   request goes to the stage's error policy with the method, the host, the status and the start of the
///   answer's body (a dead letter keeps the record). A batch refused with a status of `split_on` (400, 413,
///   422 by default) is split in halves and sent again, down to single records, so that exactly the records
///   the server refuses are refused and the others written (this assumes that the server takes a batch
///   whole or not at all).
///
/// [`AsyncSink::flush_each`] reports the refused items one by one; the plain `flush` fails when any item was
/// refused.
///
/// # TLS
///
/// `https://` URLs use rustls with the `ring` crypto provider and the operating system's certificate store
/// (through reqwest). Building the first sink installs `ring` as the process's default rustls provider, unless
/// the program installed one before.
///
/// # Cancel safety
///
/// Requests run as tasks of their own: when the runtime drops a `write` or `flush` (its `timeout`), the
/// requests in flight go on, and the next call waits for them, so none is sent twice. `write` takes its
/// record only at its end, after its last wait: a dropped `write` took nothing.
#[rivus_core::async_sink("http", config = HttpSinkConfig)]
pub struct HttpSink {
    config: HttpSinkConfig,
    target: Arc<Target>,
    batch_size: usize,
    /// The batch being gathered.
    open: Open,
    /// Batches to send, in order.
    ready: VecDeque<Batch>,
    /// Requests in flight, with their batches (kept here, so that a task that dies loses none).
    in_flight: JoinSet<Outcome>,
    sending: HashMap<Id, Batch>,
    /// Batches that failed for now during this flush attempt; the next attempt sends them again.
    failed: Vec<Batch>,
    first_failure: Option<String>,
    /// Items the server refused since the last successful flush.
    refused: Vec<Rejected>,
    /// Items written since the last successful flush: the index of the next one.
    written: usize,
    /// No request leaves before this (the server's `Retry-After`).
    not_before: Option<Instant>,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("config", &self.config)
            .field("in_flight", &self.in_flight.len())
            .field("failed", &self.failed.len())
            .finish_non_exhaustive()
    }
}

impl TryFrom<HttpSinkConfig> for HttpSink {
    type Error = PipeError;

    fn try_from(config: HttpSinkConfig) -> Result<Self, PipeError> {
        let batch_size = match (config.format, config.batch_size) {
            (BodyFormat::Json, None) => 1,
            (BodyFormat::Json, Some(_)) => {
                return Err(PipeError::permanent(
                    SINK,
                    "`batch_size` needs `format = \"json_array\"` or `\"json_lines\"` (`json` sends one \
                     record per request)",
                ));
            }
            (_, n) => n.unwrap_or(DEFAULT_BATCH_SIZE).get(),
        };
        if let Some(s) = config
            .split_on
            .iter()
            .find(|s| !(400..500).contains(*s) || matches!(s, 408 | 429))
        {
            return Err(PipeError::permanent(
                SINK,
                format!(
                    "`split_on`: {s} is not a refusal; only 4xx statuses other than 408 and 429 refuse a batch"
                ),
            ));
        }
        let target = Arc::new(Target::new(&config)?);
        Ok(Self {
            open: Open::new(config.format),
            config,
            target,
            batch_size,
            ready: VecDeque::new(),
            in_flight: JoinSet::new(),
            sending: HashMap::new(),
            failed: Vec::new(),
            first_failure: None,
            refused: Vec::new(),
            written: 0,
            not_before: None,
            scratch: Vec::new(),
        })
    }
}

impl HttpSink {
    /// The configuration.
    pub fn config(&self) -> &HttpSinkConfig {
        &self.config
    }

    /// Whether the server asked us to wait.
    fn held_back(&self) -> bool {
        self.not_before.is_some_and(|t| t > Instant::now())
    }

    /// Starts ready batches while there is room and the server has not asked us to wait.
    fn start_ready(&mut self) {
        while self.in_flight.len() < self.config.max_in_flight.get() && !self.held_back() {
            let Some(batch) = self.ready.pop_front() else {
                return;
            };
            let target = Arc::clone(&self.target);
            let body = batch.body.clone();
            let task = self.in_flight.spawn(async move { target.send(body).await });
            self.sending.insert(task.id(), batch);
        }
    }

    /// Waits for one answer (or, with nothing in flight, for the end of the server's `Retry-After`) and
    /// takes note of it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an answer is taken note of in the step that receives it.
    async fn settle_one(&mut self) {
        if self.in_flight.is_empty() {
            if let Some(t) = self.not_before {
                tokio::time::sleep_until(t).await;
            }
            return;
        }
        let (id, outcome) = match self.in_flight.join_next_with_id().await {
            Some(Ok((id, outcome))) => (id, outcome),
            Some(Err(e)) => (
                e.id(),
                Outcome::Failed {
                    message: format!("the request's task failed: {e}"),
                    retry_after: None,
                },
            ),
            None => return,
        };
        let Some(batch) = self.sending.remove(&id) else {
            return;
        };
        match outcome {
            Outcome::Delivered => {}
            Outcome::Refused { status, message } => {
                if batch.len() > 1 && self.config.split_on.contains(&status) {
                    let (a, b) = batch.split(self.config.format);
                    self.ready.push_front(b);
                    self.ready.push_front(a);
                } else {
                    let n = batch.len();
                    let message = if n > 1 {
                        format!("{message} (a batch of {n} records)")
                    } else {
                        message
                    };
                    self.refused.extend(
                        batch
                            .indices()
                            .map(|i| Rejected::new(i, PipeError::permanent(SINK, message.clone()))),
                    );
                }
            }
            Outcome::Failed {
                message,
                retry_after,
            } => {
                if let Some(wait) = retry_after {
                    // Capped so that no configuration can overflow the clock (136 years is "forever").
                    let wait = wait
                        .min(self.config.max_retry_after)
                        .min(Duration::from_secs(u64::from(u32::MAX)));
                    let until = Instant::now() + wait;
                    self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
                }
                self.first_failure.get_or_insert(message);
                self.failed.push(batch);
            }
        }
    }

    /// Sends every ready batch and waits for every answer.
    async fn drain(&mut self) {
        loop {
            self.start_ready();
            if self.in_flight.is_empty() && self.ready.is_empty() {
                return;
            }
            self.settle_one().await;
        }
    }
}

impl AsyncSink for HttpSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        SINK.into()
    }

    /// Adds `record` to the current batch, and sends full batches; see [Delivery](HttpSink#delivery).
    ///
    /// # Errors
    ///
    /// Only a record that cannot be serialized as JSON; failed requests are reported by `flush`.
    async fn write(&mut self, record: Record) -> Result<(), PipeError> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, &record)
            .map_err(|e| PipeError::permanent(SINK, e))?;
        if !self.open.is_empty()
            && (self.open.len() >= self.batch_size
                || self.open.framed_len_with(self.scratch.len()) > self.config.batch_bytes)
        {
            self.ready.push_back(self.open.seal());
        }
        // Room first (at most `max_in_flight` requests and one ready batch): memory stays bounded.
        loop {
            self.start_ready();
            if self.ready.is_empty() {
                break;
            }
            self.settle_one().await;
        }
        // No await from here on: the record is taken only by a `write` that completes.
        self.open.push(&self.scratch, self.written);
        self.written += 1;
        if self.open.len() >= self.batch_size {
            self.ready.push_back(self.open.seal());
            self.start_ready();
        }
        Ok(())
    }

    /// Sends what is gathered and waits for every answer; see [Delivery](HttpSink#delivery).
    ///
    /// # Errors
    ///
    /// As [`flush_each`](AsyncSink::flush_each), and a permanent error when the server refused an item.
    async fn flush(&mut self) -> Result<(), PipeError> {
        let refused = self.flush_each().await?;
        let count = refused.len();
        match refused.into_iter().next() {
            None => Ok(()),
            Some(first) if count == 1 => Err(first.error),
            Some(first) => Err(PipeError::permanent(
                SINK,
                format!(
                    "{count} records refused; the first: {}",
                    first.error.message()
                ),
            )),
        }
    }

    /// Sends what is gathered, waits for every answer, and returns the items the server refused.
    ///
    /// # Errors
    ///
    /// A transient error when a request failed for now (the stage's retries call `flush_each` again, which
    /// sends only the failed batches again).
    async fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        if !self.open.is_empty() {
            self.ready.push_back(self.open.seal());
        }
        // A retry of a failed flush: the batches that failed go again, first.
        for batch in self.failed.drain(..).rev() {
            self.ready.push_front(batch);
        }
        self.first_failure = None;
        self.drain().await;
        if let Some(first) = self.first_failure.take() {
            let n = self.failed.len();
            let records: usize = self.failed.iter().map(Batch::len).sum();
            return Err(PipeError::transient(
                SINK,
                format!("{n} requests ({records} records) failed; the first: {first}"),
            ));
        }
        self.written = 0;
        Ok(std::mem::take(&mut self.refused))
    }

    /// Stops requests still in flight (after a successful flush there are none).
    async fn close(&mut self) -> Result<(), PipeError> {
        self.in_flight.shutdown().await;
        self.sending.clear();
        Ok(())
    }
}

/// A batch ready to send: its body, where each record is in it, and the index of its first item among the
/// items written since the last flush.
#[derive(Debug, Clone)]
struct Batch {
    body: Bytes,
    records: Vec<Range<usize>>,
    first: usize,
}

impl Batch {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn indices(&self) -> Range<usize> {
        self.first..self.first + self.len()
    }

    /// The first and the second half (a batch of at least two records).
    fn split(self, format: BodyFormat) -> (Self, Self) {
        let mid = self.len() / 2;
        let half = |ranges: &[Range<usize>], first: usize| {
            let mut open = Open::new(format);
            for r in ranges {
                open.push(&self.body[r.clone()], first);
            }
            let mut batch = open.seal();
            batch.first = first;
            batch
        };
        (
            half(&self.records[..mid], self.first),
            half(&self.records[mid..], self.first + mid),
        )
    }
}

/// Records being gathered into a batch: their JSON, one after the other.
#[derive(Debug)]
struct Open {
    format: BodyFormat,
    data: Vec<u8>,
    ends: Vec<usize>,
    first: usize,
}

impl Open {
    fn new(format: BodyFormat) -> Self {
        Self {
            format,
            data: Vec::new(),
            ends: Vec::new(),
            first: 0,
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The size of the body with one more record of `extra` bytes.
    fn framed_len_with(&self, extra: usize) -> usize {
        let n = self.len() + 1;
        self.data.len()
            + extra
            + match self.format {
                BodyFormat::Json => 0,
                BodyFormat::JsonArray => n + 1, // brackets and commas
                BodyFormat::JsonLines => n,     // newlines
            }
    }

    /// Adds one record's JSON; `index` is its item's index since the last flush.
    fn push(&mut self, json: &[u8], index: usize) {
        if self.is_empty() {
            self.first = index;
        }
        self.data.extend_from_slice(json);
        self.ends.push(self.data.len());
    }

    /// The body, framed for the format, and the batch; leaves `self` empty.
    fn seal(&mut self) -> Batch {
        let mut body = Vec::with_capacity(self.framed_len_with(0));
        let mut records = Vec::with_capacity(self.len());
        if self.format == BodyFormat::JsonArray {
            body.push(b'[');
        }
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if i > 0 && self.format == BodyFormat::JsonArray {
                body.push(b',');
            }
            let at = body.len();
            body.extend_from_slice(&self.data[start..end]);
            records.push(at..body.len());
            if self.format == BodyFormat::JsonLines {
                body.push(b'\n');
            }
            start = end;
        }
        if self.format == BodyFormat::JsonArray {
            body.push(b']');
        }
        self.data.clear();
        self.ends.clear();
        Batch {
            body: Bytes::from(body),
            records,
            first: self.first,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(format: BodyFormat, records: &[&str]) -> Batch {
        let mut open = Open::new(format);
        for (i, r) in records.iter().enumerate() {
            open.push(r.as_bytes(), 10 + i);
        }
        open.seal()
    }

    #[test]
    fn bodies_are_framed_per_format() {
        let recs = [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#];
        let array = gathered(BodyFormat::JsonArray, &recs);
        assert_eq!(&array.body[..], br#"[{"a":1},{"a":2},{"a":3}]"#);
        let lines = gathered(BodyFormat::JsonLines, &recs);
        assert_eq!(&lines.body[..], b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        let one = gathered(BodyFormat::Json, &recs[..1]);
        assert_eq!(&one.body[..], br#"{"a":1}"#);
        for b in [&array, &lines] {
            assert_eq!(&b.body[b.records[1].clone()], br#"{"a":2}"#);
            assert_eq!(b.indices(), 10..13);
        }
    }

    #[test]
    fn a_split_keeps_each_record_and_its_index() {
        let recs = [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#];
        let (a, b) = gathered(BodyFormat::JsonArray, &recs).split(BodyFormat::JsonArray);
        assert_eq!(&a.body[..], br#"[{"a":1}]"#);
        assert_eq!(a.indices(), 10..11);
        assert_eq!(&b.body[..], br#"[{"a":2},{"a":3}]"#);
        assert_eq!(b.indices(), 11..13);
    }

    #[test]
    fn framed_len_predicts_the_body() {
        for format in [BodyFormat::JsonArray, BodyFormat::JsonLines] {
            let mut open = Open::new(format);
            open.push(b"{}", 0);
            let predicted = open.framed_len_with(6);
            open.push(b"{\"\":1}", 1);
            assert_eq!(open.seal().body.len(), predicted, "{format:?}");
        }
    }

    #[test]
    fn options_that_do_not_fit_are_refused() {
        let mut cfg = HttpSinkConfig::new("http://127.0.0.1:1/");
        cfg.batch_size = std::num::NonZeroUsize::new(10);
        let err = HttpSink::try_from(cfg.clone()).unwrap_err().to_string();
        assert!(err.contains("batch_size"), "{err}");
        cfg.format = BodyFormat::JsonLines;
        assert!(HttpSink::try_from(cfg.clone()).is_ok());
        cfg.split_on = vec![400, 503];
        let err = HttpSink::try_from(cfg).unwrap_err().to_string();
        assert!(err.contains("503"), "{err}");
    }
}

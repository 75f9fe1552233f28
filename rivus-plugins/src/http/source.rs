//! [`WebhookSource`]: an HTTP server whose callers' records become the pipeline's items, each request answered
//! once its records reached an end.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rivus_core::ack::Position;
use rivus_core::value::Record;
use rivus_core::{AsyncSource, PipeError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::SOURCE;
use super::config::{Respond, WebhookConfig};
use super::server::{Accepted, Answer, Shared, router};

/// How long `close` waits for the server to finish its connections before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Takes records from HTTP requests: an HTTP server on `address` (`127.0.0.1:8080` by default) whose
/// callers `POST` (or `PUT`) JSON to `path`.
///
/// # Requests and answers
///
/// A body holds one JSON object, a JSON array of objects, or JSON lines (objects one after the other); each
/// object becomes a [`Record`] with its fields in order and its numbers exact, as the `jsonl` source reads a line
/// (a key twice in one object is an error, a UTF-8 byte order mark at the start is skipped). The answers, each
/// with a JSON body
/// (`{"records": n}` or `{"error": "..."}`):
///
/// | status | when |
/// |---|---|
/// | 200 | every record of the request reached an end: written by every sink, filtered, skipped or dead-lettered |
/// | 202 | with `respond = "on_receipt"`: the records are queued |
/// | 400 | the body is not JSON objects (the error names the record, line and column); nothing was taken |
/// | 401 | `token` is set and the request does not carry `Authorization: Bearer <token>` |
/// | 404, 405 | another path, another method |
/// | 413 | the body is over `max_body_bytes`, or holds more records than `max_queued` |
/// | 503 + `Retry-After` | the queue is full (backpressure), or the pipeline is stopping: nothing was taken |
/// | 500 | the pipeline stopped after taking records of the request and before all of them reached an end |
///
/// # At least once
///
/// The records of a request are queued together or not at all. The source numbers the records it hands to the
/// pipeline (its [`position`](AsyncSource::position)), and [`commit`](AsyncSource::commit) answers 200 each
/// request whose last record the runtime committed, i.e. once every record of it reached an end. A record
/// that fails under fail fast stops the run: the runtime never commits past it, and when the source closes,
/// every request still waiting is answered 500 (records taken) or 503 (none taken), so that its caller sends
/// it again. Records of a request answered 500 may have been written already: a caller that retries gets
/// them at least once, never lost. With `respond = "on_receipt"` a request is answered 202 once queued and
/// the source gives no positions; records still queued when the source closes are not written, and `close`
/// fails with their number, so the loss is never silent.
///
/// # Backpressure
///
/// At most `max_queued` records wait for the pipeline (plus those of the one request the source is handing
/// over); the pipeline's own channels are bounded too. When a
/// slow sink fills them, new requests are answered 503 with `Retry-After: retry_after_secs` at once, instead
/// of being buffered without bound; requests already accepted are answered as their records reach an end.
///
/// # Cancel safety
///
/// `next` is cancel safe: a request is taken from the queue and its records kept in the source in one step.
#[rivus_core::async_source("webhook", config = WebhookConfig)]
pub struct WebhookSource {
    config: WebhookConfig,
    running: Option<Running>,
    /// Records of the request being taken.
    current: std::vec::IntoIter<Record>,
    /// Requests whose records were (partly) taken, waiting for their answer, in order.
    waiting: VecDeque<Waiting>,
    /// Records handed to the pipeline so far.
    taken: u64,
}

/// The server, while it runs.
struct Running {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedReceiver<Accepted>,
    address: SocketAddr,
    /// Sending (or dropping) it starts the server's graceful shutdown.
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

/// A request that waits for its answer: it is done once the records before `end` (in the order taken) are.
struct Waiting {
    end: u64,
    reply: oneshot::Sender<Answer>,
}

impl std::fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSource")
            .field("config", &self.config)
            .field("address", &self.local_addr())
            .field("waiting", &self.waiting.len())
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl TryFrom<WebhookConfig> for WebhookSource {
    type Error = PipeError;

    fn try_from(config: WebhookConfig) -> Result<Self, PipeError> {
        let path_ok = config.path.starts_with('/')
            && config
                .path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
        if !path_ok {
            return Err(PipeError::permanent(
                SOURCE,
                format!(
                    "`path` {:?} must start with `/` and hold only letters, digits and `/-._~%`",
                    config.path
                ),
            ));
        }
        if config.token.as_ref().is_some_and(|t| t.trim().is_empty()) {
            return Err(PipeError::permanent(
                SOURCE,
                "`token` is empty: leave it out, or set a secret",
            ));
        }
        Ok(Self {
            config,
            running: None,
            current: Vec::new().into_iter(),
            waiting: VecDeque::new(),
            taken: 0,
        })
    }
}

impl WebhookSource {
    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The address the server listens on, once [`open`](AsyncSource::open) has bound it (with port 0 in
    /// `address`, the port the system picked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().map(|r| r.address)
    }
}

impl AsyncSource for WebhookSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        SOURCE.into()
    }

    /// Binds the address and starts the server. Calling it again does nothing, so a program may open the
    /// source itself to learn its [`local_addr`](WebhookSource::local_addr) before the pipeline runs.
    ///
    /// # Errors
    ///
    /// The address cannot be bound (in use, not an address of this machine, a port that needs privileges).
    async fn open(&mut self) -> Result<(), PipeError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(self.config.address)
            .await
            .map_err(|e| {
                PipeError::permanent(
                    SOURCE,
                    format!("cannot listen on {}: {e}", self.config.address),
                )
            })?;
        let address = listener.local_addr().map_err(|e| {
            PipeError::permanent(SOURCE, format!("cannot read the bound address: {e}"))
        })?;
        let (tx, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(&self.config, tx));
        let app = router(&self.config.path, Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        self.running = Some(Running {
            shared,
            queue,
            address,
            stop: Some(stop),
            server,
        });
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            if let Poll::Ready(next) = self.try_next() {
                return next;
            }
            let running = self.running.as_mut()?;
            // The only await: a request is either still queued or taken whole below.
            let accepted = running.queue.recv().await?;
            // Its places in the queue are free again: its records are held here until the pipeline takes
            // them, one request at a time.
            running.shared.room.add_permits(accepted.records.len());
            if let Some(reply) = accepted.reply {
                self.waiting.push_back(Waiting {
                    end: self.taken + accepted.records.len() as u64,
                    reply,
                });
            }
            self.current = accepted.records.into_iter();
        }
    }

    /// The next record of a request already taken from the queue, at once; `Pending` when none is left (the
    /// next request is awaited by `next`).
    fn try_next(&mut self) -> Poll<Option<Result<Record, PipeError>>> {
        if self.running.is_none() {
            return Poll::Pending;
        }
        match self.current.next() {
            Some(record) => {
                self.taken += 1;
                Poll::Ready(Some(Ok(record)))
            }
            None => Poll::Pending,
        }
    }

    /// The number of the record `next` returned last (from 0), when requests are answered once done; `None`
    /// (no positions) with `respond = "on_receipt"`.
    fn position(&self) -> Option<Position> {
        (self.config.respond == Respond::WhenDone)
            .then(|| Position::from(self.taken.saturating_sub(1)))
    }

    /// Answers 200 every request whose records are all at or before `upto`.
    ///
    /// # Errors
    ///
    /// A position of another source.
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let Some(upto) = upto.get::<u64>() else {
            return Err(PipeError::permanent(
                SOURCE,
                "a position of another source was committed",
            ));
        };
        while self.waiting.front().is_some_and(|w| w.end <= upto + 1) {
            if let Some(w) = self.waiting.pop_front() {
                // The caller may have gone (a timeout): nobody to answer.
                let _ = w.reply.send(Answer::Done);
            }
        }
        Ok(())
    }

    /// Stops taking requests, answers every request still waiting (500 if records of it were taken, 503 if
    /// none was), and stops the server once its connections are answered.
    ///
    /// # Errors
    ///
    /// With `respond = "on_receipt"`: records answered 202 were still queued (they are not written). Also when
    /// the server failed.
    async fn close(&mut self) -> Result<(), PipeError> {
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        running.shared.room.close();
        running.queue.close();
        for w in self.waiting.drain(..) {
            let _ = w.reply.send(Answer::Failed);
        }
        let mut dropped = self.current.len();
        self.current = Vec::new().into_iter();
        while let Ok(accepted) = running.queue.try_recv() {
            match accepted.reply {
                Some(reply) => {
                    let _ = reply.send(Answer::NotTaken);
                }
                None => dropped += accepted.records.len(),
            }
        }
        if let Some(stop) = running.stop.take() {
            let _ = stop.send(());
        }
        let served = match tokio::time::timeout(SHUTDOWN_GRACE, &mut running.server).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(PipeError::permanent(
                SOURCE,
                format!("the server failed: {e}"),
            )),
            Ok(Err(e)) => Err(PipeError::from(e).with_pipe(SOURCE)),
            Err(_) => {
                // Connections that do not close in time are dropped.
                running.server.abort();
                Ok(())
            }
        };
        if self.config.respond == Respond::OnReceipt && dropped > 0 {
            return Err(PipeError::permanent(
                SOURCE,
                format!(
                    "{dropped} records answered 202 (`respond = \"on_receipt\"`) were still queued when the \
                     pipeline stopped, and are not written"
                ),
            ));
        }
        served
    }
}

//! [`KafkaSink`]: a producer whose items count as written only once their delivery reports succeed.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rivus_core::value::{Record, Value};
use rivus_core::{AsyncSink, PipeError};

use super::config::KafkaSinkConfig;
use super::{NAME, kafka_error};

/// Writes records to Kafka; an item counts as written once the broker confirmed it.
///
/// The payload is the record's raw bytes when it has them (a record read by [`super::KafkaSource`] passes
/// through unchanged), otherwise the record as a JSON object. The topic is fixed or read from a field, the key
/// and headers are read from fields (see [`KafkaSinkConfig`]).
///
/// # Delivery
///
/// `write` hands the record to librdkafka, which batches (`linger_ms`, `batch_bytes`), compresses and retries
/// retriable broker errors until `delivery_timeout_ms`. [`flush`](AsyncSink::flush) waits for the delivery
/// report of every record written since the previous flush; the runtime acknowledges items only after a
/// successful flush, so an item counts as written only once the broker confirmed it (with `acks = "all"` by
/// default). A failed delivery makes `flush` fail with the broker's error (transient for retriable errors such
/// as a timeout or an unreachable broker, permanent otherwise), which stops the pipeline: its items are not
/// acknowledged, and an at-least-once source delivers them again after a restart.
///
/// # Cancel safety
///
/// `write` may be cancelled only by an abort; a record it had already handed to librdkafka may still be
/// delivered (at least once). `flush` is cancel safe: unconfirmed deliveries stay pending.
#[rivus_core::async_sink("kafka", config = KafkaSinkConfig)]
pub struct KafkaSink {
    config: KafkaSinkConfig,
    producer: Option<FutureProducer>,
    pending: VecDeque<DeliveryFuture>,
    /// Deliveries that failed while `write` waited for room; reported by the next `flush`.
    failed: Failures,
    payload: Vec<u8>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("config", &self.config)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Failed deliveries since the last flush: how many, and the first error.
#[derive(Default)]
struct Failures {
    count: usize,
    first: Option<(KafkaError, String)>,
}

impl Failures {
    fn add(&mut self, e: KafkaError, topic: String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((e, topic));
        }
    }

    fn take(&mut self, of: usize) -> Result<(), PipeError> {
        let count = std::mem::take(&mut self.count);
        match self.first.take() {
            None => Ok(()),
            Some((e, topic)) => Err(delivery_error(
                e,
                &format!("{count} of {of} records not delivered to topic {topic:?}; first error"),
            )),
        }
    }
}

/// A delivery error, transient when another attempt may succeed.
fn delivery_error(e: KafkaError, what: &str) -> PipeError {
    let transient = matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::QueueFull
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::NotEnoughReplicas
                | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
        )
    );
    let message = format!("{what}: {e}");
    if transient {
        PipeError::transient(NAME, message)
    } else {
        PipeError::permanent(NAME, message)
    }
}

impl TryFrom<KafkaSinkConfig> for KafkaSink {
    type Error = PipeError;

    fn try_from(config: KafkaSinkConfig) -> Result<Self, PipeError> {
        if config.topic.is_none() && config.topic_field.is_none() {
            return Err(PipeError::msg("set `topic` or `topic_field`").with_pipe(NAME));
        }
        Ok(Self {
            config,
            producer: None,
            pending: VecDeque::new(),
            failed: Failures::default(),
            payload: Vec::new(),
        })
    }
}

impl KafkaSink {
    /// The configuration.
    pub fn config(&self) -> &KafkaSinkConfig {
        &self.config
    }

    /// Waits for the oldest pending delivery; a failure is kept for the next flush.
    async fn settle_oldest(&mut self) {
        if let Some(f) = self.pending.pop_front() {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, m))) => {
                    use rdkafka::Message;
                    self.failed.add(e, m.topic().to_owned());
                }
                Err(_) => self
                    .failed
                    .add(KafkaError::Canceled, "(producer closed)".to_owned()),
            }
        }
    }

    /// Hands one record to librdkafka, waiting for room when its queue or `max_in_flight` is full.
    async fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        payload: &[u8],
    ) -> Result<(), PipeError> {
        if self.pending.len() >= self.config.max_in_flight.max(1) {
            self.settle_oldest().await;
        }
        let producer = self
            .producer
            .clone()
            .ok_or_else(|| PipeError::msg("write before open").with_pipe(NAME))?;
        let mut out = FutureRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(k) = key {
            out = out.key(k);
        }
        if let Some(h) = headers {
            out = out.headers(h);
        }
        loop {
            match producer.send_result(out) {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    out = back;
                    if self.pending.is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        self.settle_oldest().await;
                    }
                }
                Err((e, _)) => return Err(delivery_error(e, "cannot send")),
            }
        }
    }

    /// Waits for every pending delivery.
    ///
    /// # Errors
    ///
    /// At least one delivery since the previous call failed.
    async fn settle_all(&mut self) -> Result<(), PipeError> {
        let total = self.pending.len() + self.failed.count;
        while !self.pending.is_empty() {
            self.settle_oldest().await;
        }
        self.failed.take(total)
    }
}

/// A field's value as bytes: a string as its UTF-8 bytes, anything else as JSON.
fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

impl AsyncSink for KafkaSink {
    type In = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// Creates the producer.
    ///
    /// # Errors
    ///
    /// An invalid librdkafka option.
    async fn open(&mut self) -> Result<(), PipeError> {
        if self.producer.is_none() {
            let producer: FutureProducer = self
                .config
                .client_config()
                .create()
                .map_err(|e| kafka_error(e, "cannot create the producer"))?;
            self.producer = Some(producer);
        }
        Ok(())
    }

    /// Hands `record` to librdkafka; see [Delivery](KafkaSink#delivery).
    ///
    /// # Errors
    ///
    /// The record has no topic, or librdkafka refused it (e.g. larger than `message.max.bytes`).
    async fn write(&mut self, record: Record) -> Result<(), PipeError> {
        let field = |name: &Option<String>| name.as_deref().and_then(|f| record.get(f));
        let topic = match field(&self.config.topic_field) {
            Some(Value::String(t)) => t.to_string(),
            Some(other) => {
                return Err(PipeError::permanent(
                    NAME,
                    format!("the topic field holds {}, not a string", other),
                ));
            }
            None => self.config.topic.clone().ok_or_else(|| {
                PipeError::permanent(NAME, "the record has no topic field and no `topic` is set")
            })?,
        };
        let key = field(&self.config.key_field).map(bytes_of);
        let headers = match field(&self.config.headers_field) {
            Some(Value::Object(hs)) => {
                let mut headers = OwnedHeaders::new_with_capacity(hs.len());
                for (k, v) in hs {
                    let value = match v {
                        Value::Null => None,
                        other => Some(bytes_of(other)),
                    };
                    headers = headers.insert(Header {
                        key: k,
                        value: value.as_deref(),
                    });
                }
                Some(headers)
            }
            _ => None,
        };
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        let result = match record.raw() {
            Some(raw) => {
                payload.extend_from_slice(raw);
                Ok(())
            }
            None => serde_json::to_writer(&mut payload, &record)
                .map_err(|e| PipeError::permanent(NAME, e)),
        };
        let result = match result {
            Ok(()) => self.send(&topic, key.as_deref(), headers, &payload).await,
            Err(e) => Err(e),
        };
        self.payload = payload;
        result
    }

    /// Waits for the delivery reports of every record written since the last flush.
    ///
    /// # Errors
    ///
    /// At least one of them failed: the first broker error, and how many failed.
    async fn flush(&mut self) -> Result<(), PipeError> {
        self.settle_all().await
    }

    /// Waits for outstanding deliveries, then drops the producer.
    ///
    /// # Errors
    ///
    /// As [`flush`](AsyncSink::flush).
    async fn close(&mut self) -> Result<(), PipeError> {
        let result = self.settle_all().await;
        if let Some(producer) = self.producer.take() {
            let timeout = Duration::from_millis(self.config.delivery_timeout_ms);
            let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
            if let (Ok(()), Ok(Err(e))) = (&result, flushed) {
                return Err(kafka_error(e, "cannot flush the producer"));
            }
        }
        result
    }
}

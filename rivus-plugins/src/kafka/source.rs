//! [`KafkaSource`]: a consumer in a consumer group that commits only acknowledged offsets.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, Timestamp, TopicPartitionList};
use rivus_core::ack::Position;
use rivus_core::value::{FieldName, Fields, Record, Value};
use rivus_core::{AsyncSource, PipeError};

use super::config::{Assignment, KafkaSourceConfig, PayloadFormat, StartFrom};
use super::{NAME, kafka_error};

/// The librdkafka context of the consumer: publishes consumer lag from librdkafka's statistics.
pub(crate) struct SourceContext {
    group: String,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // Partition -1 is librdkafka's internal "unassigned" partition; lag < 0 means "not known yet".
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "rivus_kafka_consumer_lag",
                    "group" => self.group.clone(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string(),
                )
                .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for SourceContext {}

/// Where one returned item came from: the index of its topic name, its partition and offset (`None` for an
/// error item that has no record).
type Origin = Option<(usize, i32, i64)>;

/// The field names of the metadata, made once.
struct Names {
    key: FieldName,
    topic: FieldName,
    partition: FieldName,
    offset: FieldName,
    timestamp: FieldName,
    headers: FieldName,
}

impl Names {
    fn new(prefix: &str) -> Self {
        let name = |n: &str| FieldName::interned(&format!("{prefix}{n}"));
        Self {
            key: name("key"),
            topic: name("topic"),
            partition: name("partition"),
            offset: name("offset"),
            timestamp: name("timestamp"),
            headers: name("headers"),
        }
    }
}

/// Reads records from Kafka topics as a consumer-group member (or from explicitly assigned partitions),
/// committing only acknowledged offsets.
///
/// Run it with [`Pipeline::from_source`](rivus_core::stream::Pipeline::from_source), or by name from a pipeline
/// file: it gives [positions](rivus_core::ack), so the runtime commits it past the records that reached an end.
///
/// Each record becomes a [`Record`] with the payload as its raw bytes and the metadata fields `key` (a string,
/// or an array of bytes when the key is not UTF-8; null when there is none), `topic`, `partition`, `offset`,
/// `timestamp` (milliseconds since the Unix epoch, null when unknown) and `headers` (an object of strings), each
/// prefixed by [`metadata_prefix`](KafkaSourceConfig::metadata_prefix); with `format = "json"` the fields of
/// the payload follow. For event-time windows, read the timestamp with [`super::event_time`].
///
/// # Commits
///
/// The source numbers the records it returns (its [`position`](AsyncSource::position) is that number) and keeps an ordered
/// log of `(topic, partition, offset)` per number. When the runtime acknowledges everything up to a number,
/// the source stores, per partition, the highest offset among those records plus one, so a stored offset never
/// passes a record still in flight. librdkafka commits stored offsets every `commit_interval_ms`, before
/// partitions are revoked in a rebalance, and [`close`](AsyncSource::close) commits them once more.
/// Acknowledgements for partitions this consumer no longer owns are dropped: the new owner resumes at the last
/// commit and delivers them again (at least once, never lost).
///
/// # Assignment: group or manual
///
/// By default (`assignment = "group"`) the source subscribes as a member of `group_id`, and the group shares the
/// partitions between its members. When a member is killed, its partitions are handed on once the group lets it
/// go; with the `tansu` broker of the tests (0.6), a group whose only member was SIGKILLed hands a newcomer nothing
/// for minutes (Python's confluent-kafka sees the same, with or without `group.instance.id`).
///
/// With `assignment = "manual"` the source assigns `partitions` (default: all partitions of each topic) itself,
/// starts at the offsets committed for `group_id` (OffsetFetch), and commits acknowledged offsets for `group_id`
/// (OffsetCommit without a generation), never joining the group — what Flink's and Spark's Kafka readers do. A
/// restart after a crash resumes at once at the last commit. Checked against tansu 0.6 (see
/// `tests/kafka`); a real Kafka accepts such commits for a group that has no members (the rule of "simple
/// consumer" commits), so the group must be used by manual readers only. Partitions are not shared out: give
/// each process its own `partitions`.
///
/// # Lag and back-pressure
///
/// Consumer lag (high watermark − committed offset, per partition) is published from librdkafka's statistics,
/// which are served while the source polls the consumer, i.e. while records flow. A pipeline that holds the
/// source back for longer than `max.poll.interval.ms` (librdkafka's default: 5 minutes; set it in `options`)
/// leaves the group, and its partitions go to other members, which resume at the last commit.
///
/// # Cancel safety
///
/// `next` is cancel safe: a record is taken from the consumer and logged in one step, after the only await.
#[rivus_core::async_source("kafka", config = KafkaSourceConfig)]
pub struct KafkaSource {
    config: KafkaSourceConfig,
    consumer: Option<StreamConsumer<SourceContext>>,
    names: Names,
    topics: Vec<Arc<str>>,
    /// The origin of every returned item not yet committed, in the order returned; `log[0]` has number `base`.
    log: VecDeque<Origin>,
    base: u64,
    /// Partitions (by number) read to their end since their last record (for `stop_at_end`).
    at_end: HashSet<i32>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("config", &self.config)
            .field("in_flight", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl TryFrom<KafkaSourceConfig> for KafkaSource {
    type Error = PipeError;

    fn try_from(config: KafkaSourceConfig) -> Result<Self, PipeError> {
        if config.topics.is_empty() {
            return Err(PipeError::msg("`topics` must name at least one topic").with_pipe(NAME));
        }
        if config.group_id.is_empty() {
            return Err(PipeError::msg("`group_id` must not be empty").with_pipe(NAME));
        }
        let names = Names::new(&config.metadata_prefix);
        let topics = config
            .topics
            .iter()
            .map(|t| Arc::from(t.as_str()))
            .collect();
        Ok(Self {
            config,
            consumer: None,
            names,
            topics,
            log: VecDeque::new(),
            base: 0,
            at_end: HashSet::new(),
        })
    }
}

impl KafkaSource {
    /// The configuration.
    pub fn config(&self) -> &KafkaSourceConfig {
        &self.config
    }

    fn topic_index(&mut self, topic: &str) -> usize {
        match self.topics.iter().position(|t| &**t == topic) {
            Some(i) => i,
            None => {
                // A topic matched by a pattern subscription.
                self.topics.push(Arc::from(topic));
                self.topics.len() - 1
            }
        }
    }

    fn to_record(&self, m: &BorrowedMessage<'_>) -> Result<Record, PipeError> {
        let n = &self.names;
        let mut record = Record::with_capacity(6);
        let key = match m.key() {
            None => Value::Null,
            Some(k) => match std::str::from_utf8(k) {
                Ok(s) => Value::from(s),
                Err(_) => Value::from(k.to_vec()),
            },
        };
        record.push(n.key.clone(), key);
        record.push(n.topic.clone(), Value::from(m.topic()));
        record.push(n.partition.clone(), Value::from(m.partition()));
        record.push(n.offset.clone(), Value::from(m.offset()));
        let ts = match m.timestamp() {
            Timestamp::NotAvailable => Value::Null,
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Value::from(t),
        };
        record.push(n.timestamp.clone(), ts);
        let mut headers = Fields::new();
        if let Some(hs) = m.headers() {
            for h in hs.iter() {
                let v = match h.value {
                    None => Value::Null,
                    Some(b) => Value::from(String::from_utf8_lossy(b).into_owned()),
                };
                headers.insert(h.key.to_owned(), v);
            }
        }
        record.push(n.headers.clone(), Value::Object(headers));
        let payload = m.payload().unwrap_or_default();
        if self.config.format == PayloadFormat::Json {
            match crate::json::parse_value(payload, crate::json::DuplicateKeys::Error) {
                Ok(Value::Object(fields)) => {
                    for (k, v) in fields {
                        record.insert(k, v);
                    }
                }
                Ok(other) => {
                    return Err(PipeError::permanent(
                        NAME,
                        format!(
                            "{}[{}]@{}: payload is JSON {}, not an object",
                            m.topic(),
                            m.partition(),
                            m.offset(),
                            rivus_core::value::kind_of(&other)
                        ),
                    ));
                }
                Err(e) => {
                    return Err(PipeError::permanent(
                        NAME,
                        format!(
                            "{}[{}]@{}: payload is not JSON: {e}",
                            m.topic(),
                            m.partition(),
                            m.offset()
                        ),
                    ));
                }
            }
        }
        record.set_raw(Some(payload.to_vec()));
        Ok(record)
    }

    /// `true` once every assigned partition was read to its end.
    fn all_at_end(&self) -> bool {
        let Some(consumer) = &self.consumer else {
            return true;
        };
        match consumer.assignment() {
            Ok(tpl) => {
                let parts = tpl.elements();
                !parts.is_empty() && parts.iter().all(|p| self.at_end.contains(&p.partition()))
            }
            Err(_) => false,
        }
    }
}

/// How long a manual assignment waits for metadata and committed offsets.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Assigns the configured partitions of every topic at the offsets committed for the group (or where
/// `start_from` says, for a partition without one), without joining the group.
fn assign_manually(
    consumer: &StreamConsumer<SourceContext>,
    config: &KafkaSourceConfig,
) -> Result<(), PipeError> {
    let mut wanted = TopicPartitionList::new();
    for topic in &config.topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), LOOKUP_TIMEOUT)
            .map_err(|e| kafka_error(e, &format!("cannot read the partitions of `{topic}`")))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        let available: Vec<i32> = match found {
            Some(t) if t.error().is_none() => t.partitions().iter().map(|p| p.id()).collect(),
            Some(t) => {
                return Err(
                    PipeError::msg(format!("topic `{topic}`: {:?}", t.error())).with_pipe(NAME)
                );
            }
            None => Vec::new(),
        };
        if available.is_empty() {
            return Err(
                PipeError::msg(format!("topic `{topic}` does not exist (no partitions)"))
                    .with_pipe(NAME),
            );
        }
        let chosen = match &config.partitions {
            None => available,
            Some(list) => {
                if let Some(p) = list.iter().find(|p| !available.contains(p)) {
                    return Err(PipeError::msg(format!(
                        "topic `{topic}` has no partition {p} (it has {available:?})"
                    ))
                    .with_pipe(NAME));
                }
                list.clone()
            }
        };
        for p in chosen {
            wanted.add_partition(topic, p);
        }
    }
    let committed = consumer
        .committed_offsets(wanted, LOOKUP_TIMEOUT)
        .map_err(|e| {
            kafka_error(
                e,
                &format!("cannot read the offsets of group `{}`", config.group_id),
            )
        })?;
    let mut assign = TopicPartitionList::new();
    for e in committed.elements() {
        let offset = match e.offset() {
            Offset::Offset(o) if o >= 0 => Offset::Offset(o),
            _ => match config.start_from {
                StartFrom::Earliest => Offset::Beginning,
                StartFrom::Latest => Offset::End,
                StartFrom::Committed => {
                    return Err(PipeError::msg(format!(
                        "group `{}` has no committed offset for {}[{}] (start_from = \"committed\")",
                        config.group_id,
                        e.topic(),
                        e.partition()
                    ))
                    .with_pipe(NAME));
                }
            },
        };
        assign
            .add_partition_offset(e.topic(), e.partition(), offset)
            .map_err(|e| kafka_error(e, "cannot assign"))?;
    }
    consumer
        .assign(&assign)
        .map_err(|e| kafka_error(e, "cannot assign the partitions"))
}

/// Errors of the consumer that librdkafka recovers from by itself (reconnects, leader changes).
fn is_passing(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
        )
    )
}

impl AsyncSource for KafkaSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        NAME.into()
    }

    /// Creates the consumer and subscribes to the topics, or with `assignment = "manual"` assigns their
    /// partitions at the group's committed offsets.
    ///
    /// # Errors
    ///
    /// An invalid librdkafka option, a subscription librdkafka refuses; for a manual assignment, a topic or
    /// partition that does not exist, or a broker that does not answer.
    async fn open(&mut self) -> Result<(), PipeError> {
        if self.consumer.is_some() {
            return Ok(());
        }
        let context = SourceContext {
            group: self.config.group_id.clone(),
        };
        let consumer: StreamConsumer<SourceContext> = self
            .config
            .client_config()
            .create_with_context(context)
            .map_err(|e| kafka_error(e, "cannot create the consumer"))?;
        let consumer = match self.config.assignment {
            Assignment::Group => {
                let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&topics)
                    .map_err(|e| kafka_error(e, "cannot subscribe"))?;
                consumer
            }
            Assignment::Manual => {
                // Metadata and offset look-ups block: off the async workers.
                let config = self.config.clone();
                tokio::task::spawn_blocking(move || {
                    assign_manually(&consumer, &config).map(|()| consumer)
                })
                .await
                .map_err(|e| PipeError::from(e).with_pipe(NAME))??
            }
        };
        self.consumer = Some(consumer);
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        loop {
            if self.config.stop_at_end && !self.at_end.is_empty() && self.all_at_end() {
                return None;
            }
            let consumer = self.consumer.as_ref()?;
            let result = consumer.recv().await;
            let (origin, item) = match result {
                Ok(m) => {
                    self.at_end.remove(&m.partition());
                    let item = self.to_record(&m);
                    let (topic, partition, offset) =
                        (m.topic().to_owned(), m.partition(), m.offset());
                    drop(m);
                    (Some((self.topic_index(&topic), partition, offset)), item)
                }
                Err(KafkaError::PartitionEOF(p)) => {
                    self.at_end.insert(p);
                    continue;
                }
                Err(e) if is_passing(&e) => continue,
                Err(e) => (None, Err(kafka_error(e, "cannot consume"))),
            };
            self.log.push_back(origin);
            return Some(item);
        }
    }

    /// Commits the offsets stored so far (acknowledged records only) and leaves the group.
    ///
    /// # Errors
    ///
    /// The final commit failed; the group resumes at the previous commit (records may be delivered again).
    async fn close(&mut self) -> Result<(), PipeError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        // librdkafka's "commit with no list" commits the stored offsets (never the consumed position, since
        // `enable.auto.offset.store` is off). Leaving the group blocks until done: do it off the async workers.
        let joined = tokio::task::spawn_blocking(move || {
            let result = consumer.commit_consumer_state(CommitMode::Sync);
            drop(consumer);
            result
        })
        .await;
        match joined {
            Err(e) => Err(PipeError::from(e).with_pipe(NAME)),
            Ok(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => Ok(()),
            Ok(Err(e)) => Err(kafka_error(e, "final commit failed")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The number of the record `next` returned last (the source numbers the records it returns).
    fn position(&self) -> Option<Position> {
        Some(Position::from(
            (self.base + self.log.len() as u64).saturating_sub(1),
        ))
    }

    /// Stores, per partition, the highest acknowledged offset plus one; librdkafka commits stored offsets.
    ///
    /// # Errors
    ///
    /// librdkafka refused to store an offset for a partition this consumer still owns.
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        let Some(upto) = upto.get::<u64>() else {
            return Err(
                PipeError::msg("a position of another source was committed").with_pipe(NAME)
            );
        };
        let mut highest: HashMap<(usize, i32), i64> = HashMap::new();
        while self.base <= upto {
            let Some(origin) = self.log.pop_front() else {
                break;
            };
            self.base += 1;
            if let Some((topic, partition, offset)) = origin {
                let e = highest.entry((topic, partition)).or_insert(offset);
                *e = (*e).max(offset);
            }
        }
        let Some(consumer) = &self.consumer else {
            return Ok(());
        };
        let mut first_error = None;
        for ((topic, partition), offset) in highest {
            let name = &self.topics[topic];
            // `store_offset` (librdkafka's `rd_kafka_offset_store`) takes a record's offset and stores
            // offset + 1, the next offset to read.
            match consumer.store_offset(name, partition, offset) {
                Ok(()) => {}
                // The partition was revoked: its new owner resumes at the last commit.
                Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::State) => {}
                Err(e) => {
                    first_error.get_or_insert_with(|| {
                        kafka_error(e, &format!("cannot store offset {name}[{partition}]"))
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    use super::*;

    /// Acknowledgements of records whose partition was taken away (a rebalance) are dropped without error:
    /// the partition's new owner resumes at the last commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledgements_of_revoked_partitions_are_dropped() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        for i in 0..3 {
            let payload = i.to_string();
            producer
                .send(
                    FutureRecord::<(), str>::to("t").payload(&payload),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
        let cfg = KafkaSourceConfig::new(cluster.bootstrap_servers(), ["t"], "g");
        let mut source = KafkaSource::try_from(cfg).unwrap();
        source.open().await.unwrap();
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(30), source.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        source.commit(Position::from(0)).await.unwrap();
        source.consumer.as_ref().unwrap().unassign().unwrap();
        source.commit(Position::from(2)).await.unwrap();
        assert!(source.log.is_empty());
        assert_eq!(source.base, 3);
    }
}

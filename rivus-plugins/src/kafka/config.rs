//! The configuration of [`KafkaSource`](super::KafkaSource) and [`KafkaSink`](super::KafkaSink).

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_commit_interval_ms() -> u64 {
    1_000
}

const fn default_session_timeout_ms() -> u64 {
    10_000
}

const fn default_lag_interval_ms() -> u64 {
    5_000
}

const fn default_linger_ms() -> u64 {
    5
}

const fn default_batch_bytes() -> u64 {
    1_000_000
}

const fn default_delivery_timeout_ms() -> u64 {
    30_000
}

const fn default_max_in_flight() -> usize {
    100_000
}

fn default_prefix() -> String {
    "kafka_".to_owned()
}

/// Where a consumer group starts reading a partition for which it has no committed offset.
///
/// A committed offset always wins: a restarted pipeline resumes where its group's acknowledged work ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest record still in the partition (the default: a new pipeline sees everything).
    #[default]
    Earliest,
    /// Only records produced after the consumer joined.
    Latest,
    /// A committed offset is required; a partition without one is an error (`auto.offset.reset = error`).
    Committed,
}

impl StartFrom {
    fn as_reset(self) -> &'static str {
        match self {
            Self::Earliest => "earliest",
            Self::Latest => "latest",
            Self::Committed => "error",
        }
    }
}

/// How the source gets its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    /// Join the consumer group `group_id` (subscribe): the group shares the topics' partitions between its
    /// members and moves them when a member joins, leaves or dies (the default). A restart waits until the
    /// group lets the old member go (`session_timeout_ms`; some brokers take minutes for a member that was
    /// killed).
    #[default]
    Group,
    /// Read `partitions` (by default every partition of each topic) without joining a group, as Flink's and
    /// Spark's Kafka readers do: start at the offsets committed for `group_id`, and commit acknowledged offsets
    /// for `group_id`, but never become a member. A restart resumes at once, whatever the group coordinator
    /// thinks of an earlier process; nothing moves partitions between processes, so give each process its own
    /// `partitions`, and use a `group_id` that no subscribing consumer uses (Kafka refuses commits from outside
    /// to a group that has members).
    Manual,
}

/// How the source reads a record's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// Bytes: the payload is the record's raw bytes only (the default).
    #[default]
    Raw,
    /// A JSON object: its fields become the record's fields (after the metadata fields), and the raw bytes are
    /// kept too. A payload that is not a JSON object is an error of that record (the error policy decides).
    Json,
}

/// Configuration of [`KafkaSource`](super::KafkaSource): a consumer in a consumer group.
///
/// # Examples
///
/// ```
/// use rivus_plugins::kafka::KafkaSourceConfig;
///
/// let cfg: KafkaSourceConfig = serde_json::from_str(r#"{
///     "brokers": "127.0.0.1:9092", "topics": ["orders"], "group_id": "invoicing", "format": "json"
/// }"#).unwrap();
/// assert_eq!(cfg.commit_interval_ms, 1_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port[,host:port…]` (`bootstrap.servers`).
    pub brokers: String,
    /// The topics to consume.
    pub topics: Vec<String>,
    /// The consumer group (`group.id`). With `assignment = "group"`, processes with one group share the topics'
    /// partitions; with `assignment = "manual"`, the group only keeps the committed offsets.
    pub group_id: String,
    /// How the source gets its partitions: `group` (join the consumer group, the default) or `manual` (assign
    /// `partitions` explicitly and commit for the group without joining it).
    #[serde(default)]
    pub assignment: Assignment,
    /// With `assignment = "manual"`: the partition numbers to read, in every topic. Default: all of them.
    #[serde(default)]
    pub partitions: Option<Vec<i32>>,
    /// Where to start in a partition the group has no committed offset for. Default: `earliest`.
    #[serde(default)]
    pub start_from: StartFrom,
    /// How to read payloads. Default: `raw`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Prefix of the metadata fields `key`, `topic`, `partition`, `offset`, `timestamp` (milliseconds since the
    /// Unix epoch, or null) and `headers` (an object). Default: `"kafka_"` (so `kafka_key`, …), which keeps them
    /// apart from the fields of a JSON payload.
    #[serde(default = "default_prefix")]
    pub metadata_prefix: String,
    /// How often acknowledged offsets are committed to the group, in milliseconds (`auto.commit.interval.ms`;
    /// only offsets the runtime acknowledged are ever committed). They are also committed when partitions are
    /// revoked in a rebalance and when the source closes. Default: 1000.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// How long the group waits for a silent member before giving its partitions to others, in milliseconds
    /// (`session.timeout.ms`). Default: 10000.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
    /// End the source once every assigned partition is read to its end, instead of waiting for new records.
    /// For backfills, tests and benchmarks; end-of-partition is tracked by partition number, so it is exact
    /// with one topic. Default: `false`.
    #[serde(default)]
    pub stop_at_end: bool,
    /// How often consumer lag is published as the gauge `rivus_kafka_consumer_lag{topic, partition}`, in
    /// milliseconds (`statistics.interval.ms`); 0 turns it off. Default: 5000.
    #[serde(default = "default_lag_interval_ms")]
    pub lag_interval_ms: u64,
    /// Further librdkafka options, passed through as they are (e.g. `"fetch.min.bytes" = "1"`). They override
    /// the settings above, except `enable.auto.offset.store`, which the source needs off.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl KafkaSourceConfig {
    /// A configuration with the defaults, for `brokers`, `topics` and `group_id`.
    pub fn new(
        brokers: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
        group_id: impl Into<String>,
    ) -> Self {
        Self {
            brokers: brokers.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            group_id: group_id.into(),
            assignment: Assignment::default(),
            partitions: None,
            start_from: StartFrom::default(),
            format: PayloadFormat::default(),
            metadata_prefix: default_prefix(),
            commit_interval_ms: default_commit_interval_ms(),
            session_timeout_ms: default_session_timeout_ms(),
            stop_at_end: false,
            lag_interval_ms: default_lag_interval_ms(),
            options: BTreeMap::new(),
        }
    }

    /// The librdkafka configuration.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                self.commit_interval_ms.max(1).to_string(),
            )
            .set("auto.offset.reset", self.start_from.as_reset())
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.partition.eof", self.stop_at_end.to_string())
            .set("statistics.interval.ms", self.lag_interval_ms.to_string());
        for (k, v) in &self.options {
            c.set(k, v);
        }
        // Offsets are stored by `commit` only, for records the runtime acknowledged.
        c.set("enable.auto.offset.store", "false");
        c
    }
}

/// Compression of produced batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// None (the default).
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (note: the `tansu` broker used by the tests cannot read snappy batches back).
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Which brokers must have a record before its delivery succeeds (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// Every in-sync replica (the default; with idempotence this keeps order on retries).
    #[default]
    All,
    /// The partition leader only.
    Leader,
    /// No acknowledgement: a delivery "succeeds" once sent.
    None,
}

impl Acks {
    fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Leader => "1",
            Self::None => "0",
        }
    }
}

/// Configuration of [`KafkaSink`](super::KafkaSink): a producer.
///
/// # Examples
///
/// ```
/// use rivus_plugins::kafka::{Compression, KafkaSinkConfig};
///
/// let cfg: KafkaSinkConfig = serde_json::from_str(r#"{
///     "brokers": "127.0.0.1:9092", "topic": "invoices", "key_field": "customer", "compression": "zstd"
/// }"#).unwrap();
/// assert_eq!(cfg.compression, Compression::Zstd);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, `host:port[,host:port…]` (`bootstrap.servers`).
    pub brokers: String,
    /// The topic to write to, unless `topic_field` names one per record. One of the two is required.
    #[serde(default)]
    pub topic: Option<String>,
    /// A field holding each record's topic (a string); records without it go to `topic`. Default: none.
    #[serde(default)]
    pub topic_field: Option<String>,
    /// A field holding each record's key (a string is sent as its UTF-8 bytes, any other value as JSON).
    /// Default: none (no key: the partitioner spreads records).
    #[serde(default)]
    pub key_field: Option<String>,
    /// A field holding each record's headers: an object whose values are strings (other values are sent as
    /// JSON; null as a header without value). Default: none.
    #[serde(default)]
    pub headers_field: Option<String>,
    /// Which brokers must have a record before it counts as delivered. Default: `all`.
    #[serde(default)]
    pub acks: Acks,
    /// Compression of batches. Default: `none`.
    #[serde(default)]
    pub compression: Compression,
    /// How long to wait for more records before sending a batch, in milliseconds (`linger.ms`). Default: 5.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// The largest batch in bytes (`batch.size`). Default: 1000000.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u64,
    /// How long librdkafka may retry a record before its delivery fails, in milliseconds
    /// (`delivery.timeout.ms`; retriable broker errors are retried within it). Default: 30000.
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// The most records sent but not yet confirmed; `write` waits for the oldest once it is reached.
    /// Default: 100000.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Further librdkafka options, passed through as they are; they override the settings above.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl KafkaSinkConfig {
    /// A configuration with the defaults that writes every record to `topic`.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: Some(topic.into()),
            topic_field: None,
            key_field: None,
            headers_field: None,
            acks: Acks::default(),
            compression: Compression::default(),
            linger_ms: default_linger_ms(),
            batch_bytes: default_batch_bytes(),
            delivery_timeout_ms: default_delivery_timeout_ms(),
            max_in_flight: default_max_in_flight(),
            options: BTreeMap::new(),
        }
    }

    /// The librdkafka configuration.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("acks", self.acks.as_str())
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("delivery.timeout.ms", self.delivery_timeout_ms.to_string());
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }
}

//! Kafka (feature `kafka`): [`KafkaSource`], a consumer-group member that commits only acknowledged offsets,
//! and [`KafkaSink`], a producer whose items count as written once their delivery reports succeed.
//!
//! Both use [rdkafka](https://docs.rs/rdkafka) on a bundled librdkafka. The source gives
//! [positions](rivus_core::ack), so any pipeline that runs it commits only what reached an end (at least once):
//!
//! ```no_run
//! use rivus_core::prelude::*;
//! use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
//! use rivus_plugins::kafka::{KafkaSource, KafkaSourceConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = KafkaSource::try_from(KafkaSourceConfig::new("127.0.0.1:9092", ["orders"], "archive"))?;
//! let sink = JsonlSink::new(JsonlSinkConfig { append: true, ..JsonlSinkConfig::new("orders.jsonl") });
//! Pipeline::from_source(source).sink(sink).shutdown_on_signals().run().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Scaling out: several processes with one `group_id` share the topics' partitions; when one stops or dies,
//! Kafka gives its partitions to the others, which resume at the last commit of acknowledged work.

mod config;
mod sink;
mod source;

use std::time::{Duration, SystemTime};

use rdkafka::error::KafkaError;
use rivus_core::PipeError;
use rivus_core::value::Record;

pub use config::{
    Acks, Assignment, Compression, KafkaSinkConfig, KafkaSourceConfig, PayloadFormat, StartFrom,
};
pub use sink::KafkaSink;
pub use source::KafkaSource;

/// The plugin name of the source and the sink.
const NAME: &str = "kafka";

/// A librdkafka error as a [`PipeError`]: transient unless librdkafka says it is fatal.
fn kafka_error(e: KafkaError, what: &str) -> PipeError {
    let fatal = e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Fatal)
        || matches!(
            e,
            KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..)
        );
    let message = format!("{what}: {e}");
    if fatal {
        PipeError::permanent(NAME, message)
    } else {
        PipeError::transient(NAME, message)
    }
}

/// The event time of a record read by [`KafkaSource`]: its `timestamp` field (milliseconds since the Unix epoch)
/// under `field` (`"kafka_timestamp"` with the default prefix); the Unix epoch when it has none. Pass it to
/// [`Windows::event_time`](rivus_core::window::Windows::event_time).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rivus_core::value::Record;
///
/// let r: Record = [("kafka_timestamp", 1_500)].into_iter().collect();
/// let at = rivus_plugins::kafka::event_time("kafka_timestamp");
/// assert_eq!(at(&r), SystemTime::UNIX_EPOCH + Duration::from_millis(1_500));
/// ```
pub fn event_time(field: &str) -> impl Fn(&Record) -> SystemTime + Send + Sync + 'static {
    let field = field.to_owned();
    move |r: &Record| {
        let ms = r.get(&field).and_then(rivus_core::value::Value::as_u64);
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms.unwrap_or(0))
    }
}

/// Failure paths and commit bookkeeping against librdkafka's mock cluster (in-process, no broker needed). The
/// behaviour against a real broker is tested in `tests/kafka`.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    use rivus_core::ack::Position;
    use rivus_core::value::{Record, Value};
    use rivus_core::{AsyncSink, AsyncSource};

    use super::*;

    fn record(i: u64) -> Record {
        [("id", Value::from(i))].into_iter().collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sink_reports_failed_deliveries_in_flush() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        let mut cfg = KafkaSinkConfig::new(cluster.bootstrap_servers(), "t");
        cfg.key_field = Some("id".into());
        cfg.delivery_timeout_ms = 2_000;
        let mut sink = KafkaSink::try_from(cfg).unwrap();
        sink.open().await.unwrap();
        for i in 0..3 {
            sink.write(record(i)).await.unwrap();
        }
        sink.flush().await.unwrap();

        // A permanent broker error on every produce request: the next flush names it, and how many failed.
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 20],
        );
        sink.write(record(3)).await.unwrap();
        sink.write(record(4)).await.unwrap();
        let err = sink.flush().await.unwrap_err();
        assert_eq!(err.pipe(), "kafka");
        assert!(!err.is_transient(), "{err}");
        assert!(
            err.to_string().contains("2 of 2 records not delivered"),
            "{err}"
        );
        cluster.clear_request_errors(RDKafkaApiKey::Produce);
        sink.write(record(5)).await.unwrap();
        sink.flush().await.unwrap();
        sink.close().await.unwrap();
    }

    #[test]
    fn sink_needs_a_topic() {
        let mut cfg = KafkaSinkConfig::new("127.0.0.1:1", "t");
        cfg.topic = None;
        assert!(KafkaSink::try_from(cfg).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn source_commits_the_acknowledged_offsets_per_partition() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 2, 1).unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        for i in 0..10i32 {
            let payload = format!("{{\"i\":{i}}}");
            producer
                .send(
                    FutureRecord::<(), str>::to("t")
                        .partition(i % 2)
                        .payload(&payload),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
        let mut cfg = KafkaSourceConfig::new(cluster.bootstrap_servers(), ["t"], "g");
        cfg.format = PayloadFormat::Json;
        cfg.commit_interval_ms = 60_000; // only `close` commits
        let mut source = KafkaSource::try_from(cfg).unwrap();
        source.open().await.unwrap();
        let mut seen = Vec::new();
        for n in 0..10 {
            let r = tokio::time::timeout(Duration::from_secs(30), source.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(source.position().and_then(|p| p.get::<u64>()), Some(n));
            let p = r.get("kafka_partition").and_then(Value::as_i64).unwrap();
            let o = r.get("kafka_offset").and_then(Value::as_i64).unwrap();
            assert_eq!(r.get("i").and_then(Value::as_i64), Some(2 * o + p));
            assert!(r.raw().is_some());
            seen.push((p, o));
        }
        // Acknowledge the first 6 items: per partition, the highest offset among them, plus one.
        source.commit(Position::from(5)).await.unwrap();
        let mut expect = [0i64; 2];
        for (p, o) in &seen[..6] {
            expect[*p as usize] = expect[*p as usize].max(o + 1);
        }
        source.close().await.unwrap();

        let check: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "g")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        tpl.add_partition("t", 1);
        let got = check
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        for p in 0..2 {
            let committed = got.find_partition("t", p).map(|e| e.offset());
            let want = if expect[p as usize] == 0 {
                Offset::Invalid
            } else {
                Offset::Offset(expect[p as usize])
            };
            assert_eq!(committed, Some(want), "partition {p}");
        }
    }
}

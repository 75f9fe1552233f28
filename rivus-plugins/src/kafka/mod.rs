//! Kafka (feature `kafka`): [`KafkaSource`], a consumer-group member that commits only acknowledged offsets,
//! and [`KafkaSink`], a producer whose items count as written once their delivery reports succeed.
//!
//! Both use [rdkafka](https://docs.rs/rdkafka) on a bundled librdkafka. Run the source with
//! [`Pipeline::from_acked_source`](rivus_core::stream::Pipeline::from_acked_source) for at-least-once delivery:
//!
//! ```no_run
//! use rivus_core::prelude::*;
//! use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
//! use rivus_plugins::kafka::{KafkaSource, KafkaSourceConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let source = KafkaSource::try_from(KafkaSourceConfig::new("127.0.0.1:9092", ["orders"], "archive"))?;
//! let sink = JsonlSink::new(JsonlSinkConfig { path: "orders.jsonl".into(), append: true });
//! Pipeline::from_acked_source(source).sink(sink).shutdown_on_signals().run().await?;
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

pub use config::{Acks, Compression, KafkaSinkConfig, KafkaSourceConfig, PayloadFormat, StartFrom};
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

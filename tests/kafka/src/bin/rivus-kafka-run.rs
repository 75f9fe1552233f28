//! A pipeline process for the scale-out test (a stand-in for `rivus run` with a Kafka → JSON lines file):
//!
//! ```text
//! rivus-kafka-run BROKERS TOPIC GROUP OUT.jsonl
//! ```
//!
//! Consumes `TOPIC` as a member of `GROUP` (JSON payloads), appends every record to `OUT.jsonl`, and stops on
//! Ctrl-C or SIGTERM (draining, flushing and committing); a SIGKILL leaves the last commit behind.

use std::process::ExitCode;

use rivus_core::prelude::*;
use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
use rivus_plugins::kafka::{KafkaSource, KafkaSourceConfig, PayloadFormat};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, topic, group, out] = args.as_slice() else {
        eprintln!("usage: rivus-kafka-run BROKERS TOPIC GROUP OUT.jsonl");
        return ExitCode::from(2);
    };
    let mut cfg = KafkaSourceConfig::new(brokers.as_str(), [topic.as_str()], group.as_str());
    cfg.format = PayloadFormat::Json;
    cfg.session_timeout_ms = 6_000;
    cfg.commit_interval_ms = 200;
    let source = match KafkaSource::try_from(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let sink = JsonlSink::new(JsonlSinkConfig {
        path: out.into(),
        append: true,
    });
    match Pipeline::from_acked_source(source)
        .sink(sink)
        .shutdown_on_signals()
        .run()
        .await
    {
        Ok(report) => {
            eprintln!("done: {} records", report.items_read());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

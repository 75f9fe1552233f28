//! Consumer lag as the gauge `rivus_kafka_consumer_lag{group, topic, partition}` (its own test binary: it
//! installs the global `metrics` recorder).

#![allow(clippy::unwrap_used, reason = "test helpers fail the test on error")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use rivus_core::prelude::*;
use rivus_core::value::Record;
use rivus_kafka_tests::{Broker, python, unique};
use rivus_plugins::kafka::{KafkaSource, KafkaSourceConfig};

/// A gauge that keeps its last value (as f64 bits).
#[derive(Default)]
struct Cell(AtomicU64);

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + value);
    }
    fn decrement(&self, value: f64) {
        self.increment(-value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// Keeps every gauge by its name and labels.
#[derive(Default, Clone)]
struct Gauges(Arc<Mutex<HashMap<String, Arc<Cell>>>>);

impl Gauges {
    fn get(&self, name: &str) -> Option<f64> {
        let map = self.0.lock().unwrap();
        map.get(name)
            .map(|c| f64::from_bits(c.0.load(Ordering::Relaxed)))
    }
}

impl Recorder for Gauges {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut name = key.name().to_owned();
        for label in key.labels() {
            name.push_str(&format!(",{}={}", label.key(), label.value()));
        }
        let cell = self.0.lock().unwrap().entry(name).or_default().clone();
        Gauge::from_arc(cell)
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// A slow sink: 30 ms per record, so the group's commits trail the topic's end for a few seconds.
struct Slow;

impl AsyncSink for Slow {
    type In = Record;
    async fn write(&mut self, _: Record) -> Result<(), PipeError> {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_lag_is_a_gauge_per_partition() {
    let gauges = Gauges::default();
    metrics::set_global_recorder(gauges.clone()).unwrap();
    let broker = Broker::start();
    let topic = unique("lag");
    broker.create_topic(&topic, 1).await;
    python(&[
        "produce",
        "--brokers",
        broker.bootstrap(),
        "--topic",
        &topic,
        "--count",
        "100",
    ]);
    let group = unique("group");
    let mut cfg = KafkaSourceConfig::new(broker.bootstrap(), [topic.as_str()], group.as_str());
    cfg.lag_interval_ms = 100;
    cfg.commit_interval_ms = 100;
    cfg.stop_at_end = true;
    let pipeline = Pipeline::from_source(KafkaSource::try_from(cfg).unwrap())
        .with_config(
            StreamConfig::default()
                .with_buffer_size(4)
                .with_chunk_size(2),
        )
        .sink(Slow);
    let run = tokio::spawn(pipeline.run());
    let name = format!("rivus_kafka_consumer_lag,group={group},topic={topic},partition=0");
    // librdkafka's statistics (every 100 ms here) carry the lag: high watermark - committed offset. It is
    // published while the source polls the consumer, i.e. while records flow.
    let mut seen = Vec::new();
    while !run.is_finished() {
        if let Some(lag) = gauges.get(&name) {
            seen.push(lag);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.await.unwrap().unwrap();
    let known: Vec<String> = gauges.0.lock().unwrap().keys().cloned().collect();
    assert!(!seen.is_empty(), "no gauge {name} (gauges: {known:?})");
    let max = seen.iter().copied().fold(0.0, f64::max);
    assert!(
        (50.0..=100.0).contains(&max),
        "the lag never showed the backlog: {seen:?}"
    );
    assert!(seen.iter().all(|l| (0.0..=100.0).contains(l)), "{seen:?}");
    assert!(
        seen.last() < Some(&max),
        "the lag went down as records were committed: {seen:?}"
    );
    assert_eq!(broker.committed(&group, &topic, 1)[0], Some(100));
}

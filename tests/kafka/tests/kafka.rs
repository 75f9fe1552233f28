//! The Kafka source and sink against a real broker (tansu, or `RIVUS_TEST_KAFKA`), checked with a client that
//! is not ours (Python `confluent-kafka`). The acceptance tests of issue 7.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test on error")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rivus_core::prelude::*;
use rivus_core::value::{Record, Value};
use rivus_kafka_tests::{Broker, python, read_jsonl, unique};
use rivus_plugins::csv::{CsvSource, CsvSourceConfig};
use rivus_plugins::field_type::FieldType;
use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
use rivus_plugins::kafka::{
    Compression, KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig, PayloadFormat,
};
use serde_json::Value as Json;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn produce(broker: &Broker, topic: &str, count: u64) {
    let out = python(&[
        "produce",
        "--brokers",
        broker.bootstrap(),
        "--topic",
        topic,
        "--count",
        &count.to_string(),
    ]);
    assert!(out.contains(&format!("\"produced\": {count}")), "{out}");
}

fn produce_from(broker: &Broker, topic: &str, start: u64, count: u64) {
    let out = python(&[
        "produce",
        "--brokers",
        broker.bootstrap(),
        "--topic",
        topic,
        "--start",
        &start.to_string(),
        "--count",
        &count.to_string(),
    ]);
    assert!(out.contains("\"produced\""), "{out}");
}

fn source_config(broker: &Broker, topic: &str, group: &str) -> KafkaSourceConfig {
    let mut cfg = KafkaSourceConfig::new(broker.bootstrap(), [topic], group);
    cfg.format = PayloadFormat::Json;
    cfg.commit_interval_ms = 100;
    cfg
}

fn int(v: &Json, field: &str) -> i64 {
    v.get(field)
        .and_then(Json::as_i64)
        .unwrap_or_else(|| panic!("no integer {field} in {v}"))
}

/// Acceptance 1: 10,000 records produced by confluent-kafka, consumed into a JSON lines file: all present, in
/// order per partition; afterwards the group's commits stand at the end of every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_reads_python_records_into_a_file_in_order_per_partition() {
    let broker = Broker::start();
    let topic = unique("source");
    broker.create_topic(&topic, 4).await;
    produce(&broker, &topic, 10_000);

    let dir = temp_dir("source");
    let out = dir.join("out.jsonl");
    let group = unique("group");
    let mut cfg = source_config(&broker, &topic, &group);
    cfg.stop_at_end = true;
    let source = KafkaSource::try_from(cfg).unwrap();
    let sink = JsonlSink::new(JsonlSinkConfig::new(&out));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        Pipeline::from_source(source).sink(sink).run(),
    )
    .await
    .expect("the source did not reach the end of the topic in 120 s")
    .unwrap();
    assert_eq!(report.items_read(), 10_000);

    let rows = read_jsonl(&out);
    assert_eq!(rows.len(), 10_000);
    let ns: BTreeSet<i64> = rows.iter().map(|r| int(r, "n")).collect();
    assert_eq!(
        ns,
        (0..10_000).collect::<BTreeSet<_>>(),
        "every record once"
    );
    let mut per_partition: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r["kafka_topic"], Json::from(topic.as_str()));
        assert_eq!(r["kafka_key"], r["key"], "key field: {r}");
        assert!(r["kafka_timestamp"].as_i64().is_some_and(|t| t > 0), "{r}");
        per_partition
            .entry(int(r, "kafka_partition"))
            .or_default()
            .push((int(r, "kafka_offset"), int(r, "n")));
    }
    assert_eq!(per_partition.len(), 4, "keys spread over the 4 partitions");
    for (p, items) in &per_partition {
        for w in items.windows(2) {
            assert!(
                w[0].0 < w[1].0 && w[0].1 < w[1].1,
                "partition {p} out of order: {:?} then {:?}",
                w[0],
                w[1]
            );
        }
    }
    // Everything was acknowledged, so the group's commits stand at the end of every partition.
    let committed = broker.committed(&group, &topic, 4);
    for (p, items) in &per_partition {
        let end = items.last().map(|(o, _)| o + 1);
        assert_eq!(committed[*p as usize], end, "commit of partition {p}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A sink that keeps the offsets it is given and stalls for ever on the record at offset `stall_at`.
struct StallingSink {
    seen: Arc<Mutex<Vec<i64>>>,
    stall_at: Option<i64>,
    stalled: Arc<tokio::sync::Notify>,
}

impl AsyncSink for StallingSink {
    type In = Record;
    async fn write(&mut self, r: Record) -> Result<(), PipeError> {
        let offset = r
            .get("kafka_offset")
            .and_then(Value::as_i64)
            .ok_or_else(|| PipeError::msg("no offset"))?;
        if Some(offset) == self.stall_at {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        self.seen.lock().unwrap().push(offset);
        Ok(())
    }
}

/// Acceptance 2: a sink stalls on record k; the pipeline is killed (aborted); the group's commit is ≤ k; a
/// restarted pipeline delivers k and everything after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_only_acknowledged_offsets_and_a_restart_resumes_at_the_stalled_record() {
    const N: i64 = 2_000;
    const K: i64 = 1_234;
    let broker = Broker::start();
    let topic = unique("commit");
    broker.create_topic(&topic, 1).await;
    produce(&broker, &topic, N as u64);
    let group = unique("group");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let stalled = Arc::new(tokio::sync::Notify::new());
    let sink = StallingSink {
        seen: seen.clone(),
        stall_at: Some(K),
        stalled: stalled.clone(),
    };
    let abort = tokio_util::sync::CancellationToken::new();
    let source = KafkaSource::try_from(source_config(&broker, &topic, &group)).unwrap();
    let run = tokio::spawn(
        Pipeline::from_source(source)
            // small flushes, so that acknowledgements (and commits) follow the sink closely
            .with_config(
                StreamConfig::default()
                    .with_buffer_size(16)
                    .with_chunk_size(8),
            )
            .sink(sink)
            .abort_on(abort.clone())
            .run(),
    );
    tokio::time::timeout(Duration::from_secs(60), stalled.notified())
        .await
        .expect("the sink never saw record k");
    // Let the periodic commit (100 ms) run a few times while the sink is stuck.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        K as usize,
        "offsets 0..k written"
    );
    abort.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("abort did not stop the pipeline")
        .unwrap();
    assert!(
        matches!(result, Err(PipelineError::Aborted { .. })),
        "{result:?}"
    );

    let committed = broker.committed(&group, &topic, 1)[0].expect("something was committed");
    eprintln!("sink stalled at offset {K}; the group's commit: {committed}");
    assert!(
        committed <= K,
        "committed {committed} past the stalled record {K}"
    );
    assert!(committed > 0, "acknowledged records were committed");

    // Restart: delivers k and everything after it.
    let again = sink::collect::<Record>();
    let mut cfg = source_config(&broker, &topic, &group);
    cfg.stop_at_end = true;
    let source = KafkaSource::try_from(cfg).unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        Pipeline::from_source(source).sink(again.clone()).run(),
    )
    .await
    .expect("the restarted pipeline did not finish")
    .unwrap();
    let offsets: Vec<i64> = again
        .take()
        .iter()
        .map(|r| r.get("kafka_offset").and_then(Value::as_i64).unwrap())
        .collect();
    assert_eq!(offsets.first(), Some(&committed), "resumes at the commit");
    assert_eq!(
        offsets,
        (committed..N).collect::<Vec<_>>(),
        "k and everything after it"
    );
    assert_eq!(broker.committed(&group, &topic, 1)[0], Some(N));
}

/// Acceptance 3: 100,000 CSV records written to Kafka, counted and read back by confluent-kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_writes_csv_records_that_python_reads_back() {
    const N: u64 = 100_000;
    let broker = Broker::start();
    let topic = unique("sink");
    broker.create_topic(&topic, 4).await;
    let dir = temp_dir("sink");
    let csv = dir.join("in.csv");
    let mut text = String::from("id,name,amount\n");
    for i in 0..N {
        text.push_str(&format!("{i},customer {i},{}.5\n", i % 1000));
    }
    std::fs::write(&csv, text).unwrap();
    let mut csv_cfg = CsvSourceConfig::new(&csv);
    csv_cfg.types.insert("id".into(), FieldType::Int);
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap(), topic.as_str());
    cfg.key_field = Some("id".into());
    cfg.compression = Compression::Lz4;
    let sink = KafkaSink::try_from(cfg).unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(300),
        Pipeline::from_source(CsvSource::new(csv_cfg))
            .sink(sink)
            .run(),
    )
    .await
    .expect("the sink did not finish in 300 s")
    .unwrap();
    assert_eq!(report.items_written(), N);

    let out = python(&[
        "read",
        "--brokers",
        broker.bootstrap(),
        "--topic",
        &topic,
        "--expect",
        &N.to_string(),
        "--id-field",
        "id",
        "--timeout",
        "30",
    ]);
    let summary: Json = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["count"], Json::from(N), "{summary}");
    assert_eq!(summary["distinct"], Json::from(N), "{summary}");
    assert_eq!(summary["missing"], Json::Array(vec![]), "{summary}");
    assert_eq!(
        summary["partitions"].as_object().map(|o| o.len()),
        Some(4),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn records(n: u64) -> Vec<Record> {
    (0..n)
        .map(|i| [("id", Value::from(i))].into_iter().collect())
        .collect()
}

/// Acceptance 3: a delivery failure (unknown topic, no auto-creation) fails the run with the broker's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_delivery_to_an_unknown_topic_fails_the_run() {
    let broker = Broker::start();
    let topic = unique("nowhere");
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap(), topic.as_str());
    cfg.delivery_timeout_ms = 5_000;
    cfg.options
        .insert("topic.metadata.propagation.max.ms".into(), "1000".into());
    let sink = KafkaSink::try_from(cfg).unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        Pipeline::from_iter(records(10)).sink(sink).run(),
    )
    .await
    .expect("a failed delivery must not hang the run");
    let err = result.expect_err("a failed delivery must not pass silently");
    let pipe_error = err.pipe_error().expect("a pipe error");
    assert_eq!(pipe_error.pipe(), "kafka");
    let text = pipe_error.to_string();
    assert!(
        text.contains("not delivered") && text.contains(&topic),
        "{text}"
    );
    // Nothing reached the broker: nothing is written, and the ledger says where every record ended.
    let report = err.report().expect("a report");
    assert_eq!(report.items_written(), 0);
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.failed + ledger.not_processed, 10, "{ledger:?}");
}

/// Acceptance 3: with the broker stopped, deliveries time out and the run fails with a transient error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_delivery_with_the_broker_stopped_fails_the_run() {
    let mut broker = Broker::start();
    if !broker.is_ours() {
        eprintln!("RIVUS_TEST_KAFKA is set: starting a broker of our own to stop it");
    }
    let topic = unique("stopped");
    broker.create_topic(&topic, 1).await;
    broker.stop();
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap(), topic.as_str());
    cfg.delivery_timeout_ms = 3_000;
    let sink = KafkaSink::try_from(cfg).unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        Pipeline::from_iter(records(5)).sink(sink).run(),
    )
    .await
    .expect("a failed delivery must not hang the run");
    let err = result.expect_err("a failed delivery must not pass silently");
    let pipe_error = err.pipe_error().expect("a pipe error");
    assert!(pipe_error.is_transient(), "{pipe_error}");
    assert!(pipe_error.to_string().contains("5 of 5"), "{pipe_error}");
}

/// Reads a JSON lines file written by a process that may have been killed mid-line.
fn read_lines_tolerant(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `rivus` binary of this build (`target/<profile>/rivus`), which `cargo test --workspace --all-features`
/// builds with its `kafka` feature before any test runs.
fn rivus_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/rivus
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("rivus{}", std::env::consts::EXE_SUFFIX)))
        .unwrap();
    let has_kafka = Command::new(&bin)
        .args(["describe", "kafka", "--kind", "async-source"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_kafka,
        "{} is missing or was built without Kafka: run the tests with `cargo test --workspace --all-features`, or \
         first `cargo build -p rivus-cli --features kafka`",
        bin.display()
    );
    bin
}

/// `rivus run` on a pipeline file: Kafka (JSON payloads, one consumer group) -> a JSON lines file.
fn spawn_member(broker: &Broker, topic: &str, group: &str, out: &Path) -> Child {
    let file = out.with_extension("toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"{group}\"\n\
             format = \"json\"\nsession_timeout_ms = 6000\ncommit_interval_ms = 200\n\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            broker.bootstrap(),
            out.display()
        ),
    )
    .unwrap();
    Command::new(rivus_binary())
        .args(["run", "--quiet"])
        .arg(&file)
        .spawn()
        .unwrap()
}

/// Acceptance 4: two `rivus run` processes in one consumer group share a 4-partition topic; one is SIGKILLed
/// mid-run; the survivor takes over its partitions; the union of the outputs holds every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_group_and_the_survivor_takes_over_after_a_sigkill() {
    const BATCH: u64 = 500;
    let broker = Broker::start();
    let topic = unique("scale");
    broker.create_topic(&topic, 4).await;
    let group = unique("group");
    let dir = temp_dir("scale");
    let (out_a, out_b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let mut a = spawn_member(&broker, &topic, &group, &out_a);
    let mut b = spawn_member(&broker, &topic, &group, &out_b);

    // Produce in batches until both members have written records (both hold partitions).
    let mut produced = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        produce_from(&broker, &topic, produced, BATCH);
        produced += BATCH;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !read_lines_tolerant(&out_a).is_empty() && !read_lines_tolerant(&out_b).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the two members never shared the topic"
        );
    }
    let partitions_of = |rows: &[Json]| -> BTreeSet<i64> {
        rows.iter().map(|r| int(r, "kafka_partition")).collect()
    };
    let a_before = partitions_of(&read_lines_tolerant(&out_a));
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let b_lines_at_kill = read_lines_tolerant(&out_b).len();

    // More records while the group notices the death and rebalances.
    for _ in 0..4 {
        produce_from(&broker, &topic, produced, BATCH);
        produced += BATCH;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let mut ids: BTreeSet<i64> = read_lines_tolerant(&out_a)
            .iter()
            .map(|r| int(r, "n"))
            .collect();
        ids.extend(read_lines_tolerant(&out_b).iter().map(|r| int(r, "n")));
        let missing: Vec<u64> = (0..produced)
            .filter(|n| !ids.contains(&(*n as i64)))
            .take(10)
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let status = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = b.wait().unwrap();
    assert!(
        missing.is_empty(),
        "records in neither output, e.g. {missing:?}"
    );
    // SIGTERM drains and exits with the code of an interrupted run (130): a clean stop, not a failure.
    assert_eq!(
        exit.code(),
        Some(130),
        "the survivor did not shut down cleanly: {exit}"
    );
    let b_after: BTreeSet<i64> = partitions_of(&read_lines_tolerant(&out_b)[b_lines_at_kill..]);
    eprintln!(
        "produced {produced}; killed member had {} records of partitions {a_before:?}; survivor {} records, \
         {} after the kill, of partitions {b_after:?}",
        read_lines_tolerant(&out_a).len(),
        read_lines_tolerant(&out_b).len(),
        read_lines_tolerant(&out_b).len() - b_lines_at_kill,
    );
    for p in a_before {
        assert!(
            b_after.contains(&p),
            "the survivor never read partition {p} of the killed member"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// An example pipeline file of `examples/pipelines`, with `${VAR}`s taken from `env`.
fn pipeline_file(name: &str, env: &[(&str, String)]) -> rivus_core::spec::PipelineFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/pipelines")
        .join(name);
    let text = rivus_core::spec::SourceText::read(&path).unwrap();
    let lookup = |var: &str| env.iter().find(|(k, _)| *k == var).map(|(_, v)| v.clone());
    rivus_core::spec::PipelineFile::parse(&path, text, &lookup).unwrap()
}

/// A plugin table's options as the plugin's configuration type.
fn options<T: serde::de::DeserializeOwned>(table: &rivus_core::spec::PluginTable) -> T {
    toml::Value::Table(table.options.clone())
        .try_into()
        .unwrap_or_else(|e| panic!("options of `{}`: {e}", table.plugin))
}

/// Issue 7, item 4: the example pipeline files, CSV → Kafka and Kafka → filter → select → JSON lines, built
/// from their tables (as the registry will, by plugin name) and run against the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_pipeline_files_csv_to_kafka_and_kafka_to_jsonl() {
    use rivus_plugins::transform::{Filter, FilterOptions, Select, SelectConfig};
    let broker = Broker::start();
    let topic = unique("orders");
    broker.create_topic(&topic, 4).await;
    let out_dir = temp_dir("pipelines");
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    let env = [
        ("KAFKA", broker.bootstrap().to_owned()),
        ("TOPIC", topic.clone()),
        ("GROUP", unique("archive")),
        ("DATA_DIR", data_dir.display().to_string()),
        ("OUT_DIR", out_dir.display().to_string()),
    ];

    let file = pipeline_file("csv_to_kafka.toml", &env);
    assert_eq!(
        (
            file.doc.source.as_ref().unwrap().plugin.as_str(),
            file.doc.sinks[0].plugin.as_str()
        ),
        ("csv", "kafka")
    );
    let runtime: StreamConfig = toml::Value::Table(file.doc.pipeline.runtime.clone())
        .try_into()
        .unwrap();
    let csv_cfg = options::<CsvSourceConfig>(file.doc.source.as_ref().unwrap());
    let sink = KafkaSink::try_from(options::<KafkaSinkConfig>(&file.doc.sinks[0])).unwrap();
    let report = Pipeline::from_source(CsvSource::new(csv_cfg.clone()))
        .with_config(runtime.clone())
        .sink(sink)
        .run()
        .await
        .unwrap();
    let good_rows = report.items_written();
    assert_eq!(good_rows + report.skipped(), 5_000, "{report:?}");

    let file = pipeline_file("kafka_to_jsonl.toml", &env);
    let plugins: Vec<&str> = file
        .doc
        .transforms
        .iter()
        .map(|t| t.plugin.as_str())
        .collect();
    assert_eq!(plugins, ["filter", "select"]);
    let source = KafkaSource::try_from(options::<KafkaSourceConfig>(
        file.doc.source.as_ref().unwrap(),
    ))
    .unwrap();
    let filter = Filter::try_from(options::<FilterOptions>(&file.doc.transforms[0])).unwrap();
    // What the file should hold: the paid orders among the good rows.
    let paid_rows = sink::collect::<Record>();
    Pipeline::from_source(CsvSource::new(csv_cfg))
        .with_config(runtime)
        .pipe(filter.clone())
        .sink(paid_rows.clone())
        .run()
        .await
        .unwrap();
    let paid = paid_rows.take().len();
    assert!(paid > 1_000, "{paid}");
    let select = Select::from(options::<SelectConfig>(&file.doc.transforms[1]));
    let sink = JsonlSink::new(options::<JsonlSinkConfig>(&file.doc.sinks[0]));
    tokio::time::timeout(
        Duration::from_secs(120),
        Pipeline::from_source(source)
            .pipe(filter)
            .pipe(select)
            .sink(sink)
            .run(),
    )
    .await
    .expect("the backfill did not finish")
    .unwrap();
    let rows = read_jsonl(&out_dir.join("paid-orders.jsonl"));
    assert_eq!(rows.len(), paid);
    let ids: BTreeSet<i64> = rows.iter().map(|r| int(r, "order_id")).collect();
    assert_eq!(ids.len(), paid, "each paid order once");
    let fields: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(fields.len(), 6, "{fields:?}");
    let _ = std::fs::remove_dir_all(out_dir);
}

/// The sink's topic, key and header fields and raw payloads, read back by the source: a record read from
/// Kafka and written to Kafka again passes through unchanged (payload bytes, key, headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_fields_and_raw_payloads_round_trip_through_the_source() {
    let broker = Broker::start();
    let (first, second) = (unique("first"), unique("second"));
    broker.create_topic(&first, 2).await;
    broker.create_topic(&second, 2).await;
    // JSON records to `first`, topic/key/headers from fields.
    let records: Vec<Record> = (0..20u64)
        .map(|i| {
            let mut r: Record = [
                ("id", Value::from(i)),
                ("to", Value::from(first.as_str())),
                ("customer", Value::from(format!("c{}", i % 3))),
            ]
            .into_iter()
            .collect();
            r.insert(
                "meta",
                serde_json::json!({ "trace": format!("t{i}"), "n": i, "none": null }),
            );
            r
        })
        .collect();
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap(), "unused");
    cfg.topic = None;
    cfg.topic_field = Some("to".into());
    cfg.key_field = Some("customer".into());
    cfg.headers_field = Some("meta".into());
    cfg.compression = Compression::Zstd;
    let sink = KafkaSink::try_from(cfg).unwrap();
    Pipeline::from_iter(records).sink(sink).run().await.unwrap();

    // first → second, as raw records (the payload passes through as bytes).
    let mut cfg = source_config(&broker, &first, &unique("copy"));
    cfg.format = PayloadFormat::Raw;
    cfg.stop_at_end = true;
    let copy = KafkaSink::try_from({
        let mut c = KafkaSinkConfig::new(broker.bootstrap(), second.as_str());
        c.key_field = Some("kafka_key".into());
        c.headers_field = Some("kafka_headers".into());
        c
    })
    .unwrap();
    let report = Pipeline::from_source(KafkaSource::try_from(cfg).unwrap())
        .sink(copy)
        .run()
        .await
        .unwrap();
    assert_eq!(report.items_written(), 20);

    let mut cfg = source_config(&broker, &second, &unique("check"));
    cfg.stop_at_end = true;
    let out = sink::collect::<Record>();
    Pipeline::from_source(KafkaSource::try_from(cfg).unwrap())
        .sink(out.clone())
        .run()
        .await
        .unwrap();
    let mut got = out.take();
    got.sort_by_key(|r| r.get("id").and_then(Value::as_u64));
    assert_eq!(got.len(), 20);
    for (i, r) in got.iter().enumerate() {
        let payload: Json = serde_json::from_slice(r.raw().unwrap()).unwrap();
        assert_eq!(payload["id"], Json::from(i), "{payload}");
        assert_eq!(r.get("kafka_topic"), Some(&Value::from(second.as_str())));
        assert_eq!(
            r.get("kafka_key"),
            Some(&Value::from(format!("c{}", i % 3)))
        );
        assert_eq!(
            r.get("kafka_headers"),
            Some(
                &rivus_core::json!({ "trace": format!("t{i}"), "n": i.to_string(), "none": null })
            ),
        );
    }
    // One key, one partition: the records of a customer stay in order.
    let mut by_key: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in &got {
        by_key
            .entry(r.get("kafka_key").unwrap().to_string())
            .or_default()
            .insert(r.get("kafka_partition").and_then(Value::as_i64).unwrap());
    }
    assert!(by_key.values().all(|ps| ps.len() == 1), "{by_key:?}");
}

/// Issue 11: Kafka -> JSON lines with `assignment = "manual"` (partitions assigned explicitly, offsets committed
/// for the group without joining it). `rivus run` is SIGKILLed mid-run and started again at once with the same
/// group: the restart does not wait for the group coordinator, every produced record is in the file (at least
/// once), and the group's commits end at the end of every partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_manual_reader_restarts_at_once_and_every_record_is_in_the_file() {
    const RECORDS: u64 = 50_000;
    let broker = Broker::start();
    let topic = unique("manual");
    broker.create_topic(&topic, 4).await;
    produce(&broker, &topic, RECORDS);
    let group = unique("manual-group");
    let dir = temp_dir("manual");
    let out = dir.join("out.jsonl");
    let file = dir.join("manual.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"kafka\"\nbrokers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"{group}\"\n\
             assignment = \"manual\"\nformat = \"json\"\nstop_at_end = true\ncommit_interval_ms = 100\n\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            broker.bootstrap(),
            out.display()
        ),
    )
    .unwrap();
    let spawn = || {
        Command::new(rivus_binary())
            .args(["run", "--quiet"])
            .arg(&file)
            .spawn()
            .unwrap()
    };
    let mut first = spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_lines_tolerant(&out).len() < 5_000 {
        assert!(Instant::now() < deadline, "the first run wrote too little");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = read_lines_tolerant(&out).len();
    let committed_at_kill = broker.committed(&group, &topic, 4);

    let restart = Instant::now();
    let mut second = spawn();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(
            restart.elapsed() < Duration::from_secs(120),
            "the restarted run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "the restarted run failed: {status}");
    let rows = read_jsonl(&out); // every line whole: a torn tail of the killed run was cut on restart
    let ids: BTreeSet<i64> = rows.iter().map(|r| int(r, "n")).collect();
    let missing: Vec<u64> = (0..RECORDS)
        .filter(|n| !ids.contains(&(*n as i64)))
        .take(10)
        .collect();
    let committed = broker.committed(&group, &topic, 4);
    eprintln!(
        "manual assignment: {at_kill} records in the file at the SIGKILL, commits then {committed_at_kill:?}; the \
         restart finished in {:.1?} with {} records ({} duplicates), commits {committed:?}",
        restart.elapsed(),
        rows.len(),
        rows.len() - ids.len()
    );
    assert!(missing.is_empty(), "records not in the file: {missing:?}");
    assert_eq!(
        committed.iter().map(|c| c.unwrap_or(0)).sum::<i64>(),
        RECORDS as i64,
        "the group's commits end at the end of every partition: {committed:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

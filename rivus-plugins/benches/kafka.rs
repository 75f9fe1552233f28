//! Kafka throughput beside hand-written rdkafka loops, in one run against one broker:
//!
//! * file → Kafka: a JSON lines file sent line by line (`LinesSource` → `KafkaSink`, payload = the line's
//!   bytes) vs. a loop that reads lines and calls `FutureProducer::send_result`, awaiting every delivery;
//! * Kafka → blackhole: a topic read to its end (`KafkaSource` → `BlackholeSink`, with acknowledgements and
//!   commits) vs. a `StreamConsumer::recv` loop with librdkafka's auto-commit.
//!
//! Run: `cargo bench -p rivus-plugins --features kafka --bench kafka`. The broker is `RIVUS_TEST_KAFKA` when
//! set, otherwise `tansu` from `$RIVUS_TOOLS_DIR/bin`, `~/.cache/rivus-tools/bin` or `PATH`, started in a temp
//! dir on 127.0.0.1. `RIVUS_BENCH_RECORDS` sets the record count (default 200000).
//!
//! Measured 2026-11-25 on 2 cores shared with other builds, tansu 0.6 with sqlite, 200,000 records of ~110
//! bytes, 4 partitions: file → Kafka 28,070 records/s vs. 30,122 hand-written (0.93×); Kafka → blackhole
//! 21,525 records/s vs. 22,293 hand-written (0.97×). The broker's storage bounds both sides.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, producer::DeliveryFuture};
use rivus_core::stream::Pipeline;
use rivus_plugins::blackhole::BlackholeSink;
use rivus_plugins::kafka::{KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig};
use rivus_plugins::lines::{LinesSource, LinesSourceConfig};

const PARTITIONS: i32 = 4;

struct Tansu(Child, PathBuf);

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn broker() -> (String, Option<Tansu>) {
    if let Ok(b) = std::env::var("RIVUS_TEST_KAFKA")
        && !b.is_empty()
    {
        return (b, None);
    }
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("RIVUS_TOOLS_DIR") {
        candidates.push(PathBuf::from(d).join("bin/tansu"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/rivus-tools/bin/tansu"));
    }
    if let Some(p) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&p).map(|p| p.join("tansu")));
    }
    let tansu = candidates.into_iter().find(|p| p.is_file()).expect(
        "no broker: set RIVUS_TEST_KAFKA or `cargo install tansu --version 0.6.0 --locked --features libsql --root ~/.cache/rivus-tools`",
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("rivus-bench-tansu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu)
        .current_dir(&dir)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Tansu(child, dir);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "tansu does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (addr, Some(guard))
}

async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin
        .create_topics(
            [&NewTopic::new(
                topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &opts,
        )
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

fn generate(path: &Path, n: u64) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        writeln!(
            out,
            r#"{{"order_id":{i},"customer":"Grace Hopper","country":"DE","status":"paid","amount":{}.5,"quantity":{}}}"#,
            i % 900,
            1 + i % 12
        )
        .unwrap();
    }
    out.flush().unwrap();
}

fn producer_config(brokers: &str) -> ClientConfig {
    // The same settings as KafkaSinkConfig's defaults.
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("compression.type", "none")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("delivery.timeout.ms", "30000");
    c
}

async fn hand_written_produce(brokers: &str, topic: &str, input: &Path) -> u64 {
    let producer: FutureProducer = producer_config(brokers).create().unwrap();
    let reader = BufReader::new(std::fs::File::open(input).unwrap());
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut n = 0;
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).payload(&line[..]);
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push_back(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    pending.pop_front().unwrap().await.unwrap().unwrap();
                }
                Err((e, _)) => panic!("{e}"),
            }
        }
        n += 1;
    }
    for f in pending {
        f.await.unwrap().unwrap();
    }
    n
}

async fn rivus_produce(brokers: &str, topic: &str, input: &Path) -> u64 {
    let source = LinesSource::new(LinesSourceConfig {
        skip_empty: true,
        ..LinesSourceConfig::new(input)
    });
    let sink = KafkaSink::try_from(KafkaSinkConfig::new(brokers, topic)).unwrap();
    let report = Pipeline::from_source(source)
        .sink(sink)
        .run()
        .await
        .unwrap();
    report.items_written()
}

async fn hand_written_consume(brokers: &str, topic: &str, group: &str, n: u64) -> u64 {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut bytes = 0usize;
    let mut seen = 0;
    while seen < n {
        let m = consumer.recv().await.unwrap();
        bytes += m.payload().map_or(0, <[u8]>::len);
        seen += 1;
    }
    assert!(bytes > 0);
    seen
}

async fn rivus_consume(brokers: &str, topic: &str, group: &str) -> u64 {
    let mut cfg = KafkaSourceConfig::new(brokers, [topic], group);
    cfg.stop_at_end = true;
    let source = KafkaSource::try_from(cfg).unwrap();
    let report = Pipeline::from_source(source)
        .sink::<_, rivus_core::compose::AsyncMode>(BlackholeSink::default())
        .run()
        .await
        .unwrap();
    report.items_written()
}

fn line(what: &str, n: u64, secs: f64) -> f64 {
    let rate = n as f64 / secs;
    println!("{what:<44} {n:>8} records in {secs:>6.2} s = {rate:>10.0} records/s");
    rate
}

fn main() {
    let n: u64 = std::env::var("RIVUS_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (brokers, _tansu) = broker();
    let run = std::process::id();
    let dir = std::env::temp_dir().join(format!("rivus-bench-kafka-{run}"));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("orders.jsonl");
    generate(&input, n);
    rt.block_on(async {
        let (t_hand, t_rivus) = (format!("bench-hand-{run}"), format!("bench-rivus-{run}"));
        create_topic(&brokers, &t_hand).await;
        create_topic(&brokers, &t_rivus).await;
        println!("Kafka bench: {n} records, {PARTITIONS} partitions, broker {brokers}");

        let t = Instant::now();
        let got = hand_written_produce(&brokers, &t_hand, &input).await;
        let hand_p = line(
            "file -> Kafka, hand-written rdkafka loop",
            got,
            t.elapsed().as_secs_f64(),
        );
        let t = Instant::now();
        let got = rivus_produce(&brokers, &t_rivus, &input).await;
        assert_eq!(got, n);
        let rivus_p = line(
            "file -> Kafka, LinesSource -> KafkaSink",
            got,
            t.elapsed().as_secs_f64(),
        );

        let t = Instant::now();
        let got = rivus_consume(&brokers, &t_hand, &format!("rivus-{run}")).await;
        assert_eq!(got, n);
        let rivus_c = line(
            "Kafka -> blackhole, KafkaSource (acked)",
            got,
            t.elapsed().as_secs_f64(),
        );
        let t = Instant::now();
        let got = hand_written_consume(&brokers, &t_hand, &format!("hand-{run}"), n).await;
        let hand_c = line(
            "Kafka -> blackhole, hand-written recv loop",
            got,
            t.elapsed().as_secs_f64(),
        );

        println!(
            "ratio file -> Kafka     (rivus / hand-written): {:.2}",
            rivus_p / hand_p
        );
        println!(
            "ratio Kafka -> blackhole (rivus / hand-written): {:.2}",
            rivus_c / hand_c
        );
    });
    let _ = std::fs::remove_dir_all(dir);
}

//! CSV → JSON lines on a generated file, beside a hand-written `csv` + `serde_json` loop, in one run.
//!
//! Four ways: (a) the hand-written loop into typed structs, (b) the Rivus CSV source and JSON lines sink called
//! in a plain loop (the plugins' own cost), (c) a pipeline file run on the runtime, as `rivus run` does it
//! (source and sink on their own threads, records in chunks between them), (d) the same with a `checkpoint` on
//! the source and an appending sink (positions tracked and committed, as a resumable run does).
//!
//! Run: `cargo bench -p rivus-plugins --bench csv_to_jsonl` (set `RIVUS_BENCH_MB` to change the size; the
//! default is 100 MB; `RIVUS_BENCH_ROUNDS` the number of interleaved rounds, default 3). Prints MB/s and rows/s for each, and the ratios to (a).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

#[path = "support/orders.rs"]
mod orders;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocator the `rivus` binary uses; the hand-written loop runs with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use rivus_core::spec::{PipelineFile, SourceText};
use rivus_core::{SyncSink, SyncSource};
use rivus_plugins::csv::{CsvSource, CsvSourceConfig, FieldType};
use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    order_id: i64,
    customer: String,
    country: String,
    status: String,
    amount: f64,
    quantity: i64,
    created_at: String,
}

fn hand_written(input: &Path, output: &Path) -> u64 {
    let mut reader = csv::Reader::from_path(input).unwrap();
    let mut out = BufWriter::with_capacity(64 * 1024, File::create(output).unwrap());
    let mut rows = 0;
    for order in reader.deserialize::<Order>() {
        serde_json::to_writer(&mut out, &order.unwrap()).unwrap();
        out.write_all(b"\n").unwrap();
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

fn rivus_plugins(input: &Path, output: &Path) -> u64 {
    let mut config = CsvSourceConfig::new(input);
    config.types.insert("order_id".into(), FieldType::Int);
    config.types.insert("amount".into(), FieldType::Float);
    config.types.insert("quantity".into(), FieldType::Int);
    let mut source = CsvSource::new(config);
    let mut sink = JsonlSink::new(JsonlSinkConfig::new(output));
    source.open().unwrap();
    sink.open().unwrap();
    let mut rows = 0;
    while let Some(record) = source.next() {
        sink.write(record.unwrap()).unwrap();
        rows += 1;
    }
    sink.close().unwrap();
    rows
}

fn rivus_pipeline_file(input: &Path, output: &Path) -> u64 {
    run_pipeline_file(input, output, "", "")
}

fn rivus_checkpointed(input: &Path, output: &Path) -> u64 {
    let checkpoint = output.with_extension("checkpoint");
    let _ = std::fs::remove_file(output);
    let _ = std::fs::remove_file(&checkpoint);
    run_pipeline_file(
        input,
        output,
        &format!("checkpoint = {checkpoint:?}\n"),
        "append = true\n",
    )
}

/// Runs a pipeline file from `input` to `output`, with extra lines for the source and the sink.
fn run_pipeline_file(input: &Path, output: &Path, source: &str, sink: &str) -> u64 {
    let text = format!(
        "[source]\nplugin = \"csv\"\npath = {input:?}\ntypes = {{ order_id = \"int\", amount = \"float\", quantity = \"int\" }}\n\
         {source}[[sinks]]\nplugin = \"jsonl\"\npath = {output:?}\n{sink}"
    );
    let file = PipelineFile::parse(
        Path::new("bench.toml"),
        SourceText::new("bench.toml", text),
        &|_| None,
    )
    .unwrap();
    let pipeline = file.build().unwrap().into_pipeline();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(pipeline.run()).unwrap();
    report.items_written()
}

/// One way to convert the file: input, output, rows written.
type Run = fn(&Path, &Path) -> u64;

fn main() {
    let megabytes = orders::megabytes();
    let dir: PathBuf = std::env::temp_dir().join(format!("rivus-bench-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("orders.csv");
    let rows = orders::generate(&input, megabytes);
    let bytes = std::fs::metadata(&input).unwrap().len() as f64;
    println!("input: {rows} rows, {:.1} MB", bytes / 1e6);

    rivus_plugins::link();
    let runs: [(&str, Run); 4] = [
        ("(a) hand-written csv+serde_json", hand_written),
        ("(b) rivus csv -> jsonl plugins", rivus_plugins),
        ("(c) rivus pipeline file, runtime", rivus_pipeline_file),
        ("(d) (c) with checkpoint, append", rivus_checkpointed),
    ];
    // Best of `RIVUS_BENCH_ROUNDS` (default 3), interleaved, so that a busy moment of the machine does not favour
    // one side.
    let rounds = orders::rounds();
    let mut best = [f64::MAX; 4];
    for _ in 0..rounds {
        for (i, (_, run)) in runs.iter().enumerate() {
            let start = Instant::now();
            let n = run(&input, &dir.join(format!("out{i}.jsonl")));
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(n, rows);
            best[i] = best[i].min(secs);
        }
    }
    let a = std::fs::read(dir.join("out0.jsonl")).unwrap();
    for i in 1..runs.len() {
        let b = std::fs::read(dir.join(format!("out{i}.jsonl"))).unwrap();
        assert!(a == b, "every way writes the same JSON lines");
    }
    for (i, (name, _)) in runs.iter().enumerate() {
        let secs = best[i];
        println!(
            "{name:34} {secs:7.3} s  {:7.1} MB/s  {:10.0} rows/s  {:.2}x of (a)",
            bytes / 1e6 / secs,
            rows as f64 / secs,
            best[0] / secs
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

//! CSV → JSON lines on a generated file, beside a hand-written `csv` + `serde_json` loop, in one run.
//!
//! Four ways: (a) the hand-written loop into typed structs, (b) the Rivus CSV source and JSON lines sink called
//! in a plain loop (the plugins' own cost), (c) a pipeline file run on the runtime, as `rivus run` does it
//! (source and sink on their own threads, records in chunks between them), (d) the same with a `checkpoint` on
//! the source and an appending sink (positions tracked and committed, as a resumable run does).
//!
//! Then the first pipeline most users write: (e) a pipeline file with `filter` `status == 'paid'` and a
//! `select` of 3 fields, with pushdown (the CSV source tests the filter's column first and builds only the 3
//! columns read, see `rivus_core::spec::pushdown`), and (f) the same with `[pipeline] pushdown = false`; the
//! ratio (f)/(e) is what pushdown saves; (g) and (h) the same without the runtime (the CSV source told the
//! projection and the filter, or not, with the filter and the select in a plain loop). These four print the
//! process's CPU time too, steadier than wall time on a shared machine.
//!
//! Run: `cargo bench -p rivus-plugins --bench csv_to_jsonl` (set `RIVUS_BENCH_MB` to change the size; the
//! default is 100 MB; `RIVUS_BENCH_ROUNDS` the number of interleaved rounds, default 3). Prints MB/s and rows/s for each, and the ratios to (a).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

#[path = "support/measure.rs"]
mod measure;
#[path = "support/orders.rs"]
mod orders;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocator the `rivus` binary uses; the hand-written loop runs with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use measure::{cpu_seconds, run_pipeline};
use orders::{TYPES, hand_copy};
use rivus_core::condition::Condition;
use rivus_core::{SyncSink, SyncSource};
use rivus_plugins::csv::{CsvSource, CsvSourceConfig, FieldType};
use rivus_plugins::jsonl::{JsonlSink, JsonlSinkConfig};

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

/// The transforms of (e) and (f).
const PAID_AMOUNTS: &str = "[[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid'\"\n\
                            [[transforms]]\nplugin = \"select\"\nfields = [\"order_id\", \"status\", \"amount\"]\n";

fn rivus_filtered(input: &Path, output: &Path) -> u64 {
    run_file(input, output, "", "", PAID_AMOUNTS, "")
}

fn rivus_filtered_no_pushdown(input: &Path, output: &Path) -> u64 {
    run_file(
        input,
        output,
        "[pipeline]\npushdown = false\n",
        "",
        PAID_AMOUNTS,
        "",
    )
}

/// The CSV source alone, told the projection and the filter as a pipeline file tells it, with the filter and
/// the select after it in a plain loop: the source's own saving.
fn source_pushed(input: &Path, output: &Path) -> u64 {
    source_loop(input, output, true)
}

/// (g) with whole records.
fn source_whole(input: &Path, output: &Path) -> u64 {
    source_loop(input, output, false)
}

fn source_loop(input: &Path, output: &Path, pushdown: bool) -> u64 {
    let mut config = CsvSourceConfig::new(input);
    config.types.insert("order_id".into(), FieldType::Int);
    config.types.insert("amount".into(), FieldType::Float);
    config.types.insert("quantity".into(), FieldType::Int);
    let mut source = CsvSource::new(config);
    let condition = Condition::parse("status == 'paid'").unwrap();
    if pushdown {
        let fields = ["order_id", "status", "amount"].map(str::to_owned);
        assert!(source.project(&fields));
        assert!(source.prefilter(&Arc::new(condition.clone())));
    }
    let mut sink = JsonlSink::new(JsonlSinkConfig::new(output));
    source.open().unwrap();
    sink.open().unwrap();
    let mut rows = 0;
    while let Some(record) = source.next() {
        let mut record = record.unwrap();
        if condition.eval(&record).unwrap() {
            record.select(["order_id", "status", "amount"]);
            sink.write(record).unwrap();
            rows += 1;
        }
    }
    sink.close().unwrap();
    rows
}

/// Runs a pipeline file from `input` to `output`, with extra lines for the source and the sink.
fn run_pipeline_file(input: &Path, output: &Path, source: &str, sink: &str) -> u64 {
    run_file(input, output, "", source, "", sink)
}

/// Runs a pipeline file from `input` to `output`: `[pipeline]` lines, the source's extra lines, the
/// transforms, the sink's extra lines.
fn run_file(
    input: &Path,
    output: &Path,
    pipeline: &str,
    source: &str,
    transforms: &str,
    sink: &str,
) -> u64 {
    run_pipeline(format!(
        "{pipeline}[source]\nplugin = \"csv\"\npath = {input:?}\n{TYPES}\n\
         {source}{transforms}[[sinks]]\nplugin = \"jsonl\"\npath = {output:?}\n{sink}"
    ))
    .items_written()
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
        ("(a) hand-written csv+serde_json", hand_copy),
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

    // Filter and select: a third of the rows are paid (`generate` cycles the statuses). Wall time and the
    // process's CPU time (user + system, all threads): on a shared machine the CPU time is the steadier figure.
    let filtered: [(&str, Run); 4] = [
        ("(e) filter + select, pushdown", rivus_filtered),
        ("(f) (e) with pushdown = false", rivus_filtered_no_pushdown),
        ("(g) csv source alone, pushdown", source_pushed),
        ("(h) (g) without pushdown", source_whole),
    ];
    let mut best = [(f64::MAX, f64::MAX); 4];
    for _ in 0..rounds {
        for (i, (_, run)) in filtered.iter().enumerate() {
            let (start, cpu) = (Instant::now(), cpu_seconds());
            let n = run(&input, &dir.join(format!("filtered{i}.jsonl")));
            let secs = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu;
            assert_eq!(n, rows.div_ceil(3));
            best[i] = (best[i].0.min(secs), best[i].1.min(cpu));
        }
    }
    let e = std::fs::read(dir.join("filtered0.jsonl")).unwrap();
    let f = std::fs::read(dir.join("filtered1.jsonl")).unwrap();
    assert!(e == f, "pushdown on and off write the same JSON lines");
    for (i, (name, _)) in filtered.iter().enumerate() {
        let (secs, cpu) = best[i];
        let pair = i - i % 2;
        println!(
            "{name:34} {secs:7.3} s  {:7.1} MB/s  {:10.0} rows/s  CPU {cpu:6.3} s  {:.2}x of {} (CPU {:.2}x)",
            bytes / 1e6 / secs,
            rows as f64 / secs,
            best[pair].0 / secs,
            filtered[pair].0.split(' ').next().unwrap_or_default(),
            best[pair].1 / cpu,
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

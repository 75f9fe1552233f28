//! Rivus beside other engines on the same work, with the ratios issue 18 sets as targets.
//!
//! Three pieces of work, each run through `rivus run`'s code path (a pipeline file parsed, built and run on a
//! multi-thread Tokio runtime, as `rivus run` does it):
//!
//! - **(A)** CSV -> JSON lines, on a generated orders file;
//! - **(B)** the same file -> `filter` (`status == 'paid'`) -> `select` 3 fields -> JSON lines;
//! - **(C)** `generator` (two fields) -> `filter` (keeps half) -> `set` (one field) -> `blackhole`, in memory.
//!
//! Beside them: a hand-written `csv` + `serde_json` loop into typed structs (always, for (A) and (B)); DuckDB
//! (Python package `duckdb`, 2 threads, `COPY (SELECT …) TO … (FORMAT json)`) and Miller (`mlr --icsv
//! --ojsonl`) for (A) and (B); Bytewax (Python package `bytewax`, one worker, the same three steps on dicts) for
//! (C). A missing engine is skipped with a note. DuckDB's and Bytewax's times are taken inside Python around the
//! query or the run (the interpreter's start and the imports are not counted); Miller's is the whole process.
//! Every output is checked for its number of lines. Beside the wall time, each way's CPU time (user + system,
//! its threads and its child processes; best round) is printed: on a shared machine it moves less.
//!
//! Run: `cargo bench -p rivus-plugins --bench vs_engines`. `RIVUS_BENCH_MB` sets the file's size (default
//! 100 MB), `RIVUS_BENCH_RECORDS` the generator's records for (C) (default 2,000,000), `RIVUS_BENCH_ROUNDS`
//! the interleaved rounds (default 3; the best round of each is reported), `RIVUS_BENCH_ONLY` a subset of the
//! work (`A`, `AB`, `C`, …), `RIVUS_BENCH_WAYS` a subset of the ways by the first word of their names
//! (`rivus,duckdb`; `rivus` alone to profile Rivus under `valgrind --tool=callgrind`), `RIVUS_BENCH_WORKERS` the
//! csv source's `workers` for (A) and (B) (default: the plugin's, 0).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

#[path = "support/measure.rs"]
mod measure;
#[path = "support/orders.rs"]
mod orders;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use measure::{cpu_seconds, run_pipeline};
use orders::{Order, TYPES, hand_copy};
use serde::Serialize;

/// The allocator the `rivus` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fields (B) keeps.
const SELECTED: [&str; 3] = ["order_id", "customer", "amount"];

/// (B)'s output row in the hand-written loop.
#[derive(Serialize)]
struct Selected<'a> {
    order_id: i64,
    customer: &'a str,
    amount: f64,
}

/// DuckDB: `input output copy|filter`; prints the seconds the `COPY` took.
const DUCKDB: &str = r#"
import sys, time, duckdb
src, out, work = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET threads TO 2")
# A slow run would otherwise draw a progress bar on the standard output this bench reads.
con.execute("SET enable_progress_bar = false")
cols = "{'order_id': 'BIGINT', 'customer': 'VARCHAR', 'country': 'VARCHAR', 'status': 'VARCHAR', 'amount': 'DOUBLE', 'quantity': 'BIGINT', 'created_at': 'VARCHAR'}"
rel = f"read_csv('{src}', header = true, columns = {cols})"
if work == "copy":
    query = f"SELECT * FROM {rel}"
else:
    query = f"SELECT order_id, customer, amount FROM {rel} WHERE status = 'paid'"
start = time.perf_counter()
con.execute(f"COPY ({query}) TO '{out}' (FORMAT json)")
print(time.perf_counter() - start)
"#;

/// Bytewax: `records`; one worker, generator -> filter -> map (set) -> a sink that drops; prints the seconds
/// the run took and the records that reached the sink.
const BYTEWAX: &str = r#"
import sys, time
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

N = int(sys.argv[1])
HALF = N // 2
seen = [0]

class Generate(StatelessSourcePartition):
    def __init__(self):
        self.i = 0
    def next_batch(self):
        if self.i >= N:
            raise StopIteration()
        end = min(self.i + 256, N)
        batch = [{"id": i, "name": f"order {i}"} for i in range(self.i, end)]
        self.i = end
        return batch

class Generator(DynamicSource):
    def build(self, step_id, worker_index, worker_count):
        return Generate()

class Drop(StatelessSinkPartition):
    def write_batch(self, items):
        seen[0] += len(items)

class Blackhole(DynamicSink):
    def build(self, step_id, worker_index, worker_count):
        return Drop()

def set_seen(record):
    record["seen"] = True
    return record

flow = Dataflow("bench")
s = op.input("generator", flow, Generator())
s = op.filter("filter", s, lambda record: record["id"] >= HALF)
s = op.map("set", s, set_seen)
op.output("blackhole", s, Blackhole())
start = time.perf_counter()
run_main(flow)
print(time.perf_counter() - start, seen[0])
"#;

/// Which piece of work a way does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    A,
    B,
    C,
}

/// Runs a way with its output path; returns its seconds and the records it wrote.
type RunWay = Box<dyn Fn(&Path) -> (f64, u64)>;

/// A conversion of the orders file: input, output, records written.
type Convert = fn(&Path, &Path) -> u64;

/// One way to do one piece of work.
struct Way {
    work: Work,
    name: &'static str,
    run: RunWay,
}

/// CPU seconds (user + system) used so far by this process and by its children that were waited for, from
/// `/proc/self/stat` (0 where there is none). On a shared machine the CPU time of a run moves less than its
/// wall time, which waits for the cores the others use.
fn main() {
    rivus_plugins::link();
    let only = std::env::var("RIVUS_BENCH_ONLY").unwrap_or_else(|_| "ABC".to_owned());
    let wants = |w: &str| only.to_ascii_uppercase().contains(w);
    let rounds = orders::rounds();
    let records: u64 = orders::env_or("RIVUS_BENCH_RECORDS", 2_000_000);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("rivus-bench-engines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("orders.csv");

    println!("cpu: {}", cpu_model());
    let duckdb = python_has("duckdb");
    let bytewax = python_has("bytewax");
    let miller = Command::new("mlr")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for (found, note) in [
        (duckdb, "DuckDB (`pip install duckdb`)"),
        (miller, "Miller (`apt-get install miller`)"),
        (bytewax, "Bytewax (`pip install bytewax`)"),
    ] {
        if !found {
            println!("note: {note} is not installed; skipped");
        }
    }

    let (rows, paid) = if wants("A") || wants("B") {
        let rows = orders::generate(&input, orders::megabytes());
        let bytes = std::fs::metadata(&input).unwrap().len() as f64;
        println!("input: {rows} rows, {:.1} MB", bytes / 1e6);
        (rows, orders::paid(rows))
    } else {
        (0, 0)
    };

    let mut ways: Vec<Way> = Vec::new();
    let file = |f: Convert| {
        let input = input.clone();
        Box::new(move |out: &Path| timed(|| f(&input, out))) as RunWay
    };
    for (work, letter) in [(Work::A, "A"), (Work::B, "B")] {
        if !wants(letter) {
            continue;
        }
        let (rivus, hand): (Convert, Convert) = match work {
            Work::A => (rivus_copy, hand_copy),
            _ => (rivus_filter, hand_filter),
        };
        ways.push(Way {
            work,
            name: "rivus run (pipeline file)",
            run: file(rivus),
        });
        ways.push(Way {
            work,
            name: "hand-written csv+serde_json",
            run: file(hand),
        });
        if duckdb {
            let input = input.clone();
            let query = if work == Work::A { "copy" } else { "filter" };
            ways.push(Way {
                work,
                name: "DuckDB (Python, 2 threads)",
                run: Box::new(move |out| {
                    let printed = python(&[DUCKDB, &path(&input), &path(out), query]);
                    (printed.trim().parse().unwrap(), count_lines(out))
                }),
            });
        }
        if miller {
            let input = input.clone();
            let verbs: &'static [&'static str] = if work == Work::A {
                &["cat"]
            } else {
                &[
                    "filter",
                    "$status == \"paid\"",
                    "then",
                    "cut",
                    "-o",
                    "-f",
                    "order_id,customer,amount",
                ]
            };
            ways.push(Way {
                work,
                name: "Miller (mlr --icsv --ojsonl)",
                run: Box::new(move |out| {
                    let secs = timed(|| {
                        let status = Command::new("mlr")
                            .args(["--icsv", "--ojsonl"])
                            .args(verbs)
                            .arg(&input)
                            .stdout(File::create(out).unwrap())
                            .status()
                            .unwrap();
                        assert!(status.success(), "mlr failed");
                        0
                    })
                    .0;
                    (secs, count_lines(out))
                }),
            });
        }
    }
    if wants("C") {
        ways.push(Way {
            work: Work::C,
            name: "rivus run (pipeline file)",
            run: Box::new(move |_| timed(|| rivus_generated(records))),
        });
        if bytewax {
            ways.push(Way {
                work: Work::C,
                name: "Bytewax (1 worker)",
                run: Box::new(move |_| {
                    let printed = python(&[BYTEWAX, &records.to_string()]);
                    let mut parts = printed.split_whitespace();
                    let secs = parts.next().unwrap().parse().unwrap();
                    let seen = parts.next().unwrap().parse().unwrap();
                    (secs, seen)
                }),
            });
        }
    }

    if let Ok(names) = std::env::var("RIVUS_BENCH_WAYS") {
        let names: Vec<String> = names.split(',').map(|n| n.trim().to_lowercase()).collect();
        ways.retain(|w| {
            let first = w
                .name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase();
            names.contains(&first)
        });
    }

    // Interleaved rounds, best of each way, so that a busy moment of the shared machine favours no one.
    let mut best = vec![f64::MAX; ways.len()];
    let mut best_cpu = vec![f64::MAX; ways.len()];
    for round in 0..rounds {
        for (i, way) in ways.iter().enumerate() {
            let out = dir.join(format!("out{i}.jsonl"));
            let cpu = cpu_seconds();
            let (secs, wrote) = (way.run)(&out);
            best_cpu[i] = best_cpu[i].min(cpu_seconds() - cpu);
            let expected = match way.work {
                Work::A => rows,
                Work::B => paid,
                Work::C => records - records / 2,
            };
            assert_eq!(wrote, expected, "{} wrote {wrote} records", way.name);
            best[i] = best[i].min(secs);
            std::fs::remove_file(&out).ok();
            eprintln!("round {}: {:34} {secs:.3} s", round + 1, way.name);
        }
    }

    let secs_of = |work: Work, prefix: &str| {
        ways.iter()
            .zip(&best)
            .find(|(w, _)| w.work == work && w.name.starts_with(prefix))
            .map(|(_, s)| *s)
    };
    for (work, title, count) in [
        (Work::A, "(A) CSV -> JSON lines", rows),
        (
            Work::B,
            "(B) CSV -> filter status == 'paid' -> select 3 fields -> JSON lines",
            rows,
        ),
        (
            Work::C,
            "(C) generator -> filter -> set -> blackhole",
            records,
        ),
    ] {
        if !ways.iter().any(|w| w.work == work) {
            continue;
        }
        println!("{title}, {count} records in, best of {rounds}:");
        for ((way, secs), cpu) in ways
            .iter()
            .zip(&best)
            .zip(&best_cpu)
            .filter(|((w, _), _)| w.work == work)
        {
            println!(
                "  {:34} {secs:7.3} s  {:11.0} records/s  {cpu:6.2} s CPU",
                way.name,
                count as f64 / secs
            );
        }
    }
    println!("ratios (rivus's records/s over the other's; target):");
    let targets = [
        (Work::A, "DuckDB", "A: rivus / DuckDB", 1.5),
        (Work::B, "DuckDB", "B: rivus / DuckDB", 1.0),
        (Work::C, "Bytewax", "C: rivus / Bytewax", 5.0),
        (Work::A, "hand", "A: rivus / hand-written loop", 0.7),
        (Work::B, "hand", "B: rivus / hand-written loop", 0.0),
        (Work::A, "Miller", "A: rivus / Miller", 0.0),
        (Work::B, "Miller", "B: rivus / Miller", 0.0),
    ];
    for (work, other, label, target) in targets {
        let (Some(ours), Some(theirs)) = (secs_of(work, "rivus"), secs_of(work, other)) else {
            continue;
        };
        let ratio = theirs / ours;
        let verdict = if target == 0.0 {
            String::new()
        } else if ratio >= target {
            format!("  (target >= {target}x: met)")
        } else {
            format!("  (target >= {target}x: missed)")
        };
        println!("  {label:30} {ratio:5.2}x{verdict}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `f`, returning its seconds and its result.
fn timed(f: impl FnOnce() -> u64) -> (f64, u64) {
    let start = Instant::now();
    let n = f();
    (start.elapsed().as_secs_f64(), n)
}

fn rivus_copy(input: &Path, output: &Path) -> u64 {
    run_pipeline(format!(
        "[source]\nplugin = \"csv\"\npath = {input:?}\n{}{TYPES}\n\
         [[sinks]]\nplugin = \"jsonl\"\npath = {output:?}\n",
        workers()
    ))
    .items_written()
}

fn rivus_filter(input: &Path, output: &Path) -> u64 {
    run_pipeline(format!(
        "[source]\nplugin = \"csv\"\npath = {input:?}\n{}{TYPES}\n\
         [[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid'\"\n\
         [[transforms]]\nplugin = \"select\"\nfields = {SELECTED:?}\n\
         [[sinks]]\nplugin = \"jsonl\"\npath = {output:?}\n",
        workers()
    ))
    .items_written()
}

/// The csv source's `workers` line: `RIVUS_BENCH_WORKERS` when set, else none (the plugin's default).
fn workers() -> String {
    std::env::var("RIVUS_BENCH_WORKERS")
        .map_or_else(|_| String::new(), |n| format!("workers = {n}\n"))
}

fn rivus_generated(records: u64) -> u64 {
    let half = records / 2;
    let report = run_pipeline(format!(
        "[source]\nplugin = \"generator\"\ncount = {records}\n\
         template = {{ id = \"{{i}}\", name = \"order {{i}}\" }}\n\
         [[transforms]]\nplugin = \"filter\"\nwhen = \"id >= {half}\"\n\
         [[transforms]]\nplugin = \"set\"\nfields = {{ seen = true }}\n\
         [[sinks]]\nplugin = \"blackhole\"\n"
    ));
    assert_eq!(report.filtered(), half);
    report.items_written()
}

fn hand_filter(input: &Path, output: &Path) -> u64 {
    let mut reader = csv::Reader::from_path(input).unwrap();
    let mut out = BufWriter::with_capacity(64 * 1024, File::create(output).unwrap());
    let mut rows = 0;
    for order in reader.deserialize::<Order>() {
        let order = order.unwrap();
        if order.status != "paid" {
            continue;
        }
        let selected = Selected {
            order_id: order.order_id,
            customer: &order.customer,
            amount: order.amount,
        };
        serde_json::to_writer(&mut out, &selected).unwrap();
        out.write_all(b"\n").unwrap();
        rows += 1;
    }
    out.flush().unwrap();
    rows
}

/// Runs `python3 -c script args…` and returns what it printed.
fn python(args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "python3 failed");
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `python3` can import `module`.
fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn count_lines(path: &Path) -> u64 {
    BufReader::new(File::open(path).unwrap()).lines().count() as u64
}

/// The CPU's model name, from `/proc/cpuinfo` where there is one.
fn cpu_model() -> String {
    let cpus = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpus
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown", |l| l.trim_start_matches([' ', '\t', ':']));
    let count = cpus.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {count} logical CPUs")
}

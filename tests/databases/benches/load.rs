//! CSV -> PostgreSQL beside `psql -c "\copy … from …"`, and CSV -> SQLite beside the `sqlite3` shell's
//! `.import`, on the same generated file, in interleaved rounds (the machine may be shared: ratios of runs
//! made back to back say more than absolute figures).
//!
//! Run: `cargo bench -p rivus-databases-tests --bench load` (`RIVUS_BENCH_ROWS`, default 1,000,000;
//! `RIVUS_BENCH_ROUNDS`, default 2; the server as in the tests: `RIVUS_TEST_PG_URL` or a throw-away cluster).
//! Prints rows/s of each and the ratios.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a bench fails loudly"
)]

use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rivus_core::prelude::*;
use rivus_databases_tests::{Postgres, temp_dir};
use rivus_plugins::blackhole::BlackholeSink;
use rivus_plugins::csv::{CsvSource, CsvSourceConfig};
use rivus_plugins::postgres::{PostgresSink, PostgresSinkConfig};
use rivus_plugins::sqlite::{SqliteSink, SqliteSinkConfig};

const COLUMNS: &str = "id bigint, name text, amount numeric(12, 2), at timestamptz, n int";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_csv(path: &Path, rows: u64) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,name,amount,at,n").unwrap();
    for i in 0..rows {
        writeln!(
            w,
            "{i},customer {},{}.{:02},2024-{:02}-{:02}T{:02}:{:02}:00Z,{}",
            i % 9973,
            i % 100_000,
            i % 100,
            1 + i % 12,
            1 + i % 28,
            i % 24,
            i % 60,
            i % 1000
        )
        .unwrap();
    }
    w.flush().unwrap();
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rate(rows: u64, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env("RIVUS_BENCH_ROWS", 1_000_000);
    let rounds = env("RIVUS_BENCH_ROUNDS", 2);
    let dir = temp_dir("bench");
    let csv = dir.join("in.csv");
    write_csv(&csv, rows);
    let mb = std::fs::metadata(&csv).unwrap().len() as f64 / 1e6;
    println!("{rows} rows, {mb:.1} MB of CSV");

    let pg = Postgres::start("bench");
    let mut best = [Duration::MAX; 5];
    for round in 0..rounds {
        pg.psql(&format!(
            "DROP TABLE IF EXISTS a; DROP TABLE IF EXISTS b; CREATE TABLE a ({COLUMNS}); CREATE TABLE b ({COLUMNS})"
        ));
        let copy = timed(|| {
            run_ok(Command::new("psql").args([
                pg.url(),
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("\\copy a from '{}' csv header", csv.display()),
            ]))
        });
        let rivus = {
            let start = Instant::now();
            let report = Pipeline::from_source(CsvSource::new(CsvSourceConfig::new(&csv)))
                .sink(PostgresSink::try_from(PostgresSinkConfig::new(pg.url(), "b")).unwrap())
                .run()
                .await
                .unwrap();
            assert_eq!(report.ledger().written, rows);
            start.elapsed()
        };
        assert_eq!(pg.psql("SELECT count(*) FROM b"), rows.to_string());
        // The same with loads of 1,024 rows (`flush_rows`): more, smaller transactions.
        pg.psql("TRUNCATE b");
        let rivus_small = {
            let start = Instant::now();
            let mut config = PostgresSinkConfig::new(pg.url(), "b");
            config.flush_rows = NonZeroUsize::new(1024).unwrap();
            let report = Pipeline::from_source(CsvSource::new(CsvSourceConfig::new(&csv)))
                .sink(PostgresSink::try_from(config).unwrap())
                .run()
                .await
                .unwrap();
            assert_eq!(report.ledger().written, rows);
            start.elapsed()
        };
        let db = dir.join(format!("round{round}.db"));
        let import_db = dir.join(format!("import{round}.db"));
        run_ok(Command::new("sqlite3").arg(&db).arg(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER, name TEXT, amount REAL, at TEXT, n INTEGER)",
        ));
        run_ok(
            Command::new("sqlite3")
                .arg(&import_db)
                .arg("CREATE TABLE t (id INTEGER, name TEXT, amount REAL, at TEXT, n INTEGER)"),
        );
        let import = timed(|| {
            run_ok(
                Command::new("sqlite3")
                    .arg(&import_db)
                    .arg(format!(".import --csv --skip 1 {} t", csv.display())),
            )
        });
        let sqlite = {
            let start = Instant::now();
            let report = Pipeline::from_source(CsvSource::new(CsvSourceConfig::new(&csv)))
                .sink(SqliteSink::from(SqliteSinkConfig::new(&db, "t")))
                .run()
                .await
                .unwrap();
            assert_eq!(report.ledger().written, rows);
            start.elapsed()
        };
        // The same run into a sink that keeps nothing: what reading the CSV and the runtime cost alone.
        let alone = {
            let start = Instant::now();
            let report = Pipeline::from_source(CsvSource::new(CsvSourceConfig::new(&csv)))
                .sink::<_, rivus_core::compose::AsyncMode>(BlackholeSink::default())
                .run()
                .await
                .unwrap();
            assert_eq!(report.ledger().written, rows);
            start.elapsed()
        };
        println!(
            "round {round}: psql \\copy {:.2}s, rivus csv -> postgres {:.2}s ({:.2}s with flush_rows 1024); \
             sqlite3 .import {:.2}s, rivus csv -> sqlite {:.2}s; rivus csv -> blackhole {:.2}s",
            copy.as_secs_f64(),
            rivus.as_secs_f64(),
            rivus_small.as_secs_f64(),
            import.as_secs_f64(),
            sqlite.as_secs_f64(),
            alone.as_secs_f64()
        );
        for (slot, d) in best
            .iter_mut()
            .zip([copy, rivus, import, sqlite, rivus_small])
        {
            *slot = (*slot).min(d);
        }
    }
    let [copy, rivus, import, sqlite, rivus_small] = best;
    println!(
        "best: psql \\copy {:.0} rows/s; rivus -> postgres {:.0} rows/s ({:.2}x COPY), with flush_rows 1024 \
         {:.0} rows/s ({:.2}x)",
        rate(rows, copy),
        rate(rows, rivus),
        copy.as_secs_f64() / rivus.as_secs_f64(),
        rate(rows, rivus_small),
        copy.as_secs_f64() / rivus_small.as_secs_f64()
    );
    println!(
        "best: sqlite3 .import {:.0} rows/s; rivus -> sqlite {:.0} rows/s ({:.2}x .import)",
        rate(rows, import),
        rate(rows, sqlite),
        import.as_secs_f64() / sqlite.as_secs_f64()
    );
    refusals(&pg).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The cost of refused rows: 100,000 rows in loads of 1,024 (`flush_rows`), clean; with one row in 1,000 refused where the
/// server's error names the row (a duplicate key: taken out, the rest loaded again); and with one in 1,000
/// refused where it does not (a foreign key: the batch split in halves down to the row).
async fn refusals(pg: &Postgres) {
    const ROWS: i64 = 100_000;
    let records = |bad: Option<&str>| -> Vec<Record> {
        (0..ROWS)
            .map(|i| {
                let (id, team) = match bad {
                    Some("duplicate") if i % 1000 == 500 => (0, 1),
                    Some("foreign key") if i % 1000 == 500 => (i + 1, 99),
                    _ => (i + 1, 1),
                };
                [
                    ("id", Value::from(id)),
                    ("team", Value::from(team)),
                    ("name", Value::from("some name")),
                ]
                .into_iter()
                .collect()
            })
            .collect()
    };
    for bad in [None, Some("duplicate"), Some("foreign key")] {
        pg.psql(
            "DROP TABLE IF EXISTS r; DROP TABLE IF EXISTS teams; CREATE TABLE teams (id int PRIMARY KEY); \
             INSERT INTO teams VALUES (1); CREATE TABLE r (id bigint PRIMARY KEY, team int REFERENCES teams, name text); \
             INSERT INTO r VALUES (0, 1, 'taken')",
        );
        let input = records(bad);
        let start = Instant::now();
        let report = Pipeline::from_iter(input)
            .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::Skip))
            .sink(PostgresSink::try_from(refusing_config(pg)).unwrap())
            .run()
            .await
            .unwrap();
        let took = start.elapsed();
        let ledger = report.ledger();
        println!(
            "refusals ({}): {} written, {} refused in {:.2}s ({:.0} rows/s)",
            bad.unwrap_or("none"),
            ledger.written,
            ledger.skipped,
            took.as_secs_f64(),
            rate(ROWS as u64, took)
        );
    }
}

/// The refusals' sink: loads of 1,024 rows, so that a bad row costs what it cost in the figures before
/// `flush_rows` (docs/databases.md).
fn refusing_config(pg: &Postgres) -> PostgresSinkConfig {
    let mut config = PostgresSinkConfig::new(pg.url(), "r");
    config.flush_rows = NonZeroUsize::new(1024).unwrap();
    config
}

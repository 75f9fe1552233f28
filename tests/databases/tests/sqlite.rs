//! The `sqlite` sink and source on real database files: refused rows to the dead-letter sink with SQLite's
//! text while the rest lands, upserts, CSV -> SQLite -> JSON lines -> SQLite with every row equal, and a
//! `rivus` process SIGKILLed mid-run resuming after its last acknowledged cursor.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rivus_core::prelude::*;
use rivus_core::value::{Record, Value};
use rivus_databases_tests::{rivus_binary, temp_dir};
use rivus_plugins::sqlite::{SqliteSink, SqliteSinkConfig, SqliteSource, SqliteSourceConfig};
use rusqlite::Connection;

fn record(v: Value) -> Record {
    Record::from_fields(v.as_object().unwrap().clone())
}

async fn load(records: Vec<Record>, sink: SqliteSink) -> (RunReport, Vec<DeadLetter>) {
    let dead = sink::collect::<DeadLetter>();
    let report = Pipeline::from_iter(records)
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
        .sink(sink)
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    (report, dead.take())
}

fn query(db: &Path, sql: &str) -> String {
    let conn = Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, String>(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_go_to_the_dead_letter_sink_with_sqlites_text_and_the_rest_lands() {
    let dir = temp_dir("sqlite-refused");
    let db = dir.join("people.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER CHECK (age >= 0), \
             score REAL) STRICT; INSERT INTO people VALUES (5, 'existing', 1, 0.5)",
        )
        .unwrap();
    let mut records: Vec<Record> = (0..3000)
        .map(|i| record(json!({ "id": 100 + i, "name": format!("p{i}"), "age": i % 90, "score": i as f64 / 4.0 })))
        .collect();
    records[3] = record(json!({ "id": 5, "name": "dup", "age": 1 }));
    records[1500] = record(json!({ "id": 1600, "name": "negative", "age": -1 }));
    records[2000] = record(json!({ "id": 2100, "name": null, "age": 1 }));
    records[2500] = record(json!({ "id": 2600, "name": "strict", "age": "old" }));
    let (report, letters) = load(
        records,
        SqliteSink::from(SqliteSinkConfig::new(&db, "people")),
    )
    .await;
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(
        (ledger.written, ledger.dead_lettered),
        (2996, 4),
        "{ledger:?}"
    );
    let texts: Vec<(i64, String)> = letters
        .iter()
        .map(|l| {
            (
                l.item::<Record>()
                    .unwrap()
                    .get("id")
                    .unwrap()
                    .as_i64()
                    .unwrap(),
                l.error().to_string(),
            )
        })
        .collect();
    let expect = [
        (5, "UNIQUE constraint failed: people.id"),
        (1600, "CHECK constraint failed"),
        (2100, "NOT NULL constraint failed: people.name"),
        (2600, "cannot store TEXT value in INTEGER column people.age"),
    ];
    assert_eq!(texts.len(), expect.len(), "{texts:?}");
    for ((id, text), (want_id, want)) in texts.iter().zip(expect) {
        assert_eq!(*id, want_id);
        assert!(text.contains(want), "{text}");
    }
    assert_eq!(query(&db, "SELECT count(*) || '' FROM people"), "2997");
    assert_eq!(query(&db, "PRAGMA journal_mode"), "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upsert_twice_leaves_one_row_per_key_with_the_later_values() {
    let dir = temp_dir("sqlite-upsert");
    let db = dir.join("prices.db");
    let mut cfg = SqliteSinkConfig::new(&db, "prices");
    cfg.columns = vec!["sku".into(), "price".into(), "note".into()];
    cfg.key = vec!["sku".into()];
    cfg.create = true;
    for round in [1, 2] {
        let batch: Vec<Record> = (0..1000)
            .map(|i| record(json!({ "sku": format!("s{i}"), "price": i * round, "note": format!("r{round}") })))
            .collect();
        let (report, letters) = load(batch, SqliteSink::from(cfg.clone())).await;
        assert!(letters.is_empty(), "{letters:?}");
        assert_eq!(report.ledger().written, 1000);
    }
    assert_eq!(
        query(
            &db,
            "SELECT count(*) || '|' || count(DISTINCT sku) || '|' || min(note) || '|' || sum(price) FROM prices"
        ),
        "1000|1000|r2|999000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reads_ties_in_pages_and_resumes_from_its_state_file() {
    let dir = temp_dir("sqlite-source");
    let db = dir.join("ev.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE ev (id INTEGER PRIMARY KEY, at TEXT NOT NULL, v REAL, b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
             INSERT INTO ev SELECT i, printf('2024-01-01 %02d:00', i / 100), i * 1.5, x'00ff' FROM n",
        )
        .unwrap();
    let mut cfg = SqliteSourceConfig::new(&db, "SELECT * FROM ev", "at");
    cfg.key = Some("id".into());
    cfg.page_size = std::num::NonZeroUsize::new(333).unwrap();
    cfg.state = Some(dir.join("ev.cursor"));
    let read = |cfg: SqliteSourceConfig| async move {
        let out = sink::collect::<Record>();
        Pipeline::from_source(SqliteSource::from(cfg))
            .sink(out.clone())
            .run()
            .await
            .unwrap();
        out.take()
    };
    let rows = read(cfg.clone()).await;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.get("id").unwrap().as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=2500).collect::<Vec<_>>());
    assert_eq!(rows[0].get("v"), Some(&json!(1.5)));
    assert_eq!(rows[0].get("b"), Some(&json!("\\x00ff")));
    Connection::open(&db)
        .unwrap()
        .execute_batch("INSERT INTO ev VALUES (2501, '2030-01-01', 0, NULL)")
        .unwrap();
    let rows = read(cfg).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("id"), Some(&json!(2501)));
}

fn rivus_run(file: &Path) -> String {
    let out = Command::new(rivus_binary())
        .args(["run", "--quiet"])
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "rivus run {} failed: {stderr}",
        file.display()
    );
    stderr
}

/// All rows of `table` as text, in `id` order.
fn dump(db: &Path, table: &str) -> String {
    query(
        db,
        &format!(
            "SELECT count(*) || ':' || group_concat(quote(id) || ',' || quote(n) || ',' || quote(f) || ',' || \
             quote(s) || ',' || quote(flag), ';') FROM (SELECT * FROM {table} ORDER BY id)"
        ),
    )
}

/// CSV -> SQLite -> JSON lines -> SQLite: the two tables hold the same rows, with their types.
#[test]
fn csv_to_sqlite_to_json_lines_and_back_keeps_every_row() {
    const ROWS: u64 = 100_000;
    let dir = temp_dir("sqlite-roundtrip");
    let csv = dir.join("in.csv");
    let mut text = String::from("id,n,f,s,flag\n");
    for i in 0..ROWS {
        let n = if i % 7 == 0 {
            String::new()
        } else {
            (i as i64 - 50_000).to_string()
        };
        text.push_str(&format!(
            "{i},{n},{},\"s \"\"{i}\"\", é\",{}\n",
            i as f64 / 8.0,
            i % 3 == 0
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let db = dir.join("out.db");
    let jsonl = dir.join("out.jsonl");
    let files = [
        format!(
            "[source]\nplugin = \"csv\"\npath = \"{}\"\ntypes = {{ id = \"int\", n = \"int\", f = \"float\", flag = \"bool\" }}\n\n\
             [[sinks]]\nplugin = \"sqlite\"\npath = \"{}\"\ntable = \"t\"\ncolumns = [\"id\", \"n\", \"f\", \"s\", \"flag\"]\n\
             key = [\"id\"]\ncreate = true\n",
            csv.display(),
            db.display()
        ),
        format!(
            "[source]\nplugin = \"sqlite\"\npath = \"{}\"\nquery = \"SELECT * FROM t\"\ncursor = \"id\"\n\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
            db.display(),
            jsonl.display()
        ),
        format!(
            "[source]\nplugin = \"jsonl\"\npath = \"{}\"\n\n\
             [[sinks]]\nplugin = \"sqlite\"\npath = \"{}\"\ntable = \"t2\"\ncolumns = [\"id\", \"n\", \"f\", \"s\", \"flag\"]\n\
             create = true\n",
            jsonl.display(),
            db.display()
        ),
    ];
    for (i, text) in files.iter().enumerate() {
        let file = dir.join(format!("step{i}.toml"));
        std::fs::write(
            &file,
            format!("[pipeline]\nname = \"step{i}\"\non_error = \"fail_fast\"\n\n{text}"),
        )
        .unwrap();
        rivus_run(&file);
    }
    let (a, b) = (dump(&db, "t"), dump(&db, "t2"));
    assert!(
        a.starts_with(&format!("{ROWS}:0,NULL,0.0,'s \"0\", é',1;1,-49999,0.125,")),
        "{}",
        &a[..80]
    );
    assert_eq!(a, b);
}

/// `rivus run` (sqlite source -> JSON lines) SIGKILLed mid-run, and run again: no row lost, the rows read
/// twice at most those in flight.
#[test]
fn a_killed_source_process_resumes_after_its_last_acknowledged_cursor() {
    const ROWS: i64 = 1_000_000;
    let dir = temp_dir("sqlite-kill");
    let db = dir.join("ev.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE ev (id INTEGER PRIMARY KEY, body TEXT); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) \
             INSERT INTO ev SELECT i, printf('%.100c', 'x') FROM n"
        ))
        .unwrap();
    let out = dir.join("out.jsonl");
    let file = dir.join("kill.toml");
    std::fs::write(
        &file,
        format!(
            "[pipeline]\nname = \"kill\"\n\n[source]\nplugin = \"sqlite\"\npath = \"{}\"\nquery = \"SELECT * FROM ev\"\n\
             cursor = \"id\"\nstate = \"{}\"\npage_size = 1000\n\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            db.display(),
            dir.join("ev.cursor").display(),
            out.display()
        ),
    )
    .unwrap();
    let lines = |path: &Path| -> Vec<i64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["id"].as_i64().unwrap())
            .collect()
    };
    let mut first = Command::new(rivus_binary())
        .args(["run", "--quiet"])
        .arg(&file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Killed once it wrote about 5 MB (some 40,000 rows), watched by the file's size: cheap to watch.
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 5_000_000 {
        assert!(Instant::now() < deadline, "the first run wrote too little");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap(); // SIGKILL
    let status = first.wait().unwrap();
    assert!(!status.success(), "the first run ended before the kill");
    let at_kill = lines(&out).len();
    assert!(
        (at_kill as i64) < ROWS / 2,
        "the first run was nearly done at the kill: {at_kill} rows"
    );
    rivus_run(&file);
    let ids = lines(&out);
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len() as i64, ROWS, "rows lost");
    let duplicates = ids.len() - unique.len();
    eprintln!("killed after {at_kill} lines; {duplicates} rows read twice");
    assert!(
        duplicates <= 1000 + 2 * 1024,
        "{duplicates} rows read twice"
    );
}

/// The README's SQLite example: `orders_to_sqlite.toml` (CSV -> SQLite) twice (an upsert: no row added), then
/// `sqlite_orders_by_country.toml` (a query -> stdout); its counts add up to the table's rows, which are the
/// rows the main job (`orders.toml`) writes.
#[test]
fn the_readmes_sqlite_example_loads_the_paid_orders_and_queries_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = temp_dir("sqlite-example");
    let run = |file: &str| {
        let o = Command::new(rivus_binary())
            .args(["run", "--quiet", file])
            .current_dir(&root)
            .env("RIVUS_OUT", &out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    run("examples/pipelines/orders_to_sqlite.toml");
    run("examples/pipelines/orders_to_sqlite.toml");
    let db = out.join("orders.db");
    let rows: i64 = query(&db, "SELECT count(*) || '' FROM orders")
        .parse()
        .unwrap();
    // As many rows as the main job writes lines.
    run("examples/pipelines/orders.toml");
    let main_job = std::fs::read_to_string(out.join("orders.jsonl"))
        .unwrap()
        .lines()
        .count() as i64;
    assert!(rows > 1000, "{rows}");
    assert_eq!(rows, main_job);
    let lines = run("examples/pipelines/sqlite_orders_by_country.toml");
    let total: i64 = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["orders"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, rows);
    let rejected = std::fs::read_to_string(out.join("orders_to_sqlite.rejected.jsonl")).unwrap();
    assert!(!rejected.is_empty());
}

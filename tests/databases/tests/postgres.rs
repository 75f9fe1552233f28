//! The `postgres` sink and source against a real PostgreSQL (see `rivus_databases_tests` for where it comes
//! from): refused rows to the dead-letter sink with the server's text while the rest of the batch lands,
//! upserts, lost connections retried, every type through sink -> source -> sink, and a `rivus` process
//! SIGKILLed mid-run resuming after its last acknowledged cursor.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rivus_core::prelude::*;
use rivus_core::retry::RetryPolicy;
use rivus_core::value::{Record, Value};
use rivus_databases_tests::{Postgres, rivus_binary, temp_dir};
use rivus_plugins::postgres::{
    PostgresSink, PostgresSinkConfig, PostgresSource, PostgresSourceConfig,
};

fn record(v: Value) -> Record {
    Record::from_fields(v.as_object().unwrap().clone())
}

/// Runs `records` into `sink` with dead letters on; returns the report and the dead letters.
async fn load(
    records: Vec<Record>,
    sink: PostgresSink,
    retries: u32,
) -> (RunReport, Vec<DeadLetter>) {
    let dead = sink::collect::<DeadLetter>();
    let report = Pipeline::from_iter(records)
        .with_config(StreamConfig::default().with_error_policy(ErrorPolicy::DeadLetter))
        .sink_with(
            sink,
            PipeConfig::named("db").with_retry(
                RetryPolicy::new(retries).with_initial_delay(Duration::from_millis(50)),
            ),
        )
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    (report, dead.take())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_go_to_the_dead_letter_sink_with_the_servers_text_and_the_rest_lands() {
    let pg = Postgres::start("refused");
    pg.psql(
        "CREATE TABLE teams (id int PRIMARY KEY); INSERT INTO teams VALUES (1), (2); \
         CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, age int CHECK (age >= 0), \
         team int REFERENCES teams (id)); INSERT INTO people VALUES (5, 'existing', 1, 1)",
    );
    // 1,000 rows (about 45 KB: the sink streams them into its COPY as they are written); bad ones: a duplicate
    // of an existing key, a duplicate within the batch, a negative age, an age that is not a number, a NULL
    // name, and an unknown team (a foreign key: no line in the error), some before the first 16 KiB sent and
    // some after.
    let name = |i: i64| format!("person {i} of the refusal test");
    let mut records: Vec<Record> = (0..1000)
        .map(|i| {
            record(json!({ "id": 100 + i, "name": name(i), "age": i % 90, "team": 1 + i % 2 }))
        })
        .collect();
    records[3] = record(json!({ "id": 5, "name": "dup of existing", "age": 1, "team": 1 }));
    records[50] = record(json!({ "id": 149, "name": "dup in batch", "age": 1, "team": 1 }));
    records[77] = record(json!({ "id": 177, "name": "negative", "age": -4, "team": 1 }));
    records[520] = record(json!({ "id": 620, "name": "nan", "age": "old", "team": 1 }));
    records[650] = record(json!({ "id": 750, "name": null, "age": 3, "team": 1 }));
    records[990] = record(json!({ "id": 1090, "name": "no team", "age": 3, "team": 9 }));
    let cfg = PostgresSinkConfig::new(pg.url(), "people");
    let (report, letters) = load(records, PostgresSink::try_from(cfg).unwrap(), 0).await;
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    let mut texts: BTreeMap<i64, String> = letters
        .iter()
        .map(|l| {
            let id = l
                .item::<Record>()
                .unwrap()
                .get("id")
                .unwrap()
                .as_i64()
                .unwrap();
            (id, l.error().to_string())
        })
        .collect();
    let expect = [
        (
            5,
            "duplicate key value violates unique constraint \"people_pkey\"",
        ),
        (
            149,
            "duplicate key value violates unique constraint \"people_pkey\"",
        ),
        (177, "violates check constraint \"people_age_check\""),
        (620, "invalid input syntax for type integer: \"old\""),
        (750, "null value in column \"name\""),
        (1090, "violates foreign key constraint \"people_team_fkey\""),
    ];
    for (id, text) in expect {
        let got = texts
            .remove(&id)
            .unwrap_or_else(|| panic!("row {id} was not refused: {letters:?}"));
        assert!(got.contains(text), "row {id}: {got}");
    }
    assert!(texts.is_empty(), "refused too: {texts:?}");
    assert_eq!(
        (ledger.written, ledger.dead_lettered),
        (994, 6),
        "{ledger:?}"
    );
    // 994 new rows, and the one that was there; the first row with key 149 (the 50th) landed.
    assert_eq!(pg.psql("SELECT count(*) FROM people"), "995");
    assert_eq!(pg.psql("SELECT name FROM people WHERE id = 149"), name(49));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upsert_twice_leaves_one_row_per_key_with_the_later_values() {
    let pg = Postgres::start("upsert");
    pg.psql("CREATE TABLE prices (sku text PRIMARY KEY, price numeric(12, 2) NOT NULL, note text)");
    let batch = |round: u32| -> Vec<Record> {
        (0..1000)
            .map(|i| record(json!({ "sku": format!("s{i}"), "price": format!("{}.{round}0", i), "note": format!("r{round}") })))
            .collect()
    };
    let mut cfg = PostgresSinkConfig::new(pg.url(), "prices");
    cfg.key = vec!["sku".into()];
    for round in [1, 2] {
        let (report, letters) = load(
            batch(round),
            PostgresSink::try_from(cfg.clone()).unwrap(),
            0,
        )
        .await;
        assert!(letters.is_empty(), "{letters:?}");
        assert_eq!(report.ledger().written, 1000);
    }
    assert_eq!(
        pg.psql(
            "SELECT count(*), count(DISTINCT sku), min(note), max(note), sum(price) FROM prices"
        ),
        "1000|1000|r2|r2|499700.00"
    );
    // The same key twice in one flush: the later one wins.
    let twice = vec![
        record(json!({ "sku": "s1", "price": 1, "note": "first" })),
        record(json!({ "sku": "s1", "price": 2, "note": "second" })),
    ];
    let (report, _) = load(twice, PostgresSink::try_from(cfg.clone()).unwrap(), 0).await;
    assert_eq!(report.ledger().written, 2);
    assert_eq!(
        pg.psql("SELECT price, note FROM prices WHERE sku = 's1'"),
        "2.00|second"
    );
    // A refused row in an upsert batch (NOT NULL) is found by splitting; the others land.
    let mixed: Vec<Record> = (0..50)
        .map(|i| record(json!({ "sku": format!("n{i}"), "price": if i == 17 { Value::Null } else { json!(i) } })))
        .collect();
    let (report, letters) = load(mixed, PostgresSink::try_from(cfg).unwrap(), 0).await;
    assert_eq!(
        (report.ledger().written, report.ledger().dead_lettered),
        (49, 1)
    );
    assert!(
        letters[0]
            .error()
            .to_string()
            .contains("null value in column \"price\""),
        "{}",
        letters[0].error()
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM prices WHERE sku LIKE 'n%'"),
        "49"
    );
}

/// Connections terminated while the sink loads, twice: plain `COPY`s, where a connection lost while `write`
/// streams rows is absorbed by the flush loading every row afresh (a loss during the flush is retried), and
/// upserts, whose flushes run in a transaction and must be retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_retried_and_every_row_lands_once() {
    let pg = Postgres::start("retry");
    for upsert in [false, true] {
        pg.psql(
            "DROP TABLE IF EXISTS events; CREATE TABLE events (id bigint PRIMARY KEY, body text)",
        );
        let records: Vec<Record> = (0..200_000)
            .map(|i| record(json!({ "id": i, "body": "x".repeat(50) })))
            .collect();
        let url = pg.url().to_owned();
        // Terminates the sink's connections a few times while it loads. For upserts, only connections at work:
        // one killed while idle in the pool is replaced without an error, which would leave the retry untested.
        let busy = if upsert { "AND state <> 'idle'" } else { "" };
        let killer = std::thread::spawn(move || {
            let mut killed = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while killed < 3 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(300));
                let n = rivus_databases_tests::psql(
                    &url,
                    &format!(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE application_name = 'rivus' AND pid <> pg_backend_pid() {busy}"
                    ),
                );
                killed += n.parse::<u32>().unwrap_or(0);
            }
            killed
        });
        let mut cfg = PostgresSinkConfig::new(pg.url(), "events");
        if upsert {
            cfg.key = vec!["id".to_owned()];
        }
        let (report, letters) = load(records, PostgresSink::try_from(cfg).unwrap(), 20).await;
        let killed = killer.join().unwrap();
        assert!(letters.is_empty(), "upsert {upsert}: {letters:?}");
        assert!(
            killed > 0,
            "upsert {upsert}: no connection was terminated: the test proves nothing"
        );
        if upsert {
            assert!(report.stage("db").unwrap().retries > 0, "{report:?}");
        }
        assert_eq!(report.ledger().written, 200_000, "upsert {upsert}");
        // A flush the sink called committed must be in the table: a COPY's rows are committed only when the
        // server answers COMMIT, not when it reports them copied (this test lost a flush of 1,024 rows in about
        // one run of four before the sink waited for the commit).
        let missing = pg.psql(
            "SELECT count(*), min(id), max(id) FROM generate_series(0, 199999) g(id) \
             WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = g.id)",
        );
        assert_eq!(
            pg.psql("SELECT count(*), count(DISTINCT id) FROM events"),
            "200000|200000",
            "upsert {upsert}; missing ids (count|first|last): {missing}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reads_ties_in_pages_and_resumes_from_its_state_file() {
    let pg = Postgres::start("source");
    // 2,500 rows on 25 distinct cursor values: ties across page boundaries.
    pg.psql(
        "CREATE TABLE ev (id int PRIMARY KEY, at timestamptz NOT NULL, v numeric); \
         INSERT INTO ev SELECT i, '2024-01-01'::timestamptz + (i / 100) * interval '1 hour', i * 1.5 \
         FROM generate_series(1, 2500) i",
    );
    let dir = temp_dir("pg-source");
    let mut cfg = PostgresSourceConfig::new(pg.url(), "SELECT * FROM ev", "at");
    cfg.key = Some("id".into());
    cfg.page_size = std::num::NonZeroUsize::new(333).unwrap();
    cfg.state = Some(dir.join("ev.cursor"));
    let read = |cfg: PostgresSourceConfig| async move {
        let out = sink::collect::<Record>();
        Pipeline::from_source(PostgresSource::try_from(cfg).unwrap())
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
    assert_eq!(rows[0].get("v").unwrap().to_string(), "1.5");
    assert_eq!(
        rows[0].get("at").unwrap(),
        &json!("2024-01-01T00:00:00+00:00")
    );
    // Caught up: the next run reads only new rows.
    pg.psql("INSERT INTO ev VALUES (2501, '2024-01-01', 0), (2502, '2030-01-01', 0)");
    let rows = read(cfg.clone()).await;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.get("id").unwrap().as_i64().unwrap())
        .collect();
    // 2501 has an old cursor (it committed late): not seen, as documented. 2502 is.
    assert_eq!(ids, [2502]);
    // A state file of another query is refused.
    let mut other = cfg.clone();
    other.query = "SELECT * FROM ev WHERE id > 10".into();
    let err = PostgresSource::try_from(other).unwrap();
    let err = Pipeline::from_source(err)
        .sink(sink::collect::<Record>())
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another query"), "{err}");
}

/// A pipeline file for `rivus run`.
fn write_toml(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// `rivus run --quiet FILE`; returns stderr, failing the test on a non-zero exit.
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

const TYPES: &str = "id bigint PRIMARY KEY, i4 int, f8 double precision, num numeric(30, 10), t text, b bool, \
                     d date, tm time, ts timestamptz, j jsonb, by bytea, u uuid, arr int[], tarr text[]";

/// Acceptance: CSV -> postgres sink -> postgres source -> JSON lines, 100,000 rows of every type with NULLs;
/// the JSON lines loaded back into a second table give the same rows (count and checksum by a query).
#[test]
fn every_type_survives_csv_to_postgres_to_json_lines_and_back() {
    const ROWS: u64 = 100_000;
    let pg = Postgres::start("types");
    pg.psql(&format!(
        "CREATE TABLE t ({TYPES}); CREATE TABLE t2 ({TYPES})"
    ));
    let dir = temp_dir("types");
    let csv = dir.join("in.csv");
    let mut w = csv::Writer::from_path(&csv).unwrap();
    w.write_record([
        "id", "i4", "f8", "num", "t", "b", "d", "tm", "ts", "j", "by", "u", "arr", "tarr",
    ])
    .unwrap();
    for i in 0..ROWS {
        let null = |k: u64, v: String| if i % k == 0 { String::new() } else { v };
        w.write_record([
            i.to_string(),
            null(7, format!("{}", (i as i64 - 50_000) * 31)),
            null(11, format!("{}", i as f64 / 7.0)),
            null(
                13,
                format!("{}{:03}.{:010}", i, i % 1000, i * 7919 % 10_000_000_000),
            ),
            format!("text \"{i}\",\ttab\nnewline \\ é"),
            null(5, (i % 2 == 0).to_string()),
            null(
                17,
                format!("20{:02}-{:02}-{:02}", i % 100, 1 + i % 12, 1 + i % 28),
            ),
            null(
                19,
                format!(
                    "{:02}:{:02}:{:02}.{:06}",
                    i % 24,
                    i % 60,
                    i % 60,
                    i % 1_000_000
                ),
            ),
            null(
                23,
                format!("2024-03-{:02}T{:02}:00:00.5+02:00", 1 + i % 28, i % 24),
            ),
            null(
                29,
                format!("{{\"n\": {i}, \"s\": \"é\\\"\", \"a\": [1, null, {{\"x\": true}}]}}"),
            ),
            null(31, format!("\\x{:08x}00ff", i)),
            null(37, format!("00000000-0000-4000-8000-{:012x}", i)),
            null(41, format!("{{{},NULL,-3}}", i)),
            null(43, format!("{{\"a,b\",\"q\\\"\",{i}}}")),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let url = pg.url();
    let load = dir.join("load.toml");
    write_toml(
        &load,
        &format!(
            "[pipeline]\nname = \"load\"\non_error = \"fail_fast\"\n\n[source]\nplugin = \"csv\"\npath = \"{}\"\n\n\
             [[sinks]]\nplugin = \"postgres\"\nurl = \"{url}\"\ntable = \"t\"\n",
            csv.display()
        ),
    );
    rivus_run(&load);
    let jsonl = dir.join("out.jsonl");
    let read = dir.join("read.toml");
    write_toml(
        &read,
        &format!(
            "[pipeline]\nname = \"read\"\non_error = \"fail_fast\"\n\n[source]\nplugin = \"postgres\"\nurl = \"{url}\"\n\
             query = \"SELECT * FROM t\"\ncursor = \"id\"\npage_size = 5000\n\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
            jsonl.display()
        ),
    );
    rivus_run(&read);
    let back = dir.join("back.toml");
    write_toml(
        &back,
        &format!(
            "[pipeline]\nname = \"back\"\non_error = \"fail_fast\"\n\n[source]\nplugin = \"jsonl\"\npath = \"{}\"\n\n\
             [[sinks]]\nplugin = \"postgres\"\nurl = \"{url}\"\ntable = \"t2\"\n",
            jsonl.display()
        ),
    );
    rivus_run(&back);
    let sum = |table: &str| {
        pg.psql(&format!(
            "SELECT count(*), md5(string_agg(x::text, '|' ORDER BY id)) FROM {table} x"
        ))
    };
    let (a, b) = (sum("t"), sum("t2"));
    assert!(a.starts_with(&format!("{ROWS}|")), "{a}");
    assert_eq!(a, b);
    // NULLs where the CSV had empty fields, and a few values as the server has them.
    assert_eq!(
        pg.psql("SELECT count(*) FILTER (WHERE i4 IS NULL), count(*) FILTER (WHERE j IS NULL), count(*) FILTER (WHERE tarr IS NULL) FROM t"),
        format!("{}|{}|{}", ROWS.div_ceil(7), ROWS.div_ceil(29), ROWS.div_ceil(43))
    );
    // Types in the JSON lines: numbers, exact numerics, nested JSON, arrays, NULLs.
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    let first: Vec<Value> = lines
        .lines()
        .take(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let r1 = &first[1];
    assert_eq!(r1["i4"], json!(-49_999 * 31));
    assert_eq!(r1["num"].to_string(), "1001.0000007919");
    assert_eq!(r1["b"], json!(false));
    assert_eq!(
        r1["j"],
        json!({"a": [1, null, {"x": true}], "n": 1, "s": "é\""})
    );
    assert_eq!(r1["arr"], json!([1, null, -3]));
    assert_eq!(r1["tarr"], json!(["a,b", "q\"", "1"]));
    assert_eq!(r1["by"], json!("\\x0000000100ff"));
    assert_eq!(r1["u"], json!("00000000-0000-4000-8000-000000000001"));
    let ts = r1["ts"].as_str().unwrap();
    assert!(
        ts.starts_with("2024-03-0") && ts.contains(":00:00.5"),
        "{ts}"
    );
    assert_eq!(first[0]["i4"], Value::Null);
}

/// Acceptance: `rivus run` (postgres source -> JSON lines) SIGKILLed mid-run, and run again: it resumes after
/// the last acknowledged cursor; no row is lost; the rows read twice are at most those in flight.
#[test]
fn a_killed_source_process_resumes_after_its_last_acknowledged_cursor() {
    const ROWS: i64 = 300_000;
    let pg = Postgres::start("kill");
    pg.psql(&format!(
        "CREATE TABLE ev (id bigint PRIMARY KEY, body text); \
         INSERT INTO ev SELECT i, repeat('x', 100) FROM generate_series(1, {ROWS}) i"
    ));
    let dir = temp_dir("pg-kill");
    let out = dir.join("out.jsonl");
    let file = dir.join("kill.toml");
    write_toml(
        &file,
        &format!(
            "[pipeline]\nname = \"kill\"\n\n[source]\nplugin = \"postgres\"\nurl = \"{}\"\n\
             query = \"SELECT * FROM ev\"\ncursor = \"id\"\nstate = \"{}\"\npage_size = 1000\n\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            pg.url(),
            dir.join("ev.cursor").display(),
            out.display()
        ),
    );
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
    assert_eq!(unique.first(), Some(&1));
    assert_eq!(unique.last(), Some(&ROWS));
    let duplicates = ids.len() - unique.len();
    // In flight at most: the source's page (1000) and the runtime's buffers (1024 items each, source -> sink),
    // plus what the sink held since its last flush.
    eprintln!("killed after {at_kill} lines; {duplicates} rows read twice");
    assert!(
        duplicates <= 1000 + 2 * 1024,
        "{duplicates} rows read twice"
    );
}

/// A server that cannot be reached: the error names it, without the password, and is transient (the stage's
/// retries would try again); the same for a missing table, which is permanent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_name_the_server_without_the_password() {
    let port = rivus_databases_tests::free_port();
    let url = format!("postgres://app:s3cret@127.0.0.1:{port}/shop");
    let mut cfg = PostgresSinkConfig::new(&url, "people");
    cfg.connect_timeout = Duration::from_secs(2);
    let err = Pipeline::from_iter(Vec::<Record>::new())
        .sink(PostgresSink::try_from(cfg.clone()).unwrap())
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("postgres://app@127.0.0.1:{port}/shop")),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!format!("{cfg:?}").contains("s3cret"));

    let pg = Postgres::start("missing");
    let err = Pipeline::from_iter(Vec::<Record>::new())
        .sink(PostgresSink::try_from(PostgresSinkConfig::new(pg.url(), "nowhere")).unwrap())
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("relation \"nowhere\" does not exist"), "{err}");
}

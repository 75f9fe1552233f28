//! Projection and filter pushdown through `rivus run`: a CSV with bad rows through a `filter` and a `select`
//! gives the same output, the same ledger and the same dead letters (each bad row located, with its raw line)
//! with `[pipeline] pushdown` on and off; a checkpointed run stopped by a bad row and resumed is exact both
//! ways; and the one documented difference: a type error in a column nobody reads is not an error with
//! pushdown.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn rivus() -> Command {
    Command::cargo_bin("rivus").unwrap()
}

/// Runs `file` in its directory, expects `code`, gives stderr.
fn run(dir: &Path, file: &Path, code: i32) -> String {
    let out = rivus()
        .current_dir(dir)
        .arg("run")
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

/// The summary's ledger line.
fn ledger_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with("read "))
        .unwrap_or_else(|| panic!("no ledger line in:\n{stderr}"))
        .trim()
        .to_owned()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Orders `id,status,amount,note,code`: every third paid; `code` is 0, and 7 on every 500th row from 498 (on a
/// paid row, the filter's regex then meets an integer: an error for the error policy); a row with a missing field
/// every 101 rows, one with an extra field every 103; an `amount` that is not a number on every 89th row (the
/// filter drops most of those: their `amount` is still read by the `select`, so they are still errors).
fn orders(path: &Path, rows: u64) {
    let mut text = String::from("id,status,amount,note,code\n");
    for i in 0..rows {
        let status = if i.is_multiple_of(3) {
            "paid"
        } else {
            "pending"
        };
        let amount = if i % 89 == 88 {
            "lots".to_owned()
        } else {
            format!("{}.5", i % 50)
        };
        let code = if i % 500 == 498 { 7 } else { 0 };
        let line = if i % 101 == 100 {
            format!("{i},{status},{amount},note {i}\n")
        } else if i % 103 == 102 {
            format!("{i},{status},{amount},note {i},{code},extra\n")
        } else {
            format!("{i},{status},{amount},\"note, {i}\",{code}\n")
        };
        text.push_str(&line);
    }
    std::fs::write(path, text).unwrap();
}

/// The pipeline: a filter right after the CSV source, then a select; bad rows and failed records to the dead
/// letter.
fn pipeline(dir: &Path, pushdown: bool, extra_source: &str, sink: &str) -> PathBuf {
    let path = dir.join(format!("p-{pushdown}.toml"));
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"pd\"\npushdown = {pushdown}\non_error = \"dead_letter\"\nchunk_size = 16\n\
             [source]\nplugin = \"csv\"\npath = \"in.csv\"\n\
             types = {{ id = \"int\", amount = \"float\", code = \"int\" }}\n{extra_source}\
             [[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid' and (code == 0 or code =~ '^A')\"\n\
             [[transforms]]\nplugin = \"select\"\nfields = [\"id\", \"amount\", \"status\"]\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"out-{pushdown}.jsonl\"\n{sink}\
             [dead_letter]\nplugin = \"jsonl\"\npath = \"dead-{pushdown}.jsonl\"\n{sink}"
        ),
    )
    .unwrap();
    path
}

/// The dead letters of `path` in row order: the source's and the filter's come from two tasks, whose
/// interleaving is not fixed.
fn dead_letters_in_row_order(path: &Path) -> Vec<Value> {
    let mut dead = jsonl(path);
    dead.sort_by_key(|d| {
        d["line"]
            .as_u64()
            .unwrap_or_else(|| d["record"]["id"].as_u64().unwrap() + 2)
    });
    dead
}

/// A dead letter without its `record` (which pushdown narrows to the fields read), and that record.
fn split(mut letter: Value) -> (Value, Value) {
    let record = letter
        .as_object_mut()
        .unwrap()
        .remove("record")
        .unwrap_or(Value::Null);
    (letter, record)
}

#[test]
fn a_filter_and_a_select_give_the_same_output_ledger_and_dead_letters_with_and_without_pushdown() {
    const ROWS: u64 = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    orders(&dir.join("in.csv"), ROWS);
    let mut runs = Vec::new();
    for pushdown in [true, false] {
        let file = pipeline(dir, pushdown, "", "");
        let stderr = run(dir, &file, 0);
        let dead = dead_letters_in_row_order(&dir.join(format!("dead-{pushdown}.jsonl")));
        runs.push((
            ledger_line(&stderr),
            jsonl(&dir.join(format!("out-{pushdown}.jsonl"))),
            dead,
        ));
    }
    let (on, off) = (&runs[0], &runs[1]);
    assert_eq!(on.0, off.0, "the ledger");
    assert_eq!(on.1, off.1, "the output");
    assert_eq!(on.2.len(), off.2.len(), "the dead letters");

    // The expected figures, from the generator's rules.
    let short = |i: u64| i % 101 == 100;
    let long = |i: u64| i % 103 == 102 && !short(i);
    let bad_amount = |i: u64| i % 89 == 88;
    let source_error = |i: u64| short(i) || long(i) || bad_amount(i);
    let paid = |i: u64| i.is_multiple_of(3);
    let filter_error = |i: u64| !source_error(i) && paid(i) && i % 500 == 498;
    let written = (0..ROWS)
        .filter(|&i| !source_error(i) && paid(i) && i % 500 != 498)
        .count();
    let dead = (0..ROWS)
        .filter(|&i| source_error(i) || filter_error(i))
        .count();
    let filtered = (0..ROWS).filter(|&i| !source_error(i) && !paid(i)).count();
    assert_eq!(
        on.0,
        format!(
            "read {ROWS} = written {written} + filtered {filtered} + skipped 0 + dead-lettered {dead} + failed 0 + \
             not processed 0"
        )
    );
    assert_eq!(on.1.len(), written);
    assert_eq!(
        on.1[0],
        serde_json::json!({ "id": 0, "amount": 0.5, "status": "paid" })
    );

    for (a, b) in on.2.iter().zip(&off.2) {
        let ((a, record_on), (b, record_off)) = (split(a.clone()), split(b.clone()));
        assert_eq!(a, b, "a dead letter differs");
        if record_off.is_null() {
            // A bad row: located, with its raw line, both ways.
            assert!(a["input"].is_string() && a["line"].is_u64(), "{a}");
        } else {
            // A record the filter failed: with pushdown it holds the fields the pipeline reads.
            let off = record_off.as_object().unwrap();
            let on = record_on.as_object().unwrap();
            assert_eq!(
                on.keys().collect::<Vec<_>>(),
                ["id", "status", "amount", "code"]
            );
            assert!(
                on.iter().all(|(k, v)| off.get(k) == Some(v)),
                "{on:?} {off:?}"
            );
        }
    }
    let rows = |what: &str| {
        on.2.iter()
            .filter(|d| d["error"].as_str().unwrap().contains(what))
            .map(|d| d["line"].as_u64().unwrap() - 2)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows("expected 5 fields"),
        (0..ROWS)
            .filter(|&i| short(i) || long(i))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows("is not a number"),
        (0..ROWS)
            .filter(|&i| bad_amount(i) && !short(i) && !long(i))
            .collect::<Vec<_>>()
    );
    let short_row =
        on.2.iter()
            .find(|d| d["line"] == 102)
            .expect("row 100's dead letter");
    assert_eq!(short_row["input"], "100,pending,0.5,note 100");
    assert!(
        short_row["error"]
            .as_str()
            .unwrap()
            .contains("in.csv:102: expected 5 fields, found 4"),
        "{short_row}"
    );
}

/// The same pipeline with the CSV rows typed by two worker threads: the same ledger, output and dead letters.
#[test]
fn workers_give_the_same_output_ledger_and_dead_letters() {
    const ROWS: u64 = 5_000;
    let mut runs = Vec::new();
    for workers in ["", "workers = 2\n"] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        orders(&dir.join("in.csv"), ROWS);
        let file = pipeline(dir, true, workers, "");
        let stderr = run(dir, &file, 0);
        let dead = dead_letters_in_row_order(&dir.join("dead-true.jsonl"));
        runs.push((
            ledger_line(&stderr),
            jsonl(&dir.join("out-true.jsonl")),
            dead,
        ));
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].2.len() > 100, "{}", runs[0].2.len());
}

#[test]
fn a_checkpointed_run_stopped_and_resumed_is_exact_with_and_without_pushdown_and_with_workers() {
    const ROWS: u64 = 3_000;
    let mut results = Vec::new();
    // Pushdown on, off, and on with the rows typed by two worker threads.
    for (pushdown, workers) in [(true, ""), (false, ""), (true, "workers = 2\n")] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        orders(&dir.join("in.csv"), ROWS);
        let state = format!("checkpoint = \"in.checkpoint\"\n{workers}");
        let file = pipeline(dir, pushdown, &state, "append = true\n");
        // First run: fail fast on the first bad row (row 88's amount), after committing what reached an end.
        let text = std::fs::read_to_string(&file).unwrap();
        let fail_fast = dir.join("fail-fast.toml");
        std::fs::write(
            &fail_fast,
            text.replace("on_error = \"dead_letter\"", "on_error = \"fail_fast\"")
                .replace(
                    &format!(
                        "[dead_letter]\nplugin = \"jsonl\"\npath = \"dead-{pushdown}.jsonl\"\nappend = true\n"
                    ),
                    "",
                ),
        )
        .unwrap();
        let first = ledger_line(&run(dir, &fail_fast, 1));
        // Then resume with dead letters: the rest of the file, once.
        let second = ledger_line(&run(dir, &file, 0));
        let out = jsonl(&dir.join(format!("out-{pushdown}.jsonl")));
        let dead = jsonl(&dir.join(format!("dead-{pushdown}.jsonl")));
        results.push((first, second, out, dead.len()));
    }
    let (on, off) = (&results[0], &results[1]);
    assert_eq!(on, off, "pushdown on and off differ");
    assert_eq!(on, &results[2], "workers change the runs");
    assert!(on.0.contains("+ failed 1 +"), "{}", on.0);
    let ids: Vec<i64> = on.2.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "the output is in file order, each record once"
    );
    let good = |i: u64| i % 101 != 100 && i % 103 != 102 && i % 89 != 88;
    let expected = (0..ROWS)
        .filter(|&i| good(i) && i.is_multiple_of(3) && i % 500 != 498)
        .count();
    assert_eq!(ids.len(), expected, "every record written");
}

#[test]
fn a_type_error_in_a_column_nobody_reads_is_an_error_only_without_pushdown() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("in.csv"),
        "id,status,note\n1,paid,2\n2,paid,oops\n3,pending,4\n",
    )
    .unwrap();
    let mut lines = Vec::new();
    for pushdown in [true, false] {
        let file = dir.join(format!("p-{pushdown}.toml"));
        std::fs::write(
            &file,
            format!(
                "[pipeline]\npushdown = {pushdown}\non_error = \"skip\"\n[source]\nplugin = \"csv\"\n\
                 path = \"in.csv\"\ntypes = {{ note = \"int\" }}\n\
                 [[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid'\"\n\
                 [[transforms]]\nplugin = \"select\"\nfields = [\"id\"]\n\
                 [[sinks]]\nplugin = \"jsonl\"\npath = \"out-{pushdown}.jsonl\"\n"
            ),
        )
        .unwrap();
        lines.push(ledger_line(&run(dir, &file, 0)));
        let validate = rivus()
            .current_dir(dir)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        let out = String::from_utf8(validate.stdout).unwrap();
        let shown = "  pushdown: csv builds only fields `id`, `status`, tests the filter's condition \
                     (status == 'paid') before building the rest of a row\n";
        assert_eq!(out.contains(shown), pushdown, "{out}");
    }
    assert_eq!(
        lines,
        [
            "read 3 = written 2 + filtered 1 + skipped 0 + dead-lettered 0 + failed 0 + not processed 0",
            "read 3 = written 1 + filtered 1 + skipped 1 + dead-lettered 0 + failed 0 + not processed 0",
        ]
    );
}

//! Conditions, routes and several sources in pipeline files, through `rivus`: the shipped examples
//! (`route_orders.toml`, `merge_orders.toml`) under `validate`, `test`, `run`, `describe` and `schema`, located
//! errors in conditions, and the ledger of routed and merged runs (unrouted records counted, nothing lost).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The workspace root: pipeline files name paths relative to it, as the README's commands do.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rivus() -> Command {
    let mut cmd = Command::cargo_bin("rivus").unwrap();
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`, expects `code`, gives (stdout, stderr).
fn run(cmd: &mut Command, code: i32) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// A count from the summary's ledger line (`read 10 = written 7 + …`).
fn count(summary: &str, word: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with("read "))
        .unwrap_or_else(|| panic!("no ledger line in {summary}"));
    match line.find(&format!("{word} ")) {
        Some(at) => line[at + word.len() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        None => 0,
    }
}

/// Every count of the ledger line, checked to add up.
fn balanced(summary: &str) -> [u64; 6] {
    let read = count(summary, "read");
    let parts = [
        count(summary, "written"),
        count(summary, "filtered"),
        count(summary, "dead-lettered"),
        count(summary, "unrouted"),
        count(summary, "expanded"),
    ];
    let accounted = parts[0] + parts[1] + parts[2] + parts[3];
    assert_eq!(read + parts[4], accounted, "the ledger adds up: {summary}");
    [read, parts[0], parts[1], parts[2], parts[3], parts[4]]
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn route_orders_validates_tests_and_describes_its_routes() {
    let (out, _) = run(
        rivus().args(["validate", "examples/pipelines/route_orders.toml"]),
        0,
    );
    assert!(
        out.contains("europe (sync sink, when country in ['DE', 'FR', 'GB', 'NL', 'SE'])"),
        "{out}"
    );
    assert!(out.contains("elsewhere (sync sink, otherwise)"), "{out}");
    let (out, _) = run(
        rivus().args(["test", "examples/pipelines/route_orders.toml"]),
        0,
    );
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    let (out, _) = run(rivus().args(["describe", "filter"]), 0);
    assert!(out.contains("when"), "{out}");
}

#[test]
fn route_orders_runs_each_record_to_its_route() {
    let dir = tempfile::tempdir().unwrap();
    let (_, summary) = run(
        rivus()
            .args(["run", "examples/pipelines/route_orders.toml"])
            .env("RIVUS_OUT", dir.path()),
        0,
    );
    let [read, written, filtered, dead, unrouted, expanded] = balanced(&summary);
    assert_eq!(
        (read, dead, unrouted, expanded),
        (5000, 44, 0, 0),
        "{summary}"
    );
    let europe = jsonl(&dir.path().join("orders.europe.jsonl"));
    let americas = jsonl(&dir.path().join("orders.americas.jsonl"));
    let elsewhere = jsonl(&dir.path().join("orders.elsewhere.jsonl"));
    assert_eq!(
        (europe.len() + americas.len() + elsewhere.len()) as u64,
        written,
        "{summary}"
    );
    assert!(filtered > 0 && !europe.is_empty() && !americas.is_empty() && !elsewhere.is_empty());
    let country = |r: &serde_json::Value| r["country"].as_str().unwrap().to_owned();
    assert!(
        europe
            .iter()
            .all(|r| ["DE", "FR", "GB", "NL", "SE"].contains(&country(r).as_str()))
    );
    assert!(
        americas
            .iter()
            .all(|r| ["US", "BR"].contains(&country(r).as_str()))
    );
    assert!(elsewhere.iter().all(|r| country(r) == "JP"));
    assert!(
        [&europe, &americas, &elsewhere]
            .iter()
            .all(|rs| rs.iter().all(|r| r["amount"].as_f64().unwrap() > 10.0))
    );
    let ids: BTreeSet<u64> = [&europe, &americas, &elsewhere]
        .iter()
        .flat_map(|rs| rs.iter().map(|r| r["order_id"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ids.len() as u64,
        written,
        "each record went to exactly one route"
    );
}

#[test]
fn merged_sources_carry_their_names_and_keep_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run(
        rivus().args(["validate", "examples/pipelines/merge_orders.toml"]),
        0,
    );
    assert!(
        out.contains("current (") && out.contains(" + archive ("),
        "{out}"
    );
    let (out, _) = run(
        rivus().args(["test", "examples/pipelines/merge_orders.toml"]),
        0,
    );
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    let (_, summary) = run(
        rivus()
            .args(["run", "examples/pipelines/merge_orders.toml"])
            .env("RIVUS_OUT", dir.path()),
        0,
    );
    let [read, written, filtered, dead, unrouted, expanded] = balanced(&summary);
    // 44 malformed rows, of which 5 are bad only in columns the pipeline does not read: with pushdown (the
    // default) those are not checked, and are written or filtered like any other row.
    assert_eq!((read, dead, unrouted), (5006, 39, 0), "{summary}");
    let merged = jsonl(&dir.path().join("orders.merged.jsonl"));
    let archive = jsonl(&dir.path().join("orders.archive.jsonl"));
    let from = |name: &str| merged.iter().filter(|r| r["_source"] == name).count();
    // The archive has 4 paid orders; the copies to the second sink are the expansion.
    assert_eq!(
        (from("archive"), archive.len(), expanded),
        (4, 4, 4),
        "{summary}"
    );
    assert_eq!(from("current") + from("archive"), merged.len());
    assert_eq!(written, (merged.len() + archive.len()) as u64, "{summary}");
    assert!(archive.iter().all(|r| r["_source"] == "archive"));
    assert!(filtered > 0);
}

/// Two generated CSVs merged, one routed by source with no default route: the other source's records end
/// unrouted, counted, and the run still completes.
#[test]
fn unrouted_records_of_merged_sources_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = |name: &str, rows: u64| {
        let path = dir.path().join(name);
        let mut text = String::from("id,v\n");
        for i in 0..rows {
            text.push_str(&format!("{i},{}\n", i % 10));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let (a, b) = (csv("a.csv", 1000), csv("b.csv", 500));
    let out = dir.path().join("out.jsonl");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[[sources]]\nname = \"a\"\nplugin = \"csv\"\npath = \"{}\"\ntypes = {{ v = \"int\" }}\n\
             [[sources]]\nname = \"b\"\nplugin = \"csv\"\npath = \"{}\"\ntypes = {{ v = \"int\" }}\n\
             [[transforms]]\nplugin = \"filter\"\nwhen = \"v != 0 or _source == 'b'\"\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nwhen = \"_source == 'a'\"\n",
            a.display(),
            b.display(),
            out.display()
        ),
    )
    .unwrap();
    let (_, summary) = run(rivus().arg("run").arg(&file), 0);
    let [read, written, filtered, dead, unrouted, expanded] = balanced(&summary);
    assert_eq!(
        (read, written, filtered, dead, unrouted, expanded),
        (1500, 900, 100, 0, 500, 0),
        "{summary}"
    );
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 900);
    assert!(lines.iter().all(|r| r["_source"] == "a" && r["v"] != 0));
}

#[test]
fn bad_conditions_and_routes_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str, expected: &str| {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let (_, err) = run(rivus().arg("validate").arg(&file), 2);
        assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    };
    let head = "[source]\nplugin = \"generator\"\ncount = 1\n";
    check(
        &format!(
            "{head}[[transforms]]\nplugin = \"filter\"\nwhen = \"status = 'paid'\"\n[[sinks]]\nplugin = \"blackhole\"\n"
        ),
        "bad.toml:6:1: `transforms[0].when`: plugin `filter`: at column 8 of the condition: unexpected `=` (write `==`)",
    );
    check(
        &format!("{head}[[sinks]]\nplugin = \"blackhole\"\nwhen = \"amount > 10 and\"\n"),
        "bad.toml:6:1: `sinks[0].when`: at column 16 of the condition: expected a field or a value, found the end",
    );
    check(
        &format!("{head}[[sinks]]\nplugin = \"blackhole\"\nwhen = \"a =~ '('\"\n"),
        "at column 6 of the condition: bad regular expression",
    );
    check(
        &format!("{head}[[sinks]]\nplugin = \"blackhole\"\notherwise = true\n"),
        "bad.toml:6:1: `sinks[0].otherwise`: `otherwise` takes the records no `when` route took, but no sink has a `when`",
    );
    check(
        &format!("{head}[[sinks]]\nplugin = \"blackhole\"\nwhen = \"a\"\notherwise = true\n"),
        "not both",
    );
    check(
        "[source]\nplugin = \"generator\"\n[[sources]]\nplugin = \"generator\"\n[[sinks]]\nplugin = \"blackhole\"\n",
        "either one `[source]` or `[[sources]]`",
    );
    check(
        "[[sources]]\nplugin = \"generator\"\n[[sources]]\nplugin = \"generator\"\n[[sinks]]\nplugin = \"blackhole\"\n",
        "bad.toml:4:1: `sources[1].plugin`: `sources[0]` is named `generator` already",
    );
}

#[test]
fn schema_knows_routes_and_sources() {
    let (out, _) = run(rivus().arg("schema"), 0);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    let props = &schema["properties"];
    assert!(props["sources"]["items"]["oneOf"].is_array());
    let sink = &props["sinks"]["items"]["oneOf"][0]["properties"];
    assert_eq!(sink["when"]["type"], "string");
    assert_eq!(sink["otherwise"]["type"], "boolean");
    let filter = props["transforms"]["items"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["properties"]["plugin"]["const"] == "filter")
        .unwrap();
    assert!(filter["properties"]["when"].is_object(), "{filter}");
}

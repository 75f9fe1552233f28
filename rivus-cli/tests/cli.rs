//! The `rivus` command, run as a user runs it: every subcommand, the exact error texts of bad pipeline files,
//! the main job's counts, bad CSV input under each error policy, `rivus test`, metrics and Ctrl-C.
//!
//! Snapshots live in `tests/snapshots`; after an intended change of output, review and update them with
//! `INSTA_UPDATE=always cargo test -p rivus-cli --test cli`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The workspace root, where the README's commands run (paths in pipeline files are relative to each file).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rivus() -> Command {
    let mut cmd = Command::cargo_bin("rivus").unwrap();
    cmd.current_dir(root());
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs, expects `code`, returns stderr.
fn fails_with(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn list_shows_every_plugin() {
    // Plugins behind cargo features (Kafka, HTTP, PostgreSQL, SQLite) are left out of the snapshot, which holds
    // for every feature set; `tests/http.rs` checks the HTTP ones, `tests/databases` the database ones.
    let listed: String = stdout(rivus().arg("list"))
        .lines()
        .filter(|l| {
            ![" kafka ", " http ", " webhook ", " postgres ", " sqlite "]
                .iter()
                .any(|p| l.contains(p))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("list", listed);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(rivus().args(["list", "--json"]))).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "csv",
        "jsonl",
        "lines",
        "stdin",
        "stdout",
        "file",
        "generator",
        "blackhole",
        "select",
        "script",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let sinks = stdout(rivus().args(["list", "--kind", "sync-sink"]));
    assert!(
        sinks.lines().skip(1).all(|l| l.starts_with("sync_sink")),
        "{sinks}"
    );
}

#[test]
fn describe_shows_fields_types_defaults_and_docs() {
    insta::assert_snapshot!(
        "describe_filter",
        stdout(rivus().args(["describe", "filter"]))
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(rivus().args([
        "describe",
        "csv",
        "--kind",
        "sync-source",
        "--json",
    ])))
    .unwrap();
    let fields = json[0]["fields"].as_array().unwrap();
    let delimiter = fields.iter().find(|f| f["name"] == "delimiter").unwrap();
    assert_eq!(delimiter["default"], ",");
    assert_eq!(delimiter["ty"], "string");
    assert!(
        delimiter["description"]
            .as_str()
            .unwrap()
            .contains("delimiter")
    );
    let err = fails_with(rivus().args(["describe", "csvv"]), 2);
    insta::assert_snapshot!("describe_unknown", err);
}

#[test]
fn validate_accepts_the_main_job() {
    insta::assert_snapshot!(
        "validate_orders",
        stdout(rivus().args(["validate", "examples/pipelines/orders.toml"]))
    );
}

#[test]
fn config_errors_name_file_line_column_and_field() {
    for case in [
        "unknown_field",
        "wrong_type",
        "bad_plugin",
        "mismatch",
        "unknown_top",
    ] {
        let file = format!("rivus-cli/tests/fixtures/{case}.toml");
        let err = fails_with(rivus().args(["validate", &file]), 2);
        insta::assert_snapshot!(format!("config_error_{case}"), err);
        // `run` rejects the same file the same way, before it reads anything.
        assert_eq!(fails_with(rivus().args(["run", &file]), 2), err);
    }
}

#[test]
fn main_job_counts_add_up_and_output_parses() {
    let out = tempfile::tempdir().unwrap();
    let assert = rivus()
        .args(["run", "examples/pipelines/orders.toml"])
        .env("RIVUS_OUT", out.path())
        .assert()
        .success();
    let summary = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let count = |word: &str| -> u64 {
        let at = summary
            .find(&format!(" {word} "))
            .unwrap_or_else(|| panic!("no `{word}` in {summary}"));
        summary[at + word.len() + 2..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (read, written, filtered, dead) = (
        count("read"),
        count("written"),
        count("filtered"),
        count("dead-lettered"),
    );
    assert_eq!(read, 5000, "{summary}");
    assert_eq!(
        read,
        written + filtered + dead,
        "nothing is lost: {summary}"
    );
    assert_eq!(dead, 44, "the shipped CSV has 44 malformed rows");

    let lines = std::fs::read_to_string(out.path().join("orders.jsonl")).unwrap();
    assert_eq!(lines.lines().count() as u64, written);
    for line in lines.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let total = record["total"].as_f64().unwrap();
        let expected = record["amount"].as_f64().unwrap() * record["quantity"].as_f64().unwrap();
        assert!((total - expected).abs() < 0.006, "{line}");
        assert!(
            record.get("status").is_none(),
            "select dropped `status`: {line}"
        );
    }
    let rejected = std::fs::read_to_string(out.path().join("orders.rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count() as u64, dead);
    for line in rejected.lines() {
        let letter: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            letter["error"]
                .as_str()
                .unwrap()
                .contains("../data/orders.csv:"),
            "{line}"
        );
    }
}

#[test]
fn bad_csv_rows_are_located_and_follow_the_policy() {
    let out = tempfile::tempdir().unwrap();
    let file = "rivus-cli/tests/fixtures/bad_csv.toml";
    // skip: the run completes and counts the four bad rows.
    let assert = rivus()
        .args(["run", file])
        .env("RIVUS_OUT", out.path())
        .env("ON_ERROR", "skip")
        .assert()
        .success();
    let summary = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        summary.contains(
            "read 6 = written 2 + filtered 0 + skipped 4 + dead-lettered 0 + failed 0 + not processed 0"
        ),
        "{summary}"
    );
    // Each skipped row's reason is logged, located (a skipped row leaves no other trace).
    let warnings: Vec<&str> = summary.lines().filter(|l| l.contains("skipped")).collect();
    assert!(
        warnings.iter().filter(|l| l.contains("bad.csv:")).count() == 4,
        "{summary}"
    );
    let written = std::fs::read_to_string(out.path().join("bad.jsonl")).unwrap();
    assert_eq!(
        written,
        "{\"id\":1,\"name\":\"ada\",\"amount\":10}\n{\"id\":5,\"name\":\"zoe\",\"amount\":60}\n"
    );

    // fail_fast: the run stops at the first bad row, with its location, and exits 1.
    let err = fails_with(
        rivus()
            .args(["run", file])
            .env("RIVUS_OUT", out.path())
            .env("ON_ERROR", "fail_fast"),
        1,
    );
    assert!(
        err.contains("bad.csv:3: expected 3 fields, found 2"),
        "the wrong column count, located: {err}"
    );
}

#[test]
fn each_bad_row_is_a_located_error() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();
    // `pushdown = false`: the blackhole reads no field, so with pushdown no column would be typed or checked.
    std::fs::write(
        dir.join("p.toml"),
        format!(
            "[pipeline]\non_error = \"dead_letter\"\npushdown = false\n[source]\nplugin = \"csv\"\npath = \"{}\"\ntypes = {{ id = \"int\", amount = \"int\" }}\n[[sinks]]\nplugin = \"blackhole\"\n[dead_letter]\nplugin = \"jsonl\"\npath = \"{}\"\n",
            root().join("rivus-cli/tests/fixtures/bad.csv").display(),
            dir.join("dead.jsonl").display()
        ),
    )
    .unwrap();
    rivus()
        .arg("run")
        .arg(dir.join("p.toml"))
        .assert()
        .success();
    let errors: Vec<String> = std::fs::read_to_string(dir.join("dead.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["error"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .map(|e| e.split("fixtures/").nth(1).unwrap().to_owned())
        .collect();
    insta::assert_debug_snapshot!("bad_rows", errors);
}

#[test]
fn rivus_test_passes_and_shows_a_diff_on_failure() {
    let ok = stdout(rivus().args(["test", "examples/pipelines/orders.toml"]));
    assert!(ok.ends_with("2 passed, 0 failed\n"), "{ok}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("examples/pipelines/orders.toml")).unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, text.replace("total = 30.75", "total = 30.7")).unwrap();
    let out = rivus().arg("test").arg(&wrong).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("test_failure_diff", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn schema_covers_every_plugin_and_resolves_its_references() {
    let schema: serde_json::Value = serde_json::from_str(&stdout(rivus().arg("schema"))).unwrap();
    let sources = schema["properties"]["source"]["oneOf"].as_array().unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["properties"]["plugin"]["const"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"csv") && names.contains(&"generator"),
        "{names:?}"
    );
    let defs = schema["$defs"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&schema, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(defs.contains_key(name), "dangling reference {r}");
    }
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(obj) => {
            if let Some(r) = obj.get("$ref").and_then(|r| r.as_str()) {
                out.push(r.to_owned());
            }
            obj.values().for_each(|v| collect_refs(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Starts `rivus run` on the endless generator pipeline, with extra arguments.
fn spawn_generator(out: &Path, extra: &[&str]) -> std::process::Child {
    StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"))
        .current_dir(root())
        .args(["run", "rivus-cli/tests/fixtures/generator.toml"])
        .args(extra)
        .env("RIVUS_OUT", out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the generator's output has at least `n` lines.
fn wait_for_lines(file: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::fs::read_to_string(file)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            >= n
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never reached {n} lines", file.display());
}

fn interrupt(child: &std::process::Child) {
    let status = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_drains_and_reports() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("generated.jsonl");
    let child = spawn_generator(out.path(), &[]);
    // The sink flushes its buffer as the run goes; wait until records reach the file.
    wait_for_lines(&file, 1);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    // Interrupted: drained, reported, and the exit code says the source was not exhausted.
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("pipeline `generator` stopped"), "{stderr}");
    let written: usize = stderr
        .split(" written ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        lines.lines().count(),
        written,
        "every record in flight reached the file"
    );
    for (i, line) in lines.lines().enumerate() {
        assert_eq!(line, format!("{{\"id\":{i},\"name\":\"user-{i}\"}}"));
    }
}

#[test]
fn metrics_are_served_while_running() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let out = tempfile::tempdir().unwrap();
    let child = spawn_generator(out.path(), &["--metrics", &addr, "--quiet"]);
    wait_for_lines(&out.path().join("generated.jsonl"), 1);
    let body = scrape(&addr);
    interrupt(&child);
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(130), "interrupted");
    assert!(body.contains("rivus_items_out"), "{body}");
    assert!(body.contains("stage=\"generator\""), "{body}");
}

/// GET /metrics over a plain TCP connection (the exporter speaks HTTP/1.1).
fn scrape(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            stream
                .write_all(
                    format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
            let mut response = String::new();
            BufReader::new(stream)
                .read_to_string(&mut response)
                .unwrap();
            if response.contains("rivus_") {
                return response;
            }
        }
        assert!(Instant::now() < deadline, "no metrics at {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A full disk behind stdout or stderr (`/dev/full`) changes no exit code and panics nothing: a run that
/// succeeded exits 0 even when its summary could not be written, a configuration error 2, a failed run 1; a
/// ledger asked for with `--json` that could not be written, or `rivus test`'s report, is an error (1), said on
/// stderr.
#[test]
fn a_full_stdout_or_stderr_keeps_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let sink = "[[sinks]]\nplugin = \"blackhole\"\n";
    let files = [
        ("ok.toml", format!("[source]\nplugin = \"generator\"\ncount = 3\n{sink}")),
        ("bad.toml", format!("[source]\nplugin = \"generator\"\ncount = \"x\"\n{sink}")),
        (
            "fails.toml",
            "[source]\nplugin = \"generator\"\ncount = 3\n[[sinks]]\nplugin = \"jsonl\"\npath = \"/dev/full\"\n"
                .to_owned(),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let full = || {
        std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |args: &[&std::ffi::OsStr], full_stdout: bool| {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"));
        cmd.current_dir(dir.path()).args(args);
        if full_stdout {
            cmd.stdout(full()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(full());
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    // stderr full: the codes of the outcome, no panic (101).
    assert_eq!(run(&[os("run"), os("ok.toml")], false).0, Some(0));
    assert_eq!(run(&[os("run"), os("bad.toml")], false).0, Some(2));
    assert_eq!(run(&[os("run"), os("fails.toml")], false).0, Some(1));
    assert_eq!(run(&[os("validate"), os("ok.toml")], false).0, Some(0));
    // stdout full: what the command is for was not written.
    let (code, err) = run(&[os("run"), os("ok.toml"), os("--json")], true);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cannot write to stdout: No space left on device"),
        "{err}"
    );
    let orders = root().join("examples/pipelines/orders.toml");
    let (code, err) = run(&[os("test"), orders.as_os_str()], true);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot write to stdout"), "{err}");
}

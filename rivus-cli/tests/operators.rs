//! `rivus` for operators: logs and quiet runs, `--json`, pipelines on standard input, paths relative to the
//! pipeline file, advice about unknown plugin names, `list --kind` and `describe`, a stdout sink into a closed
//! pipe, progress kept off stdout, and `[[tests]]` that expect dead letters or a failure.
//!
//! Snapshots live in `tests/snapshots`; review changes with `INSTA_UPDATE=always cargo test -p rivus-cli --test
//! operators`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};

use assert_cmd::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rivus_in(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rivus").unwrap();
    cmd.current_dir(dir).env_remove("RUST_LOG");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, toml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, toml).unwrap();
    path
}

/// Ten generated records into a blackhole.
const TEN: &str =
    "[source]\nplugin = \"generator\"\ncount = 10\n[[sinks]]\nplugin = \"blackhole\"\n";

/// A pipeline that fails: its source file does not exist.
const MISSING: &str =
    "[source]\nplugin = \"csv\"\npath = \"no-such.csv\"\n[[sinks]]\nplugin = \"blackhole\"\n";

#[test]
fn logs_follow_verbosity_and_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ten.toml", TEN);
    let quiet_default = rivus_in(dir.path()).arg("run").arg(&file).output().unwrap();
    assert!(quiet_default.status.success());
    assert!(
        !text(&quiet_default.stderr).contains("INFO"),
        "no info logs by default: {}",
        text(&quiet_default.stderr)
    );
    for args in [&["-v", "run"][..], &["run", "-v"][..]] {
        let out = rivus_in(dir.path()).args(args).arg(&file).output().unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("INFO") && err.contains("starting the pipeline"),
            "-v logs at info on stderr: {err}"
        );
        assert!(!err.contains("DEBUG"), "{err}");
        assert!(out.stdout.is_empty(), "logs never on stdout");
    }
    let out = rivus_in(dir.path())
        .env("RUST_LOG", "rivus_cli=info")
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("the pipeline ended"),
        "RUST_LOG decides: {}",
        text(&out.stderr)
    );
}

#[test]
fn quiet_prints_nothing_on_success_and_only_the_error_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ten.toml", TEN);
    let out = rivus_in(dir.path())
        .args(["-q", "run"])
        .arg(&ok)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    let out = rivus_in(dir.path())
        .args(["validate", "-q"])
        .arg(&ok)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    let bad = write(dir.path(), "missing.toml", MISSING);
    let out = rivus_in(dir.path())
        .args(["run", "-q"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr).replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!("quiet_failure", err);
}

#[test]
fn json_prints_the_final_ledger_as_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ten.toml", TEN);
    let out = rivus_in(dir.path())
        .args(["run", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "no table beside the JSON: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one object, one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["pipeline"], "ten");
    assert_eq!(v["status"], "finished");
    assert_eq!(v["error"], serde_json::Value::Null);
    let l = &v["ledger"];
    assert_eq!(
        (l["read"].as_u64(), l["written"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(v["stages"].as_array().unwrap().len(), 2);

    // A failed run: the ledger still, with the error and status; exit 1.
    let bad = write(dir.path(), "missing.toml", MISSING);
    let out = rivus_in(dir.path())
        .args(["run", "--json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("no-such.csv"), "{v}");

    // A sink on stdout: stdout holds only the data, the ledger goes to stderr.
    let to_stdout = write(
        dir.path(),
        "out.toml",
        "[source]\nplugin = \"generator\"\ncount = 3\n[[sinks]]\nplugin = \"stdout\"\n",
    );
    let out = rivus_in(dir.path())
        .args(["run", "--json"])
        .arg(&to_stdout)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n");
    let v: serde_json::Value = serde_json::from_str(text(&out.stderr).trim()).unwrap();
    assert_eq!(v["ledger"]["written"], 3);
}

#[test]
fn a_pipeline_on_stdin_runs_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
    let toml =
        "[source]\nplugin = \"jsonl\"\npath = \"in.jsonl\"\n[[sinks]]\nplugin = \"stdout\"\n";
    let out = rivus_in(dir.path())
        .args(["run", "-"])
        .write_stdin(toml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"a\":1}\n{\"a\":2}\n",
        "relative to the working directory"
    );
    let out = rivus_in(dir.path())
        .args(["validate", "-"])
        .write_stdin(toml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("-: pipeline `<stdin>` is valid"),
        "{}",
        text(&out.stdout)
    );

    // Errors point into standard input; a `stdin` source could read nothing and is refused.
    let out = rivus_in(dir.path())
        .args(["validate", "-"])
        .write_stdin("[source]\nplugin = \"stdin\"\n[[sinks]]\nplugin = \"stdout\"\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("stdin_source_refused", text(&out.stderr));
}

#[test]
fn the_main_job_runs_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let file = root().join("examples/pipelines/orders.toml");
    let out = rivus_in(elsewhere.path())
        .args(["run", "--json"])
        .arg(&file)
        .env("RIVUS_OUT", out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ledger"]["read"], 5000);
    assert_eq!(v["ledger"]["dead_lettered"], 44);
    let written = std::fs::read_to_string(out_dir.path().join("orders.jsonl")).unwrap();
    assert_eq!(
        Some(written.lines().count() as u64),
        v["ledger"]["written"].as_u64()
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing written in the cwd"
    );
}

#[test]
fn unknown_plugin_names_get_suggestions_from_every_kind_of_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut messages = String::new();
    for (role, name) in [
        ("source", "cvs"),
        ("sinks", "jsonn"),
        ("sinks", "stdot"),
        ("transforms", "renam"),
        ("sinks", "nosuchthing"),
    ] {
        let toml = match role {
            "source" => {
                format!("[source]\nplugin = \"{name}\"\n[[sinks]]\nplugin = \"blackhole\"\n")
            }
            "sinks" => {
                format!("[source]\nplugin = \"generator\"\n[[sinks]]\nplugin = \"{name}\"\n")
            }
            _ => format!(
                "[source]\nplugin = \"generator\"\n[[transforms]]\nplugin = \"{name}\"\n[[sinks]]\nplugin = \"blackhole\"\n"
            ),
        };
        let file = write(dir.path(), &format!("{name}.toml"), &toml);
        let out = rivus_in(dir.path())
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr).replace(&dir.path().display().to_string(), "[DIR]");
        assert!(
            !err.contains("link()"),
            "no Rust linking advice for operators: {err}"
        );
        messages.push_str(&err);
    }
    let out = rivus_in(dir.path())
        .args(["describe", "stdot"])
        .output()
        .unwrap();
    messages.push_str(&text(&out.stderr));
    insta::assert_snapshot!("unknown_names", messages);
}

#[test]
fn a_plugin_compiled_out_names_its_cargo_feature() {
    let out = rivus_in(&root())
        .args(["describe", "kafka"])
        .output()
        .unwrap();
    if cfg!(feature = "kafka") {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("kafka (async source)"));
    } else {
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("cargo feature `kafka`") && err.contains("--features kafka"),
            "{err}"
        );
        assert!(!err.contains("link()"), "{err}");
    }
}

#[test]
fn list_kind_takes_the_spelling_list_prints() {
    let listed = text(&rivus_in(&root()).arg("list").output().unwrap().stdout);
    assert!(listed.contains("sync_source "), "{listed}");
    for spelling in ["sync_source", "sync-source"] {
        let out = rivus_in(&root())
            .args(["list", "--kind", spelling])
            .output()
            .unwrap();
        assert!(out.status.success(), "{spelling}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("csv") && !stdout.contains("sync_sink"),
            "{stdout}"
        );
    }
    let out = rivus_in(&root())
        .args(["describe", "csv", "--kind", "sync_sink"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("csv (sync sink)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn describe_lists_enum_values_and_field_paths_are_not_doubled() {
    let out = rivus_in(&root())
        .args(["describe", "stdin"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Values: `jsonl`, `lines`."), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        &format!("[pipeline]\non_eror = \"skip\"\n{TEN}"),
    );
    let out = rivus_in(dir.path())
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains(":2:1: `pipeline.on_eror`: unknown field `on_eror`"),
        "{err}"
    );
    assert!(!err.contains("on_eror.on_eror"), "{err}");
}

#[test]
fn a_stdout_sink_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "many.toml",
        "[source]\nplugin = \"generator\"\ncount = 1000000\n[[sinks]]\nplugin = \"stdout\"\n",
    );
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -2`: read two lines, then close the pipe.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line);
    }
    drop(reader);
    let out: Output = child.wait_with_output().unwrap();
    assert_eq!(lines, ["{\"i\":0}\n", "{\"i\":1}\n"]);
    assert_eq!(out.status.code(), Some(0), "exit 0: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "quietly, as Unix tools end");
}

/// Errors of standard input and output name the plugins the file names (`stdin`, `stdout`), not the `jsonl`
/// reader and writer behind them.
#[test]
fn stdin_and_stdout_errors_name_their_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "io.toml",
        "[source]\nplugin = \"stdin\"\n[[sinks]]\nplugin = \"stdout\"\n",
    );
    let out = rivus_in(dir.path())
        .arg("run")
        .arg(&file)
        .write_stdin("{\"a\":1}\nnot json\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pipe `stdin` failed (permanent): <stdin>:2:2: expected ident"),
        "{}",
        text(&out.stderr)
    );
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let input = write(dir.path(), "in.jsonl", "{\"a\":1}\n");
    let out = StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .arg("run")
        .arg(&file)
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("pipe `stdout` failed (permanent): flush: <stdout>: cannot write"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn listings_into_a_closed_pipe_end_quietly() {
    // `rivus describe script | true`: the reader is gone before the first line is written.
    for args in [&["describe", "script"][..], &["list"][..], &["schema"][..]] {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out: Output = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn progress_never_interleaves_with_data_on_stdout() {
    // Under a terminal (`script` gives the command one for stdout and stderr), a stdout sink means no progress
    // line at all: every line of the screen is a record.
    let Ok(probe) = StdCommand::new("script").arg("--version").output() else {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.toml",
        "[source]\nplugin = \"generator\"\ncount = 8\nrate = 10.0\n[[sinks]]\nplugin = \"stdout\"\n",
    );
    let bin = assert_cmd::cargo::cargo_bin("rivus");
    let command = format!("{} run {}", bin.display(), file.display());
    let out = StdCommand::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let screen = text(&out.stdout);
    let records: Vec<&str> = screen.lines().filter(|l| l.contains("{\"i\"")).collect();
    assert_eq!(records.len(), 8, "{screen}");
    for line in &records {
        let line = line.trim_end_matches('\r');
        assert!(
            line.starts_with("{\"i\":") && line.ends_with('}'),
            "a record shares its line: {line:?}"
        );
    }
    assert!(!screen.contains("items/s"), "no progress line: {screen}");
}

#[test]
fn tests_can_expect_dead_letters_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let base = |policy: &str| {
        format!(
            "[pipeline]\non_error = \"{policy}\"\n[source]\nplugin = \"generator\"\n[[transforms]]\nplugin = \"filter\"\nfield = \"amount\"\nop = \"gt\"\nvalue = 10\n[[sinks]]\nplugin = \"blackhole\"\n{}",
            // A `[dead_letter]` table that no policy uses is refused.
            if policy == "dead_letter" {
                "[dead_letter]\nplugin = \"blackhole\"\n"
            } else {
                ""
            }
        )
    };
    let dead = write(
        dir.path(),
        "dead.toml",
        &format!(
            "{}\n[[tests]]\nname = \"a text amount is dead-lettered\"\ninput = [{{ amount = 20 }}, {{ amount = \"x\" }}, {{ amount = 5 }}]\nexpect = [{{ amount = 20 }}]\nexpect_dead_letters = [{{ record = {{ amount = \"x\" }}, error = \"cannot be compared with a number\" }}]\n\n[[tests]]\nname = \"a wrong expectation fails\"\ninput = [{{ amount = \"x\" }}]\nexpect_dead_letters = [{{ error = \"no such text\" }}]\n",
            base("dead_letter")
        ),
    );
    let out = rivus_in(dir.path())
        .arg("test")
        .arg(&dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the second test fails");
    insta::assert_snapshot!("test_dead_letters", text(&out.stdout));

    let fail = write(
        dir.path(),
        "fail.toml",
        &format!(
            "{}\n[[tests]]\nname = \"fail fast names the record's problem\"\ninput = [{{ amount = 20 }}, {{ amount = \"x\" }}, {{ amount = 30 }}]\nexpect = [{{ amount = 20 }}]\nexpect_error = \"field `amount` is a string\"\n\n[[tests]]\nname = \"no failure where one is expected fails\"\ninput = [{{ amount = 20 }}]\nexpect = [{{ amount = 20 }}]\nexpect_error = \"anything\"\n",
            base("fail_fast")
        ),
    );
    let out = rivus_in(dir.path())
        .arg("test")
        .arg(&fail)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("test_failures", text(&out.stdout));
}

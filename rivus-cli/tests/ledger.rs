//! The ledger through `rivus run`, under the faults a user meets: a full disk, a bad row under fail-fast (run
//! again and again), a sink that blocks (a FIFO nobody reads) stopped by signals or by its own timeout,
//! concurrency on a sync transform, and options that would do nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn rivus() -> Command {
    Command::cargo_bin("rivus").unwrap()
}

fn rivus_std() -> StdCommand {
    StdCommand::new(assert_cmd::cargo::cargo_bin("rivus"))
}

/// Writes a pipeline file into `dir`.
fn pipeline(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A CSV of `rows` rows `id,v`, with a malformed row (a missing field) at data row `bad`, if any.
fn csv(dir: &Path, rows: u64, bad: Option<u64>) -> PathBuf {
    let path = dir.join("in.csv");
    let mut text = String::from("id,v\n");
    for i in 0..rows {
        if Some(i) == bad {
            text.push_str(&format!("{i}\n"));
        } else {
            text.push_str(&format!("{i},{}\n", i % 97));
        }
    }
    std::fs::write(&path, text).unwrap();
    path
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

/// Waits for `child` with a generous guard against a hung run (not a timing assertion).
fn wait(child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("rivus did not end: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let status = StdCommand::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_full_disk_writes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "full.toml",
        "[pipeline]\nname = \"full\"\n[source]\nplugin = \"generator\"\ncount = 1000\n\
         [[sinks]]\nplugin = \"jsonl\"\npath = \"/dev/full\"\n",
    );
    let out = rivus().arg("run").arg(&file).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = ledger_line(&stderr);
    assert!(line.starts_with("read 1000 = written 0 "), "{line}");
    assert!(line.ends_with("+ failed 1000 + not processed 0"), "{line}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn fail_fast_gives_the_same_output_and_ledger_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(dir.path(), 20_000, Some(12_345));
    let out = dir.path().join("out.jsonl");
    let file = pipeline(
        dir.path(),
        "ff.toml",
        &format!(
            "[pipeline]\nname = \"ff\"\nchunk_size = 64\n[source]\nplugin = \"csv\"\npath = \"{}\"\n\
             types = {{ id = \"int\", v = \"int\" }}\n[[transforms]]\nplugin = \"filter\"\nfield = \"v\"\n\
             op = \"ne\"\nvalue = 0\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
            input.display(),
            out.display()
        ),
    );
    let mut seen: Option<(String, String)> = None;
    for _ in 0..3 {
        let run = rivus().arg("run").arg(&file).output().unwrap();
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        let line = ledger_line(&stderr);
        let output = std::fs::read_to_string(&out).unwrap();
        // The rows before the bad one (12,345 of them, every 97th filtered out) are written, the bad row failed.
        let filtered = (0..12_345u64).filter(|i| i % 97 == 0).count();
        assert_eq!(
            line,
            format!(
                "read 12346 = written {} + filtered {filtered} + skipped 0 + dead-lettered 0 + failed 1 + not \
                 processed 0",
                12_345 - filtered
            )
        );
        assert_eq!(output.lines().count(), 12_345 - filtered);
        if let Some((l, o)) = &seen {
            assert_eq!((l, o), (&line, &output), "a rerun differs");
        }
        seen = Some((line, output));
    }
}

/// A FIFO whose reader never reads: the sink's writes block once the pipe's buffer is full.
fn stalled_fifo(dir: &Path) -> (PathBuf, Child) {
    let fifo = dir.join("stalled.fifo");
    assert!(
        StdCommand::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // The shell blocks in open() until rivus opens the FIFO for writing, then sleeps without reading.
    let reader = StdCommand::new("sh")
        .arg("-c")
        .arg(format!("exec sleep 120 < '{}'", fifo.display()))
        .spawn()
        .unwrap();
    (fifo, reader)
}

fn fifo_pipeline(dir: &Path, fifo: &Path, sink_runtime: &str) -> PathBuf {
    let input = csv(dir, 200_000, None);
    pipeline(
        dir,
        "fifo.toml",
        &format!(
            "[pipeline]\nname = \"fifo\"\nshutdown_timeout = \"1s\"\n[source]\nplugin = \"csv\"\npath = \"{}\"\n\
             [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n{sink_runtime}\n",
            input.display(),
            fifo.display()
        ),
    )
}

#[test]
fn a_blocked_sink_is_aborted_shutdown_timeout_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, mut reader) = stalled_fifo(dir.path());
    let file = fifo_pipeline(dir.path(), &fifo, "");
    let child = rivus_std()
        .arg("run")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-TERM");
    let out = wait(child);
    reader.kill().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("pipeline `fifo` aborted in"), "{stderr}");
    assert!(
        stderr.contains("the drain took longer than the shutdown timeout (1s)"),
        "{stderr}"
    );
    // The ledger adds up: what the FIFO took is written, the rest was in flight.
    let line = ledger_line(&stderr);
    let n = |label: &str| -> u64 {
        line.split(label)
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in {line}"))
    };
    assert_eq!(n("read "), n("written ") + n("not processed "), "{line}");
}

#[test]
fn a_second_signal_aborts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, mut reader) = stalled_fifo(dir.path());
    let file = fifo_pipeline(dir.path(), &fifo, "");
    let child = rivus_std()
        .arg("run")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, "-INT");
    let out = wait(child);
    reader.kill().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("aborted: a second shutdown request"),
        "{stderr}"
    );
}

#[test]
fn a_sink_timeout_gives_up_a_blocked_write() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, mut reader) = stalled_fifo(dir.path());
    let file = fifo_pipeline(dir.path(), &fifo, "runtime = { timeout = \"300ms\" }");
    let child = rivus_std()
        .arg("run")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait(child);
    reader.kill().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out after") && stderr.contains("still blocked"),
        "{stderr}"
    );
    assert!(ledger_line(&stderr).contains("+ failed "), "{stderr}");
}

#[test]
fn concurrency_on_a_sync_transform_keeps_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv(dir.path(), 50_000, None);
    let run = |concurrency: u32| -> (String, String) {
        let out = dir.path().join(format!("out{concurrency}.jsonl"));
        let file = pipeline(
            dir.path(),
            "c.toml",
            &format!(
                "[pipeline]\nname = \"c\"\n[source]\nplugin = \"csv\"\npath = \"{}\"\n\
                 types = {{ id = \"int\", v = \"int\" }}\n[[transforms]]\nplugin = \"filter\"\nfield = \"v\"\n\
                 op = \"gt\"\nvalue = 10\nruntime = {{ concurrency = {concurrency} }}\n[[transforms]]\n\
                 plugin = \"set\"\nfields = {{ tag = \"x\" }}\nruntime = {{ concurrency = {concurrency} }}\n\
                 [[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
                input.display(),
                out.display()
            ),
        );
        let run = rivus().arg("run").arg(&file).output().unwrap();
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert!(run.status.success(), "{stderr}");
        (ledger_line(&stderr), std::fs::read_to_string(&out).unwrap())
    };
    let one = run(1);
    let four = run(4);
    assert_eq!(one, four);
    let kept = (0..50_000u64).filter(|i| i % 97 > 10).count();
    assert_eq!(one.1.lines().count(), kept);
}

#[test]
fn an_option_that_would_do_nothing_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "t.toml",
        "[source]\nplugin = \"generator\"\ncount = 1\n[[transforms]]\nplugin = \"filter\"\nfield = \"i\"\n\
         op = \"gt\"\nvalue = 0\nruntime = { timeout = \"2s\" }\n[[sinks]]\nplugin = \"blackhole\"\n\
         runtime = { concurrency = 4 }\n",
    );
    for command in ["validate", "run"] {
        let out = rivus().arg(command).arg(&file).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("t.toml:9:") && stderr.contains("transforms[0].runtime.timeout"),
            "{stderr}"
        );
        assert!(
            stderr.contains("would do nothing for a sync pipe"),
            "{stderr}"
        );
    }
}

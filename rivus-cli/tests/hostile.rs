//! Hostile input, as a new user would try it through the `rivus` command: values that used to crash or hang
//! it, options that `validate` used to pass and `run` then failed on, secrets from `${VAR}` in every output,
//! `${VAR}` that types, and bounded scripts. Each case asserts its exact message and exit code.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const SECRET: &str = "hunter2-S3cr3t";

fn rivus_bin() -> PathBuf {
    match std::env::var_os("RIVUS_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => assert_cmd::cargo::cargo_bin("rivus"),
    }
}

/// Runs `rivus <command> pipeline.toml` in `dir` with `toml` as the file, `RIVUS_SECRET` set, and a time limit.
fn rivus(dir: &Path, command: &str, toml: &str) -> Output {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, toml).unwrap();
    let mut child = Command::new(rivus_bin())
        .current_dir(dir)
        .args([command, "pipeline.toml"])
        .env("RIVUS_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`rivus {command}` hangs on:\n{toml}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `validate` and `run` both refuse `toml` as bad configuration (exit 2) with exactly `message` on stderr.
#[track_caller]
fn refused(toml: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id,amount\n1,5\n").unwrap();
    for command in ["validate", "run"] {
        let out = rivus(dir.path(), command, toml);
        assert_eq!(
            (out.status.code(), stderr(&out).trim_end()),
            (Some(2), message),
            "`rivus {command}` on:\n{}",
            toml.chars().take(400).collect::<String>()
        );
    }
}

const SINK: &str = "[[sinks]]\nplugin = \"blackhole\"\n";

fn generator(rate: &str) -> String {
    format!("[source]\nplugin = \"generator\"\ncount = 3\nrate = {rate}\n{SINK}")
}

#[test]
fn no_rate_crashes_or_hangs() {
    let range = "must be a number of records per second from 0.000001 to 1000000000 (leave it out for no limit)";
    for (rate, shown) in [
        ("1e-300", "1e-300"),
        ("1e300", "1e300"),
        ("-1", "-1.0"),
        ("0", "0.0"),
    ] {
        refused(
            &generator(rate),
            &format!(
                "error: pipeline.toml:4:1: `source.rate`: plugin `generator`: {range}, not {shown}"
            ),
        );
    }
    for rate in ["nan", "inf", "-inf"] {
        refused(
            &generator(rate),
            &format!(
                "error: pipeline.toml:4:1: `source.rate`: `{rate}` is not a number any option takes: give a finite \
                 number"
            ),
        );
    }
    // The fastest and slowest rates run.
    let dir = tempfile::tempdir().unwrap();
    let out = rivus(dir.path(), "run", &generator("1e9"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn every_float_option_is_finite_and_in_range() {
    let stage = |runtime: &str| {
        format!(
            "[source]\nplugin = \"generator\"\ncount = 1\n[[transforms]]\nplugin = \"passthrough\"\nruntime = {{ {runtime} }}\n{SINK}"
        )
    };
    refused(
        &stage("retries = 1, retry_factor = nan"),
        "error: pipeline.toml:6:26: `transforms[0].runtime.retry_factor`: `nan` is not a number any option takes: \
         give a finite number",
    );
    refused(
        &stage("retries = 1, retry_factor = 0.5"),
        "error: pipeline.toml:6:26: `transforms[0].runtime.retry_factor`: `retry_factor` must be a finite number of \
         at least 1.0, not 0.5",
    );
    refused(
        &stage("retries = 1, retry_jitter = inf"),
        "error: pipeline.toml:6:26: `transforms[0].runtime.retry_jitter`: `inf` is not a number any option takes: \
         give a finite number",
    );
    refused(
        &stage("retries = 1, retry_jitter = -0.5"),
        "error: pipeline.toml:6:26: `transforms[0].runtime.retry_jitter`: `retry_jitter` must be a fraction from \
         0.0 to 1.0, not -0.5",
    );
    // A float anywhere in a plugin's options, however nested.
    refused(
        "[source]\nplugin = \"generator\"\ncount = 1\ntemplate = { x = [1.0, nan] }\n[[sinks]]\nplugin = \"blackhole\"\n",
        "error: pipeline.toml:4:24: `source.template.x[1]`: `nan` is not a number any option takes: give a finite \
         number",
    );
}

#[test]
fn huge_durations_do_not_overflow_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[pipeline]\nshutdown_timeout = \"500000000000years\"\n[source]\nplugin = \"generator\"\ncount = 2\n\
         [[transforms]]\nplugin = \"passthrough\"\nruntime = {{ retries = 1, retry_delay = \"500000000000years\", retry_max_delay = \"500000000000years\" }}\n{SINK}"
    );
    let out = rivus(dir.path(), "run", &toml);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn stages_and_nesting_are_bounded() {
    let mut toml = String::from("[source]\nplugin = \"generator\"\ncount = 3\n");
    for _ in 0..10_000 {
        toml.push_str("[[transforms]]\nplugin = \"passthrough\"\n");
    }
    toml.push_str(SINK);
    refused(
        &toml,
        "error: pipeline.toml:2005:1: `transforms[1000].plugin`: a pipeline has at most 1000 `[[transforms]]`; \
         this file has 10000",
    );

    // The most transforms a file may have run, fused in one stage, without overflowing a worker's stack.
    let mut toml = String::from("[source]\nplugin = \"generator\"\ncount = 3\n");
    for i in 0..999 {
        toml.push_str(&format!(
            "[[transforms]]\nplugin = \"set\"\nfields = {{ f{i} = {i} }}\n"
        ));
    }
    toml.push_str("[[transforms]]\nplugin = \"select\"\nfields = [\"f998\"]\n[[sinks]]\nplugin = \"stdout\"\n");
    let dir = tempfile::tempdir().unwrap();
    let out = rivus(dir.path(), "run", &toml);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"f998\":998}\n".repeat(3));

    let header = vec!["a"; 10_000].join(".");
    refused(
        &format!("[source]\nplugin = \"generator\"\n{SINK}[{header}]\n"),
        "error: pipeline.toml:5:129: tables and arrays nest more than 64 levels deep here",
    );
    let arrays = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    refused(
        &format!("[source]\nplugin = \"generator\"\nx = {arrays}\n{SINK}"),
        "error: pipeline.toml:3:67: tables and arrays nest more than 64 levels deep here",
    );
}

#[test]
fn validate_checks_every_option_that_run_would_refuse() {
    let csv =
        |extra: &str| format!("[source]\nplugin = \"csv\"\npath = \"in.csv\"\n{extra}\n{SINK}");
    refused(
        &csv("has_header = false"),
        "error: pipeline.toml:4:1: `source.has_header`: plugin `csv`: `has_header = false` needs `columns`: the \
         names of the columns, in order",
    );
    refused(
        &csv("delimiter = \"é\""),
        "error: pipeline.toml:4:1: `source.delimiter`: plugin `csv`: must be one ASCII character (one byte), not \
         'é' (2 bytes in UTF-8)",
    );
    refused(
        &csv("quote = \",\""),
        "error: pipeline.toml:4:1: `source.quote`: plugin `csv`: the quote cannot be the delimiter (',')",
    );
    refused(
        &format!("[source]\nplugin = \"csv\"\npath = \"\"\n{SINK}"),
        "error: pipeline.toml:3:1: `source.path`: plugin `csv`: an empty path names no file; give the file's path",
    );
    refused(
        "[source]\nplugin = \"generator\"\n[[sinks]]\nplugin = \"jsonl\"\npath = \"\"\n",
        "error: pipeline.toml:5:1: `sinks[0].path`: plugin `jsonl`: an empty path names no file; give the file's \
         path",
    );
    refused(
        &csv("[[transforms]]\nplugin = \"filter\"\nfield = \"amount\"\nop = \"gt\""),
        "error: pipeline.toml:7:1: `transforms[0].op`: plugin `filter`: `op = \"gt\"` needs a `value` to compare \
         the field with",
    );
    refused(
        &csv("[[transforms]]\nplugin = \"filter\"\nfield = \"amount\"\nop = \"exists\"\nvalue = 1"),
        "error: pipeline.toml:8:1: `transforms[0].value`: plugin `filter`: `op = \"exists\"` takes no `value`",
    );
    refused(
        &format!(
            "{}[dead_letter]\nplugin = \"jsonl\"\npath = \"dead.jsonl\"\n",
            csv("")
        ),
        "error: pipeline.toml:7:2: `dead_letter`: `[dead_letter]` would receive nothing: no `on_error = \
         \"dead_letter\"` in `[pipeline]` or in a stage's `runtime`; set one, or remove the table",
    );
}

#[test]
fn select_of_a_field_no_record_has_warns() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[source]\nplugin = \"generator\"\ncount = 2\n[[transforms]]\nplugin = \"select\"\n\
                fields = [\"i\", \"nope\"]\n[[sinks]]\nplugin = \"stdout\"\n";
    let out = rivus(dir.path(), "run", toml);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"i\":0}\n{\"i\":1}\n");
    // A log line: `<time>  WARN <target>: select: ...`.
    assert!(
        stderr(&out).lines().any(|l| l.contains(" WARN ")
            && l.ends_with(
                "select: no record had the field(s) `nope` (2 record(s) seen); is a name misspelt?"
            )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn env_values_type_where_the_option_wants_a_number_or_a_bool() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[pipeline]\npublic_env = [\"N\"]\n[source]\nplugin = \"generator\"\ncount = \"${N:-2}\"\n\
                [[transforms]]\nplugin = \"set\"\noverwrite = \"${OVERWRITE:-false}\"\nfields = { i = 7 }\n\
                [[sinks]]\nplugin = \"stdout\"\n";
    let out = rivus(dir.path(), "run", toml);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"i\":0}\n{\"i\":1}\n");
    let out = Command::new(rivus_bin())
        .current_dir(dir.path())
        .args(["run", "pipeline.toml"])
        .env("N", "3")
        .env("OVERWRITE", "true")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "{\"i\":7}\n".repeat(3));
    // A value that is not a number is still the type error it was, at the option's line.
    let out = Command::new(rivus_bin())
        .current_dir(dir.path())
        .args(["validate", "pipeline.toml"])
        .env("N", "three")
        .output()
        .unwrap();
    assert_eq!(
        stderr(&out).trim_end(),
        "error: pipeline.toml:5:1: `source.count`: plugin `generator`: invalid type: string \"three\", expected u64"
    );
}

/// A secret planted in every kind of option: each output of each run (stdout, stderr, dead letters) is searched.
#[test]
fn secrets_never_appear_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id,amount\n1,5\n2,x\n").unwrap();
    // A directory named by the secret, for a path that holds it and opens.
    std::fs::create_dir(dir.path().join(SECRET)).unwrap();
    std::fs::copy(
        dir.path().join("in.csv"),
        dir.path().join(SECRET).join("in.csv"),
    )
    .unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "a source path a bad row is dead-lettered from",
            "[pipeline]\non_error = \"dead_letter\"\n[source]\nplugin = \"csv\"\n\
            types = { amount = \"int\" }\npath = \"${RIVUS_SECRET}/in.csv\"\n\
            [[sinks]]\nplugin = \"jsonl\"\npath = \"out.jsonl\"\n[dead_letter]\nplugin = \"jsonl\"\n\
            path = \"dead.jsonl\"\n"
                .to_owned(),
        ),
        (
            "a source path",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"/nope/${{RIVUS_SECRET}}/in.csv\"\n{SINK}"
            ),
        ),
        (
            "an empty-checked path",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"${{RIVUS_SECRET}}\"\n\
            checkpoint = \"/nope/${{RIVUS_SECRET}}/x\"\n{SINK}"
            ),
        ),
        (
            "a filter value",
            format!(
                "[pipeline]\non_error = \"dead_letter\"\n[source]\nplugin = \"csv\"\ntypes = {{ amount = \"int\" }}\npath = \
            \"in.csv\"\n[[transforms]]\nplugin = \"filter\"\nfield = \"amount\"\nop = \"gt\"\nvalue = \
            \"${{RIVUS_SECRET}}\"\n{SINK}[dead_letter]\nplugin = \"jsonl\"\npath = \"dead.jsonl\"\n"
            ),
        ),
        (
            "a delimiter",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"in.csv\"\ndelimiter = \"${{RIVUS_SECRET}}\"\n{SINK}"
            ),
        ),
        (
            "a script",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[transforms]]\nplugin = \"script\"\n\
            script = \"${{RIVUS_SECRET}}\"\n{SINK}"
            ),
        ),
        (
            "a script that runs",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[transforms]]\nplugin = \
            \"script\"\nscript = \"let s = \\\"${{RIVUS_SECRET}}\\\"; s + record.nope.x\"\n{SINK}"
            ),
        ),
        (
            "a cast",
            format!(
                "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[transforms]]\nplugin = \"cast\"\n\
            fields = {{ amount = \"${{RIVUS_SECRET}}\" }}\n{SINK}"
            ),
        ),
        (
            "a sink path",
            // Under a file: a sink makes missing directories, so only a parent that is not one fails.
            "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[sinks]]\nplugin = \"jsonl\"\npath = \
            \"in.csv/${RIVUS_SECRET}.jsonl\"\n"
                .to_owned(),
        ),
        (
            "a URL",
            "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[sinks]]\nplugin = \"http\"\nurl = \
            \"http://127.0.0.1:9/${RIVUS_SECRET}\"\n"
                .to_owned(),
        ),
        (
            "a bad URL",
            "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[sinks]]\nplugin = \"http\"\nurl = \
            \"${RIVUS_SECRET}\"\n"
                .to_owned(),
        ),
        (
            "a header",
            "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[sinks]]\nplugin = \"http\"\nurl = \
            \"http://127.0.0.1:9/x\"\nheaders = { x-key = \"${RIVUS_SECRET}\\u0001\" }\n"
                .to_owned(),
        ),
        (
            "a number",
            "[source]\nplugin = \"generator\"\ncount = \"${RIVUS_SECRET}\"\n[[sinks]]\nplugin = \
            \"blackhole\"\n"
                .to_owned(),
        ),
        (
            "a set value and a select",
            "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n[[transforms]]\nplugin = \
            \"select\"\nfields = [\"${RIVUS_SECRET}\"]\n[[sinks]]\nplugin = \"blackhole\"\n"
                .to_owned(),
        ),
    ];
    for (what, toml) in &cases {
        let mut shown = String::new();
        for command in ["validate", "run"] {
            let out = rivus(dir.path(), command, toml);
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(
                !all.contains(SECRET),
                "{what}: `rivus {command}` shows the secret:\n{all}"
            );
            shown.push_str(&all);
            let dead = dir.path().join("dead.jsonl");
            let letters = std::fs::read_to_string(&dead).unwrap_or_default();
            assert!(
                !letters.contains(SECRET),
                "{what}: `rivus {command}` writes the secret in a dead letter:\n{letters}"
            );
            shown.push_str(&letters);
            let _ = std::fs::remove_file(&dead);
        }
        // Each case reaches an output that would show the value: masked, or said to be withheld (a script, a URL
        // that does not parse, a header value).
        let withheld = [
            "holds a secret from the environment",
            "as it may hold a secret",
            "it is not shown",
        ];
        assert!(
            shown.contains("***") || withheld.iter().any(|w| shown.contains(w)),
            "{what}: no output names the value:\n{shown}"
        );
    }
}

#[test]
fn public_env_is_shown_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[pipeline]\npublic_env = [\"RIVUS_SECRET\"]\n[source]\nplugin = \"csv\"\npath = \"/nope/${{RIVUS_SECRET}}.csv\"\n{SINK}"
    );
    let out = rivus(dir.path(), "run", &toml);
    assert!(
        stderr(&out).contains("/nope/hunter2-S3cr3t.csv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn scripts_are_bounded_and_errors_name_the_stage_and_the_file_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = |body: &str, extra: &str| {
        format!(
            "[source]\nplugin = \"generator\"\ncount = 1\n\n[[transforms]]\nname = \"grow\"\nplugin = \"script\"\n\
             {extra}script = '''\n{body}'''\n{SINK}"
        )
    };
    // `s += s` 40 times would be a terabyte: the string bound stops it, at the script's line in the file.
    let out = rivus(
        dir.path(),
        "run",
        &script("let s = \"ab\";\nfor i in 0..40 { s += s; }\n", ""),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(
            "error: pipeline `pipeline` failed: pipe `script` failed (permanent): \
             pipeline.toml:10:20 (stage `grow`): Length of string too large\n"
        ),
        "{}",
        stderr(&out)
    );
    for (body, extra, bound) in [
        ("loop {}\n", "", "(stage `grow`): Too many operations"),
        (
            "let a = [];\nfor i in 0..1000 { a.push(i); }\n",
            "max_array_items = 100\n",
            "(stage `grow`): Size of array",
        ),
        (
            "fn f(n) { f(n + 1) }\nf(0)\n",
            "max_call_depth = 8\n",
            "(stage `grow`): Stack overflow",
        ),
        (
            "let m = #{};\nfor i in 0..100 { m[\"k\" + i] = i; }\nrecord.m = m;\n",
            "max_map_items = 10\n",
            "(stage `grow`): Size of object map",
        ),
    ] {
        let out = rivus(dir.path(), "run", &script(body, extra));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(bound), "{bound}:\n{err}");
    }
    // A syntax error is a configuration error at the file's line and column of the script's token.
    let out = rivus(
        dir.path(),
        "validate",
        &script("let x = 1;\nlet y = ;\n", ""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "error: pipeline.toml:8:1: `transforms[0].script`: plugin `script`: pipeline.toml:10:9 (stage `grow`): \
         the script does not compile: Unexpected ';'"
    );
    // A script too long to compile in reasonable time is refused before it is compiled.
    let long = "record.a = 1;\n".repeat(20_000);
    let out = rivus(dir.path(), "validate", &script(&long, ""));
    assert_eq!(
        stderr(&out).trim_end(),
        "error: pipeline.toml:8:1: `transforms[0].script`: plugin `script`: the script is 280000 bytes, more than \
         max_script_bytes (262144)"
    );
    let out = rivus(
        dir.path(),
        "validate",
        &script("1\n", "max_operations = 0\n"),
    );
    assert_eq!(
        stderr(&out).trim_end(),
        "error: pipeline.toml:8:1: `transforms[0].max_operations`: plugin `script`: must be at least 1: every \
         script is bounded"
    );
}

#[test]
fn describe_script_shows_the_contract() {
    let out = Command::new(rivus_bin())
        .args(["describe", "script"])
        .output()
        .unwrap();
    let text = stdout(&out);
    for needle in [
        "The record is the map `record`",
        "passes `record` on as the script left it",
        "`false` drops it",
        "an array of maps emits one record per",
        "max_string_bytes",
        "max_call_depth",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

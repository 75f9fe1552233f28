//! `window` and `batch` stages in pipeline files, through `rivus`: the shipped `orders_per_country.toml` under
//! `validate`, `test`, `run` (aggregates checked against the input, a late order dead-lettered, the ledger),
//! `describe window` and `schema`; a batch with aggregates; located errors in a stage's options.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rivus() -> Command {
    let mut cmd = Command::cargo_bin("rivus").unwrap();
    cmd.current_dir(root());
    cmd
}

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

#[test]
fn orders_per_country_per_minute() {
    let file = "examples/pipelines/orders_per_country.toml";
    let (out, _) = run(rivus().args(["validate", file]), 0);
    assert!(
        out.contains("filter (sync pipe) -> window (runtime stage) -> jsonl"),
        "{out}"
    );
    let (out, _) = run(rivus().args(["test", file]), 0);
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let (_, summary) = run(rivus().args(["run", file]).env("RIVUS_OUT", dir.path()), 0);

    // What the windows should hold, from the CSV itself: paid orders by (minute, country), less the late one.
    let csv = std::fs::read_to_string(root().join("examples/data/orders_stream.csv")).unwrap();
    let mut expected: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    let (mut read, mut paid) = (0u64, 0u64);
    for line in csv.lines().skip(1) {
        read += 1;
        let cols: Vec<&str> = line.split(',').collect();
        let (id, country, status, amount, at) = (cols[0], cols[2], cols[3], cols[4], cols[6]);
        if status != "paid" {
            continue;
        }
        paid += 1;
        if id == "50" {
            continue; // 10:02:25, after the watermark passed 10:03:30: late
        }
        let minute = format!("{}:00Z", &at[..16]);
        let e = expected.entry((minute, country.to_owned())).or_default();
        e.0 += 1;
        e.1 += amount.parse::<f64>().unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join("orders_per_country.jsonl")).unwrap();
    let mut actual: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            r["window_start"].as_str().unwrap().to_owned(),
            r["country"].as_str().unwrap().to_owned(),
        );
        assert!(
            actual
                .insert(
                    key,
                    (
                        r["orders"].as_u64().unwrap(),
                        r["revenue"].as_f64().unwrap()
                    )
                )
                .is_none()
        );
    }
    assert_eq!(actual.len(), expected.len(), "{text}");
    for (key, (n, revenue)) in &expected {
        let (m, r) = actual[key];
        assert_eq!(m, *n, "{key:?}");
        assert!((r - revenue).abs() < 1e-9, "{key:?}: {r} != {revenue}");
    }
    let late = std::fs::read_to_string(dir.path().join("orders_per_country.late.jsonl")).unwrap();
    assert_eq!(late.lines().count(), 1, "{late}");
    assert!(late.contains("late item"), "{late}");
    let windowed: u64 = expected.values().map(|(n, _)| n).sum();
    assert!(
        summary.contains(&format!(
            "read {read} = written {windowed} + filtered {} + skipped 0 + dead-lettered 1 + failed 0",
            read - paid
        )),
        "{summary}"
    );
}

#[test]
fn describe_and_schema_know_the_runtime_stages() {
    let (out, _) = run(rivus().args(["describe", "window"]), 0);
    assert!(out.starts_with("window (runtime stage"), "{out}");
    for field in [
        "kind",
        "size",
        "step",
        "gap",
        "time_field",
        "allowed_lateness",
        "group_by",
        "aggregates",
    ] {
        assert!(out.contains(&format!("    {field} ")), "{field}: {out}");
    }
    let (out, _) = run(rivus().args(["describe", "batch"]), 0);
    assert!(out.contains("max_wait"), "{out}");
    let (out, _) = run(rivus().arg("schema"), 0);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    let transforms = schema["properties"]["transforms"]["items"]["oneOf"]
        .as_array()
        .unwrap();
    let window = transforms
        .iter()
        .find(|t| t["properties"]["plugin"]["const"] == "window")
        .unwrap();
    assert!(window["properties"]["aggregates"].is_object(), "{window}");
}

#[test]
fn a_batch_with_aggregates_and_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let file = dir.path().join("batch.toml");
    let write = |extra: &str| {
        std::fs::write(
            &file,
            format!(
                "[source]\nplugin = \"generator\"\ncount = 10\ntemplate = {{ n = \"{{i}}\", k = \"a\" }}\n\
                 [[transforms]]\nplugin = \"batch\"\n{extra}\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
                out.display()
            ),
        )
        .unwrap();
    };
    write(
        "size = 4\ngroup_by = [\"k\"]\naggregates = { count = \"count\", sum = \"sum(n)\", ids = \"collect(n)\" }",
    );
    let (_, summary) = run(rivus().arg("run").arg(&file), 0);
    assert!(summary.contains("read 10 = written 10 "), "{summary}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"k\":\"a\",\"count\":4,\"sum\":6,\"ids\":[0,1,2,3]}\n\
         {\"k\":\"a\",\"count\":4,\"sum\":22,\"ids\":[4,5,6,7]}\n\
         {\"k\":\"a\",\"count\":2,\"sum\":17,\"ids\":[8,9]}\n"
    );
    write("size = 4\naggregates = { s = \"summ(n)\" }");
    let (_, err) = run(rivus().arg("validate").arg(&file), 2);
    assert!(
        err.contains(
            "`transforms[0].aggregates`: `batch`: aggregate `s`: unknown aggregate `summ`"
        ),
        "{err}"
    );
    write("size = 0");
    let (_, err) = run(rivus().arg("validate").arg(&file), 2);
    assert!(
        err.contains("`transforms[0].size`: a batch holds at least 1 record"),
        "{err}"
    );
    std::fs::write(
        &file,
        "[source]\nplugin = \"generator\"\n[[transforms]]\nplugin = \"window\"\nkind = \"sliding\"\nsize = \"1m\"\n\
         [[sinks]]\nplugin = \"blackhole\"\n",
    )
    .unwrap();
    let (_, err) = run(rivus().arg("validate").arg(&file), 2);
    assert!(
        err.contains("`transforms[0].kind`: a sliding window needs `size` and `step`"),
        "{err}"
    );
}

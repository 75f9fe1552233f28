//! Acceptance (issue 14): a custom `rivus` — `rivus_cli::main()` with this crate's plugins linked — lists,
//! describes, validates, runs and tests them beside the reference plugins, through the binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

/// The crate's directory: the pipeline files are under `pipelines/`.
fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn custom_rivus(out: &Path) -> Command {
    let mut cmd = Command::cargo_bin("custom-rivus").unwrap();
    cmd.current_dir(here()).env("OUT", out);
    cmd
}

/// stdout of a run that must succeed.
fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A copy of `pipelines/<name>` in `dir`, with `from` replaced by `to`.
fn edited(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(here().join("pipelines").join(name)).unwrap();
    assert!(text.contains(from), "`{from}` is not in {name}");
    let path = dir.join(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn list_shows_the_custom_plugins_beside_the_reference_ones() {
    let out = tempfile::tempdir().unwrap();
    let listed = stdout(custom_rivus(out.path()).arg("list"));
    for (kind, name) in [
        ("sync_source", "readings"),
        ("async_source", "ticker"),
        ("sync_pipe", "fahrenheit"),
        ("async_pipe", "label"),
        ("sync_sink", "tsv"),
        ("async_sink", "stats"),
        ("sync_source", "csv"),
        ("sync_sink", "jsonl"),
    ] {
        assert!(
            listed.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(kind) && words.next() == Some(name)
            }),
            "{kind} `{name}` is not listed:\n{listed}"
        );
    }
}

#[test]
fn describe_shows_their_options() {
    let out = tempfile::tempdir().unwrap();
    // Listed by the attribute from the fields of a struct that derives `Deserialize` only.
    let readings = stdout(custom_rivus(out.path()).args(["describe", "readings", "--json"]));
    let readings: described::Described = described::parse(&readings);
    assert_eq!(readings.kind, "sync_source");
    assert_eq!(
        readings.fields,
        [
            (
                "count".to_owned(),
                true,
                "How many readings to give.".to_owned()
            ),
            (
                "sensors".to_owned(),
                false,
                "How many sensors take turns (`s1`, `s2`, ...).".to_owned()
            ),
        ]
    );
    // From the schema of `config = LabelConfig`.
    let label = stdout(custom_rivus(out.path()).args(["describe", "label"]));
    assert!(
        label.contains("locations") && label.contains("Sensor → where it is."),
        "{label}"
    );
    // No options.
    let stats = stdout(custom_rivus(out.path()).args(["describe", "stats"]));
    assert!(stats.contains("options: none"), "{stats}");
}

#[test]
fn validate_checks_their_options() {
    let out = tempfile::tempdir().unwrap();
    let valid = stdout(custom_rivus(out.path()).args(["validate", "pipelines/readings.toml"]));
    assert!(valid.contains("is valid"), "{valid}");

    // A misspelt option of a custom plugin, at its line, with the plugin's name.
    let bad = edited(out.path(), "readings.toml", "sensors = 3", "sensor = 3");
    custom_rivus(out.path())
        .arg("validate")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "readings.toml:12:1: `source.sensor`: plugin `readings`: unknown field `sensor`",
        ));
    // The plugin's own check of its options (`TryFrom`).
    let empty = edited(
        out.path(),
        "readings.toml",
        r#"locations = { s1 = "attic", s2 = "cellar", s3 = "garden" }"#,
        "locations = {}",
    );
    custom_rivus(out.path())
        .arg("validate")
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "async pipe `label`: invalid configuration: `locations` is empty",
        ));
}

#[test]
fn run_runs_them() {
    let out = tempfile::tempdir().unwrap();
    custom_rivus(out.path())
        .args(["run", "--quiet", "pipelines/readings.toml"])
        .assert()
        .success()
        .stderr(predicate::str::contains("stats: 6 records"));
    let tsv = std::fs::read_to_string(out.path().join("readings.tsv")).unwrap();
    assert_eq!(
        tsv,
        "sensor\tlocation\tcelsius\tfahrenheit\n\
         s1\tattic\t10.0\t50.0\n\
         s2\tcellar\t12.5\t54.5\n\
         s3\tgarden\t15.0\t59.0\n\
         s1\tattic\t17.5\t63.5\n\
         s2\tcellar\t20.0\t68.0\n\
         s3\tgarden\t22.5\t72.5\n"
    );

    // The custom async source into a reference sink.
    custom_rivus(out.path())
        .args(["run", "--quiet", "pipelines/ticks.toml"])
        .assert()
        .success();
    let ticks = std::fs::read_to_string(out.path().join("ticks.jsonl")).unwrap();
    assert_eq!(ticks, "{\"tick\":1}\n{\"tick\":2}\n{\"tick\":3}\n");

    // A record the async pipe fails stops the run (the default policy), with exit code 1.
    let unknown = edited(
        out.path(),
        "readings.toml",
        "s3 = \"garden\"",
        "s4 = \"shed\"",
    );
    custom_rivus(out.path())
        .args(["run", "--quiet"])
        .arg(&unknown)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no location for sensor `s3`"));
}

#[test]
fn test_runs_their_tests() {
    let out = tempfile::tempdir().unwrap();
    let passed = stdout(custom_rivus(out.path()).args(["test", "pipelines/readings.toml"]));
    assert!(passed.contains("1 passed, 0 failed"), "{passed}");

    let wrong = edited(
        out.path(),
        "readings.toml",
        "fahrenheit = 212.0",
        "fahrenheit = 100.0",
    );
    custom_rivus(out.path())
        .arg("test")
        .arg(&wrong)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "FAILED a reading gets its temperature",
        ));
}

/// `describe --json`, read with the `serde_json` that `rivus-core` re-exports: its first plugin.
mod described {
    use rivus_core::serde_json::{self, Value};

    pub(super) struct Described {
        pub(super) kind: String,
        /// (name, required, description) of each option.
        pub(super) fields: Vec<(String, bool, String)>,
    }

    pub(super) fn parse(text: &str) -> Described {
        let value: Value = serde_json::from_str(text).unwrap();
        let plugin = &value[0];
        let fields = plugin["fields"].as_array().unwrap();
        Described {
            kind: plugin["kind"].as_str().unwrap().to_owned(),
            fields: fields
                .iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap().to_owned(),
                        f["required"].as_bool().unwrap(),
                        f["description"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        }
    }
}

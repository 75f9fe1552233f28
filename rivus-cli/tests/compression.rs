//! gzip and zstd files through `rivus`: the shipped `compressed_orders.toml` (a `.csv.gz` in, a `.jsonl.zst` out),
//! read back by another pipeline file; the `compression` option on a file without an extension; what does not
//! go with compression (`checkpoint` on a source, `append` on a sink); a damaged file named in the error. And
//! several input files: the shipped `daily_orders.toml` (a glob over plain and gzip CSVs, in path order, each
//! record with its file, a bad row located in its file), a directory, a glob that matches nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

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

fn run(cmd: &mut Command, code: i32) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

/// Copies `from` (any compression, by the options given) to the plain JSON lines file `to`.
fn decompress(dir: &Path, from: &Path, options: &str, to: &Path) -> String {
    let file = dir.join("back.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"jsonl\"\npath = \"{}\"\n{options}\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
            from.display(),
            to.display()
        ),
    )
    .unwrap();
    run(rivus().arg("run").arg(&file), 0);
    std::fs::read_to_string(to).unwrap()
}

#[test]
fn a_gzip_csv_becomes_zstd_json_lines_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    run(
        rivus().args(["test", "examples/pipelines/compressed_orders.toml"]),
        0,
    );
    let summary = run(
        rivus()
            .args(["run", "examples/pipelines/compressed_orders.toml"])
            .env("RIVUS_OUT", dir.path()),
        0,
    );
    assert!(
        summary.contains("read 6 = written 4 + filtered 2 "),
        "{summary}"
    );
    let zst = dir.path().join("orders.archive.jsonl.zst");
    let bytes = std::fs::read(&zst).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    let text = decompress(dir.path(), &zst, "", &dir.path().join("plain.jsonl"));
    let ids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["order_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [9001, 9002, 9004, 9006]);
}

#[test]
fn the_option_names_the_codec_when_the_extension_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("packed");
    let file = dir.path().join("pack.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"generator\"\ncount = 500\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n\
             compression = \"gzip\"\n",
            packed.display()
        ),
    )
    .unwrap();
    run(rivus().arg("run").arg(&file), 0);
    let bytes = std::fs::read(&packed).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip member");
    let text = decompress(
        dir.path(),
        &packed,
        "compression = \"gzip\"",
        &dir.path().join("plain.jsonl"),
    );
    assert_eq!(text.lines().count(), 500);
    // Read without the option, the gzip bytes are not JSON: every line is a located error, none is lost.
    let file = dir.path().join("raw.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"jsonl\"\npath = \"{}\"\ncompression = \"none\"\n[[sinks]]\nplugin = \"blackhole\"\n",
            packed.display()
        ),
    )
    .unwrap();
    let err = run(rivus().arg("run").arg(&file), 1);
    assert!(err.contains(&format!("{}:1", packed.display())), "{err}");
}

#[test]
fn checkpoint_and_append_do_not_go_with_compression() {
    // Configuration errors at the option's line, from `validate` as from `run` (exit 2), before any file is
    // opened or made.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cp.toml");
    let checks = |toml: String, wanted: &str| {
        std::fs::write(&file, toml).unwrap();
        for command in ["validate", "run"] {
            let err = run(rivus().arg(command).arg(&file), 2);
            assert!(err.contains(wanted), "{command}: {err}");
        }
    };
    checks(
        format!(
            "[source]\nplugin = \"csv\"\npath = \"{}\"\ncheckpoint = \"{}\"\n\
             [[sinks]]\nplugin = \"blackhole\"\n",
            root().join("examples/data/orders_archive.csv.gz").display(),
            dir.path().join("cp.state").display()
        ),
        "cp.toml:4:1: `source.checkpoint`: plugin `csv`: a `checkpoint` needs an uncompressed file: a gzip stream",
    );
    checks(
        format!(
            "[source]\nplugin = \"lines\"\npath = \"{}\"\ncheckpoint = \"{}\"\n\
             [[sinks]]\nplugin = \"blackhole\"\n",
            root().join("examples/data/*.csv").display(),
            dir.path().join("cp.state").display()
        ),
        "cp.toml:4:1: `source.checkpoint`: plugin `lines`: a `checkpoint` follows one file",
    );
    let out = dir.path().join("out.jsonl.gz");
    checks(
        format!(
            "[source]\nplugin = \"generator\"\ncount = 1\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            out.display()
        ),
        "cp.toml:7:1: `sinks[0].append`: plugin `jsonl`: `append` cannot go with gzip compression",
    );
    assert!(!out.exists(), "nothing made");
    assert!(!dir.path().join("out.jsonl").exists(), "nothing made");
}

#[test]
fn a_damaged_gzip_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv.gz");
    let mut bytes = std::fs::read(root().join("examples/data/orders_archive.csv.gz")).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&bad, bytes).unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"csv\"\npath = \"{}\"\n[[sinks]]\nplugin = \"blackhole\"\n",
            bad.display()
        ),
    )
    .unwrap();
    let err = run(rivus().arg("run").arg(&file), 1);
    assert!(err.contains(&bad.display().to_string()), "{err}");
}

#[test]
fn a_glob_reads_its_files_in_path_order_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    run(
        rivus().args(["test", "examples/pipelines/daily_orders.toml"]),
        0,
    );
    let summary = run(
        rivus()
            .args(["run", "examples/pipelines/daily_orders.toml"])
            .env("RIVUS_OUT", dir.path()),
        0,
    );
    assert!(
        summary.contains("read 8 = written 5 + filtered 2 + skipped 0 + dead-lettered 1 "),
        "{summary}"
    );
    let out = std::fs::read_to_string(dir.path().join("orders.daily.jsonl")).unwrap();
    let rows: Vec<(String, u64)> = out
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                r["_file"].as_str().unwrap().to_owned(),
                r["order_id"].as_u64().unwrap(),
            )
        })
        .collect();
    // Paths in a pipeline file are relative to its directory (examples/pipelines/).
    let day = |d: &str| format!("../data/daily/2026-01-0{d}");
    assert_eq!(
        rows,
        [
            (day("1.csv"), 1),
            (day("1.csv"), 3),
            (day("2.csv"), 4),
            (day("3.csv.gz"), 7),
            (day("3.csv.gz"), 8)
        ]
    );
    let rejected = std::fs::read_to_string(dir.path().join("orders.daily_rejected.jsonl")).unwrap();
    let letter: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(letter["file"], day("2.csv"), "{letter}");
    assert_eq!(letter["line"], 3, "{letter}");
}

#[test]
fn a_directory_is_read_whole_and_an_empty_glob_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("b.jsonl"), "{\"n\":2}\n{\"n\":3}\n").unwrap();
    std::fs::write(input.join("a.jsonl"), "{\"n\":1}\n").unwrap();
    let out = dir.path().join("out.jsonl");
    let file = dir.path().join("dir.toml");
    let write = |path: &Path| {
        std::fs::write(
            &file,
            format!(
                "[source]\nplugin = \"jsonl\"\npath = \"{}\"\nfile_field = \"f\"\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\n",
                path.display(),
                out.display()
            ),
        )
        .unwrap();
    };
    write(&input);
    run(rivus().arg("run").arg(&file), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let a = input.join("a.jsonl").display().to_string();
    let b = input.join("b.jsonl").display().to_string();
    assert_eq!(
        text,
        format!(
            "{{\"n\":1,\"f\":\"{a}\"}}\n{{\"n\":2,\"f\":\"{b}\"}}\n{{\"n\":3,\"f\":\"{b}\"}}\n"
        )
    );
    write(&input.join("*.csv"));
    let err = run(rivus().arg("run").arg(&file), 1);
    assert!(err.contains("no file matches the glob"), "{err}");
}

//! gzip and zstd files through `rivus`: the shipped `compressed_orders.toml` (a `.csv.gz` in, a `.jsonl.zst` out),
//! read back by another pipeline file; the `compression` option on a file without an extension; what does not
//! go with compression (`checkpoint` on a source, `append` on a sink); a damaged file named in the error.

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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cp.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"csv\"\npath = \"examples/data/orders_archive.csv.gz\"\ncheckpoint = \"{}\"\n\
             [[sinks]]\nplugin = \"blackhole\"\n",
            dir.path().join("cp.state").display()
        ),
    )
    .unwrap();
    let err = run(rivus().arg("run").arg(&file), 1);
    assert!(
        err.contains("a `checkpoint` needs an uncompressed file"),
        "{err}"
    );
    std::fs::write(
        &file,
        format!(
            "[source]\nplugin = \"generator\"\ncount = 1\n[[sinks]]\nplugin = \"jsonl\"\npath = \"{}\"\nappend = true\n",
            dir.path().join("out.jsonl.gz").display()
        ),
    )
    .unwrap();
    let err = run(rivus().arg("run").arg(&file), 1);
    assert!(
        err.contains("`append` cannot go with gzip compression"),
        "{err}"
    );
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

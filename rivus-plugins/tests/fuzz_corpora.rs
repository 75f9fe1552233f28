//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and every crash the fuzzers found
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own code, so that CI checks them without
//! `cargo fuzz`. The targets are in `fuzz/src/lib.rs`; the README says how to fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;

#[path = "../../fuzz/src/lib.rs"]
#[allow(unreachable_pub, dead_code, missing_docs)]
mod targets;

/// Runs `target` on every file of the target's corpus and regressions; returns how many there were.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{} fails", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn pipeline_file_corpus() {
    assert!(replay("pipeline_file", targets::pipeline_file) > 0);
}

#[test]
fn decoders_corpus() {
    assert!(replay("decoders", targets::decoders) > 0);
}

#[test]
fn record_serde_corpus() {
    assert!(replay("record_serde", targets::record_serde) > 0);
}

#[test]
fn script_corpus() {
    assert!(replay("script", targets::script) > 0);
}

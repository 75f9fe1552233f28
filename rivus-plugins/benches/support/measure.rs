//! What the file benches share besides their input: the CPU time a way took, and a pipeline file run as
//! `rivus run` runs it.

use std::path::Path;

use rivus_core::metrics::RunReport;
use rivus_core::spec::{PipelineFile, SourceText};

/// The CPU seconds this process and its waited-for children (an engine run as a command) have used so far,
/// from `/proc/self/stat` (clock ticks of 10 ms); 0 where there is no `/proc`.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (in parentheses, which may hold spaces): utime is the 14th field of
    // the line, stime, cutime and cstime follow it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Parses, builds and runs a pipeline file's text on a multi-thread runtime, as `rivus run` does.
pub(crate) fn run_pipeline(text: String) -> RunReport {
    let file = PipelineFile::parse(
        Path::new("bench.toml"),
        SourceText::new("bench.toml", text),
        &|_| None,
    )
    .unwrap();
    let pipeline = file.build().unwrap().into_pipeline();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(pipeline.run()).unwrap()
}

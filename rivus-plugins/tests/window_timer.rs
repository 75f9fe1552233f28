//! A processing-time window in a pipeline file closes by its timer on a quiet stream: the source gives one
//! record and then nothing for 1000 s (virtual time: Tokio's paused clock), and the window's record is out
//! after one minute, while the source is still open. Then a graceful stop, and the ledger adds up.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;
use std::time::Duration;

use rivus_core::spec::{PipelineFile, SourceText};
use tokio_util::sync::CancellationToken;

const FILE: &str = r#"
[source]
plugin = "generator"
rate = 0.001
template = { country = "FR", amount = 2 }

[[transforms]]
plugin = "window"
kind = "tumbling"
size = "1m"
group_by = ["country"]
aggregates = { n = "count", total = "sum(amount)" }

[[sinks]]
plugin = "blackhole"
"#;

#[tokio::test(start_paused = true)]
async fn a_window_on_a_quiet_stream_closes_by_timer() {
    rivus_plugins::link();
    let file = PipelineFile::parse(
        Path::new("quiet.toml"),
        SourceText::new("quiet.toml", FILE),
        &|_| None,
    )
    .unwrap();
    let stop = CancellationToken::new();
    let pipeline = file
        .build()
        .unwrap()
        .into_pipeline()
        .shutdown_on(stop.clone());
    let monitor = pipeline.monitor();
    let run = tokio::spawn(pipeline.run());
    let out = |name: &str| {
        monitor
            .snapshot()
            .into_iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.items_out)
    };
    // Before the window's end, nothing has left it.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!((out("generator"), out("window.aggregate")), (1, 0));
    // Past its end, the timer has closed it, with no further record and the source still open.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!((out("generator"), out("window.aggregate")), (1, 1));
    stop.cancel();
    let report = run.await.unwrap().unwrap();
    let ledger = report.ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!((ledger.read, ledger.written), (1, 1), "{ledger:?}");
}

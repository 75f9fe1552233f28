//! The sources: sensor readings (sync) and a ticker (async).

use std::time::Duration;

use rivus_core::prelude::*;
use rivus_core::tokio;

/// Gives `count` temperature readings `{ sensor, celsius }`, going round `sensors` sensors.
///
/// The temperatures follow a fixed pattern, so that runs can be compared.
#[sync_source("readings")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// How many readings to give.
    pub count: u64,
    /// How many sensors take turns (`s1`, `s2`, ...).
    #[serde(default = "three")]
    pub sensors: u64,
    #[serde(skip)]
    given: u64,
}

fn three() -> u64 {
    3
}

impl SyncSource for Readings {
    type Out = Record;

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        if self.given == self.count {
            return None;
        }
        let i = self.given;
        self.given += 1;
        let sensor = format!("s{}", i % self.sensors.max(1) + 1);
        // 10.0, 12.5, 15.0, ... in steps of 2.5 °C.
        let celsius = 10.0 + 2.5 * i as f64;
        Some(Ok(Record::new()
            .with("sensor", sensor)
            .with("celsius", celsius)))
    }
}

/// Gives `{ "tick": n }` every `every_ms` milliseconds, `count` times.
#[async_source("ticker")]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ticker {
    /// How many ticks.
    pub count: u64,
    /// The time between two ticks, in milliseconds.
    #[serde(default)]
    pub every_ms: u64,
    #[serde(skip)]
    ticked: u64,
}

impl AsyncSource for Ticker {
    type Out = Record;

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        if self.ticked == self.count {
            return None;
        }
        if self.ticked > 0 {
            tokio::time::sleep(Duration::from_millis(self.every_ms)).await;
        }
        self.ticked += 1;
        Some(Ok(Record::new().with("tick", self.ticked)))
    }
}

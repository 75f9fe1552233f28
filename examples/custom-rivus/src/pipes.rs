//! The transforms: °C to °F (sync) and sensor locations (async).

use std::collections::BTreeMap;

use rivus_core::prelude::*;
use rivus_core::tokio;

/// Adds `fahrenheit` from `celsius`.
#[sync_pipe("fahrenheit")]
pub struct Fahrenheit;

impl SyncPipe for Fahrenheit {
    type In = Record;
    type Out = Record;

    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        let celsius = record.get("celsius").and_then(Value::as_f64);
        let celsius =
            celsius.ok_or_else(|| PipeError::msg("`celsius` is missing or not a number"))?;
        record.insert("fahrenheit", celsius * 9.0 / 5.0 + 32.0);
        Ok(record)
    }
}

/// The options of [`Label`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[schemars(crate = "rivus_core::schemars")]
pub struct LabelConfig {
    /// Sensor → where it is. Not empty.
    pub locations: BTreeMap<String, String>,
    /// The location of a sensor that is not listed. Default: an error for that record.
    #[serde(default)]
    pub unknown: Option<String>,
}

/// Adds `location`, looked up by `sensor` (asynchronously, as a lookup in a service would be).
#[async_pipe("label", config = LabelConfig)]
pub struct Label {
    locations: BTreeMap<String, String>,
    unknown: Option<String>,
}

impl TryFrom<LabelConfig> for Label {
    type Error = String;

    fn try_from(config: LabelConfig) -> Result<Self, String> {
        if config.locations.is_empty() {
            return Err("`locations` is empty: list at least one sensor".to_owned());
        }
        Ok(Self {
            locations: config.locations,
            unknown: config.unknown,
        })
    }
}

impl AsyncPipe for Label {
    type In = Record;
    type Out = Record;

    async fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        tokio::task::yield_now().await;
        let sensor = record
            .get("sensor")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let location = (self.locations.get(sensor))
            .or(self.unknown.as_ref())
            .ok_or_else(|| PipeError::msg(format!("no location for sensor `{sensor}`")))?
            .clone();
        record.insert("location", location);
        Ok(record)
    }
}

//! [`GeneratorSource`]: records made from a template, for demos, tests and benchmarks; no server, no file.

use std::borrow::Cow;
use std::time::Duration;

use rivus_core::value::{Fields, Record, Value};
use rivus_core::{AsyncSource, PipeError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Configuration of [`GeneratorSource`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// How many records to make. Default: no limit (until the pipeline is stopped).
    #[serde(default)]
    pub count: Option<u64>,
    /// Records per second. Default: as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: Option<f64>,
    /// The fields of each record. In string values `{i}` becomes the record's number (0, 1, …); a value that
    /// is exactly `"{i}"` becomes the number itself. Default: `{ i = "{i}" }`.
    #[serde(default)]
    pub template: Option<Fields>,
}

/// Makes records from a template: for demos, tests and benchmarks.
///
/// See [`GeneratorConfig`].
#[rivus_core::async_source("generator", config = GeneratorConfig)]
///
/// # Cancel safety
///
/// `next` is cancel safe: a record is numbered only when it is returned.
pub struct GeneratorSource {
    count: Option<u64>,
    template: Fields,
    interval: Option<tokio::time::Interval>,
    period: Option<Duration>,
    next: u64,
}

impl TryFrom<GeneratorConfig> for GeneratorSource {
    type Error = PipeError;

    fn try_from(config: GeneratorConfig) -> Result<Self, PipeError> {
        let period = match config.rate {
            None => None,
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                Some(Duration::from_secs_f64(1.0 / rate))
            }
            Some(rate) => {
                return Err(PipeError::msg(format!(
                    "`rate` must be a positive number, not {rate}"
                ))
                .with_pipe("generator"));
            }
        };
        let template = config
            .template
            .unwrap_or_else(|| Fields::from_iter([("i".to_owned(), Value::from("{i}"))]));
        Ok(Self {
            count: config.count,
            template,
            interval: None,
            period,
            next: 0,
        })
    }
}

impl GeneratorSource {
    fn render(&self, i: u64) -> Record {
        let mut record = Record::new();
        for (name, value) in &self.template {
            let value = match value {
                Value::String(s) if s == "{i}" => Value::from(i),
                Value::String(s) if s.contains("{i}") => {
                    Value::from(s.replace("{i}", &i.to_string()))
                }
                other => other.clone(),
            };
            record.insert(name.clone(), value);
        }
        record
    }
}

impl AsyncSource for GeneratorSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        "generator".into()
    }

    async fn open(&mut self) -> Result<(), PipeError> {
        if let Some(period) = self.period {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            self.interval = Some(interval);
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Record, PipeError>> {
        if self.count.is_some_and(|count| self.next >= count) {
            return None;
        }
        if let Some(interval) = self.interval.as_mut() {
            interval.tick().await;
        }
        let record = self.render(self.next);
        self.next += 1;
        Some(Ok(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_renders_and_paces() {
        let config: GeneratorConfig = serde_json::from_value(serde_json::json!({
            "count": 3, "rate": 10.0, "template": { "id": "{i}", "name": "user-{i}", "fixed": true }
        }))
        .unwrap();
        let mut g = GeneratorSource::try_from(config).unwrap();
        g.open().await.unwrap();
        let start = tokio::time::Instant::now();
        let mut out = Vec::new();
        while let Some(r) = g.next().await {
            out.push(r.unwrap());
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].get("id"), Some(&Value::from(2)));
        assert_eq!(out[2].get("name"), Some(&Value::from("user-2")));
        assert_eq!(out[2].get("fixed"), Some(&Value::Bool(true)));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "3 ticks at 10/s: 0, 100, 200 ms"
        );
        let bad = GeneratorConfig {
            rate: Some(0.0),
            ..GeneratorConfig::default()
        };
        assert!(GeneratorSource::try_from(bad).is_err());
    }
}

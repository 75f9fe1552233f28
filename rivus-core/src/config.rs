//! [`PipeConfig`]: how the runtime runs one pipe (retries, timeout, concurrency, buffer).
//!
//! It deserializes from TOML or JSON with every field optional (the defaults are documented on each field and
//! exposed as `const fn`s), rejects unknown fields, and describes itself as a JSON schema (schemars) so that
//! `rivus describe` and editors can show it.

use std::num::NonZeroUsize;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the runtime runs one pipe.
///
/// # Examples
///
/// ```
/// use rivus_core::PipeConfig;
///
/// let cfg: PipeConfig = toml::from_str(r#"
///     name = "enrich"
///     retries = 3
///     timeout = "2s"
///     concurrency = 8
/// "#).unwrap();
/// assert_eq!(cfg.name.as_deref(), Some("enrich"));
/// assert_eq!(cfg.timeout, Some(std::time::Duration::from_secs(2)));
/// assert_eq!(cfg.buffer_size, PipeConfig::DEFAULT_BUFFER_SIZE);
///
/// let err = toml::from_str::<PipeConfig>("retrys = 3").unwrap_err();
/// assert!(err.to_string().contains("unknown field `retrys`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PipeConfig {
    /// The pipe's name in errors, metrics and logs. Default: the pipe's own name (its type or plugin name).
    pub name: Option<String>,
    /// How many times a transient error is retried before the error policy takes the item. Default: 0.
    pub retries: u32,
    /// Longest time one call may take, e.g. `"500ms"` or `"2s"`; a call that takes longer fails with a
    /// transient error. Default: no limit.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// How many items the pipe works on at once. Default: 1.
    #[schemars(range(min = 1))]
    pub concurrency: NonZeroUsize,
    /// With `concurrency > 1`, whether outputs keep the input order (`true`) or leave as soon as they are ready
    /// (`false`: higher throughput when call times vary). Default: `true`.
    pub ordered: bool,
    /// Capacity of the bounded channel in front of the pipe, in items: the most that can wait for it before
    /// the stage before it has to wait (backpressure). Default: 1024.
    #[schemars(range(min = 1))]
    pub buffer_size: NonZeroUsize,
    /// Run a sync pipe on the blocking thread pool, for CPU-heavy work. Default: `false`.
    pub blocking: bool,
}

impl PipeConfig {
    /// Default [`buffer_size`](Self::buffer_size).
    pub const DEFAULT_BUFFER_SIZE: NonZeroUsize = default_buffer_size();
    /// Default [`concurrency`](Self::concurrency).
    pub const DEFAULT_CONCURRENCY: NonZeroUsize = default_concurrency();

    /// The defaults, with a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }
}

/// 1024 items: enough to smooth bursts, small enough that a stalled sink holds little memory.
pub const fn default_buffer_size() -> NonZeroUsize {
    match NonZeroUsize::new(1024) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// One call at a time.
pub const fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::MIN
}

impl Default for PipeConfig {
    fn default() -> Self {
        Self {
            name: None,
            retries: 0,
            timeout: None,
            concurrency: default_concurrency(),
            ordered: true,
            buffer_size: default_buffer_size(),
            blocking: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_defaults() {
        let cfg: PipeConfig = toml::from_str("").unwrap();
        assert_eq!(cfg, PipeConfig::default());
        assert_eq!(cfg.buffer_size.get(), 1024);
        assert_eq!(cfg.concurrency.get(), 1);
        assert!(cfg.ordered);
    }

    #[test]
    fn rejects_zero_concurrency_and_unknown_fields() {
        assert!(toml::from_str::<PipeConfig>("concurrency = 0").is_err());
        let err = toml::from_str::<PipeConfig>("buffer = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `buffer`"), "{err}");
    }

    #[test]
    fn schema_lists_fields_with_docs() {
        let schema = serde_json::to_value(schemars::schema_for!(PipeConfig)).unwrap();
        let props = &schema["properties"];
        for field in [
            "name",
            "retries",
            "timeout",
            "concurrency",
            "ordered",
            "buffer_size",
            "blocking",
        ] {
            assert!(
                props[field]["description"].is_string(),
                "{field} has no description"
            );
        }
        assert_eq!(props["buffer_size"]["default"], 1024);
    }

    #[test]
    fn round_trips() {
        let cfg = PipeConfig {
            timeout: Some(Duration::from_millis(1500)),
            ..PipeConfig::named("x")
        };
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(toml::from_str::<PipeConfig>(&text).unwrap(), cfg);
    }
}

//! [`PipeConfig`]: how the runtime runs one pipe (retries, timeout, concurrency, buffer, error policy);
//! [`StreamConfig`]: how it runs a whole pipeline; [`ErrorPolicy`]: what happens to an item that failed.
//!
//! It deserializes from TOML or JSON with every field optional (the defaults are documented on each field and
//! exposed as `const fn`s), rejects unknown fields, and describes itself as a JSON schema (schemars) so that
//! `rivus describe` and editors can show it.

use std::num::NonZeroUsize;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retry::{
    RetryPolicy, default_retry_delay, default_retry_factor, default_retry_max_delay,
};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PipeConfig {
    /// The pipe's name in errors, metrics and logs. Default: the pipe's own name (its type or plugin name).
    pub name: Option<String>,
    /// How many times a transient error is retried before the error policy takes the item. Default: 0.
    pub retries: u32,
    /// Wait before the first retry, e.g. `"100ms"`; each further retry waits `retry_factor` times longer.
    /// Default: 100 ms.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_delay: Duration,
    /// Growth of the wait from one retry to the next (exponential backoff). Default: 2.0.
    #[schemars(range(min = 1.0))]
    #[serde(deserialize_with = "retry_factor")]
    pub retry_factor: f64,
    /// Random spread of each wait, as a fraction: 0.2 waits between 80 % and 120 % of the computed delay.
    /// Default: 0.0 (exact delays).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(deserialize_with = "retry_jitter")]
    pub retry_jitter: f64,
    /// Longest wait between two attempts, whatever the factor. Default: 30 s.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_max_delay: Duration,
    /// What happens to an item that failed (after its retries): `"fail_fast"`, `"skip"` or `"dead_letter"`.
    /// Default: the pipeline's policy ([`StreamConfig::on_error`]).
    pub on_error: Option<ErrorPolicy>,
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

/// `retry_factor`: a finite number of at least 1 (NaN, which every comparison lets through, is refused).
fn retry_factor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let factor = f64::deserialize(d)?;
    if factor.is_finite() && factor >= 1.0 {
        Ok(factor)
    } else {
        Err(serde::de::Error::custom(format!(
            "`retry_factor` must be a finite number of at least 1.0, not {factor}"
        )))
    }
}

/// `retry_jitter`: a fraction from 0 to 1.
fn retry_jitter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let jitter = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&jitter) {
        Ok(jitter)
    } else {
        Err(serde::de::Error::custom(format!(
            "`retry_jitter` must be a fraction from 0.0 to 1.0, not {jitter}"
        )))
    }
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

    /// The retry settings of this pipe as one [`RetryPolicy`].
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            initial_delay: self.retry_delay,
            factor: self.retry_factor,
            jitter: self.retry_jitter,
            max_delay: self.retry_max_delay,
        }
    }

    /// Sets every retry setting from `policy`.
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retries = policy.retries;
        self.retry_delay = policy.initial_delay;
        self.retry_factor = policy.factor;
        self.retry_jitter = policy.jitter;
        self.retry_max_delay = policy.max_delay;
        self
    }

    /// Sets [`concurrency`](Self::concurrency) (at least 1) and [`ordered`](Self::ordered).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize, ordered: bool) -> Self {
        self.concurrency = NonZeroUsize::new(concurrency).unwrap_or(NonZeroUsize::MIN);
        self.ordered = ordered;
        self
    }

    /// Sets [`buffer_size`](Self::buffer_size) (at least 1).
    #[must_use]
    pub fn with_buffer_size(mut self, items: usize) -> Self {
        self.buffer_size = NonZeroUsize::new(items).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`on_error`](Self::on_error).
    #[must_use]
    pub fn with_error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = Some(policy);
        self
    }

    /// Sets [`blocking`](Self::blocking).
    #[must_use]
    pub fn with_blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }
}

/// The parts a [`PipeConfig`] can configure; each takes only some of its options (see
/// [`PipeConfig::ignored_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A source: `name` and `on_error` (for its bad items).
    Source,
    /// A sync pipe: everything but `timeout` (a sync call cannot be interrupted).
    SyncPipe,
    /// An async pipe: everything but `blocking`.
    AsyncPipe,
    /// A sink: `name`, the retry settings, `on_error`, `timeout` (of each write and flush), `buffer_size`.
    Sink,
    /// The dead-letter sink: `name` and `timeout` (its failure fails the run).
    DeadLetter,
}

impl Role {
    /// The role in words, with the reason some options do nothing for it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Source => "a source (it takes `name` and `on_error`)",
            Self::SyncPipe => {
                "a sync pipe (a sync call cannot be interrupted, so `timeout` does nothing)"
            }
            Self::AsyncPipe => "an async pipe (`blocking` is for sync pipes)",
            Self::Sink => {
                "a sink (it writes in order, one call at a time: `concurrency`, `ordered` and `blocking` do \
                 nothing)"
            }
            Self::DeadLetter => {
                "the dead-letter sink (it takes `name` and `timeout`; if it fails, the run fails)"
            }
        }
    }
}

impl PipeConfig {
    /// The options set here (different from their defaults) that would do nothing for a part of `role`.
    /// The runtime refuses to run with any ([`PipelineError::Config`](crate::stream::PipelineError::Config)),
    /// and `rivus validate` reports each at its line.
    ///
    /// ```
    /// use rivus_core::config::{PipeConfig, Role};
    ///
    /// let cfg = PipeConfig::default().with_concurrency(4, true).with_timeout(std::time::Duration::from_secs(2));
    /// assert_eq!(cfg.ignored_by(Role::Sink), ["concurrency"]);
    /// assert_eq!(cfg.ignored_by(Role::SyncPipe), ["timeout"]);
    /// assert!(cfg.ignored_by(Role::AsyncPipe).is_empty());
    /// ```
    pub fn ignored_by(&self, role: Role) -> Vec<&'static str> {
        let d = Self::default();
        let set = [
            ("retries", self.retries != d.retries),
            ("retry_delay", self.retry_delay != d.retry_delay),
            ("retry_factor", self.retry_factor != d.retry_factor),
            ("retry_jitter", self.retry_jitter != d.retry_jitter),
            ("retry_max_delay", self.retry_max_delay != d.retry_max_delay),
            ("on_error", self.on_error.is_some()),
            ("timeout", self.timeout.is_some()),
            ("concurrency", self.concurrency != d.concurrency),
            ("ordered", self.ordered != d.ordered),
            ("buffer_size", self.buffer_size != d.buffer_size),
            ("blocking", self.blocking != d.blocking),
        ];
        let applies = |option: &str| match role {
            Role::Source => matches!(option, "on_error"),
            Role::SyncPipe => option != "timeout",
            Role::AsyncPipe => option != "blocking",
            Role::Sink => {
                option.starts_with("retr")
                    || matches!(option, "on_error" | "timeout" | "buffer_size")
            }
            Role::DeadLetter => option == "timeout",
        };
        set.into_iter()
            .filter(|(option, is_set)| *is_set && !applies(option))
            .map(|(option, _)| option)
            .collect()
    }
}

/// What the runtime does with an item whose pipe failed (after its retries), or with a bad item from a source.
///
/// ```
/// use rivus_core::config::ErrorPolicy;
///
/// #[derive(serde::Deserialize)]
/// struct T { on_error: ErrorPolicy }
/// let t: T = toml::from_str(r#"on_error = "dead_letter""#).unwrap();
/// assert_eq!(t.on_error, ErrorPolicy::DeadLetter);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Stop the pipeline: the source stops, sinks are flushed and closed, and `run` returns the error.
    #[default]
    FailFast,
    /// Drop the item, count it in the report (`skipped`), and go on. The item is acknowledged.
    Skip,
    /// Hand the item, the error and the pipe's name to the pipeline's dead-letter sink, and go on. The item is
    /// acknowledged once the dead-letter sink has taken it.
    DeadLetter,
}

/// How the runtime runs a whole pipeline: defaults for every stage, and how items travel between stages.
///
/// ```
/// use rivus_core::config::{ErrorPolicy, StreamConfig};
///
/// let cfg: StreamConfig = toml::from_str(r#"
///     name = "orders"
///     chunk_size = 128
///     on_error = "skip"
/// "#).unwrap();
/// assert_eq!(cfg.chunk_size.get(), 128);
/// assert_eq!(cfg.on_error, ErrorPolicy::Skip);
/// assert!(cfg.fuse_sync_stages);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StreamConfig {
    /// The pipeline's name, the `pipeline` label of its metrics. Default: `"pipeline"`.
    pub name: String,
    /// Capacity of each channel between stages, in items, for stages that do not set their own. Default: 1024.
    #[schemars(range(min = 1))]
    pub buffer_size: NonZeroUsize,
    /// Items travel between stages in chunks of at most this many items; a stage sends a partial chunk as soon
    /// as it has nothing more to read, so a quiet stream is not delayed. 1 sends every item on its own.
    /// Default: 256.
    #[schemars(range(min = 1))]
    pub chunk_size: NonZeroUsize,
    /// Run adjacent sync pipes added with `.pipe()` in one task, with no channel between them. Default: `true`.
    pub fuse_sync_stages: bool,
    /// The error policy of every stage that does not set its own. Default: fail fast.
    pub on_error: ErrorPolicy,
    /// How long a stopping run may drain (after the first shutdown request, or a fail-fast error) before it is
    /// aborted: tasks are dropped where they are, and what is in flight is counted as not processed. A second
    /// shutdown request aborts at once. Default: 30 s.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub shutdown_timeout: Duration,
}

impl StreamConfig {
    /// Default [`chunk_size`](Self::chunk_size).
    pub const DEFAULT_CHUNK_SIZE: NonZeroUsize = default_chunk_size();

    /// The defaults, with a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets [`chunk_size`](Self::chunk_size) (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, items: usize) -> Self {
        self.chunk_size = NonZeroUsize::new(items).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// Sets [`buffer_size`](Self::buffer_size) (at least 1).
    #[must_use]
    pub fn with_buffer_size(mut self, items: usize) -> Self {
        self.buffer_size = NonZeroUsize::new(items).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// Sets [`fuse_sync_stages`](Self::fuse_sync_stages).
    #[must_use]
    pub fn with_fusion(mut self, fuse: bool) -> Self {
        self.fuse_sync_stages = fuse;
        self
    }

    /// Sets [`on_error`](Self::on_error).
    #[must_use]
    pub fn with_error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = policy;
        self
    }

    /// Sets [`shutdown_timeout`](Self::shutdown_timeout).
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// 30 s to drain after a shutdown request: enough for a pipeline's buffers, short enough for an operator.
pub const fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            name: default_pipeline_name(),
            buffer_size: default_buffer_size(),
            chunk_size: default_chunk_size(),
            fuse_sync_stages: true,
            on_error: ErrorPolicy::FailFast,
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_pipeline_name() -> String {
    "pipeline".to_owned()
}

/// 256 items per chunk: amortizes the channel hop without holding a quiet stream back (partial chunks leave
/// as soon as a stage is idle).
pub const fn default_chunk_size() -> NonZeroUsize {
    match NonZeroUsize::new(256) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
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
            retry_delay: default_retry_delay(),
            retry_factor: default_retry_factor(),
            retry_jitter: 0.0,
            retry_max_delay: default_retry_max_delay(),
            on_error: None,
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
            "retry_delay",
            "retry_factor",
            "retry_jitter",
            "retry_max_delay",
            "on_error",
        ] {
            assert!(
                props[field]["description"].is_string(),
                "{field} has no description"
            );
        }
        assert_eq!(props["buffer_size"]["default"], 1024);
    }

    #[test]
    fn retry_settings_and_policies() {
        let cfg: PipeConfig = toml::from_str(
            r#"
            retries = 4
            retry_delay = "50ms"
            retry_factor = 3.0
            retry_max_delay = "1s"
            on_error = "skip"
        "#,
        )
        .unwrap();
        let p = cfg.retry_policy();
        assert_eq!(p.retries, 4);
        assert_eq!(p.initial_delay, Duration::from_millis(50));
        assert_eq!(cfg.on_error, Some(ErrorPolicy::Skip));
        assert_eq!(PipeConfig::default().with_retry(p).retry_policy(), p);
        assert!(toml::from_str::<PipeConfig>(r#"on_error = "retry""#).is_err());
        let s: StreamConfig = toml::from_str("").unwrap();
        assert_eq!(s, StreamConfig::default());
        assert!(toml::from_str::<StreamConfig>("chunk = 3").is_err());
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

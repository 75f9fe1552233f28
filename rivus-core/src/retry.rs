//! [`RetryPolicy`]: how often and how patiently a failed call is tried again.
//!
//! Only [transient](crate::ErrorKind::Transient) errors are retried; a permanent error goes to the error policy
//! at once. The wait before retry `n` (counting from 1) is `initial_delay × factor^(n-1)`, capped at
//! `max_delay`, then spread by `jitter` (0.2 → somewhere between 80 % and 120 %, never above `max_delay`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::PipeError;

/// How often and how patiently a failed call is tried again.
///
/// [`PipeConfig`](crate::PipeConfig) carries the same settings as flat fields (`retries`, `retry_delay`, …);
/// [`PipeConfig::retry_policy`](crate::PipeConfig::retry_policy) gives them as one value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rivus_core::retry::RetryPolicy;
///
/// let p = RetryPolicy::new(3).with_initial_delay(Duration::from_millis(10)).with_factor(2.0);
/// assert_eq!(p.delay(1), Duration::from_millis(10));
/// assert_eq!(p.delay(2), Duration::from_millis(20));
/// assert_eq!(p.delay(3), Duration::from_millis(40));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry). Default: 0.
    pub retries: u32,
    /// Wait before the first retry. Default: 100 ms.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub initial_delay: Duration,
    /// Growth of the wait from one retry to the next. Default: 2.0.
    pub factor: f64,
    /// Random spread of each wait, as a fraction in `0.0..=1.0`. Default: 0.0.
    pub jitter: f64,
    /// Longest wait. Default: 30 s.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// Never retries.
    pub const fn none() -> Self {
        Self {
            retries: 0,
            initial_delay: default_retry_delay(),
            factor: default_retry_factor(),
            jitter: 0.0,
            max_delay: default_retry_max_delay(),
        }
    }

    /// Retries up to `retries` times with the default delays.
    pub const fn new(retries: u32) -> Self {
        let mut p = Self::none();
        p.retries = retries;
        p
    }

    /// Sets [`initial_delay`](Self::initial_delay).
    #[must_use]
    pub const fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets [`factor`](Self::factor).
    #[must_use]
    pub const fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub const fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    #[must_use]
    pub const fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The wait before retry number `retry` (1 for the first retry), with jitter applied.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let max = self.max_delay.as_secs_f64();
        let mut secs = (self.initial_delay.as_secs_f64() * factor.powi(exp)).min(max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter > 0.0 {
            secs *= 1.0 - jitter + 2.0 * jitter * fastrand::f64();
            secs = secs.min(max);
        }
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_delay)
    }

    /// Whether `error` after `retries_done` retries deserves another attempt.
    pub fn should_retry(&self, error: &PipeError, retries_done: u32) -> bool {
        error.is_transient() && retries_done < self.retries
    }

    /// Calls `attempt` until it succeeds, fails permanently, or the retries run out, sleeping (on Tokio's clock)
    /// between attempts. Returns the last result and the number of retries made.
    ///
    /// # Errors
    ///
    /// The last error, when no attempt succeeded.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops retrying; an attempt in progress is dropped with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::{retry::RetryPolicy, PipeError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let mut calls = 0;
    /// let (result, retries) = RetryPolicy::new(5)
    ///     .run(|| {
    ///         calls += 1;
    ///         let n = calls;
    ///         async move {
    ///             if n < 3 { Err(PipeError::transient("flaky", "busy")) } else { Ok(n) }
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(result.unwrap(), 3);
    /// assert_eq!(retries, 2);
    /// # });
    /// ```
    pub async fn run<T>(
        &self,
        mut attempt: impl AsyncFnMut() -> Result<T, PipeError>,
    ) -> (Result<T, PipeError>, u32) {
        let first = attempt().await;
        self.retry(first, attempt).await
    }

    /// Goes on from the result of a first attempt made elsewhere: retries `attempt` as [`run`](Self::run)
    /// does. Returns the last result and the number of retries made.
    ///
    /// # Errors
    ///
    /// The last error, when no attempt succeeded.
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    pub async fn retry<T>(
        &self,
        first: Result<T, PipeError>,
        mut attempt: impl AsyncFnMut() -> Result<T, PipeError>,
    ) -> (Result<T, PipeError>, u32) {
        let mut backoff = self.backoff();
        let mut result = first;
        loop {
            match result {
                Err(e) if backoff.wait(&e).await => result = attempt().await,
                done => return (done, backoff.retries()),
            }
        }
    }

    /// The retry decisions of one call, one at a time: for loops that cannot hand their attempt to
    /// [`run`](Self::run) (the runtime's stages, which keep the failed input themselves). `run` and
    /// [`retry`](Self::retry) are built on it.
    ///
    /// ```
    /// use rivus_core::{retry::RetryPolicy, PipeError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let policy = RetryPolicy::new(2);
    /// let mut backoff = policy.backoff();
    /// let busy = PipeError::transient("db", "busy");
    /// assert!(backoff.wait(&busy).await); // slept 100 ms: try again
    /// assert!(backoff.wait(&busy).await); // slept 200 ms: try again
    /// assert!(!backoff.wait(&busy).await); // out of retries
    /// assert!(!policy.backoff().wait(&PipeError::msg("bad input")).await); // permanent: never
    /// # });
    /// ```
    pub fn backoff(&self) -> Backoff<'_> {
        Backoff {
            policy: self,
            retries: 0,
        }
    }
}

/// The retry decisions of one call; see [`RetryPolicy::backoff`].
#[derive(Debug)]
pub struct Backoff<'a> {
    policy: &'a RetryPolicy,
    retries: u32,
}

impl Backoff<'_> {
    /// After a failed attempt with `error`: `true` once it has slept the policy's delay and another attempt
    /// is due; `false` when the error is permanent or the retries are used up.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait does not count as a retry.
    pub async fn wait(&mut self, error: &PipeError) -> bool {
        if !self.policy.should_retry(error, self.retries) {
            return false;
        }
        tokio::time::sleep(self.policy.delay(self.retries + 1)).await;
        self.retries += 1;
        true
    }

    /// Retries made so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

/// 100 ms before the first retry.
pub const fn default_retry_delay() -> Duration {
    Duration::from_millis(100)
}

/// Each retry waits twice as long as the one before.
pub const fn default_retry_factor() -> f64 {
    2.0
}

/// No wait is longer than 30 s.
pub const fn default_retry_max_delay() -> Duration {
    Duration::from_secs(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let p = RetryPolicy::new(10)
            .with_initial_delay(Duration::from_millis(100))
            .with_factor(3.0)
            .with_max_delay(Duration::from_secs(1));
        let d: Vec<_> = (1..=4).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [100, 300, 900, 1000]);
    }

    #[test]
    fn jitter_stays_in_range() {
        let p = RetryPolicy::new(1)
            .with_initial_delay(Duration::from_millis(100))
            .with_jitter(0.5);
        for _ in 0..200 {
            let ms = p.delay(1).as_secs_f64() * 1000.0;
            assert!((50.0..=150.0).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn permanent_is_never_retried() {
        let p = RetryPolicy::new(3);
        assert!(!p.should_retry(&PipeError::msg("bad"), 0));
        assert!(p.should_retry(&PipeError::transient("x", "busy"), 2));
        assert!(!p.should_retry(&PipeError::transient("x", "busy"), 3));
    }
}

//! [`Sequence`]: the numbers `start, start + step, …` below `end`, as plain `u64` items.
//!
//! A typed source for library pipelines, tests and benchmarks (`Pipeline::from_source(Sequence::new(0, 1_000_000, 1))`).
//! Its items are numbers, not records, so a pipeline file that feeds it to record plugins is rejected when it is
//! built, naming both plugins.

use std::borrow::Cow;

use rivus_core::{PipeError, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_step() -> u64 {
    1
}

/// Yields `start, start + step, …` while below `end`.
///
/// ```
/// use rivus_core::SyncSource;
/// use rivus_plugins::sequence::Sequence;
///
/// let mut s = Sequence::new(2, 9, 3);
/// let items: Vec<u64> = std::iter::from_fn(|| s.next()).map(Result::unwrap).collect();
/// assert_eq!(items, [2, 5, 8]);
/// ```
#[rivus_core::sync_source("sequence")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    /// The first number. Default: 0.
    #[serde(default)]
    pub start: u64,
    /// The end, not included.
    pub end: u64,
    /// The distance between two numbers, at least 1. Default: 1.
    #[serde(default = "default_step")]
    #[schemars(range(min = 1))]
    pub step: u64,
}

impl Sequence {
    /// The numbers from `start` (included) to `end` (excluded) by `step` (0 counts as 1).
    pub fn new(start: u64, end: u64, step: u64) -> Self {
        Self { start, end, step }
    }
}

impl SyncSource for Sequence {
    type Out = u64;

    fn next(&mut self) -> Option<Result<u64, PipeError>> {
        if self.start >= self.end {
            return None;
        }
        let item = self.start;
        self.start = self.start.saturating_add(self.step.max(1));
        Some(Ok(item))
    }

    fn name(&self) -> Cow<'static, str> {
        "sequence".into()
    }
}

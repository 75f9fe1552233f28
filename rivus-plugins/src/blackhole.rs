//! [`BlackholeSink`]: takes every record and keeps none; counts them. For benchmarks and dry runs.

use std::borrow::Cow;

use rivus_core::value::Record;
use rivus_core::{AsyncSink, PipeError, SyncSink};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Takes records and drops them, counting; for benchmarks and dry runs.
#[rivus_core::sync_sink("blackhole")]
#[rivus_core::async_sink("blackhole")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSink {
    /// How many records it has taken.
    #[serde(skip)]
    pub taken: u64,
}

impl SyncSink for BlackholeSink {
    type In = Record;
    fn write(&mut self, _record: Record) -> Result<(), PipeError> {
        self.taken += 1;
        Ok(())
    }
    fn name(&self) -> Cow<'static, str> {
        "blackhole".into()
    }
}

impl AsyncSink for BlackholeSink {
    type In = Record;
    async fn write(&mut self, _record: Record) -> Result<(), PipeError> {
        self.taken += 1;
        Ok(())
    }
    fn name(&self) -> Cow<'static, str> {
        "blackhole".into()
    }
}

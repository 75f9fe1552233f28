use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// A sync pipe registered with the async attribute.
#[async_pipe("double")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Double {}

impl SyncPipe for Double {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x * 2)
    }
}

fn main() {}

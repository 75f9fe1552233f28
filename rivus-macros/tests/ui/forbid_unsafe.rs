#![forbid(unsafe_code)]

use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// Registered in a crate that forbids `unsafe_code`.
#[sync_pipe("noop")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Noop {}

impl SyncPipe for Noop {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x)
    }
}

fn main() {}

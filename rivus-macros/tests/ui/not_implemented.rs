use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// Writes nowhere: the trait is missing.
#[sync_sink("nowhere")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Nowhere {}

/// A source registered as a sink.
#[async_sink("numbers")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Numbers {}

impl AsyncSource for Numbers {
    type Out = u64;
    async fn next(&mut self) -> Option<Result<u64, PipeError>> {
        None
    }
}

fn main() {}

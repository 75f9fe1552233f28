use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// Two names for one struct of one kind.
#[sync_pipe("rename")]
#[sync_pipe("rename-fields")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Rename {}

impl SyncPipe for Rename {
    type In = String;
    type Out = String;
    fn process(&self, x: String) -> Result<String, PipeError> {
        Ok(x)
    }
}

fn main() {}

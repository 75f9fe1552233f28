use rivus_core::prelude::*;
use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// A config type the plugin cannot be built from.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct RenameConfig {
    from: String,
}

/// Renames.
#[sync_pipe("rename", config = RenameConfig)]
struct Rename;

impl SyncPipe for Rename {
    type In = String;
    type Out = String;
    fn process(&self, x: String) -> Result<String, PipeError> {
        Ok(x)
    }
}

fn main() {}

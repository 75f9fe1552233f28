use rivus_core::prelude::*;

/// The config type does not implement `Deserialize` or `JsonSchema`.
struct RenameConfig {
    from: String,
}

/// Renames.
#[sync_pipe("rename", config = RenameConfig)]
struct Rename {
    from: String,
}

impl From<RenameConfig> for Rename {
    fn from(c: RenameConfig) -> Self {
        Self { from: c.from }
    }
}

impl SyncPipe for Rename {
    type In = String;
    type Out = String;
    fn process(&self, x: String) -> Result<String, PipeError> {
        Ok(x.replace(&self.from, ""))
    }
}

fn main() {}

use rivus_core::prelude::*;

/// Fields, no `Deserialize` and no `Default`: the plugin cannot be made.
#[sync_pipe("count")]
struct Count {
    seen: u64,
}

impl SyncPipe for Count {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x + self.seen)
    }
}

fn main() {}

use rivus_core::prelude::*;

/// An async pipe registered with the sync attribute: one error, the one that says so.
#[sync_pipe("double")]
struct Double;

impl AsyncPipe for Double {
    type In = u64;
    type Out = u64;
    async fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x * 2)
    }
}

fn main() {}

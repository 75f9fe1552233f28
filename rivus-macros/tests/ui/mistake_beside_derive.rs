use rivus_core::prelude::*;

/// A mistake in the attribute is the only error: the derive below it still finds `serde`.
#[sync_pipe("add", colour = "red")]
#[derive(Deserialize)]
struct Add {
    amount: u64,
}

impl SyncPipe for Add {
    type In = u64;
    type Out = u64;
    fn process(&self, x: u64) -> Result<u64, PipeError> {
        Ok(x + self.amount)
    }
}

fn main() {}

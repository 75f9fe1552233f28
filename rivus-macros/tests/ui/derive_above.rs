use rivus_core::prelude::*;

/// The derives stand above the attribute, which cannot see them.
#[derive(Deserialize)]
#[serde(crate = "rivus_core::serde", deny_unknown_fields)]
#[sync_pipe("add")]
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

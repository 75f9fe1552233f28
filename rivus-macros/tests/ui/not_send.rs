use rivus_core::prelude::*;
use std::rc::Rc;

use rivus_core::schemars::JsonSchema;
use rivus_core::serde::Deserialize;

/// Holds an `Rc`, so it cannot move to the runtime's threads.
#[sync_sink("counter")]
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "rivus_core::serde")]
#[schemars(crate = "rivus_core::schemars")]
struct Counter {
    #[serde(skip)]
    seen: Rc<()>,
}

impl SyncSink for Counter {
    type In = u64;
    fn write(&mut self, _: u64) -> Result<(), PipeError> {
        let _ = &self.seen;
        Ok(())
    }
}

fn main() {}

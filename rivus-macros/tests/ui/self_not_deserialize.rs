use rivus_core::prelude::*;

/// No `config =`, and the struct itself does not derive `Deserialize`/`JsonSchema`.
#[sync_pipe("upper")]
struct Upper;

impl SyncPipe for Upper {
    type In = String;
    type Out = String;
    fn process(&self, x: String) -> Result<String, PipeError> {
        Ok(x.to_uppercase())
    }
}

fn main() {}

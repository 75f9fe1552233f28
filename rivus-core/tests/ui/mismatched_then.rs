use rivus_core::prelude::*;

struct Parse;

impl SyncPipe for Parse {
    type In = String;
    type Out = u64;
    fn process(&self, input: String) -> Result<u64, PipeError> {
        input.parse().permanent("parse")
    }
}

fn main() {
    // Parse gives u64; the filter takes &str items.
    let _p = Parse.then(pipe::filter(|s: &&str| !s.is_empty()));
}

use rivus_core::prelude::*;

struct Lookup;

impl AsyncPipe for Lookup {
    type In = u64;
    type Out = String;
    async fn process(&self, input: u64) -> Result<String, PipeError> {
        Ok(input.to_string())
    }
}

fn main() {
    // An AsyncPipe needs #[async_pipe] or pipe::from_async(..) to compose.
    let _p = pipe::map(|x: u64| x + 1) >> Lookup;
}

use rivus_core::prelude::*;

fn main() {
    // A sync pipe that gives u64 into an async pipe that takes String.
    let _p = pipe::map(|x: u64| x + 1) >> pipe::async_map(|s: String| async move { s.len() });
}

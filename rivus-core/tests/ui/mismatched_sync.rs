use rivus_core::prelude::*;

fn main() {
    // The left pipe gives u64, the right one takes String.
    let _p = pipe::map(|x: u64| x + 1) >> pipe::map(|s: String| s.len());
}

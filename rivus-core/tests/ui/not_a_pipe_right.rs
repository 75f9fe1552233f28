use rivus_core::prelude::*;

fn main() {
    let _p = pipe::map(|x: u64| x + 1) >> 42u64;
}

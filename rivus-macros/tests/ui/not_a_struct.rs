use rivus_core::prelude::*;

#[sync_pipe("choice")]
enum Choice {
    A,
}

#[sync_sink("bits")]
union Bits {
    a: u32,
}

#[async_pipe("double")]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}

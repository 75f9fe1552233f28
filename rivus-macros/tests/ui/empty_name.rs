use rivus_core::prelude::*;

#[sync_pipe("")]
struct Empty;

fn main() {}

use rivus_core::prelude::*;

/// `config` takes a type; `+ 1` is not one.
#[sync_pipe("rename", config = + 1)]
struct Rename;

fn main() {}

use rivus_core::prelude::*;

#[sync_pipe(description = "Renames fields.")]
struct Rename;

fn main() {}

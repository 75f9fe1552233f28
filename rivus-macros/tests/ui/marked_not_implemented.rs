use rivus_core::prelude::*;

/// Marked composable, but not a pipe.
#[sync_pipe]
struct NotAPipe;

fn main() {}

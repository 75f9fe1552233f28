use rivus_core::prelude::*;

/// Two configuration types.
#[sync_pipe("rename", config = RenameConfig, config = OtherConfig)]
struct Rename;

fn main() {}

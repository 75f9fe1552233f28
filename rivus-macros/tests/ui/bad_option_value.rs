use rivus_core::prelude::*;

#[sync_pipe("rename", config = "RenameConfig")]
struct Rename;

#[sync_pipe("rename2", config = 3 + 4)]
struct Rename2;

#[sync_pipe("rename3", description = concat!("Renames", " fields."))]
struct Rename3;

#[sync_pipe("rename4", description = "a", description = "b")]
struct Rename4;

fn main() {}

use rivus_core::prelude::*;

#[sync_pipe("rename", descripton = "Renames fields.")]
struct Rename;

#[sync_pipe("rename2", version = 2, config = Cfg)]
struct Rename2;

fn main() {}

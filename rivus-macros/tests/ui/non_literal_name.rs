use rivus_core::prelude::*;

const NAME: &str = "rename";

#[sync_pipe(NAME)]
struct Rename;

#[sync_pipe(42)]
struct Answer;

#[sync_sink(name = "csv")]
struct Csv;

fn main() {}

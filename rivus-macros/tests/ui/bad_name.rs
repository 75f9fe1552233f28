use rivus_core::prelude::*;

#[sync_pipe("Rename Fields")]
struct Rename;

#[async_source("kafka.v2")]
struct Kafka;

fn main() {}

use rivus_core::prelude::*;

/// Four mistakes, all reported by one compile, each at its own tokens.
#[sync_pipe("Upper Case", colour = "red", description = 3)]
#[sync_pipe("upper")]
struct Upper<'a> {
    text: &'a str,
}

fn main() {}

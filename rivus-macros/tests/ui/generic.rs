use rivus_core::prelude::*;

#[sync_pipe("wrap")]
struct Wrap<T>(T);

#[sync_pipe("borrow")]
struct Borrow<'a>(&'a str);

#[sync_pipe("sized")]
struct Sized<const N: usize>([u8; N]);

fn main() {}

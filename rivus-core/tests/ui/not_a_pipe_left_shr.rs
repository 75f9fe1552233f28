use rivus_core::prelude::*;

struct NotAPipe;

fn main() {
    let _p = NotAPipe >> pipe::map(|x: u64| x + 1);
}

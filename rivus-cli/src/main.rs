//! The `rivus` command.

fn main() {
    println!("rivus {}", env!("CARGO_PKG_VERSION"));
}

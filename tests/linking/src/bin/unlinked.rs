//! Lists `rivus-plugins` in `Cargo.toml` but never names it: the linker leaves it out, and its plugins with it.

fn main() {
    rivus_linking_tests::print_plugins();
}

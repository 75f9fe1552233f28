//! Uses plugins by name only, and calls `rivus_plugins::link()`: the plugins are registered.

fn main() {
    rivus_plugins::link();
    rivus_linking_tests::print_plugins();
}

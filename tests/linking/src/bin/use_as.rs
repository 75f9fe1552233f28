//! Names the plugin crate with `use rivus_plugins as _;`: the plugins are registered.

use rivus_plugins as _;

fn main() {
    rivus_linking_tests::print_plugins();
}

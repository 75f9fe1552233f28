//! `custom-rivus`: the `rivus` command with this crate's plugins in it, beside the reference ones.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Name every crate whose plugins the command should know: the linker keeps only what the program names.
    custom_rivus::link();
    rivus_plugins::link();
    rivus_cli::main()
}

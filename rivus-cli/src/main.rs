//! `rivus`: the command of the `rivus-cli` library, with the reference plugins.

use std::process::ExitCode;

/// Records are made on the source's thread and freed on the sink's: mimalloc handles that hand-over much better
/// than glibc's allocator (measured: about 20% of a CSV -> JSON lines run went to malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The plugins are used by name only: link their crate so that the registry lists them.
    rivus_plugins::link();
    rivus_cli::main()
}

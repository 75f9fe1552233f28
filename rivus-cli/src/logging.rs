//! Logs on stderr through `tracing-subscriber`: `RUST_LOG` when it is set (e.g. `RUST_LOG=rivus_core=debug`),
//! otherwise the level `-v`/`-q` ask for. Every line goes through
//! [`secrets::Redacting`](rivus_core::secrets::Redacting), so a secret from `${VAR}` is shown as `***`.

use std::io::IsTerminal;

use rivus_core::secrets::Redacting;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber: `RUST_LOG` when set and valid, otherwise warnings, `-v` info, `-vv` debug, `-vvv`
/// trace, `-q` none (the command prints the error itself). Does nothing when a subscriber is already installed
/// (a program that embeds the command and set up its own).
pub(crate) fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "off",
        // The run's error is printed once, at the end, by the command: not also as it happens.
        (false, 0) => "warn,rivus_core::stream::state=error",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    // Err only when a global subscriber exists already: keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true)
        .try_init();
}

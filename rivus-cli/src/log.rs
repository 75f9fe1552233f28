//! Log lines on stderr, with secrets masked.
//!
//! The runtime and the plugins log through `tracing` (a stage that could not close, a `select` of a field no
//! record had, a commit that failed). Warnings and errors are shown by default; `RIVUS_LOG=info` (or `debug`,
//! `trace`, `error`) sets the level. Every line goes through
//! [`secrets::Redacting`](rivus_core::secrets::Redacting), so a secret from `${VAR}` is shown as `***`.

use std::str::FromStr;

use rivus_core::secrets::Redacting;
use tracing::Level;

/// Installs the logger for this process; a second call (or a program that installed its own) keeps the first.
pub(crate) fn init() {
    let level = std::env::var("RIVUS_LOG")
        .ok()
        .and_then(|l| Level::from_str(l.trim()).ok())
        .unwrap_or(Level::WARN);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(|| Redacting(std::io::stderr()))
        .try_init();
}

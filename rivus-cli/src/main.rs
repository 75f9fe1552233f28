//! `rivus`: list, describe, validate, run and test pipelines described in TOML.
//!
//! Exit codes: 0 success; 1 the pipeline or a test failed; 2 bad configuration or usage; 130 the run was
//! interrupted (stopped or aborted by a signal before its source was exhausted).

mod cli;
mod describe;
mod output;
mod run;
mod schema;
mod test;

use std::process::ExitCode;

/// Records are made on the source's thread and freed on the sink's: mimalloc handles that hand-over much better
/// than glibc's allocator (measured: about 20% of a CSV -> JSON lines run went to malloc and free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What went wrong, and which exit code says so.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad configuration: a pipeline file, a plugin name, an option.
    #[error("{0}")]
    Config(String),
    /// The pipeline or a test failed.
    #[error("{0}")]
    Failed(String),
    /// A shutdown request (a signal) stopped or aborted the run before its source was exhausted.
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) => ExitCode::from(2),
            Self::Failed(_) => ExitCode::from(1),
            // 128 + SIGINT, as shells report a command that Ctrl-C ended.
            Self::Interrupted(_) => ExitCode::from(130),
        }
    }
}

impl From<rivus_core::spec::ConfigError> for CliError {
    fn from(e: rivus_core::spec::ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

fn main() -> ExitCode {
    // The plugins are used by name only: link their crate so that the registry lists them.
    rivus_plugins::link();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List(args) => describe::list(&args),
        Command::Describe(args) => describe::describe(&args),
        Command::Validate(args) => run::validate(&args),
        Command::Run(args) => run::run(&args),
        Command::Schema => schema::print(),
        Command::Test(args) => test::test(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

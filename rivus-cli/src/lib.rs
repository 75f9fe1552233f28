//! The `rivus` command as a library: list, describe, validate, run and test pipelines described in TOML, with
//! every plugin the program links.
//!
//! The `rivus` binary is [`main`] with the reference plugins (`rivus-plugins`) linked. A program that links its
//! own plugins, and calls [`main`], is a `rivus` with those plugins in it — every subcommand lists, describes,
//! validates, runs and tests them like the reference ones:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     // my_plugins::link();     // the crates whose plugins the command should know, named so they are linked
//!     rivus_plugins::link();     // the reference plugins, if they are wanted too
//!     rivus_cli::main()
//! }
//! ```
//!
//! `examples/custom-rivus` in the repository is such a program, with one plugin of each kind, and its test runs
//! every subcommand through it.
//!
//! Every line it prints, and every log line, shows a secret from `${VAR}` as `***` (see
//! [`rivus_core::secrets`]).
//!
//! Exit codes: 0 success (also when the reader of a `stdout` sink went away: `rivus run x.toml | head -2`);
//! 1 the pipeline or a test failed; 2 bad configuration or usage; 130 the run was interrupted (stopped or
//! aborted by a signal before its source was exhausted).
//!
//! Output: standard output carries what a subcommand is for (a listing, a description, the data of a `stdout`
//! sink, `run --json`'s ledger when no sink writes to stdout); everything else goes to stderr: logs (through
//! `tracing-subscriber`: `RUST_LOG`, or `-v` info, `-vv` debug, `-vvv` trace; warnings by default), the
//! progress line (only on a terminal, and never while a `stdout` sink writes to a terminal), the run's
//! summary, errors. `-q` prints nothing on success and only the error on failure.

mod cli;
mod describe;
mod load;
mod logging;
mod output;
mod run;
mod schema;
mod suggest;
mod test;

use std::ffi::OsString;
use std::process::ExitCode;

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

/// Runs the command on the process's arguments, with the plugins this program links.
///
/// Prints what the subcommand prints, and errors on stderr; returns the exit code.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs the command on `args` (the first is the program's name), with the plugins this program links.
///
/// Usage errors and `--help` print and exit as clap does.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    logging::init(cli.verbose, cli.quiet);
    let quiet = cli.quiet;
    let result = match cli.command {
        Command::List(args) => describe::list(&args),
        Command::Describe(args) => describe::describe(&args),
        Command::Validate(args) => run::validate(&args, quiet),
        Command::Run(args) => run::run(&args, quiet),
        Command::Schema => schema::print(),
        Command::Test(args) => test::test(&args, quiet),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::print_stderr(&format!(
                "error: {}\n",
                rivus_core::secrets::redact(&e.to_string())
            ));
            e.exit_code()
        }
    }
}

//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rivus_core::registry::PluginKind;

/// Run data pipelines described in TOML files.
#[derive(Debug, Parser)]
#[command(name = "rivus", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// More log lines on stderr: -v info, -vv debug, -vvv trace (`RUST_LOG`, when set, decides instead).
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Nothing on success; only the error on failure.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the registered plugins.
    List(ListArgs),
    /// Show a plugin's options: fields, types, defaults and docs.
    Describe(DescribeArgs),
    /// Check a pipeline file: everything short of opening files and connecting.
    Validate(FileArgs),
    /// Run a pipeline file.
    Run(RunArgs),
    /// Print the JSON schema of pipeline files, for editors.
    Schema,
    /// Run the `[[tests]]` of a pipeline file.
    Test(FileArgs),
}

/// A plugin kind on the command line, spelled as `rivus list` prints it (`sync_source`); `sync-source` works
/// too.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    /// `#[async_source]`
    #[value(name = "async_source", alias = "async-source")]
    AsyncSource,
    /// `#[async_sink]`
    #[value(name = "async_sink", alias = "async-sink")]
    AsyncSink,
    /// `#[sync_source]`
    #[value(name = "sync_source", alias = "sync-source")]
    SyncSource,
    /// `#[sync_sink]`
    #[value(name = "sync_sink", alias = "sync-sink")]
    SyncSink,
    /// `#[async_pipe]`
    #[value(name = "async_pipe", alias = "async-pipe")]
    AsyncPipe,
    /// `#[sync_pipe]`
    #[value(name = "sync_pipe", alias = "sync-pipe")]
    SyncPipe,
}

impl From<KindArg> for PluginKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::AsyncSource => Self::AsyncSource,
            KindArg::AsyncSink => Self::AsyncSink,
            KindArg::SyncSource => Self::SyncSource,
            KindArg::SyncSink => Self::SyncSink,
            KindArg::AsyncPipe => Self::AsyncPipe,
            KindArg::SyncPipe => Self::SyncPipe,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only plugins of this kind.
    #[arg(long, value_enum)]
    pub(crate) kind: Option<KindArg>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    /// The plugin's name.
    pub(crate) name: String,
    /// Only the plugin of this kind (a name may be registered as a source and as a sink).
    #[arg(long, value_enum)]
    pub(crate) kind: Option<KindArg>,
    /// Print JSON (with the full configuration schema) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    /// The pipeline file, or `-` for standard input. Relative paths in it are relative to its directory (for
    /// standard input: the working directory).
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The pipeline file, or `-` for standard input. Relative paths in it are relative to its directory (for
    /// standard input: the working directory).
    pub(crate) file: PathBuf,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9000) while the pipeline runs.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Print the run's final ledger as one JSON object instead of the summary table: on stdout, or on stderr
    /// when a sink writes to stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

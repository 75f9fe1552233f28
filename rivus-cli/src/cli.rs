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

/// A plugin kind on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    /// `#[async_source]`
    AsyncSource,
    /// `#[async_sink]`
    AsyncSink,
    /// `#[sync_source]`
    SyncSource,
    /// `#[sync_sink]`
    SyncSink,
    /// `#[async_pipe]`
    AsyncPipe,
    /// `#[sync_pipe]`
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
    /// The pipeline file.
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The pipeline file.
    pub(crate) file: PathBuf,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9000) while the pipeline runs.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// No progress line and no summary; errors only.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

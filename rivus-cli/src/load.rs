//! Loading a pipeline file for a subcommand: from a path or from standard input (`-`), with relative paths
//! resolved against the file's directory, and plugin names checked with the command's own advice.

use std::io::Read;
use std::path::Path;

use rivus_core::spec::{PipelineFile, SourceText};

use crate::CliError;

/// The name standard input goes by in errors.
pub(crate) const STDIN_NAME: &str = "<stdin>";

/// Loads the pipeline file at `path` (`-`: standard input) and makes the file's directory the working
/// directory, so that relative paths in the file (data, outputs, checkpoints, scripts) are relative to the file
/// wherever the command runs from. A pipeline on standard input keeps the working directory.
///
/// Every plugin name is then checked (see [`crate::suggest`]).
pub(crate) fn pipeline(path: &Path) -> Result<PipelineFile, CliError> {
    let file = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            CliError::Config(format!("cannot read the pipeline from standard input: {e}"))
        })?;
        let file = PipelineFile::parse(
            Path::new(STDIN_NAME),
            SourceText::new(STDIN_NAME, text),
            &|name| std::env::var(name).ok(),
        )?;
        if let Some((path, _)) =
            (file.doc.source_tables().into_iter()).find(|(_, t)| t.plugin == "stdin")
        {
            let at = path.key("plugin");
            return Err(file
                .source
                .error_at(
                    &at,
                    "the pipeline itself came on standard input, so a `stdin` source would have nothing \
                     left to read: give the pipeline as a file",
                )
                .into());
        }
        file
    } else {
        let file = PipelineFile::load(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::env::set_current_dir(dir).map_err(|e| {
                CliError::Config(format!(
                    "{}: cannot work in the file's directory {}: {e}",
                    path.display(),
                    dir.display()
                ))
            })?;
        }
        file
    };
    crate::suggest::check_plugin_names(&file)?;
    Ok(file)
}

/// Whether the pipeline writes to standard output: a `stdout` sink or dead-letter sink, or a file sink whose
/// path is `-` or `/dev/stdout`.
pub(crate) fn writes_to_stdout(file: &PipelineFile) -> bool {
    file.doc
        .sinks
        .iter()
        .chain(file.doc.dead_letter.iter())
        .any(|t| {
            t.plugin == "stdout"
                || t.options
                    .get("path")
                    .and_then(|p| p.as_str())
                    .is_some_and(|p| p == "-" || p == "/dev/stdout")
        })
}

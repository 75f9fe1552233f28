//! File-system helpers shared by the file sinks.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rivus_core::PipeError;
use rivus_core::error::{InputError, Location};

/// Opens `path` for writing (truncating, or appending when `append`), creating missing parent directories; an
/// error names the plugin and the path.
pub(crate) fn create(plugin: &'static str, path: &Path, append: bool) -> Result<File, PipeError> {
    let fail = |e: std::io::Error| {
        PipeError::permanent(
            plugin,
            InputError::caused_by(Location::file(path.display().to_string()), e),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(fail)
}

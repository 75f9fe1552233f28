//! File-system errors that name the path and say what is wrong, and opening input files.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rivus_core::PipeError;

/// What a file plugin was doing when the file system refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Open,
    Read,
    Create,
    Write,
    Sync,
    Rename,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "cannot open",
            Self::Read => "cannot read",
            Self::Create => "cannot create",
            Self::Write => "cannot write",
            Self::Sync => "cannot sync to disk",
            Self::Rename => "cannot rename the finished file into place",
        })
    }
}

/// A file operation that failed: `path: action: why`, e.g. `/dev/full: cannot write: No space left on device
/// (os error 28)` or `people.csv/out.jsonl: cannot create: people.csv is not a directory`.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {action}: {why}")]
pub(crate) struct FileError {
    path: String,
    action: Action,
    why: String,
    #[source]
    cause: Option<io::Error>,
}

impl FileError {
    /// `action` on `path` failed with `cause`.
    pub(crate) fn io(path: &Path, action: Action, cause: io::Error) -> Self {
        let why = match cause.kind() {
            io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists
                if matches!(action, Action::Create | Action::Open) =>
            {
                match not_a_directory(path) {
                    Some(file) => format!("{} is not a directory", file.display()),
                    None => cause.to_string(),
                }
            }
            _ => cause.to_string(),
        };
        Self {
            path: path.display().to_string(),
            action,
            why,
            cause: Some(cause),
        }
    }

    /// `action` on `path` is refused for `why`.
    pub(crate) fn msg(path: &Path, action: Action, why: impl Into<String>) -> Self {
        Self {
            path: path.display().to_string(),
            action,
            why: why.into(),
            cause: None,
        }
    }

    /// As the permanent error of `plugin`.
    pub(crate) fn of(self, plugin: &'static str) -> PipeError {
        PipeError::permanent(plugin, self)
    }
}

/// The first ancestor of `path` (the path itself excluded) that exists and is not a directory.
fn not_a_directory(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .find(|p| std::fs::metadata(p).is_ok_and(|m| !m.is_dir()))
        .map(Path::to_path_buf)
}

/// Creates the missing parent directories of `path`; the error names the ancestor that is not a directory.
pub(crate) fn create_parents(plugin: &'static str, path: &Path) -> Result<(), PipeError> {
    if let Some(file) = not_a_directory(path) {
        return Err(FileError::msg(
            path,
            Action::Create,
            format!("{} is not a directory", file.display()),
        )
        .of(plugin));
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent)
            .map_err(|e| FileError::io(path, Action::Create, e).of(plugin)),
        None => Ok(()),
    }
}

/// Opens the input file `path` for reading. A directory is an error here (Linux would open it and fail on the
/// first read); a FIFO or a device is opened as a stream (opening a FIFO waits for its writer).
pub(crate) fn open_input(plugin: &'static str, path: &Path) -> Result<File, PipeError> {
    let meta =
        std::fs::metadata(path).map_err(|e| FileError::io(path, Action::Open, e).of(plugin))?;
    if meta.is_dir() {
        return Err(FileError::msg(path, Action::Open, "is a directory, not a file").of(plugin));
    }
    File::open(path).map_err(|e| FileError::io(path, Action::Open, e).of(plugin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path_and_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("rivus-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("people.csv");
        std::fs::write(&file, "a\n").unwrap();

        let err = create_parents("jsonl", &file.join("out.jsonl")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.ends_with(&format!(
                "{0}/out.jsonl: cannot create: {0} is not a directory",
                file.display()
            )),
            "{text}"
        );

        let err = open_input("jsonl", &dir).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!(
                "{}: cannot open: is a directory, not a file",
                dir.display()
            )),
            "{err}"
        );
        let err = open_input("csv", &dir.join("missing.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.csv: cannot open: No such file or directory"),
            "{err}"
        );
        let err = open_input("csv", &file.join("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }
}

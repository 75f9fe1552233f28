//! Whole files: [`FileSource`] gives one record per file of a directory or a glob pattern, in path order:
//! `{ "path": ..., "size": ..., "contents": ... }`, with the file's bytes as the record's raw bytes.

use std::borrow::Cow;
use std::path::PathBuf;

use rivus_core::error::{InputError, Location};
use rivus_core::registry::OptionError;
use rivus_core::value::Record;
use rivus_core::{PipeError, SyncSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_true() -> bool {
    true
}

/// Configuration of [`FileSource`]: exactly one of `dir` and `glob`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A directory: every regular file directly in it.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// A glob pattern, e.g. `data/**/*.json`.
    #[serde(default)]
    pub glob: Option<String>,
    /// Put the contents in the `contents` field as text (a file that is not UTF-8 is then a located error).
    /// With `false` only the raw bytes carry the contents. Default: `true`.
    #[serde(default = "default_true")]
    pub decode: bool,
}

/// Reads whole files from a directory or a glob, one record per file.
#[rivus_core::sync_source("file", config = FileSourceConfig)]
pub struct FileSource {
    config: FileSourceConfig,
    files: std::vec::IntoIter<PathBuf>,
}

impl FileSource {
    /// A source for `config`; the files are listed by [`SyncSource::open`].
    pub fn new(config: FileSourceConfig) -> Self {
        Self {
            config,
            files: Vec::new().into_iter(),
        }
    }

    fn list(&self) -> Result<Vec<PathBuf>, PipeError> {
        let mut files = match (&self.config.dir, &self.config.glob) {
            (Some(dir), None) => {
                let at = || Location::file(dir.display().to_string());
                let entries = std::fs::read_dir(dir)
                    .map_err(|e| PipeError::permanent("file", InputError::caused_by(at(), e)))?;
                let mut files = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| {
                        PipeError::permanent("file", InputError::caused_by(at(), e))
                    })?;
                    if entry.file_type().is_ok_and(|t| t.is_file()) {
                        files.push(entry.path());
                    }
                }
                files
            }
            (None, Some(pattern)) => {
                let paths = glob::glob(pattern).map_err(|e| {
                    PipeError::msg(format!("glob `{pattern}`: {e}")).with_pipe("file")
                })?;
                let mut files = Vec::new();
                for path in paths {
                    let path = path.map_err(|e| {
                        PipeError::permanent(
                            "file",
                            InputError::new(
                                Location::file(e.path().display().to_string()),
                                e.error().to_string(),
                            ),
                        )
                    })?;
                    if path.is_file() {
                        files.push(path);
                    }
                }
                files
            }
            _ => {
                return Err(
                    PipeError::msg("give exactly one of `dir` and `glob`").with_pipe("file")
                );
            }
        };
        files.sort();
        Ok(files)
    }
}

impl FileSourceConfig {
    /// Checks the options, short of opening anything (what `rivus validate` runs).
    ///
    /// # Errors
    ///
    /// The first option that does not fit, named.
    pub fn check(&self) -> Result<(), OptionError> {
        crate::check::optional_path(self.dir.as_deref(), "dir")?;
        match (&self.dir, &self.glob) {
            (Some(_), None) => Ok(()),
            (None, Some(pattern)) => glob::Pattern::new(pattern)
                .map(drop)
                .map_err(|e| OptionError::invalid("glob", format!("not a glob pattern: {e}"))),
            (Some(_), Some(_)) => Err(OptionError::invalid(
                "glob",
                "give `dir` or `glob`, not both",
            )),
            (None, None) => Err(OptionError::invalid(
                "dir",
                "give `dir` (a directory) or `glob` (a pattern)",
            )),
        }
    }
}

impl TryFrom<FileSourceConfig> for FileSource {
    type Error = OptionError;

    fn try_from(config: FileSourceConfig) -> Result<Self, OptionError> {
        config.check()?;
        Ok(Self::new(config))
    }
}

impl SyncSource for FileSource {
    type Out = Record;

    fn name(&self) -> Cow<'static, str> {
        "file".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        self.files = self.list()?.into_iter();
        Ok(())
    }

    fn next(&mut self) -> Option<Result<Record, PipeError>> {
        let path = self.files.next()?;
        let at = || Location::file(path.display().to_string());
        Some((|| {
            let bytes = std::fs::read(&path)
                .map_err(|e| PipeError::permanent("file", InputError::caused_by(at(), e)))?;
            let mut record = Record::new();
            record.insert("path", path.display().to_string());
            record.insert("size", bytes.len() as u64);
            if self.config.decode {
                let text = String::from_utf8(bytes.clone()).map_err(|e| {
                    PipeError::permanent(
                        "file",
                        InputError::new(at(), format!("not valid UTF-8 ({})", e.utf8_error())),
                    )
                })?;
                record.insert("contents", text);
            }
            record.set_raw(Some(bytes));
            Ok(record)
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_directory_and_a_glob_in_order() {
        let dir = std::env::temp_dir().join(format!("rivus-file-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.txt"), "bee").unwrap();
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        std::fs::write(dir.join("c.bin"), b"\xff").unwrap();
        let mut src = FileSource::new(FileSourceConfig {
            dir: Some(dir.clone()),
            glob: None,
            decode: true,
        });
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next()).collect();
        assert_eq!(rows.len(), 3, "the subdirectory is not a file");
        assert_eq!(rows[0].as_ref().unwrap().get("contents").unwrap(), "a");
        assert_eq!(rows[1].as_ref().unwrap().get("size").unwrap(), 3);
        assert!(rows[2].as_ref().unwrap_err().to_string().contains("c.bin"));

        let mut src = FileSource::new(FileSourceConfig {
            dir: None,
            glob: Some(format!("{}/*.txt", dir.display())),
            decode: false,
        });
        src.open().unwrap();
        let rows: Vec<_> = std::iter::from_fn(|| src.next())
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].raw(), Some(&b"bee"[..]));
        assert!(rows[1].get("contents").is_none());
    }
}

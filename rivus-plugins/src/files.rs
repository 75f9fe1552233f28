//! Several input files for one source: the `path` of `csv`, `jsonl` and `lines` may be a glob (`in/*.csv`) or a
//! directory, read one file after another **in the order of their paths** (sorted bytewise; a directory's
//! files only, not its subdirectories; hidden files included). Each file is its own input: a CSV file has its
//! own header, errors name the file and its line, and `file_field` puts the file's path in each record.
//!
//! A glob that matches no file, and a directory without files, are errors (a typo or a wrong directory would
//! otherwise read nothing, silently). A `checkpoint` follows one file, so it does not go with a glob or a directory. A file that cannot
//! be opened is one error item for the error policy (fail-fast stops there; skip or dead-letter goes on with
//! the next file).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use rivus_core::PipeError;
use rivus_core::value::Record;

use crate::compression::Compression;
use crate::fs::{Action, FileError};
use crate::text::TextFile;

/// Whether `path` is a glob pattern: it has `*`, `?` or `[`, and no file has that very name.
pub(crate) fn is_glob(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.contains(['*', '?', '['])) && !path.exists()
}

/// The files `path` names, sorted by path: a glob's matches, a directory's files, or `None` for a plain path
/// (read as one file, as before).
///
/// # Errors
///
/// A bad pattern, a glob that matches nothing, a directory that cannot be listed.
pub(crate) fn expand(plugin: &'static str, path: &Path) -> Result<Option<Vec<PathBuf>>, PipeError> {
    let mut files = Vec::new();
    if is_glob(path) {
        let pattern = path.to_string_lossy();
        let paths = glob::glob(&pattern).map_err(|e| {
            FileError::msg(path, Action::Open, format!("not a valid glob: {e}")).of(plugin)
        })?;
        for entry in paths {
            let entry = entry.map_err(|e| {
                FileError::msg(e.path(), Action::Read, e.error().to_string()).of(plugin)
            })?;
            if !entry.is_dir() {
                files.push(entry);
            }
        }
        if files.is_empty() {
            return Err(FileError::msg(path, Action::Open, "no file matches the glob").of(plugin));
        }
    } else if path.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|e| FileError::io(path, Action::Read, e).of(plugin))?;
        for entry in entries {
            let entry = entry.map_err(|e| FileError::io(path, Action::Read, e).of(plugin))?;
            if !entry.path().is_dir() {
                files.push(entry.path());
            }
        }
        if files.is_empty() {
            return Err(
                FileError::msg(path, Action::Open, "the directory has no files").of(plugin),
            );
        }
    } else {
        return Ok(None);
    }
    files.sort();
    Ok(Some(files))
}

/// The files of a source still to read, and how to make each one's [`TextFile`].
pub(crate) struct FileSet {
    plugin: &'static str,
    rest: VecDeque<PathBuf>,
    max: usize,
    compression: Compression,
    /// `file_field`: the field that gets each record's file path.
    field: Option<String>,
    /// A read error that ended a file early: reading stops there, and the source's close fails with it (as for
    /// one file).
    failed: Option<PipeError>,
}

impl FileSet {
    /// The files of `path`, for a source's `open`: with a glob or a directory, `text` becomes the first file's
    /// input (not opened yet) and the others wait; a plain path leaves `text` as it is.
    ///
    /// # Errors
    ///
    /// As [`expand`], and a `checkpoint` with several files.
    pub(crate) fn start(
        plugin: &'static str,
        path: &Path,
        checkpoint: Option<&Path>,
        compression: Compression,
        max: usize,
        field: Option<String>,
        text: &mut TextFile,
    ) -> Result<Self, PipeError> {
        let mut set = Self {
            plugin,
            rest: VecDeque::new(),
            max,
            compression,
            field,
            failed: None,
        };
        if let Some(files) = expand(plugin, path)? {
            if checkpoint.is_some() {
                return Err(FileError::msg(
                    path,
                    Action::Open,
                    crate::check::CHECKPOINT_OF_ONE_FILE,
                )
                .of(plugin));
            }
            set.rest = files.into();
            if let Some(first) = set.rest.pop_front() {
                *text = set.text_of(&first);
            }
        }
        Ok(set)
    }

    /// A set for a stream or one file: nothing after it.
    pub(crate) fn none() -> Self {
        Self {
            plugin: "",
            rest: VecDeque::new(),
            max: 0,
            compression: Compression::None,
            field: None,
            failed: None,
        }
    }

    fn text_of(&self, path: &Path) -> TextFile {
        TextFile::file(self.plugin, path, self.max, None).compressed(self.compression)
    }

    /// An input with nothing in it, named `path` (in the place of a file that could not be opened).
    fn empty(&self, path: &Path) -> TextFile {
        TextFile::stream(
            self.plugin,
            path.display().to_string(),
            Box::new(std::io::empty()),
            self.max,
        )
    }

    /// At the end of `text`'s file: closes it and puts the next file in its place (not opened yet).
    /// `false` when no file is left, or when a read error ended the file early: reading stops, and
    /// [`close`](Self::close) fails with that error, as it does for one file.
    pub(crate) fn advance(&mut self, text: &mut TextFile) -> bool {
        if self.rest.is_empty() {
            return false;
        }
        if let Err(e) = text.close() {
            self.failed = Some(e);
            self.rest.clear();
            return false;
        }
        match self.rest.pop_front() {
            Some(next) => {
                *text = self.text_of(&next);
                true
            }
            None => false,
        }
    }

    /// The source's close: closes `text`.
    ///
    /// # Errors
    ///
    /// The read error that ended a file early.
    pub(crate) fn close(&mut self, text: &mut TextFile) -> Result<(), PipeError> {
        text.close()?;
        self.failed.take().map_or(Ok(()), Err)
    }

    /// After `text`'s file failed to open: an empty input in its place, so that reading goes on with the
    /// next file.
    pub(crate) fn skip(&self, text: &mut TextFile) {
        let mut empty = self.empty(text.path());
        // An empty stream opens without fail.
        let _ = empty.open();
        *text = empty;
    }

    /// Adds the file's path to `record` when `file_field` is set.
    #[inline]
    pub(crate) fn tag(
        &self,
        item: Result<Record, PipeError>,
        text: &TextFile,
    ) -> Result<Record, PipeError> {
        match (&self.field, item) {
            (Some(field), Ok(mut record)) => {
                record.insert(field.as_str(), text.path().display().to_string());
                Ok(record)
            }
            (_, item) => item,
        }
    }
}

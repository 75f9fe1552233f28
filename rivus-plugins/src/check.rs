//! Checks of option values shared by the file plugins, each an [`OptionError`] that names the option, so that a
//! pipeline file's error points at its line. A plugin's `TryFrom<Config>` runs them when it is built, which is
//! also what `rivus validate` does: nothing is opened.

use std::path::Path;

use rivus_core::registry::OptionError;

use crate::compression::{Codec, Compression};

/// A path option that names something: not empty.
pub(crate) fn path(path: &Path, option: &str) -> Result<(), OptionError> {
    if path.as_os_str().is_empty() {
        return Err(OptionError::invalid(
            option,
            "an empty path names no file; give the file's path",
        ));
    }
    Ok(())
}

/// An optional path option: not empty when given.
pub(crate) fn optional_path(p: Option<&Path>, option: &str) -> Result<(), OptionError> {
    p.map_or(Ok(()), |p| path(p, option))
}

/// A delimiter or quote: one ASCII character, which is one byte of the file.
pub(crate) fn ascii(c: char, option: &str) -> Result<u8, OptionError> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        OptionError::invalid(
            option,
            format!(
                "must be one ASCII character (one byte), not {c:?} ({} bytes in UTF-8)",
                c.len_utf8()
            ),
        )
    })
}

/// A size bound: at least one byte.
pub(crate) fn positive(n: usize, option: &str) -> Result<(), OptionError> {
    if n == 0 {
        return Err(OptionError::invalid(option, "must be at least 1"));
    }
    Ok(())
}

/// Why a `checkpoint` cannot go with a glob: the reason the run gives (`FileSet::start`), found when the plugin
/// is built too.
pub(crate) const CHECKPOINT_OF_ONE_FILE: &str =
    "a `checkpoint` follows one file: leave it out to read a glob or a directory";

/// Why a `checkpoint` cannot go with a `codec` file, as the run says it when it opens the file.
pub(crate) fn checkpoint_uncompressed(codec: Codec) -> String {
    format!(
        "a `checkpoint` needs an uncompressed file: a {} stream cannot be positioned in (leave out `checkpoint`, \
         or decompress the file first)",
        codec.name()
    )
}

/// Why `append` cannot go with a `codec` file, as the run says it when it opens the file.
pub(crate) fn append_uncompressed(codec: Codec) -> String {
    format!(
        "`append` cannot go with {} compression: a torn compressed tail cannot be cut back to a whole record \
         (leave out `append`: the file is then written whole and renamed into place)",
        codec.name()
    )
}

/// A source's `checkpoint` with its `path` and `compression`: one file (not a glob) and not compressed. A
/// directory is found when it is opened (it may not exist yet).
pub(crate) fn checkpoint(
    path: &Path,
    checkpoint: Option<&Path>,
    compression: Compression,
) -> Result<(), OptionError> {
    if checkpoint.is_none() {
        return Ok(());
    }
    if crate::files::is_glob(path) {
        return Err(OptionError::invalid("checkpoint", CHECKPOINT_OF_ONE_FILE));
    }
    match compression.codec(path) {
        Codec::None => Ok(()),
        codec => Err(OptionError::invalid(
            "checkpoint",
            checkpoint_uncompressed(codec),
        )),
    }
}

/// A sink's `append` with its `path` and `compression`: an uncompressed file.
pub(crate) fn append(
    path: &Path,
    append: bool,
    compression: Compression,
) -> Result<(), OptionError> {
    match compression.codec(path) {
        codec if append && codec != Codec::None => {
            Err(OptionError::invalid("append", append_uncompressed(codec)))
        }
        _ => Ok(()),
    }
}

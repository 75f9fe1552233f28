//! Checks of option values shared by the file plugins, each an [`OptionError`] that names the option, so that a
//! pipeline file's error points at its line. A plugin's `TryFrom<Config>` runs them when it is built, which is
//! also what `rivus validate` does: nothing is opened.

use std::path::Path;

use rivus_core::registry::OptionError;

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

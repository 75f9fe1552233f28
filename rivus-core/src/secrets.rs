//! Secrets: the values that `${VAR}` brought into a pipeline file from the environment, masked as `***`
//! wherever Rivus shows text (errors, log lines, summaries, `validate`, dead letters' `error` and `file`).
//!
//! A value is known only as text once it is in an option, and a plugin may quote an option in any message
//! (a path it cannot open, a filter value it cannot compare, a script it cannot compile), so masking happens
//! where text leaves the program: [`redact`] replaces every registered value in a text, and [`Redacting`] does
//! it for everything written through a writer. [`PipelineFile::parse`](crate::spec::PipelineFile::parse)
//! registers each value it substitutes, except those of the variables that the file lists as public in
//! `[pipeline] public_env = ["DATA_DIR"]`.
//!
//! The set is the process's: the secrets of every file loaded, so that a log line written by any thread is
//! masked. A value shorter than [`MIN_LEN`] bytes is not registered, and one shorter than [`WORD_LEN`] is masked
//! only where it is a word of its own: masking every `1`, or the `skip` in `skipped`, would garble counts and
//! messages while hiding nothing that could not be guessed (list such variables as public to say so).
//!
//! ```
//! use rivus_core::secrets;
//!
//! secrets::register("hunter2-S3cr3t");
//! assert_eq!(secrets::redact("cannot open /x/hunter2-S3cr3t.csv"), "cannot open /x/***.csv");
//! assert_eq!(secrets::redact("nothing to hide"), "nothing to hide");
//! ```

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{PoisonError, RwLock};

/// What a secret is shown as.
pub const MASK: &str = "***";

/// The shortest value that is masked, in bytes.
pub const MIN_LEN: usize = 4;

/// Every registered secret, in the forms it can be shown in (as it is, and escaped as `{:?}` writes it), the
/// longest first so that a secret that holds another is masked whole.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Masks `value` from now on, wherever [`redact`] or [`Redacting`] sees it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let debug = format!("{value:?}");
    let escaped = debug
        .strip_prefix('"')
        .and_then(|d| d.strip_suffix('"'))
        .unwrap_or(&debug);
    let mut set = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for form in [value, escaped] {
        if !set.iter().any(|s| s == form) {
            set.push(form.to_owned());
        }
    }
    set.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by [`MASK`]; borrowed when there is none in it.
///
/// A secret of [`WORD_LEN`] bytes or more is masked wherever it is; a shorter one only where it stands as a
/// word of its own (not inside a longer word), so that a value such as `skip` masks `skip` but leaves
/// `skipped` readable.
pub fn redact(text: &str) -> Cow<'_, str> {
    let set = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = Cow::Borrowed(text);
    for secret in set.iter() {
        if let Some(masked) = mask(&out, secret) {
            out = Cow::Owned(masked);
        }
    }
    out
}

/// A secret this long or longer is masked also inside a longer word.
pub const WORD_LEN: usize = 8;

/// `text` with `secret` masked (see [`redact`]); `None` when nothing is masked.
fn mask(text: &str, secret: &str) -> Option<String> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    let mut rest = 0;
    let mut masked = false;
    for (at, _) in text.match_indices(secret) {
        if at < rest {
            continue;
        }
        let end = at + secret.len();
        let inside = word(text[..at].chars().next_back()) || word(text[end..].chars().next());
        if secret.len() < WORD_LEN && inside {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(MASK);
        rest = end;
        masked = true;
    }
    masked.then(|| {
        out.push_str(&text[rest..]);
        out
    })
}

/// `true` when `text` holds a registered secret: a caller whose messages may quote *parts* of the text (a
/// parser naming the token it stopped at) should then leave those details out, which [`redact`] cannot find.
pub fn contains(text: &str) -> bool {
    let set = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    set.iter().any(|s| text.contains(s.as_str()))
}

/// A writer that masks the secrets in what goes through it, for logs and any other output.
///
/// Each `write` is masked on its own: write whole lines (as loggers do) so that no secret is split between two
/// writes.
#[derive(Debug)]
pub struct Redacting<W>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact(text).as_bytes())?,
            Err(_) => self
                .0
                .write_all(redact(&String::from_utf8_lossy(buf)).as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_form_and_skips_short_values() {
        register("s3cr\"et-value");
        register("abc");
        assert_eq!(redact("a s3cr\"et-value b"), "a *** b");
        assert_eq!(
            redact(&format!("{:?}", "s3cr\"et-value")),
            "\"***\"",
            "the escaped form"
        );
        assert_eq!(redact("abc"), "abc", "too short to mask");
        register("skip");
        assert_eq!(
            redact("on_error = skip: skipped 2"),
            "on_error = ***: skipped 2"
        );
        assert_eq!(
            redact("xs3cr\"et-valuey"),
            "x***y",
            "a long secret inside a word"
        );
        let mut out = Redacting(Vec::new());
        out.write_all(b"log: s3cr\"et-value\n").unwrap();
        assert_eq!(out.0, b"log: ***\n");
    }
}

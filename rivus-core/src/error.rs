//! [`PipeError`], the one error type every pipe, source and sink returns.
//!
//! A `PipeError` says three things: *which* pipe failed (its name), *why* (the cause, kept as
//! [`std::error::Error::source`] so that the chain down to the root cause stays intact) and *whether trying again
//! may help* ([`ErrorKind::Transient`]) or not ([`ErrorKind::Permanent`]). Retry policies look at the kind; error
//! policies (skip, dead-letter, fail) look at the name and the cause.
//!
//! Errors from plugins convert into it with [`PipeError::permanent`], [`PipeError::transient`], the
//! [`ResultExt`] helpers, or `?` on the common error types that have a `From` impl (I/O, JSON, TOML). A
//! `PipeError` is never wrapped in another `PipeError`: building one from a cause that already is a `PipeError`
//! returns that error unchanged (apart from filling in a missing pipe name).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A boxed error that can cross threads: the cause a [`PipeError`] carries.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Whether an error is worth a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The same input may succeed later: a timeout, a dropped connection, a broker that is electing a leader.
    /// Retry policies retry these.
    Transient,
    /// The input itself is at fault or the pipe cannot work: a malformed record, a schema mismatch, a bug.
    /// Retrying cannot help; error policies skip, dead-letter or fail on these at once.
    Permanent,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        })
    }
}

/// The error of a pipe, source or sink.
///
/// Its `Display` names the pipe and the cause's own message, once; the cause stays available through
/// [`source()`](std::error::Error::source), so that error reporters that walk the chain do not print it twice.
///
/// # Examples
///
/// ```
/// use rivus_core::{ErrorKind, PipeError};
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer went away");
/// let err = PipeError::transient("kafka", io);
/// assert_eq!(err.pipe(), "kafka");
/// assert_eq!(err.kind(), ErrorKind::Transient);
/// assert_eq!(err.to_string(), "pipe `kafka` failed (transient): peer went away");
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PipeError {
    inner: Box<Inner>,
}

#[derive(Debug, thiserror::Error)]
#[error("pipe {}failed ({kind}): {message}", quoted_name(pipe))]
struct Inner {
    pipe: Cow<'static, str>,
    kind: ErrorKind,
    message: String,
    #[source]
    cause: Option<BoxError>,
}

/// "`name` " for a named pipe, nothing for an unnamed one.
fn quoted_name(pipe: &str) -> String {
    if pipe.is_empty() {
        String::new()
    } else {
        format!("`{pipe}` ")
    }
}

impl PipeError {
    fn build(pipe: Cow<'static, str>, kind: ErrorKind, cause: BoxError) -> Self {
        match cause.downcast::<PipeError>() {
            // Never wrap twice: the inner error already names its pipe and its kind.
            Ok(inner) => inner.or_pipe(pipe),
            Err(cause) => Self {
                inner: Box::new(Inner {
                    pipe,
                    kind,
                    message: cause.to_string(),
                    cause: Some(cause),
                }),
            },
        }
    }

    /// An error that retrying the same input cannot fix, caused by `cause`.
    ///
    /// `pipe` names the failing pipe; pass `""` to let the composition fill in the name of the pipe that
    /// returned it (see [`SyncPipe::name`](crate::SyncPipe::name)).
    pub fn permanent(pipe: impl Into<Cow<'static, str>>, cause: impl Into<BoxError>) -> Self {
        Self::build(pipe.into(), ErrorKind::Permanent, cause.into())
    }

    /// An error that may go away if the same input is tried again, caused by `cause`.
    pub fn transient(pipe: impl Into<Cow<'static, str>>, cause: impl Into<BoxError>) -> Self {
        Self::build(pipe.into(), ErrorKind::Transient, cause.into())
    }

    /// A permanent error with a message and no underlying cause, for the pipe that returns it.
    ///
    /// The pipe's name is filled in by the composition or runtime that calls the pipe.
    ///
    /// ```
    /// let err = rivus_core::PipeError::msg("amount is negative");
    /// assert_eq!(err.to_string(), "pipe failed (permanent): amount is negative");
    /// ```
    pub fn msg(message: impl Into<String>) -> Self {
        Self::with_message(
            Cow::Borrowed(""),
            ErrorKind::Permanent,
            message.into(),
            None,
        )
    }

    /// An error with an explicit kind, message and optional cause.
    pub fn with_message(
        pipe: impl Into<Cow<'static, str>>,
        kind: ErrorKind,
        message: impl Into<String>,
        cause: Option<BoxError>,
    ) -> Self {
        Self {
            inner: Box::new(Inner {
                pipe: pipe.into(),
                kind,
                message: message.into(),
                cause,
            }),
        }
    }

    /// The name of the pipe that failed; empty if nobody has named it yet.
    pub fn pipe(&self) -> &str {
        &self.inner.pipe
    }

    /// Whether a retry may help.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// `true` for [`ErrorKind::Transient`] errors.
    pub fn is_transient(&self) -> bool {
        self.inner.kind == ErrorKind::Transient
    }

    /// The message, without the pipe's name.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Sets the pipe's name if the error has none yet; an error keeps the name of the pipe that failed first.
    #[must_use]
    pub fn or_pipe(mut self, pipe: impl Into<Cow<'static, str>>) -> Self {
        if self.inner.pipe.is_empty() {
            self.inner.pipe = pipe.into();
        }
        self
    }

    /// Replaces the pipe's name.
    #[must_use]
    pub fn with_pipe(mut self, pipe: impl Into<Cow<'static, str>>) -> Self {
        self.inner.pipe = pipe.into();
        self
    }

    /// Puts `context` in front of the message ("the dead-letter sink: ...").
    #[must_use]
    pub(crate) fn in_context(mut self, context: &str) -> Self {
        self.inner.message = format!("{context}: {}", self.inner.message);
        self
    }

    /// Changes the kind, for example to mark an error permanent after the retries ran out.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }
}

/// I/O errors are transient when the operation may succeed if repeated (interrupted, timed out, a connection
/// reset or refused), permanent otherwise.
impl From<std::io::Error> for PipeError {
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::Interrupted
            | Io::TimedOut
            | Io::WouldBlock
            | Io::ConnectionReset
            | Io::ConnectionRefused
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::NotConnected => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        };
        Self::build(Cow::Borrowed(""), kind, Box::new(err))
    }
}

/// Malformed JSON is the input's fault: permanent.
impl From<serde_json::Error> for PipeError {
    fn from(err: serde_json::Error) -> Self {
        Self::permanent("", err)
    }
}

/// A task that panicked or was cancelled, seen through its `JoinHandle`: permanent, with the panic message.
impl From<tokio::task::JoinError> for PipeError {
    fn from(err: tokio::task::JoinError) -> Self {
        let message = if err.is_panic() {
            let payload = err.into_panic();
            format!("panicked: {}", panic_message(payload.as_ref()))
        } else {
            "task was cancelled".to_owned()
        };
        Self::with_message("", ErrorKind::Permanent, message, None)
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder for other payloads.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic payload that is not a string"
    }
}

/// Converts any `Result` into a `Result<_, PipeError>` naming the pipe and the kind.
///
/// ```
/// use rivus_core::{PipeError, ResultExt};
///
/// fn parse(s: &str) -> Result<u64, PipeError> {
///     s.parse::<u64>().permanent("parse")
/// }
/// let err = parse("x").unwrap_err();
/// assert_eq!(err.pipe(), "parse");
/// assert!(!err.is_transient());
/// ```
pub trait ResultExt<T> {
    /// Maps the error into a permanent [`PipeError`] of `pipe`.
    ///
    /// # Errors
    ///
    /// Returns the converted error when `self` is `Err`.
    fn permanent(self, pipe: &'static str) -> Result<T, PipeError>;
    /// Maps the error into a transient [`PipeError`] of `pipe`.
    ///
    /// # Errors
    ///
    /// Returns the converted error when `self` is `Err`.
    fn transient(self, pipe: &'static str) -> Result<T, PipeError>;
}

impl<T, E: Into<BoxError>> ResultExt<T> for Result<T, E> {
    fn permanent(self, pipe: &'static str) -> Result<T, PipeError> {
        self.map_err(|e| PipeError::permanent(pipe, e))
    }
    fn transient(self, pipe: &'static str) -> Result<T, PipeError> {
        self.map_err(|e| PipeError::transient(pipe, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("row 3 is bad")]
    struct RowError(#[source] std::num::ParseIntError);

    #[test]
    fn keeps_the_cause_chain() {
        let cause = RowError("x".parse::<u32>().unwrap_err());
        let err = PipeError::permanent("parse", cause);
        assert_eq!(
            err.to_string(),
            "pipe `parse` failed (permanent): row 3 is bad"
        );
        let first = err.source().unwrap();
        assert_eq!(first.to_string(), "row 3 is bad");
        let root = first.source().unwrap();
        assert!(root.is::<std::num::ParseIntError>());
    }

    #[test]
    fn never_wraps_twice() {
        let inner = PipeError::transient("kafka", std::io::Error::other("down"));
        let outer = PipeError::permanent("chain", inner);
        assert_eq!(outer.pipe(), "kafka");
        assert!(outer.is_transient());
        assert!(!outer.source().unwrap().is::<PipeError>());
    }

    #[test]
    fn io_error_kinds() {
        let e: PipeError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
        assert!(e.is_transient());
        let e: PipeError = std::io::Error::from(std::io::ErrorKind::InvalidData).into();
        assert!(!e.is_transient());
    }

    #[test]
    fn unnamed_error_gets_a_name_once() {
        let e = PipeError::msg("bad").or_pipe("first").or_pipe("second");
        assert_eq!(e.pipe(), "first");
    }
}

/// Where in the input a bad record was: file, line, column and field, as far as the plugin knows them.
///
/// Displays as `file:line:column` followed by `field \`name\``, leaving out what is unknown, so that editors and
/// terminals can jump to it.
///
/// ```
/// use rivus_core::error::Location;
///
/// let at = Location::file("orders.csv").line(12).column(3).field("amount");
/// assert_eq!(at.to_string(), "orders.csv:12:3, field `amount`");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The file (or other input: `<stdin>`, a topic-partition).
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<u64>,
    /// 1-based column: a character column for text formats, the field number for CSV.
    pub column: Option<u64>,
    /// The field's name.
    pub field: Option<String>,
}

impl Location {
    /// A location in `file`.
    pub fn file(file: impl Into<String>) -> Self {
        Self {
            file: Some(file.into()),
            ..Self::default()
        }
    }

    /// Sets the line.
    #[must_use]
    pub fn line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the column.
    #[must_use]
    pub fn column(mut self, column: u64) -> Self {
        self.column = Some(column);
        self
    }

    /// Sets the field.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            wrote = true;
        }
        if let Some(line) = self.line {
            write!(f, "{}{line}", if wrote { ":" } else { "line " })?;
            wrote = true;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        } else if let Some(column) = self.column {
            write!(f, "{}column {column}", if wrote { ", " } else { "" })?;
            wrote = true;
        }
        if let Some(field) = &self.field {
            write!(f, "{}field `{field}`", if wrote { ", " } else { "" })?;
        }
        Ok(())
    }
}

/// A bad record in the input, with its [`Location`] and, where the source has it, the raw input (the line or
/// row as read): what sources hand to the error policy, and what a dead letter keeps so that the record can be
/// fixed and replayed.
///
/// ```
/// use rivus_core::error::{InputError, Location};
///
/// let err = InputError::new(Location::file("in.jsonl").line(4).column(9), "expected `,` or `}`")
///     .with_raw(b"{\"a\": 1 \"b\": 2}".to_vec());
/// assert_eq!(err.to_string(), "in.jsonl:4:9: expected `,` or `}`");
/// assert_eq!(err.raw.as_ref().unwrap().bytes, b"{\"a\": 1 \"b\": 2}");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct InputError {
    /// Where.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// The bad input as read (without its line ending), when the source has it.
    pub raw: Option<RawInput>,
    /// The parser's own error, if any.
    #[source]
    pub cause: Option<BoxError>,
}

/// The raw bytes of a bad record, as an [`InputError`] keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInput {
    /// The bytes (the line or row without its line ending), at most the source's bound.
    pub bytes: Vec<u8>,
    /// `true` when the input was longer than the source's bound and `bytes` holds only its start.
    pub truncated: bool,
}

impl InputError {
    /// A bad record at `location`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            raw: None,
            cause: None,
        }
    }

    /// A bad record at `location`, caused by `cause` (whose message becomes the message).
    pub fn caused_by(location: Location, cause: impl Into<BoxError>) -> Self {
        let cause = cause.into();
        Self {
            location,
            message: cause.to_string(),
            raw: None,
            cause: Some(cause),
        }
    }

    /// Keeps `bytes`, the whole bad record as read.
    #[must_use]
    pub fn with_raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw = Some(RawInput {
            bytes: bytes.into(),
            truncated: false,
        });
        self
    }

    /// Keeps `bytes`, the start of a bad record that was longer than the source reads at once.
    #[must_use]
    pub fn with_truncated_raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw = Some(RawInput {
            bytes: bytes.into(),
            truncated: true,
        });
        self
    }

    /// The `InputError` that `error` carries, if any: `error` itself, or its cause (as in a [`PipeError`]
    /// made by [`PipeError::permanent`]).
    ///
    /// ```
    /// use rivus_core::PipeError;
    /// use rivus_core::error::{InputError, Location};
    ///
    /// let err = PipeError::permanent("csv", InputError::new(Location::file("a.csv").line(2), "bad"));
    /// assert_eq!(InputError::find(&err).unwrap().location.line, Some(2));
    /// ```
    pub fn find<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a InputError> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<InputError>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

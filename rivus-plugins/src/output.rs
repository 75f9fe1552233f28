//! Crash-safe output files for the file sinks (`csv`, `jsonl`, `lines`).
//!
//! Two ways to write, chosen by the sink's `append` option:
//!
//! - **Replace** (`append = false`, the default, for one-shot runs): the records go to a hidden partial file
//!   beside the output (`.NAME.XXXXXX.partial`, same directory, so on the same file system), which
//!   [`Output::close`] renames over the output in one step. A reader sees the old file or the whole new one, never
//!   a half-written one; a run that is killed leaves the old output untouched (and its partial file, which is
//!   never reused), so running it again gives the same file as an uninterrupted run. A run that stops on an
//!   error still closes its sinks: the output then holds what the run counted as written.
//! - **Append** (`append = true`, for resumable sources: Kafka, a file source with a `checkpoint`): the output is
//!   opened for appending and never truncated. A record that an earlier run was killed in the middle of (a torn
//!   last line, or CSV record) is cut off on open, and a write that fails is cut back to the last flush, so the
//!   file only ever ends with whole records — and holds every record whose position a source committed.
//!
//! Records are handed over whole ([`Output::write`] takes one record's bytes) and the write buffer only sends
//! whole records to the file, so no reader sees a torn line either way except after a crash in the middle of a
//! system call, which the next open in append mode repairs.
//!
//! [`Output::flush`] pushes the bytes to the operating system and, with `fsync`, to the disk
//! (`sync_data`): only then do the records count as written. Paths that are not regular files (`/dev/null`, a
//! FIFO, a terminal) are written in place in both modes.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rivus_core::PipeError;

use crate::compression::{Codec, Writer};
use crate::fs::{Action, FileError, create_parents};

/// The size of the write buffer.
const BUFFER: usize = 64 * 1024;

/// How the file's records end, for cutting a torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A record is a line: it ends at `\n`.
    Lines,
    /// A CSV record ends at a `\n` outside quotes (`quote` is the quote character; the file's quoting is the
    /// sink's own: quotes only around whole fields, doubled inside them).
    Csv {
        /// The quote character.
        quote: u8,
    },
}

/// An output file being written.
pub(crate) struct Output {
    plugin: &'static str,
    /// The path as configured: errors name it.
    path: PathBuf,
    /// Where the file ends up (the configured path with symbolic links resolved).
    target: PathBuf,
    writer: Option<Writer>,
    /// A compressed stream that a failed write broke: later writes fail.
    broken: bool,
    /// Replace mode: the partial file, renamed to `target` by `close` (deleted if dropped before).
    partial: Option<tempfile::TempPath>,
    fsync: bool,
    /// The file's length after the last successful flush.
    flushed: u64,
    /// Bytes handed to the writer since.
    pending: u64,
    /// The length of the existing file that append mode kept.
    kept: u64,
}

impl Output {
    /// Opens `path` for `plugin`: in append mode (cutting a torn tail by `framing`) or to replace it on
    /// [`close`](Self::close); `fsync` makes every flush and the close sync to the disk.
    ///
    /// # Errors
    ///
    /// A permanent error that names the path and what is wrong (a directory, a parent that is not a directory,
    /// no permission, ...).
    #[cfg(test)]
    pub(crate) fn open(
        plugin: &'static str,
        path: &Path,
        append: bool,
        fsync: bool,
        framing: Framing,
    ) -> Result<Self, PipeError> {
        Self::open_compressed(plugin, path, append, fsync, framing, Codec::None)
    }

    /// [`open`](Self::open), writing through the compressor `codec` (see [`crate::compression`]: not in append
    /// mode).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); `append` with a compressor.
    pub(crate) fn open_compressed(
        plugin: &'static str,
        path: &Path,
        append: bool,
        fsync: bool,
        framing: Framing,
        codec: Codec,
    ) -> Result<Self, PipeError> {
        if append && codec != Codec::None {
            return Err(FileError::msg(
                path,
                Action::Open,
                crate::check::append_uncompressed(codec),
            )
            .of(plugin));
        }
        let fail = |action, e| FileError::io(path, action, e).of(plugin);
        let existing = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(
                    FileError::msg(path, Action::Create, "is a directory, not a file").of(plugin),
                );
            }
            Ok(meta) => Some(meta),
            Err(_) => None,
        };
        let mut output = Self {
            plugin,
            path: path.to_path_buf(),
            target: path.to_path_buf(),
            writer: None,
            broken: false,
            partial: None,
            fsync,
            flushed: 0,
            pending: 0,
            kept: 0,
        };
        let file = match existing {
            Some(meta) if !meta.is_file() => {
                // A device, a FIFO, a terminal: written in place, never renamed over.
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| fail(Action::Open, e))?
            }
            _ if append => {
                create_parents(plugin, path)?;
                let mut file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create(true)
                    .open(path)
                    .map_err(|e| fail(Action::Open, e))?;
                output.kept =
                    cut_torn_tail(&mut file, framing, path).map_err(|e| fail(Action::Write, e))?;
                output.flushed = output.kept;
                file
            }
            existing => {
                create_parents(plugin, path)?;
                if existing.is_some() {
                    output.target =
                        std::fs::canonicalize(path).map_err(|e| fail(Action::Open, e))?;
                }
                let (file, partial) = partial_file(&output.target, existing.as_ref())
                    .map_err(|e| fail(Action::Create, e))?;
                output.partial = Some(partial);
                file
            }
        };
        let writer = Writer::new(codec, BufWriter::with_capacity(BUFFER, file))
            .map_err(|e| fail(Action::Create, e))?;
        output.writer = Some(writer);
        Ok(output)
    }

    /// The length of the existing file that append mode kept (0 in replace mode, or for a new file).
    pub(crate) fn kept_len(&self) -> u64 {
        self.kept
    }

    fn error(&self, action: Action, e: io::Error) -> PipeError {
        FileError::io(&self.path, action, e).of(self.plugin)
    }

    /// Hands over one whole record (or several): the bytes reach the file whole, at the latest on the next
    /// [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// A permanent error naming the path; what the failed write left in the file is cut back to the last flush.
    pub(crate) fn write(&mut self, record: &[u8]) -> Result<(), PipeError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.closed());
        };
        match writer.write_all(record) {
            Ok(()) => {
                self.pending += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(self.error(Action::Write, e))
            }
        }
    }

    /// Pushes what was written to the operating system, and to the disk with `fsync`.
    ///
    /// # Errors
    ///
    /// A permanent error naming the path (`/dev/full: cannot write: No space left on device`); the file is cut
    /// back to the last successful flush, so it ends with a whole record.
    pub(crate) fn flush(&mut self) -> Result<(), PipeError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        if let Err(e) = writer.flush() {
            self.cut_back();
            return Err(self.error(Action::Write, e));
        }
        if self.fsync && self.pending > 0 {
            writer
                .file()
                .sync_data()
                .map_err(|e| self.error(Action::Sync, e))?;
        }
        self.flushed += self.pending;
        self.pending = 0;
        Ok(())
    }

    /// Flushes, and in replace mode renames the finished file over the output.
    ///
    /// # Errors
    ///
    /// A failed flush, sync or rename, naming the path.
    pub(crate) fn close(&mut self) -> Result<(), PipeError> {
        if self.writer.is_none() {
            return Ok(());
        }
        self.flush()?;
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let buffered = writer
            .finish()
            .map_err(|e| FileError::io(&self.path, Action::Write, e).of(self.plugin))?;
        let file = buffered.into_inner().map_err(|e| {
            FileError::io(&self.path, Action::Write, e.into_error()).of(self.plugin)
        })?;
        if self.fsync {
            file.sync_all().map_err(|e| self.error(Action::Sync, e))?;
        }
        drop(file);
        if let Some(partial) = self.partial.take() {
            partial
                .persist(&self.target)
                .map_err(|e| self.error(Action::Rename, e.error))?;
            if self.fsync {
                let dir = self
                    .target
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| self.error(Action::Sync, e))?;
            }
        }
        Ok(())
    }

    fn closed(&self) -> PipeError {
        let why = if self.broken {
            "a failed write broke the compressed stream; nothing more is written to it"
        } else {
            "the sink is not open"
        };
        FileError::msg(&self.path, Action::Write, why).of(self.plugin)
    }

    /// After a failed write: drops what is buffered and cuts the file back to the last flush (best effort: the
    /// error that got us here is the one reported).
    fn cut_back(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let Some(writer) = writer.into_plain() else {
            // A compressed stream cannot be cut back to a whole record: stop writing it.
            self.broken = true;
            return;
        };
        let (mut file, _unwritten) = writer.into_parts();
        let _ = file.set_len(self.flushed);
        let _ = file.seek(SeekFrom::Start(self.flushed));
        self.pending = 0;
        self.writer = Some(Writer::Plain(BufWriter::with_capacity(BUFFER, file)));
    }
}

/// Where a file sink writes: an [`Output`] file, or a stream given up front (stdout).
pub(crate) enum Destination {
    /// A file.
    File(Output),
    /// A stream, named in errors (`<stdout>`).
    Stream {
        /// The name errors use.
        name: &'static str,
        /// The plugin errors name.
        plugin: &'static str,
        /// The stream.
        writer: Box<dyn Write + Send>,
    },
}

impl Destination {
    fn stream_error(name: &str, plugin: &'static str, action: Action, e: io::Error) -> PipeError {
        FileError::io(Path::new(name), action, e).of(plugin)
    }

    /// Hands over one whole record.
    ///
    /// # Errors
    ///
    /// See [`Output::write`].
    pub(crate) fn write(&mut self, record: &[u8]) -> Result<(), PipeError> {
        match self {
            Self::File(out) => out.write(record),
            Self::Stream {
                name,
                plugin,
                writer,
            } => writer
                .write_all(record)
                .map_err(|e| Self::stream_error(name, plugin, Action::Write, e)),
        }
    }

    /// Pushes what was written to the operating system.
    ///
    /// # Errors
    ///
    /// See [`Output::flush`].
    pub(crate) fn flush(&mut self) -> Result<(), PipeError> {
        match self {
            Self::File(out) => out.flush(),
            Self::Stream {
                name,
                plugin,
                writer,
            } => writer
                .flush()
                .map_err(|e| Self::stream_error(name, plugin, Action::Write, e)),
        }
    }

    /// Flushes; a file in replace mode is renamed into place.
    ///
    /// # Errors
    ///
    /// See [`Output::close`].
    pub(crate) fn close(&mut self) -> Result<(), PipeError> {
        match self {
            Self::File(out) => out.close(),
            Self::Stream { .. } => self.flush(),
        }
    }
}

/// A new partial file beside `target`, with the permissions of the file it replaces (or the usual ones for a new
/// file: `0o666` less the umask).
fn partial_file(
    target: &Path,
    existing: Option<&std::fs::Metadata>,
) -> io::Result<(File, tempfile::TempPath)> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    let prefix = format!(".{name}.");
    warn_of_stale_partials(dir, &prefix);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let partial = builder.tempfile_in(dir)?;
    if let Some(meta) = existing {
        partial.as_file().set_permissions(meta.permissions())?;
    }
    Ok(partial.into_parts())
}

/// Says when partial files of earlier runs (killed before they could rename) lie beside the output: they are
/// never read or reused, and can be deleted once no other run writes this output.
fn warn_of_stale_partials(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let stale: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".partial"))
        .collect();
    if !stale.is_empty() {
        tracing::warn!(
            "{}: {} partial file(s) of interrupted runs lie beside the output ({}); they are not used and can be \
             deleted",
            dir.display(),
            stale.len(),
            stale.join(", ")
        );
    }
}

/// Cuts what follows the last whole record of `file` (left by a run that was killed mid-write); returns the
/// length kept.
fn cut_torn_tail(file: &mut File, framing: Framing, path: &Path) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let keep = match framing {
        Framing::Lines => last_line_end(file, len)?,
        Framing::Csv { quote } => last_csv_record_end(file, quote)?,
    };
    if keep < len {
        file.set_len(keep)?;
        tracing::warn!(
            "{}: cut {} bytes after the last whole record, left by an interrupted run",
            path.display(),
            len - keep
        );
    }
    Ok(keep)
}

/// The offset just after the last `\n` of `file` (0 when it has none), reading backwards from its end.
fn last_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    let mut buf = vec![0; BUFFER];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(BUFFER as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The offset just after the last `\n` of `file` that is outside quotes, reading it from the start.
fn last_csv_record_end(file: &mut File, quote: u8) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0; BUFFER];
    let (mut offset, mut keep, mut quoted) = (0u64, 0u64, false);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(keep),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for i in memchr::memchr2_iter(quote, b'\n', &buf[..n]) {
            if buf[i] == quote {
                quoted = !quoted;
            } else if !quoted {
                keep = offset + i as u64 + 1;
            }
        }
        offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rivus-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replace_mode_shows_the_old_file_until_close() {
        let dir = dir("replace");
        let path = dir.join("out.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        let mut out = Output::open("jsonl", &path, false, true, Framing::Lines).unwrap();
        out.write(b"new 1\n").unwrap();
        out.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(names(&dir).len(), 2, "{:?}", names(&dir));
        out.write(b"new 2\n").unwrap();
        out.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new 1\nnew 2\n");
        assert_eq!(names(&dir), ["out.jsonl"]);

        // Dropped without close (an aborted run): the output stays, the partial file goes.
        let mut out = Output::open("jsonl", &path, false, false, Framing::Lines).unwrap();
        out.write(b"lost\n").unwrap();
        out.flush().unwrap();
        drop(out);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new 1\nnew 2\n");
        assert_eq!(names(&dir), ["out.jsonl"]);
    }

    #[test]
    fn append_mode_cuts_a_torn_tail_and_keeps_the_rest() {
        let dir = dir("append");
        let path = dir.join("out.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let mut out = Output::open("jsonl", &path, true, false, Framing::Lines).unwrap();
        assert_eq!(out.kept_len(), 16);
        out.write(b"{\"a\":3}\n").unwrap();
        out.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );

        let path = dir.join("out.csv");
        std::fs::write(&path, "id,text\n1,\"two\nlines\"\n2,\"torn\n").unwrap();
        let out = Output::open("csv", &path, true, false, Framing::Csv { quote: b'"' }).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,text\n1,\"two\nlines\"\n"
        );
        assert_eq!(out.kept_len(), 22);

        let path = dir.join("none.txt");
        std::fs::write(&path, "no line break").unwrap();
        let out = Output::open("lines", &path, true, false, Framing::Lines).unwrap();
        assert_eq!(out.kept_len(), 0);
    }

    #[test]
    fn a_full_disk_is_named_and_cut_back() {
        let mut out = Output::open(
            "jsonl",
            Path::new("/dev/full"),
            false,
            false,
            Framing::Lines,
        )
        .unwrap();
        out.write(b"x\n").unwrap();
        let err = out.flush().unwrap_err().to_string();
        assert!(
            err.ends_with("/dev/full: cannot write: No space left on device (os error 28)"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_or_a_file_as_parent_is_an_error() {
        let dir = dir("errors");
        let err = Output::open("jsonl", &dir, false, false, Framing::Lines)
            .err()
            .unwrap()
            .to_string();
        assert!(err.ends_with("is a directory, not a file"), "{err}");
        std::fs::write(dir.join("people.csv"), "a\n").unwrap();
        let path = dir.join("people.csv/out.jsonl");
        for append in [false, true] {
            let err = Output::open("jsonl", &path, append, false, Framing::Lines)
                .err()
                .unwrap()
                .to_string();
            assert!(err.ends_with("people.csv is not a directory"), "{err}");
        }
    }
}

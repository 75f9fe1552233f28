//! What the line-based sources (`csv`, `jsonl`, `lines`, `stdin`) share: opening a file or a stream into a
//! bounded [`Input`], located errors that keep the raw input, lines within the bound, and checkpoints.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rivus_core::PipeError;
use rivus_core::ack::Position;
use rivus_core::error::{InputError, Location};

use crate::checkpoint::{Checkpoint, Resume};
use crate::compression::{Codec, Compression};
use crate::fs::{Action, FileError, open_input};
use crate::input::{Input, Line, Reader};

/// A text input of a source: a file opened by [`open`](Self::open), or a stream given up front.
pub(crate) struct TextFile {
    plugin: &'static str,
    path: PathBuf,
    /// Locates errors by the name they use: the path, or `<stdin>`.
    locator: Locator,
    max: usize,
    stream: Option<Box<dyn Read + Send>>,
    input: Option<Input>,
    /// `open` succeeded (reading before it is an error, not an empty input).
    opened: bool,
    /// How the file is compressed.
    compression: Compression,
    /// The state file of `checkpoint = "…"`.
    checkpoint_path: Option<PathBuf>,
    checkpoint: Option<Checkpoint>,
    /// Where the checkpoint says to resume, until [`resume`](Self::resume) goes there.
    resume: Option<Resume>,
    /// With a checkpoint: the place after each record handed out and not committed yet, in order.
    pending: VecDeque<Resume>,
    /// The place after the last record handed out.
    last: Resume,
    /// The read error that ended the input early, for `close`.
    read_failure: Option<PipeError>,
}

/// Locates the errors of one input: its plugin and the name errors use. Cheap to clone, for the threads that
/// type a source's records.
#[derive(Debug, Clone)]
pub(crate) struct Locator {
    plugin: &'static str,
    name: Arc<str>,
}

impl Locator {
    /// `file:line`.
    pub(crate) fn at(&self, line: u64) -> Location {
        Location::file(self.name.to_string()).line(line)
    }

    /// A bad record at `at`: a permanent error that keeps `raw`.
    pub(crate) fn bad(&self, at: Location, message: impl Into<String>, raw: &[u8]) -> PipeError {
        PipeError::permanent(
            self.plugin,
            InputError::new(at, message).with_raw(raw.to_vec()),
        )
    }
}

/// A line of the input that is within the bound: `TextFile::bytes(&line)` are its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextLine {
    /// Its line number.
    pub(crate) number: u64,
    start: usize,
    end: usize,
}

impl TextFile {
    /// The file at `path`, with records bounded by `max` bytes, resumable with the state file `checkpoint`.
    pub(crate) fn file(
        plugin: &'static str,
        path: &Path,
        max: usize,
        checkpoint: Option<&Path>,
    ) -> Self {
        let mut text = Self::new(plugin, path.to_path_buf(), path.display().to_string(), max);
        text.checkpoint_path = checkpoint.map(Path::to_path_buf);
        text
    }

    /// The stream `reader`, named `name` in errors.
    pub(crate) fn stream(
        plugin: &'static str,
        name: String,
        reader: Box<dyn Read + Send>,
        max: usize,
    ) -> Self {
        let mut text = Self::new(plugin, PathBuf::from(&name), name, max);
        text.stream = Some(reader);
        text
    }

    fn new(plugin: &'static str, path: PathBuf, name: String, max: usize) -> Self {
        Self {
            plugin,
            path,
            locator: Locator {
                plugin,
                name: name.into(),
            },
            max,
            stream: None,
            input: None,
            opened: false,
            compression: Compression::None,
            checkpoint_path: None,
            checkpoint: None,
            resume: None,
            pending: VecDeque::new(),
            last: Resume { offset: 0, line: 1 },
            read_failure: None,
        }
    }

    /// This file, compressed as `compression` says (see [`crate::compression`]).
    pub(crate) fn compressed(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The file's path (for a stream, its name).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file (or takes the stream) at its start and skips a UTF-8 byte order mark. With a checkpoint,
    /// opens the state file too; [`resume`](Self::resume) then goes to where it says (after a header, for CSV).
    ///
    /// # Errors
    ///
    /// The file cannot be opened or read, or the checkpoint does not fit it: a permanent error naming the path
    /// and saying why.
    pub(crate) fn open(&mut self) -> Result<(), PipeError> {
        let reader = match self.stream.take() {
            Some(stream) => Reader::Stream(stream),
            None => {
                if self.checkpoint_path.is_some()
                    && std::fs::metadata(&self.path).is_ok_and(|m| !m.is_file() && !m.is_dir())
                {
                    // Checked before opening: opening a FIFO would wait for its writer.
                    return Err(FileError::msg(
                        &self.path,
                        Action::Open,
                        "a `checkpoint` needs a regular file to resume in (not a FIFO or a device)",
                    )
                    .of(self.plugin));
                }
                let codec = self.compression.codec(&self.path);
                if codec != Codec::None && self.checkpoint_path.is_some() {
                    return Err(FileError::msg(
                        &self.path,
                        Action::Open,
                        crate::check::checkpoint_uncompressed(codec),
                    )
                    .of(self.plugin));
                }
                let file = open_input(self.plugin, &self.path)?;
                if codec != Codec::None {
                    let stream = crate::compression::reader(codec, file)
                        .map_err(|e| FileError::io(&self.path, Action::Open, e).of(self.plugin))?;
                    self.input = Some(Input::new(Reader::Stream(stream), 0, 1, self.max));
                    return self.started();
                }
                if let Some(state) = &self.checkpoint_path {
                    let (checkpoint, resume) =
                        Checkpoint::open(self.plugin, state, &file, &self.path)?;
                    self.checkpoint = Some(checkpoint);
                    self.resume = resume;
                }
                Reader::File(file)
            }
        };
        self.input = Some(Input::new(reader, 0, 1, self.max));
        self.started()
    }

    /// Skips a byte order mark at the start of the input just opened.
    fn started(&mut self) -> Result<(), PipeError> {
        let Some(input) = self.input.as_mut() else {
            return Ok(());
        };
        if let Err(e) = input.skip_bom() {
            return Err(self.read_error(1, &e));
        }
        self.last = Resume {
            offset: input.offset(),
            line: input.line(),
        };
        self.opened = true;
        Ok(())
    }

    /// Goes to where the checkpoint says to resume, if that is further on than what was read.
    ///
    /// # Errors
    ///
    /// The file cannot be positioned.
    pub(crate) fn resume(&mut self) -> Result<(), PipeError> {
        let (Some(at), Some(input)) = (self.resume.take(), self.input.as_mut()) else {
            return Ok(());
        };
        if at.offset > input.offset() {
            input
                .seek(at.offset, at.line)
                .map_err(|e| FileError::io(&self.path, Action::Read, e).of(self.plugin))?;
            self.last = at;
        }
        Ok(())
    }

    /// Notes that a record (or an error item) was handed out: with a checkpoint, its place becomes a position.
    pub(crate) fn mark(&mut self) {
        self.mark_at(self.place());
    }

    /// Where reading is: after the last record read (before [`mark`](Self::mark) hands it out, for a source
    /// that reads ahead of what it hands out).
    pub(crate) fn place(&self) -> Resume {
        self.input.as_ref().map_or(self.last, |input| Resume {
            offset: input.offset(),
            line: input.line(),
        })
    }

    /// Notes that the record read at `place` (see [`place`](Self::place)) was handed out: with a checkpoint,
    /// `place` becomes its position.
    pub(crate) fn mark_at(&mut self, place: Resume) {
        if self.checkpoint.is_none() {
            return;
        }
        self.last = place;
        self.pending.push_back(place);
    }

    /// The position of the record handed out last: the byte offset after it. `None` without a checkpoint.
    pub(crate) fn position(&self) -> Option<Position> {
        self.checkpoint
            .as_ref()
            .map(|_| Position::from(self.last.offset))
    }

    /// Everything up to the position `upto` reached an end: writes the checkpoint.
    ///
    /// # Errors
    ///
    /// The state file cannot be written.
    pub(crate) fn commit(&mut self, upto: &Position) -> Result<(), PipeError> {
        let (Some(checkpoint), Some(upto)) = (self.checkpoint.as_mut(), upto.get::<u64>()) else {
            return Ok(());
        };
        let mut at = None;
        while self.pending.front().is_some_and(|p| p.offset <= upto) {
            at = self.pending.pop_front();
        }
        match at {
            Some(at) => checkpoint.commit(at),
            None => Ok(()),
        }
    }

    /// The open input: `None` after the end and after `close`, an error before `open`.
    pub(crate) fn input(&mut self) -> Option<Result<&mut Input, PipeError>> {
        if !self.opened {
            self.opened = true; // one error, then the end
            return Some(Err(
                PipeError::msg("read before open").with_pipe(self.plugin)
            ));
        }
        self.input.as_mut().map(Ok)
    }

    /// Ends reading at the end of the input.
    pub(crate) fn end(&mut self) {
        self.input = None;
    }

    /// Ends reading; returns the error that ended it early, if the input could not be read to its end.
    ///
    /// # Errors
    ///
    /// The read error that ended the input (see [`fail_read`](Self::fail_read)).
    pub(crate) fn close(&mut self) -> Result<(), PipeError> {
        self.input = None;
        self.read_failure.take().map_or(Ok(()), Err)
    }

    /// `file:line`.
    pub(crate) fn at(&self, line: u64) -> Location {
        self.locator.at(line)
    }

    /// A bad record at `at`: a permanent error that keeps `raw`.
    pub(crate) fn bad(&self, at: Location, message: impl Into<String>, raw: &[u8]) -> PipeError {
        self.locator.bad(at, message, raw)
    }

    /// What locates this input's errors, for another thread.
    pub(crate) fn locator(&self) -> Locator {
        self.locator.clone()
    }

    /// Ends reading with `error`, which [`close`](Self::close) returns (the first one, as
    /// [`fail_read`](Self::fail_read)).
    pub(crate) fn fail(&mut self, error: PipeError) {
        self.input = None;
        self.read_failure.get_or_insert(error);
    }

    /// The error of a record longer than the bound, which keeps its first bytes.
    pub(crate) fn too_long(&self, line: u64, what: &str, head: Vec<u8>) -> PipeError {
        let message = format!(
            "{what} is longer than max_record_bytes ({} bytes); reading goes on with the next line",
            self.max
        );
        PipeError::permanent(
            self.plugin,
            InputError::new(self.at(line), message).with_truncated_raw(head),
        )
    }

    /// The error of an input that cannot be read at `line`.
    fn read_error(&self, line: u64, e: &std::io::Error) -> PipeError {
        PipeError::permanent(
            self.plugin,
            InputError::new(self.at(line), format!("cannot read: {e}")),
        )
    }

    /// The input cannot be read further at `line`: it ends here, and [`close`](Self::close) returns the error,
    /// which fails the run. A read error is no bad record for the error policy to skip: what follows it is lost.
    pub(crate) fn fail_read(&mut self, line: u64, e: &std::io::Error) {
        let error = self.read_error(line, e);
        self.fail(error);
    }

    /// The next line within the bound; a longer one is an error that keeps its head, and reading goes on after
    /// it. `None` at the end.
    pub(crate) fn next_line(&mut self) -> Option<Result<TextLine, PipeError>> {
        let input = match self.input()? {
            Ok(input) => input,
            Err(e) => return Some(Err(e)),
        };
        let line = input.line();
        match input.next_line() {
            Ok(Some(Line::Whole { number, start, end })) => {
                Some(Ok(TextLine { number, start, end }))
            }
            Ok(Some(Line::TooLong { number, head })) => {
                Some(Err(self.too_long(number, "the line", head)))
            }
            Ok(None) => {
                self.input = None;
                None
            }
            Err(e) => {
                self.fail_read(line, &e);
                None
            }
        }
    }

    /// The bytes of `line` (valid until the next read).
    pub(crate) fn bytes(&self, line: &TextLine) -> &[u8] {
        self.bytes_at(line.start, line.end)
    }

    /// The bytes at `start..end` of the input's buffer, as the last read left them.
    pub(crate) fn bytes_at(&self, start: usize, end: usize) -> &[u8] {
        self.input
            .as_ref()
            .map_or(&[], |input| input.bytes(start, end))
    }
}

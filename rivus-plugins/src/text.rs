//! What the line-based sources (`csv`, `jsonl`, `lines`, `stdin`) share: opening a file or a stream into a
//! bounded [`Input`], located errors that keep the raw input, and lines within the bound.

use std::io::Read;
use std::path::{Path, PathBuf};

use rivus_core::PipeError;
use rivus_core::error::{InputError, Location};

use crate::fs::open_input;
use crate::input::{Input, Line};

/// A text input of a source: a file opened by [`open`](Self::open), or a stream given up front.
pub(crate) struct TextFile {
    plugin: &'static str,
    path: PathBuf,
    /// The name errors use: the path, or `<stdin>`.
    name: String,
    max: usize,
    stream: Option<Box<dyn Read + Send>>,
    input: Option<Input>,
    /// `open` succeeded (reading before it is an error, not an empty input).
    opened: bool,
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
    /// The file at `path`, with records bounded by `max` bytes.
    pub(crate) fn file(plugin: &'static str, path: &Path, max: usize) -> Self {
        Self {
            plugin,
            path: path.to_path_buf(),
            name: path.display().to_string(),
            max,
            stream: None,
            input: None,
            opened: false,
        }
    }

    /// The stream `reader`, named `name` in errors.
    pub(crate) fn stream(
        plugin: &'static str,
        name: String,
        reader: Box<dyn Read + Send>,
        max: usize,
    ) -> Self {
        Self {
            plugin,
            path: PathBuf::from(&name),
            name,
            max,
            stream: Some(reader),
            input: None,
            opened: false,
        }
    }

    /// The file's path (for a stream, its name).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file (or takes the stream) and skips a UTF-8 byte order mark.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or read: a permanent error naming the path and saying why.
    pub(crate) fn open(&mut self) -> Result<(), PipeError> {
        let reader: Box<dyn Read + Send> = match self.stream.take() {
            Some(stream) => stream,
            None => Box::new(open_input(self.plugin, &self.path)?),
        };
        let mut input = Input::new(reader, 0, 1, self.max);
        input.skip_bom().map_err(|e| self.read_error(1, e))?;
        self.input = Some(input);
        self.opened = true;
        Ok(())
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

    /// Ends reading.
    pub(crate) fn close(&mut self) {
        self.input = None;
    }

    /// `file:line`.
    pub(crate) fn at(&self, line: u64) -> Location {
        Location::file(self.name.clone()).line(line)
    }

    /// A bad record at `at`: a permanent error that keeps `raw`.
    pub(crate) fn bad(&self, at: Location, message: impl Into<String>, raw: &[u8]) -> PipeError {
        PipeError::permanent(
            self.plugin,
            InputError::new(at, message).with_raw(raw.to_vec()),
        )
    }

    /// The error of a record longer than the bound, which keeps its first bytes.
    pub(crate) fn too_long(&self, line: u64, what: &str, head: Vec<u8>) -> PipeError {
        let message = format!(
            "{what} is longer than max_record_bytes ({} bytes); it was skipped, and reading goes on with the next \
             line",
            self.max
        );
        PipeError::permanent(
            self.plugin,
            InputError::new(self.at(line), message).with_truncated_raw(head),
        )
    }

    /// The input cannot be read further at `line`: closes it and says why.
    pub(crate) fn read_error(&mut self, line: u64, e: std::io::Error) -> PipeError {
        self.input = None;
        PipeError::permanent(
            self.plugin,
            InputError::new(self.at(line), format!("cannot read: {e}")),
        )
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
            Err(e) => Some(Err(self.read_error(line, e))),
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

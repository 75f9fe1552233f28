//! Reading text input in bounded pieces, for the line-based sources (`csv`, `jsonl`, `lines`, `stdin`).
//!
//! [`Input`] is a read buffer that knows the byte offset and the line number of what it holds, and never grows
//! past the record bound plus one read: a line (or a CSV record) longer than the bound is cut at the bound and
//! the rest of it is read and dropped, so a file without line breaks, or a quote that never closes, cannot fill
//! the memory. Offsets and line numbers are what checkpoints store and errors name.

use std::io::{self, Read, Seek, SeekFrom};

/// The size of one read.
const CHUNK: usize = 64 * 1024;

/// The default of `max_record_bytes` of the line-based sources: 1 MiB.
pub(crate) const fn default_max_record_bytes() -> usize {
    1 << 20
}

/// What an [`Input`] reads: a file, which can also be positioned, or a stream, which cannot.
pub(crate) enum Reader {
    /// A regular file (or a device or FIFO opened as a file).
    File(std::fs::File),
    /// A stream: stdin, a socket, bytes in memory.
    Stream(Box<dyn Read + Send>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.read(buf),
            Self::Stream(s) => s.read(buf),
        }
    }
}

/// A bounded read buffer over a file or a stream.
pub(crate) struct Input {
    reader: Reader,
    buf: Vec<u8>,
    /// `buf[pos..end]` is read but not yet handed out.
    pos: usize,
    end: usize,
    /// The reader returned 0.
    eof: bool,
    /// The byte offset in the input of `buf[0]`.
    base: u64,
    /// The line number (1-based) of `buf[pos]`.
    line: u64,
    /// The record bound: the most bytes one line or record may take.
    max: usize,
}

/// One line from [`Input::next_line`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line within the bound: `Input::bytes(start, end)`, without its `\n` or `\r\n`.
    Whole {
        /// Its line number.
        number: u64,
        /// Where it starts in the buffer.
        start: usize,
        /// Where it ends in the buffer (before the line ending).
        end: usize,
    },
    /// A line longer than the bound; it has been read to its end and dropped, but for its first bytes.
    TooLong {
        /// Its line number.
        number: u64,
        /// Its first `max` bytes.
        head: Vec<u8>,
    },
}

impl Input {
    /// Reads `reader` from byte `offset` and line `line` on (what the reader gives first is at that place),
    /// with lines and records bounded by `max` bytes.
    pub(crate) fn new(reader: Reader, offset: u64, line: u64, max: usize) -> Self {
        Self {
            reader,
            buf: vec![0; CHUNK.min(max.saturating_add(1)).max(1024)],
            pos: 0,
            end: 0,
            eof: false,
            base: offset,
            line,
            max: max.max(1),
        }
    }

    /// Goes to byte `offset` of a file, which is on line `line`, dropping what is buffered.
    ///
    /// # Errors
    ///
    /// The seek's error, or `Unsupported` for a stream.
    pub(crate) fn seek(&mut self, offset: u64, line: u64) -> io::Result<()> {
        match &mut self.reader {
            Reader::File(f) => f.seek(SeekFrom::Start(offset))?,
            Reader::Stream(_) => return Err(io::ErrorKind::Unsupported.into()),
        };
        self.pos = 0;
        self.end = 0;
        self.eof = false;
        self.base = offset;
        self.line = line;
        Ok(())
    }

    /// The byte offset of the next byte to hand out: where reading resumes after what was handed out.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The line number of the next byte to hand out.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// The record bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The bytes read and not handed out yet (empty: call [`fill`](Self::fill)).
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Bytes of the buffer, as [`Line::Whole`] points to them.
    pub(crate) fn bytes(&self, start: usize, end: usize) -> &[u8] {
        &self.buf[start..end]
    }

    /// `true` once the reader is exhausted (what [`data`](Self::data) holds is all that is left).
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Hands out `n` bytes of [`data`](Self::data), which hold `lines` line breaks.
    pub(crate) fn consume(&mut self, n: usize, lines: u64) {
        debug_assert!(n <= self.end - self.pos);
        self.pos += n;
        self.line += lines;
    }

    /// [`consume`](Self::consume)s `n` bytes and returns where they are in the buffer, for
    /// [`bytes`](Self::bytes) (valid until the next [`fill`](Self::fill)).
    pub(crate) fn take(&mut self, n: usize, lines: u64) -> (usize, usize) {
        let start = self.pos;
        self.consume(n, lines);
        (start, start + n)
    }

    /// Reads more, keeping what [`data`](Self::data) holds; returns how many bytes came (0 at the end).
    ///
    /// The buffer grows only as far as the bound needs: callers stop asking once `data` holds more than
    /// [`max`](Self::max) bytes.
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.base += self.pos as u64;
            self.pos = 0;
        }
        if self.buf.len() - self.end < CHUNK.min(self.buf.len() / 2).max(1) {
            let want = (self.buf.len() * 2).min(self.max.saturating_add(2 * CHUNK));
            let want = want.max(self.end + 1024);
            self.buf.resize(want, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Skips a UTF-8 byte order mark at the current place (call it at the start of the input).
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub(crate) fn skip_bom(&mut self) -> io::Result<()> {
        while self.data().len() < 3 && self.fill()? > 0 {}
        if self.data().starts_with(b"\xef\xbb\xbf") {
            self.consume(3, 0);
        }
        Ok(())
    }

    /// The next line, or `None` at the end of the input. A last line without a line break is a line.
    ///
    /// # Errors
    ///
    /// The reader's error; the input cannot be read further.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut scanned = 0;
        loop {
            let data = self.data();
            if let Some(i) = memchr::memchr(b'\n', &data[scanned..]) {
                let newline = self.pos + scanned + i;
                return Ok(Some(self.take_line(newline, newline + 1)));
            }
            scanned = data.len();
            if scanned > self.max {
                return self.skip_long_line().map(Some);
            }
            if self.eof {
                if scanned == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.take_line(self.end, self.end)));
            }
            self.fill()?;
        }
    }

    /// Hands out the line from `pos` to `stop` (its line break excluded), resuming at `next`.
    fn take_line(&mut self, stop: usize, next: usize) -> Line {
        let start = self.pos;
        let number = self.line;
        self.pos = next;
        self.line += 1;
        if stop - start > self.max {
            return Line::TooLong {
                number,
                head: self.buf[start..start + self.max].to_vec(),
            };
        }
        let end = if stop > start && self.buf[stop - 1] == b'\r' {
            stop - 1
        } else {
            stop
        };
        Line::Whole { number, start, end }
    }

    /// The line at `pos` is longer than the bound: keeps its head and reads on to the line's end.
    fn skip_long_line(&mut self) -> io::Result<Line> {
        let number = self.line;
        let head = self.data()[..self.max].to_vec();
        self.skip_to_next_line()?;
        Ok(Line::TooLong { number, head })
    }

    /// Drops bytes up to and including the next `\n` (or to the end of the input), without keeping them.
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub(crate) fn skip_to_next_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', self.data()) {
                self.consume(i + 1, 1);
                return Ok(());
            }
            let n = self.data().len();
            self.consume(n, 0);
            if self.eof {
                self.line += 1;
                return Ok(());
            }
            self.fill()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line number, the line (or the head of a long one) and the offset after it.
    type Got = (u64, Result<Vec<u8>, Vec<u8>>, u64);

    fn lines(text: &[u8], max: usize) -> Vec<Got> {
        let mut input = Input::new(
            Reader::Stream(Box::new(std::io::Cursor::new(text.to_vec()))),
            0,
            1,
            max,
        );
        input.skip_bom().unwrap();
        let mut out = Vec::new();
        while let Some(line) = input.next_line().unwrap() {
            let got = match line {
                Line::Whole { number, start, end } => {
                    (number, Ok(input.bytes(start, end).to_vec()))
                }
                Line::TooLong { number, head } => (number, Err(head)),
            };
            out.push((got.0, got.1, input.offset()));
        }
        out
    }

    #[test]
    fn lines_with_offsets_bom_crlf_and_a_last_line_without_a_break() {
        let got = lines(b"\xef\xbb\xbfab\r\n\ncd", 10);
        assert_eq!(
            got,
            [
                (1, Ok(b"ab".to_vec()), 7),
                (2, Ok(b"".to_vec()), 8),
                (3, Ok(b"cd".to_vec()), 10),
            ]
        );
    }

    #[test]
    fn a_line_past_the_bound_is_cut_and_reading_resumes_after_it() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 300_000));
        text.extend(b"\nnext\n");
        let got = lines(&text, 1000);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.as_ref().unwrap_err().len(), 1000);
        assert_eq!(got[2], (3, Ok(b"next".to_vec()), text.len() as u64));
    }

    #[test]
    fn the_buffer_stays_near_the_bound() {
        // 5 MB without a line break, bound 4 KiB: the buffer never holds much more than the bound and a read.
        let text = vec![b'y'; 5_000_000];
        let mut input = Input::new(
            Reader::Stream(Box::new(std::io::Cursor::new(text))),
            0,
            1,
            4096,
        );
        let line = input.next_line().unwrap().unwrap();
        assert!(matches!(line, Line::TooLong { number: 1, ref head } if head.len() == 4096));
        assert!(input.buf.len() <= 4096 + 2 * CHUNK, "{}", input.buf.len());
        assert!(input.next_line().unwrap().is_none());
        assert_eq!(input.offset(), 5_000_000);
    }
}

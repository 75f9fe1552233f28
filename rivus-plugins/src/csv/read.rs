//! CSV records out of a bounded [`Input`], with `csv_core` doing the parsing.
//!
//! The CSV grammar decides where a record ends, so a quoted field may hold line breaks. The one thing it cannot
//! decide is a quote that never closes: `csv_core` would take the rest of the file into one field. Here a record
//! that is still open when it passes the bound, or when the file ends, is cut back to its first line: that line
//! is the bad record (it holds the quote that does not close), and reading resumes at the next line, where the
//! following records are read as usual.

use std::io;

use csv_core::{ReadRecordResult, ReaderBuilder};

use crate::input::Input;

/// Why a record is bad before its fields are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unclosed {
    /// A quote is still open at the end of the file.
    AtEnd,
    /// The record passed the bound with a quote open (or one line is longer than the bound).
    PastBound,
}

/// What [`RecordReader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Framed {
    /// A record whose fields are in the reader; `Input::bytes(start, end)` is its text, line ending included.
    Record {
        /// The line it starts on.
        line: u64,
        /// Where its text starts in the input's buffer.
        start: usize,
        /// Where its text ends in the input's buffer.
        end: usize,
    },
    /// A record that cannot close: its first line (cut at the bound when longer) is the bad record, and reading
    /// goes on after that line.
    Unclosed {
        /// The line.
        line: u64,
        /// The line's text (without its line ending), at most the bound.
        raw: Vec<u8>,
        /// `raw` holds only the start of the line.
        truncated: bool,
        /// At the end of the file, or past the bound.
        why: Unclosed,
    },
}

/// Reads CSV records one at a time.
pub(super) struct RecordReader {
    core: csv_core::Reader,
    quote: u8,
    delimiter: u8,
    /// The fields of the last record, unescaped, one after another.
    fields: Vec<u8>,
    /// Where each field of the last record ends in `fields`.
    ends: Vec<usize>,
    /// The number of fields of the last record.
    count: usize,
}

impl RecordReader {
    /// A reader of CSV with this delimiter and quote (doubled quotes inside quoted fields, no escape
    /// character, `\n`, `\r\n` or `\r` line endings).
    pub(super) fn new(delimiter: u8, quote: u8) -> Self {
        Self {
            core: ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .build(),
            quote,
            delimiter,
            fields: vec![0; 4096],
            ends: vec![0; 64],
            count: 0,
        }
    }

    /// The fields of the last [`Framed::Record`].
    pub(super) fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        let mut start = 0;
        self.ends[..self.count].iter().map(move |&end| {
            let field = &self.fields[start..end];
            start = end;
            field
        })
    }

    /// The fields of the last [`Framed::Record`] as text: one UTF-8 check for the whole row, then each field
    /// (`None` for a field that is not UTF-8 on its own).
    pub(super) fn texts(&self) -> impl ExactSizeIterator<Item = Option<&str>> {
        let total = self.ends[..self.count].last().copied().unwrap_or(0);
        let all = std::str::from_utf8(&self.fields[..total]).ok();
        let mut start = 0;
        self.ends[..self.count].iter().map(move |&end| {
            let field = match all {
                Some(all) => all.get(start..end),
                None => std::str::from_utf8(&self.fields[start..end]).ok(),
            };
            start = end;
            field
        })
    }

    /// The number of fields of the last [`Framed::Record`].
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// The next record, or `None` at the end of the input. Blank lines are skipped.
    ///
    /// # Errors
    ///
    /// The input's read error.
    pub(super) fn next(&mut self, input: &mut Input) -> io::Result<Option<Framed>> {
        // Skip blank lines here, so that the record's first line is known.
        loop {
            match input.data().first() {
                Some(b'\n') => input.consume(1, 1),
                Some(b'\r') => input.consume(1, 0),
                Some(_) => break,
                None => {
                    if input.fill()? == 0 {
                        return Ok(None);
                    }
                }
            }
        }
        let line = input.line();
        let lines_before = self.core.line();
        let (mut consumed, mut nout, mut nend) = (0, 0, 0);
        loop {
            let data = &input.data()[consumed..];
            let at_end = data.is_empty() && input.is_eof();
            if data.is_empty() && !at_end {
                if consumed > input.max() {
                    return Ok(Some(self.unclosed(
                        input,
                        line,
                        consumed,
                        Unclosed::PastBound,
                    )?));
                }
                input.fill()?;
                continue;
            }
            let (result, nin, o, e) =
                self.core
                    .read_record(data, &mut self.fields[nout..], &mut self.ends[nend..]);
            consumed += nin;
            nout += o;
            nend += e;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = self.fields.len() * 2;
                    self.fields.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    if at_end && self.open_quote(&input.data()[..consumed]) {
                        return Ok(Some(self.unclosed(
                            input,
                            line,
                            consumed,
                            Unclosed::AtEnd,
                        )?));
                    }
                    self.count = nend;
                    let lines = self.core.line() - lines_before;
                    let (start, end) = input.take(consumed, lines);
                    return Ok(Some(Framed::Record { line, start, end }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// `true` when `record` (the last one of the input) ends inside a quoted field.
    fn open_quote(&self, record: &[u8]) -> bool {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let (q, d) = (self.quote, self.delimiter);
        let end = record
            .iter()
            .fold(State::FieldStart, |state, &b| match state {
                State::FieldStart if b == q => State::Quoted,
                State::FieldStart | State::Unquoted if b == d => State::FieldStart,
                State::FieldStart | State::Unquoted => State::Unquoted,
                State::Quoted if b == q => State::QuoteInQuoted,
                State::Quoted => State::Quoted,
                State::QuoteInQuoted if b == q => State::Quoted,
                State::QuoteInQuoted if b == d => State::FieldStart,
                State::QuoteInQuoted => State::Unquoted,
            });
        end == State::Quoted
    }

    /// The record of `consumed` bytes cannot close: its first line is the bad record; reading resumes after it.
    fn unclosed(
        &mut self,
        input: &mut Input,
        line: u64,
        consumed: usize,
        why: Unclosed,
    ) -> io::Result<Framed> {
        self.core.reset();
        let max = input.max();
        let record = &input.data()[..consumed];
        let (raw, truncated) = match memchr::memchr(b'\n', record) {
            Some(i) => {
                let first = record[..i].strip_suffix(b"\r").unwrap_or(&record[..i]);
                let cut = first.len() > max;
                let raw = first[..first.len().min(max)].to_vec();
                input.consume(i + 1, 1);
                (raw, cut)
            }
            None => {
                let cut = record.len() > max;
                let raw = record[..record.len().min(max)].to_vec();
                if why == Unclosed::PastBound {
                    input.consume(consumed, 0);
                    input.skip_to_next_line()?;
                } else {
                    // The last line of the input ends here.
                    input.consume(consumed, 1);
                }
                (raw, cut)
            }
        };
        Ok(Framed::Unclosed {
            line,
            raw,
            truncated,
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Reader;

    /// A record (its line and fields) or an unclosed one (its line, text and why).
    type Got = Result<(u64, Vec<String>), (u64, String, Unclosed)>;

    fn read(text: &str, max: usize) -> Vec<Got> {
        let mut input = Input::new(
            Reader::Stream(Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))),
            0,
            1,
            max,
        );
        let mut reader = RecordReader::new(b',', b'"');
        let mut out = Vec::new();
        while let Some(framed) = reader.next(&mut input).unwrap() {
            out.push(match framed {
                Framed::Record { line, .. } => Ok((
                    line,
                    reader
                        .fields()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                )),
                Framed::Unclosed { line, raw, why, .. } => {
                    Err((line, String::from_utf8_lossy(&raw).into_owned(), why))
                }
            });
        }
        out
    }

    fn row(line: u64, fields: &[&str]) -> Got {
        Ok((line, fields.iter().map(|f| (*f).to_owned()).collect()))
    }

    #[test]
    fn quoted_line_breaks_blank_lines_and_crlf() {
        let got = read("a,b\r\n\r\n1,\"x\ny\"\n2,\"q\"\"q\"\n3,4", 100);
        assert_eq!(
            got,
            [
                row(1, &["a", "b"]),
                row(3, &["1", "x\ny"]),
                row(5, &["2", "q\"q"]),
                row(6, &["3", "4"]),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_at_the_end_costs_only_its_line() {
        let got = read("a,b\n1,\"x\n2,y\n3,z\n", 100);
        assert_eq!(
            got,
            [
                row(1, &["a", "b"]),
                Err((2, "1,\"x".into(), Unclosed::AtEnd)),
                row(3, &["2", "y"]),
                row(4, &["3", "z"]),
            ]
        );
        // On the last line, without a line break.
        let got = read("a,b\n1,\"x", 100);
        assert_eq!(got[1], Err((2, "1,\"x".into(), Unclosed::AtEnd)));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn an_unclosed_quote_past_the_bound_costs_only_its_line() {
        let mut text = String::from("a,b\n1,\"x\n");
        for i in 0..1000 {
            text.push_str(&format!("{i},y\n"));
        }
        let got = read(&text, 1000);
        assert_eq!(got[1], Err((2, "1,\"x".into(), Unclosed::PastBound)));
        assert_eq!(got.len(), 1002, "every row after the bad one is read");
        assert_eq!(got[1001], row(1002, &["999", "y"]));
    }

    #[test]
    fn a_line_past_the_bound_is_skipped() {
        let text = format!("a,b\n1,{}\n2,y\n", "z".repeat(5000));
        let got = read(&text, 1000);
        assert!(matches!(&got[1], Err((2, raw, Unclosed::PastBound)) if raw.len() == 1000));
        assert_eq!(got[2], row(3, &["2", "y"]));
    }
}

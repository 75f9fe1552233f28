//! CSV records out of a bounded [`Input`], with `csv_core` doing the parsing.
//!
//! The CSV grammar decides where a record ends, so a quoted field may hold line breaks. The one thing it cannot
//! decide is a quote that never closes: `csv_core` would take the rest of the file into one field. Here a record
//! that is still open when it passes the bound, or when the file ends, is cut back to its first line: that line
//! is the bad record (it holds the quote that does not close), and reading resumes at the next line, where the
//! following records are read as usual.

use std::io;

use csv_core::{ReadRecordResult, ReaderBuilder};

use super::marks::{Marks, Stops};
use super::record::Row;
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
    /// The fields of the last record read by `csv_core`: unescaped, one after another (a plain row's fields
    /// are spans of its own text instead, see [`split_plain`](Self::split_plain)).
    fields: Vec<u8>,
    /// Where each field of the last record ends in `fields`, as `csv_core` writes them.
    ends: Vec<usize>,
    /// Where each field of the last record starts and ends in `fields`, or in its text when `verbatim`.
    spans: Vec<(usize, usize)>,
    /// Whether a plain row is split here rather than by `csv_core` (see [`split_plain`](Self::split_plain)); off
    /// only in tests, to compare the two, and for a line break as the delimiter or the quote.
    plain_rows: bool,
    /// Whether the last record's fields are spans of its text (a plain row), not of `fields`.
    verbatim: bool,
    /// The bytes a plain row stops at (see [`split_plain`](Self::split_plain)).
    stops: Stops,
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
            spans: Vec::with_capacity(64),
            // A line break as the delimiter or the quote (refused by the source's option check) would make
            // a `\n` something else than a row's end.
            plain_rows: ![delimiter, quote]
                .iter()
                .any(|b| matches!(b, b'\n' | b'\r')),
            verbatim: false,
            stops: Stops::new(delimiter, quote),
        }
    }

    /// The last [`Framed::Record`], which starts on `line` and whose text is `text` (`Input::bytes(start,
    /// end)`, which a plain row's fields point into).
    pub(super) fn row<'a>(&'a self, line: u64, text: &'a [u8]) -> Row<'a> {
        let bytes = if self.verbatim { text } else { &self.fields };
        Row::new(line, bytes, &self.spans, text)
    }

    /// Whether the fields of the last [`Framed::Record`] point into its text (a plain row, see
    /// [`split_plain`](Self::split_plain)).
    pub(super) fn verbatim(&self) -> bool {
        self.verbatim
    }

    /// The number of fields of the last [`Framed::Record`].
    pub(super) fn len(&self) -> usize {
        self.spans.len()
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
        self.verbatim = false;
        if self.plain_rows
            && let Some((consumed, lines)) = self.split_plain(input.data())
        {
            let (start, end) = input.take(consumed, lines);
            return Ok(Some(Framed::Record { line, start, end }));
        }
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
                    self.spans.clear();
                    let mut start = 0;
                    for &end in &self.ends[..nend] {
                        self.spans.push((start, end));
                        start = end;
                    }
                    let lines = self.core.line() - lines_before;
                    let (start, end) = input.take(consumed, lines);
                    return Ok(Some(Framed::Record { line, start, end }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Splits the row at the start of `data` when it is plain: it ends (`\n` or `\r\n`) within `data`, and each
    /// field is either unquoted, without a quote or a `\r`, or quoted whole, without a quote (no doubled quote)
    /// or a line break inside, and followed by the delimiter or the row's end. `csv_core` would give the same
    /// fields, with nothing to unescape; the spans are of the row's own text, which is not copied. The row is
    /// walked from one of the four bytes that matter to the next ([`Marks`], sixteen bytes at a time): framing a
    /// row of the orders bench costs about 540 instructions, against about 670 when each field's end was searched
    /// for eight bytes at a time and about 1,130 in `csv_core` (callgrind).
    ///
    /// Returns the bytes the row takes and the lines it ends, as `csv_core` counts them: a `\n` ending is taken
    /// (one line), of a `\r\n` ending only the `\r` (the `\n` is then skipped as a blank line). `None` leaves the
    /// row to `csv_core` (a doubled quote, a quote inside an unquoted field, a line break inside quotes, a lone
    /// `\r`, a row that runs past what is buffered or ends the input without a line ending), which reads it from
    /// the start: its state is untouched here.
    fn split_plain(&mut self, data: &[u8]) -> Option<(usize, u64)> {
        let (quote, delimiter) = (self.quote, self.delimiter);
        let spans = &mut self.spans;
        spans.clear();
        let mut marks = Marks::new(data, self.stops);
        let mut at = 0;
        let ending = loop {
            let (field, after) = if data.get(at) == Some(&quote) {
                // The closing quote: delimiters inside the quotes are text.
                let mut close = marks.next_from(at + 1)?;
                while data[close] != quote {
                    if data[close] != delimiter {
                        return None; // a line break inside quotes
                    }
                    close = marks.next_from(close + 1)?;
                }
                ((at + 1, close), close + 1)
            } else {
                let stop = marks.next_from(at)?;
                ((at, stop), stop)
            };
            spans.push(field);
            match data.get(after) {
                Some(&b) if b == delimiter => at = after + 1,
                Some(b'\n') => break (after + 1, 1),
                Some(b'\r') if data.get(after + 1) == Some(&b'\n') => break (after + 1, 0),
                // A quote in or after a field, a lone `\r`, or the end of what is buffered. (`spans` is read
                // only after a record, which sets it.)
                _ => return None,
            }
        };
        // The spans point into the row as it is in the input, which `row` is given: not copied.
        self.verbatim = true;
        Some(ending)
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
        let got = read_as(text.as_bytes(), max, true);
        assert_eq!(
            got,
            read_as(text.as_bytes(), max, false),
            "plain rows split as csv_core splits them"
        );
        got.into_iter().map(|(got, _)| got).collect()
    }

    /// What a reader makes of `text`, with each record's offset after it; `plain` splits plain rows itself.
    fn read_as(text: &[u8], max: usize, plain: bool) -> Vec<(Got, u64)> {
        let mut input = Input::new(
            Reader::Stream(Box::new(std::io::Cursor::new(text.to_vec()))),
            0,
            1,
            max,
        );
        let mut reader = RecordReader::new(b',', b'"');
        reader.plain_rows = plain;
        let mut out = Vec::new();
        while let Some(framed) = reader.next(&mut input).unwrap() {
            let got = match framed {
                Framed::Record { line, start, end } => Ok((
                    line,
                    reader
                        .row(line, input.bytes(start, end))
                        .fields()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                )),
                Framed::Unclosed { line, raw, why, .. } => {
                    Err((line, String::from_utf8_lossy(&raw).into_owned(), why))
                }
            };
            out.push((got, input.offset()));
        }
        out
    }

    proptest::proptest! {
        /// Rows split without `csv_core` give the same fields, lines and offsets as with it, on text made of the
        /// bytes that matter (quotes, delimiters, both line endings) and a few others, in small buffers.
        #[test]
        fn plain_rows_split_as_csv_core_splits_them(
            text in proptest::collection::vec(proptest::sample::select(b"ab,,\"\"\r\n\n\xff ".to_vec()), 0..200),
            max in 4usize..64,
        ) {
            proptest::prop_assert_eq!(read_as(&text, max, true), read_as(&text, max, false));
        }

        /// The same with longer fields, so that a field's end falls at every place of an eight-byte word.
        #[test]
        fn long_plain_fields_split_as_csv_core_splits_them(
            text in proptest::collection::vec(proptest::sample::select(b"aaaaaaaaaab,\"\n\r".to_vec()), 0..600),
            max in 16usize..512,
        ) {
            proptest::prop_assert_eq!(read_as(&text, max, true), read_as(&text, max, false));
        }
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

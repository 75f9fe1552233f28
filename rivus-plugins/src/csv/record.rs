//! From a framed row to its record: each column typed, the projection and the pushed-down filter applied, a bad
//! field located. [`RecordBuilder`] is what a worker thread needs for that (see [`super::workers`]); the
//! source's own thread uses the same one when it types its rows itself.

use std::cell::RefCell;
use std::sync::Arc;

use rivus_core::PipeError;
use rivus_core::condition::Condition;
use rivus_core::value::{FieldName, Record, Value};

use super::FieldType;
use crate::text::Locator;

/// A framed row: its fields, its line and its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row<'a> {
    /// The line it starts on.
    pub(super) line: u64,
    /// The fields' bytes, unescaped: `spans` point into them.
    bytes: &'a [u8],
    /// Where each field starts and ends in `bytes`.
    spans: &'a [(usize, usize)],
    /// What one check of the text from the first field's start to the last one's end found: one check per row
    /// instead of one per field.
    checked: Checked<'a>,
    /// The row's text as read (a line ending is dropped from the raw input errors keep).
    text: &'a [u8],
}

impl<'a> Row<'a> {
    /// The row of `line` whose fields are `spans` of `bytes` and whose text is `text`.
    pub(super) fn new(
        line: u64,
        bytes: &'a [u8],
        spans: &'a [(usize, usize)],
        text: &'a [u8],
    ) -> Self {
        let first = spans.first().map_or(0, |&(start, _)| start);
        let last = spans.last().map_or(0, |&(_, end)| end).max(first);
        let region = bytes.get(first..last).unwrap_or_default();
        let checked = if region.is_ascii() {
            Checked::Ascii(first, last)
        } else {
            std::str::from_utf8(region).map_or(Checked::Neither, |all| Checked::Utf8(all, first))
        };
        Self {
            line,
            bytes,
            spans,
            checked,
            text,
        }
    }

    /// The fields.
    pub(super) fn fields(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + use<'a> {
        let bytes = self.bytes;
        self.spans
            .iter()
            .map(move |&(start, end)| &bytes[start..end])
    }

    /// Field `i` as text; `None` when it is not UTF-8 (or there is no field `i`).
    pub(super) fn text(&self, i: usize) -> Option<&'a str> {
        let span = *self.spans.get(i)?;
        text_of(self.bytes, &self.checked, span)
    }

    /// The fields as text (`None` for a field that is not UTF-8).
    pub(super) fn texts(&self) -> impl ExactSizeIterator<Item = Option<&'a str>> + use<'a> {
        let (bytes, checked) = (self.bytes, self.checked);
        self.spans
            .iter()
            .map(move |&span| text_of(bytes, &checked, span))
    }

    /// Its fields' bytes, the fields' spans in them, and its text.
    pub(super) fn parts(&self) -> (&'a [u8], &'a [(usize, usize)], &'a [u8]) {
        (self.bytes, self.spans, self.text)
    }

    /// The number of fields.
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The row's text without its line ending, for an error's raw input.
    pub(super) fn raw(&self) -> Vec<u8> {
        let text = self.text.strip_suffix(b"\n").unwrap_or(self.text);
        text.strip_suffix(b"\r").unwrap_or(text).to_vec()
    }
}

/// What the check of a row's fields, as one text, found.
#[derive(Debug, Clone, Copy)]
enum Checked<'a> {
    /// The bytes from the first index to the second are all ASCII: any part of them is text.
    Ascii(usize, usize),
    /// The text from this index is UTF-8; a field within it is text when it starts and ends on character
    /// boundaries (fields unescaped by `csv_core` follow one another with nothing between them, so one that
    /// ends inside a character is not text on its own).
    Utf8(&'a str, usize),
    /// Neither: each field is checked on its own.
    Neither,
}

/// The field at `span` of `bytes` as text, through what the row's check found.
#[inline]
#[allow(unsafe_code)]
fn text_of<'a>(
    bytes: &'a [u8],
    checked: &Checked<'a>,
    (start, end): (usize, usize),
) -> Option<&'a str> {
    let field = bytes.get(start..end)?;
    match checked {
        Checked::Ascii(first, last) if *first <= start && end <= *last => {
            // SAFETY: `field` is `bytes[start..end]`, within `bytes[first..last]`, whose bytes `Row::new` found all
            // ASCII (`<[u8]>::is_ascii`); ASCII bytes are valid UTF-8 on their own, at any boundary. This skips
            // `from_utf8` of every row (callgrind: about 100 instructions per row of the orders bench).
            Some(unsafe { std::str::from_utf8_unchecked(field) })
        }
        Checked::Utf8(all, first) => all.get(start.checked_sub(*first)?..end.checked_sub(*first)?),
        _ => std::str::from_utf8(field).ok(),
    }
}

/// What a column of the file is for, given the projection and the prefilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Use {
    /// Nobody reads it: not checked, not built.
    Skip,
    /// Read by a later stage: built for the rows the prefilter keeps, checked for the others.
    Read,
    /// Read by the prefilter's condition: built first, for every row.
    Filter,
}

/// Builds the records of one file's rows: its columns and their types, what each column is for, the
/// prefilter's condition, and where errors are located.
#[derive(Debug)]
pub(super) struct RecordBuilder {
    /// Column names and their types.
    columns: Vec<(FieldName, FieldType)>,
    /// What each column is for, with a projection or a prefilter; empty without them: every column is built.
    plan: Vec<Use>,
    /// The condition of the `filter` right after the source.
    prefilter: Option<Arc<Condition>>,
    /// Whether the prefilter's condition is false on an empty record: a rejected row is then an empty record
    /// (no allocation), which the filter drops as surely.
    rejects_empty: bool,
    /// The record of the prefilter's columns, refilled in place for every row: a rejected row (most rows, for a
    /// selective filter) then costs no allocation for a string column.
    filtered: RefCell<Record>,
    /// The file's name and the plugin, for located errors.
    locator: Locator,
    /// The prefilter's condition when it compares a column of strings with a string (`status == 'paid'`): it is
    /// decided on the column's text, with no record to refill and no condition to walk.
    text_test: Option<TextTest>,
}

/// A prefilter decided on one column's text (see [`rivus_core::condition::TextComparison`]).
#[derive(Debug, Clone)]
struct TextTest {
    /// The column.
    column: usize,
    /// The string it is compared with.
    text: Box<str>,
    /// `==` (or `!=`).
    equal: bool,
}

impl Clone for RecordBuilder {
    /// The same builder, with a record of its own to refill.
    fn clone(&self) -> Self {
        Self {
            columns: self.columns.clone(),
            plan: self.plan.clone(),
            prefilter: self.prefilter.clone(),
            rejects_empty: self.rejects_empty,
            filtered: RefCell::new(Record::new()),
            locator: self.locator.clone(),
            text_test: self.text_test.clone(),
        }
    }
}

impl RecordBuilder {
    /// A builder for a file of the columns `names`, typed by `types`; `projection` (the fields the pipeline
    /// reads, `None`: every field) and `prefilter` (the condition of the `filter` right after the source) say
    /// what each column is for.
    pub(super) fn new(
        names: Vec<String>,
        types: impl Fn(&str) -> FieldType,
        projection: Option<&[String]>,
        prefilter: Option<&Arc<Condition>>,
        locator: Locator,
    ) -> Self {
        let plan = if projection.is_none() && prefilter.is_none() {
            Vec::new()
        } else {
            let filter = prefilter.map(|c| c.fields()).unwrap_or_default();
            names
                .iter()
                .map(|name| {
                    if filter.contains(&name.as_str()) {
                        Use::Filter
                    } else if projection.is_none_or(|p| p.contains(name)) {
                        Use::Read
                    } else {
                        Use::Skip
                    }
                })
                .collect()
        };
        let columns: Vec<(FieldName, FieldType)> = names
            .iter()
            .map(|n| (FieldName::interned(n), types(n)))
            .collect();
        let text_test = prefilter
            .and_then(|c| c.as_text_comparison())
            .and_then(|test| {
                let column = names.iter().position(|n| n == test.field)?;
                (columns.get(column)?.1 == FieldType::String).then(|| TextTest {
                    column,
                    text: test.text.into(),
                    equal: test.equal,
                })
            });
        Self {
            columns,
            plan,
            prefilter: prefilter.cloned(),
            rejects_empty: prefilter.is_some_and(|c| matches!(c.eval(&Record::new()), Ok(false))),
            filtered: RefCell::new(Record::new()),
            locator,
            text_test,
        }
    }

    /// The record of `row`, or the located error of its first bad field; `None` for a row the prefilter
    /// rejects when `leave_out` (see [`planned_record`](Self::planned_record)).
    pub(super) fn record(
        &self,
        row: &Row<'_>,
        leave_out: bool,
    ) -> Result<Option<Record>, PipeError> {
        if row.len() != self.columns.len() {
            let message = format!(
                "expected {} fields, found {} (a missing delimiter, an extra one, or a quote in the wrong place)",
                self.columns.len(),
                row.len()
            );
            return Err(self
                .locator
                .bad(self.locator.at(row.line), message, &row.raw()));
        }
        if !self.plan.is_empty() {
            return self.planned_record(row, leave_out);
        }
        let mut record = Record::with_capacity(self.columns.len());
        for (i, (text, (name, ty))) in row.texts().zip(&self.columns).enumerate() {
            let Some(text) = text else {
                return Err(self.not_utf8(row, i));
            };
            let value = ty
                .parse(text)
                .map_err(|message| self.bad(row, i, message))?;
            record.push(FieldName::clone(name), value);
        }
        Ok(Some(record))
    }

    /// The record of `row` under a projection or a prefilter (see [`Use`]): with a prefilter, the condition's
    /// columns first. A row the condition rejects, once the columns read later are checked (so that a bad row
    /// is the same error as without the prefilter), is left out (`None`) when `leave_out`, and otherwise gives
    /// a record of the condition's columns only, or an empty one when the condition is false on that too (the
    /// filter after the source drops it, counted `filtered`). Otherwise the columns read, in file order.
    fn planned_record(&self, row: &Row<'_>, leave_out: bool) -> Result<Option<Record>, PipeError> {
        // A column of strings compared with a string: its text decides, as the condition would on its value
        // (a string column's value is its text). A field that is not UTF-8 takes the path below, to its error.
        if let Some(test) = &self.text_test
            && let Some(text) = row.text(test.column)
        {
            if (text == &*test.text) == test.equal {
                return self.build(row, Use::Read).map(Some);
            }
            return self.rejected(row, leave_out);
        }
        if let Some(condition) = &self.prefilter
            && let Ok(partial) = self.refill(row)
            && matches!(condition.eval(&partial), Ok(false))
        {
            drop(partial);
            return self.rejected(row, leave_out);
        }
        // A row the condition keeps, or cannot decide (the filter then fails it, whole, for the error policy).
        self.build(row, Use::Read).map(Some)
    }

    /// A row the condition rejects: once the columns read later are checked, left out (`None`) when
    /// `leave_out`, otherwise a record of the condition's columns, or an empty one when the condition is false
    /// on that too.
    fn rejected(&self, row: &Row<'_>, leave_out: bool) -> Result<Option<Record>, PipeError> {
        for (i, usage) in self.plan.iter().enumerate() {
            if *usage == Use::Read {
                self.check(row, i)?;
            }
        }
        Ok(if leave_out {
            None
        } else if self.rejects_empty {
            Some(Record::new())
        } else {
            Some(self.refill(row)?.clone())
        })
    }

    /// The prefilter's columns of `row`, in the record kept for them (see [`refill_in_place`]).
    ///
    /// [`refill_in_place`]: Self::refill_in_place
    fn refill(&self, row: &Row<'_>) -> Result<std::cell::RefMut<'_, Record>, PipeError> {
        let mut record = self.filtered.borrow_mut();
        if record.is_empty() {
            *record = self.build(row, Use::Filter)?;
        } else {
            self.refill_in_place(&mut record, row)?;
        }
        Ok(record)
    }

    /// Puts `row`'s values of the prefilter's columns into `record`, which holds the row before's (same
    /// columns, same order, every row of a file): a string column's text goes into the string it held. On an
    /// error the record is left half refilled; the next row refills it whole.
    fn refill_in_place(&self, record: &mut Record, row: &Row<'_>) -> Result<(), PipeError> {
        let mut slots = record.iter_mut().map(|(_, value)| value);
        for (i, usage) in self.plan.iter().enumerate() {
            if *usage != Use::Filter {
                continue;
            }
            let Some(slot) = slots.next() else { break };
            let string_column = matches!(self.columns.get(i), Some((_, FieldType::String)));
            if string_column
                && let Some(text) = row.text(i)
                && let Value::String(kept) = slot
            {
                kept.clear();
                kept.push_str(text);
            } else {
                // Any other column, or a bad one (its located error).
                *slot = self.value(row, i)?;
            }
        }
        Ok(())
    }

    /// The record of the columns used at least as `at_least`, in file order; the first bad one's error.
    fn build(&self, row: &Row<'_>, at_least: Use) -> Result<Record, PipeError> {
        let mut record =
            Record::with_capacity(self.plan.iter().filter(|u| **u >= at_least).count());
        for (i, (usage, (name, _))) in self.plan.iter().zip(&self.columns).enumerate() {
            if *usage >= at_least {
                let value = self.value(row, i)?;
                record.push(FieldName::clone(name), value);
            }
        }
        Ok(record)
    }

    /// Column `i`'s value, typed.
    fn value(&self, row: &Row<'_>, i: usize) -> Result<Value, PipeError> {
        let Some((_, ty)) = self.columns.get(i) else {
            return Ok(Value::Null);
        };
        let Some(text) = row.text(i) else {
            return Err(self.not_utf8(row, i));
        };
        ty.parse(text).map_err(|message| self.bad(row, i, message))
    }

    /// Checks column `i` as [`value`](Self::value) would type it, without building the value (nothing is
    /// allocated, and no value is dropped: a `Null` returned and dropped cost a call per column).
    fn check(&self, row: &Row<'_>, i: usize) -> Result<(), PipeError> {
        let Some((_, ty)) = self.columns.get(i) else {
            return Ok(());
        };
        let Some(text) = row.text(i) else {
            return Err(self.not_utf8(row, i));
        };
        ty.check(text).map_err(|message| self.bad(row, i, message))
    }

    /// The error of column `i` of `row`, located: `file:line:column, field`.
    fn bad(&self, row: &Row<'_>, i: usize, message: String) -> PipeError {
        let mut at = self.locator.at(row.line).column(i as u64 + 1);
        if let Some((name, _)) = self.columns.get(i) {
            at = at.field(name.to_string());
        }
        self.locator.bad(at, message, &row.raw())
    }

    /// The error of column `i` of `row`, which is not UTF-8.
    fn not_utf8(&self, row: &Row<'_>, i: usize) -> PipeError {
        let bytes = row.fields().nth(i).unwrap_or_default();
        let message = match std::str::from_utf8(bytes) {
            Err(e) => format!("not valid UTF-8 ({e})"),
            Ok(_) => "not valid UTF-8".to_owned(),
        };
        self.bad(row, i, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_text_through_the_rows_check() {
        // ASCII: any field.
        let bytes = b"id,\"a b\",x";
        let row = Row::new(1, bytes, &[(0, 2), (4, 7), (9, 10)], bytes);
        assert_eq!(
            row.texts().collect::<Vec<_>>(),
            [Some("id"), Some("a b"), Some("x")]
        );
        // UTF-8 with characters past ASCII.
        let bytes = "é,ü€".as_bytes();
        let row = Row::new(1, bytes, &[(0, 2), (3, 8)], bytes);
        assert_eq!(row.texts().collect::<Vec<_>>(), [Some("é"), Some("ü€")]);
        // Fields unescaped one after another: the whole is UTF-8, but each half of `é` is not text on its own.
        let bytes = "éa".as_bytes();
        let row = Row::new(1, bytes, &[(0, 1), (1, 3)], bytes);
        assert_eq!(row.texts().collect::<Vec<_>>(), [None, None]);
        // Not UTF-8: each field on its own.
        let bytes = b"ok,\xff";
        let row = Row::new(1, bytes, &[(0, 2), (3, 4)], bytes);
        assert_eq!(row.texts().collect::<Vec<_>>(), [Some("ok"), None]);
        assert_eq!(row.text(2), None);
    }

    #[test]
    fn a_text_comparison_decides_as_the_condition_does() {
        let locator =
            crate::text::TextFile::stream("csv", "t.csv".into(), Box::new(std::io::empty()), 64)
                .locator();
        let values: [&[u8]; 6] = [b"paid", b"new", b"", b"pa id", b"\xff", b"Paid"];
        let amounts: [&[u8]; 3] = [b"1", b"x", b""];
        for text in [
            "s == 'paid'",
            "s != 'paid'",
            "'paid' == s",
            "s == ''",
            "s != ''",
        ] {
            let condition = Arc::new(Condition::parse(text).unwrap());
            let types = |name: &str| {
                if name == "n" {
                    FieldType::Int
                } else {
                    FieldType::String
                }
            };
            let names = vec!["id".to_owned(), "s".to_owned(), "n".to_owned()];
            let fast = RecordBuilder::new(
                names,
                types,
                Some(&["id".into()]),
                Some(&condition),
                locator.clone(),
            );
            assert!(fast.text_test.is_some(), "{text}");
            let mut slow = fast.clone();
            slow.text_test = None;
            for value in values {
                for amount in amounts {
                    let bytes = [b"7,", value, b",", amount].concat();
                    let spans = [(0, 1), (2, 2 + value.len()), (3 + value.len(), bytes.len())];
                    let row = Row::new(3, &bytes, &spans, &bytes);
                    for leave_out in [true, false] {
                        let shown = |builder: &RecordBuilder| {
                            format!("{:?}", builder.record(&row, leave_out))
                        };
                        assert_eq!(shown(&fast), shown(&slow), "{text} on {bytes:?}");
                    }
                }
            }
        }
        // Not a string column: the condition decides.
        let condition = Arc::new(Condition::parse("n == '1'").unwrap());
        let types = |name: &str| {
            if name == "n" {
                FieldType::Int
            } else {
                FieldType::String
            }
        };
        let names = vec!["s".to_owned(), "n".to_owned()];
        assert!(
            RecordBuilder::new(names, types, None, Some(&condition), locator)
                .text_test
                .is_none()
        );
    }
}

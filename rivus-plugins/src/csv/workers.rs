//! Typing rows on worker threads, in file order: the source's thread frames rows (cheap: it finds where rows and
//! fields end, see `RecordReader::split_plain`) into [`Batch`]es, and each worker types a batch's rows into
//! records with its own [`RecordBuilder`] (UTF-8 checks, number parsing, the pushed-down filter, the record).
//!
//! Order: batches go to the workers in turn, one lane each, and come back the same way, so the records leave
//! in file order with no reordering buffer. Memory: each lane holds at most [`LANE_DEPTH`] batches, and a batch
//! at most [`BATCH_ROWS`] rows or about [`BATCH_BYTES`] bytes (one row more than that when a row is longer):
//! what is read ahead of the runtime is bounded. Positions and error locations are those of the source's thread:
//! each row keeps its line and the place after it, which the source marks when it hands the record out.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rivus_core::PipeError;
use rivus_core::value::Record;

use super::record::{RecordBuilder, Row};
use crate::checkpoint::Resume;

/// The most rows in a batch.
pub(super) const BATCH_ROWS: usize = 512;

/// A batch is sent once its bytes pass this.
pub(super) const BATCH_BYTES: usize = 64 * 1024;

/// Batches in flight per worker: one it types, one waiting, so that it never waits for the source's thread
/// while that thread hands records out.
pub(super) const LANE_DEPTH: usize = 2;

/// Rows framed by the source's thread, then typed by a worker.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// The rows' fields (and the text of the rows that were not copied as they are), one after another.
    bytes: Vec<u8>,
    /// Where each field starts and ends in `bytes`.
    spans: Vec<(usize, usize)>,
    /// The rows, in file order.
    rows: Vec<Entry>,
    /// The typed rows, one per entry, filled by a worker.
    typed: Vec<Result<Option<Record>, PipeError>>,
    /// The next entry to hand out.
    next: usize,
}

/// A row of a batch, or an error the source's thread found in its place.
#[derive(Debug)]
enum Entry {
    /// A row to type.
    Row {
        /// Its first line.
        line: u64,
        /// Its fields in `Batch::spans`.
        fields: (usize, usize),
        /// Its text in `Batch::bytes`.
        text: (usize, usize),
        /// The place after it.
        place: Resume,
    },
    /// An error (a quote that does not close), handed out in the row's place.
    Error {
        /// The error, until a worker moves it to `Batch::typed`.
        error: Option<PipeError>,
        /// The place after it.
        place: Resume,
    },
}

impl Batch {
    /// The number of rows and errors in the batch.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch is full: [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes.
    pub(super) fn is_full(&self) -> bool {
        self.rows.len() >= BATCH_ROWS || self.bytes.len() >= BATCH_BYTES
    }

    /// Adds `row`, read up to `place`; `verbatim`: the row's fields point into its text, which then is not
    /// copied twice.
    pub(super) fn push_row(&mut self, row: &Row<'_>, verbatim: bool, place: Resume) {
        let (bytes, spans, text) = row.parts();
        let base = self.bytes.len();
        let first = self.spans.len();
        let used = if verbatim {
            text.len()
        } else {
            spans.last().map_or(0, |&(_, end)| end)
        };
        self.bytes.extend_from_slice(&bytes[..used]);
        self.spans
            .extend(spans.iter().map(|&(start, end)| (base + start, base + end)));
        let text = if verbatim {
            (base, base + used)
        } else {
            self.bytes.extend_from_slice(text);
            (base + used, self.bytes.len())
        };
        self.rows.push(Entry::Row {
            line: row.line,
            fields: (first, self.spans.len()),
            text,
            place,
        });
    }

    /// Adds an error, handed out in its place; `place` is after it.
    pub(super) fn push_error(&mut self, error: PipeError, place: Resume) {
        self.rows.push(Entry::Error {
            error: Some(error),
            place,
        });
    }

    /// The row of entry `i` (`None` for an error).
    fn row(&self, i: usize) -> Option<Row<'_>> {
        match self.rows.get(i)? {
            Entry::Row {
                line, fields, text, ..
            } => Some(Row::new(
                *line,
                &self.bytes,
                &self.spans[fields.0..fields.1],
                &self.bytes[text.0..text.1],
            )),
            Entry::Error { .. } => None,
        }
    }

    /// Types every row with `builder`, leaving out the rows its prefilter rejects (`Ok(None)`).
    fn type_rows(&mut self, builder: &RecordBuilder) {
        self.typed.clear();
        for i in 0..self.rows.len() {
            let typed = match self.row(i) {
                Some(row) => builder.record(&row, true),
                None => match &mut self.rows[i] {
                    Entry::Error { error, .. } => error.take().map_or_else(|| Ok(None), Err),
                    Entry::Row { .. } => Ok(None),
                },
            };
            self.typed.push(typed);
        }
    }

    /// The next typed row and the place after it; `None` when every one was handed out.
    pub(super) fn pop(&mut self) -> Option<(Result<Option<Record>, PipeError>, Resume)> {
        let i = self.next;
        let place = match self.rows.get(i)? {
            Entry::Row { place, .. } | Entry::Error { place, .. } => *place,
        };
        self.next += 1;
        let typed = std::mem::replace(self.typed.get_mut(i)?, Ok(None));
        Some((typed, place))
    }

    /// The record of the row [`pop`](Self::pop) gave last, typed again by `builder` without leaving it out
    /// when the prefilter rejects it.
    pub(super) fn retype_last(
        &self,
        builder: &RecordBuilder,
    ) -> Option<Result<Option<Record>, PipeError>> {
        let row = self.row(self.next.checked_sub(1)?)?;
        Some(builder.record(&row, false))
    }

    /// Empties the batch, keeping its buffers.
    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.rows.clear();
        self.typed.clear();
        self.next = 0;
    }
}

/// One worker: the batches it is sent and the typed batches it sends back.
#[derive(Debug)]
struct Lane {
    to_type: SyncSender<Batch>,
    typed: Receiver<Batch>,
    thread: Option<JoinHandle<()>>,
}

/// Worker threads typing one file's rows.
#[derive(Debug)]
pub(super) struct Workers {
    lanes: Vec<Lane>,
    /// Batches sent, and received back: the lane of the next one is their count modulo the lanes.
    sent: usize,
    received: usize,
    /// Emptied batches, for the next rows.
    spare: Vec<Batch>,
}

impl Workers {
    /// `count` threads (at least one) typing rows with copies of `builder`.
    ///
    /// # Errors
    ///
    /// A thread cannot be started.
    pub(super) fn start(count: usize, builder: &RecordBuilder) -> std::io::Result<Self> {
        let mut lanes = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let (to_type, batches) = sync_channel::<Batch>(LANE_DEPTH);
            let (send_typed, typed) = sync_channel::<Batch>(LANE_DEPTH);
            let builder = builder.clone();
            let thread = std::thread::Builder::new()
                .name(format!("rivus-csv-{i}"))
                .spawn(move || {
                    for mut batch in batches {
                        batch.type_rows(&builder);
                        if send_typed.send(batch).is_err() {
                            return;
                        }
                    }
                })?;
            lanes.push(Lane {
                to_type,
                typed,
                thread: Some(thread),
            });
        }
        Ok(Self {
            lanes,
            sent: 0,
            received: 0,
            spare: Vec::new(),
        })
    }

    /// An empty batch to fill.
    pub(super) fn batch(&mut self) -> Batch {
        self.spare.pop().unwrap_or_default()
    }

    /// Takes back a batch whose rows were all handed out.
    pub(super) fn recycle(&mut self, mut batch: Batch) {
        batch.clear();
        self.spare.push(batch);
    }

    /// Whether every lane holds as many batches as it takes.
    pub(super) fn is_full(&self) -> bool {
        self.in_flight() >= self.lanes.len() * LANE_DEPTH
    }

    /// Batches sent and not received back.
    pub(super) fn in_flight(&self) -> usize {
        self.sent - self.received
    }

    /// Sends `batch` to the next lane. Does not block: call it only when not [`is_full`](Self::is_full).
    ///
    /// # Errors
    ///
    /// The lane's worker is gone (it panicked).
    pub(super) fn send(&mut self, batch: Batch) -> Result<(), PipeError> {
        let lane = &self.lanes[self.sent % self.lanes.len()];
        lane.to_type.send(batch).map_err(|_| gone())?;
        self.sent += 1;
        Ok(())
    }

    /// The oldest batch sent, typed: waits for its worker.
    ///
    /// # Errors
    ///
    /// The lane's worker is gone (it panicked).
    pub(super) fn receive(&mut self) -> Result<Batch, PipeError> {
        let lane = &self.lanes[self.received % self.lanes.len()];
        let batch = lane.typed.recv().map_err(|_| gone())?;
        self.received += 1;
        Ok(batch)
    }
}

impl Drop for Workers {
    /// Stops the workers: each ends once its lane is closed, after the batch it types.
    fn drop(&mut self) {
        let threads: Vec<_> = self
            .lanes
            .drain(..)
            .filter_map(|lane| lane.thread)
            .collect();
        for thread in threads {
            // A worker that panicked already said so through its lane; its panic is not ours to resume.
            let _ = thread.join();
        }
    }
}

/// The error of a worker that stopped.
fn gone() -> PipeError {
    PipeError::msg("a thread typing CSV rows stopped (it panicked): reading ends here")
        .with_pipe("csv")
}

//! A sink whose destination refuses some rows of a batch at the flush (`flush_each`): each refused row goes to
//! the error policy with the destination's error, the others are written, and the ledger adds up.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::{Arc, Mutex};

use rivus_core::pipe::Rejected;
use rivus_core::prelude::*;

/// Buffers rows; at a flush "inserts" them and refuses multiples of 7, as a database refuses a constraint.
#[derive(Clone, Default)]
struct Table {
    buffer: Arc<Mutex<Vec<u64>>>,
    rows: Arc<Mutex<Vec<u64>>>,
}

impl SyncSink for Table {
    type In = u64;
    fn write(&mut self, item: u64) -> Result<(), PipeError> {
        self.buffer.lock().unwrap().push(item);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        match self.flush_each()?.into_iter().next() {
            Some(r) => Err(r.error),
            None => Ok(()),
        }
    }
    fn flush_each(&mut self) -> Result<Vec<Rejected>, PipeError> {
        let batch = std::mem::take(&mut *self.buffer.lock().unwrap());
        let mut refused = Vec::new();
        for (i, row) in batch.into_iter().enumerate() {
            if row % 7 == 0 {
                refused.push(Rejected::new(
                    i,
                    PipeError::msg(format!("row {row} violates check constraint \"not_seven\"")),
                ));
            } else {
                self.rows.lock().unwrap().push(row);
            }
        }
        Ok(refused)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_dead_lettered_and_the_others_written() {
    let table = Table::default();
    let dead = sink::collect::<DeadLetter>();
    let report = Pipeline::from_iter(1..=100u64)
        .with_config(
            StreamConfig::default()
                .with_chunk_size(16)
                .with_error_policy(ErrorPolicy::DeadLetter),
        )
        .sink(table.clone())
        .dead_letter(dead.clone())
        .run()
        .await
        .unwrap();
    let sevens: Vec<u64> = (1..=100).filter(|x| x % 7 == 0).collect();
    let mut letters: Vec<u64> = dead
        .take()
        .into_iter()
        .map(|l| {
            assert!(l.error().to_string().contains("not_seven"), "{}", l.error());
            l.into_item::<u64>().unwrap()
        })
        .collect();
    letters.sort_unstable();
    assert_eq!(letters, sevens);
    let mut rows = table.rows.lock().unwrap().clone();
    rows.sort_unstable();
    assert_eq!(rows.len(), 100 - sevens.len());
    let ledger = report.ledger();
    assert_eq!(
        (ledger.read, ledger.written, ledger.dead_lettered),
        (100, rows.len() as u64, sevens.len() as u64)
    );
    assert!(ledger.is_balanced(), "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_fails_a_fail_fast_run_and_the_others_land() {
    let table = Table::default();
    let result = Pipeline::from_iter(1..=10u64)
        .with_config(StreamConfig::default().with_chunk_size(100))
        .sink(table.clone())
        .run()
        .await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("row 7 violates"), "{err}");
    let ledger = err.report().unwrap().ledger();
    assert!(ledger.is_balanced(), "{ledger:?}");
    assert_eq!(ledger.failed, 1, "{ledger:?}");
    assert_eq!(ledger.written, table.rows.lock().unwrap().len() as u64);
}

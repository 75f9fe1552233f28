//! A bounded hand-off of items from a source's own thread to its stage task.
//!
//! Waking the task costs a context switch (two, counting the thread's own wake-up once the task made room), so
//! the hand-off wakes it per batch, not per item. While the task waits for a first item, the thread wakes it on
//! that item: nothing is held back behind a read that blocks. When the task finds fewer than a batch waiting,
//! it lingers for the rest, at most [`LINGER`]: a busy source then costs one wake-up per batch, and an item of
//! a source that went quiet waits at most that long. The thread pushes each item as soon as `next` returns it,
//! so what it read is always in the hand-off, never in a buffer of the thread's own (a stop takes it all).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// How long the task waits for a batch to fill once it has a partial one: the latency a slow source's items
/// may get, traded for one wake-up per batch from a fast one. Short next to a network round trip, long next to
/// the time a file source takes to read a batch (a chunk of 256 CSV rows takes about 150 µs).
pub(crate) const LINGER: Duration = Duration::from_millis(1);

#[derive(Debug)]
struct Slots<T> {
    items: VecDeque<T>,
    /// The number of waiting items at which a push wakes the task: 1 while it waits for a first item, a batch
    /// while it lingers for a full one, 0 (never) while it is busy elsewhere.
    wake_at: usize,
    /// The thread waits for room.
    full: bool,
    /// The thread will push no more (the source is exhausted, or the thread stopped).
    finished: bool,
    /// The task takes no more: a push gives up.
    closed: bool,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Handoff<T> {
    slots: Mutex<Slots<T>>,
    room: Condvar,
    ready: Notify,
    /// How many items the task takes at once when it can.
    batch: usize,
    capacity: usize,
}

/// The task closed the hand-off: the item was not taken.
#[derive(Debug)]
pub(crate) struct Closed;

impl<T> Handoff<T> {
    /// A hand-off that holds up to two batches of `batch` items, so the thread reads the next batch while the
    /// task passes one on.
    pub(crate) fn new(batch: usize) -> Self {
        let batch = batch.max(1);
        Self {
            slots: Mutex::new(Slots {
                items: VecDeque::with_capacity(2 * batch),
                wake_at: 0,
                full: false,
                finished: false,
                closed: false,
            }),
            room: Condvar::new(),
            ready: Notify::new(),
            batch,
            capacity: 2 * batch,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<T>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `item` over, waiting (on the thread) while the hand-off is full.
    ///
    /// # Errors
    ///
    /// [`Closed`] when the task takes no more items.
    pub(crate) fn push(&self, item: T) -> Result<(), Closed> {
        let mut s = self.lock();
        while s.items.len() >= self.capacity && !s.closed {
            s.full = true;
            s = self.room.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.closed {
            return Err(Closed);
        }
        s.items.push_back(item);
        let wake = s.items.len() == s.wake_at;
        if wake {
            s.wake_at = 0;
        }
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The thread pushes no more.
    pub(crate) fn finish(&self) {
        self.lock().finished = true;
        self.ready.notify_one();
    }

    /// The task takes no more; a waiting push gives up.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }

    /// Moves the waiting items into `into`: a batch when one is there, otherwise what came once the first item
    /// arrived and the batch did not fill within [`LINGER`]; `false` once the thread finished and nothing is
    /// left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: items are moved only when the future completes.
    pub(crate) async fn take_all(&self, into: &mut VecDeque<T>) -> bool {
        let mut deadline = None;
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                let waiting = s.items.len();
                let lingered = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                if waiting >= self.batch || (waiting > 0 && (s.finished || lingered)) {
                    s.wake_at = 0;
                    self.take_locked(s, into);
                    return true;
                }
                if waiting == 0 && s.finished {
                    return false;
                }
                if waiting == 0 {
                    s.wake_at = 1;
                } else {
                    s.wake_at = self.batch;
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + LINGER);
                }
            }
            match deadline {
                // A stale wake-up (a permit left by an earlier push) only loops once more.
                Some(d) => _ = tokio::time::timeout_at(d, notified).await,
                None => notified.await,
            }
        }
    }

    /// Moves every waiting item into `into` without waiting.
    pub(crate) fn take_ready(&self, into: &mut VecDeque<T>) {
        let s = self.lock();
        self.take_locked(s, into);
    }

    fn take_locked(&self, mut s: MutexGuard<'_, Slots<T>>, into: &mut VecDeque<T>) {
        if into.is_empty() {
            // The buffers trade places: no copy of the items under the lock.
            std::mem::swap(into, &mut s.items);
        } else {
            into.append(&mut s.items);
        }
        let full = std::mem::take(&mut s.full);
        drop(s);
        // Only a thread that waits for room needs waking (a notify is a system call even with no waiter).
        if full {
            self.room.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_arrive_in_order_with_backpressure() {
        let h = Arc::new(Handoff::new(4));
        let p = Arc::clone(&h);
        let producer = std::thread::spawn(move || {
            for i in 0..1000u32 {
                p.push(i).unwrap();
            }
            p.finish();
        });
        let mut got = VecDeque::new();
        let mut seen = Vec::new();
        while h.take_all(&mut got).await {
            assert!(got.len() <= 8);
            seen.extend(got.drain(..));
        }
        producer.join().unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_item_is_not_held_for_a_batch() {
        let h = Arc::new(Handoff::new(256));
        let p = Arc::clone(&h);
        // The thread pushes one item and then reads on, as a source blocked in `next` would: no more items,
        // no finish.
        let (_keep, parked) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            p.push(7).unwrap();
            let _ = parked.recv();
        });
        let mut got = VecDeque::new();
        let taken = tokio::time::timeout(Duration::from_secs(10), h.take_all(&mut got)).await;
        assert_eq!(taken.ok(), Some(true));
        assert_eq!(got, [7]);
    }

    #[tokio::test]
    async fn what_waits_is_taken_at_once() {
        let h = Handoff::new(4);
        for i in 0..6 {
            h.push(i).unwrap();
        }
        let mut got = VecDeque::new();
        assert!(h.take_all(&mut got).await);
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        h.finish();
        got.clear();
        assert!(!h.take_all(&mut got).await);
    }

    #[test]
    fn a_closed_handoff_refuses_a_waiting_push() {
        let h = Arc::new(Handoff::new(1));
        h.push(1).unwrap();
        h.push(2).unwrap();
        let p = Arc::clone(&h);
        let blocked = std::thread::spawn(move || p.push(3));
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.close();
        assert!(blocked.join().unwrap().is_err());
    }
}

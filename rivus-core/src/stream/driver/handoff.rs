//! A bounded hand-off of items from a source's own thread to its stage task.
//!
//! The thread pushes each item as soon as `next` returns it (so an item read after a blocking read is never
//! held back behind the next blocking read), and the task takes everything waiting at once (so a busy source
//! costs one lock per item and one wake-up per batch, not one channel operation per item).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

#[derive(Debug)]
struct Slots<T> {
    items: VecDeque<T>,
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
    capacity: usize,
}

/// The task closed the hand-off: the item was not taken.
#[derive(Debug)]
pub(crate) struct Closed;

impl<T> Handoff<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Mutex::new(Slots {
                items: VecDeque::with_capacity(capacity),
                finished: false,
                closed: false,
            }),
            room: Condvar::new(),
            ready: Notify::new(),
            capacity: capacity.max(1),
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
            s = self.room.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.closed {
            return Err(Closed);
        }
        let was_empty = s.items.is_empty();
        s.items.push_back(item);
        drop(s);
        if was_empty {
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

    /// Moves every waiting item into `into`; `false` once the thread finished and nothing is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: items are moved only when the future completes.
    pub(crate) async fn take_all(&self, into: &mut VecDeque<T>) -> bool {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if !s.items.is_empty() {
                    into.append(&mut s.items);
                    drop(s);
                    self.room.notify_all();
                    return true;
                }
                if s.finished {
                    return false;
                }
            }
            notified.await;
        }
    }

    /// Moves every waiting item into `into` without waiting.
    pub(crate) fn take_ready(&self, into: &mut VecDeque<T>) {
        let mut s = self.lock();
        into.append(&mut s.items);
        drop(s);
        self.room.notify_all();
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
            assert!(got.len() <= 4);
            seen.extend(got.drain(..));
        }
        producer.join().unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_closed_handoff_refuses_a_waiting_push() {
        let h = Arc::new(Handoff::new(1));
        h.push(1).unwrap();
        let p = Arc::clone(&h);
        let blocked = std::thread::spawn(move || p.push(2));
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.close();
        assert!(blocked.join().unwrap().is_err());
    }
}

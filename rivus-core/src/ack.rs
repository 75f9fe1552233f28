//! At-least-once acknowledgements: source positions and their commits.
//!
//! A source that knows where it is (Kafka offsets, a line in a file, a database cursor) says so through two
//! provided methods of its source trait, [`SyncSource::position`](crate::SyncSource::position) /
//! [`AsyncSource::position`](crate::AsyncSource::position) and `commit`. There is no second trait and no second
//! constructor: `Pipeline::from_source` runs every source, and commits for every source that gives positions.
//!
//! The runtime follows each item of such a source (and everything made from it: flat-map outputs, copies for
//! several sinks, the batch or window it joins) to the sinks, and counts it done once every sink has written and
//! flushed it, or the error policy has skipped or dead-lettered it, or a filter dropped it. From these counts it
//! computes the highest position below which *everything* is done — also when a stage with unordered concurrency
//! finishes items out of order — and hands it to `commit`. A crash replays from the last commit: items may be seen
//! twice, never lost. Items that fail a fail-fast run, or are in flight when a run stops or aborts, are never
//! committed.
//!
//! Sources without positions pay nothing: their items carry no tag and nothing is counted.
//!
//! # Examples
//!
//! ```
//! use rivus_core::prelude::*;
//! use rivus_core::ack::Position;
//!
//! /// Reads a vector; "commits" by remembering the offset.
//! struct Log { items: Vec<u32>, next: usize, committed: Option<u64> }
//!
//! impl AsyncSource for Log {
//!     type Out = u32;
//!     async fn next(&mut self) -> Option<Result<u32, PipeError>> {
//!         let item = *self.items.get(self.next)?;
//!         self.next += 1;
//!         Some(Ok(item))
//!     }
//!     fn position(&self) -> Option<Position> {
//!         Some(Position::from(self.next as u64 - 1)) // the offset of the item `next` returned last
//!     }
//!     async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
//!         self.committed = upto.get::<u64>();
//!         Ok(())
//!     }
//! }
//! ```

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// A source position with its type erased: an offset, a line number, a cursor value.
///
/// Integer positions (the common case) are kept inline; others are shared behind an `Arc`, so cloning a
/// position never copies it.
///
/// ```
/// use rivus_core::ack::Position;
///
/// let p = Position::from(41u64);
/// assert_eq!(p.get::<u64>(), Some(41));
/// let q = Position::new(("orders", 3i32, 1200i64));
/// assert_eq!(q.get::<(&str, i32, i64)>(), Some(("orders", 3, 1200)));
/// assert_eq!(q.get::<u64>(), None);
/// ```
#[derive(Clone)]
pub struct Position(Repr);

#[derive(Clone)]
enum Repr {
    U64(u64),
    Other(Arc<dyn Any + Send + Sync>),
}

impl Position {
    /// Wraps any position type.
    pub fn new<P: Clone + Send + Sync + 'static>(position: P) -> Self {
        match (&position as &dyn Any).downcast_ref::<u64>() {
            Some(p) => Self(Repr::U64(*p)),
            None => Self(Repr::Other(Arc::new(position))),
        }
    }

    /// The position as a `P`, or `None` when it is of another type.
    pub fn get<P: Clone + 'static>(&self) -> Option<P> {
        match &self.0 {
            Repr::U64(p) => (p as &dyn Any).downcast_ref::<P>().cloned(),
            Repr::Other(p) => p.downcast_ref::<P>().cloned(),
        }
    }
}

impl From<u64> for Position {
    fn from(p: u64) -> Self {
        Self(Repr::U64(p))
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::U64(p) => f.debug_tuple("Position").field(p).finish(),
            Repr::Other(_) => f.write_str("Position(..)"),
        }
    }
}

/// Which source items a value in flight stands for: nothing (untracked), one item, or several (a batch, a
/// window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    /// One source item.
    One(u64),
    /// Several source items.
    Many(Vec<u64>),
}

impl Tag {
    /// Appends the sequence numbers of `self` to `into`.
    pub(crate) fn extend_into(self, into: &mut Vec<u64>) {
        match self {
            Self::One(s) => into.push(s),
            Self::Many(v) => into.extend(v),
        }
    }
}

/// The shared counts of outstanding work per source item.
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Sequence number of `pending[0]`.
    base: u64,
    /// Outstanding references per item; 0 = done.
    pending: VecDeque<u32>,
}

impl AckTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the next `n` sequence numbers, each with one reference; returns the first.
    pub(crate) fn register(&self, n: usize) -> u64 {
        let mut s = self.lock();
        let first = s.base + s.pending.len() as u64;
        s.pending.extend(std::iter::repeat_n(1, n));
        first
    }

    fn slot(s: &mut State, seq: u64) -> Option<&mut u32> {
        let idx = usize::try_from(seq.checked_sub(s.base)?).ok()?;
        s.pending.get_mut(idx)
    }

    /// Adds `extra` references to every item of `tag` (an output that was copied or fanned out).
    pub(crate) fn retain(&self, tag: &Tag, extra: u32) {
        if extra == 0 {
            return;
        }
        let mut s = self.lock();
        let mut add = |seq: u64| {
            if let Some(c) = Self::slot(&mut s, seq) {
                *c += extra;
            }
        };
        match tag {
            Tag::One(seq) => add(*seq),
            Tag::Many(v) => v.iter().copied().for_each(add),
        }
    }

    /// Drops one reference of every item of every tag.
    pub(crate) fn ack<I: IntoIterator<Item = Tag>>(&self, tags: I) {
        let mut s = self.lock();
        let mut any = false;
        let mut dec = |seq: u64| {
            if let Some(c) = Self::slot(&mut s, seq) {
                *c = c.saturating_sub(1);
                any = true;
            }
        };
        for tag in tags {
            match tag {
                Tag::One(seq) => dec(seq),
                Tag::Many(v) => v.into_iter().for_each(&mut dec),
            }
        }
        if any {
            while s.pending.front() == Some(&0) {
                s.pending.pop_front();
                s.base += 1;
            }
            drop(s);
            self.changed.notify_one();
        }
    }

    /// The lowest sequence number not yet done (everything below it is done).
    pub(crate) fn low_watermark(&self) -> u64 {
        let s = self.lock();
        s.base
    }

    /// `true` when every registered item is done.
    pub(crate) fn all_done(&self) -> bool {
        self.lock().pending.is_empty()
    }

    /// Waits for the next acknowledgement.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_oldest_item() {
        let t = AckTracker::default();
        assert_eq!(t.register(4), 0);
        t.ack([Tag::One(1), Tag::One(2)]);
        assert_eq!(t.low_watermark(), 0);
        t.retain(&Tag::One(0), 1); // fanned out to two sinks
        t.ack([Tag::One(0)]);
        assert_eq!(t.low_watermark(), 0);
        t.ack([Tag::One(0)]);
        assert_eq!(t.low_watermark(), 3);
        t.ack([Tag::Many(vec![3])]);
        assert_eq!(t.low_watermark(), 4);
        assert!(t.all_done());
    }
}

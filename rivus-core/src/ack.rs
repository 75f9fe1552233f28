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
use std::fmt;
use std::sync::Arc;

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

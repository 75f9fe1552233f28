//! The runtime's side of acknowledgements: which source items a value in flight stands for ([`Tag`]), and the
//! shared count of outstanding references per source item ([`AckTracker`]), from which the source task learns
//! the position it may commit. See [`crate::ack`] for the source's side.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

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

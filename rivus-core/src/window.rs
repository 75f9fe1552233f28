//! Windows: group a stream into finite lists of items, by count or by time.
//!
//! | constructor | windows |
//! |---|---|
//! | [`Windows::tumbling_count(n)`](Windows::tumbling_count) | items `0..n`, `n..2n`, … |
//! | [`Windows::sliding_count(size, step)`](Windows::sliding_count) | items `[k·step, k·step + size)`; with `step > size` the items in between belong to no window |
//! | [`Windows::tumbling(d)`](Windows::tumbling) | time `[k·d, (k+1)·d)` |
//! | [`Windows::sliding(size, step)`](Windows::sliding) | time `[k·step, k·step + size)`, any step (also `step > size`) |
//! | [`Windows::session(gap)`](Windows::session) | runs of items with less than `gap` between neighbours |
//!
//! Time is **processing time** (Tokio's clock, counted from the start of the stage) unless
//! [`event_time`](Windows::event_time) gives a timestamp per item. Processing-time windows are closed by timers:
//! a window is emitted when its end passes, also when no further item arrives. Event-time windows are closed by
//! the **watermark**, the highest timestamp seen so far: a window `[s, e)` is emitted once the watermark reaches
//! `e + allowed_lateness`, and an item whose windows are all closed already is *late* and goes to the stage's
//! error policy. When the input ends, every open window is emitted.
//!
//! Windows come out in the order they close (by end, then start); items inside a window keep their arrival
//! order. An item that belongs to several windows (sliding) is cloned into each; an item in no window (the gaps
//! of a sliding window with `step > size`) is dropped and acknowledged.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How to cut a stream into windows; pass it to `Pipeline::window`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rivus_core::window::Windows;
///
/// let by_count = Windows::<u32>::sliding_count(3, 2);
/// let by_time = Windows::<u32>::tumbling(Duration::from_secs(1));
/// let sessions = Windows::<u32>::session(Duration::from_millis(500));
/// # let _ = (by_count, by_time, sessions);
/// ```
pub struct Windows<T> {
    pub(crate) shape: Shape,
    pub(crate) domain: Domain<T>,
    pub(crate) lateness: Duration,
}

impl<T> Clone for Windows<T> {
    fn clone(&self) -> Self {
        Self {
            shape: self.shape,
            domain: self.domain.clone(),
            lateness: self.lateness,
        }
    }
}

impl<T> fmt::Debug for Windows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = match self.domain {
            Domain::Count => "count",
            Domain::Processing => "processing time",
            Domain::Event(_) => "event time",
        };
        f.debug_struct("Windows")
            .field("shape", &self.shape)
            .field("domain", &domain)
            .field("allowed_lateness", &self.lateness)
            .finish()
    }
}

/// A timestamp extractor for event-time windows.
pub(crate) type EventTimeFn<T> = Arc<dyn Fn(&T) -> SystemTime + Send + Sync>;

pub(crate) enum Domain<T> {
    Count,
    Processing,
    Event(EventTimeFn<T>),
}

impl<T> Clone for Domain<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Count => Self::Count,
            Self::Processing => Self::Processing,
            Self::Event(f) => Self::Event(Arc::clone(f)),
        }
    }
}

/// The shape of windows in ticks (items for count windows, nanoseconds for time windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Tumbling(u64),
    Sliding { size: u64, step: u64 },
    Session(u64),
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl<T> Windows<T> {
    /// Windows of `n` consecutive items (at least 1).
    pub fn tumbling_count(n: usize) -> Self {
        Self::count(Shape::Tumbling(n.max(1) as u64))
    }

    /// Windows of `size` items starting every `step` items (both at least 1).
    pub fn sliding_count(size: usize, step: usize) -> Self {
        Self::count(Shape::Sliding {
            size: size.max(1) as u64,
            step: step.max(1) as u64,
        })
    }

    /// Back-to-back windows of `size` (processing time unless [`event_time`](Self::event_time) is set).
    pub fn tumbling(size: Duration) -> Self {
        Self::time(Shape::Tumbling(nanos(size)))
    }

    /// Windows of `size` starting every `step` (processing time unless [`event_time`](Self::event_time)).
    pub fn sliding(size: Duration, step: Duration) -> Self {
        Self::time(Shape::Sliding {
            size: nanos(size),
            step: nanos(step),
        })
    }

    /// Sessions: a window closes once `gap` has passed since its last item.
    pub fn session(gap: Duration) -> Self {
        Self::time(Shape::Session(nanos(gap)))
    }

    fn count(shape: Shape) -> Self {
        Self {
            shape,
            domain: Domain::Count,
            lateness: Duration::ZERO,
        }
    }

    fn time(shape: Shape) -> Self {
        Self {
            shape,
            domain: Domain::Processing,
            lateness: Duration::ZERO,
        }
    }

    /// Uses the timestamp `at(item)` instead of processing time, closing windows by watermark and accepting
    /// items up to `allowed_lateness` behind it. Has no effect on count windows.
    #[must_use]
    pub fn event_time<F>(mut self, at: F, allowed_lateness: Duration) -> Self
    where
        F: Fn(&T) -> SystemTime + Send + Sync + 'static,
    {
        if !matches!(self.domain, Domain::Count) {
            self.domain = Domain::Event(Arc::new(at));
            self.lateness = allowed_lateness;
        }
        self
    }
}

/// Where a window starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowTime {
    /// The index of an item (count windows), counted from 0.
    Index(u64),
    /// Time since the windowing stage started (processing-time windows).
    Elapsed(Duration),
    /// A point in event time.
    Event(SystemTime),
}

/// One closed window: its bounds (`start` inclusive, `end` exclusive) and its items in arrival order.
///
/// For sessions, `end` is the time of the last item plus the gap.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Window<T> {
    /// Inclusive start.
    pub start: WindowTime,
    /// Exclusive end.
    pub end: WindowTime,
    /// The items.
    pub items: Vec<T>,
}

impl<T> Window<T> {
    /// A window from its parts.
    pub fn new(start: WindowTime, end: WindowTime, items: Vec<T>) -> Self {
        Self { start, end, items }
    }
}

/// An open window.
#[derive(Debug)]
struct Open<T> {
    start: u64,
    last: u64,
    items: Vec<T>,
    tags: Vec<u64>,
    /// The ledger weight of the members.
    weight: u64,
}

/// A window that closed, in ticks, with the sequence numbers of its members.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed<T> {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) items: Vec<T>,
    pub(crate) tags: Vec<u64>,
    pub(crate) weight: u64,
}

/// The window state machine, in ticks; the runtime feeds it items and the clock or watermark.
#[derive(Debug)]
pub(crate) struct Engine<T> {
    shape: Shape,
    lateness: u64,
    open: BTreeMap<u64, Open<T>>,
}

impl<T: Clone> Engine<T> {
    pub(crate) fn new(shape: Shape, lateness: Duration) -> Self {
        Self {
            shape,
            lateness: u64::try_from(lateness.as_nanos()).unwrap_or(u64::MAX),
            open: BTreeMap::new(),
        }
    }

    fn end_of(&self, o: &Open<T>) -> u64 {
        match self.shape {
            Shape::Tumbling(size) | Shape::Sliding { size, .. } => o.start.saturating_add(size),
            Shape::Session(gap) => o.last.saturating_add(gap),
        }
    }

    /// The starts of the fixed windows that contain `t`.
    fn starts(&self, t: u64) -> Vec<u64> {
        match self.shape {
            Shape::Tumbling(size) => vec![t - t % size],
            Shape::Sliding { size, step } => {
                let last = t - t % step;
                let mut starts = Vec::new();
                let mut s = last;
                loop {
                    if s.saturating_add(size) > t {
                        starts.push(s);
                    } else {
                        break;
                    }
                    match s.checked_sub(step) {
                        Some(prev) => s = prev,
                        None => break,
                    }
                }
                starts.reverse();
                starts
            }
            Shape::Session(_) => Vec::new(),
        }
    }

    /// Adds `item` at tick `t`, given the current watermark. Returns how many windows took it (0 for an item in
    /// a gap of a sliding window), or gives the item back when all its windows are closed already (late).
    pub(crate) fn push(
        &mut self,
        item: T,
        seqs: &[u64],
        weight: u64,
        t: u64,
        watermark: u64,
    ) -> Result<usize, T> {
        let closed = |end: u64| end.saturating_add(self.lateness) <= watermark && watermark > 0;
        if let Shape::Session(gap) = self.shape {
            if closed(t.saturating_add(gap)) {
                return Err(item);
            }
            let touching: Vec<u64> = self
                .open
                .values()
                .filter(|o| t.saturating_add(gap) > o.start && t < o.last.saturating_add(gap))
                .map(|o| o.start)
                .collect();
            let mut merged = Open {
                start: t,
                last: t,
                items: Vec::new(),
                tags: Vec::new(),
                weight: 0,
            };
            for start in touching {
                if let Some(o) = self.open.remove(&start) {
                    merged.start = merged.start.min(o.start);
                    merged.last = merged.last.max(o.last);
                    merged.items.extend(o.items);
                    merged.tags.extend(o.tags);
                    merged.weight += o.weight;
                }
            }
            merged.items.push(item);
            merged.tags.extend_from_slice(seqs);
            merged.weight += weight;
            self.open.insert(merged.start, merged);
            return Ok(1);
        }
        let size = match self.shape {
            Shape::Tumbling(size) | Shape::Sliding { size, .. } => size,
            Shape::Session(_) => 0,
        };
        let starts: Vec<u64> = self.starts(t);
        if starts.is_empty() {
            return Ok(0);
        }
        let live: Vec<u64> = starts
            .into_iter()
            .filter(|s| !closed(s.saturating_add(size)))
            .collect();
        let Some((&last, rest)) = live.split_last() else {
            return Err(item);
        };
        for &s in rest {
            self.add(s, t, item.clone(), seqs, weight);
        }
        self.add(last, t, item, seqs, weight);
        Ok(rest.len() + 1)
    }

    fn add(&mut self, start: u64, t: u64, item: T, seqs: &[u64], weight: u64) {
        let o = self.open.entry(start).or_insert_with(|| Open {
            start,
            last: t,
            items: Vec::new(),
            tags: Vec::new(),
            weight: 0,
        });
        o.weight += weight;
        o.last = o.last.max(t);
        o.items.push(item);
        o.tags.extend_from_slice(seqs);
    }

    /// When the next window closes (end plus allowed lateness), in ticks.
    pub(crate) fn next_close(&self) -> Option<u64> {
        self.open
            .values()
            .map(|o| self.end_of(o).saturating_add(self.lateness))
            .min()
    }

    /// Closes every window whose end plus allowed lateness is at or before `now`.
    pub(crate) fn close_upto(&mut self, now: u64) -> Vec<Closed<T>> {
        let due: Vec<u64> = self
            .open
            .values()
            .filter(|o| self.end_of(o).saturating_add(self.lateness) <= now)
            .map(|o| o.start)
            .collect();
        self.take(due)
    }

    /// Closes every window.
    pub(crate) fn close_all(&mut self) -> Vec<Closed<T>> {
        let all: Vec<u64> = self.open.keys().copied().collect();
        self.take(all)
    }

    fn take(&mut self, starts: Vec<u64>) -> Vec<Closed<T>> {
        let mut out = Vec::with_capacity(starts.len());
        for s in starts {
            if let Some(o) = self.open.remove(&s) {
                out.push(Closed {
                    start: o.start,
                    end: self.end_of(&o),
                    items: o.items,
                    tags: o.tags,
                    weight: o.weight,
                });
            }
        }
        out.sort_by_key(|c| (c.end, c.start));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(value, tick)` pairs with the watermark rule of count and event-time windows (the highest tick
    /// seen, plus one for count windows) and returns every window's `(start, end, items)`.
    type Windowed = Vec<(u64, u64, Vec<u32>)>;

    fn run(shape: Shape, lateness: u64, count: bool, input: &[(u32, u64)]) -> (Windowed, Vec<u32>) {
        let mut e = Engine::new(shape, Duration::from_nanos(lateness));
        let mut wm = 0;
        let mut out = Vec::new();
        let mut late = Vec::new();
        for &(v, t) in input {
            if e.push(v, &[], 1, t, wm).is_err() {
                late.push(v);
            }
            wm = wm.max(if count { t + 1 } else { t });
            out.extend(e.close_upto(wm));
        }
        out.extend(e.close_all());
        (
            out.into_iter().map(|c| (c.start, c.end, c.items)).collect(),
            late,
        )
    }

    fn counted(n: u32) -> Vec<(u32, u64)> {
        (0..n).map(|i| (i, u64::from(i))).collect()
    }

    #[test]
    fn table() {
        type Case = (
            &'static str,
            Shape,
            u64,
            bool,
            Vec<(u32, u64)>,
            Vec<Vec<u32>>,
            Vec<u32>,
        );
        let cases: Vec<Case> = vec![
            (
                "tumbling count",
                Shape::Tumbling(3),
                0,
                true,
                counted(7),
                vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]],
                vec![],
            ),
            (
                "sliding count overlap",
                Shape::Sliding { size: 3, step: 1 },
                0,
                true,
                counted(4),
                vec![vec![0, 1, 2], vec![1, 2, 3], vec![2, 3], vec![3]],
                vec![],
            ),
            (
                "sliding count step > size",
                Shape::Sliding { size: 2, step: 3 },
                0,
                true,
                counted(8),
                vec![vec![0, 1], vec![3, 4], vec![6, 7]],
                vec![],
            ),
            (
                "event tumbling, late item",
                Shape::Tumbling(10),
                0,
                false,
                vec![(1, 1), (2, 5), (3, 12), (4, 7), (5, 25)],
                vec![vec![1, 2], vec![3], vec![5]],
                vec![4],
            ),
            (
                "event tumbling, allowed lateness",
                Shape::Tumbling(10),
                5,
                false,
                vec![(1, 1), (2, 12), (3, 7), (4, 16), (5, 8)],
                vec![vec![1, 3], vec![2, 4]],
                vec![5],
            ),
            (
                "event sliding step > size",
                Shape::Sliding { size: 5, step: 10 },
                0,
                false,
                vec![(1, 1), (2, 7), (3, 11), (4, 30)],
                vec![vec![1], vec![3], vec![4]],
                vec![],
            ),
            (
                "event session",
                Shape::Session(5),
                0,
                false,
                vec![(1, 1), (2, 3), (3, 20), (4, 22), (5, 40)],
                vec![vec![1, 2], vec![3, 4], vec![5]],
                vec![],
            ),
            (
                "event session merges out of order",
                Shape::Session(5),
                10,
                false,
                vec![(1, 1), (2, 9), (3, 5)],
                vec![vec![1, 2, 3]],
                vec![],
            ),
        ];
        for (name, shape, lateness, count, input, want, want_late) in cases {
            let (got, late) = run(shape, lateness, count, &input);
            let items: Vec<Vec<u32>> = got.into_iter().map(|(_, _, i)| i).collect();
            assert_eq!(items, want, "{name}");
            assert_eq!(late, want_late, "{name}: late items");
        }
    }

    #[test]
    fn bounds_and_next_close() {
        let mut e = Engine::new(Shape::Sliding { size: 10, step: 4 }, Duration::ZERO);
        assert_eq!(e.push(1u8, &[7], 1, 9, 0), Ok(3)); // windows starting 0, 4, 8
        assert_eq!(e.next_close(), Some(10));
        let closed = e.close_upto(10);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].start, closed[0].end, closed[0].tags.clone()),
            (0, 10, vec![7])
        );
        assert_eq!(e.next_close(), Some(14));
    }
}

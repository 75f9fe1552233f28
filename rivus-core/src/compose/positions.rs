//! The positions of a composed source (`source >> pipe`), so that a resumable source keeps its commits.
//!
//! A composed source hands out its pipe's outputs, not its source's items: an input may give no output (a
//! filter), one, or several (a flat-map). The runtime commits the position of the last item below which every
//! item reached an end, and may commit between two `next` calls; so an output that is not the last of its
//! input must not carry its input's position (the outputs after it are not even handed out yet). It carries the
//! position of the input before instead, which every output of that input has passed, and the last output
//! carries its input's own. An input the pipe dropped is covered by the next position handed out, as a row a
//! source leaves out is (see [`SyncSource::take_filtered`](crate::SyncSource::take_filtered)).
//!
//! Each position handed out is a [`Composed`]: the input's number and the source's position (none before the
//! first input). A commit reaches the source once per input, with the source's own position.

use crate::ack::Position;

/// A position of a composed source's output: the source's position after input number `input` (none for the
/// outputs of the first input but its last).
#[derive(Debug, Clone)]
struct Composed {
    input: u64,
    inner: Option<Position>,
}

/// What a composed source knows of its source's positions; see the [module docs](self).
#[derive(Debug, Default)]
pub(super) struct Positions {
    /// The source gives positions: decided by its first item, as the runtime decides.
    tracked: bool,
    /// The inputs read so far.
    inputs: u64,
    /// The source's position of the last input read, and of the one before it.
    current: Option<Position>,
    previous: Option<Position>,
    /// What [`position`](Self::position) says of the item handed out last.
    shown: Option<Composed>,
    /// The input whose position reached the source last.
    committed: u64,
}

impl Positions {
    /// The source gave an item (or an error), at `position`.
    #[inline]
    pub(super) fn read(&mut self, position: Option<Position>) {
        if self.inputs == 0 {
            self.tracked = position.is_some();
        }
        self.inputs += 1;
        if self.tracked {
            self.previous = std::mem::replace(&mut self.current, position);
        }
    }

    /// An item is handed out: `last` when no output of the same input follows it.
    #[inline]
    pub(super) fn hand_out(&mut self, last: bool) {
        if !self.tracked {
            return;
        }
        self.shown = Some(if last {
            Composed {
                input: self.inputs,
                inner: self.current.clone(),
            }
        } else {
            Composed {
                input: self.inputs - 1,
                inner: self.previous.clone(),
            }
        });
    }

    /// The source has no more items: the position after the last input covers the inputs the pipe dropped at
    /// the end; `after` is the source's position when it left rows out after its last item (its prefilter),
    /// which covers them.
    pub(super) fn ended(&mut self, after: Option<Position>) {
        if after.is_some() {
            self.read(after);
        }
        if self.inputs > 0 {
            self.hand_out(true);
        }
    }

    /// The position of the item handed out last, as `SyncSource::position` gives it.
    pub(super) fn position(&self) -> Option<Position> {
        self.shown.clone().map(Position::new)
    }

    /// The source's position to commit for `upto` (a position this gave), once per input; `None` when that
    /// input's was committed already or it has none.
    pub(super) fn commit_of(&mut self, upto: &Position) -> Option<Position> {
        let composed = upto.get::<Composed>()?;
        if composed.input <= self.committed {
            return None;
        }
        self.committed = composed.input;
        composed.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &Option<Position>) -> Option<(u64, Option<u64>)> {
        let c = p.as_ref()?.get::<Composed>()?;
        Some((c.input, c.inner.and_then(|i| i.get::<u64>())))
    }

    #[test]
    fn outputs_but_the_last_carry_the_input_before() {
        let mut p = Positions::default();
        // Input 1 (position 10) gives two outputs, input 2 (20) none, input 3 (30) three.
        p.read(Some(Position::new(10u64)));
        p.hand_out(false);
        assert_eq!(at(&p.position()), Some((0, None)));
        p.hand_out(true);
        assert_eq!(at(&p.position()), Some((1, Some(10))));
        p.read(Some(Position::new(20u64)));
        p.read(Some(Position::new(30u64)));
        p.hand_out(false);
        assert_eq!(at(&p.position()), Some((2, Some(20))));
        p.hand_out(false);
        assert_eq!(at(&p.position()), Some((2, Some(20))));
        p.hand_out(true);
        assert_eq!(at(&p.position()), Some((3, Some(30))));
        p.read(Some(Position::new(40u64)));
        p.ended(None);
        assert_eq!(at(&p.position()), Some((4, Some(40))));
        // Rows the source left out after its last item: the position after them.
        p.ended(Some(Position::new(45u64)));
        assert_eq!(at(&p.position()), Some((5, Some(45))));
    }

    #[test]
    fn each_input_reaches_the_source_once() {
        let mut p = Positions::default();
        p.read(Some(Position::new(10u64)));
        p.hand_out(false);
        let first = p.position().unwrap();
        p.hand_out(true);
        let last = p.position().unwrap();
        p.read(Some(Position::new(20u64)));
        p.hand_out(false);
        let next_first = p.position().unwrap();
        assert!(
            p.commit_of(&first).is_none(),
            "nothing before the first input"
        );
        assert_eq!(p.commit_of(&last).and_then(|i| i.get::<u64>()), Some(10));
        assert!(p.commit_of(&next_first).is_none(), "input 1 again");
        assert!(
            p.commit_of(&Position::new(5u64)).is_none(),
            "not a composed position"
        );
    }

    #[test]
    fn a_source_without_positions_gives_none() {
        let mut p = Positions::default();
        p.read(None);
        p.hand_out(true);
        p.read(None);
        p.ended(None);
        assert!(p.position().is_none());
    }
}

//! The iterator model of a plan: what happens to every item, in source order, if the run went to the end.
//!
//! A stage of the runtime is a *group* here: one pipe added with `pipe_with` or an async pipe, or the sync pipes
//! added one after another with `.pipe()` (fused into one chain when fusion is on: a failure anywhere in the
//! chain fails the chain's input as a whole), or a batch or window with the flat-map back to items.

use std::ops::Range;

use rivus_core::config::ErrorPolicy;

use crate::plan::{Fault, Kind, Plan, Tok};

enum Group {
    Pipe {
        members: Vec<usize>,
        retries: u32,
        policy: ErrorPolicy,
    },
    Regroup,
}

fn groups(plan: &Plan) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut fused: Vec<usize> = Vec::new();
    let close = |fused: &mut Vec<usize>, groups: &mut Vec<Group>| {
        if !fused.is_empty() {
            groups.push(Group::Pipe {
                members: std::mem::take(fused),
                retries: 0,
                policy: plan.policy,
            });
        }
    };
    for (i, s) in plan.stages.iter().enumerate() {
        if plan.grouping.is_some_and(|(at, _)| at == i) {
            close(&mut fused, &mut groups);
            groups.push(Group::Regroup);
        }
        if s.own.is_some() || s.is_async || !plan.fuse {
            close(&mut fused, &mut groups);
            groups.push(Group::Pipe {
                members: vec![i],
                retries: s.retries(),
                policy: plan.stage_policy(s),
            });
        } else {
            fused.push(i);
        }
    }
    close(&mut fused, &mut groups);
    if plan.grouping.is_some_and(|(at, _)| at == plan.stages.len()) {
        groups.push(Group::Regroup);
    }
    groups
}

/// What one sink does with an item that reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SinkFate {
    Written,
    Skipped,
    Letter,
    Fatal,
}

/// One thing that happens to an item, in the order the pipeline meets them.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A stage made this many outputs beyond one.
    Expanded(u64),
    /// A stage made no output for its input; `last` is the last pipe call that dropped something.
    Filtered { last: (usize, Tok) },
    /// A pipe's failure the policy skipped (the pipe and the item it failed on).
    PipeSkipped { member: usize, tok: Tok },
    /// A stage's input went to the dead-letter sink.
    PipeLetter { tok: Tok },
    /// A stage's input failed the run (the pipe and the item it failed on).
    PipeFatal { tok: Tok },
    /// An item reached the sinks.
    Leaf { tok: Tok, sinks: Vec<SinkFate> },
}

impl Event {
    pub(crate) fn is_fatal(&self) -> bool {
        match self {
            Self::PipeFatal { .. } => true,
            Self::Leaf { sinks, .. } => sinks.contains(&SinkFate::Fatal),
            _ => false,
        }
    }
}

/// What an item needs before its source position may be committed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Req {
    Filtered(usize, Tok),
    PipeFailed(usize, Tok),
    /// A letter confirmed by the dead-letter sink: from the sink `Some(j)`, or from a pipe.
    Letter(Option<usize>, Tok),
    Written(usize, Tok),
    SinkFailed(usize, Tok),
    /// It fails the run: never committed.
    Never,
}

/// The counts a run of some events gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) written: Vec<u64>,
    pub(crate) expanded: u64,
    pub(crate) filtered: u64,
    pub(crate) skipped: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) failed: u64,
}

pub(crate) struct Model {
    pub(crate) events: Vec<Event>,
    /// The events of each source item.
    pub(crate) by_src: Vec<Range<usize>>,
    pub(crate) sinks: usize,
}

impl Model {
    pub(crate) fn new(plan: &Plan) -> Self {
        let walker = Walker {
            plan,
            groups: groups(plan),
        };
        let mut events = Vec::new();
        let mut by_src = Vec::with_capacity(plan.n);
        for i in 0..plan.n {
            let start = events.len();
            walker.walk(0, plan.input(i), &mut events);
            by_src.push(start..events.len());
        }
        Self {
            events,
            by_src,
            sinks: plan.sinks.len(),
        }
    }

    /// The events of the first `n` source items.
    pub(crate) fn first(&self, n: usize) -> &[Event] {
        let end = match n.checked_sub(1) {
            Some(last) => self.by_src.get(last).map_or(self.events.len(), |r| r.end),
            None => 0,
        };
        &self.events[..end]
    }

    pub(crate) fn requirements(&self, src: usize) -> Vec<Req> {
        let mut reqs = Vec::new();
        for e in &self.events[self.by_src[src].clone()] {
            match *e {
                Event::Expanded(_) => {}
                Event::Filtered { last } => reqs.push(Req::Filtered(last.0, last.1)),
                Event::PipeSkipped { member, tok } => reqs.push(Req::PipeFailed(member, tok)),
                Event::PipeLetter { tok } => reqs.push(Req::Letter(None, tok)),
                Event::PipeFatal { .. } => reqs.push(Req::Never),
                Event::Leaf { tok, ref sinks } => {
                    for (j, fate) in sinks.iter().enumerate() {
                        reqs.push(match fate {
                            SinkFate::Written => Req::Written(j, tok),
                            SinkFate::Skipped => Req::SinkFailed(j, tok),
                            SinkFate::Letter => Req::Letter(Some(j), tok),
                            SinkFate::Fatal => Req::Never,
                        });
                    }
                }
            }
        }
        reqs
    }

    pub(crate) fn tally(&self, events: &[Event]) -> Tally {
        let mut t = Tally {
            written: vec![0; self.sinks],
            ..Tally::default()
        };
        for e in events {
            match e {
                Event::Expanded(n) => t.expanded += n,
                Event::Filtered { .. } => t.filtered += 1,
                Event::PipeSkipped { .. } => t.skipped += 1,
                Event::PipeLetter { .. } => t.dead_lettered += 1,
                Event::PipeFatal { .. } => t.failed += 1,
                Event::Leaf { sinks, .. } => {
                    t.expanded += self.sinks as u64 - 1;
                    for (j, fate) in sinks.iter().enumerate() {
                        match fate {
                            SinkFate::Written => t.written[j] += 1,
                            SinkFate::Skipped => t.skipped += 1,
                            SinkFate::Letter => t.dead_lettered += 1,
                            SinkFate::Fatal => t.failed += 1,
                        }
                    }
                }
            }
        }
        t
    }

    /// What sink `j` writes of `events`, in order.
    pub(crate) fn written(events: &[Event], j: usize) -> Vec<Tok> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Leaf { tok, sinks } if sinks[j] == SinkFate::Written => Some(*tok),
                _ => None,
            })
            .collect()
    }

    /// The letters of `events`: the sink that sent it (`None`: a pipe) and the item.
    pub(crate) fn letters(events: &[Event]) -> Vec<(Option<usize>, Tok)> {
        let mut letters = Vec::new();
        for e in events {
            match e {
                Event::PipeLetter { tok } => letters.push((None, *tok)),
                Event::Leaf { tok, sinks } => letters.extend(
                    sinks
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| **f == SinkFate::Letter)
                        .map(|(j, _)| (Some(j), *tok)),
                ),
                _ => {}
            }
        }
        letters
    }
}

struct Walker<'a> {
    plan: &'a Plan,
    groups: Vec<Group>,
}

impl Walker<'_> {
    fn walk(&self, g: usize, t: Tok, events: &mut Vec<Event>) {
        let Some(group) = self.groups.get(g) else {
            events.push(self.leaf(t));
            return;
        };
        let (members, retries, policy) = match group {
            Group::Regroup => return self.walk(g + 1, t, events),
            Group::Pipe {
                members,
                retries,
                policy,
            } => (members, *retries, *policy),
        };
        let mut outs = Vec::new();
        let mut dropped = None;
        match self.through(members, retries, t, &mut outs, &mut dropped) {
            Ok(()) if outs.is_empty() => events.push(Event::Filtered {
                last: dropped.unwrap_or((usize::MAX, t)),
            }),
            Ok(()) => {
                if outs.len() > 1 {
                    events.push(Event::Expanded(outs.len() as u64 - 1));
                }
                for o in outs {
                    self.walk(g + 1, o, events);
                }
            }
            Err((member, tok)) => events.push(match policy {
                ErrorPolicy::Skip => Event::PipeSkipped { member, tok },
                ErrorPolicy::DeadLetter => Event::PipeLetter { tok: t },
                _ => Event::PipeFatal { tok },
            }),
        }
    }

    /// Runs `t` through the pipes `members` depth first, as a fused chain does.
    fn through(
        &self,
        members: &[usize],
        retries: u32,
        t: Tok,
        outs: &mut Vec<Tok>,
        dropped: &mut Option<(usize, Tok)>,
    ) -> Result<(), (usize, Tok)> {
        let Some((&m, rest)) = members.split_first() else {
            outs.push(t);
            return Ok(());
        };
        let s = &self.plan.stages[m];
        match s.faults.of(s.salt, t.val, s.kind == Kind::TryMap) {
            Fault::Panic | Fault::Permanent => return Err((m, t)),
            Fault::Transient(n) if n > retries => return Err((m, t)),
            _ => {}
        }
        match s.kind {
            Kind::Map | Kind::TryMap => self.through(rest, retries, s.mapped(t), outs, dropped),
            Kind::Filter if s.keeps(t) => self.through(rest, retries, t, outs, dropped),
            Kind::Filter => {
                *dropped = Some((m, t));
                Ok(())
            }
            Kind::FlatMap => {
                let expanded = s.expand(t);
                if expanded.is_empty() {
                    *dropped = Some((m, t));
                }
                for o in expanded {
                    self.through(rest, retries, o, outs, dropped)?;
                }
                Ok(())
            }
        }
    }

    fn leaf(&self, t: Tok) -> Event {
        let sinks = self
            .plan
            .sinks
            .iter()
            .map(|k| {
                let ok = match k.faults.of(k.salt, t.val, true) {
                    Fault::None => true,
                    Fault::Transient(n) => n <= k.retries,
                    Fault::Panic | Fault::Permanent => false,
                };
                match (ok, self.plan.sink_policy(k)) {
                    (true, _) => SinkFate::Written,
                    (false, ErrorPolicy::Skip) => SinkFate::Skipped,
                    (false, ErrorPolicy::DeadLetter) => SinkFate::Letter,
                    (false, _) => SinkFate::Fatal,
                }
            })
            .collect();
        Event::Leaf { tok: t, sinks }
    }
}

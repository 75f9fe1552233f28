//! What one case runs: a random pipeline, its input, and the faults injected into it.

use std::fmt;

use proptest::option;
use proptest::prelude::*;
use rivus_core::config::ErrorPolicy;

/// One item in flight: the source item it descends from, and a value that makes every item of a run distinct.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tok {
    pub(crate) src: u32,
    pub(crate) val: u64,
}

impl fmt::Debug for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:x}", self.src, self.val)
    }
}

/// splitmix64 of `a` and `b`: every decision of a case is a pure function of the item's value and a salt.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Map,
    Filter,
    FlatMap,
    TryMap,
}

/// Per mille of items that panic, fail permanently, or fail transiently (1 to 3 attempts in a row).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults {
    pub(crate) panic: u16,
    pub(crate) permanent: u16,
    pub(crate) transient: u16,
}

/// What happens to one call on one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Panic,
    Permanent,
    /// The first `n` attempts fail with a transient error.
    Transient(u32),
}

impl Faults {
    /// The fault of the item `val` in the part with `salt`; `fallible` parts can return errors, the others can
    /// only panic.
    pub(crate) fn of(&self, salt: u64, val: u64, fallible: bool) -> Fault {
        let mut f = (mix(val, salt ^ 0xFA17) % 1000) as u16;
        if f < self.panic {
            return Fault::Panic;
        }
        if !fallible {
            return Fault::None;
        }
        f -= self.panic;
        if f < self.permanent {
            return Fault::Permanent;
        }
        f -= self.permanent;
        if f < self.transient {
            return Fault::Transient(1 + (mix(val, salt ^ 0x7) % 3) as u32);
        }
        Fault::None
    }
}

/// A stage's own configuration (added with `pipe_with`).
#[derive(Clone, Debug)]
pub(crate) struct Own {
    pub(crate) concurrency: usize,
    pub(crate) ordered: bool,
    pub(crate) blocking: bool,
    pub(crate) retries: u32,
    pub(crate) on_error: Option<ErrorPolicy>,
}

#[derive(Clone, Debug)]
pub(crate) struct StagePlan {
    pub(crate) kind: Kind,
    pub(crate) is_async: bool,
    /// `None`: added with `.pipe()` (sync pipes fuse with their neighbours).
    pub(crate) own: Option<Own>,
    pub(crate) salt: u64,
    pub(crate) faults: Faults,
}

/// A stage that regroups items and the flat-map back to items after it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Grouping {
    Batch { size: usize, max_wait: bool },
    Window { size: usize },
}

/// The `at`-th flush call (and, if transient, the ones after it, `n` in all) fails.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlushFault {
    pub(crate) at: u32,
    pub(crate) transient: Option<u32>,
}

#[derive(Clone, Debug)]
pub(crate) struct SinkPlan {
    pub(crate) is_async: bool,
    pub(crate) retries: u32,
    pub(crate) on_error: Option<ErrorPolicy>,
    pub(crate) salt: u64,
    pub(crate) faults: Faults,
    pub(crate) flush_fault: Option<FlushFault>,
}

#[derive(Clone, Debug)]
pub(crate) struct DeadLetterPlan {
    pub(crate) is_async: bool,
    /// The `n`-th letter's write fails.
    pub(crate) fail_write_at: Option<u32>,
    /// The `n`-th flush fails.
    pub(crate) fail_flush_at: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Abort {
    /// When the source has yielded this many items.
    AfterRead(usize),
    /// When the sinks have flushed this many items in all.
    AfterWritten(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) n: usize,
    pub(crate) seed: u64,
    pub(crate) policy: ErrorPolicy,
    pub(crate) chunk_size: usize,
    pub(crate) buffer_size: usize,
    pub(crate) fuse: bool,
    pub(crate) source_sync: bool,
    pub(crate) stages: Vec<StagePlan>,
    /// A batch or window before the stage at this index (or at the end).
    pub(crate) grouping: Option<(usize, Grouping)>,
    pub(crate) sinks: Vec<SinkPlan>,
    pub(crate) dead_letter: Option<DeadLetterPlan>,
    /// A stop request once the source has yielded this many items.
    pub(crate) stop_after: Option<usize>,
    pub(crate) abort: Option<Abort>,
}

impl Plan {
    pub(crate) fn input(&self, i: usize) -> Tok {
        Tok {
            src: i as u32,
            val: mix(self.seed, i as u64),
        }
    }

    pub(crate) fn stage_policy(&self, s: &StagePlan) -> ErrorPolicy {
        s.own
            .as_ref()
            .and_then(|o| o.on_error)
            .unwrap_or(self.policy)
    }

    pub(crate) fn sink_policy(&self, s: &SinkPlan) -> ErrorPolicy {
        s.on_error.unwrap_or(self.policy)
    }

    fn needs_dead_letters(&self) -> bool {
        let dl = ErrorPolicy::DeadLetter;
        self.policy == dl
            || self.stages.iter().any(|s| self.stage_policy(s) == dl)
            || self.sinks.iter().any(|s| self.sink_policy(s) == dl)
    }

    /// Whether every concurrent stage keeps the input order (sinks then see the items in source order).
    pub(crate) fn ordered(&self) -> bool {
        self.stages
            .iter()
            .filter_map(|s| s.own.as_ref())
            .all(|o| o.ordered || o.concurrency == 1)
    }

    /// Whether the run can fail for a reason other than an item: a flush that fails for good, or a failing
    /// dead-letter sink.
    pub(crate) fn may_fail_otherwise(&self) -> bool {
        self.sinks.iter().any(|s| {
            s.flush_fault
                .is_some_and(|f| f.transient.is_none_or(|n| n > s.retries))
        }) || self
            .dead_letter
            .as_ref()
            .is_some_and(|d| d.fail_write_at.is_some() || d.fail_flush_at.is_some())
    }
}

fn policy() -> impl Strategy<Value = ErrorPolicy> {
    prop_oneof![
        Just(ErrorPolicy::FailFast),
        Just(ErrorPolicy::Skip),
        Just(ErrorPolicy::DeadLetter)
    ]
}

fn rate() -> impl Strategy<Value = u16> {
    prop_oneof![5 => Just(0u16), 2 => Just(2), 2 => Just(10), 1 => Just(50)]
}

fn faults() -> impl Strategy<Value = Faults> {
    (rate(), rate(), rate()).prop_map(|(panic, permanent, transient)| Faults {
        panic,
        permanent,
        transient,
    })
}

fn own() -> impl Strategy<Value = Own> {
    (
        prop_oneof![Just(1usize), 2..=8usize],
        any::<bool>(),
        any::<bool>(),
        0..=3u32,
        option::of(policy()),
    )
        .prop_map(|(concurrency, ordered, blocking, retries, on_error)| Own {
            concurrency,
            ordered,
            blocking,
            retries,
            on_error,
        })
}

fn stage() -> impl Strategy<Value = StagePlan> {
    (
        prop_oneof![
            Just(Kind::Map),
            Just(Kind::Filter),
            Just(Kind::FlatMap),
            Just(Kind::TryMap)
        ],
        any::<bool>(),
        option::of(own()),
        any::<u64>(),
        faults(),
    )
        .prop_map(|(kind, is_async, own, salt, faults)| StagePlan {
            kind,
            is_async,
            own: own.map(|o| Own {
                blocking: o.blocking && !is_async,
                ..o
            }),
            salt,
            faults,
        })
}

fn grouping() -> impl Strategy<Value = Grouping> {
    prop_oneof![
        (1..=16usize, any::<bool>())
            .prop_map(|(size, max_wait)| Grouping::Batch { size, max_wait }),
        (1..=16usize).prop_map(|size| Grouping::Window { size }),
    ]
}

fn sink() -> impl Strategy<Value = SinkPlan> {
    (
        any::<bool>(),
        0..=3u32,
        option::of(policy()),
        any::<u64>(),
        faults(),
        option::weighted(
            0.15,
            (1..=8u32, option::of(1..=3u32))
                .prop_map(|(at, transient)| FlushFault { at, transient }),
        ),
    )
        .prop_map(
            |(is_async, retries, on_error, salt, faults, flush_fault)| SinkPlan {
                is_async,
                retries,
                on_error,
                salt,
                faults,
                flush_fault,
            },
        )
}

fn dead_letter() -> impl Strategy<Value = DeadLetterPlan> {
    (
        any::<bool>(),
        option::weighted(0.1, 1..=10u32),
        option::weighted(0.1, 1..=5u32),
    )
        .prop_map(|(is_async, fail_write_at, fail_flush_at)| DeadLetterPlan {
            is_async,
            fail_write_at,
            fail_flush_at,
        })
}

fn abort() -> impl Strategy<Value = Abort> {
    prop_oneof![
        (0..=500usize).prop_map(Abort::AfterRead),
        (0..=500usize).prop_map(Abort::AfterWritten),
    ]
}

pub(crate) fn plan() -> impl Strategy<Value = Plan> {
    let shape = (
        0..=500usize,
        any::<u64>(),
        policy(),
        prop_oneof![1..=4usize, 5..=64usize],
        1..=128usize,
        any::<bool>(),
        any::<bool>(),
    );
    let parts = (
        prop::collection::vec(stage(), 1..=4),
        option::weighted(0.4, (0..=4usize, grouping())),
        prop::collection::vec(sink(), 1..=3),
        option::weighted(0.5, dead_letter()),
        option::weighted(0.2, 0..=500usize),
        option::weighted(0.15, abort()),
    );
    (shape, parts).prop_map(
        |(
            (n, seed, policy, chunk_size, buffer_size, fuse, source_sync),
            (stages, grouping, sinks, dead_letter, stop_after, abort),
        )| {
            let mut plan = Plan {
                n,
                seed,
                policy,
                chunk_size,
                buffer_size,
                fuse,
                source_sync,
                grouping: grouping.map(|(at, g)| (at.min(stages.len()), g)),
                stages,
                sinks,
                dead_letter,
                stop_after,
                abort,
            };
            if plan.needs_dead_letters() && plan.dead_letter.is_none() {
                plan.dead_letter = Some(DeadLetterPlan {
                    is_async: seed % 2 == 0,
                    fail_write_at: None,
                    fail_flush_at: None,
                });
            }
            plan
        },
    )
}

impl StagePlan {
    /// A map's (or try-map's) output.
    pub(crate) fn mapped(&self, t: Tok) -> Tok {
        Tok {
            src: t.src,
            val: mix(t.val, self.salt),
        }
    }

    /// Whether a filter keeps `t` (three in four).
    pub(crate) fn keeps(&self, t: Tok) -> bool {
        !mix(t.val, self.salt).is_multiple_of(4)
    }

    /// A flat-map's outputs: none, one or two.
    pub(crate) fn expand(&self, t: Tok) -> Vec<Tok> {
        let n = mix(t.val, self.salt) % 3;
        (0..n)
            .map(|i| Tok {
                src: t.src,
                val: mix(t.val, self.salt.wrapping_add(i + 1)),
            })
            .collect()
    }

    /// Retries of the stage the pipe runs in: its own, or none (a `.pipe()` stage runs with the defaults).
    pub(crate) fn retries(&self) -> u32 {
        self.own.as_ref().map_or(0, |o| o.retries)
    }
}

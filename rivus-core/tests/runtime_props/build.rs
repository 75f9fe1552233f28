//! Builds a plan's pipeline with the real builder. Each stage changes the builder's type (fused sync pipes
//! nest in a `Chain`), so the stages are added by one function per position, each handing on to the next.

use std::sync::Arc;
use std::time::Duration;

use rivus_core::prelude::*;
use rivus_core::stream::{Sinks, SyncTail};

use crate::parts::{
    AsyncDeadLetters, AsyncSinkOf, AsyncSourceOf, AsyncStage, DeadLetters, Shared, Sink, Source,
    SyncDeadLetters, SyncSinkOf, SyncSourceOf, SyncStage,
};
use crate::plan::{Grouping, Tok};

/// One step of the builder.
enum Step {
    Stage(usize),
    Regroup(Grouping),
}

fn steps(shared: &Shared) -> Vec<Step> {
    let plan = &shared.plan;
    let mut steps = Vec::new();
    for i in 0..=plan.stages.len() {
        if let Some((at, g)) = plan.grouping
            && at == i
        {
            steps.push(Step::Regroup(g));
        }
        if i < plan.stages.len() {
            steps.push(Step::Stage(i));
        }
    }
    steps
}

fn retry(retries: u32) -> RetryPolicy {
    RetryPolicy::new(retries).with_initial_delay(Duration::ZERO)
}

fn stage_config(shared: &Shared, s: usize) -> Option<PipeConfig> {
    let st = &shared.plan.stages[s];
    let own = st.own.as_ref()?;
    let mut cfg = PipeConfig::named(format!("s{s}"))
        .with_concurrency(own.concurrency, own.ordered)
        .with_blocking(own.blocking);
    if own.retries > 0 {
        cfg = cfg.with_retry(retry(own.retries));
    }
    if let Some(p) = own.on_error {
        cfg = cfg.with_error_policy(p);
    }
    Some(cfg)
}

struct Build<'a> {
    shared: &'a Arc<Shared>,
    steps: Vec<Step>,
}

macro_rules! position {
    ($name:ident => $next:ident) => {
        fn $name<F>(p: Pipeline<Tok, F>, b: &Build<'_>, i: usize) -> Sinks<Tok>
        where
            F: SyncTail + SyncPipe<In = Tok, Out = Tok>,
        {
            let shared = b.shared;
            match b.steps.get(i) {
                None => finish(p, shared),
                Some(Step::Regroup(Grouping::Batch { size, max_wait })) => {
                    let wait = max_wait.then_some(Duration::from_millis(1));
                    let unbatch = pipe::flat_map(|v: Vec<Tok>| v).named("unbatch");
                    $next(
                        p.batch(*size, wait)
                            .pipe_with(unbatch, PipeConfig::named("unbatch")),
                        b,
                        i + 1,
                    )
                }
                Some(Step::Regroup(Grouping::Window { size })) => {
                    let unwindow = pipe::flat_map(|w: Window<Tok>| w.items).named("unwindow");
                    $next(
                        p.window(Windows::tumbling_count(*size))
                            .pipe_with(unwindow, PipeConfig::named("unwindow")),
                        b,
                        i + 1,
                    )
                }
                Some(Step::Stage(s)) => {
                    let s = *s;
                    match (shared.plan.stages[s].is_async, stage_config(shared, s)) {
                        (false, None) => $next(p.pipe(SyncStage::new(s, shared)), b, i + 1),
                        (false, Some(cfg)) => {
                            $next(p.pipe_with(SyncStage::new(s, shared), cfg), b, i + 1)
                        }
                        (true, None) => $next(p.pipe(AsyncStage::new(s, shared)), b, i + 1),
                        (true, Some(cfg)) => {
                            $next(p.pipe_with(AsyncStage::new(s, shared), cfg), b, i + 1)
                        }
                    }
                }
            }
        }
    };
}

position!(at0 => at1);
position!(at1 => at2);
position!(at2 => at3);
position!(at3 => at4);
position!(at4 => at5);

/// After the last step (at most four stages and a regrouping).
fn at5<F>(p: Pipeline<Tok, F>, b: &Build<'_>, _: usize) -> Sinks<Tok>
where
    F: SyncTail + SyncPipe<In = Tok, Out = Tok>,
{
    finish(p, b.shared)
}

fn sink_config(shared: &Shared, j: usize) -> PipeConfig {
    let k = &shared.plan.sinks[j];
    let mut cfg = PipeConfig::named(format!("k{j}"));
    if k.retries > 0 {
        cfg = cfg.with_retry(retry(k.retries));
    }
    if let Some(p) = k.on_error {
        cfg = cfg.with_error_policy(p);
    }
    cfg
}

fn finish<F>(p: Pipeline<Tok, F>, shared: &Arc<Shared>) -> Sinks<Tok>
where
    F: SyncTail + SyncPipe<In = Tok, Out = Tok>,
{
    let plan = &shared.plan;
    let sink = |j: usize| Sink::new(j, shared);
    let mut sinks = if plan.sinks[0].is_async {
        p.sink_with(AsyncSinkOf(sink(0)), sink_config(shared, 0))
    } else {
        p.sink_with(SyncSinkOf(sink(0)), sink_config(shared, 0))
    };
    for j in 1..plan.sinks.len() {
        sinks = if plan.sinks[j].is_async {
            sinks.sink_with(AsyncSinkOf(sink(j)), sink_config(shared, j))
        } else {
            sinks.sink_with(SyncSinkOf(sink(j)), sink_config(shared, j))
        };
    }
    if let Some(d) = &plan.dead_letter {
        let letters = DeadLetters(Arc::clone(shared));
        let cfg = PipeConfig::named("dead");
        sinks = if d.is_async {
            sinks.dead_letter_with(AsyncDeadLetters(letters), cfg)
        } else {
            sinks.dead_letter_with(SyncDeadLetters(letters), cfg)
        };
    }
    sinks
        .with_config(
            StreamConfig::default()
                .with_chunk_size(plan.chunk_size)
                .with_buffer_size(plan.buffer_size)
                .with_fusion(plan.fuse)
                .with_error_policy(plan.policy)
                // Long: a drain that hangs must fail the case, not turn into an abort.
                .with_shutdown_timeout(Duration::from_secs(300)),
        )
        .shutdown_on(shared.stop.clone())
        .abort_on(shared.abort.clone())
}

/// The plan's pipeline, ready to run.
pub(crate) fn pipeline(shared: &Arc<Shared>) -> Sinks<Tok> {
    let b = Build {
        shared,
        steps: steps(shared),
    };
    let head = if shared.plan.source_sync {
        Pipeline::from_source(SyncSourceOf(Source::new(shared)))
    } else {
        Pipeline::from_source(AsyncSourceOf(Source::new(shared)))
    };
    at0(head, &b, 0)
}

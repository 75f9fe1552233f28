//! The parts of a case's pipeline: pipes built from `pipe::map` & co. with the plan's faults, a source that
//! gives positions and judges every commit when it is made, recording sinks, and a recording dead-letter sink.
//! Everything they see goes into one [`Logs`], so a commit is judged against one consistent moment.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rivus_core::ack::Position;
use rivus_core::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::model::{Model, Req};
use crate::plan::{Abort, Fault, Kind, Plan, StagePlan, Tok, mix};

/// What one sink saw.
#[derive(Debug, Default)]
pub(crate) struct SinkLog {
    /// Written, not yet flushed.
    pub(crate) pending: Vec<Tok>,
    /// Flushed, in order.
    pub(crate) flushed: Vec<Tok>,
    pub(crate) flushed_set: HashSet<Tok>,
    /// Items whose last write attempt failed.
    pub(crate) failed: HashSet<Tok>,
    attempts: HashMap<Tok, u32>,
    flushes: u32,
}

/// A letter: the sink that sent it (`None`: a pipe) and its item.
pub(crate) type LetterKey = (Option<usize>, Option<Tok>);

#[derive(Debug, Default)]
pub(crate) struct Logs {
    /// (pipe, item) pairs a pipe dropped.
    pub(crate) filtered: HashSet<(usize, Tok)>,
    /// (pipe, item) pairs whose last attempt failed.
    pub(crate) pipe_failed: HashSet<(usize, Tok)>,
    attempts: HashMap<(usize, Tok), u32>,
    pub(crate) sinks: Vec<SinkLog>,
    letters_pending: Vec<LetterKey>,
    /// Letters the dead-letter sink flushed.
    pub(crate) letters: Vec<LetterKey>,
    letter_set: HashSet<(Option<usize>, Tok)>,
    letter_writes: u32,
    letter_flushes: u32,
    pub(crate) commits: Vec<u64>,
    pub(crate) violations: Vec<String>,
}

impl Logs {
    fn holds(&self, req: Req) -> bool {
        match req {
            Req::Filtered(m, t) => self.filtered.contains(&(m, t)),
            Req::PipeFailed(m, t) => self.pipe_failed.contains(&(m, t)),
            Req::Letter(j, t) => self.letter_set.contains(&(j, t)),
            Req::Written(j, t) => self.sinks[j].flushed_set.contains(&t),
            Req::SinkFailed(j, t) => self.sinks[j].failed.contains(&t),
            Req::Never => false,
        }
    }
}

/// What every part of one case shares.
pub(crate) struct Shared {
    pub(crate) plan: Plan,
    pub(crate) model: Model,
    logs: Mutex<Logs>,
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
}

impl Shared {
    pub(crate) fn new(plan: Plan) -> Self {
        let model = Model::new(&plan);
        let logs = Logs {
            sinks: (0..plan.sinks.len()).map(|_| SinkLog::default()).collect(),
            ..Logs::default()
        };
        Self {
            plan,
            model,
            logs: Mutex::new(logs),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        }
    }

    pub(crate) fn logs(&self) -> MutexGuard<'_, Logs> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Judges a commit at the moment it is made: every item at or below `upto` must be done by now (written by
    /// every sink, filtered, skipped, or its letter confirmed), and none may be one that fails the run.
    fn judge(&self, upto: u64) {
        let mut logs = self.logs();
        let from = match logs.commits.last() {
            Some(&last) if upto <= last => {
                logs.violations
                    .push(format!("commit {upto} after commit {last}"));
                return;
            }
            Some(&last) => last + 1,
            None => 0,
        };
        for src in from..=upto {
            let Some(src) = usize::try_from(src).ok().filter(|s| *s < self.plan.n) else {
                logs.violations
                    .push(format!("commit {upto} past the last item"));
                break;
            };
            for req in self.model.requirements(src) {
                if !logs.holds(req) {
                    let so_far = format!("{:?}", logs.commits);
                    logs.violations.push(format!(
                        "commit {upto} when item {src} was not done: {req:?} (commits so far {so_far})"
                    ));
                }
            }
        }
        logs.commits.push(upto);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Pipes

/// The behaviour of the plan's pipe `s`: its faults, its function, and what it records.
#[derive(Clone)]
struct Behaviour {
    s: usize,
    shared: Arc<Shared>,
}

impl Behaviour {
    fn stage(&self) -> &StagePlan {
        &self.shared.plan.stages[self.s]
    }

    /// One attempt on `t`: fails (or panics) as the plan says, recording the item's last failed attempt.
    fn attempt(&self, t: Tok) -> Result<(), PipeError> {
        let st = self.stage();
        let fault = st.faults.of(st.salt, t.val, st.kind == Kind::TryMap);
        let mut logs = self.shared.logs();
        match fault {
            Fault::None => Ok(()),
            Fault::Panic => {
                logs.pipe_failed.insert((self.s, t));
                drop(logs);
                panic!("injected panic on {t:?} in s{}", self.s);
            }
            Fault::Permanent => {
                logs.pipe_failed.insert((self.s, t));
                Err(PipeError::msg(format!("injected failure of {t:?}")))
            }
            Fault::Transient(n) => {
                let a = logs.attempts.entry((self.s, t)).or_default();
                *a += 1;
                let a = *a;
                if a > n {
                    return Ok(());
                }
                if a == st.retries() + 1 {
                    logs.pipe_failed.insert((self.s, t));
                }
                Err(PipeError::transient(
                    "",
                    format!("injected transient failure {a}/{n} of {t:?}"),
                ))
            }
        }
    }

    /// For pipes that cannot return errors: their only fault is a panic.
    fn attempt_infallible(&self, t: Tok) {
        if let Err(e) = self.attempt(t) {
            unreachable!("an infallible pipe failed: {e}");
        }
    }

    fn try_map(&self, t: Tok) -> Result<Tok, PipeError> {
        self.attempt(t)?;
        Ok(self.stage().mapped(t))
    }

    fn map(&self, t: Tok) -> Tok {
        self.attempt_infallible(t);
        self.stage().mapped(t)
    }

    fn keep(&self, t: Tok) -> bool {
        self.attempt_infallible(t);
        let keep = self.stage().keeps(t);
        if !keep {
            self.shared.logs().filtered.insert((self.s, t));
        }
        keep
    }

    fn expand(&self, t: Tok) -> Vec<Tok> {
        self.attempt_infallible(t);
        let out = self.stage().expand(t);
        if out.is_empty() {
            self.shared.logs().filtered.insert((self.s, t));
        }
        out
    }

    /// Lets other tasks run a few times, differently for each item, so concurrent calls finish out of order.
    async fn pause(&self, t: Tok) {
        for _ in 0..mix(t.val, self.stage().salt ^ 0x11) % 3 {
            tokio::task::yield_now().await;
        }
    }
}

type MapFn = Box<dyn Fn(Tok) -> Tok + Send + Sync>;
type FilterFn = Box<dyn Fn(&Tok) -> bool + Send + Sync>;
type FlatFn = Box<dyn Fn(Tok) -> Vec<Tok> + Send + Sync>;
type TryFn = Box<dyn Fn(Tok) -> Result<Tok, PipeError> + Send + Sync>;

/// A sync pipe of the plan: one of the library's closure pipes.
pub(crate) enum SyncStage {
    Map(pipe::Map<MapFn, Tok>),
    Filter(pipe::Filter<FilterFn, Tok>),
    FlatMap(pipe::FlatMap<FlatFn, Tok>),
    TryMap(pipe::TryMap<TryFn, Tok>),
}

impl SyncStage {
    pub(crate) fn new(s: usize, shared: &Arc<Shared>) -> Self {
        let b = Behaviour {
            s,
            shared: Arc::clone(shared),
        };
        let name = format!("s{s}");
        match b.stage().kind {
            Kind::Map => Self::Map(pipe::map(Box::new(move |t| b.map(t)) as MapFn).named(name)),
            Kind::Filter => Self::Filter(
                pipe::filter(Box::new(move |t: &Tok| b.keep(*t)) as FilterFn).named(name),
            ),
            Kind::FlatMap => {
                Self::FlatMap(pipe::flat_map(Box::new(move |t| b.expand(t)) as FlatFn).named(name))
            }
            Kind::TryMap => {
                Self::TryMap(pipe::try_map(Box::new(move |t| b.try_map(t)) as TryFn).named(name))
            }
        }
    }
}

impl SyncPipe for SyncStage {
    type In = Tok;
    type Out = Tok;
    fn process(&self, input: Tok) -> Result<Tok, PipeError> {
        match self {
            Self::Map(p) => p.process(input),
            Self::Filter(p) => p.process(input),
            Self::FlatMap(p) => p.process(input),
            Self::TryMap(p) => p.process(input),
        }
    }
    fn process_each<E: Emit<Tok>>(&self, input: Tok, out: &mut E) -> Result<(), PipeError> {
        match self {
            Self::Map(p) => p.process_each(input, out),
            Self::Filter(p) => p.process_each(input, out),
            Self::FlatMap(p) => p.process_each(input, out),
            Self::TryMap(p) => p.process_each(input, out),
        }
    }
    fn name(&self) -> Cow<'static, str> {
        match self {
            Self::Map(p) => p.name(),
            Self::Filter(p) => p.name(),
            Self::FlatMap(p) => p.name(),
            Self::TryMap(p) => p.name(),
        }
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type AsyncMapFn = Box<dyn Fn(Tok) -> BoxFut<Tok> + Send + Sync>;
type AsyncFilterFn = Box<dyn Fn(&Tok) -> BoxFut<bool> + Send + Sync>;
type AsyncFlatFn = Box<dyn Fn(Tok) -> BoxFut<Vec<Tok>> + Send + Sync>;
type AsyncTryFn = Box<dyn Fn(Tok) -> BoxFut<Result<Tok, PipeError>> + Send + Sync>;

/// An async pipe of the plan: one of the library's `async_` closure pipes.
pub(crate) enum AsyncStage {
    Map(pipe::AsyncMap<AsyncMapFn, Tok>),
    Filter(pipe::AsyncFilter<AsyncFilterFn, Tok>),
    FlatMap(pipe::AsyncFlatMap<AsyncFlatFn, Tok>),
    TryMap(pipe::AsyncTryMap<AsyncTryFn, Tok>),
}

impl AsyncStage {
    pub(crate) fn new(s: usize, shared: &Arc<Shared>) -> Self {
        let b = Behaviour {
            s,
            shared: Arc::clone(shared),
        };
        let name = format!("s{s}");
        match b.stage().kind {
            Kind::Map => Self::Map(
                pipe::async_map(Box::new(move |t| {
                    let b = b.clone();
                    Box::pin(async move {
                        b.pause(t).await;
                        b.map(t)
                    }) as BoxFut<Tok>
                }) as AsyncMapFn)
                .named(name),
            ),
            Kind::Filter => Self::Filter(
                pipe::async_filter(Box::new(move |t: &Tok| {
                    let (b, t) = (b.clone(), *t);
                    Box::pin(async move {
                        b.pause(t).await;
                        b.keep(t)
                    }) as BoxFut<bool>
                }) as AsyncFilterFn)
                .named(name),
            ),
            Kind::FlatMap => Self::FlatMap(
                pipe::async_flat_map(Box::new(move |t| {
                    let b = b.clone();
                    Box::pin(async move {
                        b.pause(t).await;
                        b.expand(t)
                    }) as BoxFut<Vec<Tok>>
                }) as AsyncFlatFn)
                .named(name),
            ),
            Kind::TryMap => Self::TryMap(
                pipe::async_try_map(Box::new(move |t| {
                    let b = b.clone();
                    Box::pin(async move {
                        b.pause(t).await;
                        b.try_map(t)
                    }) as BoxFut<Result<Tok, PipeError>>
                }) as AsyncTryFn)
                .named(name),
            ),
        }
    }
}

impl AsyncPipe for AsyncStage {
    type In = Tok;
    type Out = Tok;
    async fn process(&self, input: Tok) -> Result<Tok, PipeError> {
        match self {
            Self::Map(p) => p.process(input).await,
            Self::Filter(p) => p.process(input).await,
            Self::FlatMap(p) => p.process(input).await,
            Self::TryMap(p) => p.process(input).await,
        }
    }
    async fn process_each<E: Emit<Tok> + Send>(
        &self,
        input: Tok,
        out: &mut E,
    ) -> Result<(), PipeError> {
        match self {
            Self::Map(p) => p.process_each(input, out).await,
            Self::Filter(p) => p.process_each(input, out).await,
            Self::FlatMap(p) => p.process_each(input, out).await,
            Self::TryMap(p) => p.process_each(input, out).await,
        }
    }
    fn name(&self) -> Cow<'static, str> {
        match self {
            Self::Map(p) => p.name(),
            Self::Filter(p) => p.name(),
            Self::FlatMap(p) => p.name(),
            Self::TryMap(p) => p.name(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The source

/// Yields the plan's items with their index as position; requests the plan's stop or abort after its item.
pub(crate) struct Source {
    next: usize,
    shared: Arc<Shared>,
}

impl Source {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        Self {
            next: 0,
            shared: Arc::clone(shared),
        }
    }

    fn requests(&self, yielded: usize) {
        let plan = &self.shared.plan;
        if plan.stop_after == Some(yielded) {
            self.shared.stop.cancel();
        }
        if matches!(plan.abort, Some(Abort::AfterRead(k)) if k == yielded)
            || matches!(plan.abort, Some(Abort::AfterWritten(0)) if yielded == 0)
        {
            self.shared.abort.cancel();
        }
    }

    fn open(&mut self) {
        self.requests(0);
    }

    fn next(&mut self) -> Option<Tok> {
        if self.next >= self.shared.plan.n {
            return None;
        }
        let t = self.shared.plan.input(self.next);
        self.next += 1;
        self.requests(self.next);
        Some(t)
    }

    fn position(&self) -> Option<Position> {
        self.next.checked_sub(1).map(|p| Position::from(p as u64))
    }

    fn commit(&self, upto: &Position) -> Result<(), PipeError> {
        let upto = upto
            .get::<u64>()
            .ok_or_else(|| PipeError::msg("a position of another type"))?;
        self.shared.judge(upto);
        Ok(())
    }
}

pub(crate) struct AsyncSourceOf(pub(crate) Source);

impl AsyncSource for AsyncSourceOf {
    type Out = Tok;
    async fn next(&mut self) -> Option<Result<Tok, PipeError>> {
        if self.0.next % 7 == 3 {
            tokio::task::yield_now().await;
        }
        self.0.next().map(Ok)
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    async fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.0.commit(&upto)
    }
    async fn open(&mut self) -> Result<(), PipeError> {
        self.0.open();
        Ok(())
    }
}

pub(crate) struct SyncSourceOf(pub(crate) Source);

impl SyncSource for SyncSourceOf {
    type Out = Tok;
    fn next(&mut self) -> Option<Result<Tok, PipeError>> {
        self.0.next().map(Ok)
    }
    fn position(&self) -> Option<Position> {
        self.0.position()
    }
    fn commit(&mut self, upto: Position) -> Result<(), PipeError> {
        self.0.commit(&upto)
    }
    fn open(&mut self) -> Result<(), PipeError> {
        self.0.open();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sinks

/// The plan's sink `j`: fails writes and flushes as the plan says; an item counts as flushed once a `flush`
/// after its `write` returned `Ok`.
pub(crate) struct Sink {
    j: usize,
    shared: Arc<Shared>,
}

impl Sink {
    pub(crate) fn new(j: usize, shared: &Arc<Shared>) -> Self {
        Self {
            j,
            shared: Arc::clone(shared),
        }
    }

    fn write(&self, t: Tok) -> Result<(), PipeError> {
        let k = &self.shared.plan.sinks[self.j];
        let fault = k.faults.of(k.salt, t.val, true);
        let mut logs = self.shared.logs();
        let log = &mut logs.sinks[self.j];
        let a = log.attempts.entry(t).or_default();
        *a += 1;
        let a = *a;
        match fault {
            Fault::None => {
                log.pending.push(t);
                Ok(())
            }
            Fault::Panic => {
                log.failed.insert(t);
                drop(logs);
                panic!("injected panic writing {t:?} to k{}", self.j);
            }
            Fault::Permanent => {
                log.failed.insert(t);
                Err(PipeError::msg(format!("injected write failure of {t:?}")))
            }
            Fault::Transient(n) if a > n => {
                log.pending.push(t);
                Ok(())
            }
            Fault::Transient(n) => {
                if a == k.retries + 1 {
                    log.failed.insert(t);
                }
                Err(PipeError::transient(
                    "",
                    format!("injected transient write failure {a}/{n} of {t:?}"),
                ))
            }
        }
    }

    fn flush(&self) -> Result<(), PipeError> {
        let k = &self.shared.plan.sinks[self.j];
        let mut logs = self.shared.logs();
        let log = &mut logs.sinks[self.j];
        log.flushes += 1;
        let call = log.flushes;
        if let Some(f) = k.flush_fault {
            match f.transient {
                None if call == f.at => return Err(PipeError::msg("injected flush failure")),
                Some(n) if call >= f.at && call < f.at + n => {
                    return Err(PipeError::transient("", "injected transient flush failure"));
                }
                _ => {}
            }
        }
        let done = std::mem::take(&mut log.pending);
        log.flushed_set.extend(done.iter().copied());
        log.flushed.extend(done);
        let total: usize = logs.sinks.iter().map(|s| s.flushed.len()).sum();
        if matches!(self.shared.plan.abort, Some(Abort::AfterWritten(k)) if total >= k) {
            self.shared.abort.cancel();
        }
        Ok(())
    }
}

pub(crate) struct AsyncSinkOf(pub(crate) Sink);

impl AsyncSink for AsyncSinkOf {
    type In = Tok;
    async fn write(&mut self, t: Tok) -> Result<(), PipeError> {
        if t.val.is_multiple_of(5) {
            tokio::task::yield_now().await;
        }
        self.0.write(t)
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
}

pub(crate) struct SyncSinkOf(pub(crate) Sink);

impl SyncSink for SyncSinkOf {
    type In = Tok;
    fn write(&mut self, t: Tok) -> Result<(), PipeError> {
        self.0.write(t)
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
}

/// The dead-letter sink: a letter counts once a `flush` after its `write` returned `Ok`.
pub(crate) struct DeadLetters(pub(crate) Arc<Shared>);

impl DeadLetters {
    fn write(&self, letter: &DeadLetter) -> Result<(), PipeError> {
        let plan = &self.0.plan;
        let mut logs = self.0.logs();
        logs.letter_writes += 1;
        if plan
            .dead_letter
            .as_ref()
            .and_then(|d| d.fail_write_at)
            .is_some_and(|at| at == logs.letter_writes)
        {
            return Err(PipeError::msg("injected dead-letter write failure"));
        }
        let sink = (0..plan.sinks.len()).find(|j| letter.pipe() == format!("k{j}"));
        logs.letters_pending
            .push((sink, letter.item::<Tok>().copied()));
        Ok(())
    }

    fn flush(&self) -> Result<(), PipeError> {
        let plan = &self.0.plan;
        let mut logs = self.0.logs();
        logs.letter_flushes += 1;
        if plan
            .dead_letter
            .as_ref()
            .and_then(|d| d.fail_flush_at)
            .is_some_and(|at| at == logs.letter_flushes)
        {
            return Err(PipeError::msg("injected dead-letter flush failure"));
        }
        let done = std::mem::take(&mut logs.letters_pending);
        for (sink, item) in &done {
            if let Some(t) = item {
                logs.letter_set.insert((*sink, *t));
            }
        }
        logs.letters.extend(done);
        Ok(())
    }
}

pub(crate) struct AsyncDeadLetters(pub(crate) DeadLetters);

impl AsyncSink for AsyncDeadLetters {
    type In = DeadLetter;
    async fn write(&mut self, letter: DeadLetter) -> Result<(), PipeError> {
        self.0.write(&letter)
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
}

pub(crate) struct SyncDeadLetters(pub(crate) DeadLetters);

impl SyncSink for SyncDeadLetters {
    type In = DeadLetter;
    fn write(&mut self, letter: DeadLetter) -> Result<(), PipeError> {
        self.0.write(&letter)
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
}

//! The stream form: a pipeline whose outputs come as a [`Stream`] to the caller instead of going to sinks
//! (Rivusio's `async for item in pipeline.stream(source)`), and [`process`]/[`StreamPipe::stream`] to run a
//! pipe over a source that way.
//!
//! The consumer is the pipeline's terminal: an item counts as written (and is acknowledged) when the stream
//! yields it. Dropping the stream stops the pipeline; what it had not yielded is not processed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::task::JoinHandle;

use super::Item;
use super::builder::{Pipeline, PipelineError, Settings};
use super::channel::{self, ChunkRx, MetaIter};
use super::coordinator::{self, Terminal};
use super::parts::{IntoSource, IntoStage};
use super::state::{Run, TerminalGuard};
use super::wiring::Head;
use crate::error::PipeError;
use crate::metrics::{RunReport, StageKind, StageStats};

/// The outputs of a running pipeline as a [`Stream`]; see [`Pipeline::into_stream`].
pub struct PipelineStream<T> {
    rx: ChunkRx<T>,
    items: std::vec::IntoIter<T>,
    metas: Option<MetaIter>,
    run: Arc<Run>,
    stats: Arc<StageStats>,
    task: JoinHandle<Result<RunReport, PipelineError>>,
    terminal: Option<TerminalGuard>,
    finished: bool,
}

impl<T> fmt::Debug for PipelineStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineStream")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<T: Item> PipelineStream<T> {
    /// Starts the pipeline ending in `head` on a task of its own, with the stream as its terminal.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub(crate) fn start(settings: Settings, head: Head<T>) -> Self {
        let (tx, rx) = channel::channel(
            settings.cfg.buffer_size.get(),
            settings.cfg.chunk_size.get(),
        );
        let run = coordinator::prepare(&settings);
        // Listed after the stages it follows, once they are wired.
        let stats = Arc::new(StageStats::new(
            &run.cfg.name,
            "stream".to_owned(),
            StageKind::Sink,
            rx.depth(),
        ));
        let terminal = Some(run.terminal());
        let task = tokio::spawn(coordinator::execute(
            Arc::clone(&run),
            settings,
            head,
            Terminal::Stream(tx, Arc::clone(&stats)),
            None,
        ));
        Self {
            rx,
            items: Vec::new().into_iter(),
            metas: None,
            run,
            stats,
            task,
            terminal,
            finished: false,
        }
    }
}

// No field is ever pinned: the stream only moves values out of its buffers.
impl<T> Unpin for PipelineStream<T> {}

impl<T> Stream for PipelineStream<T> {
    type Item = Result<T, PipeError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.items.next() {
                if let Some(meta) = this.metas.as_mut().and_then(Iterator::next) {
                    this.stats.add_out(meta.weight);
                    this.run.tracker.ack(meta.tag);
                }
                return Poll::Ready(Some(Ok(item)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            if this.terminal.is_some() {
                match this.rx.poll_recv(cx) {
                    Poll::Ready(Some(chunk)) => {
                        let len = chunk.len();
                        this.stats.add_in(chunk.weight());
                        this.items = chunk.items.into_iter();
                        this.metas = Some(chunk.meta.into_items(len));
                        continue;
                    }
                    Poll::Ready(None) => {
                        this.terminal = None;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            return match Pin::new(&mut this.task).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(result) => {
                    this.finished = true;
                    match result {
                        Ok(Ok(_)) => Poll::Ready(None),
                        Ok(Err(e)) => Poll::Ready(Some(Err(e.into_pipe_error()))),
                        Err(e) => Poll::Ready(Some(Err(PipeError::from(e)))),
                    }
                }
            };
        }
    }
}

impl<T> Drop for PipelineStream<T> {
    fn drop(&mut self) {
        if !self.finished {
            // What the consumer did not take is not processed; the rest of the pipeline stops where it is.
            let mut left = self.metas.take().map_or(0, |m| m.rest().0);
            left += self.rx.close_and_drain();
            self.stats.add_not_processed(left);
            self.run.fail(
                usize::MAX,
                PipeError::msg("the pipeline's stream was dropped before its end"),
            );
        }
        self.terminal = None;
    }
}

/// Rivusio's form: runs `pipe` over `source` and gives the outputs as a [`Stream`] (see
/// [`Pipeline::into_stream`]; also available as the method [`StreamPipe::stream`]).
///
/// # Panics
///
/// Outside a Tokio runtime.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use rivus_core::prelude::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let p = pipe::map(|x: u32| x + 1) >> pipe::filter(|x: &u32| x % 2 == 0);
/// let mut out = p.stream(source::iter(0..6u32));
/// let mut seen = Vec::new();
/// while let Some(item) = out.next().await {
///     seen.push(item.unwrap());
/// }
/// assert_eq!(seen, [2, 4, 6]);
/// # });
/// ```
pub fn process<P, MP, S, MS>(pipe: P, source: S) -> PipelineStream<P::Out>
where
    P: IntoStage<MP>,
    S: IntoSource<MS, Out = P::In>,
{
    Pipeline::start(pipe.into_stage(source.into_head(None), None)).into_stream()
}

/// `pipe.stream(source)`: [`process`] as a method of every pipe.
pub trait StreamPipe<M>: IntoStage<M> + Sized {
    /// Runs `self` over `source`; see [`process`].
    fn stream<S, MS>(self, source: S) -> PipelineStream<Self::Out>
    where
        S: IntoSource<MS, Out = Self::In>,
    {
        process(self, source)
    }
}

impl<P: IntoStage<M>, M> StreamPipe<M> for P {}

//! Turning a built pipeline file into a runnable [`Pipeline`](crate::stream::Pipeline).

use std::borrow::Cow;

use super::build::{BuiltPipeline, PipeStage, SinkStage, SourceStage};
use crate::compose::PipeExt;
use crate::config::PipeConfig;
use crate::dynamic::{BoxAsyncSink, BoxSyncPipe, BoxSyncSink};
use crate::error::PipeError;
use crate::pipe::{AsyncSink, SyncSink};
use crate::stream::{DeadLetter, Pipeline, Sinks};
use crate::value::{Record, Value};

/// Adjacent sync transforms of a file, fused into one [`Chain`](crate::compose::Chain) (the chain `>>` and the
/// runtime build), boxed again at each link.
fn fuse(pipes: Vec<BoxSyncPipe<Record, Record>>) -> Option<BoxSyncPipe<Record, Record>> {
    pipes
        .into_iter()
        .reduce(|chain, next| BoxSyncPipe::new(chain.then(next)))
}

/// A dead letter as a record: `{ "pipe", "error", "kind", "record" }`, where `record` holds the failed record's
/// fields (null for a bad source item, which never became a record).
pub fn dead_letter_record(letter: &DeadLetter) -> Record {
    let mut record = Record::with_capacity(4);
    record.insert("pipe", letter.pipe());
    record.insert("error", letter.error().to_string());
    record.insert("kind", letter.error().kind().to_string());
    let item = letter.item::<Record>().map_or(Value::Null, Record::to_json);
    record.insert("record", item);
    record
}

/// A sink of records used as the dead-letter sink.
struct DeadLetters<S>(S);

impl SyncSink for DeadLetters<BoxSyncSink<Record>> {
    type In = DeadLetter;
    fn write(&mut self, letter: DeadLetter) -> Result<(), PipeError> {
        self.0.write(dead_letter_record(&letter))
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush()
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }
    fn open(&mut self) -> Result<(), PipeError> {
        self.0.open()
    }
    fn close(&mut self) -> Result<(), PipeError> {
        self.0.close()
    }
}

impl AsyncSink for DeadLetters<BoxAsyncSink<Record>> {
    type In = DeadLetter;
    async fn write(&mut self, letter: DeadLetter) -> Result<(), PipeError> {
        self.0.write(dead_letter_record(&letter)).await
    }
    async fn flush(&mut self) -> Result<(), PipeError> {
        self.0.flush().await
    }
    fn name(&self) -> Cow<'static, str> {
        self.0.name()
    }
    async fn open(&mut self) -> Result<(), PipeError> {
        self.0.open().await
    }
    async fn close(&mut self) -> Result<(), PipeError> {
        self.0.close().await
    }
}

/// The stage's `runtime` options, named after the stage.
fn named(runtime: PipeConfig, name: &str) -> PipeConfig {
    PipeConfig {
        name: Some(runtime.name.clone().unwrap_or_else(|| name.to_owned())),
        ..runtime
    }
}

impl BuiltPipeline {
    /// The runnable pipeline: adjacent sync transforms with default runtime options run fused in one stage;
    /// every async transform, and every transform with its own `runtime` options, is a stage of its own.
    pub fn into_pipeline(self) -> Sinks<Record> {
        let Self {
            config,
            source,
            transforms,
            sinks,
            dead_letter,
            ..
        } = self;
        let source_cfg = named(source.runtime, &source.name);
        let mut pipeline: Pipeline<Record> = match source.stage {
            SourceStage::Sync(s) => Pipeline::from_source_with(s, source_cfg),
            SourceStage::Async(s) => Pipeline::from_source_with(s, source_cfg),
        }
        .with_config(config);
        let mut fused: Vec<BoxSyncPipe<Record, Record>> = Vec::new();
        for t in transforms {
            let own_runtime = t.runtime != PipeConfig::default();
            match t.stage {
                PipeStage::Sync(p) if !own_runtime => fused.push(p),
                stage => {
                    if let Some(chain) = fuse(std::mem::take(&mut fused)) {
                        pipeline = pipeline.pipe_with(chain, PipeConfig::default());
                    }
                    let cfg = named(t.runtime, &t.name);
                    pipeline = match stage {
                        PipeStage::Sync(p) => pipeline.pipe_with(p, cfg),
                        PipeStage::Async(p) => pipeline.pipe_with(p, cfg),
                    };
                }
            }
        }
        if let Some(chain) = fuse(fused) {
            pipeline = pipeline.pipe_with(chain, PipeConfig::default());
        }
        let mut sinks = sinks.into_iter();
        let mut out = match sinks.next() {
            Some(first) => {
                let cfg = named(first.runtime, &first.name);
                match first.stage {
                    SinkStage::Sync(s) => pipeline.sink_with(s, cfg),
                    SinkStage::Async(s) => pipeline.sink_with(s, cfg),
                }
            }
            // `PipelineFile::parse` rejects files without sinks; a pipeline built by hand still runs.
            None => pipeline.sink(crate::stream::sink::discard()),
        };
        for s in sinks {
            let cfg = named(s.runtime, &s.name);
            out = match s.stage {
                SinkStage::Sync(k) => out.sink_with(k, cfg),
                SinkStage::Async(k) => out.sink_with(k, cfg),
            };
        }
        if let Some(dl) = dead_letter {
            let cfg = named(dl.runtime, &dl.name);
            out = match dl.stage {
                SinkStage::Sync(k) => out.dead_letter_with(DeadLetters(k), cfg),
                SinkStage::Async(k) => out.dead_letter_with(DeadLetters(k), cfg),
            };
        }
        out
    }
}

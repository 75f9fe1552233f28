//! Turning a built pipeline file into a runnable [`Pipeline`](crate::stream::Pipeline).

use std::borrow::Cow;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;

use super::build::{BuiltPipeline, PipeStage, SinkStage, SourceStage};
use super::{BuiltinStage, SinkRoute, StageKind, sources};
use crate::compose::PipeExt;
use crate::config::PipeConfig;
use crate::dynamic::{BoxAsyncSink, BoxSyncPipe, BoxSyncSink};
use crate::error::{InputError, PipeError};
use crate::pipe::{AsyncSink, SyncSink};
use crate::stream::{DeadLetter, Pipeline, Sinks};
use crate::value::{Record, Value};
use crate::window::Window;

/// Adjacent sync transforms of a file, fused into one [`Chain`](crate::compose::Chain) (the chain `>>` and the
/// runtime build), boxed again at each link.
fn fuse(pipes: Vec<BoxSyncPipe<Record, Record>>) -> Option<BoxSyncPipe<Record, Record>> {
    pipes
        .into_iter()
        .reduce(|chain, next| BoxSyncPipe::new(chain.then(next)))
}

/// A dead letter as a record: `{ "pipe", "error", "kind", "record" }`, where `record` holds the failed record's
/// fields (null for a bad source item, which never became a record).
///
/// A bad source item whose error is an [`InputError`] adds where it was and what it was, so that it can be
/// fixed and replayed: `file`, `line`, `column`, `field` (each when known; secrets masked in `error` and `file`,
/// see [`secrets`](crate::secrets)), and the raw input as `input` (its
/// text) or, when it is not UTF-8, `input_base64` (standard base64), with `input_truncated: true` when the input
/// was longer than the source's bound and only its start is kept.
pub fn dead_letter_record(letter: &DeadLetter) -> Record {
    let mut record = Record::with_capacity(4);
    record.insert("pipe", letter.pipe());
    record.insert(
        "error",
        crate::secrets::redact(&letter.error().to_string()).into_owned(),
    );
    record.insert("kind", letter.error().kind().to_string());
    let item = letter.item::<Record>().map_or(Value::Null, Record::to_json);
    record.insert("record", item);
    add_input(&mut record, letter.error());
    record
}

/// Adds where a bad source item was and its raw input (see [`dead_letter_record`]).
fn add_input(record: &mut Record, error: &PipeError) {
    let Some(input) = InputError::find(error) else {
        return;
    };
    let at = &input.location;
    if let Some(file) = &at.file {
        // A path may hold a `${VAR}` value (`path = "${DATA}/orders.csv"`), masked as in `error`; the raw input is
        // data, not configuration, and stays as it was.
        record.insert("file", crate::secrets::redact(file).into_owned());
    }
    if let Some(line) = at.line {
        record.insert("line", line);
    }
    if let Some(column) = at.column {
        record.insert("column", column);
    }
    if let Some(field) = &at.field {
        record.insert("field", field.as_str());
    }
    if let Some(raw) = &input.raw {
        match std::str::from_utf8(&raw.bytes) {
            Ok(text) => record.insert("input", text),
            Err(_) => record.insert("input_base64", BASE64_STANDARD.encode(&raw.bytes)),
        };
        if raw.truncated {
            record.insert("input_truncated", true);
        }
    }
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

/// Adds a built-in stage (see [`super::stages`]): its checks join the fused sync transforms before it, then the
/// window or batch, then the pipe that turns each window or batch into its records.
fn add_stage(
    pipeline: Pipeline<Record>,
    fused: &mut Vec<BoxSyncPipe<Record, Record>>,
    stage: BuiltinStage,
) -> Pipeline<Record> {
    fused.push(BoxSyncPipe::new(stage.checks()));
    let mut pipeline = pipeline;
    if let Some(chain) = fuse(std::mem::take(fused)) {
        pipeline = pipeline.pipe_with(chain, PipeConfig::default());
    }
    let summary = stage.summary();
    let cfg = PipeConfig::named(format!("{}.aggregate", stage.name));
    match &stage.kind {
        StageKind::Window(w) => pipeline.window(BuiltinStage::windows(w)).pipe_with(
            crate::pipe::flat_map(move |w: Window<Record>| summary.window(w)),
            cfg,
        ),
        StageKind::Batch(b) => pipeline.batch(b.size, b.max_wait).pipe_with(
            crate::pipe::flat_map(move |b: Vec<Record>| summary.batch(b)),
            cfg,
        ),
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
    /// The runnable pipeline: the source, or `[[sources]]` merged (each record tagged with its source's name);
    /// adjacent sync transforms with default runtime options run fused in one stage, every async transform and
    /// every transform with its own `runtime` options a stage of its own; the sinks with their routes.
    pub fn into_pipeline(self) -> Sinks<Record> {
        let Self {
            config,
            sources,
            named_sources,
            transforms,
            sinks,
            routes,
            dead_letter,
            stages,
            ..
        } = self;
        let mut stages = stages.into_iter().peekable();
        let mut pipeline: Option<Pipeline<Record>> = None;
        for source in sources {
            let source_cfg = named(source.runtime, &source.name);
            let one: Pipeline<Record> = match source.stage {
                SourceStage::Sync(s) => Pipeline::from_source_with(s, source_cfg),
                SourceStage::Async(s) => Pipeline::from_source_with(s, source_cfg),
            };
            let one = if named_sources {
                one.pipe_with(sources::tag(source.name.clone()), PipeConfig::default())
            } else {
                one
            };
            pipeline = Some(match pipeline {
                None => one,
                Some(merged) => merged.merge(one),
            });
        }
        // `PipelineFile::parse` rejects files without a source; a pipeline built by hand still runs.
        let mut pipeline = pipeline
            .unwrap_or_else(|| Pipeline::from_iter(Vec::<Record>::new()))
            .with_config(config);
        let mut fused: Vec<BoxSyncPipe<Record, Record>> = Vec::new();
        for (i, t) in transforms.into_iter().enumerate() {
            while let Some(stage) = stages.next_if(|s| s.after <= i) {
                pipeline = add_stage(pipeline, &mut fused, stage);
            }
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
        for stage in stages {
            pipeline = add_stage(pipeline, &mut fused, stage);
        }
        if let Some(chain) = fuse(fused) {
            pipeline = pipeline.pipe_with(chain, PipeConfig::default());
        }
        let mut out = pipeline.into_sinks();
        let mut routes = routes.into_iter();
        if sinks.is_empty() {
            // `PipelineFile::parse` rejects files without sinks; a pipeline built by hand still runs.
            out = out.sink(crate::stream::sink::discard());
        }
        for s in sinks {
            let cfg = named(s.runtime, &s.name);
            out = match (routes.next().unwrap_or(SinkRoute::All), s.stage) {
                (SinkRoute::All, SinkStage::Sync(k)) => out.sink_with(k, cfg),
                (SinkRoute::All, SinkStage::Async(k)) => out.sink_with(k, cfg),
                (SinkRoute::When(c), SinkStage::Sync(k)) => {
                    out.sink_when_with(k, cfg, SinkRoute::predicate(c, s.name))
                }
                (SinkRoute::When(c), SinkStage::Async(k)) => {
                    out.sink_when_with(k, cfg, SinkRoute::predicate(c, s.name))
                }
                (SinkRoute::Otherwise, SinkStage::Sync(k)) => out.sink_otherwise_with(k, cfg),
                (SinkRoute::Otherwise, SinkStage::Async(k)) => out.sink_otherwise_with(k, cfg),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;

    #[test]
    fn a_bad_source_item_keeps_its_place_and_raw_input() {
        let at = Location::file("in.csv").line(3).column(2).field("b");
        let error = PipeError::permanent(
            "csv",
            InputError::new(at, "not valid UTF-8").with_raw(b"6,\xff".to_vec()),
        );
        let mut record = Record::new();
        add_input(&mut record, &error);
        assert_eq!(
            record.field_names().collect::<Vec<_>>(),
            ["file", "line", "column", "field", "input_base64"]
        );
        assert_eq!(record.get("input_base64").unwrap(), "Niz/");
        assert_eq!(record.get("line").unwrap(), 3);

        let error = PipeError::permanent(
            "jsonl",
            InputError::new(Location::file("in.jsonl").line(9), "too long")
                .with_truncated_raw(b"{\"a\":".to_vec()),
        );
        let mut record = Record::new();
        add_input(&mut record, &error);
        assert_eq!(record.get("input").unwrap(), "{\"a\":");
        assert_eq!(record.get("input_truncated").unwrap(), true);

        let mut record = Record::new();
        add_input(&mut record, &PipeError::msg("no input error"));
        assert!(record.is_empty());
    }
}

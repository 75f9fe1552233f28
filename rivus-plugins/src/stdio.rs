//! Standard input and output: [`stdin`] reads lines or JSON lines, [`stdout`] writes JSON lines or one field
//! per line. Errors name `<stdin>` and the line.

use std::io::BufWriter;

use rivus_core::PipeError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::jsonl::{JsonlSink, JsonlSource, JsonlSourceConfig};
use crate::lines::{LinesSink, LinesSinkConfig, LinesSource, LinesSourceConfig};

/// The text format on stdin or stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line (the default).
    #[default]
    Jsonl,
    /// Plain text, one record per line in the field `field`.
    Lines,
}

fn default_field() -> String {
    "line".to_owned()
}

const fn default_max_record_bytes() -> usize {
    crate::input::default_max_record_bytes()
}

/// Configuration of the `stdin` source and the `stdout` sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdioConfig {
    /// `jsonl` or `lines`. Default: `jsonl`.
    #[serde(default)]
    pub format: Format,
    /// With `lines`: the field that holds (or gives) each line. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
    /// `stdin`: the longest line read, in bytes; a longer line is a located error for the error policy, and
    /// reading goes on with the next line. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

impl Default for StdioConfig {
    fn default() -> Self {
        Self {
            format: Format::default(),
            field: default_field(),
            max_record_bytes: default_max_record_bytes(),
        }
    }
}

/// Reads records from standard input, as JSON lines or as plain lines.
#[rivus_core::sync_source("stdin", config = StdioConfig)]
pub struct StdinSource(StdinInner);

/// The reader behind [`StdinSource`].
enum StdinInner {
    Jsonl(JsonlSource),
    Lines(LinesSource),
}

/// The source of standard input in `config`'s format.
pub fn stdin(config: &StdioConfig) -> StdinSource {
    let reader = Box::new(std::io::stdin());
    match config.format {
        Format::Jsonl => {
            let mut jsonl = JsonlSourceConfig::new("<stdin>");
            jsonl.max_record_bytes = config.max_record_bytes;
            StdinSource(StdinInner::Jsonl(JsonlSource::from_reader(
                jsonl, "<stdin>", reader,
            )))
        }
        Format::Lines => {
            let mut lines = LinesSourceConfig::new("<stdin>");
            lines.field.clone_from(&config.field);
            lines.max_record_bytes = config.max_record_bytes;
            StdinSource(StdinInner::Lines(LinesSource::from_reader(
                lines, "<stdin>", reader,
            )))
        }
    }
}

impl From<StdioConfig> for StdinSource {
    fn from(config: StdioConfig) -> Self {
        stdin(&config)
    }
}

impl rivus_core::SyncSource for StdinSource {
    type Out = rivus_core::value::Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "stdin".into()
    }

    fn open(&mut self) -> Result<(), PipeError> {
        match &mut self.0 {
            StdinInner::Jsonl(s) => s.open(),
            StdinInner::Lines(s) => s.open(),
        }
        .map_err(named_stdin)
    }

    fn next(&mut self) -> Option<Result<Self::Out, PipeError>> {
        match &mut self.0 {
            StdinInner::Jsonl(s) => s.next(),
            StdinInner::Lines(s) => s.next(),
        }
        .map(|r| r.map_err(named_stdin))
    }

    fn close(&mut self) -> Result<(), PipeError> {
        match &mut self.0 {
            StdinInner::Jsonl(s) => s.close(),
            StdinInner::Lines(s) => s.close(),
        }
        .map_err(named_stdin)
    }
}

/// Writes records to standard output, as JSON lines or as plain lines.
#[rivus_core::sync_sink("stdout", config = StdioConfig)]
pub struct StdoutSink(StdoutInner);

/// The writer behind [`StdoutSink`].
enum StdoutInner {
    Jsonl(JsonlSink),
    Lines(LinesSink),
}

/// The sink of standard output in `config`'s format.
pub fn stdout(config: &StdioConfig) -> StdoutSink {
    let writer = Box::new(BufWriter::new(std::io::stdout()));
    match config.format {
        Format::Jsonl => StdoutSink(StdoutInner::Jsonl(JsonlSink::from_writer(writer))),
        Format::Lines => {
            let mut lines = LinesSinkConfig::new("<stdout>");
            lines.field.clone_from(&config.field);
            StdoutSink(StdoutInner::Lines(LinesSink::from_writer(lines, writer)))
        }
    }
}

impl From<StdioConfig> for StdoutSink {
    fn from(config: StdioConfig) -> Self {
        stdout(&config)
    }
}

impl rivus_core::SyncSink for StdoutSink {
    type In = rivus_core::value::Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "stdout".into()
    }

    fn write(&mut self, item: Self::In) -> Result<(), PipeError> {
        match &mut self.0 {
            StdoutInner::Jsonl(s) => s.write(item),
            StdoutInner::Lines(s) => s.write(item),
        }
        .map_err(closed_by_reader)
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match &mut self.0 {
            StdoutInner::Jsonl(s) => s.flush(),
            StdoutInner::Lines(s) => s.flush(),
        }
        .map_err(closed_by_reader)
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.flush()
    }
}

/// An error of the reader behind [`StdinSource`], named as the plugin the pipeline file names (`stdin`, not the
/// `jsonl` or `lines` reader it wraps).
fn named_stdin(e: PipeError) -> PipeError {
    e.with_pipe("stdin")
}

/// An error of the writer behind [`StdoutSink`]: named `stdout` (not the `jsonl` or `lines` writer it wraps).
/// A write into a pipe whose reader has gone (`rivus run x.toml | head -2`) is permanent: retrying cannot bring
/// the reader back. The error keeps an `io::Error` of kind `BrokenPipe` in its chain, which the `rivus` command
/// looks for to end such a run quietly, as Unix tools do.
fn closed_by_reader(e: PipeError) -> PipeError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cause {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return PipeError::permanent(
                "stdout",
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "standard output was closed by its reader (broken pipe)",
                ),
            );
        }
        cause = err.source();
    }
    e.with_pipe("stdout")
}

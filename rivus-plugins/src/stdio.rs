//! Standard input and output: [`stdin`] reads lines or JSON lines, [`stdout`] writes JSON lines or one field
//! per line. Errors name `<stdin>` and the line.

use std::io::{BufReader, BufWriter};

use rivus_core::PipeError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::jsonl::{JsonlSink, JsonlSource};
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

/// Configuration of the `stdin` source and the `stdout` sink.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdioConfig {
    /// `jsonl` or `lines`. Default: `jsonl`.
    #[serde(default)]
    pub format: Format,
    /// With `lines`: the field that holds (or gives) each line. Default: `line`.
    #[serde(default = "default_field")]
    pub field: String,
}

/// A source of records read from standard input: a [`JsonlSource`] or a [`LinesSource`].
pub enum StdinSource {
    /// `format = "jsonl"`.
    Jsonl(JsonlSource),
    /// `format = "lines"`.
    Lines(LinesSource),
}

/// The source of standard input in `config`'s format.
pub fn stdin(config: &StdioConfig) -> StdinSource {
    let reader = Box::new(BufReader::new(std::io::stdin()));
    match config.format {
        Format::Jsonl => StdinSource::Jsonl(JsonlSource::from_reader("<stdin>", reader)),
        Format::Lines => StdinSource::Lines(LinesSource::from_reader(
            LinesSourceConfig {
                path: "<stdin>".into(),
                field: config.field.clone(),
                skip_empty: false,
            },
            "<stdin>",
            reader,
        )),
    }
}

impl rivus_core::SyncSource for StdinSource {
    type Out = rivus_core::value::Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "stdin".into()
    }

    fn next(&mut self) -> Option<Result<Self::Out, PipeError>> {
        match self {
            Self::Jsonl(s) => s.next(),
            Self::Lines(s) => s.next(),
        }
    }
}

/// A sink of records written to standard output: a [`JsonlSink`] or a [`LinesSink`].
pub enum StdoutSink {
    /// `format = "jsonl"`.
    Jsonl(JsonlSink),
    /// `format = "lines"`.
    Lines(LinesSink),
}

/// The sink of standard output in `config`'s format.
pub fn stdout(config: &StdioConfig) -> StdoutSink {
    let writer = Box::new(BufWriter::new(std::io::stdout()));
    match config.format {
        Format::Jsonl => StdoutSink::Jsonl(JsonlSink::from_writer(writer)),
        Format::Lines => StdoutSink::Lines(LinesSink::from_writer(
            LinesSinkConfig {
                path: "-".into(),
                field: config.field.clone(),
            },
            writer,
        )),
    }
}

impl rivus_core::SyncSink for StdoutSink {
    type In = rivus_core::value::Record;

    fn name(&self) -> std::borrow::Cow<'static, str> {
        "stdout".into()
    }

    fn write(&mut self, item: Self::In) -> Result<(), PipeError> {
        match self {
            Self::Jsonl(s) => s.write(item),
            Self::Lines(s) => s.write(item),
        }
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        match self {
            Self::Jsonl(s) => s.flush(),
            Self::Lines(s) => s.flush(),
        }
    }

    fn close(&mut self) -> Result<(), PipeError> {
        self.flush()
    }
}

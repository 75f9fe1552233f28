//! Pipeline files: a pipeline described in TOML by plugin names.
//!
//! ```toml
//! [pipeline]
//! name = "orders"
//!
//! [source]
//! plugin = "csv"
//! path = "${DATA_DIR:-examples/data}/orders.csv"
//!
//! [[transforms]]
//! plugin = "filter"
//! field = "status"
//! op = "eq"
//! value = "paid"
//! runtime = { concurrency = 2 }    # the stage's PipeConfig
//!
//! [[sinks]]
//! plugin = "jsonl"
//! path = "out/orders.jsonl"
//! ```
//!
//! Each plugin table holds `plugin` (the registered name), optionally `name` (how the stage is called in
//! reports) and `runtime` (its [`PipeConfig`]), and the plugin's own options, which the plugin's configuration
//! type checks. `${VAR}` and `${VAR:-default}` in string values are replaced from the environment (`$${` writes a
//! literal `${`). A value that comes from the environment is a secret, shown as `***` in every error and log
//! line, unless `[pipeline] public_env` lists its variable (see [`secrets`](crate::secrets)); a default
//! written in the file is not. A string where an option takes a number or a boolean is read as one, so that
//! `count = "${N:-2}"` gives a number.
//!
//! Every error points into the file: [`ConfigError`] carries the file, line and column and the field path
//! (`transforms[1].op`), whether the TOML is malformed, a field is unknown or of the wrong type, or a plugin
//! rejects an option.

mod aggregate;
mod build;
mod env;
mod limits;
mod locate;
mod origin;
pub mod pushdown;
mod resume;
mod route;
mod run;
mod sources;
mod stages;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use aggregate::Aggregates;
pub use build::{Built, BuiltPipeline, PipeStage, SinkStage, SourceStage};
pub use env::interpolate;
pub use limits::{MAX_DEPTH, MAX_STAGES};
pub use locate::{FieldPath, Segment};
pub use origin::{FilePosition, Origin};
pub use route::SinkRoute;
pub use run::dead_letter_record;
pub use sources::SOURCE_FIELD;
pub use stages::{
    BUILTIN_STAGES, BatchOptions, BuiltinStage, StageKind, WindowKind, WindowOptions,
    builtin_description, builtin_schema,
};

use crate::config::PipeConfig;
use crate::registry::OptionError;

/// An error in a pipeline file, located at file, line, column and field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The field path, e.g. `transforms[1].op`; empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// The error as shown: every secret (see [`secrets`](crate::secrets)) masked.
    fn render(&self) -> String {
        crate::secrets::redact(&self.render_plain()).into_owned()
    }

    fn render_plain(&self) -> String {
        let mut out = self.file.clone();
        if self.line > 0 {
            out.push_str(&format!(":{}:{}", self.line, self.column));
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&format!("`{}`: ", self.path));
        }
        out.push_str(&self.message);
        out
    }
}

/// The text of a pipeline file, for locating errors in it.
#[derive(Debug, Clone)]
pub struct SourceText {
    name: String,
    text: String,
}

impl SourceText {
    /// Text named `name` in errors (usually its path).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Reads `path`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file when it cannot be read.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Ok(Self { name, text })
    }

    /// The name used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// An error at `path`, located at the key or value the path names (or the nearest enclosing one).
    pub fn error_at(&self, path: &FieldPath, message: impl Into<String>) -> ConfigError {
        let (line, column) =
            locate::span_of(&self.text, path).map_or((0, 0), |offset| self.line_column(offset));
        ConfigError {
            file: self.name.clone(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// An error at a byte offset, with a field path.
    pub fn error_at_offset(
        &self,
        offset: usize,
        path: &FieldPath,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.line_column(offset);
        ConfigError {
            file: self.name.clone(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// Deserializes the whole text into `T`, with located errors.
    ///
    /// # Errors
    ///
    /// The first error, at its line and column, with its field path.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let deserializer = toml::Deserializer::parse(&self.text)
            .map_err(|e| self.toml_error(&FieldPath::root(), e))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = FieldPath::from_serde(e.path());
            self.toml_error(&path, e.into_inner())
        })
    }

    fn toml_error(&self, path: &FieldPath, err: toml::de::Error) -> ConfigError {
        let message = err.message().trim_end().to_owned();
        match err.span() {
            // toml's span of a field is the whole table for some errors: prefer the path's own key when the
            // path is longer than the span's table.
            Some(span) if !path.is_empty() && locate::span_of(&self.text, path).is_some() => {
                let offset = locate::span_of(&self.text, path).unwrap_or(span.start);
                self.error_at_offset(offset, path, message)
            }
            Some(span) => self.error_at_offset(span.start, path, message),
            None => self.error_at(path, message),
        }
    }
}

/// One plugin's table in a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PluginTable {
    /// The registered plugin name.
    pub plugin: String,
    /// The stage's name in reports and metrics. Default: the plugin name.
    #[serde(default)]
    pub name: Option<String>,
    /// How the runtime runs this stage: a [`PipeConfig`] table, with `${VAR}` replaced (typed, as in the
    /// plugin's options); read it with [`PluginTable::runtime_config`]. Kept as a table so that `${VAR}` can
    /// give a number (`concurrency = "${WORKERS}"`) before the table is typed.
    #[serde(default)]
    pub runtime: Option<toml::Table>,
    /// The plugin's own options.
    #[serde(flatten)]
    pub options: toml::Table,
}

/// The `[pipeline]` table. Keys other than `name` are the runtime's options, checked by the runtime's own
/// configuration type (which rejects unknown ones).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PipelineOptions {
    /// The pipeline's name. Default: the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// The environment variables whose values are not secret: shown as they are in errors, logs and summaries.
    /// The value of every other `${VAR}` is shown as `***` (see [`secrets`](crate::secrets)).
    #[serde(default)]
    pub public_env: Vec<String>,
    /// Whether the sources are told which fields the pipeline reads and the condition of a `filter` right
    /// after them, so that they build no more than that (see [`pushdown`]). Default: `true`.
    #[serde(default = "pushdown_default")]
    pub pushdown: bool,
    /// Runtime options (buffer, batching, windows, retry, error policy), read by the runtime.
    #[serde(flatten)]
    pub runtime: toml::Table,
}

const fn pushdown_default() -> bool {
    true
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            name: None,
            public_env: Vec::new(),
            pushdown: pushdown_default(),
            runtime: toml::Table::new(),
        }
    }
}

/// A config unit test: `[[tests]]` feeds `input` records through the transforms and expects `expect`, and
/// optionally the dead letters the error policy makes (`expect_dead_letters`) or the error that stops them
/// (`expect_error`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// The test's name.
    pub name: String,
    /// Input records, as TOML tables.
    pub input: Vec<toml::Table>,
    /// The records the transforms must give, in order. Default: none.
    #[serde(default)]
    pub expect: Vec<toml::Table>,
    /// The dead letters the transforms must make, in order (under an `on_error = "dead_letter"` policy). A
    /// test without it fails on any dead letter. Default: none.
    #[serde(default)]
    pub expect_dead_letters: Vec<ExpectedDeadLetter>,
    /// The transforms must fail (under a `fail_fast` policy) with an error whose message contains this text;
    /// `expect` then lists the records written before the failure. Default: they must not fail.
    #[serde(default)]
    pub expect_error: Option<String>,
    /// For routed sinks: sink name → the records (of `expect`) that sink must take, in order. Sinks not named
    /// are not checked; `unrouted` names the records no sink takes.
    #[serde(default)]
    pub routes: Option<toml::Table>,
}

/// A dead letter a `[[tests]]` case expects.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDeadLetter {
    /// The record that failed, as it entered the failing transform. Default: not checked.
    #[serde(default)]
    pub record: Option<toml::Table>,
    /// Text the error's message must contain.
    pub error: String,
}

/// A pipeline file as written, before plugins are looked up.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDoc {
    /// `[pipeline]`: name and runtime options.
    #[serde(default)]
    pub pipeline: PipelineOptions,
    /// `[source]`: the one source (or `[[sources]]`).
    #[serde(default)]
    pub source: Option<PluginTable>,
    /// `[[sources]]`: several sources, merged; each record gets the field [`SOURCE_FIELD`] (`_source`) with its
    /// source's name (the table's `name`, or its plugin's).
    #[serde(default)]
    pub sources: Vec<PluginTable>,
    /// `[[transforms]]`, in order.
    #[serde(default)]
    pub transforms: Vec<PluginTable>,
    /// `[[sinks]]`: every record goes to each of them, or, with `when` and `otherwise`, to the routes it
    /// takes (see [`SinkRoute`]).
    pub sinks: Vec<PluginTable>,
    /// `[dead_letter]`: where the `dead_letter` error policy sends bad records.
    #[serde(default)]
    pub dead_letter: Option<PluginTable>,
    /// `[[tests]]`.
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

/// A parsed pipeline file: the document and its text (for locating later errors).
#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The text.
    pub source: SourceText,
    /// The document, with `${ENV}` replaced (and `when`/`otherwise` taken out of the sink tables).
    pub doc: PipelineDoc,
    /// Each sink's route, in the order of `[[sinks]]`.
    pub routes: Vec<SinkRoute>,
}

impl PipelineFile {
    /// Reads and parses `path`, replacing `${ENV}` references from the process environment.
    ///
    /// # Errors
    ///
    /// A located [`ConfigError`]: unreadable file, malformed TOML, unknown or mistyped field, missing
    /// environment variable, no sinks.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let source = SourceText::read(path)?;
        Self::parse(path, source, &|name| std::env::var(name).ok())
    }

    /// Parses `source`, taking `${VAR}` values from `env`.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn parse(
        path: &Path,
        source: SourceText,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        if let Some(offset) = limits::too_deep(source.text(), MAX_DEPTH) {
            return Err(source.error_at_offset(
                offset,
                &FieldPath::root(),
                format!("tables and arrays nest more than {MAX_DEPTH} levels deep here"),
            ));
        }
        let mut doc: PipelineDoc = source.deserialize()?;
        for (what, count) in [
            ("transforms", doc.transforms.len()),
            ("sinks", doc.sinks.len()),
        ] {
            if count > MAX_STAGES {
                return Err(source.error_at(
                    &FieldPath::root().key(what).index(MAX_STAGES).key("plugin"),
                    format!(
                        "a pipeline has at most {MAX_STAGES} `[[{what}]]`; this file has {count}"
                    ),
                ));
            }
        }
        if doc.sinks.is_empty() {
            return Err(source.error_at(
                &FieldPath::root().key("sinks"),
                "a pipeline needs at least one `[[sinks]]`",
            ));
        }
        sources::check(&doc, &source)?;
        let mut tables: Vec<(FieldPath, &mut PluginTable)> = Vec::new();
        if let Some(t) = doc.source.as_mut() {
            tables.push((FieldPath::root().key("source"), t));
        }
        for (i, t) in doc.sources.iter_mut().enumerate() {
            tables.push((FieldPath::root().key("sources").index(i), t));
        }
        for (i, t) in doc.transforms.iter_mut().enumerate() {
            tables.push((FieldPath::root().key("transforms").index(i), t));
        }
        for (i, t) in doc.sinks.iter_mut().enumerate() {
            tables.push((FieldPath::root().key("sinks").index(i), t));
        }
        if let Some(t) = doc.dead_letter.as_mut() {
            tables.push((FieldPath::root().key("dead_letter"), t));
        }
        let public = doc.pipeline.public_env.clone();
        let env = &|name: &str| {
            let value = env(name);
            if let Some(value) = &value
                && !public.iter().any(|p| p == name)
            {
                crate::secrets::register(value);
            }
            value
        };
        let runtime = (doc.pipeline.runtime.iter_mut())
            .map(|(key, value)| (FieldPath::root().key("pipeline").key(key), value));
        let options = tables.into_iter().flat_map(|(path, table)| {
            let runtime_path = path.clone().key("runtime");
            let runtime = (table.runtime.iter_mut().flatten())
                .map(move |(key, value)| (runtime_path.clone().key(key), value));
            (table.options.iter_mut())
                .map(move |(key, value)| (path.clone().key(key), value))
                .chain(runtime)
        });
        for (at, value) in runtime.chain(options) {
            if let Some((inner, f)) = limits::non_finite(value) {
                return Err(source.error_at(
                    &at.join(&inner),
                    format!(
                        "`{}` is not a number any option takes: give a finite number",
                        limits::toml_float(f)
                    ),
                ));
            }
            interpolate(value, env)
                .map_err(|(inner, message)| source.error_at(&at.join(&inner), message))?;
        }
        // Each stage's `runtime`, typed now that its `${VAR}`s are replaced: a mistake is a parse error.
        for (path, table) in doc.plugin_tables() {
            table
                .runtime_config()
                .map_err(|e| source.error_at(&path.key("runtime").join(&e.path), e.message()))?;
        }
        let routes = route::take_routes(&mut doc.sinks, &source)?;
        Ok(Self {
            path: path.to_path_buf(),
            source,
            doc,
            routes,
        })
    }

    /// The pipeline's name: `[pipeline] name`, or the file's stem.
    pub fn name(&self) -> String {
        self.doc.pipeline.name.clone().unwrap_or_else(|| {
            self.path.file_stem().map_or_else(
                || "pipeline".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            )
        })
    }
}

impl PipelineDoc {
    /// Every plugin table with its path: the sources, transforms, sinks and the dead-letter sink.
    pub fn plugin_tables(&self) -> Vec<(FieldPath, &PluginTable)> {
        let root = FieldPath::root;
        let transforms = (self.transforms.iter().enumerate())
            .map(|(i, t)| (root().key("transforms").index(i), t));
        let sinks = (self.sinks.iter().enumerate()).map(|(i, t)| (root().key("sinks").index(i), t));
        let dead_letter = (self.dead_letter.iter()).map(|t| (root().key("dead_letter"), t));
        let mut tables = self.source_tables();
        tables.extend(transforms.chain(sinks).chain(dead_letter));
        tables
    }

    /// The source tables with their paths: `[source]`, or each of `[[sources]]`.
    pub fn source_tables(&self) -> Vec<(FieldPath, &PluginTable)> {
        let one = (self.source.iter()).map(|t| (FieldPath::root().key("source"), t));
        let many = (self.sources.iter().enumerate())
            .map(|(i, t)| (FieldPath::root().key("sources").index(i), t));
        one.chain(many).collect()
    }
}

impl PluginTable {
    /// The stage's `runtime` table as a [`PipeConfig`]; the defaults when the table has none.
    ///
    /// # Errors
    ///
    /// The [`OptionError`] of the first option that does not fit, its path inside the `runtime` table.
    /// [`PipelineFile::parse`] has already checked every table, so on a parsed file this does not fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::spec::{PipelineFile, SourceText};
    ///
    /// let text = "[source]\nplugin = \"generator\"\n[[sinks]]\nplugin = \"stdout\"\n\
    ///             runtime = { timeout = \"${T}\" }\n";
    /// let env = |name: &str| (name == "T").then(|| "2s".to_owned());
    /// let file = PipelineFile::parse("p.toml".as_ref(), SourceText::new("p.toml", text), &env).unwrap();
    /// let runtime = file.doc.sinks[0].runtime_config().unwrap();
    /// assert_eq!(runtime.timeout, Some(std::time::Duration::from_secs(2)));
    /// ```
    pub fn runtime_config(&self) -> Result<PipeConfig, OptionError> {
        let Some(table) = &self.runtime else {
            return Ok(PipeConfig::default());
        };
        let value = serde_json::to_value(table)
            .map_err(|e| OptionError::invalid_at(FieldPath::root(), e.to_string()))?;
        crate::registry::from_value(value)
    }
}

impl fmt::Display for PluginTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "`{name}` (plugin `{}`)", self.plugin),
            None => write!(f, "plugin `{}`", self.plugin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineFile, ConfigError> {
        let env = |name: &str| (name == "DIR").then(|| "/data".to_owned());
        PipelineFile::parse(Path::new("p.toml"), SourceText::new("p.toml", text), &env)
    }

    const GOOD: &str = r#"
[pipeline]
name = "orders"
buffer_size = 16

[source]
plugin = "csv"
path = "${DIR}/orders.csv"
other = "${MISSING:-fallback} and $${literal}"

[[transforms]]
plugin = "filter"
runtime = { concurrency = 2 }
field = "status"

[[sinks]]
plugin = "jsonl"
path = "out.jsonl"

[[tests]]
name = "keeps paid"
input = [{ status = "paid" }]
expect = [{ status = "paid" }]
"#;

    #[test]
    fn parses_and_interpolates() {
        let file = parse(GOOD).unwrap();
        assert_eq!(file.name(), "orders");
        assert_eq!(
            file.doc.source.as_ref().unwrap().options["path"].as_str(),
            Some("/data/orders.csv")
        );
        assert_eq!(
            file.doc.source.as_ref().unwrap().options["other"].as_str(),
            Some("fallback and ${literal}")
        );
        assert_eq!(
            file.doc.transforms[0]
                .runtime_config()
                .map(|r| r.concurrency.get())
                .ok(),
            Some(2)
        );
        assert_eq!(
            file.doc.pipeline.runtime["buffer_size"].as_integer(),
            Some(16)
        );
        assert_eq!(file.doc.tests[0].input.len(), 1);
    }

    #[test]
    fn a_stage_runtime_takes_typed_env_values() {
        let text = GOOD.replace("concurrency = 2", "concurrency = \"${N}\"");
        let env = |name: &str| match name {
            "DIR" => Some("/data".to_owned()),
            "N" => Some("3".to_owned()),
            _ => None,
        };
        let file = PipelineFile::parse(Path::new("p.toml"), SourceText::new("p.toml", &text), &env)
            .unwrap();
        let runtime = file.doc.transforms[0].runtime_config().unwrap();
        assert_eq!(runtime.concurrency.get(), 3);

        let env = |name: &str| Some(if name == "N" { "three" } else { "/data" }.to_owned());
        let err = PipelineFile::parse(Path::new("p.toml"), SourceText::new("p.toml", &text), &env)
            .err()
            .unwrap();
        assert_eq!(err.line, 13, "{err}");
        assert!(err.path.starts_with("transforms[0].runtime"), "{err}");
    }

    #[test]
    fn unknown_field_is_located() {
        let text = GOOD.replace("[[tests]]\nname", "[[tests]]\nnmae = 1\nname");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            (err.line, err.path.as_str()),
            (21, "tests[0].nmae"),
            "{err}"
        );
        assert!(err.message.contains("unknown field `nmae`"), "{err}");
    }

    #[test]
    fn wrong_type_is_located() {
        let text = GOOD.replace("concurrency = 2", "concurrency = \"two\"");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 13, "{err}");
        assert!(err.path.starts_with("transforms[0].runtime"), "{err}");
    }

    #[test]
    fn missing_env_is_located() {
        let text = GOOD.replace("${DIR}", "${NOPE}");
        let err = parse(&text).unwrap_err();
        assert_eq!((err.line, err.column), (8, 1), "{err}");
        assert_eq!(err.path, "source.path");
        assert!(err.message.contains("NOPE"), "{err}");
    }

    #[test]
    fn malformed_toml_is_located() {
        let err = parse("[source\nplugin = 1").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        assert!(err.to_string().starts_with("p.toml:1:"), "{err}");
    }

    #[test]
    fn needs_a_sink() {
        let err = parse("sinks = []\n[source]\nplugin = \"csv\"\n").unwrap_err();
        assert!(err.to_string().contains("at least one"), "{err}");
    }
}

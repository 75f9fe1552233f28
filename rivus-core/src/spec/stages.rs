//! The runtime's own stages in pipeline files: `window` and `batch` tables among `[[transforms]]`.
//!
//! ```toml
//! [[transforms]]
//! plugin = "window"
//! kind = "tumbling"            # tumbling (size), sliding (size, step), session (gap)
//! size = "1m"
//! time_field = "created_at"    # event time (RFC 3339 or seconds since 1970); without it, processing time
//! allowed_lateness = "30s"     # event time: how far behind the watermark a record may come
//! group_by = ["country"]
//! aggregates = { orders = "count", revenue = "sum(amount)" }
//!
//! [[transforms]]
//! plugin = "batch"
//! size = 500
//! max_wait = "2s"              # a partial batch leaves this long after its first record
//! ```
//!
//! Processing-time windows close by timer, also on a quiet stream; event-time windows close when the
//! watermark (the highest time seen) passes their end plus `allowed_lateness`, and a record later than that
//! goes to the error policy. At the end of the input every open window closes. See [`crate::window`] for the
//! runtime's rules and [`aggregate`](super::aggregate) for what each window or batch becomes. The ledger: a
//! window or batch weighs the records it holds, and its output records share that weight, so
//! `read = written + …` still holds; a source with positions is committed past a record once the window that
//! holds it is written.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;

use super::aggregate::{Aggregates, Checks, Summary, event_time};
use super::{ConfigError, FieldPath, PluginTable, SourceText};
use crate::error::PipeError;
use crate::value::Record;
use crate::window::{Closed, Engine, Window, WindowTime, Windows};

/// The names of the built-in stages: a `[[transforms]]` table with one of these as `plugin` is a stage of the
/// runtime, not a registered plugin.
pub const BUILTIN_STAGES: [&str; 2] = ["window", "batch"];

/// The shape of a `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Back-to-back windows of `size`.
    Tumbling,
    /// Windows of `size` starting every `step`.
    Sliding,
    /// Runs of records with less than `gap` between neighbours.
    Session,
}

/// The options of a `window` stage.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowOptions {
    /// `tumbling`, `sliding` or `session`.
    pub kind: WindowKind,
    /// The window's length (tumbling, sliding), e.g. `"1m"`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub size: Option<Duration>,
    /// How often a sliding window starts, e.g. `"30s"`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub step: Option<Duration>,
    /// The quiet time that ends a session, e.g. `"5m"`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub gap: Option<Duration>,
    /// Event time: the field that holds each record's time (RFC 3339, or seconds since 1970). Default: none,
    /// processing time (windows close by the clock).
    #[serde(default)]
    pub time_field: Option<String>,
    /// Event time: how long after the watermark passes a window's end a record may still join it. Default: 0.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub allowed_lateness: Option<Duration>,
    /// Fields that group the records of a window: one output record per group. Default: one group.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Output field → aggregate (`count`, `sum(f)`, `min(f)`, `max(f)`, `mean(f)`, `first(f)`, `last(f)`,
    /// `collect(f)`). Default: `count` and the `records` themselves.
    #[serde(default)]
    pub aggregates: Aggregates,
}

/// The options of a `batch` stage.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchOptions {
    /// Records per batch (at least 1).
    pub size: usize,
    /// A partial batch leaves this long after its first record, also when no further record comes. Default:
    /// none (it waits for `size` records, or the end).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub max_wait: Option<Duration>,
    /// Fields that group the records of a batch: one output record per group.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Output field → aggregate, as for `window`. Default: `count` and the `records` themselves.
    #[serde(default)]
    pub aggregates: Aggregates,
}

/// What a built-in stage does.
#[derive(Debug, Clone)]
pub enum StageKind {
    /// A `window`.
    Window(WindowOptions),
    /// A `batch`.
    Batch(BatchOptions),
}

/// A built-in stage of a pipeline file, checked.
#[derive(Debug, Clone)]
pub struct BuiltinStage {
    /// Its name in reports: the table's `name`, or `window` / `batch`.
    pub name: String,
    /// Where the table is in the file.
    pub path: FieldPath,
    /// The number of `[[transforms]]` tables before it that are plugins: it runs after those.
    pub after: usize,
    /// What it does.
    pub kind: StageKind,
}

/// The JSON schema of a built-in stage's options, for `rivus schema` and `rivus describe`.
pub fn builtin_schema(name: &str) -> Option<schemars::Schema> {
    match name {
        "window" => Some(schemars::schema_for!(WindowOptions)),
        "batch" => Some(schemars::schema_for!(BatchOptions)),
        _ => None,
    }
}

/// A built-in stage's one-line description.
pub fn builtin_description(name: &str) -> Option<&'static str> {
    match name {
        "window" => Some(
            "Cuts the stream into windows (tumbling, sliding, session; processing or event time) and gives one record per group with its aggregates.",
        ),
        "batch" => Some(
            "Groups records into batches (size, max wait) and gives one record per group with its aggregates.",
        ),
        _ => None,
    }
}

/// Checks a built-in stage's table: its options, and that they fit together.
pub(super) fn check(
    table: &PluginTable,
    path: FieldPath,
    after: usize,
    source: &SourceText,
) -> Result<BuiltinStage, ConfigError> {
    let options =
        serde_json::to_value(&table.options).map_err(|e| source.error_at(&path, e.to_string()))?;
    let de = |e: serde_path_to_error::Error<serde_json::Error>| {
        let at = path.clone().join(&FieldPath::from_serde(e.path()));
        source.error_at(&at, format!("`{}`: {}", table.plugin, e.into_inner()))
    };
    let missing = |key: &str, why: &str| {
        source.error_at(
            &path.clone().key("kind"),
            format!("a {why} window needs `{key}`"),
        )
    };
    let kind = match table.plugin.as_str() {
        "window" => {
            let w: WindowOptions = serde_path_to_error::deserialize(options).map_err(de)?;
            match w.kind {
                WindowKind::Tumbling if w.size.is_none() => {
                    return Err(missing("size", "tumbling"));
                }
                WindowKind::Sliding if w.size.is_none() || w.step.is_none() => {
                    return Err(missing("size` and `step", "sliding"));
                }
                WindowKind::Session if w.gap.is_none() => return Err(missing("gap", "session")),
                _ => {}
            }
            if w.allowed_lateness.is_some() && w.time_field.is_none() {
                return Err(source.error_at(
                    &path.clone().key("allowed_lateness"),
                    "`allowed_lateness` is for event time: it needs a `time_field`",
                ));
            }
            StageKind::Window(w)
        }
        _ => {
            let b: BatchOptions = serde_path_to_error::deserialize(options).map_err(de)?;
            if b.size == 0 {
                return Err(
                    source.error_at(&path.clone().key("size"), "a batch holds at least 1 record")
                );
            }
            StageKind::Batch(b)
        }
    };
    if table.runtime.is_some() {
        return Err(source.error_at(
            &path.key("runtime"),
            format!(
                "`{}` runs with the pipeline's settings: `runtime` would do nothing",
                table.plugin
            ),
        ));
    }
    Ok(BuiltinStage {
        name: table.name.clone().unwrap_or_else(|| table.plugin.clone()),
        path,
        after,
        kind,
    })
}

impl BuiltinStage {
    /// How the stage's output records are made.
    pub(crate) fn summary(&self) -> Summary {
        let (group_by, aggregates) = match &self.kind {
            StageKind::Window(w) => (w.group_by.clone(), w.aggregates.clone()),
            StageKind::Batch(b) => (b.group_by.clone(), b.aggregates.clone()),
        };
        Summary {
            group_by,
            aggregates,
        }
    }

    /// The checks each record passes before the stage.
    pub(crate) fn checks(&self) -> Checks {
        let time_field = match &self.kind {
            StageKind::Window(w) => w.time_field.clone(),
            StageKind::Batch(_) => None,
        };
        Checks {
            stage: self.name.clone(),
            time_field,
            numeric: self.summary().numeric_fields(),
        }
    }

    /// The runtime's windows for a `window` stage.
    pub(crate) fn windows(w: &WindowOptions) -> Windows<Record> {
        let size = w.size.unwrap_or(Duration::from_secs(60));
        let windows = match w.kind {
            WindowKind::Tumbling => Windows::tumbling(size),
            WindowKind::Sliding => Windows::sliding(size, w.step.unwrap_or(size)),
            WindowKind::Session => Windows::session(w.gap.unwrap_or(size)),
        };
        match &w.time_field {
            // `Checks` before the window fails a record whose time does not read, so none reaches this.
            Some(field) => {
                let field = field.clone();
                windows.event_time(
                    move |r: &Record| event_time(r, &field).unwrap_or(UNIX_EPOCH),
                    w.allowed_lateness.unwrap_or_default(),
                )
            }
            None => windows,
        }
    }

    /// The stage run over `records` at once, as `rivus test` does: a batch cuts them by `size`; a window
    /// by event time as the runtime does (processing time: all in one window, as they arrive together); at
    /// the end every open window closes.
    ///
    /// # Errors
    ///
    /// A record the checks reject, or a late record (event time).
    pub fn apply(&self, records: Vec<Record>) -> Result<Vec<Record>, PipeError> {
        let checks = self.checks();
        let records = (records.into_iter())
            .map(|r| crate::pipe::SyncPipe::process(&checks, r))
            .collect::<Result<Vec<_>, _>>()?;
        let summary = self.summary();
        let mut out = Vec::new();
        match &self.kind {
            StageKind::Batch(b) => {
                for chunk in records.chunks(b.size.max(1)) {
                    out.extend(summary.batch(chunk.to_vec()));
                }
            }
            StageKind::Window(w) => {
                let windows = Self::windows(w);
                let event = w.time_field.is_some();
                let mut engine = Engine::new(windows.shape, windows.lateness);
                let mut watermark = 0u64;
                let nanos = |t: SystemTime| {
                    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos())
                        .unwrap_or(u64::MAX)
                };
                let bound = |t: u64| {
                    if event {
                        WindowTime::Event(UNIX_EPOCH + Duration::from_nanos(t))
                    } else {
                        WindowTime::Elapsed(Duration::from_nanos(t))
                    }
                };
                let emit = |closed: Vec<Closed<Record>>, out: &mut Vec<Record>| {
                    for c in closed {
                        out.extend(summary.window(Window::new(
                            bound(c.start),
                            bound(c.end),
                            c.items,
                        )));
                    }
                };
                for record in records {
                    let t = match &w.time_field {
                        Some(field) => nanos(event_time(&record, field).map_err(PipeError::msg)?),
                        None => 0,
                    };
                    if engine.push(record, &[], 1, t, watermark).is_err() {
                        return Err(PipeError::msg(
                            "late item: every window it belongs to is closed already",
                        )
                        .with_pipe(self.name.clone()));
                    }
                    if event {
                        watermark = watermark.max(t);
                        emit(engine.close_upto(watermark), &mut out);
                    }
                }
                emit(engine.close_all(), &mut out);
            }
        }
        Ok(out)
    }
}

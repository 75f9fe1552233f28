//! Building a pipeline file into plugins: look each plugin up in the registry, build it from its table, check
//! that neighbours agree on their item types.

use std::any::Any;

use super::locate::FieldPath;
use super::{ConfigError, PipelineFile, PluginTable};
use crate::config::{ErrorPolicy, PipeConfig, Role as PartRole, StreamConfig};
use crate::dynamic::{
    BoxAsyncPipe, BoxAsyncSink, BoxAsyncSource, BoxSyncPipe, BoxSyncSink, BoxSyncSource,
};
use crate::registry::{self, ItemType, PluginDescriptor, PluginKind, RegistryError};
use crate::value::Record;

/// A source built from a file: sync or async (either may give positions, for at-least-once).
pub enum SourceStage {
    /// A [`SyncSource`](crate::SyncSource).
    Sync(BoxSyncSource<Record>),
    /// An [`AsyncSource`](crate::AsyncSource).
    Async(BoxAsyncSource<Record>),
}

/// A transform built from a file: sync or async.
pub enum PipeStage {
    /// A [`SyncPipe`](crate::SyncPipe).
    Sync(BoxSyncPipe<Record, Record>),
    /// An [`AsyncPipe`](crate::AsyncPipe).
    Async(BoxAsyncPipe<Record, Record>),
}

/// A sink built from a file: sync or async.
pub enum SinkStage {
    /// A [`SyncSink`](crate::SyncSink).
    Sync(BoxSyncSink<Record>),
    /// An [`AsyncSink`](crate::AsyncSink).
    Async(BoxAsyncSink<Record>),
}

/// One built stage and where it came from.
pub struct Built<T> {
    /// The stage's name: the table's `name`, or the plugin's.
    pub name: String,
    /// The plugin's descriptor.
    pub plugin: &'static PluginDescriptor,
    /// The table's `runtime` options.
    pub runtime: PipeConfig,
    /// Where the table is in the file (`transforms[2]`).
    pub path: FieldPath,
    /// The plugin, type-erased.
    pub stage: T,
}

/// Every plugin of a pipeline file, built and checked, ready to run.
pub struct BuiltPipeline {
    /// The pipeline's name.
    pub name: String,
    /// The `[pipeline]` runtime options.
    pub config: StreamConfig,
    /// `[source]`.
    pub source: Built<SourceStage>,
    /// `[[transforms]]`, in order.
    pub transforms: Vec<Built<PipeStage>>,
    /// `[[sinks]]`.
    pub sinks: Vec<Built<SinkStage>>,
    /// `[dead_letter]`.
    pub dead_letter: Option<Built<SinkStage>>,
}

/// Which of a role's two kinds to look a name up in: the first is preferred when a plugin is registered under
/// both (async for sources and sinks, which then need no blocking thread; sync for transforms, which then fuse).
#[derive(Clone, Copy)]
enum Role {
    Source,
    Transform,
    Sink,
}

impl Role {
    fn kinds(self) -> [PluginKind; 2] {
        match self {
            Self::Source => [PluginKind::AsyncSource, PluginKind::SyncSource],
            Self::Transform => [PluginKind::SyncPipe, PluginKind::AsyncPipe],
            Self::Sink => [PluginKind::AsyncSink, PluginKind::SyncSink],
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Transform => "transform",
            Self::Sink => "sink",
        }
    }
}

impl PipelineFile {
    /// Builds every plugin of the file and checks that each stage takes what the one before it gives.
    ///
    /// Nothing is opened or connected: this is what `rivus validate` checks.
    ///
    /// # Errors
    ///
    /// A located [`ConfigError`]: an unknown plugin name (with the nearest registered names), an option the
    /// plugin rejects (at the option's line and column), neighbours whose item types differ (naming both), bad
    /// runtime options.
    pub fn build(&self) -> Result<BuiltPipeline, ConfigError> {
        let doc = &self.doc;
        let mut config: StreamConfig = self.runtime_config()?;
        config.name = self.name();
        let root = FieldPath::root;
        self.check_neighbours()?;
        self.check_dead_letter(&config)?;
        let source =
            self.build_one(&doc.source, Role::Source, root().key("source"), |b, any| {
                Ok(match b {
                    PluginKind::SyncSource => SourceStage::Sync(take(any)?),
                    _ => SourceStage::Async(take(any)?),
                })
            })?;
        let mut transforms = Vec::with_capacity(doc.transforms.len());
        for (i, table) in doc.transforms.iter().enumerate() {
            transforms.push(self.build_one(
                table,
                Role::Transform,
                root().key("transforms").index(i),
                |k, any| {
                    Ok(match k {
                        PluginKind::SyncPipe => PipeStage::Sync(take(any)?),
                        _ => PipeStage::Async(take(any)?),
                    })
                },
            )?);
        }
        let sink = |k: PluginKind, any: Box<dyn Any + Send>| {
            Ok(match k {
                PluginKind::SyncSink => SinkStage::Sync(take(any)?),
                _ => SinkStage::Async(take(any)?),
            })
        };
        let mut sinks = Vec::with_capacity(doc.sinks.len());
        for (i, table) in doc.sinks.iter().enumerate() {
            sinks.push(self.build_one(table, Role::Sink, root().key("sinks").index(i), sink)?);
        }
        let dead_letter = match &doc.dead_letter {
            Some(table) => {
                Some(self.build_one(table, Role::Sink, root().key("dead_letter"), sink)?)
            }
            None => None,
        };
        let built = BuiltPipeline {
            name: config.name.clone(),
            config,
            source,
            transforms,
            sinks,
            dead_letter,
        };
        self.check_runtime_options(&built)?;
        Ok(built)
    }

    /// Every `runtime` option applies to its part: one that would do nothing (a `timeout` on a sync
    /// transform, `concurrency` on a sink, `retries` on a source) is an error at its line.
    fn check_runtime_options(&self, built: &BuiltPipeline) -> Result<(), ConfigError> {
        let transform_role = |t: &Built<PipeStage>| match t.stage {
            PipeStage::Sync(_) => PartRole::SyncPipe,
            PipeStage::Async(_) => PartRole::AsyncPipe,
        };
        let parts = std::iter::once((&built.source.path, &built.source.runtime, PartRole::Source))
            .chain(
                built
                    .transforms
                    .iter()
                    .map(|t| (&t.path, &t.runtime, transform_role(t))),
            )
            .chain(
                built
                    .sinks
                    .iter()
                    .map(|s| (&s.path, &s.runtime, PartRole::Sink)),
            )
            .chain(
                built
                    .dead_letter
                    .iter()
                    .map(|d| (&d.path, &d.runtime, PartRole::DeadLetter)),
            );
        for (path, runtime, role) in parts {
            if let Some(option) = runtime.ignored_by(role).first() {
                return Err(self.source.error_at(
                    &path.clone().key("runtime").key(*option),
                    format!("`{option}` would do nothing for {}", role.describe()),
                ));
            }
        }
        Ok(())
    }

    /// The `[pipeline]` table (less `name`) as the runtime's [`StreamConfig`].
    fn runtime_config(&self) -> Result<StreamConfig, ConfigError> {
        let table = toml::Value::Table(self.doc.pipeline.runtime.clone());
        serde_path_to_error::deserialize::<_, StreamConfig>(table).map_err(|e| {
            let path = FieldPath::root()
                .key("pipeline")
                .join(&FieldPath::from_serde(e.path()));
            let message = e.into_inner().message().to_owned();
            self.source
                .error_at(&located_path(&path, &message), message)
        })
    }

    fn build_one<T>(
        &self,
        table: &PluginTable,
        role: Role,
        path: FieldPath,
        wrap: impl Fn(PluginKind, Box<dyn Any + Send>) -> Result<T, String>,
    ) -> Result<Built<T>, ConfigError> {
        let plugin = self.resolve(table, role, &path)?;
        let options = serde_json::to_value(&table.options)
            .map_err(|e| self.source.error_at(&path, e.to_string()))?;
        let built = plugin.build(options).map_err(|e| match &e {
            RegistryError::Config { field, message, .. } => {
                let inner = if field.is_empty() {
                    unknown_field(message)
                        .map_or_else(FieldPath::root, |f| FieldPath::root().key(f))
                } else {
                    field_path(field)
                };
                self.source.error_at(
                    &path.clone().join(&inner),
                    format!("plugin `{}`: {message}", plugin.name()),
                )
            }
            _ => self.source.error_at(&path, e.to_string()),
        })?;
        let erased = plugin
            .erase(built)
            .map_err(|e| self.source.error_at(&path, e))?;
        let stage = wrap(plugin.kind(), erased).map_err(|e| {
            self.source.error_at(
                &path,
                format!(
                    "plugin `{}`: {e}; pipelines built from files carry `Record`",
                    plugin.name()
                ),
            )
        })?;
        Ok(Built {
            name: table
                .name
                .clone()
                .unwrap_or_else(|| plugin.name().to_owned()),
            plugin,
            runtime: table.runtime.clone().unwrap_or_default(),
            path,
            stage,
        })
    }

    /// The registered plugin a table names, for its role.
    fn resolve(
        &self,
        table: &PluginTable,
        role: Role,
        path: &FieldPath,
    ) -> Result<&'static PluginDescriptor, ConfigError> {
        let [preferred, other] = role.kinds();
        registry::find(preferred, &table.plugin)
            .or_else(|| registry::find(other, &table.plugin))
            .ok_or_else(|| {
                // Explain the miss with the preferred kind's suggestions, which also mention other kinds.
                let message = match registry::lookup(preferred, &table.plugin) {
                    Err(e) => e.to_string().replacen(preferred.words(), role.words(), 1),
                    Ok(_) => format!("unknown {} plugin `{}`", role.words(), table.plugin),
                };
                self.source.error_at(&path.clone().key("plugin"), message)
            })
    }

    /// A dead-letter policy, for the pipeline or one stage, needs a `[dead_letter]` sink.
    fn check_dead_letter(&self, config: &StreamConfig) -> Result<(), ConfigError> {
        if self.doc.dead_letter.is_some() {
            return Ok(());
        }
        let message = "`on_error = \"dead_letter\"` needs a `[dead_letter]` table: the sink that takes the failed records";
        if config.on_error == ErrorPolicy::DeadLetter {
            return Err(self
                .source
                .error_at(&FieldPath::root().key("pipeline").key("on_error"), message));
        }
        let tables = std::iter::once((FieldPath::root().key("source"), &self.doc.source))
            .chain(
                self.doc
                    .transforms
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (FieldPath::root().key("transforms").index(i), t)),
            )
            .chain(
                self.doc
                    .sinks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (FieldPath::root().key("sinks").index(i), t)),
            );
        for (path, table) in tables {
            if table.runtime.as_ref().and_then(|r| r.on_error) == Some(ErrorPolicy::DeadLetter) {
                return Err(self
                    .source
                    .error_at(&path.key("runtime").key("on_error"), message));
            }
        }
        Ok(())
    }

    /// Checks, before anything is built, that each stage takes what the stage before it gives.
    fn check_neighbours(&self) -> Result<(), ConfigError> {
        let doc = &self.doc;
        let root = FieldPath::root;
        let label = |t: &PluginTable| t.name.clone().unwrap_or_else(|| t.plugin.clone());
        let source_path = root().key("source");
        let mut previous = (
            label(&doc.source),
            self.resolve(&doc.source, Role::Source, &source_path)?,
            source_path,
        );
        for (i, t) in doc.transforms.iter().enumerate() {
            let path = root().key("transforms").index(i);
            let next = (label(t), self.resolve(t, Role::Transform, &path)?, path);
            self.agree(
                (&previous.0, previous.1, &previous.2),
                (&next.0, next.1, &next.2),
            )?;
            previous = next;
        }
        for (i, t) in doc.sinks.iter().enumerate() {
            let path = root().key("sinks").index(i);
            let sink = (label(t), self.resolve(t, Role::Sink, &path)?, path);
            self.agree(
                (&previous.0, previous.1, &previous.2),
                (&sink.0, sink.1, &sink.2),
            )?;
        }
        Ok(())
    }

    fn agree(
        &self,
        (a_name, a, _): (&String, &'static PluginDescriptor, &FieldPath),
        (b_name, b, b_path): (&String, &'static PluginDescriptor, &FieldPath),
    ) -> Result<(), ConfigError> {
        match (a.output_type(), b.input_type()) {
            (Some(out), Some(input)) if out != input => Err(self.source.error_at(
                &b_path.clone().key("plugin"),
                format!(
                    "`{a_name}` ({} `{}`) gives `{}`, but `{b_name}` ({} `{}`) takes `{}`",
                    a.kind(),
                    a.name(),
                    short(out),
                    b.kind(),
                    b.name(),
                    short(input)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The item type's name without module paths.
fn short(t: ItemType) -> String {
    let name = t.name();
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// Downcasts an erased plugin to the boxed form for `Record` items.
fn take<T: 'static>(any: Box<dyn Any + Send>) -> Result<T, String> {
    any.downcast::<T>().map(|b| *b).map_err(|_| {
        format!(
            "its items are not `Record` (it is a `{}`)",
            std::any::type_name::<T>()
        )
    })
}

/// The field an "unknown field `x`" or "missing field `x`" message is about.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

/// A serde path (`columns[2].name`) as a [`FieldPath`].
fn field_path(path: &str) -> FieldPath {
    let mut out = FieldPath::root();
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out = out.key(key);
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out = out.index(i);
            }
        }
    }
    out
}

/// For "unknown field" errors of a table, the unknown key itself.
fn located_path(path: &FieldPath, message: &str) -> FieldPath {
    match unknown_field(message) {
        Some(field) => path.clone().key(field),
        None => path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_fields() {
        assert_eq!(field_path("columns[2].name").to_string(), "columns[2].name");
        assert_eq!(field_path("a.b").to_string(), "a.b");
        assert_eq!(
            unknown_field("unknown field `nmae`, expected `name`"),
            Some("nmae")
        );
        assert_eq!(unknown_field("invalid type"), None);
    }
}

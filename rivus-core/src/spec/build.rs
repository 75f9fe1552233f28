//! Building a pipeline file into plugins: resolve each table to its registered plugin (once), check that
//! neighbours agree on their item types, then build each plugin straight into its type-erased form.

use super::locate::FieldPath;
use super::pushdown::{self, Pushdown, Taken};
use super::{ConfigError, PipelineFile, PluginTable, SinkRoute};
use crate::config::{ErrorPolicy, PipeConfig, Role as PartRole, StreamConfig};
use crate::dynamic::{
    BoxAsyncPipe, BoxAsyncSink, BoxAsyncSource, BoxPlugin, BoxSyncPipe, BoxSyncSink, BoxSyncSource,
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
    /// `[source]`, or each of `[[sources]]`.
    pub sources: Vec<Built<SourceStage>>,
    /// Whether the sources came as `[[sources]]`: each record then gets its source's name (see
    /// [`SOURCE_FIELD`](super::SOURCE_FIELD)).
    pub named_sources: bool,
    /// `[[transforms]]` that are plugins, in order.
    pub transforms: Vec<Built<PipeStage>>,
    /// `[[transforms]]` that are the runtime's own stages (`window`, `batch`), each placed after the plugins
    /// before it in the file.
    pub stages: Vec<super::BuiltinStage>,
    /// `[[sinks]]`.
    pub sinks: Vec<Built<SinkStage>>,
    /// Each sink's route, in the order of `sinks`.
    pub routes: Vec<SinkRoute>,
    /// `[dead_letter]`.
    pub dead_letter: Option<Built<SinkStage>>,
    /// What the sources were told to leave out (see [`pushdown`](super::pushdown)); nothing with
    /// `[pipeline] pushdown = false`.
    pub pushdown: Pushdown,
    /// What each source took of `pushdown`, in the order of `sources`.
    pub pushed: Vec<Taken>,
}

impl SourceStage {
    /// Tells the source what the pipeline reads and the filter right after it; what it takes.
    pub fn push_down(&mut self, pushdown: &Pushdown) -> Taken {
        use crate::pipe::{AsyncSource, SyncSource};
        let fields = pushdown.needs.fields();
        match self {
            Self::Sync(s) => Taken {
                fields: fields.is_some_and(|f| s.project(&f)),
                filter: pushdown.filter.as_ref().is_some_and(|c| s.prefilter(c)),
            },
            Self::Async(s) => Taken {
                fields: fields.is_some_and(|f| s.project(&f)),
                filter: pushdown.filter.as_ref().is_some_and(|c| s.prefilter(c)),
            },
        }
    }
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

/// A stage of a role, taken out of the built plugin; `None` for a plugin of another role.
trait FromPlugin: Sized {
    fn from_plugin(plugin: BoxPlugin<Record>) -> Option<Self>;
}

impl FromPlugin for SourceStage {
    fn from_plugin(plugin: BoxPlugin<Record>) -> Option<Self> {
        match plugin {
            BoxPlugin::SyncSource(s) => Some(Self::Sync(s)),
            BoxPlugin::AsyncSource(s) => Some(Self::Async(s)),
            _ => None,
        }
    }
}

impl FromPlugin for PipeStage {
    fn from_plugin(plugin: BoxPlugin<Record>) -> Option<Self> {
        match plugin {
            BoxPlugin::SyncPipe(p) => Some(Self::Sync(p)),
            BoxPlugin::AsyncPipe(p) => Some(Self::Async(p)),
            _ => None,
        }
    }
}

impl FromPlugin for SinkStage {
    fn from_plugin(plugin: BoxPlugin<Record>) -> Option<Self> {
        match plugin {
            BoxPlugin::SyncSink(s) => Some(Self::Sync(s)),
            BoxPlugin::AsyncSink(s) => Some(Self::Async(s)),
            _ => None,
        }
    }
}

/// A plugin table and the registered plugin it names.
struct Resolved<'a> {
    table: &'a PluginTable,
    path: FieldPath,
    plugin: &'static PluginDescriptor,
}

impl Resolved<'_> {
    /// The stage's name in messages: the table's `name`, or the plugin's.
    fn label(&self) -> &str {
        self.table.name.as_deref().unwrap_or(self.plugin.name())
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
        let sources = (doc.source_tables().into_iter())
            .map(|(path, t)| self.resolve(t, Role::Source, path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut transforms = Vec::new();
        let mut stages = Vec::new();
        for (i, t) in doc.transforms.iter().enumerate() {
            let path = root().key("transforms").index(i);
            if super::BUILTIN_STAGES.contains(&t.plugin.as_str()) {
                stages.push(super::stages::check(
                    t,
                    path,
                    transforms.len(),
                    &self.source,
                )?);
            } else {
                transforms.push(self.resolve(t, Role::Transform, path)?);
            }
        }
        let sinks = (doc.sinks.iter().enumerate())
            .map(|(i, t)| self.resolve(t, Role::Sink, root().key("sinks").index(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let dead_letter = (doc.dead_letter.as_ref())
            .map(|t| self.resolve(t, Role::Sink, root().key("dead_letter")))
            .transpose()?;
        for source in &sources {
            self.check_neighbours(source, &transforms, &sinks)?;
        }
        self.check_dead_letter(&config)?;
        super::resume::check(self)?;
        let pushdown = if doc.pipeline.pushdown {
            // The reference plugins' options mean what the analysis assumes; another crate's plugin of the same
            // name may read anything.
            let reference = |table: &super::PluginTable| {
                (transforms.iter().chain(&sinks))
                    .find(|r| std::ptr::eq(r.table, table))
                    .is_some_and(|r| r.plugin.crate_name() == "rivus_plugins")
            };
            pushdown::analyze(doc, &self.routes, &reference)
        } else {
            Pushdown::off()
        };
        let mut built_sources: Vec<Built<SourceStage>> = (sources.into_iter())
            .map(|s| self.build_one(s))
            .collect::<Result<_, _>>()?;
        let mut pushed = Vec::with_capacity(built_sources.len());
        for source in &mut built_sources {
            let taken = source.stage.push_down(&pushdown);
            tracing::debug!(
                source = %source.name,
                fields = taken.fields,
                filter = taken.filter,
                "pushdown: the pipeline reads {}{}",
                pushdown.needs,
                (pushdown.filter.as_ref()).map(|c| format!(", filter `{c}` first")).unwrap_or_default(),
            );
            pushed.push(taken);
        }
        let built = BuiltPipeline {
            name: config.name.clone(),
            config,
            sources: built_sources,
            named_sources: !doc.sources.is_empty(),
            transforms: (transforms.into_iter())
                .map(|t| self.build_one(t))
                .collect::<Result<_, _>>()?,
            sinks: (sinks.into_iter())
                .map(|s| self.build_one(s))
                .collect::<Result<_, _>>()?,
            dead_letter: dead_letter.map(|d| self.build_one(d)).transpose()?,
            routes: self.routes.clone(),
            stages,
            pushdown,
            pushed,
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
        let parts = (built.sources.iter())
            .map(|s| (&s.path, &s.runtime, PartRole::Source))
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
        let at = FieldPath::root().key("pipeline");
        let table = serde_json::to_value(&self.doc.pipeline.runtime)
            .map_err(|e| self.source.error_at(&at, e.to_string()))?;
        registry::from_value::<StreamConfig>(table)
            .map_err(|e| self.source.error_at(&at.join(&e.path), e.message()))
    }

    /// The registered plugin a table names, for its role.
    fn resolve<'a>(
        &self,
        table: &'a PluginTable,
        role: Role,
        path: FieldPath,
    ) -> Result<Resolved<'a>, ConfigError> {
        let kinds = role.kinds();
        let found = kinds.iter().find_map(|&k| registry::find(k, &table.plugin));
        let Some(plugin) = found else {
            let of_role = registry::plugins().filter(|p| kinds.contains(&p.kind()));
            let suggestions = registry::nearest(&table.plugin, of_role);
            let mut other_kinds: Vec<PluginKind> = (registry::plugins())
                .filter(|p| p.name() == table.plugin)
                .map(PluginDescriptor::kind)
                .collect();
            other_kinds.sort_unstable();
            other_kinds.dedup();
            let message = registry::not_found_message(
                role.words(),
                &table.plugin,
                &suggestions,
                &other_kinds,
            );
            return Err(self.source.error_at(&path.key("plugin"), message));
        };
        Ok(Resolved {
            table,
            path,
            plugin,
        })
    }

    /// Builds a resolved table's plugin into its stage.
    fn build_one<T: FromPlugin>(&self, resolved: Resolved<'_>) -> Result<Built<T>, ConfigError> {
        let Resolved {
            table,
            path,
            plugin,
        } = resolved;
        let options = serde_json::to_value(&table.options)
            .map_err(|e| self.source.error_at(&path, e.to_string()))?;
        let stage = table.name.as_deref().unwrap_or(plugin.name());
        let built = super::origin::building(&self.source, &path, stage, || {
            plugin.build_erased::<Record>(options)
        })
        .map_err(|e| match e {
            RegistryError::Config { error, .. } => self.source.error_at(
                &path.clone().join(&error.path),
                format!("plugin `{}`: {}", plugin.name(), error.message()),
            ),
            RegistryError::ItemType { .. } => self.source.error_at(
                &path.clone().key("plugin"),
                format!("{e}: pipelines built from files carry `Record`"),
            ),
            other => self.source.error_at(&path, other.to_string()),
        })?;
        // `resolve` found the plugin among its role's kinds, so the stage is of the role.
        let stage = T::from_plugin(built).ok_or_else(|| {
            self.source.error_at(
                &path,
                format!("plugin `{}` is a {}", plugin.name(), plugin.kind()),
            )
        })?;
        Ok(Built {
            name: table
                .name
                .clone()
                .unwrap_or_else(|| plugin.name().to_owned()),
            plugin,
            runtime: table.runtime_config().map_err(|e| {
                self.source
                    .error_at(&path.clone().key("runtime").join(&e.path), e.message())
            })?,
            path,
            stage,
        })
    }

    /// A dead-letter policy, for the pipeline or one stage, needs a `[dead_letter]` sink; a `[dead_letter]` sink
    /// needs a policy that sends it something.
    fn check_dead_letter(&self, config: &StreamConfig) -> Result<(), ConfigError> {
        let root = FieldPath::root;
        // Not the dead-letter sink's own `runtime`: a policy there has nowhere to send a failure.
        let tables = (self.doc.plugin_tables().into_iter())
            .filter(|(path, _)| path != &root().key("dead_letter"));
        let mut users = (config.on_error == ErrorPolicy::DeadLetter)
            .then(|| root().key("pipeline").key("on_error"))
            .into_iter()
            .chain(tables.filter_map(|(path, table)| {
                (table.runtime_config().ok().and_then(|r| r.on_error)
                    == Some(ErrorPolicy::DeadLetter))
                .then(|| path.key("runtime").key("on_error"))
            }));
        match (self.doc.dead_letter.is_some(), users.next()) {
            (false, Some(user)) => Err(self.source.error_at(
                &user,
                "`on_error = \"dead_letter\"` needs a `[dead_letter]` table: the sink that takes the failed records",
            )),
            (true, None) => Err(self.source.error_at(
                &root().key("dead_letter"),
                "`[dead_letter]` would receive nothing: no `on_error = \"dead_letter\"` in `[pipeline]` or in a \
                 stage's `runtime`; set one, or remove the table",
            )),
            _ => Ok(()),
        }
    }

    /// Checks, before anything is built, that each stage takes what the stage before it gives.
    fn check_neighbours(
        &self,
        source: &Resolved<'_>,
        transforms: &[Resolved<'_>],
        sinks: &[Resolved<'_>],
    ) -> Result<(), ConfigError> {
        let mut previous = source;
        for transform in transforms {
            self.agree(previous, transform)?;
            previous = transform;
        }
        sinks.iter().try_for_each(|sink| self.agree(previous, sink))
    }

    fn agree(&self, a: &Resolved<'_>, b: &Resolved<'_>) -> Result<(), ConfigError> {
        match (a.plugin.output_type(), b.plugin.input_type()) {
            (Some(out), Some(input)) if out != input => Err(self.source.error_at(
                &b.path.clone().key("plugin"),
                format!(
                    "`{}` ({} `{}`) gives `{}`, but `{}` ({} `{}`) takes `{}`",
                    a.label(),
                    a.plugin.kind(),
                    a.plugin.name(),
                    short(out),
                    b.label(),
                    b.plugin.kind(),
                    b.plugin.name(),
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

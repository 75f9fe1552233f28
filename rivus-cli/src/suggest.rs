//! What the command says about a plugin name that is not registered: the nearest names among every kind that
//! can fill the role (sync and async), the kinds the name *is* registered as, or the cargo feature that would
//! bring it. Never linking advice: an operator cannot call `link()`, and this program links its plugins.

use rivus_core::registry::{self, PluginKind};
use rivus_core::spec::{FieldPath, PipelineFile};

use crate::CliError;

/// Plugins of `rivus-plugins` behind cargo features of `rivus-cli` (the same names in `rivus-plugins`): the
/// plugin's name and the feature that brings it.
const FEATURE_OF: &[(&str, &str)] = &[
    ("kafka", "kafka"),
    ("http", "http"),
    ("webhook", "http"),
    ("postgres", "postgres"),
    ("sqlite", "sqlite"),
];

const SOURCES: &[PluginKind] = &[PluginKind::AsyncSource, PluginKind::SyncSource];
const TRANSFORMS: &[PluginKind] = &[PluginKind::SyncPipe, PluginKind::AsyncPipe];
const SINKS: &[PluginKind] = &[PluginKind::AsyncSink, PluginKind::SyncSink];

/// Checks that every table of the file names a plugin registered for its role; the first that does not is an
/// error at its `plugin` key, with [`unknown`]'s advice.
pub(crate) fn check_plugin_names(file: &PipelineFile) -> Result<(), CliError> {
    let doc = &file.doc;
    let mut tables: Vec<_> = (doc.source_tables().into_iter())
        .map(|(path, t)| (path, t, SOURCES, "source"))
        .collect();
    for (i, t) in doc.transforms.iter().enumerate() {
        // `window` and `batch` are stages of the runtime, written as transforms: not plugins.
        if rivus_core::spec::BUILTIN_STAGES.contains(&t.plugin.as_str()) {
            continue;
        }
        tables.push((
            FieldPath::root().key("transforms").index(i),
            t,
            TRANSFORMS,
            "transform",
        ));
    }
    for (i, t) in doc.sinks.iter().enumerate() {
        tables.push((FieldPath::root().key("sinks").index(i), t, SINKS, "sink"));
    }
    if let Some(t) = &doc.dead_letter {
        tables.push((FieldPath::root().key("dead_letter"), t, SINKS, "sink"));
    }
    for (path, table, kinds, what) in tables {
        let name = table.plugin.as_str();
        if kinds.iter().any(|&k| registry::find(k, name).is_some()) {
            continue;
        }
        let message = unknown(name, kinds, what);
        return Err(file.source.error_at(&path.key("plugin"), message).into());
    }
    Ok(())
}

/// "no sink is registered under the name `stdot`; did you mean `stdout`?", or "... `kafka` comes with the cargo
/// feature `kafka`, which this build of rivus was built without (...)". `kinds` are those that can fill the
/// role `what` names; empty for any kind.
pub(crate) fn unknown(name: &str, kinds: &[PluginKind], what: &str) -> String {
    let of_role = registry::plugins().filter(|p| kinds.is_empty() || kinds.contains(&p.kind()));
    let nearest = registry::nearest(name, of_role);
    let mut other_kinds: Vec<PluginKind> = registry::plugins()
        .filter(|p| p.name() == name)
        .map(|p| p.kind())
        .collect();
    other_kinds.sort_unstable();
    other_kinds.dedup();
    let mut message = format!("no {what} is registered under the name `{name}`");
    match nearest.as_slice() {
        [] => {}
        [one] => message.push_str(&format!("; did you mean `{one}`?")),
        many => {
            let names: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            message.push_str(&format!("; did you mean one of {}?", names.join(", ")));
        }
    }
    if !other_kinds.is_empty() {
        let kinds: Vec<String> = other_kinds.iter().map(ToString::to_string).collect();
        message.push_str(&format!(
            " (a plugin of that name exists as: {})",
            kinds.join(", ")
        ));
    } else if let Some((_, feature)) = FEATURE_OF.iter().find(|(plugin, _)| *plugin == name) {
        message.push_str(&format!(
            "; `{name}` comes with the cargo feature `{feature}`, which this build of rivus was built without \
             (cargo install --path rivus-cli --features {feature})"
        ));
    } else if nearest.is_empty() {
        message.push_str(" (`rivus list` shows every plugin)");
    }
    message
}

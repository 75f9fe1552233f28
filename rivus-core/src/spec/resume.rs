//! A resumable source must not feed a sink that replaces its output on every run.
//!
//! A source resumes when it commits positions that a later run starts after: a file source with a
//! `checkpoint`, or a consumer group (`group_id`, Kafka's). A file sink with an `append` option replaces its
//! output at the end of each run unless `append = true`. Together, a run that is killed after a commit but before
//! its output replaced the old one loses the committed records: the next run starts after them and replaces the
//! file without them. That breaks the ledger's promise ("a restart never loses what was committed"), so the pair
//! is a configuration error at the sink's table, found by `rivus validate`.

use super::locate::FieldPath;
use super::{ConfigError, PipelineFile, PluginTable};
use crate::registry::{self, PluginKind};

/// Paths a file sink writes in place (not through a file it renames): nothing of them is replaced.
const IN_PLACE: [&str; 4] = ["-", "/dev/stdout", "/dev/stderr", "/dev/null"];

/// Checks every sink (and the dead-letter sink) against the pipeline's sources.
///
/// # Errors
///
/// A [`ConfigError`] at the first sink that would replace what a resumable source committed.
pub(super) fn check(file: &PipelineFile) -> Result<(), ConfigError> {
    let doc = &file.doc;
    let Some(source) = (doc.source_tables().into_iter()).find_map(|(_, t)| resumes(t)) else {
        return Ok(());
    };
    let root = FieldPath::root;
    let sinks = (doc.sinks.iter().enumerate())
        .map(|(i, t)| (root().key("sinks").index(i), t))
        .chain(
            doc.dead_letter
                .iter()
                .map(|t| (root().key("dead_letter"), t)),
        );
    for (path, sink) in sinks {
        if replaces_output(sink) {
            return Err(file.source.error_at(
                &path.key("plugin"),
                format!(
                    "{sink} replaces its file on every run, but the source resumes ({source}): a run killed after \
                     a commit would lose the committed records from the output; set `append = true` (appends, \
                     and cuts a torn last record on open)"
                ),
            ));
        }
    }
    Ok(())
}

/// Why a source resumes after what it committed, or `None`.
fn resumes(table: &PluginTable) -> Option<&'static str> {
    let set = |key: &str| {
        table
            .options
            .get(key)
            .is_some_and(|v| v.as_str() != Some(""))
    };
    if set("checkpoint") {
        return Some("`checkpoint` is set");
    }
    let kinds = [PluginKind::AsyncSource, PluginKind::SyncSource];
    let plugin = kinds
        .iter()
        .find_map(|&k| registry::find(k, &table.plugin))?;
    // A consumer group commits offsets for the group even where the table leaves `group_id` to its default.
    let has_group = plugin.config_fields().iter().any(|f| f.name == "group_id");
    has_group.then_some("it commits offsets for its consumer group")
}

/// Whether a sink table replaces its output at the end of each run: its plugin has an `append` option that the
/// table leaves off, and it writes a regular file.
fn replaces_output(table: &PluginTable) -> bool {
    let kinds = [PluginKind::AsyncSink, PluginKind::SyncSink];
    let Some(plugin) = kinds.iter().find_map(|&k| registry::find(k, &table.plugin)) else {
        return false;
    };
    let has_append = plugin.config_fields().iter().any(|f| f.name == "append");
    // `"${APPEND}"` stays a string until the plugin types it.
    let appends = (table.options.get("append"))
        .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    let in_place = (table.options.get("path").and_then(toml::Value::as_str))
        .is_some_and(|p| IN_PLACE.contains(&p));
    has_append && !appends && !in_place
}

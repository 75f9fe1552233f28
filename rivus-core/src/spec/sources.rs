//! Several sources: `[[sources]]` instead of `[source]`, merged into one stream.
//!
//! Each source runs as its own task and is committed for its own records (`Pipeline::merge`); their records
//! interleave in the order they come. Each record of a `[[sources]]` pipeline gets the field `_source`
//! ([`SOURCE_FIELD`]) with its source's name (the table's `name`, or else its plugin's), added last, so that
//! transforms, conditions and routes can tell them apart (`when = "_source == 'eu'"`) and sinks write it (a
//! `drop` transform removes it). A pipeline with one `[source]` is unchanged: its records get no such field.

use std::collections::HashMap;

use super::{ConfigError, FieldPath, PipelineDoc, SourceText};
use crate::pipe::{SyncPipe, map};
use crate::value::Record;

/// The field that carries a record's source name in a `[[sources]]` pipeline.
pub const SOURCE_FIELD: &str = "_source";

/// Exactly one of `[source]` and `[[sources]]`, the latter non-empty with one name per source.
pub(super) fn check(doc: &PipelineDoc, text: &SourceText) -> Result<(), ConfigError> {
    let root = FieldPath::root;
    match (&doc.source, doc.sources.is_empty()) {
        (Some(_), false) => {
            return Err(text.error_at(
                &root().key("sources"),
                "a pipeline has either one `[source]` or `[[sources]]`, not both",
            ));
        }
        (None, true) => {
            return Err(text.error_at(
                &root(),
                "a pipeline needs a `[source]` (or several `[[sources]]`)",
            ));
        }
        _ => {}
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, table) in doc.sources.iter().enumerate() {
        let name = table.name.as_deref().unwrap_or(&table.plugin);
        if let Some(first) = seen.insert(name, i) {
            let at = root().key("sources").index(i);
            let at = if table.name.is_some() {
                at.key("name")
            } else {
                at.key("plugin")
            };
            return Err(text.error_at(
                &at,
                format!(
                    "`sources[{first}]` is named `{name}` already: give each source its own `name` (records carry \
                     it in `{SOURCE_FIELD}`)"
                ),
            ));
        }
    }
    Ok(())
}

/// The pipe that adds `_source = name` to each record (a stage named `<name>._source`).
pub(super) fn tag(
    name: String,
) -> impl SyncPipe<In = Record, Out = Record> + Send + Sync + 'static {
    let stage = format!("{name}.{SOURCE_FIELD}");
    map(move |mut record: Record| {
        record.insert(SOURCE_FIELD, name.as_str());
        record
    })
    .named(stage)
}

//! Projection and filter pushdown: what a pipeline file's stages read of the records its sources make.
//!
//! [`analyze`] walks the file backwards, from the sinks to the source, and keeps the set of top-level fields
//! some later stage reads. A sink reads every field (it writes them), except `blackhole`, which reads none; a
//! route's `when` reads its condition's fields. Before each transform, the set becomes what that transform
//! needs for it:
//!
//! | stage | needs before it, given the need `N` after it |
//! |---|---|
//! | `select` (fields `F`) | `F` (it keeps exactly those; each of them is read to warn about a misspelt one) |
//! | `drop` (fields `F`) | `N` less `F` |
//! | `rename` (`from` → `to`) | `N` and every `from` and `to` (chained renames stay right) |
//! | `set` (fields `F`) | `N` less `F`; with `overwrite = false`, `N` (it reads whether they are there) |
//! | `cast` (fields `F`) | `N` and `F` (a value that does not convert stays an error) |
//! | `filter` | `N` and its condition's fields |
//! | `window`, `batch` | `group_by`, `time_field` and the aggregates' fields; every field with the default aggregates (which keep the records) |
//! | `script`, any other plugin | every field |
//!
//! "Every field" is absorbing: once a stage may read anything, the source keeps every field. The set is given
//! to each source with [`SyncSource::project`](crate::SyncSource::project) (or the async one); fields a source
//! adds itself (`_source` of `[[sources]]`, a `file_field`) are the source's to add and stay.
//!
//! A `filter` that is the first `[[transforms]]` table is also given to each source, with
//! [`SyncSource::prefilter`](crate::SyncSource::prefilter), unless its condition reads `_source` (which the
//! source does not make). The filter stays in the pipeline. A source leaves a rejected row out and counts it
//! ([`SyncSource::take_filtered`](crate::SyncSource::take_filtered): the runtime counts it read and `filtered`
//! at the source's stage), or yields it as a record on which the condition is false too (its condition's
//! fields, or an empty record when the condition is false on one), which the filter drops and counts
//! `filtered`. So the ledger's totals, positions, checkpoints and dead letters are those of the pipeline without
//! pushdown; only the stage that counts a rejected row may differ.
//!
//! What a user can see of pushdown: a value nobody reads is not checked, so a type error in such a
//! column is not an error any more, and a transform's dead letter holds the fields the pipeline reads rather
//! than every field of the input (a source's dead letter keeps the raw input). `[pipeline] pushdown = false`
//! turns it off.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::route::SinkRoute;
use super::sources::SOURCE_FIELD;
use super::stages::{BatchOptions, WindowOptions};
use super::{PipelineDoc, PluginTable};
use crate::condition::{Condition, FieldTest};
use crate::value::Value;

/// The top-level fields the stages after a point read: some, or every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    /// A stage may read any field (a script, a sink that writes the whole record): the source keeps them all.
    All,
    /// Only these fields are read.
    Fields(BTreeSet<String>),
}

impl Needs {
    /// No field at all.
    fn none() -> Self {
        Self::Fields(BTreeSet::new())
    }

    /// The need with `fields` read too.
    fn with<'a>(self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        match self {
            Self::All => Self::All,
            Self::Fields(mut set) => {
                set.extend(fields.into_iter().map(str::to_owned));
                Self::Fields(set)
            }
        }
    }

    /// The need with `fields` not read (a stage sets or removes them).
    fn without<'a>(self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        match self {
            Self::All => Self::All,
            Self::Fields(mut set) => {
                for field in fields {
                    set.remove(field);
                }
                Self::Fields(set)
            }
        }
    }

    /// The fields, in name order; `None` for every field.
    pub fn fields(&self) -> Option<Vec<String>> {
        match self {
            Self::All => None,
            Self::Fields(set) => Some(set.iter().cloned().collect()),
        }
    }
}

impl fmt::Display for Needs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("every field"),
            Self::Fields(set) => {
                let names: Vec<String> = set.iter().map(|n| format!("`{n}`")).collect();
                write!(f, "fields {}", names.join(", "))
            }
        }
    }
}

/// What a pipeline file's sources may leave out: see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Pushdown {
    /// The fields the stages after the sources read.
    pub needs: Needs,
    /// The condition of the `filter` right after the sources, when there is one a source can evaluate.
    pub filter: Option<Arc<Condition>>,
}

impl Pushdown {
    /// Nothing pushed down: every field, no filter (what `pushdown = false` gives).
    pub fn off() -> Self {
        Self {
            needs: Needs::All,
            filter: None,
        }
    }
}

/// What one source took of a [`Pushdown`]: each is `false` for a source that builds whole records anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Taken {
    /// It builds only the fields read ([`SyncSource::project`](crate::SyncSource::project)).
    pub fields: bool,
    /// It tests the filter first ([`SyncSource::prefilter`](crate::SyncSource::prefilter)).
    pub filter: bool,
}

/// What the stages of `doc` read, from the sinks (and their `routes`) back to the sources.
///
/// `reference` says whether a table's plugin is the reference one of that name (`rivus-plugins`'s `select`,
/// …), whose options mean what this analysis assumes; any other plugin may read every field.
pub fn analyze(
    doc: &PipelineDoc,
    routes: &[SinkRoute],
    reference: &dyn Fn(&PluginTable) -> bool,
) -> Pushdown {
    let sinks = doc.sinks.iter().fold(Needs::none(), |needs, sink| {
        if reference(sink) && sink.plugin == "blackhole" {
            needs
        } else {
            Needs::All
        }
    });
    let mut needs = routes.iter().fold(sinks, |needs, route| match route {
        SinkRoute::When(c) => needs.with(c.fields()),
        SinkRoute::All | SinkRoute::Otherwise => needs,
    });
    for table in doc.transforms.iter().rev() {
        needs = before(table, needs, reference);
    }
    let filter = (doc.transforms.first())
        .filter(|t| t.plugin == "filter" && reference(t))
        .and_then(filter_condition)
        .filter(|c| doc.sources.is_empty() || !c.fields().contains(&SOURCE_FIELD))
        .map(Arc::new);
    Pushdown { needs, filter }
}

/// What a stage needs before it, given what the stages after it need.
fn before(table: &PluginTable, after: Needs, reference: &dyn Fn(&PluginTable) -> bool) -> Needs {
    let options = &table.options;
    match table.plugin.as_str() {
        "window" => builtin::<WindowOptions>(table).map_or(Needs::All, |w| {
            aggregate_needs(&w.group_by, w.time_field.as_deref(), &w.aggregates)
        }),
        "batch" => builtin::<BatchOptions>(table).map_or(Needs::All, |b| {
            aggregate_needs(&b.group_by, None, &b.aggregates)
        }),
        _ if !reference(table) => Needs::All,
        "select" => names(options.get("fields")).map_or(Needs::All, |fields| {
            Needs::none().with(fields.iter().map(String::as_str))
        }),
        "drop" => names(options.get("fields")).map_or(Needs::All, |fields| {
            after.without(fields.iter().map(String::as_str))
        }),
        "rename" => match options.get("fields") {
            Some(toml::Value::Table(map)) => {
                let Some(tos) = map
                    .values()
                    .map(toml::Value::as_str)
                    .collect::<Option<Vec<_>>>()
                else {
                    return Needs::All;
                };
                after.with(map.keys().map(String::as_str)).with(tos)
            }
            _ => Needs::All,
        },
        "set" => match (options.get("fields"), options.get("overwrite")) {
            (Some(toml::Value::Table(map)), None | Some(toml::Value::Boolean(true))) => {
                after.without(map.keys().map(String::as_str))
            }
            (Some(toml::Value::Table(_)), Some(toml::Value::Boolean(false))) => after,
            _ => Needs::All,
        },
        "cast" => match options.get("fields") {
            Some(toml::Value::Table(map)) => after.with(map.keys().map(String::as_str)),
            _ => Needs::All,
        },
        "filter" => filter_condition(table).map_or(Needs::All, |c| after.with(c.fields())),
        _ => Needs::All,
    }
}

/// A string array option.
fn names(value: Option<&toml::Value>) -> Option<Vec<String>> {
    match value? {
        toml::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// A built-in stage's options, or `None` when they do not read (the build reports that).
fn builtin<T: serde::de::DeserializeOwned>(table: &PluginTable) -> Option<T> {
    serde_json::to_value(&table.options)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// What a window or batch reads: its group and time fields and its aggregates' fields; every field when the
/// aggregates are the default ones (which keep the records).
fn aggregate_needs(
    group_by: &[String],
    time_field: Option<&str>,
    aggregates: &super::Aggregates,
) -> Needs {
    match aggregates.input_fields() {
        None => Needs::All,
        Some(fields) => Needs::none()
            .with(group_by.iter().map(String::as_str))
            .with(time_field)
            .with(fields),
    }
}

/// A `filter` table's condition: its `when`, or its `field`/`op`/`value` test (as the filter builds it).
fn filter_condition(table: &PluginTable) -> Option<Condition> {
    let options = &table.options;
    match (options.get("when"), options.get("field"), options.get("op")) {
        (Some(toml::Value::String(when)), None, None) => Condition::parse(when).ok(),
        (None, Some(toml::Value::String(field)), Some(toml::Value::String(op))) => {
            let test = match op.as_str() {
                "eq" => FieldTest::Eq,
                "ne" => FieldTest::Ne,
                "gt" => FieldTest::Gt,
                "ge" => FieldTest::Ge,
                "lt" => FieldTest::Lt,
                "le" => FieldTest::Le,
                "contains" => FieldTest::Contains,
                "exists" => FieldTest::Exists,
                "missing" => FieldTest::Missing,
                _ => return None,
            };
            let value = match options.get("value") {
                None => Value::Null,
                Some(v) => serde::Deserialize::deserialize(v.clone()).ok()?,
            };
            Some(Condition::field_test(field, test, value))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::{PipelineFile, SourceText};

    fn analyze_text(text: &str) -> Pushdown {
        let file = PipelineFile::parse(
            Path::new("p.toml"),
            SourceText::new("p.toml", text),
            &|_| None,
        )
        .unwrap();
        analyze(&file.doc, &file.routes, &|_| true)
    }

    fn fields(text: &str) -> Option<Vec<String>> {
        analyze_text(text).needs.fields()
    }

    const SOURCE: &str = "[source]\nplugin = \"csv\"\npath = \"in.csv\"\n";
    const SINK: &str = "[[sinks]]\nplugin = \"jsonl\"\npath = \"out.jsonl\"\n";
    const BLACKHOLE: &str = "[[sinks]]\nplugin = \"blackhole\"\n";

    fn file(transforms: &str, sinks: &str) -> String {
        format!("{SOURCE}{transforms}\n{sinks}")
    }

    fn set(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn a_sink_reads_every_field_and_a_blackhole_none() {
        assert_eq!(fields(&file("", SINK)), None);
        assert_eq!(fields(&file("", BLACKHOLE)), set(&[]));
        assert_eq!(fields(&file("", &format!("{BLACKHOLE}{SINK}"))), None);
    }

    #[test]
    fn select_needs_exactly_its_fields_and_a_filter_adds_its_condition() {
        let t = "[[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid' and customer.tier != 'x'\"\n\
                 [[transforms]]\nplugin = \"select\"\nfields = [\"id\", \"amount\"]\n";
        assert_eq!(
            fields(&file(t, SINK)),
            set(&["amount", "customer", "id", "status"])
        );
        let t = "[[transforms]]\nplugin = \"filter\"\nfield = \"n\"\nop = \"gt\"\nvalue = 3\n";
        assert_eq!(fields(&file(t, BLACKHOLE)), set(&["n"]));
    }

    #[test]
    fn drop_rename_set_and_cast() {
        let select = "[[transforms]]\nplugin = \"select\"\nfields = [\"a\", \"b\", \"c\"]\n";
        let drop = "[[transforms]]\nplugin = \"drop\"\nfields = [\"b\"]\n";
        // A field dropped before the select is not needed; the select needs its fields, whatever follows.
        assert_eq!(
            fields(&file(&format!("{drop}{select}"), SINK)),
            set(&["a", "c"])
        );
        assert_eq!(
            fields(&file(&format!("{select}{drop}"), SINK)),
            set(&["a", "b", "c"])
        );
        let cast = "[[transforms]]\nplugin = \"cast\"\nfields = { z = \"int\" }\n";
        assert_eq!(
            fields(&file(&format!("{cast}{select}"), BLACKHOLE)),
            set(&["a", "b", "c", "z"])
        );
        let filter =
            |f: &str| format!("[[transforms]]\nplugin = \"filter\"\nwhen = \"exists({f})\"\n");
        let rename = "[[transforms]]\nplugin = \"rename\"\nfields = { old = \"new\" }\n";
        assert_eq!(
            fields(&file(&format!("{rename}{}", filter("new")), BLACKHOLE)),
            set(&["new", "old"])
        );
        let set_x = "[[transforms]]\nplugin = \"set\"\nfields = { x = 1 }\n";
        assert_eq!(
            fields(&file(
                &format!("{set_x}{}{}", filter("x"), filter("y")),
                BLACKHOLE
            )),
            set(&["y"])
        );
        let fill_x = "[[transforms]]\nplugin = \"set\"\noverwrite = false\nfields = { x = 1 }\n";
        assert_eq!(
            fields(&file(&format!("{fill_x}{}", filter("x")), BLACKHOLE)),
            set(&["x"])
        );
        assert_eq!(
            fields(&file(&format!("{}{drop}", filter("b")), BLACKHOLE)),
            set(&["b"])
        );
    }

    #[test]
    fn a_script_or_an_unknown_plugin_reads_everything() {
        let select = "[[transforms]]\nplugin = \"select\"\nfields = [\"a\"]\n";
        let script = "[[transforms]]\nplugin = \"script\"\nscript = \"record\"\n";
        assert_eq!(fields(&file(&format!("{script}{select}"), BLACKHOLE)), None);
        // After a select, a script reads only what the select left.
        assert_eq!(
            fields(&file(&format!("{select}{script}"), BLACKHOLE)),
            set(&["a"])
        );
        let other = "[[transforms]]\nplugin = \"enrich\"\n";
        assert_eq!(fields(&file(&format!("{other}{select}"), BLACKHOLE)), None);
        // A plugin named `select` that is not the reference one is unknown too.
        let file = PipelineFile::parse(
            Path::new("p.toml"),
            SourceText::new("p.toml", file(select, BLACKHOLE)),
            &|_| None,
        )
        .unwrap();
        let pushdown = analyze(&file.doc, &file.routes, &|t| t.plugin != "select");
        assert_eq!(pushdown.needs, Needs::All);
    }

    #[test]
    fn routes_read_their_conditions() {
        let sinks = "[[sinks]]\nplugin = \"blackhole\"\nwhen = \"country == 'FR'\"\n\
                     [[sinks]]\nplugin = \"blackhole\"\notherwise = true\n";
        assert_eq!(fields(&file("", sinks)), set(&["country"]));
        let sinks = "[[sinks]]\nplugin = \"jsonl\"\npath = \"x\"\nwhen = \"country == 'FR'\"\n";
        assert_eq!(fields(&file("", sinks)), None);
    }

    #[test]
    fn windows_read_their_keys_or_everything() {
        let window = "[[transforms]]\nplugin = \"window\"\nkind = \"tumbling\"\nsize = \"1m\"\n\
                      time_field = \"at\"\ngroup_by = [\"country\"]\naggregates = { n = \"count\", total = \"sum(amount)\" }\n";
        assert_eq!(
            fields(&file(window, SINK)),
            set(&["amount", "at", "country"])
        );
        let batch = "[[transforms]]\nplugin = \"batch\"\nsize = 10\n";
        assert_eq!(fields(&file(batch, BLACKHOLE)), None);
    }

    #[test]
    fn the_first_filter_is_pushed_unless_it_reads_the_source_tag() {
        let filter = "[[transforms]]\nplugin = \"filter\"\nwhen = \"status == 'paid'\"\n";
        let pushdown = analyze_text(&file(filter, SINK));
        assert_eq!(
            pushdown.filter.map(|c| c.to_string()),
            Some("status == 'paid'".to_owned())
        );
        let select = "[[transforms]]\nplugin = \"select\"\nfields = [\"a\"]\n";
        assert_eq!(
            analyze_text(&file(&format!("{select}{filter}"), SINK)).filter,
            None
        );
        let tagged = "[[sources]]\nplugin = \"csv\"\nname = \"eu\"\npath = \"eu.csv\"\n\
                      [[sources]]\nplugin = \"csv\"\nname = \"us\"\npath = \"us.csv\"\n\
                      [[transforms]]\nplugin = \"filter\"\nwhen = \"_source == 'eu'\"\n";
        assert_eq!(analyze_text(&format!("{tagged}{SINK}")).filter, None);
    }
}

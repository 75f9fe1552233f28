//! `rivus schema`: the JSON schema of pipeline files, with every registered plugin's options, for editors
//! (e.g. Taplo or VS Code's Even Better TOML: `#:schema ./rivus.schema.json` at the top of a file).

use rivus_core::config::{PipeConfig, StreamConfig};
use rivus_core::registry::{self, PluginDescriptor, PluginKind};
use rivus_core::spec;
use serde_json::{Map, Value, json};

use crate::CliError;

pub(crate) fn print() -> Result<(), CliError> {
    let schema = pipeline_schema();
    let text =
        serde_json::to_string_pretty(&schema).map_err(|e| CliError::Failed(e.to_string()))?;
    crate::output::print_stdout(&format!("{text}\n"))
}

/// Moves every nested `$defs` into `defs` (so that each `#/$defs/Name` reference resolves at the root) and drops
/// nested `$schema` keys.
fn hoist(value: &mut Value, defs: &mut Map<String, Value>) {
    match value {
        Value::Object(obj) => {
            obj.shift_remove("$schema");
            if let Some(Value::Object(nested)) = obj.shift_remove("$defs") {
                for (name, mut def) in nested {
                    hoist(&mut def, defs);
                    defs.entry(name).or_insert(def);
                }
            }
            for v in obj.values_mut() {
                hoist(v, defs);
            }
        }
        Value::Array(items) => {
            for v in items {
                hoist(v, defs);
            }
        }
        _ => {}
    }
}

/// One plugin table: the plugin's own options plus `plugin`, `name` and `runtime`.
fn plugin_table(p: &PluginDescriptor) -> Value {
    let mut schema = serde_json::to_value(p.config_schema()).unwrap_or_else(|_| json!({}));
    let obj = schema
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut properties = obj
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    properties.insert(
        "plugin".into(),
        json!({ "const": p.name(), "description": p.description() }),
    );
    properties.insert(
        "name".into(),
        json!({ "type": "string", "description": "The stage's name in reports." }),
    );
    properties.insert("runtime".into(), json!({ "$ref": "#/$defs/PipeConfig" }));
    let mut required: Vec<Value> = obj
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    required.push(json!("plugin"));
    let mut table = Map::new();
    table.insert(
        "title".into(),
        json!(format!("{} ({})", p.name(), p.kind())),
    );
    table.insert("type".into(), json!("object"));
    table.insert("properties".into(), Value::Object(properties));
    table.insert("required".into(), Value::Array(required));
    table.insert("additionalProperties".into(), json!(false));
    if let Some(defs) = obj.get("$defs") {
        // Hoisted to the root by `pipeline_schema`, where the plugin's `#/$defs/...` references point.
        table.insert("$defs".into(), defs.clone());
    }
    Value::Object(table)
}

/// A built-in stage's table (`window`, `batch`): its options plus `plugin` and `name`.
fn builtin_table(name: &str) -> Value {
    let schema = spec::builtin_schema(name)
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({}));
    let mut properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    properties.insert(
        "plugin".into(),
        json!({ "const": name, "description": spec::builtin_description(name) }),
    );
    properties.insert(
        "name".into(),
        json!({ "type": "string", "description": "The stage's name in reports." }),
    );
    let mut required: Vec<Value> = schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    required.push(json!("plugin"));
    let mut table = json!({
        "title": format!("{name} (runtime stage)"),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if let Some(defs) = schema.get("$defs") {
        table["$defs"] = defs.clone();
    }
    table
}

fn one_of(kinds: &[PluginKind]) -> Value {
    one_of_with(kinds, &Map::new())
}

/// `one_of`, with `extra` properties in every table (the routes of `[[sinks]]`).
fn one_of_with(kinds: &[PluginKind], extra: &Map<String, Value>) -> Value {
    let mut plugins: Vec<&PluginDescriptor> = registry::plugins()
        .filter(|p| kinds.contains(&p.kind()))
        .collect();
    plugins.sort_by_key(|p| (p.name(), p.kind()));
    plugins.dedup_by_key(|p| p.name());
    let tables = plugins.into_iter().map(|p| {
        let mut table = plugin_table(p);
        if let Some(Value::Object(props)) = table.get_mut("properties") {
            props.extend(extra.clone());
        }
        table
    });
    json!({ "oneOf": tables.collect::<Vec<_>>() })
}

/// The keys of a `[[sinks]]` table that the pipeline reads (routes), beside the plugin's options.
fn route_keys() -> Map<String, Value> {
    let mut keys = Map::new();
    keys.insert(
        "when".into(),
        json!({
            "type": "string",
            "description": "A route: this sink takes only the records the condition holds for, e.g. \
                `country == 'FR' and amount > 10`."
        }),
    );
    keys.insert(
        "otherwise".into(),
        json!({
            "type": "boolean",
            "description": "The default route: this sink takes the records no `when` route took (one sink at most)."
        }),
    );
    keys
}

pub(crate) fn pipeline_schema() -> Value {
    let mut stream = serde_json::to_value(schemars::schema_for!(StreamConfig)).unwrap_or_default();
    if let Some(props) = stream.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "public_env".into(),
            json!({
                "type": "array",
                "items": { "type": "string" },
                "description": "Environment variables whose values are not secret: shown as they are. Every other \
                                `${VAR}` value is shown as `***` in errors, logs and summaries."
            }),
        );
        props.insert(
            "pushdown".into(),
            json!({
                "type": "boolean",
                "default": true,
                "description": "Tell the sources which fields the pipeline reads, and the condition of a `filter` \
                                right after them, so that they build no more than that. A value nobody reads is \
                                then not checked."
            }),
        );
    }
    let pipe = serde_json::to_value(schemars::schema_for!(PipeConfig)).unwrap_or_default();
    let sources = one_of(&[PluginKind::AsyncSource, PluginKind::SyncSource]);
    let mut transforms = one_of(&[PluginKind::SyncPipe, PluginKind::AsyncPipe]);
    if let Some(Value::Array(tables)) = transforms.get_mut("oneOf") {
        tables.extend(spec::BUILTIN_STAGES.iter().map(|name| builtin_table(name)));
    }
    let sinks = one_of(&[PluginKind::AsyncSink, PluginKind::SyncSink]);
    let routed_sinks = one_of_with(
        &[PluginKind::AsyncSink, PluginKind::SyncSink],
        &route_keys(),
    );
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Rivus pipeline file",
        "type": "object",
        "required": ["sinks"],
        "oneOf": [{ "required": ["source"] }, { "required": ["sources"] }],
        "additionalProperties": false,
        "properties": {
            "pipeline": stream,
            "source": sources.clone(),
            "sources": {
                "type": "array",
                "minItems": 1,
                "description": "Several sources, merged; each record gets `_source` = its source's name.",
                "items": sources
            },
            "transforms": { "type": "array", "items": transforms },
            "sinks": { "type": "array", "minItems": 1, "items": routed_sinks },
            "dead_letter": sinks,
            "tests": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "input"],
                    "additionalProperties": false,
                    "properties": {
                        "name": { "type": "string" },
                        "input": { "type": "array", "items": { "type": "object" } },
                        "expect": { "type": "array", "items": { "type": "object" } },
                        "expect_dead_letters": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["error"],
                                "additionalProperties": false,
                                "properties": {
                                    "record": { "type": "object" },
                                    "error": { "type": "string" }
                                }
                            }
                        },
                        "expect_error": { "type": "string" },
                        "routes": {
                            "type": "object",
                            "description": "Sink name (or `unrouted`) → the records that route takes.",
                            "additionalProperties": { "type": "array", "items": { "type": "object" } }
                        }
                    }
                }
            }
        },
    });
    let mut defs = Map::new();
    let mut pipe = pipe;
    hoist(&mut pipe, &mut defs);
    defs.insert("PipeConfig".into(), pipe);
    if let Some(props) = schema.get_mut("properties") {
        hoist(props, &mut defs);
    }
    schema["$defs"] = Value::Object(defs);
    schema
}

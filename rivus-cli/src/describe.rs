//! `rivus list` and `rivus describe`.

use rivus_core::registry::{self, ConfigField, PluginDescriptor, PluginKind};
use rivus_core::spec;
use serde_json::json;

use crate::CliError;
use crate::cli::{DescribeArgs, ListArgs};
use crate::output::{item_type, outln, print_stdout, table};

/// The registered plugins, sorted by kind and name.
fn sorted(kind: Option<PluginKind>) -> Vec<&'static PluginDescriptor> {
    let mut all: Vec<_> = registry::plugins()
        .filter(|p| kind.is_none_or(|k| p.kind() == k))
        .collect();
    all.sort_by_key(|p| (p.kind(), p.name()));
    all
}

pub(crate) fn list(args: &ListArgs) -> Result<(), CliError> {
    let plugins = sorted(args.kind.map(Into::into));
    if args.json {
        let items: Vec<_> = plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.name(),
                    "kind": p.kind(),
                    "description": p.description(),
                    "type": p.type_name(),
                    "crate": p.crate_name(),
                })
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&items).map_err(|e| CliError::Failed(e.to_string()))?;
        return print_stdout(&format!("{text}\n"));
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            vec![
                p.kind().as_str().to_owned(),
                p.name().to_owned(),
                p.description().to_owned(),
            ]
        })
        .collect();
    print_stdout(&table(&["KIND", "NAME", "DESCRIPTION"], &rows))
}

pub(crate) fn describe(args: &DescribeArgs) -> Result<(), CliError> {
    let kind: Option<PluginKind> = args.kind.map(Into::into);
    let found: Vec<_> = sorted(kind)
        .into_iter()
        .filter(|p| p.name() == args.name)
        .collect();
    if found.is_empty() {
        if kind.is_none_or(|k| k == PluginKind::SyncPipe)
            && let Some(schema) = spec::builtin_schema(&args.name)
        {
            return describe_builtin(&args.name, &schema, args.json);
        }
        let kinds: Vec<PluginKind> = kind.into_iter().collect();
        let what = kind.map_or_else(|| "plugin".to_owned(), |k| format!("{k} plugin"));
        return Err(CliError::Config(crate::suggest::unknown(
            &args.name, &kinds, &what,
        )));
    }
    if args.json {
        let items: Vec<_> = found
            .iter()
            .map(|p| {
                json!({
                    "name": p.name(),
                    "kind": p.kind(),
                    "description": p.description(),
                    "type": p.type_name(),
                    "module": p.module_path(),
                    "crate": p.crate_name(),
                    "input": p.input_type().map(|t| t.name()),
                    "output": p.output_type().map(|t| t.name()),
                    "fields": p.config_fields(),
                    "schema": p.config_schema(),
                })
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&items).map_err(|e| CliError::Failed(e.to_string()))?;
        return print_stdout(&format!("{text}\n"));
    }
    for (i, p) in found.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        outln!("{} ({})", p.name(), p.kind());
        outln!("  {}", p.description());
        for line in usage(p) {
            outln!("  {line}");
        }
        outln!("  type:   {}", p.type_name());
        let items = match (p.input_type(), p.output_type()) {
            (Some(i), Some(o)) => format!("{} -> {}", item_type(i), item_type(o)),
            (None, Some(o)) => format!("gives {}", item_type(o)),
            (Some(i), None) => format!("takes {}", item_type(i)),
            (None, None) => "-".to_owned(),
        };
        outln!("  items:  {items}");
        let fields = p.config_fields();
        if fields.is_empty() {
            outln!("  options: none");
            continue;
        }
        outln!("  options:");
        let schema = p.config_schema();
        let rows: Vec<Vec<String>> = fields
            .iter()
            .map(|f| {
                let mut description = f.description.clone().unwrap_or_default().replace('\n', " ");
                if let Some(values) = enum_values(schema.as_value(), &f.name) {
                    if !description.is_empty() {
                        description.push(' ');
                    }
                    description.push_str(&format!("Values: {}.", values.join(", ")));
                }
                let default = match (&f.default, f.required) {
                    (_, true) => "required".to_owned(),
                    (Some(d), false) => format!("default {d}"),
                    (None, false) => "optional".to_owned(),
                };
                vec![f.name.clone(), f.ty.clone(), default, description]
            })
            .collect();
        for line in table(&["FIELD", "TYPE", "DEFAULT", "DESCRIPTION"], &rows).lines() {
            outln!("    {line}");
        }
    }
    Ok(())
}

/// The values an option of enum type takes (`eq`, `ne`, ...), from the configuration's JSON schema: the
/// option's `enum`, or the `const`s of its `oneOf`/`anyOf` (through `$ref`s; a `null` branch is left out).
/// `None` when the option is not an enum of plain values.
fn enum_values(schema: &serde_json::Value, field: &str) -> Option<Vec<String>> {
    let property = schema.get("properties")?.get(field)?;
    let mut values = Vec::new();
    collect_values(schema, property, &mut values, 0)?;
    (!values.is_empty()).then_some(values)
}

fn collect_values(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    out: &mut Vec<String>,
    depth: usize,
) -> Option<()> {
    if depth > 8 {
        return None;
    }
    let show = |v: &serde_json::Value| {
        format!(
            "`{}`",
            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
        )
    };
    if let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = reference.strip_prefix("#/$defs/")?;
        return collect_values(root, root.get("$defs")?.get(name)?, out, depth + 1);
    }
    if let Some(values) = schema.get("enum").and_then(|e| e.as_array()) {
        out.extend(values.iter().filter(|v| !v.is_null()).map(show));
        return Some(());
    }
    if let Some(value) = schema.get("const") {
        out.push(show(value));
        return Some(());
    }
    if let Some(branches) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(|b| b.as_array())
    {
        for branch in branches {
            if branch.get("type").and_then(|t| t.as_str()) == Some("null") {
                continue;
            }
            collect_values(root, branch, out, depth + 1)?;
        }
        return Some(());
    }
    None
}

/// How to use the plugin: its configuration type's doc comment past the first paragraph (which only names
/// the type), e.g. the script transform's contract. Empty when there is no more to say.
fn usage(p: &registry::PluginDescriptor) -> Vec<String> {
    let schema = p.config_schema();
    let Some(doc) = schema.get("description").and_then(|d| d.as_str()) else {
        return Vec::new();
    };
    let Some((_, rest)) = doc.split_once("\n\n") else {
        return Vec::new();
    };
    let mut lines = vec![String::new()];
    lines.extend(rest.lines().map(|l| l.trim_end().to_owned()));
    lines.push(String::new());
    lines
}

/// `rivus describe window`: a stage of the runtime, written among `[[transforms]]` (not a plugin).
fn describe_builtin(name: &str, schema: &schemars::Schema, json: bool) -> Result<(), CliError> {
    let description = spec::builtin_description(name).unwrap_or_default();
    let fields = ConfigField::from_schema(schema);
    if json {
        let item = json!([{
            "name": name,
            "kind": "runtime_stage",
            "description": description,
            "input": "Record",
            "output": "Record",
            "fields": fields,
            "schema": schema,
        }]);
        let text =
            serde_json::to_string_pretty(&item).map_err(|e| CliError::Failed(e.to_string()))?;
        return print_stdout(&format!("{text}\n"));
    }
    outln!("{name} (runtime stage, written as a [[transforms]] table with plugin = \"{name}\")");
    outln!("  {description}");
    outln!("  items:  Record -> Record");
    outln!("  options:");
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|f| {
            let default = match (&f.default, f.required) {
                (_, true) => "required".to_owned(),
                (Some(d), false) => format!("default {d}"),
                (None, false) => "optional".to_owned(),
            };
            vec![
                f.name.clone(),
                f.ty.clone(),
                default,
                f.description.clone().unwrap_or_default().replace('\n', " "),
            ]
        })
        .collect();
    for line in table(&["FIELD", "TYPE", "DEFAULT", "DESCRIPTION"], &rows).lines() {
        outln!("    {line}");
    }
    Ok(())
}

//! The `script` transform: a [Rhai](https://rhai.rs) script per record, for what the simple transforms cannot say.
//!
//! The record is in scope as the map `record`. What the script evaluates to decides the output:
//!
//! | result | output |
//! |---|---|
//! | `()` (e.g. the last statement ends with `;`) | `record`, as the script left it |
//! | a map | that map as the record |
//! | `true` / `false` | `record` / nothing (a filter) |
//! | an array of maps | one record per map (a flat-map) |
//!
//! ```toml
//! [[transforms]]
//! plugin = "script"
//! script = '''
//!   if record.amount > 100.0 { record.tier = "gold"; } else { record.tier = "basic"; }
//!   record.total = record.amount * 1.2;
//! '''
//! ```
//!
//! Every run is bounded (operations, string, array and map sizes, call and expression depth; each an option of
//! [`ScriptConfig`]), and so is the script's size, which compile time grows with. A script that does not compile
//! is a configuration error; a script that fails on a record (a missing field used in arithmetic, a runaway loop
//! past `max_operations`, a string past `max_string_bytes`) fails that record for the error policy. Both name
//! the stage and the place: in a pipeline file, the file's line and column of the script's token (the script's
//! own position mapped through where its string starts); in a script file, its line and column there. A script
//! that holds a secret from `${VAR}` gives no engine detail, which could quote a piece of it.

use std::borrow::Cow;
use std::path::PathBuf;

use rhai::{AST, Dynamic, Engine, EvalAltResult, Position, Scope};
use rivus_core::registry::OptionError;
use rivus_core::spec::{FilePosition, Origin};
use rivus_core::value::{Record, Value, kind_of};
use rivus_core::{Emit, PipeError, SyncPipe};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_max_operations() -> u64 {
    1_000_000
}

const fn default_max_string_bytes() -> usize {
    1 << 20
}

const fn default_max_array_items() -> usize {
    100_000
}

const fn default_max_map_items() -> usize {
    100_000
}

const fn default_max_call_depth() -> usize {
    32
}

const fn default_max_expr_depth() -> usize {
    64
}

const fn default_max_script_bytes() -> usize {
    256 << 10
}

/// Configuration of [`Script`]: exactly one of `script` and `path`.
///
/// The record is the map `record`; the script changes it in place (`record.total = record.amount * 1.2;`).
/// What the script evaluates to (its last expression) decides what goes on: `()` (a last statement that ends
/// with `;`) passes `record` on as the script left it; `true` passes it on and `false` drops it (a filter; a
/// dropped record counts as filtered); a map passes that map on instead; an array of maps emits one record per
/// map, in order (an empty array `[]` drops the record, like `false`). Anything else fails the record.
///
/// Every run is bounded, so that no record can hang or exhaust the pipeline: the `max_*` options below bound
/// the operations, the strings, arrays and maps a script builds, and how deep calls and expressions nest; a
/// record that passes a bound fails with an error naming the stage and the file's line, for the error policy.
/// A script longer than `max_script_bytes` is a configuration error (compile time grows with its size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    /// The script's text.
    #[serde(default)]
    pub script: Option<String>,
    /// A file that holds the script.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The most operations one record may take before it fails (guards against endless loops).
    /// Default: 1,000,000.
    #[serde(default = "default_max_operations")]
    pub max_operations: u64,
    /// The longest string a script may build, in bytes. Default: 1048576 (1 MiB).
    #[serde(default = "default_max_string_bytes")]
    pub max_string_bytes: usize,
    /// The most items of an array a script builds. Default: 100,000.
    #[serde(default = "default_max_array_items")]
    pub max_array_items: usize,
    /// The most entries of a map a script builds. Default: 100,000.
    #[serde(default = "default_max_map_items")]
    pub max_map_items: usize,
    /// How deep function calls may nest (recursion). Default: 32.
    #[serde(default = "default_max_call_depth")]
    pub max_call_depth: usize,
    /// How deep expressions may nest, at the top level and (half of it) in functions. Default: 64.
    #[serde(default = "default_max_expr_depth")]
    pub max_expr_depth: usize,
    /// The longest script, in bytes. Default: 262144 (256 KiB).
    #[serde(default = "default_max_script_bytes")]
    pub max_script_bytes: usize,
}

impl ScriptConfig {
    /// A configuration for `script`, with the default bounds.
    pub fn inline(script: impl Into<String>) -> Self {
        Self {
            script: Some(script.into()),
            path: None,
            max_operations: default_max_operations(),
            max_string_bytes: default_max_string_bytes(),
            max_array_items: default_max_array_items(),
            max_map_items: default_max_map_items(),
            max_call_depth: default_max_call_depth(),
            max_expr_depth: default_max_expr_depth(),
            max_script_bytes: default_max_script_bytes(),
        }
    }

    /// Checks the bounds: each at least 1 (Rhai reads 0 as "no bound").
    ///
    /// # Errors
    ///
    /// The first bound that is 0, named.
    pub fn check(&self) -> Result<(), OptionError> {
        let bounds = [
            ("max_operations", usize::from(self.max_operations > 0)),
            ("max_string_bytes", self.max_string_bytes),
            ("max_array_items", self.max_array_items),
            ("max_map_items", self.max_map_items),
            ("max_call_depth", self.max_call_depth),
            ("max_expr_depth", self.max_expr_depth),
            ("max_script_bytes", self.max_script_bytes),
        ];
        for (name, value) in bounds {
            if value == 0 {
                return Err(OptionError::invalid(
                    name,
                    "must be at least 1: every script is bounded",
                ));
            }
        }
        Ok(())
    }

    /// An engine with these bounds.
    fn engine(&self) -> Engine {
        let mut engine = Engine::new();
        engine.set_max_operations(self.max_operations);
        engine.set_max_string_size(self.max_string_bytes);
        engine.set_max_array_size(self.max_array_items);
        engine.set_max_map_size(self.max_map_items);
        engine.set_max_call_levels(self.max_call_depth);
        engine.set_max_expr_depths(self.max_expr_depth, (self.max_expr_depth / 2).max(1));
        engine
    }
}

/// Runs a Rhai script on each record: change it, drop it, or turn it into several.
///
/// See the [module docs](self).
#[rivus_core::sync_pipe("script", config = ScriptConfig)]
pub struct Script {
    engine: Engine,
    ast: AST,
    origin: ScriptOrigin,
    /// The script holds a secret from the environment: its errors leave out what the engine quotes of it.
    secret: bool,
}

/// What replaces the engine's message about a script that holds a secret (it may quote a token of it).
const HIDDEN: &str = "the details are not shown: the script holds a secret from the environment";

/// Where a script's text is, for its errors.
#[derive(Debug, Clone)]
enum ScriptOrigin {
    /// Inline in a pipeline file: positions map to the file's lines.
    File {
        file: String,
        stage: String,
        start: FilePosition,
    },
    /// A script file (`path`), or a text named by the caller; `stage` when a pipeline file built it.
    Named { name: String, stage: Option<String> },
}

impl ScriptOrigin {
    /// `p.toml:14:9 (stage `enrich`)`, or `<script>:2:9`.
    fn at(&self, pos: Position) -> String {
        let line = pos.line().unwrap_or(0);
        let column = pos.position().unwrap_or(0);
        match self {
            Self::File { file, stage, start } if line > 0 => {
                let at = Origin::map(*start, line, column.max(1));
                format!("{file}:{}:{} (stage `{stage}`)", at.line, at.column)
            }
            Self::File { file, stage, start } => {
                format!("{file}:{}:{} (stage `{stage}`)", start.line, start.column)
            }
            Self::Named { name, stage } => {
                let stage = stage
                    .as_ref()
                    .map(|s| format!(" (stage `{s}`)"))
                    .unwrap_or_default();
                format!("{name}:{line}:{column}{stage}")
            }
        }
    }

    /// The place without a position, for errors about the result.
    fn whole(&self) -> String {
        match self {
            Self::File { file, stage, start } => {
                format!("{file}:{}:{} (stage `{stage}`)", start.line, start.column)
            }
            Self::Named { name, stage: None } => name.clone(),
            Self::Named {
                name,
                stage: Some(stage),
            } => format!("{name} (stage `{stage}`)"),
        }
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl TryFrom<ScriptConfig> for Script {
    type Error = rivus_core::error::BoxError;

    fn try_from(config: ScriptConfig) -> Result<Self, Self::Error> {
        config.check()?;
        let built_from = Origin::current();
        let stage = built_from.as_ref().map(|o| o.stage().to_owned());
        let (text, origin, option) = match (&config.script, &config.path) {
            (Some(text), None) => {
                let start = built_from.as_ref().and_then(|o| o.string_start("script"));
                let origin = match (built_from, start) {
                    (Some(from), Some(start)) => ScriptOrigin::File {
                        file: from.file().to_owned(),
                        stage: from.stage().to_owned(),
                        start,
                    },
                    _ => ScriptOrigin::Named {
                        name: "<script>".to_owned(),
                        stage,
                    },
                };
                (text.clone(), origin, "script")
            }
            (None, Some(path)) => {
                crate::check::path(path, "path")?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    OptionError::invalid("path", format!("cannot read {}: {e}", path.display()))
                })?;
                let origin = ScriptOrigin::Named {
                    name: path.display().to_string(),
                    stage,
                };
                (text, origin, "path")
            }
            _ => {
                return Err(OptionError::invalid(
                    "script",
                    "give exactly one of `script` and `path`",
                )
                .into());
            }
        };
        if text.len() > config.max_script_bytes {
            return Err(OptionError::invalid(
                option,
                format!(
                    "the script is {} bytes, more than max_script_bytes ({})",
                    text.len(),
                    config.max_script_bytes
                ),
            )
            .into());
        }
        Self::build(&config, &text, origin)
            .map_err(|message| OptionError::invalid(option, message).into())
    }
}

impl Script {
    /// Compiles `text` with `max_operations` and the other bounds at their defaults; `origin` names it in
    /// errors (a file name, or `<script>`).
    ///
    /// # Errors
    ///
    /// A syntax error, with the line and column in `origin`.
    pub fn compile(
        text: &str,
        origin: impl Into<String>,
        max_operations: u64,
    ) -> Result<Self, PipeError> {
        let config = ScriptConfig {
            max_operations: max_operations.max(1),
            ..ScriptConfig::inline(text)
        };
        let origin = ScriptOrigin::Named {
            name: origin.into(),
            stage: None,
        };
        Self::build(&config, text, origin).map_err(|m| PipeError::msg(m).with_pipe("script"))
    }

    /// Compiles `text` with the bounds of `config`.
    fn build(config: &ScriptConfig, text: &str, origin: ScriptOrigin) -> Result<Self, String> {
        let engine = config.engine();
        let secret = rivus_core::secrets::contains(text);
        let ast = engine.compile(text).map_err(|e| {
            let why = if secret {
                HIDDEN.to_owned()
            } else {
                e.err_type().to_string()
            };
            format!(
                "{}: the script does not compile: {why}",
                origin.at(e.position())
            )
        })?;
        Ok(Self {
            engine,
            ast,
            origin,
            secret,
        })
    }

    /// The error of a run that failed (or passed a bound).
    fn failed(&self, e: &EvalAltResult) -> PipeError {
        let at = self.origin.at(e.position());
        if self.secret {
            return self.fail(format!("{at}: the script failed ({HIDDEN})"));
        }
        // The engine's message ends with the position inside the script, which `at` gives in the file.
        let message = e.unwrap_inner().to_string();
        let message = match message.rfind(" (line ") {
            Some(i) if message.ends_with(')') => &message[..i],
            _ => &message,
        };
        self.fail(format!("{at}: {message}"))
    }

    fn fail(&self, message: String) -> PipeError {
        PipeError::msg(message).with_pipe("script")
    }

    /// The record of a map the script gave, made faithful to `input` (the record as it came in).
    fn to_record(&self, value: Dynamic, input: &Value) -> Result<Record, PipeError> {
        let value: Value = rhai::serde::from_dynamic(&value).map_err(|e| {
            self.fail(format!(
                "{}: the result is not a record: {e}",
                self.origin.whole()
            ))
        })?;
        match restore(value, input) {
            Value::Object(fields) => Ok(Record::from_fields(fields)),
            other => Err(self.fail(format!(
                "{}: the script must give a map, an array of maps, a boolean or (), not {}",
                self.origin.whole(),
                kind_of(&other)
            ))),
        }
    }
}

impl SyncPipe for Script {
    type In = Record;
    type Out = Record;

    fn process(&self, record: Record) -> Result<Record, PipeError> {
        let mut out = rivus_core::pipe::Outputs::new();
        self.process_each(record, &mut out)?;
        if out.len() == 1 {
            out.into_iter()
                .next()
                .ok_or_else(|| self.fail("no output".into()))
        } else {
            Err(self.fail(format!(
                "the script gave {} records where one was expected",
                out.len()
            )))
        }
    }

    fn process_each<E: Emit<Record>>(&self, record: Record, out: &mut E) -> Result<(), PipeError> {
        let raw = record.raw().map(<[u8]>::to_vec);
        let input = record.to_json();
        let mut scope = Scope::new();
        scope.push("record", to_dynamic(&input));
        let result: Dynamic = self
            .engine
            .eval_ast_with_scope(&mut scope, &self.ast)
            .map_err(|e| self.failed(&e))?;
        let current = || -> Result<Record, PipeError> {
            let value = scope.get_value::<Dynamic>("record").ok_or_else(|| {
                self.fail(format!(
                    "{}: the script removed `record`",
                    self.origin.whole()
                ))
            })?;
            let mut record = self.to_record(value, &input)?;
            record.set_raw(raw.clone());
            Ok(record)
        };
        if result.is_unit() {
            return out.emit(current()?);
        }
        if let Ok(keep) = result.as_bool() {
            return if keep { out.emit(current()?) } else { Ok(()) };
        }
        if result.is_array() {
            let items = result
                .into_array()
                .map_err(|t| self.fail(format!("not an array: {t}")))?;
            for item in items {
                out.emit(self.to_record(item, &input)?)?;
            }
            return Ok(());
        }
        out.emit(self.to_record(result, &input)?)
    }

    fn name(&self) -> Cow<'static, str> {
        "script".into()
    }
}

/// A value as the script sees it: integers that fit 64 bits as `INT`, other numbers as `FLOAT`, objects as maps.
fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Dynamic::from_int(i),
            (None, Some(f)) => Dynamic::from_float(f),
            (None, None) => Dynamic::from(n.to_string()),
        },
        Value::String(s) => Dynamic::from(s.to_string()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Makes what the script gave faithful to what it was given (Rhai maps sort their keys, and a number that went
/// through `FLOAT` may have lost digits): keys that `input` has come in `input`'s order, new keys after them (in
/// Rhai's order), and a value the script did not change is `input`'s own value, digit for digit.
fn restore(output: Value, input: &Value) -> Value {
    // What the input's value looks like after a trip through the script unchanged.
    let through_script = |v: &Value| rhai::serde::from_dynamic::<Value>(&to_dynamic(v)).ok();
    match (output, input) {
        (Value::Object(mut out), Value::Object(inp)) => {
            let mut fields = rivus_core::value::Fields::new();
            for (key, before) in inp {
                if let Some(after) = out.remove(key) {
                    fields.insert(key.clone(), restore(after, before));
                }
            }
            fields.extend(out);
            Value::Object(fields)
        }
        (Value::Array(out), Value::Array(inp)) => Value::Array(
            out.into_iter()
                .enumerate()
                .map(|(i, after)| match inp.get(i) {
                    Some(before) => restore(after, before),
                    None => after,
                })
                .collect(),
        ),
        (out @ Value::Number(_), before @ Value::Number(_)) => {
            if through_script(before).as_ref() == Some(&out) {
                before.clone()
            } else {
                out
            }
        }
        (out, _) => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str, record: Record) -> Result<Vec<Record>, PipeError> {
        let s = Script::compile(script, "<test>", 10_000)?;
        let mut out = Vec::new();
        s.process_each(record, &mut out)?;
        Ok(out)
    }

    fn rec(pairs: &[(&str, Value)]) -> Record {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn modifies_filters_and_fans_out() {
        let r = rec(&[("amount", 150.0.into()), ("name", "ada".into())]);
        let out = run(
            r#"if record.amount > 100.0 { record.tier = "gold"; } else { record.tier = "basic"; }"#,
            r.clone(),
        )
        .unwrap();
        assert_eq!(out[0].get("tier"), Some(&Value::from("gold")));
        assert_eq!(
            out[0].field_names().collect::<Vec<_>>(),
            ["amount", "name", "tier"]
        );
        assert!(run("record.amount > 200.0", r.clone()).unwrap().is_empty());
        assert_eq!(run("[#{a: 1}, #{a: 2}]", r.clone()).unwrap().len(), 2);
        assert_eq!(
            run("#{only: record.name}", r).unwrap()[0].get("only"),
            Some(&Value::from("ada"))
        );
    }

    #[test]
    fn keeps_the_input_key_order_and_exact_numbers() {
        let input: Record = serde_json::from_str(
            r#"{"zeta":1,"big":123456789012345678901234567890,"price":1.10,"nested":{"y":1,"b":[{"z":0,"a":0}]},"alpha":2}"#,
        )
        .unwrap();
        let out = run(
            "record.alpha = 3; record.added = 1; record.price += 1.0;",
            input,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&out[0]).unwrap(),
            r#"{"zeta":1,"big":123456789012345678901234567890,"price":2.1,"nested":{"y":1,"b":[{"z":0,"a":0}]},"alpha":3,"added":1}"#
        );
    }

    #[test]
    fn errors_have_positions() {
        let err = Script::compile("let x = ;", "<test>", 10).unwrap_err();
        assert!(err.message().starts_with("<test>:1:"), "{err}");
        let err = run("\n record.missing + 1", Record::new()).unwrap_err();
        assert!(err.message().starts_with("<test>:2:"), "{err}");
        let err = run("loop {}", Record::new()).unwrap_err();
        assert!(err.message().contains("operations"), "{err}");
        let err = run("42", Record::new()).unwrap_err();
        assert!(
            err.message().contains("not a number") || err.message().contains("a number"),
            "{err}"
        );
    }
}

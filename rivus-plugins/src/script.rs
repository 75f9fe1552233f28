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
//! A script that does not compile is a configuration error with its line and column; a script that fails on a
//! record (a missing field used in arithmetic, a runaway loop past `max_operations`) fails that record, with the
//! script's line and column, for the error policy.

use std::borrow::Cow;
use std::path::PathBuf;

use rhai::{AST, Dynamic, Engine, Scope};
use rivus_core::value::{Record, Value, kind_of};
use rivus_core::{Emit, PipeError, SyncPipe};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const fn default_max_operations() -> u64 {
    1_000_000
}

/// Configuration of [`Script`]: exactly one of `script` and `path`.
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
}

/// Runs a Rhai script on each record: change it, drop it, or turn it into several.
///
/// See the [module docs](self).
#[rivus_core::sync_pipe("script", config = ScriptConfig)]
pub struct Script {
    engine: Engine,
    ast: AST,
    origin: String,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl TryFrom<ScriptConfig> for Script {
    type Error = PipeError;

    fn try_from(config: ScriptConfig) -> Result<Self, PipeError> {
        let (text, origin) = match (config.script, config.path) {
            (Some(text), None) => (text, "<script>".to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| PipeError::permanent("script", e).with_pipe("script"))?;
                (text, path.display().to_string())
            }
            _ => {
                return Err(
                    PipeError::msg("give exactly one of `script` and `path`").with_pipe("script")
                );
            }
        };
        Self::compile(&text, origin, config.max_operations)
    }
}

impl Script {
    /// Compiles `text`; `origin` names it in errors (a file name, or `<script>`).
    ///
    /// # Errors
    ///
    /// A syntax error, with the line and column in `origin`.
    pub fn compile(
        text: &str,
        origin: impl Into<String>,
        max_operations: u64,
    ) -> Result<Self, PipeError> {
        let origin = origin.into();
        let mut engine = Engine::new();
        engine.set_max_operations(max_operations);
        let ast = engine.compile(text).map_err(|e| {
            let pos = e.position();
            PipeError::msg(format!(
                "{origin}:{}:{}: {}",
                pos.line().unwrap_or(0),
                pos.position().unwrap_or(0),
                e.err_type()
            ))
            .with_pipe("script")
        })?;
        Ok(Self {
            engine,
            ast,
            origin,
        })
    }

    fn fail(&self, message: String) -> PipeError {
        PipeError::msg(message).with_pipe("script")
    }

    /// The record of a map the script gave, made faithful to `input` (the record as it came in).
    fn to_record(&self, value: Dynamic, input: &Value) -> Result<Record, PipeError> {
        let value: Value = rhai::serde::from_dynamic(&value)
            .map_err(|e| self.fail(format!("{}: the result is not a record: {e}", self.origin)))?;
        match restore(value, input) {
            Value::Object(fields) => Ok(Record::from_fields(fields)),
            other => Err(self.fail(format!(
                "{}: the script must give a map, an array of maps, a boolean or (), not {}",
                self.origin,
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
            .map_err(|e| {
                let pos = e.position();
                self.fail(format!(
                    "{}:{}:{}: {}",
                    self.origin,
                    pos.line().unwrap_or(0),
                    pos.position().unwrap_or(0),
                    e.unwrap_inner()
                ))
            })?;
        let current = || -> Result<Record, PipeError> {
            let value = scope.get_value::<Dynamic>("record").ok_or_else(|| {
                self.fail(format!("{}: the script removed `record`", self.origin))
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
        Value::String(s) => Dynamic::from(s.clone()),
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
                if let Some(after) = out.shift_remove(key) {
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

//! Built-in transforms on [`Record`]s, usable by name in pipeline files: [`Select`], [`DropFields`], [`Rename`],
//! [`Set`], [`Cast`] and [`Filter`]; the `script` transform is in [`crate::script`].
//!
//! A transform that cannot do its job on a record (a cast that does not parse, a comparison of a string with a
//! number) fails that record with an error naming the field, so that the error policy sees it; nothing is
//! dropped silently. Only [`Filter`] drops records, and only those its condition rejects.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use rivus_core::registry::OptionError;
use rivus_core::value::{Record, Value, kind_of};
use rivus_core::{Emit, PipeError, SyncPipe};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::field_type::FieldType;

/// Configuration of [`Select`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectConfig {
    /// The fields to keep, in output order. Fields a record lacks are left out (use `set` for defaults); a field
    /// that no record had is reported with a warning when the pipe closes.
    pub fields: Vec<String>,
}

/// Keeps only the listed fields, in the listed order.
///
/// A listed field that none of the records had (a typo, most often) is not silent: closing the pipe logs a
/// warning that names it.
#[rivus_core::sync_pipe("select", config = SelectConfig)]
#[derive(Debug)]
pub struct Select {
    fields: Vec<String>,
    /// Per field, whether a record had it.
    seen: Vec<AtomicBool>,
    records: AtomicU64,
}

impl Select {
    /// Keeps `fields`, in that order.
    pub fn new(fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let fields: Vec<String> = fields.into_iter().map(Into::into).collect();
        let seen = fields.iter().map(|_| AtomicBool::new(false)).collect();
        Self {
            fields,
            seen,
            records: AtomicU64::new(0),
        }
    }

    /// The listed fields that none of the records seen so far had, when there were records.
    pub fn never_seen(&self) -> Vec<&str> {
        if self.records.load(AtomicOrdering::Relaxed) == 0 {
            return Vec::new();
        }
        (self.fields.iter().zip(&self.seen))
            .filter(|(_, seen)| !seen.load(AtomicOrdering::Relaxed))
            .map(|(f, _)| f.as_str())
            .collect()
    }
}

impl From<SelectConfig> for Select {
    fn from(config: SelectConfig) -> Self {
        Self::new(config.fields)
    }
}

impl SyncPipe for Select {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        self.records.fetch_add(1, AtomicOrdering::Relaxed);
        for (field, seen) in self.fields.iter().zip(&self.seen) {
            if !seen.load(AtomicOrdering::Relaxed) && record.get(field).is_some() {
                seen.store(true, AtomicOrdering::Relaxed);
            }
        }
        record.select(self.fields.iter().map(String::as_str));
        Ok(record)
    }
    fn close(&mut self) -> Result<(), PipeError> {
        let missing = self.never_seen();
        if !missing.is_empty() {
            let records = self.records.load(AtomicOrdering::Relaxed);
            tracing::warn!(
                "select: no record had the field(s) {} ({records} record(s) seen); is a name misspelt?",
                missing
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }
    fn name(&self) -> Cow<'static, str> {
        "select".into()
    }
}

/// Removes the listed fields.
#[rivus_core::sync_pipe("drop")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropFields {
    /// The fields to remove; fields a record lacks are ignored.
    pub fields: Vec<String>,
}

impl SyncPipe for DropFields {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        for field in &self.fields {
            record.remove(field);
        }
        Ok(record)
    }
    fn name(&self) -> Cow<'static, str> {
        "drop".into()
    }
}

/// Renames fields in place (each keeps its position).
#[rivus_core::sync_pipe("rename")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// Old name → new name. A record that lacks an old name is passed on unchanged.
    pub fields: BTreeMap<String, String>,
}

impl SyncPipe for Rename {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        for (from, to) in &self.fields {
            record.rename(from, to);
        }
        Ok(record)
    }
    fn name(&self) -> Cow<'static, str> {
        "rename".into()
    }
}

/// Sets fields to constant values.
#[rivus_core::sync_pipe("set")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Set {
    /// Field → value (any TOML/JSON value).
    pub fields: BTreeMap<String, Value>,
    /// Overwrite fields that already have a value. Default: `true`; `false` only fills in missing fields.
    #[serde(default = "overwrite_default")]
    pub overwrite: bool,
}

const fn overwrite_default() -> bool {
    true
}

impl SyncPipe for Set {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        for (field, value) in &self.fields {
            if self.overwrite || record.get(field).is_none_or(Value::is_null) {
                record.insert(field.clone(), value.clone());
            }
        }
        Ok(record)
    }
    fn name(&self) -> Cow<'static, str> {
        "set".into()
    }
}

/// Converts fields to a type (`string`, `int`, `float`, `bool`).
#[rivus_core::sync_pipe("cast")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cast {
    /// Field → type. A value that does not convert fails the record with an error naming the field.
    pub fields: BTreeMap<String, FieldType>,
    /// Whether a record that lacks one of the fields is an error. Default: `false` (the field stays absent).
    #[serde(default)]
    pub required: bool,
}

impl SyncPipe for Cast {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        for (field, ty) in &self.fields {
            match record.get_mut(field) {
                Some(value) => {
                    *value = ty.convert(value).map_err(|e| {
                        PipeError::msg(format!("field `{field}`: {e}")).with_pipe("cast")
                    })?;
                }
                None if self.required => {
                    return Err(
                        PipeError::msg(format!("field `{field}` is missing")).with_pipe("cast")
                    );
                }
                None => {}
            }
        }
        Ok(record)
    }
    fn name(&self) -> Cow<'static, str> {
        "cast".into()
    }
}

/// How [`Filter`] compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (`==`).
    Eq,
    /// Not equal (`!=`).
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// The string field contains the string value.
    Contains,
    /// The field is present and not null (no `value`).
    Exists,
    /// The field is absent or null (no `value`).
    Missing,
}

/// Configuration of [`Filter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The field to test.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value to compare with: required by every `op` but `exists` and `missing`, which take none.
    #[serde(default)]
    pub value: Option<Value>,
}

/// Keeps the records whose field satisfies the condition `field op value`; drops the others.
///
/// Numbers compare as numbers and strings as strings. Comparing values of different kinds (a string field with
/// a number) is an error for that record, not a silent drop; a record that lacks the field fails every
/// comparison but `ne` and `missing`.
#[rivus_core::sync_pipe("filter", config = FilterConfig)]
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The field to test.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value to compare with; `null` for `exists` and `missing`.
    pub value: Value,
}

impl TryFrom<FilterConfig> for Filter {
    type Error = OptionError;

    fn try_from(config: FilterConfig) -> Result<Self, OptionError> {
        let takes_value = !matches!(config.op, Op::Exists | Op::Missing);
        let op = serde_json::to_value(config.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let value = match (takes_value, config.value) {
            (true, None | Some(Value::Null)) => {
                return Err(OptionError::invalid(
                    "op",
                    format!("`op = \"{op}\"` needs a `value` to compare the field with"),
                ));
            }
            (true, Some(value)) => value,
            (false, None) => Value::Null,
            (false, Some(_)) => {
                return Err(OptionError::invalid(
                    "value",
                    format!("`op = \"{op}\"` takes no `value`"),
                ));
            }
        };
        Ok(Self {
            field: config.field,
            op: config.op,
            value,
        })
    }
}

impl Filter {
    fn keep(&self, record: &Record) -> Result<bool, PipeError> {
        let field = record.get(&self.field).filter(|v| !v.is_null());
        let Some(actual) = field else {
            return Ok(matches!(self.op, Op::Missing | Op::Ne));
        };
        let mismatch = || {
            PipeError::msg(format!(
                "field `{}` is {} ({actual}), which cannot be compared with {} ({})",
                self.field,
                kind_of(actual),
                kind_of(&self.value),
                self.value
            ))
            .with_pipe("filter")
        };
        let order = || -> Result<Ordering, PipeError> {
            match (actual, &self.value) {
                (Value::Number(a), Value::Number(b)) => {
                    let (a, b) = (
                        a.as_f64().unwrap_or(f64::NAN),
                        b.as_f64().unwrap_or(f64::NAN),
                    );
                    a.partial_cmp(&b).ok_or_else(mismatch)
                }
                (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
                (Value::Bool(a), Value::Bool(b)) => Ok(a.cmp(b)),
                _ => Err(mismatch()),
            }
        };
        Ok(match self.op {
            Op::Exists => true,
            Op::Missing => false,
            Op::Eq => order()? == Ordering::Equal,
            Op::Ne => order()? != Ordering::Equal,
            Op::Gt => order()? == Ordering::Greater,
            Op::Ge => order()? != Ordering::Less,
            Op::Lt => order()? == Ordering::Less,
            Op::Le => order()? != Ordering::Greater,
            Op::Contains => match (actual, &self.value) {
                (Value::String(a), Value::String(b)) => a.contains(b.as_str()),
                (Value::Array(items), v) => items.contains(v),
                _ => return Err(mismatch()),
            },
        })
    }
}

impl SyncPipe for Filter {
    type In = Record;
    type Out = Record;

    fn process(&self, record: Record) -> Result<Record, PipeError> {
        if self.keep(&record)? {
            Ok(record)
        } else {
            Err(
                PipeError::msg("the record does not match the condition; call `process_each`")
                    .with_pipe("filter"),
            )
        }
    }

    fn process_each<E: Emit<Record>>(&self, record: Record, out: &mut E) -> Result<(), PipeError> {
        if self.keep(&record)? {
            out.emit(record)
        } else {
            Ok(())
        }
    }

    fn name(&self) -> Cow<'static, str> {
        "filter".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, Value)]) -> Record {
        pairs.iter().cloned().collect()
    }

    fn kept(f: &Filter, r: Record) -> Result<bool, PipeError> {
        let mut out = Vec::new();
        f.process_each(r, &mut out)?;
        Ok(!out.is_empty())
    }

    #[test]
    fn select_drop_rename_set() {
        let r = rec(&[("a", 1.into()), ("b", 2.into()), ("c", 3.into())]);
        let s = Select::new(["c", "a"]).process(r.clone()).unwrap();
        assert_eq!(s.field_names().collect::<Vec<_>>(), ["c", "a"]);
        let d = DropFields {
            fields: vec!["b".into()],
        }
        .process(r.clone())
        .unwrap();
        assert_eq!(d.field_names().collect::<Vec<_>>(), ["a", "c"]);
        let n = Rename {
            fields: [("b".to_owned(), "bee".to_owned())].into(),
        }
        .process(r.clone())
        .unwrap();
        assert_eq!(n.field_names().collect::<Vec<_>>(), ["a", "bee", "c"]);
        let set = Set {
            fields: [
                ("a".to_owned(), Value::from("x")),
                ("z".to_owned(), 0.into()),
            ]
            .into(),
            overwrite: false,
        };
        let t = set.process(r).unwrap();
        assert_eq!(t.get("a"), Some(&Value::from(1)));
        assert_eq!(t.get("z"), Some(&Value::from(0)));
    }

    #[test]
    fn cast_names_the_field() {
        let c = Cast {
            fields: [("n".to_owned(), FieldType::Int)].into(),
            required: true,
        };
        assert_eq!(
            c.process(rec(&[("n", "42".into())])).unwrap().get("n"),
            Some(&Value::from(42))
        );
        let err = c.process(rec(&[("n", "x".into())])).unwrap_err();
        assert_eq!(err.pipe(), "cast");
        assert!(err.message().starts_with("field `n`:"), "{err}");
        assert!(
            c.process(Record::new())
                .unwrap_err()
                .message()
                .contains("missing")
        );
    }

    #[test]
    fn filter_compares_and_reports_mismatches() {
        let gt = Filter {
            field: "amount".into(),
            op: Op::Gt,
            value: 10.into(),
        };
        assert!(kept(&gt, rec(&[("amount", 11.5.into())])).unwrap());
        assert!(!kept(&gt, rec(&[("amount", 10.into())])).unwrap());
        assert!(!kept(&gt, Record::new()).unwrap());
        let err = kept(&gt, rec(&[("amount", "11".into())])).unwrap_err();
        assert!(err.message().contains("is a string"), "{err}");
        let eq = Filter {
            field: "s".into(),
            op: Op::Eq,
            value: "paid".into(),
        };
        assert!(kept(&eq, rec(&[("s", "paid".into())])).unwrap());
        let missing = Filter {
            field: "s".into(),
            op: Op::Missing,
            value: Value::Null,
        };
        assert!(kept(&missing, Record::new()).unwrap());
        let contains = Filter {
            field: "s".into(),
            op: Op::Contains,
            value: "ai".into(),
        };
        assert!(kept(&contains, rec(&[("s", "paid".into())])).unwrap());
    }
}

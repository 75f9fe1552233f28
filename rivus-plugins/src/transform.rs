//! Built-in transforms on [`Record`]s, usable by name in pipeline files: [`Select`], [`DropFields`], [`Rename`],
//! [`Set`], [`Cast`] and [`Filter`]; the `script` transform is in [`crate::script`].
//!
//! A transform that cannot do its job on a record (a cast that does not parse, a comparison of a string with a
//! number) fails that record with an error naming the field, so that the error policy sees it; nothing is
//! dropped silently. Only [`Filter`] drops records, and only those its condition rejects.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use rivus_core::condition::{Condition, FieldTest};
use rivus_core::registry::OptionError;
use rivus_core::value::{FieldName, Record, Value};
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

/// Configuration of [`Set`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// Field → value (any TOML/JSON value).
    pub fields: BTreeMap<String, Value>,
    /// Overwrite fields that already have a value. Default: `true`; `false` only fills in missing fields.
    #[serde(default = "overwrite_default")]
    pub overwrite: bool,
}

const fn overwrite_default() -> bool {
    true
}

/// Sets fields to constant values.
#[rivus_core::sync_pipe("set", config = SetConfig)]
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    /// The fields in name order, their names interned: a field a source with interned names made (`csv`,
    /// `generator`), or one this pipe set on the record before, is found by its address, and the name set is
    /// a copy of a pointer, not a new string (about a third of the generator bench's `set`; callgrind).
    fields: Vec<(FieldName, Value)>,
    overwrite: bool,
}

impl From<SetConfig> for Set {
    fn from(config: SetConfig) -> Self {
        Self {
            fields: config
                .fields
                .into_iter()
                .map(|(name, value)| (FieldName::interned(&name), value))
                .collect(),
            overwrite: config.overwrite,
        }
    }
}

impl SyncPipe for Set {
    type In = Record;
    type Out = Record;
    fn process(&self, mut record: Record) -> Result<Record, PipeError> {
        // One search per field: the field is found and set in place, or appended (it is not there).
        for (field, value) in &self.fields {
            match record.get_mut(field) {
                Some(old) if self.overwrite || old.is_null() => *old = value.clone(),
                Some(_) => {}
                None => record.push(FieldName::clone(field), value.clone()),
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

/// How [`Filter`] compares a field with its value (the `field`/`op`/`value` form; `when` says more).
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

impl From<Op> for FieldTest {
    fn from(op: Op) -> Self {
        match op {
            Op::Eq => Self::Eq,
            Op::Ne => Self::Ne,
            Op::Gt => Self::Gt,
            Op::Ge => Self::Ge,
            Op::Lt => Self::Lt,
            Op::Le => Self::Le,
            Op::Contains => Self::Contains,
            Op::Exists => Self::Exists,
            Op::Missing => Self::Missing,
        }
    }
}

/// The options of [`Filter`], as written: a condition (`when`), or one field test (`field`, `op`, `value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterOptions {
    /// The condition a record must meet to be kept, e.g. `status == 'paid' and amount > 10` (see
    /// `rivus_core::condition`: `and`, `or`, `not`, comparisons, `in`, `contains`, `=~`, `exists(..)`).
    /// Instead of `field`/`op`/`value`.
    #[serde(default)]
    pub when: Option<Condition>,
    /// The field to test (with `op`; instead of `when`).
    #[serde(default)]
    pub field: Option<String>,
    /// The comparison (with `field`).
    #[serde(default)]
    pub op: Option<Op>,
    /// The value to compare with; not used by `exists` and `missing`.
    #[serde(default)]
    pub value: Value,
}

/// Keeps the records that meet a condition; drops the others.
///
/// The condition is `when = "status == 'paid' and amount > 10"`, or the one-field form `field`, `op`, `value`
/// (both compile to the same tree). Numbers compare as numbers and strings as strings. Comparing values of
/// different kinds (a string field with a number) is an error for that record, not a silent drop; a record that
/// lacks the field fails every comparison but `!=` (`ne`) and `missing`.
#[rivus_core::sync_pipe("filter", config = FilterOptions)]
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    options: FilterOptions,
    condition: Condition,
}

impl TryFrom<FilterOptions> for Filter {
    type Error = OptionError;
    fn try_from(options: FilterOptions) -> Result<Self, OptionError> {
        let condition = match (&options.when, &options.field, options.op) {
            (Some(when), None, None) if options.value.is_null() => when.clone(),
            (None, Some(field), Some(op)) => {
                check_value(op, &options.value)?;
                Condition::field_test(field, op.into(), options.value.clone())
            }
            (Some(_), _, _) => {
                return Err(OptionError::invalid(
                    "when",
                    "give either `when` or `field`/`op`/`value`, not both",
                ));
            }
            (None, Some(_), None) => {
                return Err(OptionError::invalid(
                    "field",
                    "`field` needs `op` (or write `when`)",
                ));
            }
            (None, None, Some(_)) => {
                return Err(OptionError::invalid(
                    "op",
                    "`op` needs `field` (or write `when`)",
                ));
            }
            (None, None, None) => {
                return Err(OptionError::invalid(
                    "when",
                    "a filter needs a condition: `when = \"status == 'paid'\"`, or `field` and `op`",
                ));
            }
        };
        Ok(Self { options, condition })
    }
}

impl From<Filter> for FilterOptions {
    fn from(filter: Filter) -> Self {
        filter.options
    }
}

/// `op` and `value` together: every comparison needs a value to compare with; `exists` and `missing` take none.
fn check_value(op: Op, value: &Value) -> Result<(), OptionError> {
    let name = || {
        serde_json::to_value(op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    match (matches!(op, Op::Exists | Op::Missing), value.is_null()) {
        (false, true) => Err(OptionError::invalid(
            "op",
            format!(
                "`op = \"{}\"` needs a `value` to compare the field with",
                name()
            ),
        )),
        (true, false) => Err(OptionError::invalid(
            "value",
            format!("`op = \"{}\"` takes no `value`", name()),
        )),
        _ => Ok(()),
    }
}

impl Filter {
    /// A filter keeping the records that meet `condition`.
    pub fn new(condition: Condition) -> Self {
        Self {
            options: FilterOptions {
                when: Some(condition.clone()),
                field: None,
                op: None,
                value: Value::Null,
            },
            condition,
        }
    }

    /// The one-field filter `field op value`.
    pub fn field(field: impl Into<String>, op: Op, value: Value) -> Self {
        let field = field.into();
        let condition = Condition::field_test(&field, op.into(), value.clone());
        Self {
            options: FilterOptions {
                when: None,
                field: Some(field),
                op: Some(op),
                value,
            },
            condition,
        }
    }

    /// The condition records must meet.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    #[inline]
    fn keep(&self, record: &Record) -> Result<bool, PipeError> {
        self.condition
            .eval(record)
            .map_err(|e| PipeError::msg(e.to_string()).with_pipe("filter"))
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
        let set = Set::from(SetConfig {
            fields: [
                ("a".to_owned(), Value::from("x")),
                ("z".to_owned(), 0.into()),
            ]
            .into(),
            overwrite: false,
        });
        let t = set.process(r.clone()).unwrap();
        assert_eq!(t.get("a"), Some(&Value::from(1)));
        assert_eq!(t.get("z"), Some(&Value::from(0)));
        assert_eq!(t.field_names().collect::<Vec<_>>(), ["a", "b", "c", "z"]);
        // A null is set in its place; with `overwrite`, any value is.
        let mut with_null = r.clone();
        with_null.insert("b", Value::Null);
        let t = set_fields(&[("b", "x"), ("z", "y")], false)
            .process(with_null)
            .unwrap();
        assert_eq!(t.field_names().collect::<Vec<_>>(), ["a", "b", "c", "z"]);
        assert_eq!(
            (t.get("b"), t.get("z")),
            (Some(&"x".into()), Some(&"y".into()))
        );
        let t = set_fields(&[("a", "x")], true).process(r).unwrap();
        assert_eq!(t.field_names().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(t.get("a"), Some(&"x".into()));
    }

    fn set_fields(fields: &[(&str, &str)], overwrite: bool) -> Set {
        Set::from(SetConfig {
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
            overwrite,
        })
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
        let gt = Filter::field("amount", Op::Gt, 10.into());
        assert!(kept(&gt, rec(&[("amount", 11.5.into())])).unwrap());
        assert!(!kept(&gt, rec(&[("amount", 10.into())])).unwrap());
        assert!(!kept(&gt, Record::new()).unwrap());
        let err = kept(&gt, rec(&[("amount", "11".into())])).unwrap_err();
        assert!(err.message().contains("is a string"), "{err}");
        assert_eq!(err.pipe(), "filter");
        let eq = Filter::field("s", Op::Eq, "paid".into());
        assert!(kept(&eq, rec(&[("s", "paid".into())])).unwrap());
        let missing = Filter::field("s", Op::Missing, Value::Null);
        assert!(kept(&missing, Record::new()).unwrap());
        let contains = Filter::field("s", Op::Contains, "ai".into());
        assert!(kept(&contains, rec(&[("s", "paid".into())])).unwrap());
    }

    #[test]
    fn filter_options_take_one_form() {
        let from = |json: serde_json::Value| -> Result<Filter, String> {
            let options: FilterOptions = serde_json::from_value(json).map_err(|e| e.to_string())?;
            Filter::try_from(options).map_err(|e| e.to_string())
        };
        let f = from(serde_json::json!({ "when": "s == 'paid' and n > 1" })).unwrap();
        assert!(kept(&f, rec(&[("s", "paid".into()), ("n", 2.into())])).unwrap());
        assert!(!kept(&f, rec(&[("s", "paid".into()), ("n", 1.into())])).unwrap());
        let both = from(serde_json::json!({ "when": "a", "field": "a", "op": "eq" })).unwrap_err();
        assert!(both.contains("not both"), "{both}");
        assert!(
            from(serde_json::json!({}))
                .unwrap_err()
                .contains("needs a condition")
        );
        let bad = from(serde_json::json!({ "when": "a === 1" })).unwrap_err();
        assert!(bad.contains("at column 5"), "{bad}");
        let no_value = from(serde_json::json!({ "field": "a", "op": "gt" })).unwrap_err();
        assert!(no_value.contains("needs a `value`"), "{no_value}");
        let old = from(serde_json::json!({ "field": "a", "op": "ge", "value": 2 })).unwrap();
        let old = FilterOptions::from(old);
        assert_eq!(serde_json::to_value(&old).unwrap()["op"], "ge");
    }
}

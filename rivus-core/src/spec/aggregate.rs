//! Aggregates over a window or a batch of records, grouped by fields: what `window` and `batch` stages of a
//! pipeline file give.
//!
//! `group_by = ["country"]` and `aggregates = { orders = "count", revenue = "sum(amount)" }` make one record per
//! group (in the order groups first appear): the `group_by` fields, the window's bounds (`window_start`,
//! `window_end`; not for a batch), then each aggregate. Functions: `count`, `sum(f)`, `min(f)`, `max(f)`,
//! `mean(f)`, `first(f)`, `last(f)`, `collect(f)`. Absent and null values are left out (`count` counts
//! records); `sum` and `mean` take numbers (a record with another kind there fails before the window, see
//! [`Checks`]); `min` and `max` compare numbers as numbers and strings as strings (numbers before strings);
//! `sum` of integers stays an integer. Without `aggregates`, each group gives `count` and `records` (the
//! records themselves).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer};

use crate::error::PipeError;
use crate::pipe::SyncPipe;
use crate::value::{Record, Value, kind_of};
use crate::window::{Window, WindowTime};

/// One aggregate function and its field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Func {
    Count,
    Sum(String),
    Min(String),
    Max(String),
    Mean(String),
    First(String),
    Last(String),
    Collect(String),
}

impl Func {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "count" || text == "count()" {
            return Ok(Self::Count);
        }
        let (name, rest) = text.split_once('(').ok_or_else(|| {
            format!("`{text}` is not an aggregate: write `count` or `sum(field)`")
        })?;
        let field = rest
            .strip_suffix(')')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                format!("`{text}`: write the field in parentheses, e.g. `{name}(amount)`")
            })?
            .to_owned();
        Ok(match name.trim() {
            "sum" => Self::Sum(field),
            "min" => Self::Min(field),
            "max" => Self::Max(field),
            "mean" | "avg" => Self::Mean(field),
            "first" => Self::First(field),
            "last" => Self::Last(field),
            "collect" => Self::Collect(field),
            other => {
                return Err(format!(
                    "unknown aggregate `{other}` (count, sum, min, max, mean, first, last, collect)"
                ));
            }
        })
    }

    /// The field the function reads; `None` for `count`.
    fn input_field(&self) -> Option<&str> {
        match self {
            Self::Count => None,
            Self::Sum(f)
            | Self::Min(f)
            | Self::Max(f)
            | Self::Mean(f)
            | Self::First(f)
            | Self::Last(f)
            | Self::Collect(f) => Some(f),
        }
    }

    /// The field a numeric function reads.
    fn numeric_field(&self) -> Option<&str> {
        match self {
            Self::Sum(f) | Self::Mean(f) => Some(f),
            _ => None,
        }
    }
}

/// `aggregates = { name = "func(field)", … }`, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates(Vec<(String, Func)>);

impl Aggregates {
    /// The fields the aggregates read; `None` for the default aggregates, which keep the whole records.
    pub(crate) fn input_fields(&self) -> Option<Vec<&str>> {
        (!self.0.is_empty()).then(|| self.0.iter().filter_map(|(_, f)| f.input_field()).collect())
    }
}

impl<'de> Deserialize<'de> for Aggregates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = crate::value::Map::deserialize(deserializer)?;
        let mut out = Vec::with_capacity(map.len());
        for (name, value) in map {
            let Value::String(text) = value else {
                return Err(serde::de::Error::custom(format!(
                    "aggregate `{name}`: write the function as a string, e.g. \"sum(amount)\""
                )));
            };
            let func = Func::parse(&text)
                .map_err(|e| serde::de::Error::custom(format!("aggregate `{name}`: {e}")))?;
            out.push((name, func));
        }
        Ok(Self(out))
    }
}

impl schemars::JsonSchema for Aggregates {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Aggregates".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "Output field → aggregate: `count`, `sum(f)`, `min(f)`, `max(f)`, `mean(f)`, \
                `first(f)`, `last(f)`, `collect(f)`.",
            "additionalProperties": { "type": "string" }
        })
    }
}

/// How a window or batch becomes records: grouped by `group_by`, one record per group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub(crate) group_by: Vec<String>,
    pub(crate) aggregates: Aggregates,
}

/// A window bound as a record value: event time as RFC 3339, a count window's index, processing time as
/// seconds since the window stage started.
fn bound(at: WindowTime) -> Value {
    match at {
        WindowTime::Index(i) => Value::from(i),
        WindowTime::Elapsed(d) => Value::from(d.as_secs_f64()),
        WindowTime::Event(t) => {
            let whole = t
                .duration_since(UNIX_EPOCH)
                .is_ok_and(|d| d.subsec_nanos() == 0);
            let text = if whole {
                humantime::format_rfc3339_seconds(t).to_string()
            } else {
                humantime::format_rfc3339_nanos(t).to_string()
            };
            Value::from(text)
        }
    }
}

impl Summary {
    /// The numeric fields of the aggregates (checked before the window).
    pub(crate) fn numeric_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = (self.aggregates.0.iter())
            .filter_map(|(_, f)| f.numeric_field().map(str::to_owned))
            .collect();
        fields.dedup();
        fields
    }

    /// One record per group of a closed window.
    pub(crate) fn window(&self, window: Window<Record>) -> Vec<Record> {
        let bounds = [
            ("window_start", bound(window.start)),
            ("window_end", bound(window.end)),
        ];
        self.groups(window.items, &bounds)
    }

    /// One record per group of a batch.
    pub(crate) fn batch(&self, items: Vec<Record>) -> Vec<Record> {
        self.groups(items, &[])
    }

    fn groups(&self, items: Vec<Record>, bounds: &[(&str, Value)]) -> Vec<Record> {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<Vec<Record>> = Vec::new();
        for record in items {
            let key: Vec<&Value> = (self.group_by.iter())
                .map(|f| record.get(f).unwrap_or(&Value::Null))
                .collect();
            let key = serde_json::to_string(&key).unwrap_or_default();
            let at = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[at].push(record);
        }
        groups
            .into_iter()
            .map(|members| self.summarize(&members, bounds))
            .collect()
    }

    fn summarize(&self, members: &[Record], bounds: &[(&str, Value)]) -> Record {
        let mut out =
            Record::with_capacity(self.group_by.len() + bounds.len() + self.aggregates.0.len());
        if let Some(first) = members.first() {
            for field in &self.group_by {
                out.insert(
                    field.as_str(),
                    first.get(field).cloned().unwrap_or(Value::Null),
                );
            }
        }
        for (name, value) in bounds {
            out.insert(*name, value.clone());
        }
        if self.aggregates.0.is_empty() {
            out.insert("count", members.len());
            let records: Vec<Value> = members.iter().map(Record::to_json).collect();
            out.insert("records", Value::Array(records));
            return out;
        }
        for (name, func) in &self.aggregates.0 {
            out.insert(name.as_str(), apply(func, members));
        }
        out
    }
}

/// The present, non-null values of `field`.
fn values<'a>(members: &'a [Record], field: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    members
        .iter()
        .filter_map(move |r| r.get(field))
        .filter(|v| !v.is_null())
}

fn apply(func: &Func, members: &[Record]) -> Value {
    match func {
        Func::Count => Value::from(members.len()),
        Func::Sum(f) => {
            let all_int = values(members, f).all(|v| v.as_i64().is_some());
            if all_int {
                let sum = values(members, f)
                    .filter_map(Value::as_i64)
                    .try_fold(0i64, i64::checked_add);
                if let Some(sum) = sum {
                    return Value::from(sum);
                }
            }
            number(values(members, f).filter_map(Value::as_f64).sum())
        }
        Func::Mean(f) => {
            let (sum, n) = values(members, f)
                .filter_map(Value::as_f64)
                .fold((0.0, 0u64), |(s, n), x| (s + x, n + 1));
            if n == 0 {
                Value::Null
            } else {
                number(sum / n as f64)
            }
        }
        Func::Min(f) => values(members, f)
            .min_by(|a, b| order(a, b))
            .cloned()
            .unwrap_or(Value::Null),
        Func::Max(f) => values(members, f)
            .max_by(|a, b| order(a, b))
            .cloned()
            .unwrap_or(Value::Null),
        Func::First(f) => values(members, f).next().cloned().unwrap_or(Value::Null),
        Func::Last(f) => values(members, f).last().cloned().unwrap_or(Value::Null),
        Func::Collect(f) => Value::Array(values(members, f).cloned().collect()),
    }
}

fn number(x: f64) -> Value {
    Value::from(x)
}

/// Numbers as numbers, then strings, then the rest by their text.
fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64(), a.as_str(), b.as_str()) {
        (Some(x), Some(y), _, _) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        (Some(_), None, _, _) => std::cmp::Ordering::Less,
        (None, Some(_), _, _) => std::cmp::Ordering::Greater,
        (_, _, Some(x), Some(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The time of a record: an RFC 3339 string (`2026-01-02T10:00:00Z`) or seconds since 1970.
pub(crate) fn event_time(record: &Record, field: &str) -> Result<SystemTime, String> {
    match record.get(field) {
        None | Some(Value::Null) => Err(format!("field `{field}` is absent: the window needs its time")),
        Some(Value::String(s)) => humantime::parse_rfc3339_weak(s).map_err(|e| {
            format!("field `{field}`: `{s}` is not a time ({e}; write RFC 3339, e.g. 2026-01-02T10:00:00Z)")
        }),
        Some(v @ Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .and_then(|x| Duration::try_from_secs_f64(x).ok())
            .map(|d| UNIX_EPOCH + d)
            .ok_or_else(|| format!("field `{field}`: {v} is not a time in seconds since 1970")),
        Some(other) => Err(format!(
            "field `{field}` is {} ({other}), not a time",
            kind_of(other)
        )),
    }
}

/// The checks before a window or batch, so that a bad record fails alone (for the error policy) rather than
/// the window it would join: the time field reads as a time, the fields of `sum` and `mean` hold numbers.
#[derive(Debug, Clone)]
pub(crate) struct Checks {
    pub(crate) stage: String,
    pub(crate) time_field: Option<String>,
    pub(crate) numeric: Vec<String>,
}

impl SyncPipe for Checks {
    type In = Record;
    type Out = Record;
    fn process(&self, record: Record) -> Result<Record, PipeError> {
        if let Some(field) = &self.time_field {
            event_time(&record, field)
                .map_err(|e| PipeError::msg(e).with_pipe(self.stage.clone()))?;
        }
        for field in &self.numeric {
            match record.get(field) {
                None | Some(Value::Null | Value::Number(_)) => {}
                Some(other) => {
                    return Err(PipeError::msg(format!(
                        "field `{field}` is {} ({other}), but `sum` and `mean` take numbers",
                        kind_of(other)
                    ))
                    .with_pipe(self.stage.clone()));
                }
            }
        }
        Ok(record)
    }
    fn name(&self) -> std::borrow::Cow<'static, str> {
        format!("{}.check", self.stage).into()
    }
}

impl fmt::Display for Aggregates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

//! [`Record`], the dynamic item that config-built pipelines carry, and its [`Value`]s.
//!
//! Library users keep their own types end to end. Pipelines built from a TOML file by plugin names need one item
//! type that every source can produce and every sink can take: a `Record` is an ordered list of named fields
//! (JSON-like [`Value`]s, in the order the source gave them, so a CSV keeps its column order) plus, optionally,
//! the raw bytes the system gave (a Kafka payload, a line of text) for sinks that pass bytes through untouched.
//!
//! A `Value` is lean for what records mostly hold: numbers unboxed (an `i64` or an `f64`, or the exact text of a
//! number neither holds), strings of up to 24 bytes inline, field names shared; a record of scalars costs one
//! allocation, its field list. It converts from and to `serde_json::Value` and compares equal to the `json!` of
//! the same JSON.
//!
//! Conversions to and from serde types go through [`Record::from_serde`] and [`Record::to_serde`], so a typed
//! pipe can sit in a dynamic pipeline.

mod field_name;
mod field_value;
mod map;
mod number;
mod schema;
mod serde_impls;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;

use crate::error::PipeError;

pub use field_name::FieldName;
pub use field_value::{Value, kind_of};
pub use map::Map;
pub use number::Number;

/// A string value: inline up to 24 bytes, on the heap past that; derefs to `str` and converts from `&str` and
/// `String` (`Text::from("x")`, `"x".into()`).
pub type Text = compact_str::CompactString;

/// A nested object's fields: what [`Value::Object`] and [`Record::from_fields`] take.
pub type Fields = Map;

/// A dynamic record: ordered named fields plus optional raw bytes.
///
/// Fields are kept in a small vector in the order they were added: records have few fields, so a linear look-up
/// beats hashing, and the order is the source's (a CSV keeps its column order).
///
/// # Examples
///
/// ```
/// use rivus_core::value::{Record, Value};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Order { id: u64, customer: String }
///
/// let mut r = Record::from_serde(&Order { id: 7, customer: "ada".into() }).unwrap();
/// assert_eq!(r.get("id"), Some(&Value::from(7)));
/// r.rename("customer", "name");
/// assert_eq!(r.field_names().collect::<Vec<_>>(), ["id", "name"]);
/// r.rename("name", "customer");
/// assert_eq!(r.to_serde::<Order>().unwrap(), Order { id: 7, customer: "ada".into() });
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Record {
    fields: Vec<(FieldName, Value)>,
    raw: Option<Vec<u8>>,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.fields {
            map.entry(&k, v);
        }
        if let Some(raw) = &self.raw {
            map.entry(&"<raw>", &String::from_utf8_lossy(raw));
        }
        map.finish()
    }
}

/// Whether a field is called `name`. The same string (an interned name looked up by a condition of the same
/// name) is found by its address. Names are short: up to 16 bytes they are compared here as two overlapping
/// words, not by a call to `memcmp`, which cost more than the comparison (about a third of a lookup by name;
/// callgrind, the generator bench).
#[inline]
fn is_named(key: &FieldName, name: &str) -> bool {
    let (key, name) = (key.as_bytes(), name.as_bytes());
    if std::ptr::eq(key, name) {
        return true;
    }
    let n = key.len();
    if n != name.len() {
        return false;
    }
    match n {
        8..=16 => {
            word::<8>(key, 0) == word::<8>(name, 0)
                && word::<8>(key, n - 8) == word::<8>(name, n - 8)
        }
        4..=7 => {
            word::<4>(key, 0) == word::<4>(name, 0)
                && word::<4>(key, n - 4) == word::<4>(name, n - 4)
        }
        0..=3 => key.iter().zip(name).all(|(a, b)| a == b),
        _ => key == name,
    }
}

/// The `N` bytes of `bytes` from `at` (zeros past the end, which [`is_named`] never reads).
#[inline]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|w| <[u8; N]>::try_from(w).ok())
        .unwrap_or([0; N])
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    #[inline]
    pub fn with_capacity(n: usize) -> Self {
        Self {
            fields: Vec::with_capacity(n),
            raw: None,
        }
    }

    /// A record of the fields of a JSON object, in its order.
    pub fn from_fields(fields: Fields) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(k, v)| (FieldName::from(k), v))
                .collect(),
            raw: None,
        }
    }

    /// A record that holds only raw bytes (no fields yet), e.g. a Kafka payload before it is parsed.
    pub fn from_raw(raw: impl Into<Vec<u8>>) -> Self {
        Self {
            fields: Vec::new(),
            raw: Some(raw.into()),
        }
    }

    /// The record of a serializable value, which must serialize as a map or struct.
    ///
    /// # Errors
    ///
    /// A permanent error when `value` does not serialize to a map (a number, a list) or fails to serialize.
    pub fn from_serde<T: Serialize + ?Sized>(value: &T) -> Result<Self, PipeError> {
        // Through JSON text, which the record's own deserializer reads in order: a struct keeps its field order
        // (a `serde_json::Value` would sort the keys).
        let text = serde_json::to_vec(value)?;
        serde_json::from_slice::<Self>(&text).map_err(|_| {
            let kind =
                serde_json::from_slice::<Value>(&text).map_or("something else", |v| kind_of(&v));
            PipeError::msg(format!(
                "a record needs named fields, but the value serialized as {kind}"
            ))
        })
    }

    /// Deserializes the fields into `T`.
    ///
    /// # Errors
    ///
    /// A permanent error naming the field that does not fit `T`.
    pub fn to_serde<T: DeserializeOwned>(&self) -> Result<T, PipeError> {
        // Through a `serde_json::Value`, which is a deserializer (exact numbers, the fields' order).
        let json = serde_json::Value::from(self.to_json());
        serde_path_to_error::deserialize(json).map_err(|err| {
            let path = err.path().to_string();
            PipeError::msg(format!("field `{path}`: {}", err.into_inner()))
        })
    }

    /// The fields as one object value (compares equal to the `json!` of the same object).
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn position(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|(k, _)| is_named(k, field))
    }

    /// The value of `field`.
    #[inline]
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| is_named(k, field))
            .map(|(_, v)| v)
    }

    /// The value of `field`, for changing it in place.
    pub fn get_mut(&mut self, field: &str) -> Option<&mut Value> {
        self.fields
            .iter_mut()
            .find(|(k, _)| is_named(k, field))
            .map(|(_, v)| v)
    }

    /// Sets `field`, keeping its position if it exists and appending it otherwise; returns the old value.
    pub fn insert(
        &mut self,
        field: impl Into<FieldName> + AsRef<str>,
        value: impl Into<Value>,
    ) -> Option<Value> {
        let value = value.into();
        match self.position(field.as_ref()) {
            Some(i) => Some(std::mem::replace(&mut self.fields[i].1, value)),
            None => {
                self.fields.push((field.into(), value));
                None
            }
        }
    }

    /// This record with `field` set (as [`insert`](Self::insert) sets it): builds a record in one expression.
    ///
    /// ```
    /// use rivus_core::prelude::*;
    ///
    /// let order = Record::new().with("id", 7).with("customer", "ada").with("paid", true);
    /// assert_eq!(order.get("customer"), Some(&Value::from("ada")));
    /// assert_eq!(order.to_json(), json!({ "id": 7, "customer": "ada", "paid": true }));
    /// ```
    #[must_use]
    pub fn with(
        mut self,
        field: impl Into<FieldName> + AsRef<str>,
        value: impl Into<Value>,
    ) -> Self {
        self.insert(field, value);
        self
    }

    /// Appends `field` without checking whether it exists: for sources that know their fields are distinct
    /// (the columns of a CSV header). A duplicate name would shadow nothing: [`get`](Self::get) finds the first.
    #[inline]
    pub fn push(&mut self, field: FieldName, value: Value) {
        self.fields.push((field, value));
    }

    /// Removes `field`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.position(field).map(|i| self.fields.remove(i).1)
    }

    /// Renames `from` to `to` in place (same position), replacing any other field called `to`. Returns `false`
    /// if there is no field `from`.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        let Some(mut i) = self.position(from) else {
            return false;
        };
        if from == to {
            return true;
        }
        if let Some(j) = self.position(to) {
            self.fields.remove(j);
            if j < i {
                i -= 1;
            }
        }
        self.fields[i].0 = FieldName::from(to);
        true
    }

    /// Keeps only the named fields, in the given order (a name not in the record is skipped, one named twice
    /// kept once).
    ///
    /// The fields are reordered in place and the rest dropped: no new vector.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::value::{Record, Value};
    ///
    /// let mut record: Record = [("a", Value::from(1)), ("b", Value::from(2)), ("c", Value::from(3))]
    ///     .into_iter()
    ///     .collect();
    /// record.select(["c", "x", "a", "c"]);
    /// assert_eq!(record.field_names().collect::<Vec<_>>(), ["c", "a"]);
    /// ```
    pub fn select<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let mut kept = 0;
        for name in names {
            let rest = self.fields.get(kept..).unwrap_or_default();
            if let Some(i) = rest.iter().position(|(k, _)| is_named(k, name)) {
                self.fields.swap(kept, kept + i);
                kept += 1;
            }
        }
        self.fields.truncate(kept);
    }

    /// The field names, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| &**k)
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (&**k, v))
    }

    /// The fields with their [`FieldName`]s, in order: for a writer that caches what it made of each name
    /// ([`FieldName::ptr_eq`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::value::{FieldName, Record, Value};
    ///
    /// let id = FieldName::interned("id");
    /// let mut record = Record::new();
    /// record.push(id.clone(), Value::from(7));
    /// let (name, value) = record.entries().next().unwrap();
    /// assert!(name.ptr_eq(&id));
    /// assert_eq!(*value, 7);
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (&FieldName, &Value)> {
        self.fields.iter().map(|(k, v)| (k, v))
    }

    /// The fields, in order, for changing values.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.fields.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// The raw bytes the system gave, if any.
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// Sets the raw bytes.
    pub fn set_raw(&mut self, raw: Option<Vec<u8>>) {
        self.raw = raw;
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// `true` when the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl From<Fields> for Record {
    fn from(fields: Fields) -> Self {
        Self::from_fields(fields)
    }
}

impl<K: Into<FieldName> + AsRef<str>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut record = Self::new();
        for (k, v) in iter {
            record.insert(k, v);
        }
        record
    }
}

/// Records serialize as their fields (a JSON object); the raw bytes are not part of the serialized form.
impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

/// Deserializes from a map (a JSON object, a TOML table), keeping the map's order; a repeated key keeps its
/// last value.
impl<'de> serde::Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RecordVisitor;

        impl<'de> serde::de::Visitor<'de> for RecordVisitor {
            type Value = Record;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of fields")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Record, A::Error> {
                let mut record = Record::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) =
                    map.next_entry::<std::borrow::Cow<'de, str>, Value>()?
                {
                    record.insert(&*key, value);
                }
                Ok(record)
            }
        }

        deserializer.deserialize_map(RecordVisitor)
    }
}

/// A [`Value`] written as JSON, as `serde_json::json!` writes a `serde_json::Value`:
/// `json!({ "id": 7, "tags": ["a"] })`. The prelude brings it; it is what a record's fields are compared with
/// and what a plugin's configuration can be written as.
///
/// # Examples
///
/// ```
/// use rivus_core::json;
/// use rivus_core::value::Value;
///
/// let v = json!({ "id": 7, "tags": ["a", null] });
/// assert_eq!(v["id"], Value::from(7));
/// assert_eq!(v.to_string(), r#"{"id":7,"tags":["a",null]}"#);
/// ```
#[macro_export]
macro_rules! json {
    ($($json:tt)+) => {
        $crate::value::Value::from($crate::serde_json::json!($($json)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_keeps_position_and_replaces_a_clash() {
        let mut r: Record = [("a", 1), ("b", 2), ("c", 3)].into_iter().collect();
        assert!(r.rename("b", "x"));
        assert_eq!(r.field_names().collect::<Vec<_>>(), ["a", "x", "c"]);
        assert!(r.rename("a", "c"));
        assert_eq!(r.field_names().collect::<Vec<_>>(), ["c", "x"]);
        assert_eq!(r.get("c"), Some(&Value::from(1)));
        assert!(!r.rename("nope", "y"));
    }

    #[test]
    fn a_name_is_found_by_every_byte_at_every_length() {
        for len in 0..=40 {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            for form in [FieldName::from(name.as_str()), FieldName::interned(&name)] {
                assert!(is_named(&form, &name), "{name:?}");
                assert!(!is_named(&form, &format!("{name}x")), "{name:?}");
                for at in 0..len {
                    let mut other = name.clone().into_bytes();
                    other[at] = b'_';
                    let other = String::from_utf8(other).unwrap();
                    assert!(!is_named(&form, &other), "{name:?} vs {other:?}");
                }
            }
        }
    }

    #[test]
    fn select_orders_and_drops() {
        let mut r: Record = [("a", 1), ("b", 2), ("c", 3)].into_iter().collect();
        r.select(["c", "a", "missing"]);
        assert_eq!(r.field_names().collect::<Vec<_>>(), ["c", "a"]);
        assert_eq!(r.remove("c"), Some(Value::from(3)));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn to_serde_names_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            id: u64,
        }
        let r: Record = [("id", "seven")].into_iter().collect();
        let err = r.to_serde::<T>().unwrap_err();
        assert!(err.message().starts_with("field `id`:"), "{err}");
    }

    #[test]
    fn non_map_is_not_a_record() {
        let err = Record::from_serde(&5).unwrap_err();
        assert!(err.message().contains("a number"), "{err}");
    }

    #[test]
    fn raw_bytes_travel_beside_fields() {
        let mut r = Record::from_raw(b"payload".to_vec());
        r.insert("k", "v");
        assert_eq!(r.raw(), Some(&b"payload"[..]));
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"k":"v"}"#);
    }
}

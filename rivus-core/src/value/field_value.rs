//! [`Value`]: a field's value, and its conversions.

use std::borrow::Cow;
use std::fmt;

use super::{Map, Number, Text};

/// A field's value: null, a boolean, a number, a string, a list or a nested object, as in JSON.
///
/// Lean for what records mostly hold: a number is an `i64` or `f64` in place (or its exact text when it is
/// neither, such as a 30-digit integer), and a string of up to 24 bytes is stored inline ([`Text`]); neither
/// allocates. A value is 32 bytes.
///
/// It converts from and to `serde_json::Value` (`Value::from(json!(…))`, `serde_json::Value::from(value)`),
/// and compares equal to the `serde_json::Value` of the same JSON, so tests can write `json!` on either side.
///
/// # Examples
///
/// ```
/// use rivus_core::value::Value;
/// use serde_json::json;
///
/// let v = Value::from("ada");
/// assert_eq!(v.as_str(), Some("ada"));
/// assert_eq!(Value::from(7).as_i64(), Some(7));
/// assert_eq!(Value::from(json!({ "a": [1, 2.5, null] }))["a"], json!([1, 2.5, null]));
/// assert_eq!(Value::from(true).to_string(), "true");
/// ```
#[derive(Clone, Default, PartialEq)]
pub enum Value {
    /// `null`: also what a missing field reads as.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Text),
    /// A list.
    Array(Vec<Value>),
    /// A nested object.
    Object(Map),
}

const _: () = assert!(std::mem::size_of::<Value>() == 32);

/// Lawful: a number's float is always finite, never NaN.
impl Eq for Value {}

/// Consistent with `==`: equal values hash alike (a map's keys in any order).
impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Self::Null => {}
            Self::Bool(b) => b.hash(state),
            Self::Number(n) => n.hash(state),
            Self::String(s) => s.as_str().hash(state),
            Self::Array(a) => a.hash(state),
            Self::Object(m) => m.hash(state),
        }
    }
}

/// Parses JSON text, as `serde_json::from_str` does (exact numbers, key order).
impl std::str::FromStr for Value {
    type Err = serde_json::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(text)
    }
}

impl Value {
    /// `true` for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// `true` for a boolean.
    pub fn is_boolean(&self) -> bool {
        matches!(self, Self::Bool(_))
    }

    /// `true` for a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Self::Number(_))
    }

    /// `true` for a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// `true` for a list.
    pub fn is_array(&self) -> bool {
        matches!(self, Self::Array(_))
    }

    /// `true` for a nested object.
    pub fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }

    /// `true` for an integer that fits an `i64`.
    pub fn is_i64(&self) -> bool {
        matches!(self, Self::Number(n) if n.is_i64())
    }

    /// `true` for a non-negative integer that fits a `u64`.
    pub fn is_u64(&self) -> bool {
        matches!(self, Self::Number(n) if n.is_u64())
    }

    /// `true` for a number written with a fraction or an exponent.
    pub fn is_f64(&self) -> bool {
        matches!(self, Self::Number(n) if n.is_f64())
    }

    /// The boolean, if the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if the value is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The integer, if the value is a number that is an integer fitting an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The integer, if the value is a number that is a non-negative integer fitting a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The number as an `f64`, if the value is a number in `f64`'s range.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The list, if the value is one.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The list, for changing it, if the value is one.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The nested object, if the value is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Self::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The nested object, for changing it, if the value is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Self::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The value of `key`, if the value is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// The value at a JSON pointer (RFC 6901: `""` is the whole value, `/a/0/b` a path of keys and list
    /// indexes, `~1` a `/` and `~0` a `~` in a key); `None` when there is nothing there.
    ///
    /// ```
    /// use rivus_core::json;
    ///
    /// let v = json!({ "a": [{ "b/c": 1 }] });
    /// assert_eq!(v.pointer("/a/0/b~1c"), Some(&json!(1)));
    /// assert_eq!(v.pointer("/a/1"), None);
    /// ```
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let path = pointer.strip_prefix('/')?;
        path.split('/').try_fold(self, |value, token| {
            let token = token.replace("~1", "/").replace("~0", "~");
            match value {
                Self::Object(m) => m.get(&token),
                Self::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }
        })
    }

    /// Takes the value, leaving `null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }
}

/// "a number", "a string", … for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The JSON text (`{:#}` indents it).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        // serde_json fails only on a map key that is not a string or a serializer's own error, neither of which a
        // `Value` has; a `Display` that returned an error would make `to_string` panic, so write what it gave.
        match text {
            Ok(text) => f.write_str(&text),
            Err(err) => write!(f, "<{err}>"),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Bool(b) => write!(f, "Bool({b})"),
            Self::Number(n) => fmt::Debug::fmt(n, f),
            Self::String(s) => write!(f, "String({s:?})"),
            Self::Array(a) => {
                f.write_str("Array ")?;
                f.debug_list().entries(a).finish()
            }
            Self::Object(m) => {
                f.write_str("Object ")?;
                fmt::Debug::fmt(m, f)
            }
        }
    }
}

/// `value["key"]`: the field of an object, or `null` when the value is not an object or has no such key.
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&Value::Null)
    }
}

/// `value[i]`: the item of a list, or `null` when the value is not a list or is shorter.
impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array()
            .and_then(|a| a.get(i))
            .unwrap_or(&Value::Null)
    }
}

macro_rules! from_number {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(n: $t) -> Self {
                Self::Number(Number::from(n))
            }
        }
    )*};
}
from_number!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize);

/// A float that is not finite (JSON has no NaN or infinity) is `null`.
impl From<f64> for Value {
    #[inline]
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Self::Null, Self::Number)
    }
}

/// A float that is not finite is `null`.
impl From<f32> for Value {
    fn from(f: f32) -> Self {
        Self::from(f64::from(f))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Self::Number(n)
    }
}

impl From<&str> for Value {
    #[inline]
    fn from(s: &str) -> Self {
        Self::String(Text::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(Text::from(s))
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::String(Text::from(s.as_str()))
    }
}

impl From<Cow<'_, str>> for Value {
    fn from(s: Cow<'_, str>) -> Self {
        Self::String(Text::from(s))
    }
}

impl From<Text> for Value {
    fn from(s: Text) -> Self {
        Self::String(s)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Self::Object(m)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Self::Array(items.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

impl From<()> for Value {
    fn from((): ()) -> Self {
        Self::Null
    }
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self::Array(iter.into_iter().map(Into::into).collect())
    }
}

/// The same JSON: key order, exact numbers.
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(b),
            // A serde_json number's `Display` is its JSON text; `from_text` keeps it exactly.
            serde_json::Value::Number(n) => {
                Number::from_text(&n.to_string()).map_or(Self::Null, Self::Number)
            }
            serde_json::Value::String(s) => Self::String(Text::from(s)),
            serde_json::Value::Array(a) => Self::Array(a.into_iter().map(Self::from).collect()),
            serde_json::Value::Object(m) => {
                Self::Object(m.into_iter().map(|(k, v)| (k, Self::from(v))).collect())
            }
        }
    }
}

/// The same JSON: key order, exact numbers.
impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => match n.form() {
                super::number::Form::Int(i) => Self::from(i),
                super::number::Form::Float(f) => Self::from(f),
                super::number::Form::Text(text) => serde_json::from_str::<serde_json::Number>(text)
                    .map_or(Self::Null, Self::Number),
            },
            Value::String(s) => Self::String(s.into()),
            Value::Array(a) => Self::Array(a.into_iter().map(Self::from).collect()),
            Value::Object(m) => {
                Self::Object(m.into_iter().map(|(k, v)| (k, Self::from(v))).collect())
            }
        }
    }
}

/// Equal when `other` converts to a value equal to this one (as [`From`] converts it).
impl PartialEq<serde_json::Value> for Value {
    fn eq(&self, other: &serde_json::Value) -> bool {
        match (self, other) {
            (Self::Null, serde_json::Value::Null) => true,
            (Self::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Self::Number(a), serde_json::Value::Number(b)) => {
                Number::from_text(&b.to_string()).as_ref() == Some(a)
            }
            (Self::String(a), serde_json::Value::String(b)) => a.as_str() == b.as_str(),
            (Self::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a == b)
            }
            (Self::Object(a), serde_json::Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, a)| b.get(k).is_some_and(|b| a == b))
            }
            _ => false,
        }
    }
}

impl PartialEq<Value> for serde_json::Value {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

// As serde_json's: `value == "x"`, `value == 3`, `value == 2.5`, `value == true`, with `value` a `Value`, a
// `&Value` or a `&mut Value`, and a string on either side.
macro_rules! eq_scalar {
    ($($read:ident: $($t:ty as $as:ty),*;)*) => {$($(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                self.$read() == Some(*other as $as)
            }
        }
        impl PartialEq<$t> for &Value {
            fn eq(&self, other: &$t) -> bool {
                self.$read() == Some(*other as $as)
            }
        }
        impl PartialEq<$t> for &mut Value {
            fn eq(&self, other: &$t) -> bool {
                self.$read() == Some(*other as $as)
            }
        }
        impl PartialEq<Value> for $t {
            fn eq(&self, other: &Value) -> bool {
                other == self
            }
        }
    )*)*};
}
eq_scalar! {
    as_i64: i8 as i64, i16 as i64, i32 as i64, i64 as i64, isize as i64;
    as_u64: u8 as u64, u16 as u64, u32 as u64, u64 as u64, usize as u64;
    as_f64: f32 as f64, f64 as f64;
    as_bool: bool as bool;
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<Value> for str {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<Value> for &str {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

impl PartialEq<Value> for String {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn serde_json_values_go_there_and_back() {
        let json = json!({
            "b": 1, "a": [1.5, "x", null, true, {"z": 1, "y": 2}],
            "big": 123456789012345678901234567890u128, "exp": 1e300, "neg": -7
        });
        let value = Value::from(json.clone());
        assert_eq!(value, json);
        assert_eq!(serde_json::Value::from(value.clone()), json);
        assert_eq!(value.to_string(), json.to_string());
        assert_eq!(value["a"][4]["y"], 2);
        assert_eq!(value["missing"], Value::Null);
    }

    #[test]
    fn equal_values_hash_alike_and_text_parses() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = |v: &Value| {
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(v)
        };
        let pairs = [
            (Value::from(1e21), Value::from(json!(1e21))),
            (
                "{\"a\":1,\"b\":[true,null]}".parse().unwrap(),
                "{\"b\":[true,null],\"a\":1}".parse().unwrap(),
            ),
            (Value::from("x"), Value::from(String::from("x"))),
            (
                "123456789012345678901234567890".parse().unwrap(),
                Value::from(json!(123456789012345678901234567890u128)),
            ),
        ];
        for (a, b) in &pairs {
            assert_eq!(a, b);
            assert_eq!(hash(a), hash(b), "{a} {b}");
        }
        assert_ne!(hash(&Value::from(1)), hash(&Value::from(2)));
        assert!("{".parse::<Value>().is_err());
    }

    #[test]
    fn strings_of_up_to_24_bytes_are_inline() {
        let text = |v: Value| match v {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        };
        assert!(!text(Value::from("2026-01-01T10:00:00Z")).is_heap_allocated());
        assert!(!text(Value::from("a string of 24 bytes ...")).is_heap_allocated());
        assert!(text(Value::from("a string of 25 bytes ....")).is_heap_allocated());
        assert!(!text(Value::from(String::from("from a String"))).is_heap_allocated());
    }
}

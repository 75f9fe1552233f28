//! [`FieldType`]: the types that CSV columns and the `cast` transform convert text and values into.

use rivus_core::value::{Value, kind_of};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text, as it is (the default).
    #[default]
    String,
    /// A signed 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, any case).
    Bool,
}

impl FieldType {
    /// Parses `text`; empty text is `null` for every type but `string`.
    ///
    /// # Errors
    ///
    /// A message saying what the text is not.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        if text.is_empty() && self != Self::String {
            return Ok(Value::Null);
        }
        match self {
            Self::String => Ok(Value::String(text.to_owned())),
            Self::Int => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|e| format!("{text:?} is not an integer ({e})")),
            Self::Float => {
                let parsed = text
                    .trim()
                    .parse::<f64>()
                    .map_err(|e| format!("{text:?} is not a number ({e})"))?;
                serde_json::Number::from_f64(parsed)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{text:?} is not a finite number"))
            }
            Self::Bool => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "0" | "no" => Ok(Value::Bool(false)),
                _ => Err(format!("{text:?} is not a boolean")),
            },
        }
    }

    /// Converts a value: strings are parsed, numbers and booleans converted; `null` stays `null`.
    ///
    /// # Errors
    ///
    /// A message saying why the value does not convert (a float with a fraction to `int`, a list, …).
    pub fn convert(self, value: &Value) -> Result<Value, String> {
        match (self, value) {
            (_, Value::Null) => Ok(Value::Null),
            (_, Value::String(s)) => self.parse(s),
            (Self::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (Self::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (Self::Int, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Value::from(i)),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Ok(Value::from(f as i64))
                }
                _ => Err(format!("{n} is not an integer")),
            },
            (Self::Int, Value::Bool(b)) => Ok(Value::from(i64::from(*b))),
            (Self::Float, Value::Number(n)) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{n} is not a finite number")),
            (Self::Float, Value::Bool(b)) => Ok(Value::from(if *b { 1.0 } else { 0.0 })),
            (Self::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
            (Self::Bool, Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Value::Bool(false)),
                Some(1) => Ok(Value::Bool(true)),
                _ => Err(format!("{n} is not a boolean (0 or 1)")),
            },
            (ty, other) => Err(format!("{} cannot be converted to {ty:?}", kind_of(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts() {
        assert_eq!(
            FieldType::Int.convert(&Value::from("7")),
            Ok(Value::from(7))
        );
        assert_eq!(
            FieldType::Int.convert(&Value::from(7.0)),
            Ok(Value::from(7))
        );
        assert!(FieldType::Int.convert(&Value::from(7.5)).is_err());
        assert_eq!(
            FieldType::String.convert(&Value::from(7)),
            Ok(Value::from("7"))
        );
        assert_eq!(
            FieldType::Bool.convert(&Value::from("YES")),
            Ok(Value::Bool(true))
        );
        assert_eq!(FieldType::Float.parse(""), Ok(Value::Null));
        assert!(FieldType::Float.convert(&Value::Array(vec![])).is_err());
    }
}

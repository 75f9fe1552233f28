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
        // Each type builds its value straight from its scan: through an intermediate enum, this cost about 20
        // instructions more per field (callgrind, the CSV -> JSON lines bench).
        match self {
            Self::String => Ok(Value::from(text)),
            Self::Int => scan_int(text).map(Value::from),
            // `scan_float` lets only finite numbers through, which is all `from_f64` refuses.
            Self::Float => scan_float(text).map(Value::from),
            Self::Bool => scan_bool(text).map(Value::Bool),
        }
    }

    /// Checks that `text` parses, without building its value: what a source that must report a bad value
    /// nobody reads uses (no allocation, and no number formatted into text).
    ///
    /// # Errors
    ///
    /// The message [`parse`](Self::parse) would give.
    pub fn check(self, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        match self {
            Self::String => Ok(()),
            Self::Int => scan_int(text).map(drop),
            Self::Float => scan_float(text).map(drop),
            Self::Bool => scan_bool(text).map(drop),
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
            (Self::String, Value::Number(n)) => Ok(Value::from(n.to_string())),
            (Self::String, Value::Bool(b)) => Ok(Value::from(if *b { "true" } else { "false" })),
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
                .and_then(rivus_core::value::Number::from_f64)
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

/// `text` without the whitespace around it; text that starts and ends with a printable ASCII character is
/// returned as it is without looking further (`str::trim` decodes characters from both ends).
/// An integer: plain digits without `str::parse`, otherwise trimmed and parsed.
#[inline]
fn scan_int(text: &str) -> Result<i64, String> {
    match plain_int(text.as_bytes()) {
        Some(int) => Ok(int),
        None => trimmed(text)
            .parse::<i64>()
            .map_err(|e| format!("{text:?} is not an integer ({e})")),
    }
}

/// A finite float.
#[inline]
fn scan_float(text: &str) -> Result<f64, String> {
    let parsed = trimmed(text)
        .parse::<f64>()
        .map_err(|e| format!("{text:?} is not a number ({e})"))?;
    if parsed.is_finite() {
        Ok(parsed)
    } else {
        Err(format!("{text:?} is not a finite number"))
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, in any case.
#[inline]
fn scan_bool(text: &str) -> Result<bool, String> {
    let word = trimmed(text);
    let is = |words: [&str; 3]| words.iter().any(|w| w.eq_ignore_ascii_case(word));
    if is(["true", "1", "yes"]) {
        Ok(true)
    } else if is(["false", "0", "no"]) {
        Ok(false)
    } else {
        Err(format!("{text:?} is not a boolean"))
    }
}

fn trimmed(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// The integer of `bytes` when they are only ASCII digits (1 to 18 of them, which always fit an `i64`) with an
/// optional leading `-`: what CSV integers mostly look like, read without `str::parse`'s general path. `None`
/// for anything else, which `str::parse` then reads (or rejects with its message).
fn plain_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut int: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        int = int * 10 + i64::from(digit);
    }
    Some(if negative { -int } else { int })
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

    #[test]
    fn integers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "-7",
            "007",
            "-0",
            "+5",
            " 42 ",
            "\t-3",
            "123456789012345678",
            "-123456789012345678",
            "999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "12345678901234567890",
            "-",
            "--1",
            "1-",
            "1 2",
            "1.0",
            "1e3",
            "١٢",
            "\u{a0}5",
        ] {
            let expected = text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|e| format!("{text:?} is not an integer ({e})"));
            assert_eq!(FieldType::Int.parse(text), expected, "{text:?}");
        }
    }

    #[test]
    fn floats_and_booleans_around_whitespace() {
        assert_eq!(FieldType::Float.parse(" 1.5 "), Ok(Value::from(1.5)));
        assert_eq!(FieldType::Float.parse("\u{a0}2.5"), Ok(Value::from(2.5)));
        assert_eq!(FieldType::Float.parse("1.10"), Ok(Value::from(1.1)));
        assert!(FieldType::Float.parse("x1").is_err());
        assert!(FieldType::Float.parse("inf").is_err());
        for (text, expected) in [
            ("TRUE", Some(true)),
            (" yes", Some(true)),
            ("1", Some(true)),
            ("No", Some(false)),
            ("0 ", Some(false)),
            ("False", Some(false)),
            ("maybe", None),
            ("truex", None),
        ] {
            assert_eq!(
                FieldType::Bool.parse(text).ok(),
                expected.map(Value::Bool),
                "{text:?}"
            );
        }
    }

    #[test]
    fn check_says_what_parse_says() {
        let types = [
            FieldType::String,
            FieldType::Int,
            FieldType::Float,
            FieldType::Bool,
        ];
        for text in [
            "",
            "1",
            "-2",
            " 3 ",
            "1.5",
            "1e400",
            "NaN",
            "inf",
            "x",
            "yes",
            "No",
            "007",
            "9223372036854775808",
        ] {
            for ty in types {
                assert_eq!(
                    ty.check(text),
                    ty.parse(text).map(drop),
                    "{ty:?} on {text:?}"
                );
            }
        }
    }
}

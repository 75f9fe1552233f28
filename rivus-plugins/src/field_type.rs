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
    if let Some(float) = plain_float(text.as_bytes()) {
        return Ok(float);
    }
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

/// The float of `bytes` when they are a plain decimal (an optional sign, digits with at most one `.`, at least
/// one digit, no exponent) of at most 15 digits: what CSV amounts mostly look like. Such a number is an integer
/// below 2^53 divided by a power of ten up to 10^15, both exact as `f64`, so the one division is correctly
/// rounded: the very float `str::parse` gives (Clinger's fast path), without its general parser (about 150
/// instructions per field). `None` for anything else, which `str::parse` then reads or rejects.
fn plain_float(bytes: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, body) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut fraction: Option<usize> = None;
    for &b in body {
        if b == b'.' {
            if fraction.is_some() {
                return None;
            }
            fraction = Some(digits);
            continue;
        }
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        digits += 1;
        if digits > 15 {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(digit);
    }
    if digits == 0 {
        return None;
    }
    let scale = POWERS[fraction.map_or(0, |at| digits - at)];
    // Exact: the mantissa has at most 15 digits, below 2^53.
    #[allow(clippy::cast_precision_loss, reason = "below 2^53, exact")]
    let value = mantissa as f64 / scale;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path gives what `str::parse` gives, bit for bit, whenever it answers.
        #[test]
        fn plain_floats_parse_as_str_parse_does(text in "[-+]?[0-9]{0,10}[.]?[0-9]{0,10}") {
            if let Some(fast) = plain_float(text.as_bytes()) {
                let parsed: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(fast.to_bits(), parsed.to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn plain_floats_and_what_they_leave_to_str_parse() {
        for (text, want) in [
            ("2.5", Some(2.5)),
            ("-0.0", Some(-0.0)),
            ("+.5", Some(0.5)),
            ("5.", Some(5.0)),
            ("0.1", Some(0.1)),
            ("123456789012345", Some(123_456_789_012_345.0)),
            ("1234567890123456", None),
            (".", None),
            ("-", None),
            ("", None),
            ("1e3", None),
            ("1.2.3", None),
            (" 1.5", None),
        ] {
            assert_eq!(plain_float(text.as_bytes()), want, "{text:?}");
            if let Some(want) = want {
                assert_eq!(want.to_bits(), text.parse::<f64>().unwrap().to_bits());
            }
        }
        assert_eq!(scan_float(" 1.5 "), Ok(1.5));
        assert!(scan_float(".").is_err());
        assert!(scan_float("1e999").is_err());
    }

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

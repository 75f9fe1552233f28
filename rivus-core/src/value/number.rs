//! [`Number`]: a JSON number kept unboxed when it fits, and as its exact text when it does not.

use std::fmt;

/// A number: an `i64` or a finite `f64` held in place (no allocation), or, for what neither holds exactly (an
/// integer past `i64`, a float written with more digits or another form than the shortest that reads back the
/// same), its JSON text.
///
/// Two numbers are equal when they hold the same value in the same form: `1` and `1.0` differ, as they do in
/// the JSON text they write.
///
/// # Examples
///
/// ```
/// use rivus_core::value::Number;
///
/// assert_eq!(Number::from(7).as_i64(), Some(7));
/// assert_eq!(Number::from_f64(2.5).map(|n| n.to_string()), Some("2.5".to_owned()));
/// // A 30-digit integer keeps every digit.
/// let big = Number::from_text("123456789012345678901234567890").unwrap();
/// assert_eq!(big.to_string(), "123456789012345678901234567890");
/// assert_eq!(big.as_i64(), None);
/// assert!(Number::from_text("1.").is_none());
/// ```
#[derive(Clone)]
pub struct Number(Repr);

/// The same form and value; a float also equals the text of it with its exponent's `+` written out
/// (`1e+21`, as serde_json's `Number::from_f64` writes it), so that `json!(1e21)` equals a record's `1e21`.
impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Int(a), Repr::Int(b)) => a == b,
            (Repr::Float(a), Repr::Float(b)) => a == b,
            (Repr::Text(a), Repr::Text(b)) => a == b,
            (Repr::Float(f), Repr::Text(t)) | (Repr::Text(t), Repr::Float(f)) => {
                t.contains("e+")
                    && zmij::Buffer::new().format_finite(*f) == t.replacen("e+", "e", 1)
            }
            _ => false,
        }
    }
}

/// Lawful: the float is always finite, never NaN.
impl Eq for Number {}

/// Consistent with `==`: a number hashes as its JSON text, a kept text with its exponent's `+` left out (the
/// form a float that equals it writes).
impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Int(i) => state.write(itoa::Buffer::new().format(*i).as_bytes()),
            Repr::Float(f) => state.write(zmij::Buffer::new().format_finite(*f).as_bytes()),
            Repr::Text(text) if text.contains("e+") => {
                state.write(text.replacen("e+", "e", 1).as_bytes());
            }
            Repr::Text(text) => state.write(text.as_bytes()),
        }
    }
}

#[derive(Clone)]
enum Repr {
    Int(i64),
    /// Finite.
    Float(f64),
    /// Valid JSON number text that neither of the others writes back the same.
    Text(Box<str>),
}

impl Number {
    /// The number `f`, or `None` when it is not finite (JSON has no NaN or infinity).
    #[inline]
    pub fn from_f64(f: f64) -> Option<Self> {
        f.is_finite().then_some(Self(Repr::Float(f)))
    }

    /// The number that JSON text `text` writes, kept exactly: `None` when `text` is not a JSON number
    /// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    pub fn from_text(text: &str) -> Option<Self> {
        let is_integer = is_json_number(text)?;
        if is_integer && text != "-0" {
            if let Ok(i) = text.parse::<i64>() {
                return Some(Self(Repr::Int(i)));
            }
        } else if let Ok(f) = text.parse::<f64>() {
            // Held as a float only when the float writes back the same text: the text is what the user wrote.
            if f.is_finite() && zmij::Buffer::new().format_finite(f) == text {
                return Some(Self(Repr::Float(f)));
            }
        }
        Some(Self(Repr::Text(text.into())))
    }

    /// The value as an `i64`, when it is an integer that fits.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Int(i) => Some(*i),
            Repr::Float(_) | Repr::Text(_) => None,
        }
    }

    /// The value as a `u64`, when it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            Repr::Int(i) => u64::try_from(*i).ok(),
            Repr::Float(_) => None,
            Repr::Text(text) => text.parse().ok(),
        }
    }

    /// The value as an `f64` (an integer past 2^53 rounds to the nearest), `None` for text past `f64`'s range.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match &self.0 {
            Repr::Int(i) => Some(*i as f64),
            Repr::Float(f) => Some(*f),
            Repr::Text(text) => text.parse::<f64>().ok().filter(|f| f.is_finite()),
        }
    }

    /// `true` when [`as_i64`](Self::as_i64) gives the value.
    pub fn is_i64(&self) -> bool {
        matches!(self.0, Repr::Int(_))
    }

    /// `true` when [`as_u64`](Self::as_u64) gives the value.
    pub fn is_u64(&self) -> bool {
        self.as_u64().is_some()
    }

    /// `true` when the number is written with a fraction or an exponent (`2.0`, `1e3`).
    pub fn is_f64(&self) -> bool {
        match &self.0 {
            Repr::Int(_) => false,
            Repr::Float(_) => true,
            Repr::Text(text) => text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')),
        }
    }

    /// Appends the number's JSON text to `out` (what [`Display`](fmt::Display) writes).
    #[inline]
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Repr::Float(f) => {
                out.extend_from_slice(zmij::Buffer::new().format_finite(*f).as_bytes())
            }
            Repr::Text(text) => out.extend_from_slice(text.as_bytes()),
        }
    }

    /// What serializing the number should call: the integer, the float, or the exact text.
    pub(super) fn form(&self) -> Form<'_> {
        match &self.0 {
            Repr::Int(i) => Form::Int(*i),
            Repr::Float(f) => Form::Float(*f),
            Repr::Text(text) => Form::Text(text),
        }
    }
}

/// A [`Number`]'s form, for the serde impls.
pub(super) enum Form<'a> {
    Int(i64),
    Float(f64),
    Text(&'a str),
}

/// `Some(true)` for a JSON integer, `Some(false)` for a JSON number with a fraction or an exponent, `None` for
/// text that is not a JSON number.
fn is_json_number(text: &str) -> Option<bool> {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return None,
    }
    let mut integer = true;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        integer = false;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        integer = false;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    (i == bytes.len()).then_some(integer)
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Int(i) => f.write_str(itoa::Buffer::new().format(*i)),
            Repr::Float(x) => f.write_str(zmij::Buffer::new().format_finite(*x)),
            Repr::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

macro_rules! from_signed {
    ($($t:ty)*) => {$(
        impl From<$t> for Number {
            #[inline]
            fn from(i: $t) -> Self {
                Self(Repr::Int(i64::from(i)))
            }
        }
    )*};
}
from_signed!(i8 i16 i32 i64 u8 u16 u32);

impl From<u64> for Number {
    #[inline]
    fn from(u: u64) -> Self {
        match i64::try_from(u) {
            Ok(i) => Self(Repr::Int(i)),
            Err(_) => Self(Repr::Text(itoa::Buffer::new().format(u).into())),
        }
    }
}

impl From<usize> for Number {
    fn from(u: usize) -> Self {
        Self::from(u as u64)
    }
}

impl From<isize> for Number {
    fn from(i: isize) -> Self {
        Self(Repr::Int(i as i64))
    }
}

impl From<i128> for Number {
    fn from(i: i128) -> Self {
        match i64::try_from(i) {
            Ok(i) => Self(Repr::Int(i)),
            Err(_) => Self(Repr::Text(i.to_string().into())),
        }
    }
}

impl From<u128> for Number {
    fn from(u: u128) -> Self {
        match i64::try_from(u) {
            Ok(i) => Self(Repr::Int(i)),
            Err(_) => Self(Repr::Text(u.to_string().into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_held_in_the_smallest_form_that_writes_it_back() {
        for (text, int, float) in [
            ("0", true, false),
            ("-12", true, false),
            ("9223372036854775807", true, false),
            ("9223372036854775808", false, false),
            ("-0", false, false),
            ("1.5", false, true),
            ("1.50", false, false),
            ("1e3", false, false),
            ("1000.0", false, true),
            ("0.1", false, true),
            ("123456789012345678901234567890", false, false),
        ] {
            let n = Number::from_text(text).unwrap();
            assert_eq!(n.to_string(), text);
            assert_eq!(matches!(n.0, Repr::Int(_)), int, "{text}");
            assert_eq!(matches!(n.0, Repr::Float(_)), float, "{text}");
            let mut json = Vec::new();
            n.write_json(&mut json);
            assert_eq!(json, text.as_bytes());
        }
    }

    #[test]
    fn text_that_is_not_a_json_number_is_refused() {
        for text in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1 ", "NaN", "inf", "0x10", "1_000",
        ] {
            assert!(Number::from_text(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn conversions_follow_the_value() {
        assert_eq!(Number::from(u64::MAX).to_string(), u64::MAX.to_string());
        assert_eq!(Number::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Number::from(u64::MAX).as_i64(), None);
        assert_eq!(Number::from(-3).as_u64(), None);
        assert_eq!(Number::from(3).as_f64(), Some(3.0));
        assert!(Number::from_f64(f64::NAN).is_none());
        assert!(Number::from_text("1e400").unwrap().as_f64().is_none());
        assert!(Number::from_text("1e3").unwrap().is_f64());
        assert_ne!(Number::from(1), Number::from_f64(1.0).unwrap());
        // serde_json's `from_f64` writes `e+`: the same float.
        let theirs = serde_json::Number::from_f64(1e21).unwrap().to_string();
        assert_eq!(Number::from_text(&theirs), Number::from_f64(1e21));
        assert_ne!(Number::from_text("1e+3"), Number::from_f64(1e3));
    }

    proptest::proptest! {
        /// Read and written by serde_json, a number is the same text as serde_json's own `Value` makes of it,
        /// and equal to it.
        #[test]
        fn json_numbers_read_and_write_as_serde_json_does(
            text in r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
        ) {
            let ours: super::super::Value = serde_json::from_str(&text).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&theirs).unwrap());
            proptest::prop_assert!(ours == theirs);
        }

        /// A float is written as serde_json writes an `f64` (not as `serde_json::Number::from_f64` writes it,
        /// which adds a `+` to a positive exponent), and its text reads back as the same number.
        #[test]
        fn floats_write_as_serde_json_does_and_read_back(f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let ours = Number::from_f64(f).unwrap();
            proptest::prop_assert_eq!(ours.to_string(), serde_json::to_string(&f).unwrap());
            proptest::prop_assert_eq!(Number::from_text(&ours.to_string()).and_then(|n| n.as_f64()), Some(f));
            let value = super::super::Value::from(f);
            proptest::prop_assert!(value == serde_json::json!(f), "{f}");
        }

        /// An integer is held as one, and written as its digits.
        #[test]
        fn integers_are_held_unboxed(i in proptest::num::i64::ANY) {
            let n = Number::from_text(&i.to_string()).unwrap();
            proptest::prop_assert_eq!(n.as_i64(), Some(i));
            proptest::prop_assert_eq!(n, Number::from(i));
        }
    }
}

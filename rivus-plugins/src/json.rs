//! JSON text into a [`Record`], faithfully: keys in the input's order (at every depth), numbers exactly as
//! written (serde_json's `arbitrary_precision`: a 30-digit integer stays those 30 digits), and a repeated key an
//! error unless the caller keeps the last one.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use rivus_core::value::{FieldName, Fields, Number, Record, Value};
use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// What a JSON object with a key twice means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKeys {
    /// The object is a located error (the default): JSON leaves it undefined, and silently keeping one of the
    /// values loses the other.
    #[default]
    Error,
    /// The last value counts, as in JavaScript and most JSON libraries.
    Last,
}

/// How serde_json hands over a number kept as its text (`arbitrary_precision`): a map with this one key.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Records with more fields than this check for repeated keys with a hash set instead of a linear search.
const LINEAR_KEYS: usize = 32;

/// Parses one JSON object into a record.
///
/// # Errors
///
/// serde_json's error (with its line and column) for text that is not one JSON object, or has a key twice when
/// `duplicates` is [`DuplicateKeys::Error`].
pub(crate) fn parse_record(text: &[u8], duplicates: DuplicateKeys) -> serde_json::Result<Record> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let record = RecordSeed(duplicates).deserialize(&mut de)?;
    de.end()?;
    Ok(record)
}

/// The records of a body of several: a JSON array of objects, or JSON objects one after the other (JSON lines,
/// or a single object), after an optional UTF-8 byte order mark. Each object as [`parse_record`] reads it: key
/// order, exact numbers, a key twice as `duplicates` says.
///
/// # Errors
///
/// What is wrong and where: serde_json's line and column, and for objects one after the other the record's
/// number.
pub(crate) fn parse_records(body: &[u8], duplicates: DuplicateKeys) -> Result<Vec<Record>, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut de = serde_json::Deserializer::from_slice(body);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Ok(Vec::new()),
        Some(b'[') => RecordsSeed(duplicates)
            .deserialize(&mut de)
            .and_then(|records| de.end().map(|()| records))
            .map_err(|e| format!("the body is not a JSON array of objects: {e}")),
        Some(_) => {
            let mut records = Vec::new();
            // `end` fails while anything but whitespace is left: another object.
            while de.end().is_err() {
                match RecordSeed(duplicates).deserialize(&mut de) {
                    Ok(r) => records.push(r),
                    Err(e) => {
                        return Err(format!(
                            "record {}: not a JSON object: {e}",
                            records.len() + 1
                        ));
                    }
                }
            }
            Ok(records)
        }
    }
}

/// Deserializes a JSON array of objects into records.
struct RecordsSeed(DuplicateKeys);

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Vec<Record>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<Record>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = Vec<Record>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(record) = seq.next_element_seed(RecordSeed(self.0))? {
            records.push(record);
        }
        Ok(records)
    }
}

/// Parses one JSON object into a record of only the keys `read` holds: the values of the other keys are
/// checked as JSON (the line is still one object) but not built, and not checked for repeated keys.
///
/// # Errors
///
/// As [`parse_record`], for the keys read.
pub(crate) fn parse_projected(
    text: &[u8],
    duplicates: DuplicateKeys,
    read: &HashSet<String>,
) -> serde_json::Result<Record> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let record = ProjectedSeed { duplicates, read }.deserialize(&mut de)?;
    de.end()?;
    Ok(record)
}

/// Parses one JSON value (of any kind) faithfully: key order, exact numbers, repeated keys as `duplicates` says.
///
/// # Errors
///
/// serde_json's error for text that is not one JSON value, or has a key twice when `duplicates` is
/// [`DuplicateKeys::Error`].
#[cfg_attr(
    not(feature = "kafka"),
    allow(dead_code, reason = "used by the Kafka source")
)]
pub(crate) fn parse_value(text: &[u8], duplicates: DuplicateKeys) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = ValueSeed(duplicates).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The keys a writer rendered (`"name":`), by field position, for names that are stored once
/// ([`FieldName::ptr_eq`]): the records of one source mostly have the same interned names in the same order, so
/// a key is a pointer comparison and a copy instead of an escape check and four writes (about 80 instructions
/// per key; callgrind, the CSV -> JSON lines bench). The cache holds a clone of each name, so a name's memory
/// cannot be reused for another while it is cached.
#[derive(Debug, Default)]
pub(crate) struct Keys(Vec<(FieldName, Vec<u8>)>);

impl Keys {
    /// Appends `"key":` for the field at `position`.
    #[inline]
    fn write(
        &mut self,
        out: &mut Vec<u8>,
        position: usize,
        key: &FieldName,
    ) -> serde_json::Result<()> {
        if let Some((name, rendered)) = self.0.get(position)
            && name.ptr_eq(key)
        {
            out.extend_from_slice(rendered);
            return Ok(());
        }
        let start = out.len();
        write_str(out, key)?;
        out.push(b':');
        // A name held inline is in the record, not stored once: nothing to compare the next one with.
        if key.ptr_eq(key) && position <= self.0.len() {
            let entry = (key.clone(), out[start..].to_vec());
            match self.0.get_mut(position) {
                Some(slot) => *slot = entry,
                None => self.0.push(entry),
            }
        }
        Ok(())
    }
}

/// Appends `record` as one JSON object to `out`: exactly what `serde_json::to_writer` writes, with a shorter path
/// for what records mostly hold (keys and strings that need no escaping, flat values), the keys rendered through
/// `keys` (kept from record to record by the writer).
///
/// # Errors
///
/// serde_json's error for a value it cannot write (none for the values a record can hold).
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    record: &Record,
    keys: &mut Keys,
) -> serde_json::Result<()> {
    out.push(b'{');
    for (i, (key, value)) in record.entries().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        keys.write(out, i, key)?;
        match value {
            Value::String(s) => write_str(out, s)?,
            Value::Number(n) => n.write_json(out),
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            other => serde_json::to_writer(&mut *out, other)?,
        }
    }
    out.push(b'}');
    Ok(())
}

/// Appends `s` as a JSON string; one that needs escaping goes through serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if needs_no_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

/// Whether `bytes` go between quotes as they are: no control character, quote or backslash (what serde_json
/// escapes).
///
/// Checked eight bytes at a time in a `u64` (the last word overlapping the one before it; a string of four to
/// seven bytes as its first and last four; a shorter one padded with a plain byte): a byte at a time it cost about 14 instructions per byte, a third
/// of the JSON lines sink's time on a CSV copy (callgrind, issue 18).
fn needs_no_escape(bytes: &[u8]) -> bool {
    let word = crate::word::load;
    if bytes.len() < 8 {
        if bytes.len() >= 4 {
            // The first four bytes and the last four (overlapping) in one word.
            let half = |four: &[u8]| {
                let mut half = [0; 4];
                half.copy_from_slice(four);
                u64::from(u32::from_le_bytes(half))
            };
            return !has_special(half(&bytes[..4]) | half(&bytes[bytes.len() - 4..]) << 32);
        }
        let mut padded = u64::from_le_bytes([b'a'; 8]);
        for (i, &b) in bytes.iter().enumerate() {
            padded = padded & !(0xff << (8 * i)) | u64::from(b) << (8 * i);
        }
        return !has_special(padded);
    }
    let mut words = bytes.chunks_exact(8);
    if words.any(|eight| has_special(word(eight))) {
        return false;
    }
    !has_special(word(&bytes[bytes.len() - 8..]))
}

/// Whether one of the eight bytes of `word` is below 0x20, a quote or a backslash (see [`crate::word`]).
const fn has_special(word: u64) -> bool {
    use crate::word::{below, equal};
    (below(word, 0x20) | equal(word, b'"') | equal(word, b'\\')) != 0
}

/// Deserializes a record from a JSON object.
struct RecordSeed(DuplicateKeys);

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = Record;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::with_capacity(map.size_hint().unwrap_or(8));
        let mut many: Option<HashSet<String>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let seen = match &mut many {
                Some(set) => !set.insert(key.to_string()),
                None => {
                    let seen = record.get(&key).is_some();
                    if record.len() >= LINEAR_KEYS {
                        many = Some(record.field_names().map(str::to_owned).collect());
                    }
                    seen
                }
            };
            let value = map.next_value_seed(ValueSeed(self.0))?;
            if !seen {
                record.push(key, value);
            } else if self.0 == DuplicateKeys::Last {
                record.insert(key, value);
            } else {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
        }
        Ok(record)
    }
}

/// Deserializes a record of some keys of a JSON object (see [`parse_projected`]).
struct ProjectedSeed<'a> {
    duplicates: DuplicateKeys,
    read: &'a HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for ProjectedSeed<'_> {
    type Value = Record;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProjectedSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::with_capacity(self.read.len());
        // A key is borrowed from the line when it has no escapes: a key nobody reads costs no allocation.
        while let Some(key) = map.next_key_seed(KeyText)? {
            if !self.read.contains(key.as_ref()) {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(ValueSeed(self.duplicates))?;
            if record.get(&key).is_none() {
                record.push(FieldName::from(key.as_ref()), value);
            } else if self.duplicates == DuplicateKeys::Last {
                record.insert(FieldName::from(key.as_ref()), value);
            } else {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
        }
        Ok(record)
    }
}

/// A key as text, borrowed from the input when it can be (no escapes).
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

/// A key, as a field name.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = FieldName;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<FieldName, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = FieldName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<FieldName, E> {
        Ok(FieldName::from(key))
    }
}

/// A value at any depth, keeping the order of object keys and checking for repeated keys.
#[derive(Clone, Copy)]
struct ValueSeed(DuplicateKeys);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so this is never null.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Object(Fields::new()));
        };
        if first == NUMBER_TOKEN {
            let text: String = map.next_value()?;
            return Number::from_text(&text)
                .map(Value::Number)
                .ok_or_else(|| de::Error::custom(format_args!("`{text}` is not a number")));
        }
        let mut fields = Fields::new();
        let mut key = first;
        loop {
            let value = map.next_value_seed(self)?;
            if fields.contains_key(&key) {
                if self.0 == DuplicateKeys::Error {
                    return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                }
                // The last value, in the place of the first.
                if let Some(slot) = fields.get_mut(&key) {
                    *slot = value;
                }
            } else {
                fields.insert(key, value);
            }
            match map.next_key::<String>()? {
                Some(next) => key = next,
                None => return Ok(Value::Object(fields)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(record: &Record) -> String {
        serde_json::to_string(record).unwrap()
    }

    #[test]
    fn keeps_key_order_and_exact_numbers_at_every_depth() {
        let input = r#"{"z":1,"a":{"y":123456789012345678901234567890,"b":[1.10,{"d":0,"c":-0.0}]},"m":1e400}"#;
        let record = parse_record(input.as_bytes(), DuplicateKeys::Error).unwrap();
        assert_eq!(text(&record), input.replace("1e400", "1e+400"));
        assert_eq!(record.field_names().collect::<Vec<_>>(), ["z", "a", "m"]);
    }

    #[test]
    fn a_repeated_key_is_an_error_or_the_last_value() {
        let input = br#"{"a":1,"b":{"x":1,"x":2},"c":3}"#;
        let err = parse_record(input, DuplicateKeys::Error).unwrap_err();
        assert!(err.to_string().contains("duplicate key `x`"), "{err}");
        let record = parse_record(input, DuplicateKeys::Last).unwrap();
        assert_eq!(text(&record), r#"{"a":1,"b":{"x":2},"c":3}"#);

        let input = br#"{"a":1,"b":2,"a":3}"#;
        let err = parse_record(input, DuplicateKeys::Error).unwrap_err();
        assert!(err.to_string().contains("duplicate key `a`"), "{err}");
        let record = parse_record(input, DuplicateKeys::Last).unwrap();
        assert_eq!(text(&record), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn many_keys_are_checked_with_a_set() {
        let mut input = String::from("{");
        for i in 0..100 {
            input.push_str(&format!("\"k{i}\":{i},"));
        }
        input.push_str("\"k7\":0}");
        let err = parse_record(input.as_bytes(), DuplicateKeys::Error).unwrap_err();
        assert!(err.to_string().contains("duplicate key `k7`"), "{err}");
        let record = parse_record(input.as_bytes(), DuplicateKeys::Last).unwrap();
        assert_eq!(record.len(), 100);
        assert_eq!(record.get("k7"), Some(&Value::from(0)));
    }

    #[test]
    fn cached_keys_follow_the_names_of_each_record() {
        let (a, b) = (FieldName::interned("a"), FieldName::interned("b\"q"));
        let long = FieldName::from("a name longer than twenty-four bytes, shared");
        let record = |names: &[&FieldName]| {
            let mut r = Record::new();
            for (i, name) in names.iter().enumerate() {
                r.push((*name).clone(), Value::from(i));
            }
            r
        };
        let mut keys = Keys::default();
        let inline = FieldName::from("inline");
        // Same names, other names at a cached place, fewer and more fields, names held inline.
        for r in [
            record(&[&a, &b, &long]),
            record(&[&a, &b, &long]),
            record(&[&b, &a]),
            record(&[&a, &inline, &long, &b]),
            record(&[&a]),
            record(&[&a, &b, &long, &inline]),
            Record::new(),
            record(&[&long, &long.clone()]),
        ] {
            let mut ours = Vec::new();
            write_record(&mut ours, &r, &mut keys).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&r).unwrap()
            );
        }
    }

    #[test]
    fn writes_records_as_serde_json_does() {
        let input = r#"{"plain":"abc","quote\"d":"a\"b\\c\u0001\n","n":123456789012345678901234567890,"f":1.10,"t":true,"nil":null,"list":[1,"x"],"obj":{"z":1,"a":"é"}}"#;
        let record = parse_record(input.as_bytes(), DuplicateKeys::Error).unwrap();
        let mut ours = Vec::new();
        write_record(&mut ours, &record, &mut Keys::default()).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
        let mut empty = Vec::new();
        write_record(&mut empty, &Record::new(), &mut Keys::default()).unwrap();
        assert_eq!(empty, b"{}");
    }

    #[test]
    fn the_word_check_finds_every_byte_that_needs_escaping_at_every_position() {
        let naive = |bytes: &[u8]| !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        for len in 0..=20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = b;
                    assert_eq!(
                        needs_no_escape(&bytes),
                        naive(&bytes),
                        "byte {b:#x} at {at} of {len}"
                    );
                    // Beside bytes that borrow in the subtraction (0x00, 0x80, 0xff).
                    for neighbour in [0x00, 0x20, 0x7f, 0x80, 0xff] {
                        let mut bytes = vec![neighbour; len];
                        bytes[at] = b;
                        assert_eq!(needs_no_escape(&bytes), naive(&bytes));
                    }
                }
            }
        }
    }

    #[test]
    fn writes_what_serde_json_writes_byte_for_byte() {
        let long = "a plain value longer than sixteen bytes, with ünïcödé and 😀 in it";
        let mut record = Record::new();
        for (name, value) in [
            ("", Value::from("")),
            ("plain", Value::from("abc")),
            ("long", Value::from(long)),
            ("escape at 15", Value::from("0123456789abcde\"\\f")),
            ("escape at 16", Value::from("0123456789abcdef\n")),
            ("control", Value::from("\u{1}\u{1f}\t\r\u{7f}")),
            ("quote\"in key", Value::from(1)),
            (
                "big",
                serde_json::from_str("123456789012345678901234567890").unwrap(),
            ),
            (
                "negative big",
                serde_json::from_str("-98765432109876543210").unwrap(),
            ),
            ("float", Value::from(0.1)),
            ("kept digits", serde_json::from_str("1.10").unwrap()),
            ("exponent", serde_json::from_str("-1.5e-300").unwrap()),
            ("int", Value::from(i64::MIN)),
            ("true", Value::Bool(true)),
            ("null", Value::Null),
            (
                "nested",
                serde_json::from_str(r#"{"z":[1,{"y":"\u00e9\n","a":null}],"a":{"b":2.50}}"#)
                    .unwrap(),
            ),
        ] {
            record.push(name.into(), value);
        }
        let mut ours = Vec::new();
        write_record(&mut ours, &record, &mut Keys::default()).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(&record).unwrap()
        );
    }

    #[test]
    fn a_projection_builds_only_the_keys_read() {
        let read: HashSet<String> = ["b", "d"].iter().map(|s| (*s).to_owned()).collect();
        let record = parse_projected(
            br#"{"a":[1,{"x":2}],"b":1.10,"c\u0041":"y","d":{"z":1},"a":0}"#,
            DuplicateKeys::Error,
            &read,
        )
        .unwrap();
        assert_eq!(text(&record), r#"{"b":1.10,"d":{"z":1}}"#);
        let err = parse_projected(br#"{"b":1,"b":2}"#, DuplicateKeys::Error, &read).unwrap_err();
        assert!(err.to_string().contains("duplicate key `b`"), "{err}");
        assert!(parse_projected(br#"{"a":tru}"#, DuplicateKeys::Error, &read).is_err());
        assert!(parse_projected(b"[1]", DuplicateKeys::Error, &read).is_err());
    }

    #[test]
    fn not_an_object() {
        for input in ["[1]", "\"a\"", "1", "null", "{\"a\":1} x"] {
            assert!(
                parse_record(input.as_bytes(), DuplicateKeys::Error).is_err(),
                "{input}"
            );
        }
    }
}

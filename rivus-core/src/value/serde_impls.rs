//! `Serialize` and `Deserialize` for [`Value`], [`Number`] and [`Map`]: the JSON data model, with numbers kept
//! exact through serde_json.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::number::Form;
use super::{Map, Number, Text, Value};

/// How serde_json passes a number as its exact text (its `arbitrary_precision` feature, on for the workspace):
/// a struct, or a map, with this one field.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.form() {
            Form::Int(i) => serializer.serialize_i64(i),
            Form::Float(f) => serializer.serialize_f64(f),
            // What `serde_json::Number` does with its text: serde_json writes the text as it is.
            Form::Text(text) => {
                let mut s = serializer.serialize_struct(NUMBER_TOKEN, 1)?;
                s.serialize_field(NUMBER_TOKEN, text)?;
                s.end()
            }
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(a) => a.serialize(serializer),
            Self::Object(m) => m.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(m) => Ok(m),
            other => Err(de::Error::invalid_type(
                de::Unexpected::Other(super::kind_of(&other)),
                &"a map",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => Ok(n),
            other => Err(de::Error::invalid_type(
                de::Unexpected::Other(super::kind_of(&other)),
                &"a number",
            )),
        }
    }
}

/// Builds a [`Value`] from any self-describing format.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_i128<E>(self, i: i128) -> Result<Value, E> {
        Ok(Value::from(i))
    }

    fn visit_u128<E>(self, u: u128) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::from(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(Text::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(Text::from(s)))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let Some(first) = access.next_key::<String>()? else {
            return Ok(Value::Object(Map::new()));
        };
        if first == NUMBER_TOKEN {
            let text: String = access.next_value()?;
            return Number::from_text(&text)
                .map(Value::Number)
                .ok_or_else(|| de::Error::custom(format_args!("`{text}` is not a number")));
        }
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        map.insert(first, access.next_value::<Value>()?);
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_reads_and_writes_back_exactly() {
        let text = r#"{"b":1,"a":[1.5,"x",null,true,{"z":1.50,"y":-0}],"big":123456789012345678901234567890,"e":1E+3}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        // serde_json's reader writes an exponent's `E` as `e`: the rest is kept as written.
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            text.replace('E', "e")
        );
        assert_eq!(value["big"].as_u64(), None);
        assert!(value["b"].is_i64());
    }

    #[test]
    fn a_serde_json_value_deserializes_exactly() {
        let json = serde_json::json!({ "big": 123456789012345678901234567890u128, "f": 1.5, "e": 1e21, "s": "x" });
        let value: Value = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(value, json);
        assert_eq!(value["big"].to_string(), "123456789012345678901234567890");
        assert_eq!(serde_json::to_value(&value).unwrap(), json);
    }

    #[test]
    fn other_formats_give_their_own_numbers() {
        let value: Value = toml::from_str("a = 1\nb = 2.5\nc = 'x'").unwrap();
        assert_eq!(value["a"], Value::from(1));
        assert_eq!(value["b"], Value::from(2.5));
        assert_eq!(
            toml::to_string(&value).unwrap(),
            "a = 1\nb = 2.5\nc = \"x\"\n"
        );
    }
}

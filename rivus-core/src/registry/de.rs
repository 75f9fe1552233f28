//! A deserializer over a `serde_json::Value` whose error type is the caller's.
//!
//! `serde_json`'s own deserializer reports every failure as a `serde_json::Error`, a sentence: an unknown or a
//! missing option can then only be found again by reading the sentence. With an error type of our own,
//! serde's `unknown_field` and `missing_field` calls arrive as data ([`super::options`]).

use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserializer as _, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// Deserializes a [`Value`], failing with `E`.
pub(super) struct ValueDeserializer<E> {
    value: Value,
    error: PhantomData<fn() -> E>,
}

impl<E> ValueDeserializer<E> {
    pub(super) fn new(value: Value) -> Self {
        Self {
            value,
            error: PhantomData,
        }
    }
}

impl<E: de::Error> ValueDeserializer<E> {
    /// A number, or a string that is one (an integer, or a finite float), as the number.
    fn number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        let Value::String(s) = &self.value else {
            return self.deserialize_any(visitor);
        };
        let text = s.trim();
        if let Ok(u) = text.parse::<u64>() {
            visitor.visit_u64(u)
        } else if let Ok(i) = text.parse::<i64>() {
            visitor.visit_i64(i)
        } else if let Some(f) = text.parse::<f64>().ok().filter(|f| f.is_finite()) {
            visitor.visit_f64(f)
        } else {
            self.deserialize_any(visitor)
        }
    }
}

impl<'de, E: de::Error> IntoDeserializer<'de, E> for ValueDeserializer<E> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for ValueDeserializer<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    // Without `arbitrary_precision`, a number is a u64, an i64 or an f64.
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(Self::new));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(fields) => {
                let mut map =
                    MapDeserializer::new(fields.into_iter().map(|(k, v)| (k, Self::new(v))));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.value {
            // A unit variant: `"text"`.
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            // A variant with data: `{ number = { digits = 2 } }`.
            Value::Object(fields) if fields.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(
                    fields.into_iter().map(|(k, v)| (k, Self::new(v))),
                )))
            }
            // Anything else: the visitor says what it expected.
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    // A string where a number or a boolean is wanted is read as one when it is one, so that `"${N}"` (a string
    // in TOML, whatever the variable holds) gives a number; anything else is the visitor's type error as before.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match &self.value {
            Value::String(s) => match s.trim() {
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                _ => self.deserialize_any(visitor),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

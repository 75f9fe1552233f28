//! Conditions on records: the small expression language of `filter`'s `when` and of routed `[[sinks]]`.
//!
//! ```text
//! status == 'paid' and amount > 10
//! country in ['FR', 'DE'] or not exists(country)
//! email =~ '@example\.com$' and customer.tier != "gold"
//! ```
//!
//! | form | holds when |
//! |---|---|
//! | `a == b`, `a != b` | equal / not equal (numbers as numbers); an absent field equals only `null` |
//! | `a < b`, `<=`, `>`, `>=` | ordered so; never for an absent field |
//! | `a contains b` | string `a` contains string `b`, or array `a` holds `b` |
//! | `a in [v, …]`, `a not in [v, …]` | `a` equals one of the values (values of other kinds just differ) |
//! | `a =~ 're'`, `a !~ 're'` | string `a` matches (does not match) the regular expression ([`regex`] syntax) |
//! | `exists(a)` | field `a` is present and not null |
//! | `a` (a bare field) | the boolean field `a` is `true` |
//! | `and`, `or`, `not`, `( … )` | as usual; `not` binds tightest, then `and`, then `or` |
//!
//! A field is a name (`status`), a path into nested objects (`customer.country`), or any name in backticks
//! (`` `unit price` ``, `` `a.b` `` for a top-level field with a dot). Strings take single or double quotes;
//! numbers are written as in JSON; `true`, `false`, `null` are literals.
//!
//! A condition is parsed once, into a tree that is evaluated on each record. Comparing values of kinds that do
//! not compare (a string with a number, with `==` or `<`) is an [`EvalError`] for that record, never a silent
//! `false`: `filter` fails the record (its error policy decides), a route does not take it.
//!
//! # Examples
//!
//! ```
//! use rivus_core::condition::Condition;
//! use rivus_core::value::{Record, Value};
//!
//! let paid = Condition::parse("status == 'paid' and amount > 10").unwrap();
//! let record: Record = [("status", Value::from("paid")), ("amount", Value::from(12.5))].into_iter().collect();
//! assert!(paid.eval(&record).unwrap());
//!
//! let err = Condition::parse("status = 'paid'").unwrap_err();
//! assert_eq!(err.column, 8);
//! assert!(err.to_string().contains("write `==`"), "{err}");
//! ```

mod eval;
mod lex;
mod parse;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::{FieldName, Record, Value};
pub use eval::EvalError;
use eval::{Cmp, Field, Node, Operand};

/// A parsed condition; see the [module docs](self).
#[derive(Clone)]
pub struct Condition {
    text: String,
    root: Node,
    /// Whether `eval` can take a shortcut: decided once, so that other conditions pay one test for it.
    shortcut: Shortcut,
}

/// The shortcut [`Condition::eval`] takes for the two commonest conditions, with the field it looks up.
///
/// The field's name is interned ([`FieldName::interned`]): the sources that intern theirs (`csv`, `generator`)
/// make records whose field names are the same strings, which a lookup matches by address before it compares
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shortcut {
    /// None: the tree is walked.
    Walk,
    /// A string comparison ([`Condition::as_text_comparison`]).
    Text(FieldName),
    /// A top-level field compared with a number (`amount > 10`).
    Number(FieldName),
}

/// A condition that does not parse: where (the 1-based column, in characters) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column} of the condition: {message}")]
#[non_exhaustive]
pub struct ConditionError {
    /// 1-based column in the condition's text, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ConditionError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        Self {
            column,
            message: message.into(),
        }
    }
}

/// A condition that compares one top-level field with a string: `status == 'paid'`, `status != 'new'` (or the
/// literal first); see [`Condition::as_text_comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TextComparison<'a> {
    /// The top-level field.
    pub field: &'a str,
    /// The string it is compared with.
    pub text: &'a str,
    /// `true` for `==`, `false` for `!=`.
    pub equal: bool,
}

impl TextComparison<'_> {
    /// The condition's result on a record whose field holds the string `value` (present, not null): whether
    /// `value` equals the text, for `==`, or differs from it, for `!=`.
    #[inline]
    pub fn holds_for(&self, value: &str) -> bool {
        (value == self.text) == self.equal
    }
}

/// A condition that compares one top-level field with a number: `amount > 10`, `id >= 1000000` (the field
/// first); see [`Condition::as_number_comparison`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NumberComparison<'a> {
    /// The top-level field.
    pub field: &'a str,
    /// The comparison (the condition's root).
    node: &'a Node,
}

impl NumberComparison<'_> {
    /// The condition's result on a record whose field holds `value`, as [`Condition::eval`] gives it, with
    /// one comparison; `None` when `value` is not a number that has an `f64` (absent, null, a string, a number
    /// past `f64`), which `eval` decides (or reports as an error).
    #[inline]
    pub fn holds_for(&self, value: &Value) -> Option<bool> {
        self.node.number_shortcut(Some(value))
    }
}

/// A one-field test, the form `filter` took before conditions (`field`, `op`, `value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldTest {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `contains`.
    Contains,
    /// `exists(field)` (the value is not used).
    Exists,
    /// `not exists(field)` (the value is not used).
    Missing,
}

impl Condition {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// A [`ConditionError`] at the column where the text stops making sense: an unknown character, a missing
    /// operand, an unclosed string or parenthesis, a bad regular expression.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        let tokens = lex::lex(text)?;
        let root = parse::Parser::new(tokens, text.chars().count() + 1).parse()?;
        Ok(Self::new(text.to_owned(), root))
    }

    /// The condition `field <test> value` on the top-level field named `field` (dots and all).
    pub fn field_test(field: &str, test: FieldTest, value: Value) -> Self {
        let f = || Field::new(vec![field.to_owned()]);
        let compare = |cmp: Cmp| {
            let right = match &value {
                Value::Number(n) => n.as_f64().map_or_else(
                    || Operand::Literal(value.clone()),
                    |x| Operand::Number(x, value.clone()),
                ),
                other => Operand::Literal(other.clone()),
            };
            Node::Compare {
                left: Operand::Field(f()),
                cmp,
                right,
            }
        };
        let (root, op) = match test {
            FieldTest::Eq => (compare(Cmp::Eq), "=="),
            FieldTest::Ne => (compare(Cmp::Ne), "!="),
            FieldTest::Gt => (compare(Cmp::Gt), ">"),
            FieldTest::Ge => (compare(Cmp::Ge), ">="),
            FieldTest::Lt => (compare(Cmp::Lt), "<"),
            FieldTest::Le => (compare(Cmp::Le), "<="),
            FieldTest::Contains => (compare(Cmp::Contains), "contains"),
            FieldTest::Exists => (Node::Exists(f()), ""),
            FieldTest::Missing => (Node::Not(Box::new(Node::Exists(f()))), ""),
        };
        let text = match test {
            FieldTest::Exists => format!("exists(`{field}`)"),
            FieldTest::Missing => format!("not exists(`{field}`)"),
            _ => format!("`{field}` {op} {value}"),
        };
        Self::new(text, root)
    }

    fn new(text: String, root: Node) -> Self {
        let mut condition = Self {
            text,
            root,
            shortcut: Shortcut::Walk,
        };
        condition.shortcut = if let Some(test) = condition.as_text_comparison() {
            Shortcut::Text(FieldName::interned(test.field))
        } else if let Some(field) = condition.root.number_comparison_field() {
            Shortcut::Number(FieldName::interned(field))
        } else {
            Shortcut::Walk
        };
        condition
    }

    /// Whether the condition holds for `record`.
    ///
    /// # Errors
    ///
    /// An [`EvalError`] naming the field when the record's values do not compare with the condition's (a
    /// string with a number, a regular expression on a number).
    #[inline]
    pub fn eval(&self, record: &Record) -> Result<bool, EvalError> {
        // The common `status == 'paid'` on a string, or `amount > 10` on a number: one lookup and one comparison,
        // not the tree's walk. Anything else (absent, another kind) is the walk's to decide, with its error.
        match &self.shortcut {
            Shortcut::Text(field) => {
                if let Some(test) = self.as_text_comparison()
                    && let Some(Value::String(value)) = record.get(field)
                {
                    return Ok(test.holds_for(value));
                }
            }
            Shortcut::Number(field) => {
                if let Some(holds) = self.root.number_shortcut(record.get(field)) {
                    return Ok(holds);
                }
            }
            Shortcut::Walk => {}
        }
        self.root.eval(record)
    }

    /// The top-level fields the condition reads, each once, in the order written: `customer` for
    /// `customer.country`. A record that holds these fields with the same values gives the same result (or the
    /// same error) as the whole record: what lets a source evaluate a condition before it builds the rest of a
    /// record (see [`spec::pushdown`](crate::spec::pushdown)).
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::condition::Condition;
    ///
    /// let c = Condition::parse("status == 'paid' and (customer.tier != 'gold' or exists(status))").unwrap();
    /// assert_eq!(c.fields(), ["status", "customer"]);
    /// ```
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.root.top_fields(&mut out);
        out
    }

    /// The condition as a [`TextComparison`], when it is one field compared with a string by `==` or `!=`. On a
    /// record whose field holds a string, [`TextComparison::holds_for`] that string is what
    /// [`eval`](Self::eval) gives; a field that is absent, null or of another kind is left to `eval`. What lets
    /// a source that reads text (a CSV column of strings) decide the condition before it builds a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::condition::Condition;
    /// use rivus_core::value::{Record, Value};
    ///
    /// let paid = Condition::parse("status == 'paid'").unwrap();
    /// let test = paid.as_text_comparison().unwrap();
    /// assert_eq!((test.field, test.text, test.equal), ("status", "paid", true));
    /// assert!(test.holds_for("paid") && !test.holds_for("new"));
    /// let record: Record = [("status", Value::from("new"))].into_iter().collect();
    /// assert_eq!(paid.eval(&record).unwrap(), test.holds_for("new"));
    ///
    /// assert!(Condition::parse("'new' != status").unwrap().as_text_comparison().is_some());
    /// assert!(Condition::parse("amount == 1").unwrap().as_text_comparison().is_none());
    /// assert!(Condition::parse("customer.tier == 'gold'").unwrap().as_text_comparison().is_none());
    /// assert!(Condition::parse("status == 'paid' or a").unwrap().as_text_comparison().is_none());
    /// ```
    pub fn as_text_comparison(&self) -> Option<TextComparison<'_>> {
        let Node::Compare { left, cmp, right } = &self.root else {
            return None;
        };
        let equal = match cmp {
            Cmp::Eq => true,
            Cmp::Ne => false,
            _ => return None,
        };
        let (field, text) = match (left, right) {
            (Operand::Field(field), Operand::Literal(Value::String(text)))
            | (Operand::Literal(Value::String(text)), Operand::Field(field)) => {
                (field.single()?, text)
            }
            _ => return None,
        };
        Some(TextComparison {
            field,
            text: text.as_str(),
            equal,
        })
    }

    /// The condition as a [`NumberComparison`], when it is one top-level field compared with a number by
    /// `==`, `!=`, `<`, `<=`, `>` or `>=`. On a record whose field holds a number, [`NumberComparison::holds_for`]
    /// that number is what [`eval`](Self::eval) gives. What lets a source that makes numbers (the `generator`'s
    /// record number) decide the condition before it builds a record.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::condition::Condition;
    /// use rivus_core::value::{Record, Value};
    ///
    /// let big = Condition::parse("id >= 1000").unwrap();
    /// let test = big.as_number_comparison().unwrap();
    /// assert_eq!(test.field, "id");
    /// assert_eq!(test.holds_for(&Value::from(1000)), Some(true));
    /// assert_eq!(test.holds_for(&Value::from(999.5)), Some(false));
    /// assert_eq!(test.holds_for(&Value::from("1000")), None); // `eval`'s to decide: an error
    /// let record: Record = [("id", Value::from(7))].into_iter().collect();
    /// assert_eq!(big.eval(&record).ok(), test.holds_for(&Value::from(7)));
    ///
    /// assert!(Condition::parse("id == 'a'").unwrap().as_number_comparison().is_none());
    /// assert!(Condition::parse("order.id > 1").unwrap().as_number_comparison().is_none());
    /// assert!(Condition::parse("id > 1 and id < 5").unwrap().as_number_comparison().is_none());
    /// ```
    pub fn as_number_comparison(&self) -> Option<NumberComparison<'_>> {
        let field = self.root.number_comparison_field()?;
        Some(NumberComparison {
            field,
            node: &self.root,
        })
    }

    /// The text the condition was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.text).finish()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Two conditions are equal when written alike.
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl std::str::FromStr for Condition {
    type Err = ConditionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A condition on the record, e.g. `status == 'paid' and amount > 10`: `and`, `or`, \
                `not`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `in [..]`, `not in [..]`, `=~ 'regex'`, \
                `!~`, `exists(field)`.",
        })
    }
}

#[cfg(test)]
mod tests;

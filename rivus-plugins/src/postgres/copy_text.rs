//! Record fields as values of `COPY … FROM STDIN` in text format: the type mapping of the sink.
//!
//! The server parses each value with its column's input function, so the sink sends text and lets
//! PostgreSQL decide what a value means for the column:
//!
//! | field | column | sent as |
//! |---|---|---|
//! | missing or `null` | any | `\N` (NULL) |
//! | empty string | any but a text type | `\N` (NULL: what an empty CSV field means for a number or a date) |
//! | string | any but json | the string (`"2024-05-01"` for a date, `"\\x00ff"` for bytea, `"12.50"` for numeric) |
//! | number | any but json | the number as written (exact: a 30-digit number keeps its digits) |
//! | bool | any but json | `true` / `false` |
//! | array | an array type | an array literal, `{1,2,NULL}`, elements quoted |
//! | object, or array for another type | any but json | its JSON text |
//! | anything | `json`, `jsonb` | its JSON text (a string that holds JSON text is sent as that text, another string as a JSON string) |
//!
//! This is the inverse of what the source makes of a row with `row_to_json`, so rows read by the source
//! load back unchanged.

use rivus_core::value::Value;

/// How the sink sends a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// `json` or `jsonb`: JSON text (a string is taken as JSON text already).
    Json,
    /// An array type: JSON arrays become array literals.
    Array,
    /// A text type (`text`, `varchar`, `char`, `name`): an empty string is an empty string.
    Text,
    /// Every other type: text the column's input function reads; an empty string is NULL.
    Scalar,
}

/// Appends `value` to `out` as one field of a COPY text row for a column of `kind` (escaped, without the
/// tab that separates it from the next).
pub(crate) fn push_field(out: &mut Vec<u8>, value: Option<&Value>, kind: ColumnKind) {
    match (value, kind) {
        (None | Some(Value::Null), _) => out.extend_from_slice(b"\\N"),
        (Some(Value::String(s)), ColumnKind::Scalar | ColumnKind::Array | ColumnKind::Json)
            if s.is_empty() =>
        {
            out.extend_from_slice(b"\\N");
        }
        (Some(v @ Value::String(s)), ColumnKind::Json) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() {
                escape(out, s);
            } else {
                escape(out, &v.to_string());
            }
        }
        (Some(Value::String(s)), _) => escape(out, s),
        (Some(Value::Array(items)), ColumnKind::Array) => {
            let mut literal = String::new();
            array_literal(&mut literal, items);
            escape(out, &literal);
        }
        (Some(v), ColumnKind::Json) => escape(out, &v.to_string()),
        (Some(Value::Bool(b)), _) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        (Some(Value::Number(n)), _) => out.extend_from_slice(n.to_string().as_bytes()),
        (Some(v @ (Value::Array(_) | Value::Object(_))), _) => {
            escape(out, &v.to_string());
        }
    }
}

/// `text` escaped for COPY's text format: backslash, newline, carriage return and tab.
fn escape(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

/// A PostgreSQL array literal of JSON `items`: `{1,"a b",NULL,{2,3}}`.
fn array_literal(out: &mut String, items: &[Value]) {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::Array(inner) => array_literal(out, inner),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => quoted(out, s),
            Value::Object(_) => quoted(out, &item.to_string()),
        }
    }
    out.push('}');
}

/// An array element in double quotes, with quotes and backslashes escaped.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The line of the COPY stream an error is about, from its context (`COPY people, line 3, column age: "x"`):
/// the 1-based place of the refused row in the batch.
pub(crate) fn copy_line(context: &str) -> Option<usize> {
    let at = context.find("COPY ")?;
    let rest = &context[at..];
    let line = rest.find(", line ")? + ", line ".len();
    let digits: String = rest[line..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivus_core::json;

    fn field(v: Option<Value>, kind: ColumnKind) -> String {
        let mut out = Vec::new();
        push_field(&mut out, v.as_ref(), kind);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_become_copy_text() {
        assert_eq!(field(None, ColumnKind::Scalar), "\\N");
        assert_eq!(field(Some(json!(null)), ColumnKind::Json), "\\N");
        assert_eq!(
            field(Some(json!("a\tb\nc\\")), ColumnKind::Scalar),
            "a\\tb\\nc\\\\"
        );
        assert_eq!(
            field(Some(json!("\\x00ff")), ColumnKind::Scalar),
            "\\\\x00ff"
        );
        assert_eq!(field(Some(json!(true)), ColumnKind::Scalar), "true");
        assert_eq!(field(Some(json!("")), ColumnKind::Scalar), "\\N");
        assert_eq!(field(Some(json!("")), ColumnKind::Text), "");
        let big: Value = serde_json::from_str("123456789012345678901234567890.5").unwrap();
        assert_eq!(
            field(Some(big), ColumnKind::Scalar),
            "123456789012345678901234567890.5"
        );
        assert_eq!(
            field(Some(json!({"a": [1, "x"]})), ColumnKind::Json),
            r#"{"a":[1,"x"]}"#
        );
        assert_eq!(
            field(Some(json!("{\"a\":1}")), ColumnKind::Json),
            r#"{"a":1}"#
        );
        assert_eq!(field(Some(json!("hi")), ColumnKind::Json), r#""hi""#);
        assert_eq!(
            field(Some(json!([1, null, "a \"b\"", [2]])), ColumnKind::Array),
            r#"{1,NULL,"a \\"b\\"",{2}}"#
        );
        assert_eq!(field(Some(json!([1, 2])), ColumnKind::Scalar), "[1,2]");
    }

    #[test]
    fn copy_lines_are_found_in_contexts() {
        assert_eq!(copy_line("COPY people, line 3, column age: \"x\""), Some(3));
        assert_eq!(copy_line("COPY people, line 12"), Some(12));
        assert_eq!(copy_line("SQL statement \"INSERT …\""), None);
    }
}

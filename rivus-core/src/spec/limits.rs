//! The bounds of a pipeline file, checked before anything recurses on it: how deep tables and arrays nest,
//! how many stages a pipeline has, and numbers that no option can use (`nan`, `inf`).
//!
//! Each is a located error instead of a stack overflow or a value that slips through (`nan` compares false
//! with every bound, and JSON, through which plugin options travel, has no `nan`: it would arrive as "absent").

use super::locate::FieldPath;

/// The deepest nesting of tables and arrays in a pipeline file (`[a.b.c]` is 3 deep, `x = [[1]]` is 3 deep).
/// Parsing, deserializing and dropping a TOML document recurse once per level: 10,000 levels overflow the
/// stack, a real pipeline file needs fewer than ten.
pub const MAX_DEPTH: usize = 64;

/// The most `[[transforms]]` (and, separately, `[[sinks]]`) of one pipeline file. Adjacent sync transforms run
/// fused into one chain whose calls nest once per transform, on a thread's stack.
pub const MAX_STAGES: usize = 1000;

/// The byte offset in `text` where tables or arrays first nest deeper than `max`, if they do.
///
/// A light scan that knows TOML's strings, comments, headers, dotted keys, arrays and inline tables; where it
/// is unsure it counts a level more, never less.
pub(crate) fn too_deep(text: &str, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    // Levels of the current `[table]` header, dots in the keys of the current statement, open `[`/`{` of the
    // current value.
    let mut header = 0usize;
    let mut key_dots = 0usize;
    let mut stack: Vec<u8> = Vec::new();
    let mut in_key = true;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            if stack.is_empty() {
                in_key = true;
                key_dots = 0;
            }
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let first_on_line = std::mem::replace(&mut line_start, false);
        match c {
            b'#' => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                continue;
            }
            b'"' | b'\'' => {
                i = skip_string(b, i);
                continue;
            }
            b'[' if first_on_line && stack.is_empty() => {
                // A `[table]` or `[[array.of.tables]]` header: its depth is its number of keys.
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                let mut j = i;
                header = 1;
                while j < end {
                    match b[j] {
                        b'"' | b'\'' => {
                            j = skip_string(b, j);
                            continue;
                        }
                        b'.' => header += 1,
                        b'#' => break,
                        _ => {}
                    }
                    if header > max {
                        return Some(j);
                    }
                    j += 1;
                }
                i = end;
                key_dots = 0;
                continue;
            }
            b'[' | b'{' => {
                stack.push(c);
                in_key = c == b'{';
            }
            b']' | b'}' => {
                stack.pop();
            }
            b',' => in_key = stack.last() == Some(&b'{'),
            b'.' if in_key => key_dots += 1,
            b'=' if in_key => in_key = false,
            _ => {}
        }
        if header + key_dots + 1 + stack.len() > max {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The offset just past the string that starts at `b[at]` (basic, literal, or either multi-line form); the end
/// of the text for a string that does not close.
fn skip_string(b: &[u8], at: usize) -> usize {
    let quote = b[at];
    let triple = b.len() >= at + 3 && b[at + 1] == quote && b[at + 2] == quote;
    let mut i = at + if triple { 3 } else { 1 };
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && quote == b'"' {
            i += 2;
            continue;
        }
        if c == b'\n' && !triple {
            return i;
        }
        if c == quote {
            if !triple {
                return i + 1;
            }
            if b.len() >= i + 3 && b[i + 1] == quote && b[i + 2] == quote {
                // Up to two more quotes may belong to the string (`"""a""""`).
                let mut end = i + 3;
                while end < b.len() && end < i + 5 && b[end] == quote {
                    end += 1;
                }
                return end;
            }
        }
        i += 1;
    }
    b.len()
}

/// The path inside `value` of the first float that is not finite: no option takes `nan` or `inf`.
pub(crate) fn non_finite(value: &toml::Value) -> Option<(FieldPath, f64)> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some((FieldPath::root(), *f)),
        toml::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            non_finite(item).map(|(p, f)| (FieldPath::root().index(i).join(&p), f))
        }),
        toml::Value::Table(table) => table.iter().find_map(|(key, item)| {
            non_finite(item).map(|(p, f)| (FieldPath::root().key(key.clone()).join(&p), f))
        }),
        _ => None,
    }
}

/// A float as TOML writes it (`nan`, `inf`, `-inf`).
pub(crate) fn toml_float(f: f64) -> String {
    match f {
        f if f.is_nan() => "nan".to_owned(),
        f if f == f64::INFINITY => "inf".to_owned(),
        f if f == f64::NEG_INFINITY => "-inf".to_owned(),
        f => format!("{f:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<usize> {
        too_deep(text, 4)
    }

    #[test]
    fn counts_headers_keys_arrays_and_inline_tables() {
        assert_eq!(depth_error("[a.b.c]\nx = 1\n"), None);
        assert_eq!(depth_error("[a.b.c.d.e]\n"), Some(8));
        assert_eq!(depth_error("[a.b]\nc.d.e = 1\n"), Some(9));
        assert_eq!(depth_error("x = [[[[1]]]]\n"), Some(7));
        assert_eq!(depth_error("x = { a = { b = { c = 1 } } }\n"), None);
        assert_eq!(
            depth_error("x = { a = { b = { c = { d = 1 } } } }\n"),
            Some(22)
        );
        assert_eq!(depth_error("x = [1, 2]\n[[t]]\ny = [3]\n"), None);
    }

    #[test]
    fn ignores_strings_and_comments() {
        assert_eq!(
            depth_error("x = \"[[[[[[\" # [[[[[[[\ny = '{{{{{{'\n"),
            None
        );
        assert_eq!(
            depth_error("s = '''\n[[[[[[\n'''\nt = \"\"\"a\\\"[[[[[\"\"\"\n"),
            None
        );
        assert_eq!(depth_error("[\"a.b.c.d.e.f\"]\n"), None);
        assert_eq!(depth_error("x = \"unclosed"), None);
    }

    #[test]
    fn finds_non_finite_floats() {
        let t: toml::Table = toml::from_str("a = 1.5\nb = { c = [1.0, nan] }\n").unwrap();
        let (path, f) = non_finite(&toml::Value::Table(t)).unwrap();
        assert_eq!(path.to_string(), "b.c[1]");
        assert!(f.is_nan());
    }
}

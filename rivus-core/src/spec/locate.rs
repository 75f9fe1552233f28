//! Field paths (`transforms[1].op`) and where they stand in a TOML text.

use std::fmt;

use toml::de::{DeTable, DeValue};

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path to a field in a configuration document, e.g. `transforms[1].fields.customer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The document itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path, then `key`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.0.push(Segment::Key(key.into()));
        self
    }

    /// This path, then `[index]`.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(Segment::Index(index));
        self
    }

    /// This path, then all of `rest`.
    #[must_use]
    pub fn join(mut self, rest: &FieldPath) -> Self {
        self.0.extend(rest.0.iter().cloned());
        self
    }

    /// The steps.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// `true` for the root.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The path without its last step (the root's parent is the root).
    #[must_use]
    pub fn parent(&self) -> Self {
        let mut parent = self.clone();
        parent.0.pop();
        parent
    }

    /// This path ending in `key`: unchanged if its last step is `key` already, else with `key` added.
    #[must_use]
    pub fn with_last_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        match self.0.last() {
            Some(Segment::Key(last)) if *last == key => self,
            _ => self.key(key),
        }
    }

    /// The path `serde_path_to_error` reports, as a `FieldPath` (enum variants and unknown steps are left out).
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        let mut out = Self::root();
        for segment in path.iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => out = out.index(*index),
                serde_path_to_error::Segment::Map { key } => out = out.key(key.clone()),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        out
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The byte offset of the deepest key or value along `path` in `text`: the key itself when the whole path is
/// found, the nearest enclosing one otherwise. `None` when the text does not parse or nothing matches.
pub(crate) fn span_of(text: &str, path: &FieldPath) -> Option<usize> {
    walk(text, path).0
}

/// The byte offset where the value at `path` starts (its opening quote, for a string); `None` unless the whole
/// path is found.
pub(crate) fn value_span_of(text: &str, path: &FieldPath) -> Option<usize> {
    walk(text, path).1
}

/// Follows `path` in `text`: the offset of the deepest key or value found, and where the value at the end of
/// the path starts when the whole path is found.
fn walk(text: &str, path: &FieldPath) -> (Option<usize>, Option<usize>) {
    let Ok(root) = DeTable::parse(text) else {
        return (None, None);
    };
    let mut table: &DeTable<'_> = root.get_ref();
    let mut value: Option<&DeValue<'_>> = None;
    let mut value_start: Option<usize> = None;
    let mut best: Option<usize> = None;
    for segment in path.segments() {
        match (segment, value) {
            (Segment::Key(key), None) => {
                let Some((k, v)) = table.get_key_value(key.as_str()) else {
                    return (best, None);
                };
                best = Some(k.span().start);
                value_start = Some(v.span().start);
                value = Some(v.get_ref());
                if let Some(t) = v.get_ref().as_table() {
                    table = t;
                }
            }
            (Segment::Key(key), Some(DeValue::Table(t))) => {
                let Some((k, v)) = t.get_key_value(key.as_str()) else {
                    return (best, None);
                };
                best = Some(k.span().start);
                value_start = Some(v.span().start);
                value = Some(v.get_ref());
                if let Some(inner) = v.get_ref().as_table() {
                    table = inner;
                }
            }
            (Segment::Index(i), Some(DeValue::Array(items))) => {
                let Some(item) = items.get(*i) else {
                    return (best, None);
                };
                // An element of an array of tables spans its body; a key inside it is more precise.
                if !item.get_ref().is_table() || best.is_none() {
                    best = Some(item.span().start);
                }
                value_start = Some(item.span().start);
                value = Some(item.get_ref());
                if let Some(t) = item.get_ref().as_table() {
                    table = t;
                }
            }
            _ => return (best, None),
        }
    }
    (best, value_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_arrays_of_tables() {
        let text = "[a]\nx = 1\n\n[[t]]\ny = 2\n\n[[t]]\nz = { w = 3 }\n";
        let p = FieldPath::root().key("t").index(1).key("z").key("w");
        assert_eq!(p.to_string(), "t[1].z.w");
        let at = span_of(text, &p).unwrap();
        assert_eq!(&text[at..at + 1], "w");
        let missing = FieldPath::root().key("t").index(1).key("nope");
        let at = span_of(text, &missing).unwrap();
        assert_eq!(&text[at..at + 1], "t", "falls back to the enclosing key");
        let x = FieldPath::root().key("a").key("x");
        let at = span_of(text, &x).unwrap();
        assert_eq!(&text[at..at + 1], "x");
    }
}

//! [`FieldName`]: a field's name, cheap to clone.

use std::fmt;
use std::sync::Arc;

/// A field's name: cheap to clone, so that a source that makes millions of records with the same columns does
/// not copy a string per field.
///
/// Names a source knows up front (CSV columns, a schema) are [interned](FieldName::interned): cloning one is a
/// pointer copy. Other names (keys of parsed JSON, a field a transform adds) are stored inline up to 24 bytes,
/// so making one costs no allocation, and reference-counted past that.
#[derive(Clone)]
pub struct FieldName(NameRepr);

enum NameRepr {
    Static(&'static str),
    /// At most [`INLINE`] bytes: `Text` keeps them in place.
    Inline(super::Text),
    Shared(Arc<str>),
}

// By hand, to inline it: a source clones its column names into every record (derived, it was a call per name,
// about 130 instructions per row of seven fields; callgrind, the CSV -> JSON lines bench).
impl Clone for NameRepr {
    #[inline(always)]
    fn clone(&self) -> Self {
        match self {
            Self::Static(s) => Self::Static(s),
            Self::Inline(s) => Self::Inline(Self::clone_text(s)),
            Self::Shared(s) => Self::Shared(Arc::clone(s)),
        }
    }
}

impl NameRepr {
    /// Out of line: the static names of a source's columns are the common case.
    #[inline(never)]
    fn clone_text(text: &super::Text) -> super::Text {
        text.clone()
    }
}

/// The longest name held inline (what `compact_str` holds without allocating on a 64-bit target).
const INLINE: usize = 24;

const _: () = assert!(std::mem::size_of::<FieldName>() <= 32);

impl FieldName {
    /// The interned name `name`: the first call with a given name stores it for the life of the process, later
    /// calls return the same copy. For the few names a source knows up front (its columns), not for data.
    pub fn interned(name: &str) -> Self {
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut names = NAMES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = names.iter().find(|n| **n == name) {
            return Self(NameRepr::Static(found));
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.push(leaked);
        Self(NameRepr::Static(leaked))
    }

    /// Whether `self` and `other` are the very same stored name: one [interned](Self::interned) name, or
    /// clones of one reference-counted name. A pointer comparison, for caches keyed by a record's names (a
    /// writer that renders each name once); equal names stored apart, or held inline, are not the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use rivus_core::value::FieldName;
    ///
    /// let id = FieldName::interned("id");
    /// assert!(id.ptr_eq(&FieldName::interned("id")));
    /// assert!(!id.ptr_eq(&FieldName::from("id"))); // equal, held inline
    /// assert_eq!(id, FieldName::from("id"));
    /// ```
    #[inline]
    pub fn ptr_eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (NameRepr::Static(a), NameRepr::Static(b)) => std::ptr::eq(*a, *b),
            (NameRepr::Shared(a), NameRepr::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The name.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Inline(s) => s,
            NameRepr::Shared(s) => s,
        }
    }
}

impl std::ops::Deref for FieldName {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for FieldName {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for FieldName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for FieldName {}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for FieldName {
    #[inline]
    fn from(name: &str) -> Self {
        if name.len() <= INLINE {
            Self(NameRepr::Inline(super::Text::from(name)))
        } else {
            Self(NameRepr::Shared(Arc::from(name)))
        }
    }
}

impl From<String> for FieldName {
    fn from(name: String) -> Self {
        Self::from(name.as_str())
    }
}

impl From<Arc<str>> for FieldName {
    fn from(name: Arc<str>) -> Self {
        Self(NameRepr::Shared(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_inline_and_every_form_reads_the_same() {
        let short = FieldName::from("customer_name");
        assert!(matches!(&short.0, NameRepr::Inline(t) if !t.is_heap_allocated()));
        let long = FieldName::from("a name longer than twenty-four bytes");
        assert!(matches!(long.0, NameRepr::Shared(_)));
        for name in ["", "customer_name", "a name longer than twenty-four bytes"] {
            let forms = [
                FieldName::from(name),
                FieldName::from(name.to_owned()),
                FieldName::from(Arc::<str>::from(name)),
                FieldName::interned(name),
            ];
            for form in &forms {
                assert_eq!(form.as_str(), name);
                assert_eq!(form, &forms[0]);
                assert_eq!(form.clone().as_str(), name);
            }
        }
    }
}

//! [`FieldName`]: a field's name, cheap to clone.

use std::fmt;
use std::sync::Arc;

/// A field's name: cheap to clone, so that a source that makes millions of records with the same columns does
/// not copy a string per field.
///
/// Names a source knows up front (CSV columns, a schema) are [interned](FieldName::interned): cloning one is a
/// pointer copy. Other names (keys of parsed JSON) are reference-counted.
#[derive(Clone)]
pub struct FieldName(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Shared(Arc<str>),
}

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

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Shared(s) => s,
        }
    }
}

impl std::ops::Deref for FieldName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for FieldName {
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
    fn from(name: &str) -> Self {
        Self(NameRepr::Shared(Arc::from(name)))
    }
}

impl From<String> for FieldName {
    fn from(name: String) -> Self {
        Self(NameRepr::Shared(Arc::from(name)))
    }
}

impl From<Arc<str>> for FieldName {
    fn from(name: Arc<str>) -> Self {
        Self(NameRepr::Shared(name))
    }
}

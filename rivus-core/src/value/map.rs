//! [`Map`]: the fields of a nested object, in their order.

use std::fmt;

use indexmap::IndexMap;

use super::Value;

/// A nested object's fields, in the order they were inserted (a JSON object keeps the input's key order).
///
/// Boxed, so that a [`Value`] stays small for the scalars that records mostly hold; hashed, so that an object
/// with many keys is not a quadratic build. Two maps are equal when they hold the same keys with equal values,
/// in any order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Map {
    entries: Box<IndexMap<String, Value>>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Box::new(IndexMap::with_capacity(n)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    /// The value of `key`, for changing it in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.get_mut(key)
    }

    /// `true` when the map has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Sets `key`, keeping its position if it exists and appending it otherwise; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.entries.insert(key.into(), value.into())
    }

    /// Removes `key`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.entries.shift_remove(key)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys and values, in order.
    pub fn iter(&self) -> indexmap::map::Iter<'_, String, Value> {
        self.entries.iter()
    }

    /// The keys and values, in order, for changing values.
    pub fn iter_mut(&mut self) -> indexmap::map::IterMut<'_, String, Value> {
        self.entries.iter_mut()
    }

    /// The keys, in order.
    pub fn keys(&self) -> indexmap::map::Keys<'_, String, Value> {
        self.entries.keys()
    }

    /// The values, in order.
    pub fn values(&self) -> indexmap::map::Values<'_, String, Value> {
        self.entries.values()
    }
}

/// Consistent with `==`, which ignores the keys' order: the entries' hashes are summed.
impl std::hash::Hash for Map {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::BuildHasher;
        // A fixed hasher per entry, so that the sum does not depend on the order.
        let each =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let sum = self
            .iter()
            .fold(0u64, |sum, entry| sum.wrapping_add(each.hash_one(entry)));
        state.write_usize(self.len());
        state.write_u64(sum);
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Map {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.entries
            .extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = indexmap::map::IntoIter<String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = indexmap::map::IterMut<'a, String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut()
    }
}

/// `map["key"]`: the value, or `null` when the key is missing.
impl std::ops::Index<&str> for Map {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&Value::Null)
    }
}

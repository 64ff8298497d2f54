//! [`StringMap`], the string-to-string map of the object model: `metadata.labels`,
//! `metadata.annotations`, a pod's `nodeSelector`, a selector's `matchLabels`.
//!
//! These maps are small (a handful of entries), read far more often than written, and
//! carried by every object a cache holds. A `BTreeMap` allocates a whole node (over
//! 500 bytes for `String` to `String`) for even one entry and chases pointers on every
//! lookup; a sorted boxed slice holds exactly its entries and answers a lookup with a
//! binary search over contiguous memory. Inserting or removing costs a copy of the
//! entries, which for maps this small is cheaper than a tree's bookkeeping.

use std::borrow::Borrow;
use std::fmt;
use std::iter::FusedIterator;
use std::ops::Index;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map from `String` to `String`, sorted by key: the type of labels, annotations,
/// `nodeSelector` and `matchLabels`.
///
/// The API is `BTreeMap<String, String>`'s where the object model uses it: lookups take
/// a `&str`, iteration is in key order, and the JSON form is an object
/// (`{"app":"web"}`) with its keys in order. Entries live in one allocation of exactly
/// their number, however the map was built.
///
/// A JSON object that names a key twice decodes with the last value. That is what the
/// Kubernetes API server does (its decoder is Go's `encoding/json`; kubernetes/kubernetes
/// issues 14791 and 89303; only kubectl's client-side validation rejects such input),
/// and what this object model did when the maps were `BTreeMap`s decoded by `serde_json`.
///
/// ```
/// use orchestra_core::StringMap;
///
/// let mut labels = StringMap::from([("tier", "web"), ("app", "shop")]);
/// assert_eq!(labels.get("app").map(String::as_str), Some("shop"));
/// assert_eq!(labels.insert("tier".into(), "db".into()), Some("web".into()));
/// assert_eq!(labels.keys().collect::<Vec<_>>(), ["app", "tier"]);
///
/// assert_eq!(serde_json::to_string(&labels).unwrap(), r#"{"app":"shop","tier":"db"}"#);
/// let decoded: StringMap = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
/// assert_eq!(decoded, StringMap::from([("a", "2"), ("b", "3")]));
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StringMap {
    /// Sorted by key, no key twice.
    entries: Box<[(String, String)]>,
}

impl StringMap {
    /// The empty map; it allocates nothing.
    pub fn new() -> Self {
        StringMap::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `key` is, or where it would go.
    fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.search(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether every entry of this map is in `other` with the same value (how a label
    /// selector's `matchLabels` or a `nodeSelector` matches an object's labels).
    pub fn is_subset_of(&self, other: &StringMap) -> bool {
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }

    /// The stored key and value of `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&String, &String)> {
        self.search(key).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.search(key).is_ok()
    }

    /// A mutable reference to the value of `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut String> {
        self.search(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.search(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                // One allocation of the new size, rather than a grown `Vec` shrunk back.
                let mut entries = Vec::with_capacity(self.entries.len() + 1);
                let mut old = std::mem::take(&mut self.entries).into_vec().into_iter();
                entries.extend(old.by_ref().take(i));
                entries.push((key, value));
                entries.extend(old);
                self.entries = entries.into_boxed_slice();
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.search(key).ok()?;
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        let (_, value) = entries.remove(i);
        self.entries = entries.into_boxed_slice();
        Some(value)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries = Box::default();
    }

    /// Keeps only the entries for which `keep` returns true, visiting them in key order.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut String) -> bool) {
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        entries.retain_mut(|(k, v)| keep(k, v));
        self.entries = entries.into_boxed_slice();
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.entries.iter_mut())
    }

    /// The keys in order.
    pub fn keys(&self) -> Keys<'_> {
        Keys(self.entries.iter())
    }

    /// The values in key order.
    pub fn values(&self) -> Values<'_> {
        Values(self.entries.iter())
    }

    /// Builds the map from entries in any order; of a key given twice, the last value
    /// stays (as `BTreeMap`'s `collect` and `extend` do).
    fn from_entries(mut entries: Vec<(String, String)>) -> Self {
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so of equal keys the last given is the last here.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            // `dedup_by` keeps the first of a run; move each later value into it.
            entries.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    std::mem::swap(&mut later.1, &mut kept.1);
                }
                same
            });
        }
        StringMap {
            entries: entries.into_boxed_slice(),
        }
    }
}

impl fmt::Debug for StringMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Panics when `key` is absent, as `BTreeMap`'s indexing does.
impl<Q: Borrow<str> + ?Sized> Index<&Q> for StringMap {
    type Output = String;

    fn index(&self, key: &Q) -> &String {
        let key = key.borrow();
        self.get(key)
            .unwrap_or_else(|| panic!("no entry for key {key:?}"))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for StringMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        StringMap::from_entries(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for StringMap {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

/// Of a key given twice, or already present, the last value stays.
impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for StringMap {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let mut entries = std::mem::take(&mut self.entries).into_vec();
        let before = entries.len();
        entries.extend(iter.into_iter().map(|(k, v)| (k.into(), v.into())));
        if entries.len() != before {
            *self = StringMap::from_entries(entries);
        } else {
            self.entries = entries.into_boxed_slice();
        }
    }
}

impl IntoIterator for StringMap {
    type Item = (String, String);
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(self.entries.into_vec().into_iter())
    }
}

impl<'a> IntoIterator for &'a StringMap {
    type Item = (&'a String, &'a String);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut StringMap {
    type Item = (&'a String, &'a mut String);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

/// Implements the iterator traits for a wrapper of a slice iterator whose items `$map`
/// turns into the wrapper's items.
macro_rules! entry_iterator {
    ($name:ident<$a:lifetime>, $item:ty, $map:expr) => {
        impl<$a> Iterator for $name<$a> {
            type Item = $item;

            fn next(&mut self) -> Option<$item> {
                self.0.next().map($map)
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }

        impl<$a> DoubleEndedIterator for $name<$a> {
            fn next_back(&mut self) -> Option<$item> {
                self.0.next_back().map($map)
            }
        }

        impl<$a> ExactSizeIterator for $name<$a> {}

        impl<$a> FusedIterator for $name<$a> {}
    };
}

/// The entries of a [`StringMap`] in key order, from [`StringMap::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, String)>);
entry_iterator!(Iter<'a>, (&'a String, &'a String), |(k, v)| (k, v));

/// The entries of a [`StringMap`] in key order with mutable values, from
/// [`StringMap::iter_mut`].
#[derive(Debug)]
pub struct IterMut<'a>(std::slice::IterMut<'a, (String, String)>);
entry_iterator!(IterMut<'a>, (&'a String, &'a mut String), |(k, v)| (&*k, v));

/// The keys of a [`StringMap`] in order, from [`StringMap::keys`].
#[derive(Clone, Debug)]
pub struct Keys<'a>(std::slice::Iter<'a, (String, String)>);
entry_iterator!(Keys<'a>, &'a String, |(k, _)| k);

/// The values of a [`StringMap`] in key order, from [`StringMap::values`].
#[derive(Clone, Debug)]
pub struct Values<'a>(std::slice::Iter<'a, (String, String)>);
entry_iterator!(Values<'a>, &'a String, |(_, v)| v);

/// The entries of a [`StringMap`] in key order, by value.
#[derive(Debug)]
pub struct IntoIter(std::vec::IntoIter<(String, String)>);

impl Iterator for IntoIter {
    type Item = (String, String);

    fn next(&mut self) -> Option<(String, String)> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<(String, String)> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for IntoIter {}

impl FusedIterator for IntoIter {}

/// A JSON object (or the map of any other format), keys in order.
impl Serialize for StringMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Any map with string keys and values, in any order; of a key given twice, the last
/// value stays. The result holds exactly its entries.
impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringMapVisitor;

        impl<'de> Visitor<'de> for StringMapVisitor {
            type Value = StringMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
                // A size hint from the input is trusted only so far: it is not checked.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, String>()? {
                    entries.push(entry);
                }
                Ok(StringMap::from_entries(entries))
            }
        }

        deserializer.deserialize_map(StringMapVisitor)
    }
}

#[cfg(test)]
mod tests;

//! Object keys and the means to keep many of them cheaply: [`ObjectKey`], the key of
//! the cache, the work queues and every per-object map, and the crate's small
//! interface for sharing its strings.
//!
//! At 100,000 pods the informer's cache, the queues, the scheduler's snapshot and every
//! node agent keep a key per pod, so keys share their strings (a clone copies two
//! pointers) and the maps that hold them find an entry from borrowed parts without
//! building, and allocating, a key. What users get:
//!
//! - [`KeyRef`]: a key borrowed from an object or from its parts, for lookups.
//! - [`KeyMap`]: a map by key that finds entries by [`KeyRef`] too, and hands back the
//!   key it holds (its strings shared) with [`KeyMap::held_key`].
//! - [`KeyedSet`]: a set of values that each carry their own key ([`Keyed`]), for when
//!   a map's slot (a key beside each value) would cost more than the values.
//! - [`SharedNamespaces`]: one shared copy of each namespace name, so the namespace of
//!   100,000 pods is one string.
//!
//! How a borrowed key finds an owned one (a `Borrow` to a private trait both hash
//! through) stays inside this module. Everything but [`ObjectKey`] is crate-internal;
//! `ObjectKey` is public as `orchestra_runtime::reconcile::ObjectKey`.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use orchestra_core::{Resource, ResourceExt};

/// Which object: namespace (for namespaced kinds) and name. The key of the cache and of
/// the work queue.
///
/// Its strings are shared: a clone copies two pointers, not two strings. The cache
/// files each object under its key in every index, and the queues, agents and
/// scheduler keep keys of every pod, so at 100,000 pods the copies add up. A key kept
/// per object is best taken from the cache
/// ([`Cache::key_of`](crate::reconcile::Cache::key_of)),
/// which shares its own; [`ObjectKey::of`] makes new strings.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace, or `None` for cluster-scoped objects.
    pub namespace: Option<Arc<str>>,
    /// The name.
    pub name: Arc<str>,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn namespaced(namespace: impl AsRef<str>, name: impl AsRef<str>) -> Self {
        ObjectKey {
            namespace: Some(namespace.as_ref().into()),
            name: name.as_ref().into(),
        }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: impl AsRef<str>) -> Self {
        ObjectKey {
            namespace: None,
            name: name.as_ref().into(),
        }
    }

    /// The key of `obj`.
    pub fn of<K: Resource>(obj: &K) -> Self {
        let key = KeyRef::of(obj);
        ObjectKey {
            namespace: key.namespace.map(Into::into),
            name: key.name.into(),
        }
    }
}

/// Equal keys are usually clones of one key, sharing their strings: those compare by
/// pointer before comparing the text.
impl PartialEq for ObjectKey {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &Arc<str>, b: &Arc<str>) -> bool {
            Arc::ptr_eq(a, b) || a == b
        }
        same(&self.name, &other.name)
            && match (&self.namespace, &other.namespace) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// Hashes the text, as equality compares it.
impl Hash for ObjectKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.as_deref().hash(state);
        self.name.hash(state);
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A key borrowed from an object or from its two parts: what lookups take, so finding
/// an entry allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyRef<'a> {
    namespace: Option<&'a str>,
    name: &'a str,
}

impl<'a> KeyRef<'a> {
    /// The key `namespace/name` (`None`: a cluster-scoped object).
    pub(crate) fn new(namespace: Option<&'a str>, name: &'a str) -> KeyRef<'a> {
        KeyRef { namespace, name }
    }

    /// The key of `obj`, borrowed from it.
    pub(crate) fn of<K: Resource>(obj: &'a K) -> KeyRef<'a> {
        KeyRef::new(obj.meta().namespace.as_deref(), obj.name_any())
    }
}

impl<'a> From<&'a ObjectKey> for KeyRef<'a> {
    fn from(key: &'a ObjectKey) -> KeyRef<'a> {
        KeyRef::new(key.namespace.as_deref(), &key.name)
    }
}

/// A key's two parts, however they are held: an owned [`ObjectKey`] borrows as one,
/// and a [`KeyRef`] is one, so either finds the same entry of a map or set. Private:
/// users go through [`KeyMap`] and [`KeyedSet`].
trait KeyParts {
    fn namespace(&self) -> Option<&str>;
    fn name(&self) -> &str;
}

impl KeyParts for ObjectKey {
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl KeyParts for KeyRef<'_> {
    fn namespace(&self) -> Option<&str> {
        self.namespace
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// Hashes as [`ObjectKey`] does, so either finds the same entry.
impl Hash for dyn KeyParts + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace().hash(state);
        self.name().hash(state);
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.namespace() == other.namespace()
    }
}

impl Eq for dyn KeyParts + '_ {}

impl<'a> Borrow<dyn KeyParts + 'a> for ObjectKey {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

/// Maps and sets of object keys hash with foldhash: as randomly seeded as std's
/// SipHash (names come from users, so collisions must not be predictable), and several
/// times faster on the short keys every informer event and index lookup hashes.
type KeyHasher = foldhash::fast::RandomState;

/// A map by object key that is also searched by borrowed key ([`KeyRef`]), allocating
/// nothing, and that hands back the key it holds ([`held_key`](Self::held_key)) so a
/// caller can keep that key, sharing its strings, instead of making new ones.
#[derive(Debug)]
pub(crate) struct KeyMap<V>(HashMap<ObjectKey, V, KeyHasher>);

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap(HashMap::default())
    }
}

impl<V> KeyMap<V> {
    /// An empty map.
    pub(crate) fn new() -> Self {
        KeyMap::default()
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&V> {
        self.0.get(key)
    }

    /// The value under `key`, to change.
    pub(crate) fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut V> {
        self.0.get_mut(key)
    }

    /// The value under the borrowed `key`.
    pub(crate) fn find(&self, key: KeyRef<'_>) -> Option<&V> {
        self.0.get(&key as &dyn KeyParts)
    }

    /// The key this map holds for `key` (its strings shared, nothing allocated), if it
    /// holds one.
    pub(crate) fn held_key(&self, key: KeyRef<'_>) -> Option<ObjectKey> {
        self.0
            .get_key_value(&key as &dyn KeyParts)
            .map(|(held, _)| held.clone())
    }

    /// Whether it holds `key`.
    pub(crate) fn contains_key(&self, key: &ObjectKey) -> bool {
        self.0.contains_key(key)
    }

    /// Puts `value` under `key`, returning the value it replaced. A replaced entry
    /// keeps the key it had.
    pub(crate) fn insert(&mut self, key: ObjectKey, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    /// The value under `key`, made by `make` if there is none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: ObjectKey,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        self.0.entry(key).or_insert_with(make)
    }

    /// Takes out the value under `key`.
    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<V> {
        self.0.remove(key)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &V)> {
        self.0.iter()
    }

    /// Every value, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.0.values()
    }
}

/// The value under `key`, which the caller knows is there.
///
/// # Panics
/// If the map holds no value under `key`, as `HashMap`'s index does.
impl<V> std::ops::Index<&ObjectKey> for KeyMap<V> {
    type Output = V;

    fn index(&self, key: &ObjectKey) -> &V {
        &self.0[key]
    }
}

/// A value that carries its own key, for a [`KeyedSet`].
pub(crate) trait Keyed {
    /// The value's key; it must not change while the value is in a set.
    fn key(&self) -> &ObjectKey;
}

/// A set of values that each carry their own key, found by key or borrowed key: for
/// values that are boxes, where a map's slot (a key beside each pointer) would cost
/// more than the key kept once in the box.
pub(crate) struct KeyedSet<T>(HashSet<Held<T>, KeyHasher>);

impl<T> Default for KeyedSet<T> {
    fn default() -> Self {
        KeyedSet(HashSet::default())
    }
}

impl<T: Keyed> KeyedSet<T> {
    /// Takes out the value with `key`.
    pub(crate) fn take(&mut self, key: &ObjectKey) -> Option<T> {
        self.0.take(key as &dyn KeyParts).map(|held| held.0)
    }

    /// Puts `value` in, returning the value of the same key it replaced.
    pub(crate) fn replace(&mut self, value: T) -> Option<T> {
        self.0.replace(Held(value)).map(|held| held.0)
    }

    /// The key a value holds for `key` (its strings shared, nothing allocated), if
    /// the set has one.
    pub(crate) fn held_key(&self, key: KeyRef<'_>) -> Option<ObjectKey> {
        self.0
            .get(&key as &dyn KeyParts)
            .map(|held| held.0.key().clone())
    }
}

/// A value of a [`KeyedSet`], hashed and compared by its key.
struct Held<T>(T);

impl<'a, T: Keyed> Borrow<dyn KeyParts + 'a> for Held<T> {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self.0.key()
    }
}

/// Hashes as its key does, so lookups by borrowed key find it.
impl<T: Keyed> Hash for Held<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0.key() as &dyn KeyParts).hash(state);
    }
}

impl<T: Keyed> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl<T: Keyed> Eq for Held<T> {}

/// One shared copy of each namespace name that many keys (or other records) use: the
/// namespace of 100,000 pods is one string, not 100,000.
#[derive(Debug, Default)]
pub(crate) struct SharedNamespaces(HashSet<Arc<str>, KeyHasher>);

impl SharedNamespaces {
    /// The shared copy of `namespace`, made on first use.
    pub(crate) fn intern(&mut self, namespace: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(namespace) {
            return shared.clone();
        }
        let shared: Arc<str> = namespace.into();
        self.0.insert(shared.clone());
        shared
    }

    /// The shared copy of `namespace`, if there is one.
    pub(crate) fn get(&self, namespace: &str) -> Option<Arc<str>> {
        self.0.get(namespace).cloned()
    }

    /// A new key for `key`, its namespace the shared copy (made on first use).
    pub(crate) fn new_key(&mut self, key: KeyRef<'_>) -> ObjectKey {
        ObjectKey {
            namespace: key.namespace.map(|ns| self.intern(ns)),
            name: key.name.into(),
        }
    }

    /// A key for `key`, sharing its namespace when this set has it (and not adding it
    /// when it does not: the key is not going to be kept by the set's owner).
    pub(crate) fn key(&self, key: KeyRef<'_>) -> ObjectKey {
        ObjectKey {
            namespace: key
                .namespace
                .map(|ns| self.get(ns).unwrap_or_else(|| ns.into())),
            name: key.name.into(),
        }
    }

    /// Forgets `key`'s namespace once nothing but this set and `key` (about to go) holds
    /// it. A namespace whose last key is still held elsewhere (in a queue) when its
    /// object goes stays: a few bytes per namespace at most.
    pub(crate) fn release(&mut self, key: &ObjectKey) {
        if let Some(ns) = &key.namespace
            && Arc::strong_count(ns) <= 2
        {
            self.0.remove(&**ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_parts_find_the_same_entries_as_keys() {
        let mut map: KeyMap<u32> = KeyMap::new();
        map.insert(ObjectKey::namespaced("default", "web-1"), 1);
        map.insert(ObjectKey::cluster("node-1"), 2);
        let found = |ns: Option<&str>, name: &str| map.find(KeyRef::new(ns, name)).copied();
        assert_eq!(found(Some("default"), "web-1"), Some(1));
        assert_eq!(found(None, "node-1"), Some(2));
        assert_eq!(found(None, "web-1"), None, "a namespace is part of the key");
        assert_eq!(found(Some("other"), "web-1"), None);
        assert_eq!(found(Some("node-1"), ""), None);
    }

    #[test]
    fn keys_equal_by_text_or_by_pointer() {
        let a = ObjectKey::namespaced("default", "web-1");
        assert_eq!(a, a.clone());
        assert_eq!(a, ObjectKey::namespaced("default", "web-1"));
        assert_ne!(a, ObjectKey::namespaced("default", "web-2"));
        assert_ne!(a, ObjectKey::cluster("web-1"));
    }

    #[test]
    fn namespaces_are_shared_and_released_with_their_last_key() {
        let mut namespaces = SharedNamespaces::default();
        let first = namespaces.intern("default");
        let second = namespaces.intern("default");
        assert!(Arc::ptr_eq(&first, &second));
        drop(second);
        let key = ObjectKey {
            namespace: Some(first),
            name: "web-1".into(),
        };
        namespaces.release(&key);
        assert!(namespaces.get("default").is_none());
        let again = namespaces.intern("default");
        assert!(!Arc::ptr_eq(&again, key.namespace.as_ref().unwrap()));
    }
}

//! [`ObjectKey`], the key of the cache, the work queues and every per-object map, and
//! the means to find a key without building one.

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
/// per object is best taken from the cache ([`Cache::key_of`](super::Cache::key_of)),
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
        let (namespace, name) = parts_of(obj);
        ObjectKey {
            namespace: namespace.map(Into::into),
            name: name.into(),
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

/// Maps and sets of object keys hash with foldhash: as randomly seeded as std's
/// SipHash (names come from users, so collisions must not be predictable), and several
/// times faster on the short keys every informer event and index lookup hashes.
pub(crate) type KeyMap<V> = HashMap<ObjectKey, V, foldhash::fast::RandomState>;

/// A key's two parts, however they are held. A [`KeyMap`] can be searched with
/// borrowed parts (`&(namespace, name) as &dyn KeyParts`) without building, and
/// allocating, an [`ObjectKey`].
pub(crate) trait KeyParts {
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

/// The parts of `obj`'s key, borrowed from it.
pub(crate) fn parts_of<K: Resource>(obj: &K) -> (Option<&str>, &str) {
    (obj.meta().namespace.as_deref(), obj.name_any())
}

/// The key `map` holds for `parts` (its strings shared, nothing allocated), if it
/// holds one.
pub(crate) fn held_key<V>(map: &KeyMap<V>, parts: (Option<&str>, &str)) -> Option<ObjectKey> {
    map.get_key_value(&parts as &dyn KeyParts)
        .map(|(key, _)| key.clone())
}

impl KeyParts for (Option<&str>, &str) {
    fn namespace(&self) -> Option<&str> {
        self.0
    }

    fn name(&self) -> &str {
        self.1
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

/// One shared copy of each namespace name the keys of a cache use: the namespace of
/// 100,000 pods is one string, not 100,000.
#[derive(Default)]
pub(crate) struct Namespaces(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Namespaces {
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

    /// Forgets `key`'s namespace once nothing but this set and `key` (about to go) holds
    /// it. A namespace whose last key is still held elsewhere (in a queue) when its
    /// object goes stays: a few bytes per namespace at most.
    pub(crate) fn release(&mut self, key: &ObjectKey) {
        if let Some(ns) = &key.namespace {
            if Arc::strong_count(ns) <= 2 {
                self.0.remove(&**ns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_parts_find_the_same_entries_as_keys() {
        let mut map: KeyMap<u32> = KeyMap::default();
        map.insert(ObjectKey::namespaced("default", "web-1"), 1);
        map.insert(ObjectKey::cluster("node-1"), 2);
        let found = |ns: Option<&str>, name: &str| {
            map.get_key_value(&(ns, name) as &dyn KeyParts)
                .map(|(_, v)| *v)
        };
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
        let mut namespaces = Namespaces::default();
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

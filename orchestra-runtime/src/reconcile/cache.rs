//! The informer's in-memory cache: every object of one kind as a shared `Arc<K>`, with
//! indexes to find objects without scanning.
//!
//! Controllers read only from here (never from the store) so a reconcile costs no I/O
//! until it writes. Three indexes are always kept — by namespace, by owner uid and by
//! label pair — and users add their own (pods by `spec.nodeName`, say) with an index
//! function before the informer starts, and [`Tally`] summaries of groups of objects
//! (a ReplicaSet's ready pods) that the cache keeps current as objects change.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use orchestra_core::{LabelSelector, Resource, ResourceExt};
use parking_lot::RwLock;
use tokio::sync::watch;

use super::tally::{Groups, Tallies, Tally};

/// Index of objects by `metadata.namespace` (cluster-scoped objects: `""`).
pub const INDEX_NAMESPACE: &str = "namespace";
/// Index of objects by the uid of each of their owners.
pub const INDEX_OWNER: &str = "owner";
/// Index of objects by each `key=value` label pair.
pub const INDEX_LABEL: &str = "label";

/// Which object: namespace (for namespaced kinds) and name. The key of the cache and of
/// the work queue.
///
/// Its strings are shared: a clone copies two pointers, not two strings. The cache
/// files each object under its key in every index, and the queues, agents and
/// scheduler keep keys of every pod, so at 100,000 pods the copies add up.
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
        ObjectKey {
            namespace: obj.meta().namespace.as_deref().map(Into::into),
            name: obj.name_any().into(),
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

/// Computes the index values of an object (none, one or many).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Maps and sets of object keys hash with foldhash: as randomly seeded as std's
/// SipHash (names come from users, so collisions must not be predictable), and several
/// times faster on the short keys every informer event and index lookup hashes.
pub(crate) type KeyMap<V> = HashMap<ObjectKey, V, foldhash::fast::RandomState>;

/// An index: for each value, the objects with it. The objects themselves are held
/// (shared `Arc`s), so reading an index does not look each key up again — a
/// ReplicaSet of 100,000 pods reads its pods on every sync.
struct Index<K> {
    func: IndexFn<K>,
    entries: HashMap<String, KeyMap<Arc<K>>, foldhash::fast::RandomState>,
}

impl<K> Index<K> {
    fn insert(&mut self, obj: &Arc<K>, key: &ObjectKey) {
        for value in (self.func)(obj) {
            self.entries
                .entry(value)
                .or_default()
                .insert(key.clone(), obj.clone());
        }
    }

    /// Moves `key` from `old`'s index values to `new`'s. Most updates (a status
    /// change) keep every value: then only the shared object is swapped in place, with
    /// no key copied or entry moved.
    fn replace(&mut self, old: &K, new: &Arc<K>, key: &ObjectKey) {
        let (before, after) = ((self.func)(old), (self.func)(new));
        if before != after {
            self.remove(old, key);
            self.insert(new, key);
            return;
        }
        for value in &before {
            if let Some(slot) = self.entries.get_mut(value).and_then(|set| set.get_mut(key)) {
                *slot = new.clone();
            }
        }
    }

    fn remove(&mut self, obj: &K, key: &ObjectKey) {
        for value in (self.func)(obj) {
            if let Some(set) = self.entries.get_mut(&value) {
                set.remove(key);
                if set.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

struct Inner<K> {
    objects: KeyMap<Arc<K>>,
    indexes: HashMap<String, Index<K>>,
    /// By the `Tally` type they hold.
    tallies: HashMap<TypeId, Box<dyn Tallies<K>>>,
}

/// A shared, indexed, read-mostly view of every object of kind `K` an informer saw.
///
/// Cheap to clone: all clones see the same objects.
pub struct Cache<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Receiver<bool>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
        }
    }
}

/// The writing side of a [`Cache`], held by its informer.
pub(crate) struct CacheWriter<K> {
    cache: Cache<K>,
    synced: watch::Sender<bool>,
}

impl<K: Resource> Cache<K> {
    /// An empty cache with the built-in indexes, and its writer.
    pub(crate) fn new_with_writer() -> CacheWriter<K> {
        let mut indexes: HashMap<String, Index<K>> = HashMap::new();
        let builtin: [(&str, IndexFn<K>); 3] = [
            (
                INDEX_NAMESPACE,
                Arc::new(|o: &K| vec![o.meta().namespace.clone().unwrap_or_default()]),
            ),
            (
                INDEX_OWNER,
                Arc::new(|o: &K| {
                    o.meta()
                        .owner_references
                        .iter()
                        .map(|r| r.uid.clone())
                        .collect()
                }),
            ),
            (
                INDEX_LABEL,
                Arc::new(|o: &K| {
                    o.meta()
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect()
                }),
            ),
        ];
        for (name, func) in builtin {
            indexes.insert(
                name.to_owned(),
                Index {
                    func,
                    entries: HashMap::default(),
                },
            );
        }
        let (synced_tx, synced_rx) = watch::channel(false);
        let inner = Arc::new(RwLock::new(Inner {
            objects: HashMap::default(),
            indexes,
            tallies: HashMap::new(),
        }));
        CacheWriter {
            cache: Cache {
                inner,
                synced: synced_rx,
            },
            synced: synced_tx,
        }
    }

    /// The object with this key, if cached.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.inner.read().objects.get(key).cloned()
    }

    /// Every cached object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner.read().objects.values().cloned().collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.inner.read().objects.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects whose index `index` has the value `value`. Unknown indexes yield
    /// nothing.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let inner = self.inner.read();
        let Some(keys) = inner.indexes.get(index).and_then(|i| i.entries.get(value)) else {
            return Vec::new();
        };
        keys.values().cloned().collect()
    }

    /// The keys of the objects whose index `index` has the value `value`.
    pub fn keys_by_index(&self, index: &str, value: &str) -> Vec<ObjectKey> {
        let inner = self.inner.read();
        inner
            .indexes
            .get(index)
            .and_then(|i| i.entries.get(value))
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The objects in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(INDEX_NAMESPACE, namespace)
    }

    /// The objects that list `owner_uid` among their owners.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<K>> {
        self.by_index(INDEX_OWNER, owner_uid)
    }

    /// The objects in `namespace` (or everywhere, for `None`) whose labels match
    /// `selector`. Uses the label index for one of the selector's `matchLabels` pairs
    /// when it has any.
    pub fn matching(&self, namespace: Option<&str>, selector: &LabelSelector) -> Vec<Arc<K>> {
        let candidates = match selector.match_labels.iter().next() {
            Some((k, v)) => self.by_index(INDEX_LABEL, &format!("{k}={v}")),
            None => match namespace {
                Some(ns) => self.in_namespace(ns),
                None => self.list(),
            },
        };
        // A selector of one label is answered by the index alone.
        let by_index_alone =
            selector.match_labels.len() == 1 && selector.match_expressions.is_empty();
        candidates
            .into_iter()
            .filter(|o| namespace.is_none_or(|ns| o.meta().namespace.as_deref() == Some(ns)))
            .filter(|o| by_index_alone || selector.matches(&o.meta().labels))
            .collect()
    }

    /// Reads the tally of type `T` for `group` (`None` when nothing counts in that
    /// group, or no such tally was added to the informer), under the cache's read lock:
    /// it agrees with what [`Cache::get`] would return at the same moment.
    pub fn tally<T: Tally<K>, R>(&self, group: &str, read: impl FnOnce(Option<&T>) -> R) -> R {
        let inner = self.inner.read();
        let groups = inner
            .tallies
            .get(&TypeId::of::<T>())
            .and_then(|t| t.as_any().downcast_ref::<Groups<T>>());
        read(groups.and_then(|g| g.get(group)))
    }

    /// Whether the informer has completed its first list.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the informer has completed its first list, so the cache holds
    /// everything that existed when it started.
    pub async fn wait_until_synced(&self) {
        let mut synced = self.synced.clone();
        // An error means the informer is gone; there is nothing more to wait for.
        let _ = synced.wait_for(|s| *s).await;
    }
}

impl<K: Resource> CacheWriter<K> {
    /// The reading side.
    pub(crate) fn cache(&self) -> &Cache<K> {
        &self.cache
    }

    /// Stores `obj`, returning the object it replaced.
    pub(crate) fn apply(&self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = ObjectKey::of(obj.as_ref());
        let mut inner = self.cache.inner.write();
        let Inner {
            objects,
            indexes,
            tallies,
        } = &mut *inner;
        let old = objects.insert(key.clone(), obj.clone());
        for index in indexes.values_mut() {
            match &old {
                Some(old) => index.replace(old, &obj, &key),
                None => index.insert(&obj, &key),
            }
        }
        for tally in tallies.values_mut() {
            if let Some(old) = &old {
                tally.remove(old);
            }
            tally.add(&obj);
        }
        old
    }

    /// Removes the object with `key`, returning it.
    pub(crate) fn remove(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let mut inner = self.cache.inner.write();
        let Inner {
            objects,
            indexes,
            tallies,
        } = &mut *inner;
        let old = objects.remove(key)?;
        for index in indexes.values_mut() {
            index.remove(&old, key);
        }
        for tally in tallies.values_mut() {
            tally.remove(&old);
        }
        Some(old)
    }

    /// Adds (or replaces) index `name`, computed over the objects already cached.
    pub(crate) fn add_index(&self, name: &str, func: IndexFn<K>) {
        let mut inner = self.cache.inner.write();
        let Inner {
            objects, indexes, ..
        } = &mut *inner;
        let mut index = Index {
            func,
            entries: HashMap::default(),
        };
        for (key, obj) in objects.iter() {
            index.insert(obj, key);
        }
        indexes.insert(name.to_owned(), index);
    }

    /// Adds (or replaces) the tally of type `T`, computed over the objects already
    /// cached.
    pub(crate) fn add_tally<T: Tally<K>>(&self) {
        let mut inner = self.cache.inner.write();
        let mut groups = Groups::<T>::default();
        for obj in inner.objects.values() {
            Tallies::<K>::add(&mut groups, obj);
        }
        inner.tallies.insert(TypeId::of::<T>(), Box::new(groups));
    }

    /// Every cached key.
    pub(crate) fn keys(&self) -> Vec<ObjectKey> {
        self.cache.inner.read().objects.keys().cloned().collect()
    }

    /// Marks the cache as holding a complete list.
    pub(crate) fn mark_synced(&self) {
        self.synced.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::ObjectMeta;
    use orchestra_core::kinds::Pod;

    use super::*;

    fn pod(app: &str, node: &str) -> Arc<Pod> {
        let mut pod = Pod {
            metadata: ObjectMeta::namespaced("default", "a"),
            ..Default::default()
        };
        pod.metadata.labels.insert("app".into(), app.into());
        pod.spec.node_name = Some(node.into());
        Arc::new(pod)
    }

    #[test]
    fn an_update_keeping_its_index_values_serves_the_new_object_from_the_index() {
        let writer = Cache::<Pod>::new_with_writer();
        writer.apply(pod("web", "n1"));
        let moved = pod("web", "n2");
        writer.apply(moved.clone());
        let found = writer.cache().by_index(INDEX_LABEL, "app=web");
        assert_eq!(found.len(), 1);
        assert!(
            Arc::ptr_eq(&found[0], &moved),
            "the index holds the new object"
        );

        writer.apply(pod("db", "n2"));
        assert!(writer.cache().by_index(INDEX_LABEL, "app=web").is_empty());
        assert_eq!(writer.cache().by_index(INDEX_LABEL, "app=db").len(), 1);
    }
}

//! The informer's in-memory cache: every object of one kind as a shared `Arc<K>`, with
//! indexes to find objects without scanning.
//!
//! Controllers read only from here (never from the store) so a reconcile costs no I/O
//! until it writes. Three indexes are always kept — by namespace, by owner uid and by
//! label pair — and users add their own (pods by `spec.nodeName`, say) with an index
//! function before the informer starts, and [`Tally`] summaries of groups of objects
//! (a ReplicaSet's ready pods) that the cache keeps current as objects change.

use std::any::TypeId;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use orchestra_core::{LabelSelector, Resource};
use parking_lot::RwLock;
use tokio::sync::watch;

use super::key::{KeyMap, KeyParts, Namespaces, ObjectKey, held_key, parts_of};
use super::tally::{Groups, Tallies, Tally};

/// Index of objects by `metadata.namespace` (cluster-scoped objects: `""`).
pub const INDEX_NAMESPACE: &str = "namespace";
/// Index of objects by the uid of each of their owners.
pub const INDEX_OWNER: &str = "owner";
/// Index of objects by each `key=value` label pair.
pub const INDEX_LABEL: &str = "label";

/// Computes the index values of an object (none, one or many).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// An index: for each value, the objects with it. The objects themselves are held
/// (shared `Arc`s), so reading an index does not look each key up again — a
/// ReplicaSet of 100,000 pods reads its pods on every sync.
struct Index<K> {
    func: IndexFn<K>,
    entries: HashMap<String, FiledSet<K>, foldhash::fast::RandomState>,
}

/// The objects filed under one index value.
type FiledSet<K> = HashSet<Filed<K>, foldhash::fast::RandomState>;

/// An object filed in an index, hashed and compared by its key's parts read from the
/// object itself: an entry is one pointer, where a key beside it would add four (every
/// pod is filed under four or five index values).
struct Filed<K>(Arc<K>);

impl<K: Resource> KeyParts for Filed<K> {
    fn namespace(&self) -> Option<&str> {
        parts_of(&*self.0).0
    }

    fn name(&self) -> &str {
        parts_of(&*self.0).1
    }
}

/// Hashes as the object's [`ObjectKey`] does, so an entry is found by key.
impl<K: Resource> Hash for Filed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyParts).hash(state);
    }
}

impl<K: Resource> PartialEq for Filed<K> {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn KeyParts) == (other as &dyn KeyParts)
    }
}

impl<K: Resource> Eq for Filed<K> {}

impl<'a, K: Resource> Borrow<dyn KeyParts + 'a> for Filed<K> {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

impl<K: Resource> Index<K> {
    fn insert(&mut self, obj: &Arc<K>) {
        for value in (self.func)(obj) {
            self.entries
                .entry(value)
                .or_default()
                .replace(Filed(obj.clone()));
        }
    }

    /// Moves the object from `old`'s index values to `new`'s. Most updates (a status
    /// change) keep every value: then only the shared object is swapped in place.
    fn replace(&mut self, old: &K, new: &Arc<K>) {
        let (before, after) = ((self.func)(old), (self.func)(new));
        if before != after {
            self.remove(old);
            self.insert(new);
            return;
        }
        for value in &before {
            if let Some(set) = self.entries.get_mut(value) {
                set.replace(Filed(new.clone()));
            }
        }
    }

    fn remove(&mut self, obj: &K) {
        let key = parts_of(obj);
        for value in (self.func)(obj) {
            if let Some(set) = self.entries.get_mut(&value) {
                set.remove(&key as &dyn KeyParts);
                if set.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

struct Inner<K> {
    objects: KeyMap<Arc<K>>,
    /// The namespaces the keys of `objects` share.
    namespaces: Namespaces,
    indexes: HashMap<String, Index<K>>,
    /// By the `Tally` type they hold.
    tallies: HashMap<TypeId, Box<dyn Tallies<K>>>,
}

impl<K> Inner<K> {
    /// The key of the cached object `namespace/name`, or a new one (sharing the
    /// namespace when the cache knows it) when nothing is cached under it.
    fn key(&self, namespace: Option<&str>, name: &str) -> ObjectKey {
        held_key(&self.objects, (namespace, name)).unwrap_or_else(|| ObjectKey {
            namespace: namespace.map(|ns| self.namespaces.get(ns).unwrap_or_else(|| ns.into())),
            name: name.into(),
        })
    }
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
            namespaces: Namespaces::default(),
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

    /// The key of `obj`: the cache's own key (its strings shared, nothing allocated)
    /// when an object with that name is cached, as it is for every object a handler or
    /// subscription of this cache's informer is told about. Keep keys made this way
    /// when keeping one per object.
    pub fn key_of(&self, obj: &K) -> ObjectKey {
        let (namespace, name) = parts_of(obj);
        self.key(namespace, name)
    }

    /// The key `namespace/name` (`None`: cluster-scoped), shared with the cache's own
    /// as [`key_of`](Self::key_of) is.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> ObjectKey {
        self.inner.read().key(namespace, name)
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
        let Some(filed) = inner.indexes.get(index).and_then(|i| i.entries.get(value)) else {
            return Vec::new();
        };
        filed.iter().map(|f| f.0.clone()).collect()
    }

    /// The keys of the objects whose index `index` has the value `value`.
    pub fn keys_by_index(&self, index: &str, value: &str) -> Vec<ObjectKey> {
        let inner = self.inner.read();
        inner
            .indexes
            .get(index)
            .and_then(|i| i.entries.get(value))
            .map(|filed| {
                filed
                    .iter()
                    .map(|f| {
                        let (namespace, name) = parts_of(&*f.0);
                        inner.key(namespace, name)
                    })
                    .collect()
            })
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
        let mut inner = self.cache.inner.write();
        let (namespace, name) = parts_of(&*obj);
        // An update keeps the key the object was first filed under; a new object's
        // key shares its namespace with the others.
        let existing = held_key(&inner.objects, (namespace, name));
        let key = existing.unwrap_or_else(|| ObjectKey {
            namespace: namespace.map(|ns| inner.namespaces.intern(ns)),
            name: name.into(),
        });
        let Inner {
            objects,
            indexes,
            tallies,
            ..
        } = &mut *inner;
        let old = objects.insert(key.clone(), obj.clone());
        for index in indexes.values_mut() {
            match &old {
                Some(old) => index.replace(old, &obj),
                None => index.insert(&obj),
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
            namespaces,
            indexes,
            tallies,
        } = &mut *inner;
        let (key, old) = objects.remove_entry(key)?;
        for index in indexes.values_mut() {
            index.remove(&old);
        }
        for tally in tallies.values_mut() {
            tally.remove(&old);
        }
        namespaces.release(&key);
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
        for obj in objects.values() {
            index.insert(obj);
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
    use orchestra_core::kinds::Pod;
    use orchestra_core::{ObjectMeta, ResourceExt};

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

    fn named(namespace: &str, name: &str) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta::namespaced(namespace, name),
            ..Default::default()
        })
    }

    #[test]
    fn keys_handed_out_share_the_cached_keys_strings() {
        let writer = Cache::<Pod>::new_with_writer();
        let cache = writer.cache();
        let (a, b) = (named("default", "a"), named("default", "b"));
        writer.apply(a.clone());
        writer.apply(b.clone());
        let (key_a, key_b) = (cache.key_of(&a), cache.key_of(&b));
        assert_eq!(key_a, ObjectKey::namespaced("default", "a"));
        let shared = |x: &ObjectKey, y: &ObjectKey| {
            Arc::ptr_eq(x.namespace.as_ref().unwrap(), y.namespace.as_ref().unwrap())
        };
        assert!(shared(&key_a, &key_b), "one namespace string for both");
        assert!(Arc::ptr_eq(&key_a.name, &cache.key_of(&a).name));
        // An update files the object under the key it already has.
        writer.apply(named("default", "a"));
        assert!(Arc::ptr_eq(
            &key_a.name,
            &cache.key(Some("default"), "a").name
        ));
        // A key of something not cached is made afresh, equal all the same.
        let absent = cache.key(Some("default"), "c");
        assert_eq!(absent, ObjectKey::namespaced("default", "c"));
        assert!(shared(&absent, &key_a), "a known namespace is still shared");
        assert_eq!(cache.key(None, "a"), ObjectKey::cluster("a"));
        // Removing the last objects of a namespace forgets it once no key holds it.
        drop((key_a, key_b, absent));
        writer.remove(&ObjectKey::namespaced("default", "a"));
        writer.remove(&ObjectKey::namespaced("default", "b"));
        let fresh = cache.key(Some("default"), "d");
        assert_eq!(fresh.namespace.as_deref(), Some("default"));
        assert_eq!(Arc::strong_count(fresh.namespace.as_ref().unwrap()), 1);
    }

    #[test]
    fn index_entries_are_found_by_key() {
        let writer = Cache::<Pod>::new_with_writer();
        let cache = writer.cache();
        let labelled = |name: &str| {
            let mut pod = Pod {
                metadata: ObjectMeta::namespaced("default", name),
                ..Default::default()
            };
            pod.metadata.labels.insert("app".into(), "web".into());
            Arc::new(pod)
        };
        writer.apply(labelled("a"));
        writer.apply(labelled("b"));
        let mut names: Vec<String> = cache
            .by_index(INDEX_LABEL, "app=web")
            .iter()
            .map(|p| p.name_any().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
        // The keys an index hands out are the cache's own.
        let keys = cache.keys_by_index(INDEX_LABEL, "app=web");
        assert_eq!(keys.len(), 2);
        for key in &keys {
            assert!(Arc::ptr_eq(
                &key.name,
                &cache.key(Some("default"), &key.name).name
            ));
        }
        writer.remove(&ObjectKey::namespaced("default", "a"));
        let left = cache.by_index(INDEX_LABEL, "app=web");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name_any(), "b");
        writer.remove(&ObjectKey::namespaced("default", "b"));
        assert!(cache.keys_by_index(INDEX_LABEL, "app=web").is_empty());
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

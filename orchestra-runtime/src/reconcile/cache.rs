//! The informer's in-memory cache: every object of one kind, with indexes to find
//! objects without scanning.
//!
//! Controllers read only from here (never from the store) so a reconcile costs no I/O
//! until it writes. Three indexes are always kept — by namespace, by owner uid and by
//! label pair — and users add their own (pods by `spec.nodeName`, say) with an index
//! function before the informer starts, and [`Tally`] summaries of groups of objects
//! (a ReplicaSet's ready pods) that the cache keeps current as objects change.
//!
//! **Decoded and packed objects.** The most recently written objects (by default
//! [`DEFAULT_DECODED`] of them) are kept decoded, as the `Arc<K>` the informer handed
//! to its handlers, so the objects controllers are working on are read at the cost of
//! a pointer. Older ones are packed (see `packed.rs`): a settled pod costs about a
//! tenth of its decoded size, which is what lets one process hold 100,000 of them,
//! and is decoded again on each read. So two reads of a settled object return equal
//! objects that need not be the same `Arc`. A cache with fewer objects than the limit
//! never packs anything.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use orchestra_core::{LabelSelector, Resource};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::key::{KeyMap, Namespaces, ObjectKey, held_key, parts_of};
use super::packed::{Packed, Packer};
use super::tally::{Groups, Tallies, Tally};

/// Index of objects by `metadata.namespace` (cluster-scoped objects: `""`).
pub const INDEX_NAMESPACE: &str = "namespace";
/// Index of objects by the uid of each of their owners.
pub const INDEX_OWNER: &str = "owner";
/// Index of objects by each `key=value` label pair.
pub const INDEX_LABEL: &str = "label";

/// How many of the most recently written objects a cache keeps decoded unless told
/// otherwise ([`InformerConfig::decoded`](super::InformerConfig::decoded)).
pub const DEFAULT_DECODED: usize = 4096;

/// Computes the index values of an object (none, one or many).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// An index: for each value, the keys of the objects with it (the cache's own keys,
/// so an entry costs two reference counts, not a copy of the name).
struct Index<K> {
    func: IndexFn<K>,
    entries: HashMap<
        String,
        HashSet<ObjectKey, foldhash::fast::RandomState>,
        foldhash::fast::RandomState,
    >,
}

impl<K: Resource> Index<K> {
    fn insert(&mut self, obj: &K, key: &ObjectKey) {
        for value in (self.func)(obj) {
            self.entries.entry(value).or_default().insert(key.clone());
        }
    }

    /// Moves the key from `old`'s index values to `new`'s. Most updates (a status
    /// change) keep every value, and then cost only the index function's calls.
    fn replace(&mut self, old: &K, new: &K, key: &ObjectKey) {
        let (before, after) = ((self.func)(old), (self.func)(new));
        if before != after {
            self.remove_values(before, key);
            for value in after {
                self.entries.entry(value).or_default().insert(key.clone());
            }
        }
    }

    fn remove(&mut self, obj: &K, key: &ObjectKey) {
        let values = (self.func)(obj);
        self.remove_values(values, key);
    }

    fn remove_values(&mut self, values: Vec<String>, key: &ObjectKey) {
        for value in values {
            if let Some(set) = self.entries.get_mut(&value) {
                set.remove(key);
                if set.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

/// How the cache holds one object.
enum Slot<K> {
    /// As the informer decoded it; `seq` is its entry in [`Recent`].
    Decoded {
        obj: Arc<K>,
        seq: u64,
    },
    Packed(Packed),
}

impl<K: Resource> Slot<K> {
    /// What a reader takes away to decode, if need be, after the lock is released.
    fn fetch(&self) -> Fetched<K> {
        match self {
            Slot::Decoded { obj, .. } => Fetched::Ready(obj.clone()),
            Slot::Packed(packed) => Fetched::Packed(packed.clone()),
        }
    }
}

/// An object read out of the cache, decoded or still to be.
enum Fetched<K> {
    Ready(Arc<K>),
    Packed(Packed),
}

impl<K: Resource> Fetched<K> {
    fn decode(self) -> Arc<K> {
        match self {
            Fetched::Ready(obj) => obj,
            Fetched::Packed(packed) => Arc::new(packed.unpack()),
        }
    }
}

/// The decoded objects in the order they were written, oldest first, so the oldest
/// is packed when there are more than the limit. Each decoded slot's `seq` is its
/// entry here; replacing or removing the object removes the entry.
struct Recent {
    order: BTreeMap<u64, ObjectKey>,
    next_seq: u64,
    limit: usize,
}

impl Recent {
    fn new(limit: usize) -> Self {
        Recent {
            order: BTreeMap::new(),
            next_seq: 0,
            limit,
        }
    }

    /// Records `key` as the newest decoded object; returns its `seq`.
    fn push(&mut self, key: &ObjectKey) -> u64 {
        self.next_seq += 1;
        self.order.insert(self.next_seq, key.clone());
        self.next_seq
    }
}

struct Inner<K> {
    objects: KeyMap<Slot<K>>,
    recent: Recent,
    /// The namespaces the keys of `objects` share.
    namespaces: Namespaces,
    indexes: HashMap<String, Index<K>>,
    /// By the `Tally` type they hold.
    tallies: HashMap<TypeId, Box<dyn Tallies<K>>>,
}

impl<K: Resource> Inner<K> {
    /// The key of the cached object `namespace/name`, or a new one (sharing the
    /// namespace when the cache knows it) when nothing is cached under it.
    fn key(&self, namespace: Option<&str>, name: &str) -> ObjectKey {
        held_key(&self.objects, (namespace, name)).unwrap_or_else(|| ObjectKey {
            namespace: namespace.map(|ns| self.namespaces.get(ns).unwrap_or_else(|| ns.into())),
            name: name.into(),
        })
    }

    /// Every object, fetched for decoding outside the lock.
    fn fetch_keys<'a>(&self, keys: impl Iterator<Item = &'a ObjectKey>) -> Vec<Fetched<K>> {
        keys.filter_map(|k| self.objects.get(k).map(Slot::fetch))
            .collect()
    }

    /// Takes the oldest decoded objects beyond the limit off the recency order, to be
    /// packed; their slots stay decoded until they are.
    fn over_limit(&mut self) -> Vec<(ObjectKey, u64, Arc<K>)> {
        let mut out = Vec::new();
        while self.recent.order.len() > self.recent.limit {
            let Some((seq, key)) = self.recent.order.pop_first() else {
                break;
            };
            if let Some(Slot::Decoded { obj, .. }) = self.objects.get(&key) {
                out.push((key, seq, obj.clone()));
            }
        }
        out
    }

    /// Forgets the recency of a slot that is replaced or removed.
    fn forget(&mut self, slot: &Slot<K>) {
        if let Slot::Decoded { seq, .. } = slot {
            self.recent.order.remove(seq);
        }
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
    packer: Mutex<Packer>,
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
            recent: Recent::new(DEFAULT_DECODED),
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
            packer: Mutex::new(Packer::default()),
        }
    }

    /// The object with this key, if cached.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let fetched = self.inner.read().objects.get(key).map(Slot::fetch);
        fetched.map(Fetched::decode)
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
        let fetched: Vec<Fetched<K>> = self
            .inner
            .read()
            .objects
            .values()
            .map(Slot::fetch)
            .collect();
        fetched.into_iter().map(Fetched::decode).collect()
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
        let fetched = {
            let inner = self.inner.read();
            match inner.indexes.get(index).and_then(|i| i.entries.get(value)) {
                Some(keys) => inner.fetch_keys(keys.iter()),
                None => return Vec::new(),
            }
        };
        fetched.into_iter().map(Fetched::decode).collect()
    }

    /// The keys of the objects whose index `index` has the value `value`.
    pub fn keys_by_index(&self, index: &str, value: &str) -> Vec<ObjectKey> {
        let inner = self.inner.read();
        inner
            .indexes
            .get(index)
            .and_then(|i| i.entries.get(value))
            .map(|keys| keys.iter().cloned().collect())
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

    /// Keeps at most `limit` objects decoded from now on (at least one).
    pub(crate) fn set_decoded_limit(&self, limit: usize) {
        let over = {
            let mut inner = self.cache.inner.write();
            inner.recent.limit = limit.max(1);
            inner.over_limit()
        };
        self.pack(over);
    }

    /// The object cached under `namespace/name`, decoded outside the lock when it is
    /// packed; with the packed form it was decoded from, to recognise it later.
    fn current(&self, namespace: Option<&str>, name: &str) -> Option<(Arc<K>, Option<Packed>)> {
        let fetched = {
            let inner = self.cache.inner.read();
            let key = held_key(&inner.objects, (namespace, name))?;
            inner.objects.get(&key).map(Slot::fetch)?
        };
        Some(match fetched {
            Fetched::Ready(obj) => (obj, None),
            Fetched::Packed(packed) => (Arc::new(packed.unpack()), Some(packed)),
        })
    }

    /// Stores `obj`, returning the object it replaced.
    pub(crate) fn apply(&self, obj: Arc<K>) -> Option<Arc<K>> {
        let (namespace, name) = parts_of(&*obj);
        // A packed predecessor is decoded before the write lock is taken: the informer
        // is the only writer, so it is still the one there after.
        let before = self.current(namespace, name);
        let (old, over) = {
            let mut inner = self.cache.inner.write();
            // An update keeps the key the object was first filed under; a new
            // object's key shares its namespace with the others.
            let key = held_key(&inner.objects, (namespace, name)).unwrap_or_else(|| ObjectKey {
                namespace: namespace.map(|ns| inner.namespaces.intern(ns)),
                name: name.into(),
            });
            let seq = inner.recent.push(&key);
            let replaced = inner.objects.insert(
                key.clone(),
                Slot::Decoded {
                    obj: obj.clone(),
                    seq,
                },
            );
            let old = replaced.map(|slot| {
                inner.forget(&slot);
                match slot {
                    Slot::Decoded { obj, .. } => obj,
                    Slot::Packed(packed) => decoded_before(&before, &packed),
                }
            });
            let Inner {
                indexes, tallies, ..
            } = &mut *inner;
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
            (old, inner.over_limit())
        };
        self.pack(over);
        old
    }

    /// Packs the objects [`Inner::over_limit`] took off the recency order. The
    /// encoding and compressing happen outside the lock; a slot is swapped only if
    /// it still holds the object that was packed.
    fn pack(&self, over: Vec<(ObjectKey, u64, Arc<K>)>) {
        if over.is_empty() {
            return;
        }
        let packed: Vec<(ObjectKey, u64, Packed)> = {
            let mut packer = self.packer.lock();
            over.into_iter()
                .map(|(key, seq, obj)| (key, seq, packer.pack(&*obj)))
                .collect()
        };
        let mut inner = self.cache.inner.write();
        for (key, seq, packed) in packed {
            if let Some(slot) = inner.objects.get_mut(&key)
                && matches!(slot, Slot::Decoded { seq: s, .. } if *s == seq)
            {
                *slot = Slot::Packed(packed);
            }
        }
    }

    /// Removes the object with `key`, returning it.
    pub(crate) fn remove(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let before = self.current(key.namespace.as_deref(), &key.name);
        let mut inner = self.cache.inner.write();
        let (key, slot) = inner.objects.remove_entry(key)?;
        inner.forget(&slot);
        let old = match slot {
            Slot::Decoded { obj, .. } => obj,
            Slot::Packed(packed) => decoded_before(&before, &packed),
        };
        let Inner {
            namespaces,
            indexes,
            tallies,
            ..
        } = &mut *inner;
        for index in indexes.values_mut() {
            index.remove(&old, &key);
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
        let mut index = Index {
            func,
            entries: HashMap::default(),
        };
        for (key, slot) in &inner.objects {
            index.insert(&slot.fetch().decode(), key);
        }
        inner.indexes.insert(name.to_owned(), index);
    }

    /// Adds (or replaces) the tally of type `T`, computed over the objects already
    /// cached.
    pub(crate) fn add_tally<T: Tally<K>>(&self) {
        let mut inner = self.cache.inner.write();
        let mut groups = Groups::<T>::default();
        for slot in inner.objects.values() {
            Tallies::<K>::add(&mut groups, &slot.fetch().decode());
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

/// The object a packed slot held: the one decoded before the lock was taken when it
/// came from this very slot (it always does while the informer is the only writer),
/// else decoded now.
fn decoded_before<K: Resource>(
    before: &Option<(Arc<K>, Option<Packed>)>,
    packed: &Packed,
) -> Arc<K> {
    match before {
        Some((obj, Some(from))) if from.same(packed) => obj.clone(),
        _ => Arc::new(packed.unpack()),
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

    fn labelled(name: &str, app: &str) -> Arc<Pod> {
        let mut pod = Pod {
            metadata: ObjectMeta::namespaced("default", name),
            ..Default::default()
        };
        pod.metadata.labels.insert("app".into(), app.into());
        pod.spec.node_name = Some(format!("node-of-{name}"));
        Arc::new(pod)
    }

    /// How many objects are held decoded, checking the bookkeeping on the way.
    fn decoded(writer: &CacheWriter<Pod>) -> usize {
        let inner = writer.cache().inner.read();
        let decoded = inner
            .objects
            .values()
            .filter(|s| matches!(s, Slot::Decoded { .. }))
            .count();
        assert_eq!(
            decoded,
            inner.recent.order.len(),
            "one recency entry per decoded slot"
        );
        for (seq, key) in &inner.recent.order {
            assert!(
                matches!(inner.objects.get(key), Some(Slot::Decoded { seq: s, .. }) if s == seq)
            );
        }
        assert!(decoded <= inner.recent.limit);
        decoded
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods.iter().map(|p| p.name_any().to_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn objects_beyond_the_limit_are_packed_and_read_back_equal() {
        let writer = Cache::<Pod>::new_with_writer();
        writer.set_decoded_limit(2);
        let pods: Vec<Arc<Pod>> = (0..5).map(|i| labelled(&format!("p{i}"), "web")).collect();
        for p in &pods {
            writer.apply(p.clone());
        }
        assert_eq!(decoded(&writer), 2, "the two newest stay decoded");
        let cache = writer.cache();
        for p in &pods {
            let read = cache.get(&ObjectKey::of(&**p)).unwrap();
            assert_eq!(*read, **p);
        }
        // The newest is served as the very object the informer handed out.
        assert!(Arc::ptr_eq(
            &cache.get(&ObjectKey::of(&*pods[4])).unwrap(),
            &pods[4]
        ));
        assert_eq!(
            names(cache.by_index(INDEX_LABEL, "app=web")),
            ["p0", "p1", "p2", "p3", "p4"]
        );
        assert_eq!(names(cache.list()), ["p0", "p1", "p2", "p3", "p4"]);
        assert_eq!(cache.keys_by_index(INDEX_LABEL, "app=web").len(), 5);
    }

    #[test]
    fn updating_or_removing_a_packed_object_hands_back_its_last_state() {
        let writer = Cache::<Pod>::new_with_writer();
        writer.set_decoded_limit(1);
        let a = labelled("a", "web");
        writer.apply(a.clone());
        writer.apply(labelled("b", "web"));
        assert_eq!(decoded(&writer), 1, "a is packed");
        let old = writer.apply(labelled("a", "db")).unwrap();
        assert_eq!(*old, *a);
        let cache = writer.cache();
        assert_eq!(names(cache.by_index(INDEX_LABEL, "app=web")), ["b"]);
        assert_eq!(names(cache.by_index(INDEX_LABEL, "app=db")), ["a"]);
        assert_eq!(decoded(&writer), 1, "now b is packed");
        let removed = writer
            .remove(&ObjectKey::namespaced("default", "b"))
            .unwrap();
        assert_eq!(*removed, *labelled("b", "web"));
        assert!(cache.by_index(INDEX_LABEL, "app=web").is_empty());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_small_cache_never_packs() {
        let writer = Cache::<Pod>::new_with_writer();
        for round in 0..3 {
            for i in 0..100 {
                writer.apply(labelled(&format!("p{i}"), &format!("v{round}")));
            }
        }
        assert_eq!(decoded(&writer), 100);
        assert_eq!(writer.cache().by_index(INDEX_LABEL, "app=v2").len(), 100);
    }

    mod model {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Clone, Debug)]
        enum Op {
            Apply(u8, u8),
            Remove(u8),
            Limit(usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0..8u8, 0..3u8).prop_map(|(k, v)| Op::Apply(k, v)),
                2 => (0..8u8).prop_map(Op::Remove),
                1 => (1..5usize).prop_map(Op::Limit),
            ]
        }

        proptest! {
            /// Whatever is decoded or packed, the cache answers as a plain map of
            /// objects would, and its indexes and the objects it hands back agree.
            #[test]
            fn the_cache_reads_as_a_map_of_its_objects(ops in proptest::collection::vec(op(), 1..80)) {
                let writer = Cache::<Pod>::new_with_writer();
                writer.set_decoded_limit(2);
                let mut model: BTreeMap<String, Arc<Pod>> = BTreeMap::new();
                for op in ops {
                    match op {
                        Op::Apply(k, v) => {
                            let pod = labelled(&format!("p{k}"), &format!("v{v}"));
                            let old = writer.apply(pod.clone());
                            let expected = model.insert(format!("p{k}"), pod);
                            prop_assert_eq!(old.map(|o| (*o).clone()), expected.map(|o| (*o).clone()));
                        }
                        Op::Remove(k) => {
                            let old = writer.remove(&ObjectKey::namespaced("default", format!("p{k}")));
                            let expected = model.remove(&format!("p{k}"));
                            prop_assert_eq!(old.map(|o| (*o).clone()), expected.map(|o| (*o).clone()));
                        }
                        Op::Limit(limit) => writer.set_decoded_limit(limit),
                    }
                    decoded(&writer);
                    let cache = writer.cache();
                    prop_assert_eq!(cache.len(), model.len());
                    for (name, pod) in &model {
                        let read = cache.get(&ObjectKey::namespaced("default", name));
                        prop_assert_eq!(read.as_deref(), Some(&**pod));
                    }
                    for v in 0..3 {
                        let value = format!("app=v{v}");
                        let want: Vec<String> = model
                            .iter()
                            .filter(|(_, p)| p.metadata.labels.get("app") == Some(&format!("v{v}")))
                            .map(|(n, _)| n.clone())
                            .collect();
                        prop_assert_eq!(names(cache.by_index(INDEX_LABEL, &value)), want);
                    }
                }
            }
        }
    }
}

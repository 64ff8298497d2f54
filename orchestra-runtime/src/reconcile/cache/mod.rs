//! The informer's in-memory cache: every object of one kind, with indexes to find
//! objects without scanning.
//!
//! Controllers read only from here (never from the store) so a reconcile costs no I/O
//! until it writes. Three indexes are always kept — by namespace, by owner uid and by
//! label pair — and users add their own (pods by `spec.nodeName`, say) with an index
//! function before the informer starts, and [`Tally`] summaries of groups of objects
//! (a ReplicaSet's ready pods) that the cache keeps current as objects change.
//!
//! **Decoded and packed objects.** By default every object is kept decoded, as the
//! `Arc<K>` the informer handed to its handlers, and a read costs a pointer. A cache
//! can instead be told to keep only the most recently written objects decoded
//! ([`Informer::keep_decoded`](super::Informer::keep_decoded); the objects controllers
//! are working on are among them) and to pack the older ones (see `packed.rs`): a
//! settled pod then costs about a tenth of its decoded size, which is what lets one
//! process hold 100,000 of them, and is decoded again on each read (a few
//! microseconds). Two reads of a packed object return equal objects that need not be
//! the same `Arc`. A cache with fewer objects than its limit never packs anything. The
//! kind may be a user's with serde of its own: an object that does not encode, or
//! whose JSON does not decode again, is not packed but kept decoded (and logged), so
//! a read never fails.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use orchestra_core::{LabelSelector, Resource};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use tokio::sync::watch;

use self::objects::{Fetched, Id, Objects, Place, Settling, Slot};
use self::packed::{Packed, Packer};
use super::tally::{Groups, Tallies, Tally};
use crate::keys::{KeyRef, ObjectKey, SharedNamespaces};
use crate::reconcile::ErrorChain;

mod objects;
mod packed;
#[cfg(test)]
mod tests;

/// Index of objects by `metadata.namespace` (cluster-scoped objects: `""`).
pub const INDEX_NAMESPACE: &str = "namespace";
/// Index of objects by the uid of each of their owners.
pub const INDEX_OWNER: &str = "owner";
/// Index of objects by each `key=value` label pair.
pub const INDEX_LABEL: &str = "label";

/// A limit on decoded objects that suits a kind with very many objects, such as the
/// pods of a large cluster: enough for every object being worked on at a time, a
/// small part of 100,000. The cluster builder keeps pods to it.
pub const DECODED_IN_LARGE_CACHES: usize = 4096;

/// Computes the index values of an object (none, one or many).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// An index: for each value, the places of the objects with it.
struct Index<K> {
    func: IndexFn<K>,
    entries: HashMap<String, HashSet<Id, foldhash::fast::RandomState>, foldhash::fast::RandomState>,
}

impl<K: Resource> Index<K> {
    fn insert(&mut self, obj: &K, id: Id) {
        let values = (self.func)(obj);
        self.insert_values(values, id);
    }

    /// Moves the object from `old`'s index values to `new`'s. Most updates (a status
    /// change) keep every value, and then cost only the index function's calls.
    fn replace(&mut self, old: &K, new: &K, id: Id) {
        let (before, after) = ((self.func)(old), (self.func)(new));
        if before != after {
            self.remove_values(before, id);
            self.insert_values(after, id);
        }
    }

    fn insert_values(&mut self, values: Vec<String>, id: Id) {
        for value in values {
            self.entries.entry(value).or_default().insert(id);
        }
    }

    fn remove(&mut self, obj: &K, id: Id) {
        let values = (self.func)(obj);
        self.remove_values(values, id);
    }

    fn remove_values(&mut self, values: Vec<String>, id: Id) {
        for value in values {
            if let Some(set) = self.entries.get_mut(&value) {
                set.remove(&id);
                if set.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

struct Inner<K> {
    objects: Objects<K>,
    /// The namespaces the keys of `objects` share.
    namespaces: SharedNamespaces,
    indexes: HashMap<String, Index<K>>,
    /// By the `Tally` type they hold.
    tallies: HashMap<TypeId, Box<dyn Tallies<K>>>,
}

impl<K: Resource> Inner<K> {
    /// The key of the cached object `namespace/name`, or a new one (sharing the
    /// namespace when the cache knows it) when nothing is cached under it.
    fn key(&self, key: KeyRef<'_>) -> ObjectKey {
        self.objects
            .held_key(key)
            .unwrap_or_else(|| self.namespaces.key(key))
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
            objects: Objects::new(usize::MAX),
            namespaces: SharedNamespaces::default(),
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
        let fetched = self.inner.read().objects.get(key).map(|p| p.slot.fetch());
        fetched.map(Fetched::decode)
    }

    /// The key of `obj`: the cache's own key (its strings shared, nothing allocated)
    /// when an object with that name is cached, as it is for every object a handler or
    /// subscription of this cache's informer is told about. Keep keys made this way
    /// when keeping one per object.
    pub fn key_of(&self, obj: &K) -> ObjectKey {
        self.inner.read().key(KeyRef::of(obj))
    }

    /// The key `namespace/name` (`None`: cluster-scoped), shared with the cache's own
    /// as [`key_of`](Self::key_of) is.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> ObjectKey {
        self.inner.read().key(KeyRef::new(namespace, name))
    }

    /// Every cached object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        let fetched: Vec<Fetched<K>> = self
            .inner
            .read()
            .objects
            .iter()
            .map(|(_, p)| p.slot.fetch())
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
                Some(ids) => ids
                    .iter()
                    .map(|&id| inner.objects.at(id).slot.fetch())
                    .collect::<Vec<_>>(),
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
            .map(|ids| {
                ids.iter()
                    .map(|&id| inner.objects.at(id).key.clone())
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

    /// Keeps at most `limit` objects decoded from now on (at least one).
    pub(crate) fn set_decoded_limit(&self, limit: usize) {
        let over = {
            let mut inner = self.cache.inner.write();
            inner.objects.set_limit(limit);
            inner.objects.over_limit()
        };
        self.pack(over);
    }

    /// Takes the write lock to replace or remove the object `namespace/name`; if that
    /// object is packed, also returns it decoded, with the packed form it came from.
    /// The decoding happens with the lock released, so readers never wait on it.
    fn lock_to_change(&self, parts: KeyRef<'_>) -> (RwLockWriteGuard<'_, Inner<K>>, Unpacked<K>) {
        let mut unpacked: Unpacked<K> = None;
        loop {
            let inner = self.cache.inner.write();
            let packed = match inner.objects.find(parts) {
                Some(Place {
                    slot: Slot::Packed(packed),
                    ..
                }) => packed,
                _ => return (inner, unpacked),
            };
            // The informer is the only writer: the object is still the one decoded.
            if unpacked.as_ref().is_some_and(|(_, from)| from.same(packed)) {
                return (inner, unpacked);
            }
            let packed = packed.clone();
            drop(inner);
            unpacked = Some((Arc::new(packed.unpack()), packed));
        }
    }

    /// Stores `obj`, returning the object it replaced.
    pub(crate) fn apply(&self, obj: Arc<K>) -> Option<Arc<K>> {
        let parts = KeyRef::of(&*obj);
        let (old, over) = {
            let (mut inner, before) = self.lock_to_change(parts);
            let Inner {
                objects,
                namespaces,
                indexes,
                tallies,
            } = &mut *inner;
            // An update keeps the key the object was first filed under; a new
            // object's key shares its namespace with the others.
            let (id, replaced) = objects.put(parts, obj.clone(), || namespaces.new_key(parts));
            let old = replaced.map(|slot| previous(slot, &before));
            for index in indexes.values_mut() {
                match &old {
                    Some(old) => index.replace(old, &obj, id),
                    None => index.insert(&obj, id),
                }
            }
            for tally in tallies.values_mut() {
                if let Some(old) = &old {
                    tally.remove(old);
                }
                tally.add(&obj);
            }
            (old, objects.over_limit())
        };
        self.pack(over);
        old
    }

    /// Packs the objects [`Objects::over_limit`] took off the recency order. The
    /// encoding and compressing happen outside the lock.
    ///
    /// An object that cannot be packed (its kind's `Serialize` fails for it, or its
    /// own `Deserialize` refuses the JSON) stays decoded, off the recency order, until
    /// it is next written; the error is logged, as there is no caller to hand it to.
    fn pack(&self, over: Vec<Settling<K>>) {
        if over.is_empty() {
            return;
        }
        let packed: Vec<(Id, u64, Packed)> = {
            let mut packer = self.packer.lock();
            over.into_iter()
                .filter_map(|s| match packer.pack(&*s.obj) {
                    Ok(packed) => Some((s.id, s.seq, packed)),
                    Err(error) => {
                        tracing::error!(
                            kind = K::KIND,
                            object = %ObjectKey::of(&*s.obj),
                            error = %ErrorChain(&error),
                            "cannot pack a cached object; keeping it decoded"
                        );
                        None
                    }
                })
                .collect()
        };
        let mut inner = self.cache.inner.write();
        for (id, seq, packed) in packed {
            inner.objects.settle(id, seq, packed);
        }
    }

    /// Removes the object with `key`, returning it.
    pub(crate) fn remove(&self, key: &ObjectKey) -> Option<Arc<K>> {
        let (mut inner, before) = self.lock_to_change(KeyRef::from(key));
        let Inner {
            objects,
            namespaces,
            indexes,
            tallies,
        } = &mut *inner;
        let (id, place) = objects.remove(key)?;
        let old = previous(place.slot, &before);
        for index in indexes.values_mut() {
            index.remove(&old, id);
        }
        for tally in tallies.values_mut() {
            tally.remove(&old);
        }
        namespaces.release(&place.key);
        Some(old)
    }

    /// Adds (or replaces) index `name`, computed over the objects already cached.
    pub(crate) fn add_index(&self, name: &str, func: IndexFn<K>) {
        let mut inner = self.cache.inner.write();
        let mut index = Index {
            func,
            entries: HashMap::default(),
        };
        for (id, place) in inner.objects.iter() {
            index.insert(&place.slot.fetch().decode(), id);
        }
        inner.indexes.insert(name.to_owned(), index);
    }

    /// Adds (or replaces) the tally of type `T`, computed over the objects already
    /// cached.
    pub(crate) fn add_tally<T: Tally<K>>(&self) {
        let mut inner = self.cache.inner.write();
        let mut groups = Groups::<T>::default();
        for (_, place) in inner.objects.iter() {
            Tallies::<K>::add(&mut groups, &place.slot.fetch().decode());
        }
        inner.tallies.insert(TypeId::of::<T>(), Box::new(groups));
    }

    /// Every cached key.
    pub(crate) fn keys(&self) -> Vec<ObjectKey> {
        let inner = self.cache.inner.read();
        inner.objects.iter().map(|(_, p)| p.key.clone()).collect()
    }

    /// Marks the cache as holding a complete list.
    pub(crate) fn mark_synced(&self) {
        self.synced.send_replace(true);
    }
}

/// A packed object decoded, with the packed form it came from.
type Unpacked<K> = Option<(Arc<K>, Packed)>;

/// The object a slot that was just replaced or removed held: when packed, the one
/// [`CacheWriter::lock_to_change`] decoded, else (never, while the informer is the
/// only writer) decoded now.
fn previous<K: Resource>(slot: Slot<K>, before: &Unpacked<K>) -> Arc<K> {
    match (slot, before) {
        (Slot::Decoded { obj, .. }, _) => obj,
        (Slot::Packed(packed), Some((obj, from))) if from.same(&packed) => obj.clone(),
        (Slot::Packed(packed), _) => Arc::new(packed.unpack()),
    }
}

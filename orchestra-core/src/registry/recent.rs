//! [`Recent`]: the objects of one kind the registry wrote or read most recently, each
//! as it is stored at one revision — decoded, and with its stored bytes.
//!
//! An entry keeps a hash of the stored bytes, not the bytes: enough to see that a write
//! would change nothing (which the store then confirms), at a few bytes an entry.
//!
//! A revision names exactly one stored state of a key, so an entry found for the
//! revision a caller names (or a store event carries) is that state, with no need to
//! read or decode it again. The registry uses them as kube-apiserver uses its watch
//! cache's objects: as the stored object a write starts from (a write guarded by the
//! entry's revision fails if the key moved on, and is then retried from a fresh read),
//! and as the decoded object of a watch event every watcher of the kind shares. The
//! writes of a busy cluster follow each other closely — a pod is bound, then its
//! status written twice, within moments of its creation — so a few thousand entries
//! save most decodes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::store::Revision;

/// How many objects of each kind are kept by default.
pub const DEFAULT_RECENT_OBJECTS: usize = 2048;

/// One key's recent state.
pub(super) struct Entry<K> {
    pub(super) revision: Revision,
    pub(super) object: Arc<K>,
    /// [`value_hash`] of the stored bytes.
    pub(super) value_hash: u64,
}

impl<K> Clone for Entry<K> {
    fn clone(&self) -> Self {
        Entry {
            revision: self.revision,
            object: self.object.clone(),
            value_hash: self.value_hash,
        }
    }
}

/// A hash of a stored value, the same in every process (so it means the same whoever
/// computed it).
pub(super) fn value_hash(value: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = foldhash::quality::FixedState::with_seed(0x6f72_6368_6573_7472).build_hasher();
    hasher.write(value);
    hasher.finish()
}

/// The recent objects of one kind, at most `capacity` of them, the oldest written
/// going first.
pub(super) struct Recent<K> {
    capacity: usize,
    inner: Mutex<Inner<K>>,
}

struct Inner<K> {
    by_key: HashMap<Bytes, Entry<K>, foldhash::fast::RandomState>,
    /// Keys in the order their entries were put, with the revision put (an older
    /// revision of a key still in the map was superseded, and is skipped).
    order: VecDeque<(Bytes, Revision)>,
}

impl<K> Recent<K> {
    pub(super) fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            inner: Mutex::new(Inner {
                by_key: HashMap::default(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The entry of `key` at exactly `revision`.
    pub(super) fn at(&self, key: &[u8], revision: Revision) -> Option<Entry<K>> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.inner.lock();
        inner
            .by_key
            .get(key)
            .filter(|e| e.revision == revision)
            .cloned()
    }

    /// The newest entry of `key`, whatever its revision.
    pub(super) fn latest(&self, key: &[u8]) -> Option<Entry<K>> {
        if self.capacity == 0 {
            return None;
        }
        self.inner.lock().by_key.get(key).cloned()
    }

    /// Records `key` at `revision` (an older revision of it is replaced; a newer one is
    /// kept).
    pub(super) fn put(&self, key: Bytes, revision: Revision, object: Arc<K>, value: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        if inner
            .by_key
            .get(&key)
            .is_some_and(|e| e.revision >= revision)
        {
            return;
        }
        inner.order.push_back((key.clone(), revision));
        inner.by_key.insert(
            key,
            Entry {
                revision,
                object,
                value_hash: value_hash(value),
            },
        );
        while inner.by_key.len() > self.capacity {
            let Some((oldest, at)) = inner.order.pop_front() else {
                break;
            };
            if inner.by_key.get(&oldest).is_some_and(|e| e.revision == at) {
                inner.by_key.remove(&oldest);
            }
        }
        // Superseded positions pile up while the map is below capacity: drop them once
        // they outnumber the live ones.
        if inner.order.len() > 2 * self.capacity.max(inner.by_key.len()) {
            let Inner { by_key, order } = &mut *inner;
            order.retain(|(k, at)| by_key.get(k).is_some_and(|e| e.revision == *at));
        }
    }

    /// Forgets `key` (it was deleted).
    pub(super) fn forget(&self, key: &[u8]) {
        if self.capacity == 0 {
            return;
        }
        self.inner.lock().by_key.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Bytes {
        Bytes::from(k.to_owned())
    }

    #[test]
    fn an_entry_is_found_only_at_its_revision_and_the_oldest_goes_first() {
        let recent: Recent<u32> = Recent::new(2);
        recent.put(key("a"), 1, Arc::new(10), b"");
        recent.put(key("b"), 2, Arc::new(20), b"");
        assert_eq!(recent.at(b"a", 1).map(|e| *e.object), Some(10));
        assert!(
            recent.at(b"a", 2).is_none(),
            "another revision is another state"
        );
        recent.put(key("a"), 3, Arc::new(11), b"");
        recent.put(key("a"), 1, Arc::new(99), b"");
        assert_eq!(
            recent.latest(b"a").map(|e| (e.revision, *e.object)),
            Some((3, 11)),
            "an older revision never replaces a newer one"
        );
        recent.put(key("c"), 4, Arc::new(30), b"");
        assert!(
            recent.latest(b"b").is_none(),
            "b was put before a's newest state"
        );
        assert!(recent.latest(b"a").is_some() && recent.latest(b"c").is_some());
        recent.forget(b"a");
        assert!(recent.latest(b"a").is_none());
    }

    #[test]
    fn many_rewrites_of_few_keys_do_not_grow_the_order() {
        let recent: Recent<u32> = Recent::new(4);
        for rev in 1..10_000 {
            recent.put(key(&format!("k{}", rev % 3)), rev, Arc::new(0), b"");
        }
        assert!(recent.inner.lock().order.len() <= 8);
    }
}

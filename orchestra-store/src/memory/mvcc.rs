//! The multi-version key index behind `MemoryStore`: every key with the versions it had
//! since the compaction point, so a list can read any retained revision exactly.
//!
//! Each key maps to its versions in ascending revision order ([`super::versions`]: one
//! kept inline, more in a list); a deletion is a tombstone version. The current state
//! of a key is its last version, so current reads cost one ordered-map lookup. Reads at a past revision binary-search the key's versions.
//! Compaction is driven from the event log (`history`): for every trimmed event the
//! key it touched drops the versions no reader can ask for any more, which keeps the
//! cost proportional to what is trimmed rather than to the number of keys.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use orchestra_core::store::prefix_range_end;
use orchestra_core::{KeyValue, Revision, WatchEvent};

use super::versions::{StoredValue, Version, Versions};

/// Every key's versions, in ascending revision order.
#[derive(Default)]
pub(crate) struct Mvcc {
    keys: BTreeMap<Bytes, Versions>,
}

impl Mvcc {
    /// The key's current state, if it exists.
    pub(crate) fn get(&self, key: &[u8]) -> Option<KeyValue> {
        let (key, versions) = self.keys.get_key_value(key)?;
        to_kv(key, versions.last()?)
    }

    /// The key's current `mod_revision`, if it exists (no clones: the guard check of
    /// every write goes through here).
    pub(crate) fn current_mod_revision(&self, key: &[u8]) -> Option<Revision> {
        let last = self.keys.get(key)?.last()?;
        last.live().map(|_| last.revision())
    }

    /// Restores `kv`, its value kept as `stored`, as its key's only version (loading a
    /// snapshot; the key must not be in the index yet).
    pub(crate) fn restore(&mut self, kv: KeyValue, stored: StoredValue) {
        let version = Version::value(kv.mod_revision, kv.create_revision, kv.version, stored);
        self.keys.insert(kv.key, Versions::One(version));
    }

    /// Records a put of `stored` (the value as the store keeps it) at `revision`;
    /// returns the new state with `written` (the value as written) as its value.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        stored: StoredValue,
        written: Bytes,
        revision: Revision,
    ) -> KeyValue {
        let (key, create_revision, version) = match self.keys.get_key_value(key) {
            Some((k, versions)) => {
                let k = k.clone();
                let (create_revision, version) = match versions.last() {
                    Some(last) if let Some((_, version)) = last.live() => {
                        (last.create_revision, version + 1)
                    }
                    // Deleted: a new life of the key starts here.
                    _ => (revision, 1),
                };
                let versions = self.keys.get_mut(key).expect("looked up above");
                versions.push(Version::value(revision, create_revision, version, stored));
                (k, create_revision, version)
            }
            None => {
                let k = Bytes::copy_from_slice(key);
                let version = Version::value(revision, revision, 1, stored);
                self.keys.insert(k.clone(), Versions::One(version));
                (k, revision, 1)
            }
        };
        KeyValue {
            key,
            value: written,
            create_revision,
            mod_revision: revision,
            version,
        }
    }

    /// Records a deletion at `revision`; returns the state the key had before, or
    /// `None` (and records nothing) if it did not exist.
    pub(crate) fn delete(&mut self, key: &[u8], revision: Revision) -> Option<KeyValue> {
        let prev = self.get(key)?;
        self.keys
            .get_mut(key)
            .expect("looked up above")
            .push(Version::tombstone(revision));
        Some(prev)
    }

    /// The change `key` had at `revision`, with values as stored, if the index still
    /// holds it. It does for every change after the compaction point: compaction keeps
    /// a key's versions after it, and the version before a tombstone after it, which
    /// is what lets the event log keep only keys.
    pub(crate) fn event_at(&self, key: &[u8], revision: Revision) -> Option<WatchEvent> {
        let (key, versions) = self.keys.get_key_value(key)?;
        let versions = versions.as_slice();
        let idx = versions.partition_point(|v| v.revision() < revision);
        let changed = versions.get(idx).filter(|v| v.revision() == revision)?;
        Some(match changed.live() {
            Some(_) => WatchEvent::Put {
                kv: to_kv(key, changed)?,
            },
            None => WatchEvent::Delete {
                prev: to_kv(key, versions.get(idx.checked_sub(1)?)?)?,
                revision,
            },
        })
    }

    /// The keys starting with `prefix` (and after `start_after`, if given) as of
    /// `revision`, at most `limit` of them, in key order; also whether more remain.
    pub(crate) fn range(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        revision: Revision,
        limit: usize,
    ) -> (Vec<KeyValue>, bool) {
        let end = prefix_range_end(prefix);
        let lower = match start_after {
            Some(after) if after >= prefix => {
                // Nothing can follow a `start_after` at or beyond the prefix's end, and
                // `BTreeMap::range` panics on an empty (start > end) range.
                if end.as_deref().is_some_and(|end| after >= end) {
                    return (Vec::new(), false);
                }
                Bound::Excluded(after)
            }
            _ => Bound::Included(prefix),
        };
        let upper = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for (key, versions) in self.keys.range::<[u8], _>((lower, upper)) {
            if let Some(kv) = get_at(key, versions.as_slice(), revision) {
                if out.len() == limit {
                    return (out, true);
                }
                out.push(kv);
            }
        }
        (out, false)
    }

    /// Drops the history of `key` that no read at `revision` or later can see: versions
    /// shadowed by a newer version at or before `revision`, and a tombstone at or
    /// before `revision` (the key is then gone from the index entirely).
    pub(crate) fn compact_key(&mut self, key: &[u8], revision: Revision) {
        let Some(versions) = self.keys.get_mut(key) else {
            return;
        };
        let slice = versions.as_slice();
        let mut drop = slice
            .partition_point(|v| v.revision() <= revision)
            .saturating_sub(1);
        if slice
            .get(drop)
            .is_some_and(|v| v.revision() <= revision && v.live().is_none())
        {
            drop += 1;
        }
        versions.drop_oldest(drop);
        if versions.is_empty() {
            self.keys.remove(key);
        }
    }

    /// How many versions (values and tombstones) the index holds; for tests.
    #[cfg(test)]
    pub(crate) fn version_count(&self) -> usize {
        self.keys.values().map(Versions::len).sum()
    }
}

/// The key's state as of `revision`.
fn get_at(key: &Bytes, versions: &[Version], revision: Revision) -> Option<KeyValue> {
    let last = versions.last()?;
    // Fast path: current reads, and past reads of keys unchanged since.
    if last.revision() <= revision {
        return to_kv(key, last);
    }
    let idx = versions.partition_point(|v| v.revision() <= revision);
    to_kv(key, versions.get(idx.checked_sub(1)?)?)
}

fn to_kv(key: &Bytes, v: &Version) -> Option<KeyValue> {
    let (value, version) = v.live()?;
    Some(KeyValue {
        key: key.clone(),
        value: value.to_bytes(),
        create_revision: v.create_revision,
        mod_revision: v.revision(),
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(mvcc: &mut Mvcc, key: &[u8], value: &'static [u8], revision: Revision) {
        let stored = StoredValue::Packed(value.into());
        mvcc.put(key, stored, Bytes::from_static(value), revision);
    }

    fn keys(kvs: &[KeyValue]) -> Vec<&[u8]> {
        kvs.iter().map(|kv| kv.key.as_ref()).collect()
    }

    #[test]
    fn start_after_beyond_the_prefix_is_an_empty_page_not_a_panic() {
        let mut mvcc = Mvcc::default();
        put(&mut mvcc, b"/a/x", b"1", 1);
        put(&mut mvcc, b"/b", b"2", 2);
        assert_eq!(mvcc.range(b"/a/", Some(b"/b"), 2, usize::MAX).0, vec![]);
        // Exactly the range end: both bounds would be `Excluded(end)`.
        assert_eq!(mvcc.range(b"/a/", Some(b"/a0"), 2, usize::MAX).0, vec![]);
        // Before the prefix: the whole prefix.
        let (kvs, more) = mvcc.range(b"/a/", Some(b"/"), 2, usize::MAX);
        assert_eq!(keys(&kvs), vec![b"/a/x".as_ref()]);
        assert!(!more);
    }

    #[test]
    fn compaction_keeps_the_state_at_the_compaction_revision() {
        let mut mvcc = Mvcc::default();
        put(&mut mvcc, b"k", b"1", 1);
        put(&mut mvcc, b"k", b"2", 2);
        mvcc.delete(b"k", 3);
        put(&mut mvcc, b"k", b"4", 4);
        mvcc.compact_key(b"k", 2);
        assert_eq!(mvcc.version_count(), 3, "version 1 is shadowed by 2");
        assert_eq!(mvcc.range(b"k", None, 2, 10).0[0].value, "2");
        mvcc.compact_key(b"k", 3);
        assert_eq!(mvcc.version_count(), 1, "the tombstone at 3 goes too");
        assert_eq!(mvcc.range(b"k", None, 3, 10).0, vec![]);
        let kv = mvcc.get(b"k").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (4, 4, 1));
        mvcc.delete(b"k", 5);
        mvcc.compact_key(b"k", 5);
        assert_eq!(mvcc.version_count(), 0);
    }
}

//! The multi-version key index behind `MemoryStore`: every key with the versions it had
//! since the compaction point, so a list can read any retained revision exactly.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use orchestra_core::store::prefix_range_end;
use orchestra_core::{KeyValue, Revision};

/// One write to a key: a value, or a tombstone for a deletion.
#[derive(Clone, Debug)]
struct Version {
    revision: Revision,
    create_revision: Revision,
    version: u64,
    value: Option<Bytes>,
}

/// Every key's versions, in ascending revision order.
#[derive(Default)]
pub(crate) struct Mvcc {
    keys: BTreeMap<Bytes, Vec<Version>>,
}

impl Mvcc {
    /// The key's current state, if it exists.
    pub(crate) fn get(&self, key: &[u8]) -> Option<KeyValue> {
        let (key, versions) = self.keys.get_key_value(key)?;
        to_kv(key, versions.last()?)
    }

    /// The key's state as of `revision`.
    fn get_at(key: &Bytes, versions: &[Version], revision: Revision) -> Option<KeyValue> {
        let idx = versions.partition_point(|v| v.revision <= revision);
        to_kv(key, versions.get(idx.checked_sub(1)?)?)
    }

    /// Records a put at `revision`; returns the new state.
    pub(crate) fn put(&mut self, key: &[u8], value: Bytes, revision: Revision) -> KeyValue {
        let versions = match self.keys.get_mut(key) {
            Some(v) => v,
            None => self.keys.entry(Bytes::copy_from_slice(key)).or_default(),
        };
        let (create_revision, version) = match versions.last() {
            Some(Version {
                value: Some(_),
                create_revision,
                version,
                ..
            }) => (*create_revision, version + 1),
            _ => (revision, 1),
        };
        versions.push(Version {
            revision,
            create_revision,
            version,
            value: Some(value),
        });
        let (key, versions) = self.keys.get_key_value(key).expect("just inserted");
        to_kv(key, versions.last().expect("just pushed")).expect("a put has a value")
    }

    /// Records a deletion at `revision`; returns the state the key had before.
    pub(crate) fn delete(&mut self, key: &[u8], revision: Revision) -> Option<KeyValue> {
        let prev = self.get(key)?;
        let versions = self.keys.get_mut(key).expect("present");
        versions.push(Version {
            revision,
            create_revision: 0,
            version: 0,
            value: None,
        });
        Some(prev)
    }

    /// The keys starting with `prefix` (after `start_after`, if given) as of `revision`,
    /// at most `limit` of them; also whether more remain.
    pub(crate) fn range(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        revision: Revision,
        limit: usize,
    ) -> (Vec<KeyValue>, bool) {
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let end = prefix_range_end(prefix);
        let upper = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for (key, versions) in self.keys.range::<[u8], _>((lower, upper)) {
            if let Some(kv) = Self::get_at(key, versions, revision) {
                if out.len() == limit {
                    return (out, true);
                }
                out.push(kv);
            }
        }
        (out, false)
    }

    /// Drops the history of `key` older than `revision`, keeping the state the key had
    /// at `revision`; removes the key entirely if it was deleted by then.
    pub(crate) fn compact_key(&mut self, key: &[u8], revision: Revision) {
        let Some(versions) = self.keys.get_mut(key) else {
            return;
        };
        let keep_from = versions
            .partition_point(|v| v.revision <= revision)
            .saturating_sub(1);
        versions.drain(..keep_from);
        if versions
            .first()
            .is_some_and(|v| v.revision <= revision && v.value.is_none())
        {
            versions.remove(0);
        }
        if versions.is_empty() {
            self.keys.remove(key);
        }
    }
}

fn to_kv(key: &Bytes, v: &Version) -> Option<KeyValue> {
    Some(KeyValue {
        key: key.clone(),
        value: v.value.clone()?,
        create_revision: v.create_revision,
        mod_revision: v.revision,
        version: v.version,
    })
}

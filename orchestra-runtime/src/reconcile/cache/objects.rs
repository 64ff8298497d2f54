//! Where a cache keeps its objects: each in a numbered place, found by key through one
//! map, so that indexes hold place numbers (four bytes) instead of keys (32 bytes, and
//! a pod is filed under five index values); and which places hold their object
//! decoded, in the order they were written, so the oldest is packed first.

use std::collections::BTreeMap;
use std::sync::Arc;

use orchestra_core::Resource;

use super::packed::Packed;
use crate::keys::{KeyMap, KeyRef, ObjectKey};

/// The number of a place. Places are reused after their object is removed.
pub(super) type Id = u32;

/// How the cache holds one object: 24 bytes either way (checked below), as every
/// object has one.
pub(super) enum Slot<K> {
    /// As the informer decoded it; `seq` is its entry in the recency order.
    Decoded {
        obj: Arc<K>,
        seq: u64,
    },
    Packed(Packed),
}

impl<K: Resource> Slot<K> {
    /// What a reader takes away to decode, if need be, after the lock is released.
    pub(super) fn fetch(&self) -> Fetched<K> {
        match self {
            Slot::Decoded { obj, .. } => Fetched::Ready(obj.clone()),
            Slot::Packed(packed) => Fetched::Packed(packed.clone()),
        }
    }
}

/// An object read out of the cache, decoded or still to be.
pub(super) enum Fetched<K> {
    Ready(Arc<K>),
    Packed(Packed),
}

impl<K: Resource> Fetched<K> {
    pub(super) fn decode(self) -> Arc<K> {
        match self {
            Fetched::Ready(obj) => obj,
            Fetched::Packed(packed) => Arc::new(packed.unpack()),
        }
    }
}

/// One cached object and its key.
pub(super) struct Place<K> {
    pub(super) key: ObjectKey,
    pub(super) slot: Slot<K>,
}

/// A decoded object taken off the recency order, to be packed.
pub(super) struct Settling<K> {
    pub(super) id: Id,
    pub(super) seq: u64,
    pub(super) obj: Arc<K>,
}

/// Every cached object.
pub(super) struct Objects<K> {
    ids: KeyMap<Id>,
    places: Vec<Option<Place<K>>>,
    free: Vec<Id>,
    /// The decoded places by `seq`, oldest first, while there is a limit to keep
    /// (empty without one: a cache that never packs does not pay for the order).
    /// Replacing or removing a decoded object removes its entry.
    recent: BTreeMap<u64, Id>,
    next_seq: u64,
    /// The most objects kept decoded.
    limit: usize,
}

impl<K: Resource> Objects<K> {
    pub(super) fn new(limit: usize) -> Self {
        Objects {
            ids: KeyMap::new(),
            places: Vec::new(),
            free: Vec::new(),
            recent: BTreeMap::new(),
            next_seq: 0,
            limit: limit.max(1),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The key this cache holds for `namespace/name`, if it holds the object.
    pub(super) fn held_key(&self, key: KeyRef<'_>) -> Option<ObjectKey> {
        self.ids.held_key(key)
    }

    fn id_of(&self, key: KeyRef<'_>) -> Option<Id> {
        self.ids.find(key).copied()
    }

    /// The object `namespace/name`.
    pub(super) fn find(&self, key: KeyRef<'_>) -> Option<&Place<K>> {
        self.id_of(key).map(|id| self.at(id))
    }

    /// The object with `key`.
    pub(super) fn get(&self, key: &ObjectKey) -> Option<&Place<K>> {
        self.ids.get(key).map(|&id| self.at(id))
    }

    /// The object in place `id`, which an index or the recency order holds, so it is
    /// there.
    pub(super) fn at(&self, id: Id) -> &Place<K> {
        self.places[id as usize]
            .as_ref()
            .expect("a place the cache refers to holds an object")
    }

    /// Every object with its place.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Id, &Place<K>)> {
        self.ids.values().map(|&id| (id, self.at(id)))
    }

    /// Stores `obj`, decoded, as the newest object under `namespace/name` (its key
    /// made by `new_key` if the object is new). Returns its place and the slot it
    /// replaced.
    pub(super) fn put(
        &mut self,
        parts: KeyRef<'_>,
        obj: Arc<K>,
        new_key: impl FnOnce() -> ObjectKey,
    ) -> (Id, Option<Slot<K>>) {
        self.next_seq += 1;
        let slot = Slot::Decoded {
            obj,
            seq: self.next_seq,
        };
        let (id, replaced) = match self.id_of(parts) {
            Some(id) => {
                let place = self.places[id as usize].as_mut().expect("a held place");
                let old = std::mem::replace(&mut place.slot, slot);
                self.forget(&old);
                (id, Some(old))
            }
            None => {
                let key = new_key();
                let place = Some(Place {
                    key: key.clone(),
                    slot,
                });
                let id = match self.free.pop() {
                    Some(id) => {
                        self.places[id as usize] = place;
                        id
                    }
                    None => {
                        self.places.push(place);
                        Id::try_from(self.places.len() - 1).expect("under 4 billion objects")
                    }
                };
                self.ids.insert(key, id);
                (id, None)
            }
        };
        if self.tracks_recency() {
            self.recent.insert(self.next_seq, id);
        }
        (id, replaced)
    }

    /// Removes the object with `key`; its place is free for another.
    pub(super) fn remove(&mut self, key: &ObjectKey) -> Option<(Id, Place<K>)> {
        let id = self.ids.remove(key)?;
        let place = self.places[id as usize].take().expect("a held place");
        self.forget(&place.slot);
        self.free.push(id);
        Some((id, place))
    }

    fn forget(&mut self, slot: &Slot<K>) {
        if let Slot::Decoded { seq, .. } = slot {
            self.recent.remove(seq);
        }
    }

    /// Whether objects may be packed, so the order of the decoded ones is kept.
    fn tracks_recency(&self) -> bool {
        self.limit != usize::MAX
    }

    /// Keeps at most `limit` objects decoded from now on (at least one; `usize::MAX`:
    /// all of them).
    pub(super) fn set_limit(&mut self, limit: usize) {
        let tracked = self.tracks_recency();
        self.limit = limit.max(1);
        if !self.tracks_recency() {
            self.recent.clear();
        } else if !tracked {
            // Every decoded slot kept the `seq` of its write: the order is rebuilt
            // exactly.
            let order = self.places.iter().enumerate().filter_map(|(id, place)| {
                match place.as_ref()?.slot {
                    Slot::Decoded { seq, .. } => Some((seq, Id::try_from(id).ok()?)),
                    Slot::Packed(_) => None,
                }
            });
            self.recent = order.collect();
        }
    }

    /// Takes the oldest decoded objects beyond the limit off the recency order, to be
    /// packed; their places stay decoded until [`settle`](Self::settle).
    pub(super) fn over_limit(&mut self) -> Vec<Settling<K>> {
        let mut out = Vec::new();
        while self.recent.len() > self.limit {
            let Some((seq, id)) = self.recent.pop_first() else {
                break;
            };
            if let Slot::Decoded { obj, .. } = &self.at(id).slot {
                out.push(Settling {
                    id,
                    seq,
                    obj: obj.clone(),
                });
            }
        }
        out
    }

    /// Swaps in the packed form of an object taken by [`over_limit`](Self::over_limit),
    /// unless it has been replaced or removed since.
    pub(super) fn settle(&mut self, id: Id, seq: u64, packed: Packed) {
        // Normally already off the order; but a limit set meanwhile (from another
        // thread) rebuilds the order from the decoded places, this one included.
        self.recent.remove(&seq);
        if let Some(Some(place)) = self.places.get_mut(id as usize)
            && matches!(place.slot, Slot::Decoded { seq: s, .. } if s == seq)
        {
            place.slot = Slot::Packed(packed);
        }
    }

    /// How many objects are held decoded, checking the bookkeeping on the way.
    #[cfg(test)]
    pub(super) fn check(&self) -> usize {
        let decoded = self
            .iter()
            .filter(|(_, p)| matches!(p.slot, Slot::Decoded { .. }))
            .count();
        if self.tracks_recency() {
            assert_eq!(
                decoded,
                self.recent.len(),
                "one recency entry per decoded place"
            );
        } else {
            assert!(self.recent.is_empty(), "no order kept without a limit");
        }
        for (seq, &id) in &self.recent {
            assert!(matches!(self.at(id).slot, Slot::Decoded { seq: s, .. } if s == *seq));
        }
        for (key, &id) in self.ids.iter() {
            assert_eq!(&self.at(id).key, key);
        }
        let held = self.places.iter().filter(|p| p.is_some()).count();
        assert_eq!(held, self.ids.len());
        assert_eq!(held + self.free.len(), self.places.len());
        assert!(decoded <= self.limit);
        decoded
    }
}

#[cfg(test)]
const _: () = assert!(size_of::<Slot<orchestra_core::kinds::Pod>>() <= 24);

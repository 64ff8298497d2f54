//! The versions one key has in the multi-version index ([`super::mvcc`]), kept as small
//! as the common case allows.
//!
//! Between writes, and once compaction has passed a key's last write, a key has
//! exactly one version; with history bounded that is most keys most of the time. So a
//! [`Versions`] holds a single version inline, in the ordered map's own node, and only a
//! key written again within the history window spills into a `Vec`. A tombstone is
//! marked by version 0 (a live key's version starts at 1) rather than by an
//! `Option` around the value, which leaves the value's niche free for the list's own
//! tag: the list costs the map no more than one version.
//!
//! A packed value is owned outright ([`StoredValue::Packed`], 16 bytes) rather than
//! held by a shared `Bytes` handle (32 bytes, plus a 24-byte share once anything clones
//! it): a reader copies its few hundred bytes out under the lock instead of sharing
//! them, about what the share's atomic count cost, and every version is 16 bytes
//! smaller.

use std::num::NonZeroU64;

use bytes::Bytes;
use orchestra_core::Revision;

/// A value as the index keeps it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StoredValue {
    /// Packed ([`super::packing`]): owned, and copied out by readers.
    Packed(Box<[u8]>),
    /// As written, when compression is off: shared with the writer and readers, so
    /// large values are never copied; boxed, so a version stays as small as a packed
    /// one.
    Shared(Box<Bytes>),
}

impl StoredValue {
    /// The value as a `Bytes` a reader can take out of the lock (packed still, if it
    /// is packed).
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            StoredValue::Packed(packed) => Bytes::copy_from_slice(packed),
            StoredValue::Shared(value) => Bytes::clone(value),
        }
    }
}

/// One write to a key: a value, or a tombstone for a deletion.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Version {
    /// Never 0 (revisions start at 1), which is the niche [`Versions`] keeps its tag in.
    revision: NonZeroU64,
    pub(super) create_revision: Revision,
    /// 0 marks a deletion.
    version: u64,
    /// Empty for a deletion.
    value: StoredValue,
}

impl Version {
    /// A value written at `revision`, the key's `version`th since `create_revision`.
    pub(super) fn value(
        revision: Revision,
        create_revision: Revision,
        version: u64,
        value: StoredValue,
    ) -> Self {
        debug_assert!(version > 0, "version 0 marks a deletion");
        Version {
            revision: first_revision_is_1(revision),
            create_revision,
            version,
            value,
        }
    }

    /// A deletion at `revision`.
    pub(super) fn tombstone(revision: Revision) -> Self {
        Version {
            revision: first_revision_is_1(revision),
            create_revision: 0,
            version: 0,
            // An empty box allocates nothing.
            value: StoredValue::Packed(Box::default()),
        }
    }

    /// The revision of the write.
    pub(super) fn revision(&self) -> Revision {
        self.revision.get()
    }

    /// The value and the key's version number, or `None` for a deletion.
    pub(super) fn live(&self) -> Option<(&StoredValue, u64)> {
        (self.version > 0).then_some((&self.value, self.version))
    }
}

fn first_revision_is_1(revision: Revision) -> NonZeroU64 {
    NonZeroU64::new(revision).expect("revisions start at 1")
}

/// A key's versions in ascending revision order: one inline, more in a `Vec`.
///
/// Never empty while in the index: [`Versions::drop_oldest`] reports when the last
/// version goes, and the index then removes the key.
#[derive(Clone, Debug)]
pub(super) enum Versions {
    One(Version),
    /// More than one version; empty only on its way out of the index.
    Many(Vec<Version>),
}

/// Lists up to this long are kept at their exact length: a pod written three times
/// within the history window (created, bound, running) holds three versions, not room
/// for four. Longer lists grow and shrink by halves, so a key written often stays
/// cheap to write.
const EXACT: usize = 4;

// The point of the type: a key with one version costs one version, no more.
const _: () = assert!(size_of::<Versions>() == size_of::<Version>());
// Three revisions and a 16-byte value: a version is 40 bytes where pointers are 8.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Version>() == 40);

impl Versions {
    /// The versions, oldest first.
    pub(super) fn as_slice(&self) -> &[Version] {
        match self {
            Versions::One(version) => std::slice::from_ref(version),
            Versions::Many(versions) => versions,
        }
    }

    /// The newest version.
    pub(super) fn last(&self) -> Option<&Version> {
        self.as_slice().last()
    }

    /// Appends a version newer than all the others.
    pub(super) fn push(&mut self, version: Version) {
        debug_assert!(
            self.last()
                .is_none_or(|last| last.revision() < version.revision())
        );
        match self {
            Versions::Many(versions) => {
                if versions.len() < EXACT {
                    versions.reserve_exact(1);
                }
                versions.push(version);
            }
            Versions::One(_) => {
                let Versions::One(first) = std::mem::replace(self, Versions::Many(Vec::new()))
                else {
                    unreachable!("matched above")
                };
                // Exactly two: most keys written twice within the window stop there
                // (a pod is created, bound, then gets its status).
                *self = Versions::Many(vec![first, version]);
            }
        }
    }

    /// Drops the `n` oldest versions (all of them if there are fewer).
    pub(super) fn drop_oldest(&mut self, n: usize) {
        match self {
            Versions::One(_) if n > 0 => *self = Versions::Many(Vec::new()),
            Versions::One(_) => {}
            Versions::Many(versions) => {
                versions.drain(..n.min(versions.len()));
                if versions.len() == 1 {
                    *self = Versions::One(versions.pop().expect("one version"));
                } else if versions.len() <= EXACT || versions.capacity() > 2 * versions.len() {
                    versions.shrink_to_fit();
                }
            }
        }
    }

    /// Whether no version is left.
    pub(super) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// How many versions there are.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Put(u8),
        Delete,
        DropOldest(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u8>().prop_map(Op::Put),
            1 => Just(Op::Delete),
            2 => (0..5usize).prop_map(Op::DropOldest),
        ]
    }

    fn packed(value: &[u8]) -> StoredValue {
        StoredValue::Packed(value.into())
    }

    #[test]
    fn a_tombstone_is_not_live_and_a_value_is() {
        assert_eq!(Version::tombstone(3).live(), None);
        let value = Version::value(4, 2, 2, packed(b"v"));
        assert_eq!(value.live(), Some((&packed(b"v"), 2)));
        assert_eq!(value.live().unwrap().0.to_bytes(), &b"v"[..]);
        let shared = StoredValue::Shared(Box::new(Bytes::from_static(b"w")));
        assert_eq!(shared.to_bytes(), &b"w"[..]);
    }

    proptest! {
        /// The list behaves exactly like the `Vec` it stands for, and keeps a single
        /// version inline.
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec(op(), 1..40)) {
            let mut revision = 1;
            let first = Version::value(revision, 1, 1, packed(b""));
            let mut versions = Versions::One(first.clone());
            let mut model = vec![first];
            for op in ops {
                match op {
                    // Out of the index once empty.
                    Op::Put(_) | Op::Delete if versions.is_empty() => continue,
                    Op::Put(v) => {
                        revision += 1;
                        let version = Version::value(revision, 1, revision, packed(&[v]));
                        versions.push(version.clone());
                        model.push(version);
                    }
                    Op::Delete => {
                        revision += 1;
                        versions.push(Version::tombstone(revision));
                        model.push(Version::tombstone(revision));
                    }
                    Op::DropOldest(n) => {
                        versions.drop_oldest(n);
                        model.drain(..n.min(model.len()));
                    }
                }
                prop_assert_eq!(versions.as_slice(), &model[..]);
                prop_assert_eq!(versions.len(), model.len());
                prop_assert_eq!(versions.is_empty(), model.is_empty());
                prop_assert_eq!(versions.last(), model.last());
                prop_assert_eq!(model.len() == 1, matches!(versions, Versions::One(_)));
                if let Versions::Many(many) = &versions {
                    if many.len() <= EXACT {
                        prop_assert_eq!(many.capacity(), many.len());
                    } else {
                        prop_assert!(many.capacity() <= 2 * many.len());
                    }
                }
            }
        }
    }
}

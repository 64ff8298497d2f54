//! How a [`Cache`](super::Cache) keeps the objects that have not changed for a while:
//! as their JSON, LZ4-compressed against a dictionary that is itself an object of the
//! same kind.
//!
//! A decoded running pod takes about 2.3 KB of heap, spread over forty allocations;
//! its JSON is 1.6 KB and, against a neighbour's JSON, compresses to a tenth of that,
//! because the pods of one kind differ in a name, a uid, an IP and a few timestamps.
//! So an informer over 100,000 pods holds the recently changed ones decoded (those
//! that controllers and handlers are working on) and the rest packed, and decodes a
//! packed one again when it is read.
//!
//! The dictionary is the first object packed. When objects drift away from it (one
//! compresses to more than a quarter of its size: a kind whose objects grew a status
//! since) a later object becomes the dictionary for the ones after it, at most once
//! per [`REFRESH_EVERY`] objects. Each packed object holds its dictionary, so an old
//! one is freed with the last object packed against it.
//!
//! The kind may be a user's, with its own `Serialize` and `Deserialize`, so an object
//! is packed only once its JSON has been seen to decode again: one that does not
//! encode, or whose JSON its own `Deserialize` refuses, is not packed (the cache keeps
//! it decoded), and reading a packed object back cannot fail.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Objects smaller than this are kept as JSON: a dictionary would not pay.
const MIN_DICTIONARY_SIZE: usize = 64;
/// The largest object that can become a dictionary (LZ4 looks back 64 KiB at most).
const MAX_DICTIONARY_SIZE: usize = 16 * 1024;
/// An object compressed to more than `1/DRIFT` of its size has drifted from the
/// dictionary.
const DRIFT: usize = 4;
/// A packer changes its dictionary at most once per this many objects, so objects
/// that never compress well do not each become one.
const REFRESH_EVERY: u32 = 256;

/// A dictionary, behind one thin pointer: a packed object holds it, so it is freed
/// with the last object packed against it.
type Dictionary = Arc<Box<[u8]>>;

/// How many bytes before the block hold the JSON's length.
const LEN: usize = 4;

/// One object, packed: two pointers, so a cache's slot for it stays small.
#[derive(Clone)]
pub(crate) struct Packed {
    /// The JSON's length (little-endian `u32`), then an LZ4 block of the JSON against
    /// `dictionary`, or the JSON itself when there is none.
    block: Arc<[u8]>,
    dictionary: Option<Dictionary>,
}

impl Packed {
    /// The object again.
    ///
    /// # Panics
    /// Only on a broken invariant: [`Packer::pack`] decoded this very JSON as a `K`
    /// before it packed it.
    pub(crate) fn unpack<K: DeserializeOwned>(&self) -> K {
        let (len, body) = self.block.split_at(LEN);
        let decoded = match &self.dictionary {
            None => serde_json::from_slice(body),
            Some(dictionary) => {
                let len = u32::from_le_bytes(len.try_into().expect("four bytes"));
                let mut json = vec![0; len as usize];
                let n = lz4_flex::block::decompress_into_with_dict(body, &mut json, dictionary)
                    .expect("the cache's own LZ4 block unpacks");
                json.truncate(n);
                serde_json::from_slice(&json)
            }
        };
        decoded.expect("the packer decoded this JSON as a K before packing it")
    }

    /// Whether `other` is this very packed object (not merely an equal one).
    pub(crate) fn same(&self, other: &Packed) -> bool {
        Arc::ptr_eq(&self.block, &other.block)
    }

    /// The heap this packed object holds on its own (not its shared dictionary).
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.block.len()
    }
}

/// Packs objects, choosing and refreshing the dictionary.
#[derive(Default)]
pub(crate) struct Packer {
    dictionary: Option<Dictionary>,
    /// Objects packed since the dictionary last changed.
    since_refresh: u32,
    /// Reused for every object's JSON and block.
    json: Vec<u8>,
    block: Vec<u8>,
}

impl Packer {
    /// `obj`, packed; or why it cannot be: its `Serialize` failed, or its JSON does not
    /// decode as a `K` again (a kind whose `Serialize` and `Deserialize` disagree), so
    /// it could not be unpacked. The check costs a decode per object packed, which
    /// happens once per object settling, against one on every read of it.
    pub(crate) fn pack<K: Serialize + DeserializeOwned>(
        &mut self,
        obj: &K,
    ) -> Result<Packed, serde_json::Error> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, obj)?;
        serde_json::from_slice::<K>(&self.json)?;
        Ok(self.pack_json())
    }

    /// The JSON in `self.json`, packed.
    fn pack_json(&mut self) -> Packed {
        self.since_refresh = self.since_refresh.saturating_add(1);
        let len = u32::try_from(self.json.len()).expect("an object under 4 GiB");
        if self.json.len() < MIN_DICTIONARY_SIZE {
            return self.as_json();
        }
        if self.dictionary.is_none() {
            self.adopt_dictionary();
        }
        let Some(dictionary) = self.dictionary.clone() else {
            return self.as_json();
        };
        self.block.resize(
            LEN + lz4_flex::block::get_maximum_output_size(self.json.len()),
            0,
        );
        self.block[..LEN].copy_from_slice(&len.to_le_bytes());
        let n = lz4_flex::block::compress_into_with_dict(
            &self.json,
            &mut self.block[LEN..],
            &dictionary,
        )
        .expect("the block is sized for the worst case");
        if n * DRIFT > self.json.len() && self.since_refresh >= REFRESH_EVERY {
            // Packed against itself, the next objects like it compress well again.
            self.adopt_dictionary();
        }
        if n >= self.json.len() {
            return self.as_json();
        }
        Packed {
            block: self.block[..LEN + n].into(),
            dictionary: Some(dictionary),
        }
    }

    /// The JSON in hand as it is.
    fn as_json(&mut self) -> Packed {
        self.block.clear();
        self.block.extend_from_slice(&[0; LEN]);
        self.block.extend_from_slice(&self.json);
        Packed {
            block: self.block.as_slice().into(),
            dictionary: None,
        }
    }

    /// Makes the JSON in hand the dictionary for the objects that follow.
    fn adopt_dictionary(&mut self) {
        if self.json.len() <= MAX_DICTIONARY_SIZE {
            self.dictionary = Some(Arc::new(self.json.as_slice().into()));
            self.since_refresh = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::ObjectMeta;
    use orchestra_core::kinds::{Container, Pod, PodSpec};

    use super::*;

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta::namespaced("default", name),
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "web-server:1".into(),
                    ..Default::default()
                }],
                node_name: Some("node-00001".into()),
                ..Default::default()
            },
            status: None,
        }
    }

    #[test]
    fn objects_unpack_to_what_was_packed() {
        let mut packer = Packer::default();
        for i in 0..10 {
            let p = pod(&format!("web-{i}"));
            assert_eq!(packer.pack(&p).unwrap().unpack::<Pod>(), p);
        }
    }

    #[test]
    fn objects_like_the_dictionary_pack_small() {
        let mut packer = Packer::default();
        let first = packer.pack(&pod("web-first")).unwrap();
        let json = serde_json::to_vec(&pod("web-second")).unwrap().len();
        let second = packer.pack(&pod("web-second")).unwrap();
        let own = serde_json::to_vec(&pod("web-first")).unwrap().len();
        assert_eq!(
            first.dictionary.as_ref().map(|d| d.len()),
            Some(own),
            "the first object is the dictionary"
        );
        assert!(
            second.size() * 4 < json,
            "{} packed bytes of {json}",
            second.size()
        );
    }

    #[test]
    fn small_objects_stay_json() {
        let mut packer = Packer::default();
        let tiny = Pod::default();
        let packed = packer.pack(&tiny).unwrap();
        assert!(packed.dictionary.is_none());
        assert_eq!(packed.unpack::<Pod>(), tiny);
    }

    #[test]
    fn objects_that_drift_from_the_dictionary_get_a_new_one() {
        let mut packer = Packer::default();
        packer.pack(&pod("web-0")).unwrap();
        let first = packer.dictionary.clone().unwrap();
        // A long value that does not compress on its own, and that the first
        // dictionary knows nothing of.
        let mut seed = 7u64;
        let noise: String = (0..400)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + (seed >> 59) as u8 % 26)
            })
            .collect();
        let mut other = pod("db-0");
        other.metadata.labels.insert("noise".into(), noise);
        let json = serde_json::to_vec(&other).unwrap().len();
        assert!(
            packer.pack(&other).unwrap().size() * DRIFT > json,
            "drifted"
        );
        for _ in 0..REFRESH_EVERY {
            assert_eq!(packer.pack(&other).unwrap().unpack::<Pod>(), other);
        }
        let now = packer.dictionary.clone().unwrap();
        assert!(
            !Arc::ptr_eq(&first, &now),
            "the drifted objects made a new one"
        );
        assert!(
            packer.pack(&other).unwrap().size() * DRIFT < json,
            "and pack small again"
        );
    }
}

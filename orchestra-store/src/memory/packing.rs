//! How `MemoryStore` keeps values: compressed with LZ4 against a dictionary that
//! sibling keys share.
//!
//! The objects of one kind in one namespace (`/registry/pods/default/…`) are nearly
//! the same document: a running pod's 1.6 KB of JSON differs from its neighbour's in a
//! name, a uid, an IP and a few timestamps. Compressed against a neighbour they take a
//! fraction of their size, where compressed alone they keep every field name. So keys
//! are grouped into **families** by their parent path (everything up to the last `/`),
//! and a family's first value of a useful size becomes its dictionary. When the values
//! drift from it (they compress to more than an eighth of their size: a pod that got a
//! status, against a dictionary made of a pod that had none), a later value is added
//! to the end of the dictionary for the values that follow.
//!
//! A packed value names its dictionary by number, so dictionaries are never freed;
//! their number and size are capped, so this costs at most [`MAX_DICTIONARIES`] ×
//! [`MAX_DICTIONARY_SIZE`]. Values that do not shrink are kept as they are, behind a
//! one-byte tag.
//!
//! Packing happens under the store's write lock (it updates the families); unpacking
//! needs only the dictionaries, which watchers read without the store's lock.

use std::collections::HashMap;

use bytes::Bytes;
use orchestra_core::{KeyValue, WatchEvent};
use parking_lot::RwLock;

/// Values smaller than this are not worth a dictionary.
const MIN_DICTIONARY_SIZE: usize = 64;
/// The largest value that can become a dictionary (LZ4 looks back 64 KiB at most).
pub(crate) const MAX_DICTIONARY_SIZE: usize = 16 * 1024;
/// The most dictionaries one store makes; later families keep their values unpacked.
pub(crate) const MAX_DICTIONARIES: usize = 1024;
/// A family extends a dictionary its values have drifted from at most once per this
/// many writes…
const REFRESH_EVERY: u32 = 100;
/// …and makes at most this many dictionaries, so values that never compress well
/// (already compressed, say) do not use up the store's dictionaries.
const MAX_CHOICES_PER_FAMILY: u32 = 8;
/// A value compressed to more than `1/DRIFT` of its size has drifted from the dictionary.
const DRIFT: usize = 8;
/// The most families a store follows. Key layouts with a parent per key (and keys
/// written once and deleted) would otherwise grow the map for ever; values of parents
/// beyond the cap are kept as they are.
const MAX_FAMILIES: usize = 4096;

/// The tag of a value kept as it is. Any other first byte starts an LZ4 block's
/// header: the dictionary's number plus one, then the unpacked length, both as LEB128
/// varints (four bytes for a pod rather than nine as fixed-width words), then the block.
const TAG_RAW: u8 = 0;
/// The longest header of an LZ4 block: two varints of a `u32`.
const MAX_LZ4_HEADER: usize = 10;

/// The dictionaries, shared by the store and its watch streams.
#[derive(Default)]
pub(crate) struct Dictionaries(RwLock<Vec<Bytes>>);

impl Dictionaries {
    fn get(&self, id: u32) -> Bytes {
        self.0.read()[id as usize].clone()
    }

    fn add(&self, dictionary: Bytes) -> Option<u32> {
        let mut all = self.0.write();
        if all.len() >= MAX_DICTIONARIES {
            return None;
        }
        all.push(dictionary);
        Some(u32::try_from(all.len() - 1).expect("at most MAX_DICTIONARIES"))
    }

    /// The original of a value packed by a [`Packer`] over these dictionaries.
    pub(crate) fn unpack(&self, stored: &Bytes) -> Bytes {
        match stored.first() {
            Some(&TAG_RAW) => stored.slice(1..),
            Some(_) => {
                let (id, at) = read_varint(stored);
                let (len, header) = read_varint(&stored[at..]);
                let dictionary = self.get(id - 1);
                let mut out = vec![0; len as usize];
                let n = lz4_flex::block::decompress_into_with_dict(
                    &stored[at + header..],
                    &mut out,
                    &dictionary,
                )
                .expect("a block this store packed");
                debug_assert_eq!(n, out.len());
                Bytes::from(out)
            }
            None => unreachable!("a value this store packed starts with its tag"),
        }
    }

    /// `kv` with its value unpacked.
    pub(crate) fn unpack_kv(&self, mut kv: KeyValue) -> KeyValue {
        kv.value = self.unpack(&kv.value);
        kv
    }

    /// `event` with its value unpacked.
    pub(crate) fn unpack_event(&self, event: WatchEvent) -> WatchEvent {
        match event {
            WatchEvent::Put { kv } => WatchEvent::Put {
                kv: self.unpack_kv(kv),
            },
            WatchEvent::Delete { prev, revision } => WatchEvent::Delete {
                prev: self.unpack_kv(prev),
                revision,
            },
        }
    }
}

/// One family's dictionary, and how long since it was last chosen.
#[derive(Default)]
struct Family {
    dictionary: Option<(u32, Bytes)>,
    writes_since_choice: u32,
    choices: u32,
}

/// Packs values on their way into the store.
#[derive(Default)]
pub(crate) struct Packer {
    families: HashMap<Bytes, Family, foldhash::fast::RandomState>,
    /// Where values are compressed before they are copied out at their packed size.
    scratch: Vec<u8>,
}

impl Packer {
    /// `value`, packed for `key`.
    pub(crate) fn pack(
        &mut self,
        dictionaries: &Dictionaries,
        key: &[u8],
        value: &[u8],
    ) -> Box<[u8]> {
        let parent = &key[..key.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)];
        let full = self.families.len() >= MAX_FAMILIES;
        let family = match self.families.get_mut(parent) {
            Some(family) => family,
            None if full => return raw(value),
            None => self
                .families
                .entry(Bytes::copy_from_slice(parent))
                .or_default(),
        };
        family.writes_since_choice = family.writes_since_choice.saturating_add(1);
        let usable = (MIN_DICTIONARY_SIZE..=MAX_DICTIONARY_SIZE).contains(&value.len());
        if family.dictionary.is_none() && usable {
            adopt(family, dictionaries, value);
        }
        let packed = family
            .dictionary
            .as_ref()
            .and_then(|(id, dictionary)| compress(&mut self.scratch, *id, dictionary, value));
        // Drifted from the dictionary: the next values compress against this one too.
        let drifted = packed
            .as_ref()
            .is_none_or(|p| p.len() * DRIFT > value.len());
        if drifted
            && usable
            && family.writes_since_choice >= REFRESH_EVERY
            && family.choices < MAX_CHOICES_PER_FAMILY
        {
            adopt(family, dictionaries, value);
        }
        packed.unwrap_or_else(|| raw(value))
    }
}

/// `value` kept as it is, behind its tag.
fn raw(value: &[u8]) -> Box<[u8]> {
    let mut raw = Vec::with_capacity(value.len() + 1);
    raw.push(TAG_RAW);
    raw.extend_from_slice(value);
    raw.into_boxed_slice()
}

/// Makes the family's dictionary `value`, after as much of the newest end of the
/// family's dictionary as fits, if the store may make another.
///
/// The newest value goes last because LZ4 remembers one position per hash of four
/// bytes, the last one it saw in the dictionary: what both the old and the new value
/// contain is then matched in the new one, which shares the most with what follows (a
/// running pod packs to about a fifth less than against the same values in the other
/// order).
fn adopt(family: &mut Family, dictionaries: &Dictionaries, value: &[u8]) {
    let mut dictionary = Vec::with_capacity(MAX_DICTIONARY_SIZE);
    if let Some((_, old)) = &family.dictionary {
        let room = MAX_DICTIONARY_SIZE - value.len();
        dictionary.extend_from_slice(&old[old.len().saturating_sub(room)..]);
    }
    dictionary.extend_from_slice(value);
    let dictionary = Bytes::from(dictionary.into_boxed_slice());
    if let Some(id) = dictionaries.add(dictionary.clone()) {
        family.dictionary = Some((id, dictionary));
        family.writes_since_choice = 0;
        family.choices += 1;
    }
}

/// `value` as an LZ4 block against `dictionary`, if that is smaller than keeping it.
/// Compresses into `scratch` (kept between writes, so a write allocates only the packed
/// value itself).
fn compress(scratch: &mut Vec<u8>, id: u32, dictionary: &[u8], value: &[u8]) -> Option<Box<[u8]>> {
    let len = u32::try_from(value.len()).ok()?;
    scratch.resize(lz4_flex::block::get_maximum_output_size(value.len()), 0);
    let n = lz4_flex::block::compress_into_with_dict(value, scratch, dictionary).ok()?;
    // Kept as it is, a value costs its length and a tag.
    let mut header = [0; MAX_LZ4_HEADER];
    let at = write_varint(&mut header, id + 1);
    let header_len = at + write_varint(&mut header[at..], len);
    if header_len + n > value.len() {
        return None;
    }
    // Sized exactly, so `into_boxed_slice` does not reallocate.
    let mut out = Vec::with_capacity(header_len + n);
    out.extend_from_slice(&header[..header_len]);
    out.extend_from_slice(&scratch[..n]);
    Some(out.into_boxed_slice())
}

/// Writes `value` as a LEB128 varint at the start of `out`; returns its length.
fn write_varint(out: &mut [u8], mut value: u32) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

/// The LEB128 varint at the start of `bytes`, and its length.
fn read_varint(bytes: &[u8]) -> (u32, usize) {
    let mut value = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return (value, i + 1);
        }
    }
    unreachable!("a varint this store wrote ends")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unpack(dictionaries: &Dictionaries, packed: &[u8]) -> Bytes {
        dictionaries.unpack(&Bytes::copy_from_slice(packed))
    }

    fn pod(name: &str, ip: &str) -> Vec<u8> {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"default","labels":{{"app":"web"}}}},"spec":{{"containers":[{{"name":"web","image":"web-server:1"}}]}},"status":{{"phase":"Running","podIP":"{ip}"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn siblings_compress_against_the_first_and_unpack_exactly() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let first = pod("web-1", "10.0.0.1");
        let packed_first = packer.pack(&dictionaries, b"/registry/pods/default/web-1", &first);
        let second = pod("web-2", "10.0.0.2");
        let packed = packer.pack(&dictionaries, b"/registry/pods/default/web-2", &second);
        assert_eq!(unpack(&dictionaries, &packed_first), first);
        assert_eq!(unpack(&dictionaries, &packed), second);
        assert!(
            packed.len() * 5 < second.len(),
            "{} of {} bytes",
            packed.len(),
            second.len()
        );
        assert_eq!(dictionaries.0.read().len(), 1, "one family, one dictionary");
    }

    #[test]
    fn small_and_incompressible_values_are_kept_as_they_are() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let packed = packer.pack(&dictionaries, b"k", b"tiny");
        assert_eq!(&packed[..], b"\0tiny");
        assert_eq!(unpack(&dictionaries, &packed), &b"tiny"[..]);
        assert_eq!(
            unpack(&dictionaries, &packer.pack(&dictionaries, b"k", b"")),
            &b""[..]
        );
        assert!(dictionaries.0.read().is_empty());
    }

    #[test]
    fn a_family_that_drifts_gets_a_new_dictionary_and_old_values_still_unpack() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let old = packer.pack(&dictionaries, b"/f/a", &[b'x'; 200]);
        let mut drifted: Vec<Box<[u8]>> = Vec::new();
        for i in 0..=REFRESH_EVERY {
            let value: Vec<u8> = (0..200u32).map(|b| (b * 7 + i) as u8).collect();
            drifted.push(packer.pack(&dictionaries, b"/f/b", &value));
        }
        assert_eq!(dictionaries.0.read().len(), 2, "extended once");
        assert_eq!(unpack(&dictionaries, &old), &[b'x'; 200][..]);
        let last: Vec<u8> = (0..200u32).map(|b| (b * 7 + REFRESH_EVERY) as u8).collect();
        assert_eq!(unpack(&dictionaries, drifted.last().unwrap()), last);
    }

    #[test]
    fn values_that_never_compress_make_few_dictionaries() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let mut x = 1u64;
        for _ in 0..(MAX_CHOICES_PER_FAMILY + 4) * REFRESH_EVERY {
            let noise: Vec<u8> = (0..300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let packed = packer.pack(&dictionaries, b"/noise/k", &noise);
            assert_eq!(unpack(&dictionaries, &packed), noise);
        }
        assert_eq!(dictionaries.0.read().len(), MAX_CHOICES_PER_FAMILY as usize);
    }

    #[test]
    fn a_drifted_dictionary_keeps_what_the_older_values_matched() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let created = pod("web-0", "");
        packer.pack(&dictionaries, b"/pods/web-0", &created);
        let running = |i: usize| {
            let mut v = pod(&format!("web-{i}"), &format!("10.0.0.{i}"));
            v.extend_from_slice(br#"{"conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}]}"#);
            v
        };
        for i in 1..=REFRESH_EVERY as usize {
            packer.pack(&dictionaries, b"/pods/web-x", &running(i));
        }
        assert_eq!(dictionaries.0.read().len(), 2);
        let both = [
            (
                pod("web-1", ""),
                packer.pack(&dictionaries, b"/pods/web-1", &pod("web-1", "")),
            ),
            (
                running(500),
                packer.pack(&dictionaries, b"/pods/web-2", &running(500)),
            ),
        ];
        for (value, packed) in both {
            assert!(
                packed.len() * DRIFT < value.len(),
                "{} of {}",
                packed.len(),
                value.len()
            );
            assert_eq!(unpack(&dictionaries, &packed), value);
        }
    }

    /// Packs one pod under each of `parents` parent paths, checking each unpacks to
    /// itself; returns the packed values.
    fn one_value_per_parent(
        packer: &mut Packer,
        dictionaries: &Dictionaries,
        parents: usize,
    ) -> Vec<Box<[u8]>> {
        (0..parents)
            .map(|i| {
                let value = pod(&format!("p{i}"), "10.0.0.1");
                let packed =
                    packer.pack(dictionaries, format!("/parent-{i}/key").as_bytes(), &value);
                assert_eq!(unpack(dictionaries, &packed), value);
                packed
            })
            .collect()
    }

    #[test]
    fn the_number_of_families_is_capped() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        let packed = one_value_per_parent(&mut packer, &dictionaries, MAX_FAMILIES + 10);
        assert!(
            packed[MAX_FAMILIES..].iter().all(|p| p[0] == TAG_RAW),
            "parents beyond the cap are kept as they are"
        );
        assert_eq!(packer.families.len(), MAX_FAMILIES);
    }

    #[test]
    fn the_number_of_dictionaries_is_capped() {
        let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
        one_value_per_parent(&mut packer, &dictionaries, MAX_DICTIONARIES + 10);
        assert_eq!(dictionaries.0.read().len(), MAX_DICTIONARIES);
    }

    proptest! {
        #[test]
        fn varints_read_back(value in any::<u32>(), tail in any::<u8>()) {
            let mut out = [tail; MAX_LZ4_HEADER];
            let len = write_varint(&mut out, value);
            prop_assert!(len <= MAX_LZ4_HEADER / 2);
            prop_assert_eq!(read_varint(&out), (value, len));
            prop_assert_eq!(value == 0, out[0] == TAG_RAW);
        }

        #[test]
        fn whatever_is_packed_unpacks_to_itself(
            writes in proptest::collection::vec(
                (0..4usize, proptest::collection::vec(any::<u8>(), 0..400)), 1..40),
        ) {
            let (mut packer, dictionaries) = (Packer::default(), Dictionaries::default());
            let keys = [&b"/a/x"[..], b"/a/y", b"/b/x", b"plain"];
            let mut base = pod("base", "10.0.0.1");
            for (k, noise) in writes {
                // Values close to each other and values of pure noise.
                base.extend_from_slice(&noise[..noise.len().min(8)]);
                for value in [&base[..], &noise[..]] {
                    let packed = packer.pack(&dictionaries, keys[k], value);
                    prop_assert_eq!(&unpack(&dictionaries, &packed)[..], value);
                }
            }
        }
    }
}

//! Generated identities: uids (RFC 4122 version 4) and `generateName` suffixes, from
//! one generator a seed can fix, so a simulated cluster repeats exactly.

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The registry's generator of uids and name suffixes.
pub(crate) struct Ids(Mutex<SmallRng>);

impl Ids {
    /// Seeded with `seed`, or from the OS.
    pub(crate) fn new(seed: Option<u64>) -> Ids {
        Ids(Mutex::new(match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        }))
    }

    /// A fresh RFC 4122 version-4 uid.
    pub(crate) fn uid(&self) -> String {
        let bits: u128 = self.0.lock().random();
        let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// A random suffix for `generateName`: five characters from Kubernetes' alphabet
    /// (no vowels, so no words; no look-alike characters).
    pub(crate) fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = self.0.lock();
        (0..5)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_and_look_like_uuids() {
        let (a, b) = (Ids::new(Some(7)), Ids::new(Some(7)));
        let uid = a.uid();
        assert_eq!(uid, b.uid());
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4", "version nibble in {uid}");
        assert!(
            matches!(&uid[19..20], "8" | "9" | "a" | "b"),
            "variant in {uid}"
        );
        assert_eq!(a.name_suffix(), b.name_suffix());
    }
}

//! The strings a pod record keeps, held inline where they are short: a pod's uid (a
//! UUID, 16 bytes) and a container's name (a DNS label, nearly always under 23
//! bytes). An agent keeps one of each per pod it runs, so neither costs an allocation
//! of its own in the common case.

/// A pod's uid, held without an allocation when it is a canonical (lowercase) UUID,
/// as every uid the API assigns is; any other uid is kept as it is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PodUid {
    Uuid([u8; 16]),
    Other(Box<str>),
}

impl PodUid {
    pub(super) fn new(uid: &str) -> PodUid {
        parse_uuid(uid).map_or_else(|| PodUid::Other(uid.into()), PodUid::Uuid)
    }

    /// Whether it is `uid`. Exact: only the canonical form parses, so two uids that
    /// differ in text never compare equal.
    pub(super) fn is(&self, uid: &str) -> bool {
        match self {
            PodUid::Uuid(bytes) => parse_uuid(uid) == Some(*bytes),
            PodUid::Other(other) => **other == *uid,
        }
    }
}

/// The 16 bytes of a UUID in canonical form (`8-4-4-4-12` lowercase hex digits).
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = text.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; 16];
    let mut nibbles = 0;
    for (i, &c) in text.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        bytes[nibbles / 2] |= digit(c)? << if nibbles % 2 == 0 { 4 } else { 0 };
        nibbles += 1;
    }
    Some(bytes)
}

/// A container's name, inline when it is short (a DNS label of up to 22 bytes, as
/// nearly every container name is): no allocation for a string the pod already has.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum ContainerName {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Heap(Box<str>),
}

/// The longest name held inline: what fits the size of the boxed form.
const INLINE_NAME: usize = 22;

impl ContainerName {
    pub(super) fn new(name: &str) -> ContainerName {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= INLINE_NAME => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                ContainerName::Inline { len, bytes }
            }
            _ => ContainerName::Heap(name.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            ContainerName::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ContainerName::Heap(name) => name.as_bytes(),
        }
    }

    pub(super) fn is(&self, name: &str) -> bool {
        self.as_bytes() == name.as_bytes()
    }
}

impl std::fmt::Debug for ContainerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_are_the_size_of_a_boxed_string_and_a_tag() {
        assert_eq!(size_of::<ContainerName>(), 24);
        assert_eq!(size_of::<PodUid>(), 24);
    }

    #[test]
    fn uids_compare_exactly() {
        let uuid = "0f8b2c1e-93aa-4c1b-8e2d-5b6a7c8d9e0f";
        let record = PodUid::new(uuid);
        assert!(matches!(record, PodUid::Uuid(_)));
        assert!(record.is(uuid));
        assert!(!record.is("0f8b2c1e-93aa-4c1b-8e2d-5b6a7c8d9e00"));
        assert!(!record.is(&uuid.to_uppercase()), "not the same text");
        assert!(!record.is(""));
        for other in [
            "uid-web",
            "",
            &uuid.to_uppercase(),
            "0f8b2c1e-93aa-4c1b-8e2d-5b6a7c8d9e0",
        ] {
            let record = PodUid::new(other);
            assert!(matches!(record, PodUid::Other(_)), "{other}");
            assert!(record.is(other));
            assert!(!record.is(uuid));
        }
    }

    #[test]
    fn names_compare_exactly_inline_or_not() {
        let long = "a-container-name-longer-than-inline";
        for name in ["main", "", "exactly-22-bytes-long!", long] {
            let n = ContainerName::new(name);
            assert!(n.is(name), "{name}");
            assert!(!n.is("other"));
            assert_eq!(format!("{n:?}"), format!("{name:?}"));
        }
        assert!(matches!(ContainerName::new(long), ContainerName::Heap(_)));
        assert!(!ContainerName::new("main").is("mai"));
    }
}

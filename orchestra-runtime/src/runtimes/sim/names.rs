//! The strings a simulated container shares with others: its pod's (uid, name,
//! namespace, IP) with the pod's other containers, and its name and image with every
//! container of the runtime started from the same pair (a node runs many replicas of
//! one spec). A container holds one pointer to each, so its record stays small.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;

use orchestra_core::runtime::RuntimeError;

/// The pod a simulated container belongs to, shared by the pod's containers.
#[derive(Debug)]
pub(super) struct SimPod {
    /// The uid then the name, in one allocation.
    uid_and_name: Box<str>,
    uid_len: u32,
    pub namespace: Arc<str>,
    pub ip: Ipv4Addr,
}

impl SimPod {
    pub fn new(
        uid: &str,
        name: &str,
        namespace: Arc<str>,
        ip: Ipv4Addr,
    ) -> Result<SimPod, RuntimeError> {
        let uid_len = u32::try_from(uid.len())
            .map_err(|_| RuntimeError::InvalidConfig("pod uid too long".to_owned()))?;
        let mut uid_and_name = String::with_capacity(uid.len() + name.len());
        uid_and_name.push_str(uid);
        uid_and_name.push_str(name);
        Ok(SimPod {
            uid_and_name: uid_and_name.into_boxed_str(),
            uid_len,
            namespace,
            ip,
        })
    }

    pub fn uid(&self) -> &str {
        &self.uid_and_name[..self.uid_len as usize]
    }

    pub fn name(&self) -> &str {
        &self.uid_and_name[self.uid_len as usize..]
    }
}

/// A runtime's pods, found by uid: a set slot is a pointer, the pod holds its uid.
/// How many containers a pod has is its `Arc`'s count, less the set's own.
#[derive(Debug)]
pub(super) struct PodByUid(pub Arc<SimPod>);

impl Borrow<str> for PodByUid {
    fn borrow(&self) -> &str {
        self.0.uid()
    }
}

impl Hash for PodByUid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the `str` it borrows as hashes, so lookups by `&str` find it.
        self.0.uid().hash(state);
    }
}

impl PartialEq for PodByUid {
    fn eq(&self, other: &Self) -> bool {
        self.0.uid() == other.0.uid()
    }
}

impl Eq for PodByUid {}

/// A container's name and image, shared by the runtime's containers of the same pair.
#[derive(Debug)]
pub(super) struct SimImage {
    pub name: Box<str>,
    pub image: Box<str>,
}

/// A name and an image, however held: the set of [`SimImage`]s is searched with
/// borrowed strings (`&(name, image) as &dyn NameAndImage`), allocating nothing.
trait NameAndImage {
    fn name(&self) -> &str;
    fn image(&self) -> &str;
}

impl NameAndImage for SimImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn image(&self) -> &str {
        &self.image
    }
}

impl NameAndImage for (&str, &str) {
    fn name(&self) -> &str {
        self.0
    }

    fn image(&self) -> &str {
        self.1
    }
}

impl Hash for dyn NameAndImage + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
        self.image().hash(state);
    }
}

impl PartialEq for dyn NameAndImage + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name() && self.image() == other.image()
    }
}

impl Eq for dyn NameAndImage + '_ {}

/// An entry of [`Images`]: hashed and compared as its name and image.
#[derive(Debug)]
struct Interned(Arc<SimImage>);

impl<'a> Borrow<dyn NameAndImage + 'a> for Interned {
    fn borrow(&self) -> &(dyn NameAndImage + 'a) {
        &*self.0
    }
}

impl Hash for Interned {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&*self.0 as &dyn NameAndImage).hash(state);
    }
}

impl PartialEq for Interned {
    fn eq(&self, other: &Self) -> bool {
        (&*self.0 as &dyn NameAndImage) == (&*other.0 as &dyn NameAndImage)
    }
}

impl Eq for Interned {}

/// One shared [`SimImage`] for each name and image in use.
#[derive(Debug, Default)]
pub(super) struct Images(HashSet<Interned>);

impl Images {
    /// The shared pair of `name` and `image`, made on first use.
    pub fn intern(&mut self, name: &str, image: &str) -> Arc<SimImage> {
        if let Some(shared) = self.0.get(&(name, image) as &dyn NameAndImage) {
            return shared.0.clone();
        }
        let shared = Arc::new(SimImage {
            name: name.into(),
            image: image.into(),
        });
        self.0.insert(Interned(shared.clone()));
        shared
    }

    /// Forgets `image` once nothing but this set and `image` (about to go) holds it.
    pub fn release(&mut self, image: &Arc<SimImage>) {
        if Arc::strong_count(image) <= 2 {
            self.0
                .remove(&(&*image.name, &*image.image) as &dyn NameAndImage);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_holds_its_uid_and_name_in_one_string() {
        let pod = SimPod::new("uid-1", "web-1", "default".into(), Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!((pod.uid(), pod.name()), ("uid-1", "web-1"));
        let pods: HashSet<PodByUid> = [PodByUid(Arc::new(pod))].into();
        assert!(pods.contains("uid-1"));
        assert!(!pods.contains("uid-1web-1"));
    }

    #[test]
    fn equal_pairs_are_shared_until_the_last_goes() {
        let mut images = Images::default();
        let a = images.intern("web", "web:1");
        let b = images.intern("web", "web:1");
        let c = images.intern("web", "web:2");
        let d = images.intern("web:", "1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &d), "the boundary counts");
        assert_eq!(images.len(), 3);
        images.release(&b);
        drop(b);
        assert_eq!(images.len(), 3, "still held");
        images.release(&a);
        drop(a);
        assert_eq!(images.len(), 2);
        assert_eq!(&*images.intern("web", "web:2").image, "web:2");
    }
}

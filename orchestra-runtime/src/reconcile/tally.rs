//! Tallies: running summaries of groups of cached objects, kept up to date by the
//! cache itself as objects come and go.
//!
//! A controller that needs a number about many objects on every sync — how many of a
//! ReplicaSet's 100,000 pods are ready — would otherwise visit all of them each time.
//! A tally folds each change into the summary of the object's group as the cache
//! applies it, under the same lock, so reading it is as current as the cache and costs
//! nothing per object.

use std::any::Any;
use std::collections::HashMap;

/// A summary of one group of objects of kind `K`, folded object by object.
///
/// The cache calls [`Tally::add`] when an object enters the group and
/// [`Tally::remove`] with the same object when it leaves or changes (then `add` with
/// its new state), so `remove` must exactly undo `add`. A group whose tally
/// [`is_empty`](Tally::is_empty) is dropped.
///
/// ```
/// use orchestra_core::kinds::Pod;
/// use orchestra_runtime::reconcile::Tally;
///
/// /// Pods per node.
/// #[derive(Default)]
/// struct PodsOnNode(usize);
///
/// impl Tally<Pod> for PodsOnNode {
///     fn group(pod: &Pod) -> Option<&str> {
///         pod.spec.node_name.as_deref()
///     }
///     fn add(&mut self, _: &Pod) {
///         self.0 += 1;
///     }
///     fn remove(&mut self, _: &Pod) {
///         self.0 -= 1;
///     }
///     fn is_empty(&self) -> bool {
///         self.0 == 0
///     }
/// }
/// ```
pub trait Tally<K>: Default + Send + Sync + 'static {
    /// The group `obj` counts in; `None` leaves it out of every group.
    fn group(obj: &K) -> Option<&str>;
    /// Folds `obj` in.
    fn add(&mut self, obj: &K);
    /// Takes `obj` (as it was when added) out again.
    fn remove(&mut self, obj: &K);
    /// Whether nothing is counted any more.
    fn is_empty(&self) -> bool;
}

/// The tallies of every group for one `Tally` type, behind a type-erased face so one
/// cache can keep several kinds of tally.
pub(crate) trait Tallies<K>: Send + Sync {
    fn add(&mut self, obj: &K);
    fn remove(&mut self, obj: &K);
    fn as_any(&self) -> &dyn Any;
}

/// Every group's tally of type `T`.
pub(crate) struct Groups<T> {
    groups: HashMap<String, T, foldhash::fast::RandomState>,
}

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Groups {
            groups: HashMap::default(),
        }
    }
}

impl<T> Groups<T> {
    /// The tally of `group`, if anything is counted in it.
    pub(crate) fn get(&self, group: &str) -> Option<&T> {
        self.groups.get(group)
    }
}

impl<K, T: Tally<K>> Tallies<K> for Groups<T> {
    fn add(&mut self, obj: &K) {
        if let Some(group) = T::group(obj) {
            match self.groups.get_mut(group) {
                Some(tally) => tally.add(obj),
                None => {
                    let mut tally = T::default();
                    tally.add(obj);
                    self.groups.insert(group.to_owned(), tally);
                }
            }
        }
    }

    fn remove(&mut self, obj: &K) {
        let Some(group) = T::group(obj) else {
            return;
        };
        if let Some(tally) = self.groups.get_mut(group) {
            tally.remove(obj);
            if tally.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use orchestra_core::ObjectMeta;
    use orchestra_core::kinds::Pod;

    use super::*;
    use crate::keys::ObjectKey;
    use crate::reconcile::cache::Cache;

    /// Words by first letter: how many, and their total length.
    #[derive(Default, Debug, PartialEq)]
    struct Letter {
        words: usize,
        chars: usize,
    }

    impl Tally<String> for Letter {
        fn group(word: &String) -> Option<&str> {
            word.get(..1)
        }
        fn add(&mut self, word: &String) {
            self.words += 1;
            self.chars += word.len();
        }
        fn remove(&mut self, word: &String) {
            self.words -= 1;
            self.chars -= word.len();
        }
        fn is_empty(&self) -> bool {
            self.words == 0
        }
    }

    #[test]
    fn groups_are_made_counted_and_dropped() {
        let mut groups = Groups::<Letter>::default();
        let tallies: &mut dyn Tallies<String> = &mut groups;
        for w in ["apple", "avocado", "banana", ""] {
            tallies.add(&w.to_owned());
        }
        tallies.remove(&"apple".to_owned());
        tallies.remove(&"banana".to_owned());
        assert_eq!(groups.get("a"), Some(&Letter { words: 1, chars: 7 }));
        assert_eq!(groups.get("b"), None, "an emptied group is dropped");
        assert_eq!(
            groups.groups.len(),
            1,
            "an object without a group is left out"
        );
    }

    /// Pods per node, as a cache keeps it.
    #[derive(Default)]
    struct OnNode(usize);

    impl Tally<Pod> for OnNode {
        fn group(pod: &Pod) -> Option<&str> {
            pod.spec.node_name.as_deref()
        }
        fn add(&mut self, _: &Pod) {
            self.0 += 1;
        }
        fn remove(&mut self, _: &Pod) {
            self.0 -= 1;
        }
        fn is_empty(&self) -> bool {
            self.0 == 0
        }
    }

    fn pod(name: &str, node: Option<&str>) -> Arc<Pod> {
        let mut pod = Pod {
            metadata: ObjectMeta::namespaced("default", name),
            ..Default::default()
        };
        pod.spec.node_name = node.map(Into::into);
        Arc::new(pod)
    }

    #[test]
    fn the_cache_keeps_a_tally_current_through_adds_updates_and_removals() {
        let writer = Cache::<Pod>::new_with_writer();
        writer.apply(pod("a", Some("n1")));
        // Added late: counts what is already cached.
        writer.add_tally::<OnNode>();
        let on = |node: &str| writer.cache().tally::<OnNode, _>(node, |t| t.map(|t| t.0));
        assert_eq!(on("n1"), Some(1));
        writer.apply(pod("b", Some("n1")));
        writer.apply(pod("c", None));
        assert_eq!(on("n1"), Some(2));
        // Moving an object moves its count.
        writer.apply(pod("b", Some("n2")));
        assert_eq!((on("n1"), on("n2")), (Some(1), Some(1)));
        writer.remove(&ObjectKey::namespaced("default", "a"));
        assert_eq!(on("n1"), None, "an emptied group is gone");
        assert!(
            !writer.cache().tally::<Unused, _>("x", |t| t.is_some()),
            "a tally never added reads as nothing"
        );
    }

    /// A tally type no informer has.
    #[derive(Default)]
    struct Unused;

    impl Tally<Pod> for Unused {
        fn group(_: &Pod) -> Option<&str> {
            None
        }
        fn add(&mut self, _: &Pod) {}
        fn remove(&mut self, _: &Pod) {}
        fn is_empty(&self) -> bool {
            true
        }
    }
}

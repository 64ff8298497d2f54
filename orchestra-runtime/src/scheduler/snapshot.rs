//! The scheduler's view of the cluster: every node with what its pods request, kept
//! up to date incrementally from informer events, and the **assume cache**: a pod the
//! scheduler has placed counts on its node at once, while the bind write is still in
//! flight, so the next pod already sees the node as fuller.
//!
//! A placement is `Assumed` from [`Snapshot::assume`] until the informer shows the pod
//! bound ([`Snapshot::observe_pod`] makes it `Bound`), or until the bind fails and
//! [`Snapshot::forget`] takes it back. Nothing is ever copied per pod: the scheduling
//! loop owns the snapshot and applies events to it between scheduling cycles.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use orchestra_core::StringMap;
use orchestra_core::kinds::{Node, Pod};

use super::node_info::{NodeInfo, PodRequests, Resources};
use super::pod_info::PodInfo;
use crate::keys::{KeyMap, KeyRef, ObjectKey};

/// Where a pod's requests are counted, and whether its binding is confirmed.
///
/// The pod itself is not kept: at 100,000 pods that would hold every one of them
/// decoded, which the informer's cache does not. What the snapshot and its plugins
/// need of a placed pod besides its node is its [`Shape`], which the replicas of one
/// template share.
#[derive(Clone, Debug)]
struct Placement {
    node: Arc<str>,
    shape: Arc<Shape>,
    assumed: bool,
}

/// What the snapshot keeps of a placed pod besides its node: its requests, its
/// controlling owner (the snapshot's shared copy of the uid) and what plugins that
/// count other pods match them by. One copy serves every pod with the same.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Shape {
    requests: PodRequests,
    owner: Option<Arc<str>>,
    labels: PlacedLabels,
}

impl Shape {
    /// Whether `pod`, with `requests`, has this shape.
    fn fits(&self, pod: &Pod, requests: &PodRequests) -> bool {
        self.requests == *requests
            && self.owner.as_deref() == pod.metadata.controller_ref().map(|r| r.uid.as_str())
            && self.labels.is_of(pod)
    }
}

/// The namespace and labels of a placed pod, which is what plugins that count other
/// pods (topology spreading) match them by.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PlacedLabels {
    /// The pod's namespace.
    pub namespace: Option<String>,
    /// The pod's labels.
    pub labels: StringMap,
}

impl PlacedLabels {
    fn of(pod: &Pod) -> PlacedLabels {
        PlacedLabels {
            namespace: pod.metadata.namespace.clone(),
            labels: pod.metadata.labels.clone(),
        }
    }

    /// Whether `pod` has these namespace and labels.
    fn is_of(&self, pod: &Pod) -> bool {
        self.namespace == pod.metadata.namespace && self.labels == pod.metadata.labels
    }
}

/// How a node changed, for deciding whether unschedulable pods deserve another try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    /// A node that was not known before.
    Added,
    /// A change that could make a pod fit that did not before (more allocatable,
    /// schedulable again, fewer taints, new labels).
    Loosened,
    /// A change that cannot make any pod fit that did not before.
    Other,
}

/// The nodes and placed pods, indexed for the scheduling cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    by_name: HashMap<Arc<str>, usize>,
    pods: KeyMap<Placement>,
    /// One shared copy of each owner uid that placed pods name, with how many shapes
    /// do: nodes count owners by these copies (see [`NodeInfo::pods_of_shared_owner`]).
    owners: HashMap<Arc<str>, usize>,
    /// One shared copy of each shape that placed pods have, with how many do.
    shapes: HashMap<Arc<Shape>, usize>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `index` (`0..len()`; indexes change when nodes are removed).
    pub fn node(&self, index: usize) -> &NodeInfo {
        &self.nodes[index]
    }

    /// Every node.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The index of the node named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The node named `name`.
    pub fn node_named(&self, name: &str) -> Option<&NodeInfo> {
        self.index_of(name).map(|i| &self.nodes[i])
    }

    /// The namespace and labels of every placed pod (bound or assumed), with the name
    /// of its node.
    pub fn placed_pods(&self) -> impl Iterator<Item = (&PlacedLabels, &str)> {
        self.pods.values().map(|p| (&p.shape.labels, &*p.node))
    }

    /// The shared copy of owner uid `uid`, if any placed pod has that owner.
    pub fn owner(&self, uid: &str) -> Option<&Arc<str>> {
        self.owners.get_key_value(uid).map(|(shared, _)| shared)
    }

    /// The key the snapshot keeps for `pod`, if it has placed it.
    pub(crate) fn key_of(&self, pod: &Pod) -> Option<ObjectKey> {
        self.pods.held_key(KeyRef::of(pod))
    }

    /// The node a pod is placed on, if it is.
    pub fn placement_of(&self, key: &ObjectKey) -> Option<&str> {
        self.pods.get(key).map(|p| &*p.node)
    }

    /// Whether the pod is assumed (placed by this scheduler, binding not yet seen).
    pub fn is_assumed(&self, key: &ObjectKey) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Adds or replaces a node, keeping what is placed on it; says how it changed.
    pub fn upsert_node(&mut self, node: Arc<Node>) -> NodeChange {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        match self.by_name.get(name) {
            Some(&i) => {
                let change = classify(self.nodes[i].node(), &node);
                self.nodes[i].set_node(node);
                change
            }
            None => {
                let mut info = NodeInfo::new(node);
                // Pods can be seen bound to a node before the node itself (or after it
                // was deleted and re-created): count them now.
                let name = info.name_arc().clone();
                for p in self.pods.values().filter(|p| p.node == name) {
                    info.add_pod(p.shape.requests, p.shape.owner.as_ref());
                }
                self.by_name.insert(name, self.nodes.len());
                self.nodes.push(info);
                NodeChange::Added
            }
        }
    }

    /// Removes a node. Pods placed on it stay recorded, so they count again if it
    /// comes back.
    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.by_name.remove(name) else {
            return;
        };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.by_name.insert(moved.name_arc().clone(), i);
        }
    }

    /// Counts `pod` on the node at `node_index` before its binding is written.
    pub fn assume(&mut self, key: ObjectKey, pod: &PodInfo, node_index: usize) {
        let node = self.nodes[node_index].name_arc().clone();
        self.place(key, pod.clone(), node, true);
    }

    /// Takes back an assumption after a failed bind. A placement the informer has
    /// already confirmed is left alone.
    pub fn forget(&mut self, key: &ObjectKey) {
        if self.is_assumed(key) {
            self.unplace(key);
        }
    }

    /// Applies what the informer says about a pod: a bound, non-terminal pod is counted
    /// on its node (confirming an assumption); anything else is not counted.
    pub fn observe_pod(&mut self, key: ObjectKey, pod: &Arc<Pod>) {
        match pod.node_name() {
            Some(node) if !pod.is_terminal() => {
                // A confirmed placement that still holds (the common update: a status
                // change) only takes the newer object.
                if let Some(placed) = self.pods.get(&key)
                    && !placed.assumed
                    && *placed.node == *node
                    && placed.shape.fits(pod, &PodRequests::of(pod))
                {
                    return;
                }
                let node: Arc<str> = match self.by_name.get_key_value(node) {
                    Some((name, _)) => name.clone(),
                    None => node.into(),
                };
                self.place(key, PodInfo::new(pod.clone()), node, false);
            }
            // An assumed pod still looks unbound until its binding arrives.
            None if self.is_assumed(&key) => {}
            _ => self.unplace(&key),
        }
    }

    /// Forgets a deleted pod.
    pub fn remove_pod(&mut self, key: &ObjectKey) {
        self.unplace(key);
    }

    fn place(&mut self, key: ObjectKey, info: PodInfo, node: Arc<str>, assumed: bool) {
        let PodInfo {
            pod,
            requests,
            owner_uid: owner,
        } = info;
        if let Some(old) = self.pods.get_mut(&key)
            && old.node == node
            && old.shape.fits(&pod, &requests)
        {
            old.assumed = assumed;
            return;
        }
        self.unplace(&key);
        let shape = self.share_shape(Shape {
            requests,
            owner,
            labels: PlacedLabels::of(&pod),
        });
        if let Some(&i) = self.by_name.get(&node) {
            self.nodes[i].add_pod(shape.requests, shape.owner.as_ref());
        }
        self.pods.insert(
            key,
            Placement {
                node,
                shape,
                assumed,
            },
        );
    }

    fn unplace(&mut self, key: &ObjectKey) {
        let Some(old) = self.pods.remove(key) else {
            return;
        };
        if let Some(&i) = self.by_name.get(&old.node) {
            self.nodes[i].remove_pod(old.shape.requests, old.shape.owner.as_ref());
        }
        self.release_shape(&old.shape);
    }

    /// The shared copy of `shape`, counted once more. A new shape takes the shared
    /// copy of its owner's uid.
    fn share_shape(&mut self, shape: Shape) -> Arc<Shape> {
        if let Some((shared, _)) = self.shapes.get_key_value(&shape) {
            let shared = shared.clone();
            *self.shapes.get_mut(&shape).expect("just found") += 1;
            return shared;
        }
        let shape = Arc::new(Shape {
            owner: shape.owner.map(|uid| self.share_owner(uid)),
            ..shape
        });
        self.shapes.insert(shape.clone(), 1);
        shape
    }

    /// Counts a use of the shared `shape` less, forgetting it (and its use of the
    /// owner's uid) after its last.
    fn release_shape(&mut self, shape: &Arc<Shape>) {
        let Some(uses) = self.shapes.get_mut(shape) else {
            return;
        };
        *uses -= 1;
        if *uses == 0 {
            self.shapes.remove(shape);
            if let Some(owner) = &shape.owner {
                self.release_owner(owner);
            }
        }
    }

    /// The shared copy of `uid`, counted once more.
    fn share_owner(&mut self, uid: Arc<str>) -> Arc<str> {
        match self.owners.entry(uid) {
            Entry::Occupied(mut known) => {
                *known.get_mut() += 1;
                known.key().clone()
            }
            Entry::Vacant(new) => {
                let shared = new.key().clone();
                new.insert(1);
                shared
            }
        }
    }

    /// Counts a use of the shared `owner` less, forgetting it after its last.
    fn release_owner(&mut self, owner: &Arc<str>) {
        if let Some(uses) = self.owners.get_mut(owner) {
            *uses -= 1;
            if *uses == 0 {
                self.owners.remove(owner);
            }
        }
    }
}

/// Whether the change from `old` to `new` could let a pod fit that did not before.
fn classify(old: &Node, new: &Node) -> NodeChange {
    let grew = {
        let (a, b) = (
            Resources::allocatable_of(old),
            Resources::allocatable_of(new),
        );
        b.milli_cpu > a.milli_cpu || b.memory > a.memory || b.pods > a.pods
    };
    let loosened = grew
        || (old.spec.unschedulable && !new.spec.unschedulable)
        || old.spec.taints.iter().any(|t| !new.spec.taints.contains(t))
        || old.metadata.labels != new.metadata.labels;
    if loosened {
        NodeChange::Loosened
    } else {
        NodeChange::Other
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::kinds::{PodPhase, PodStatus};

    use super::*;
    use crate::scheduler::testing;

    fn node(name: &str, cpu: &str) -> Arc<Node> {
        Arc::new(testing::node(name, cpu, "64Gi"))
    }

    fn pod(name: &str, cpu: &str, node: Option<&str>) -> Arc<Pod> {
        let mut pod = testing::pod(name, cpu, "");
        pod.spec.node_name = node.map(str::to_owned);
        Arc::new(pod)
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::namespaced("default", name)
    }

    #[test]
    fn an_assumed_pod_counts_at_once_and_is_confirmed_by_its_binding() {
        let mut snap = Snapshot::new();
        snap.upsert_node(node("n1", "4"));
        snap.assume(key("a"), &PodInfo::new(pod("a", "1", None)), 0);
        assert_eq!(snap.node(0).requested().milli_cpu, 1000);
        assert!(snap.is_assumed(&key("a")));

        // The informer still shows the pod unbound: the assumption stands.
        snap.observe_pod(key("a"), &pod("a", "1", None));
        assert_eq!(snap.node(0).requested().milli_cpu, 1000);

        snap.observe_pod(key("a"), &pod("a", "1", Some("n1")));
        assert!(!snap.is_assumed(&key("a")));
        assert_eq!(snap.node(0).requested().milli_cpu, 1000, "counted once");

        snap.forget(&key("a"));
        assert_eq!(
            snap.node(0).requested().milli_cpu,
            1000,
            "a confirmed placement is not forgotten"
        );
    }

    #[test]
    fn placed_pods_show_their_labels_shared_and_follow_label_changes() {
        let labelled = |name: &str, app: &str| {
            let mut p = (*pod(name, "1", Some("n1"))).clone();
            p.metadata.labels.insert("app".into(), app.into());
            Arc::new(p)
        };
        let mut snap = Snapshot::new();
        snap.upsert_node(node("n1", "8"));
        snap.observe_pod(key("a"), &labelled("a", "web"));
        snap.assume(key("b"), &PodInfo::new(labelled("b", "web")), 0);
        let placed: Vec<&PlacedLabels> = snap.placed_pods().map(|(l, _)| l).collect();
        assert_eq!(placed.len(), 2);
        assert!(std::ptr::eq(placed[0], placed[1]), "one copy for both");
        assert_eq!(placed[0].labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(placed[0].namespace.as_deref(), Some("default"));

        // A relabelled pod is matched by its new labels.
        snap.observe_pod(key("a"), &labelled("a", "db"));
        let mut apps: Vec<&str> = snap
            .placed_pods()
            .map(|(l, _)| l.labels.get("app").map_or("", String::as_str))
            .collect();
        apps.sort_unstable();
        assert_eq!(apps, ["db", "web"]);
        assert_eq!(
            snap.node(0).requested().milli_cpu,
            2000,
            "still counted once each"
        );
        snap.remove_pod(&key("a"));
        snap.remove_pod(&key("b"));
        assert!(snap.shapes.is_empty(), "forgotten with their last pod");
    }

    #[test]
    fn owners_are_shared_counted_per_node_and_forgotten_with_their_last_pod() {
        let owned = |name: &str, node: &str| {
            let mut p = (*pod(name, "1", Some(node))).clone();
            p.metadata
                .owner_references
                .push(orchestra_core::OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: "rs".into(),
                    uid: "rs-uid".into(),
                    controller: Some(true),
                    block_owner_deletion: None,
                });
            Arc::new(p)
        };
        let mut snap = Snapshot::new();
        snap.upsert_node(node("n1", "4"));
        snap.upsert_node(node("n2", "4"));
        snap.observe_pod(key("a"), &owned("a", "n1"));
        snap.observe_pod(key("b"), &owned("b", "n1"));
        // Assumed from a PodInfo of its own: still the one shared copy.
        snap.assume(key("c"), &PodInfo::new(owned("c", "n2")), 1);
        let shared = snap.owner("rs-uid").expect("placed pods have it").clone();
        assert_eq!(snap.node(0).pods_of_shared_owner(&shared), 2);
        assert_eq!(snap.node(1).pods_of_shared_owner(&shared), 1);
        let elsewhere: Arc<str> = "rs-uid".into();
        assert_eq!(
            snap.node(0).pods_of_shared_owner(&elsewhere),
            0,
            "only the shared copy is recognised by pointer"
        );
        assert_eq!(snap.node(0).pods_of_owner("rs-uid"), 2, "by value");
        for name in ["a", "b", "c"] {
            snap.remove_pod(&key(name));
        }
        assert_eq!(snap.owner("rs-uid"), None);
        assert_eq!(snap.node(0).pods_of_owner("rs-uid"), 0);
    }

    #[test]
    fn forgetting_an_assumption_frees_the_node() {
        let mut snap = Snapshot::new();
        snap.upsert_node(node("n1", "4"));
        snap.assume(key("a"), &PodInfo::new(pod("a", "1", None)), 0);
        snap.forget(&key("a"));
        assert_eq!(snap.node(0).requested(), Resources::default());
        assert!(snap.placement_of(&key("a")).is_none());
    }

    #[test]
    fn pods_seen_before_their_node_count_when_it_arrives_and_terminal_pods_free_it() {
        let mut snap = Snapshot::new();
        snap.observe_pod(key("a"), &pod("a", "500m", Some("n1")));
        snap.upsert_node(node("n1", "4"));
        assert_eq!(snap.node(0).requested().milli_cpu, 500);
        assert_eq!(snap.node(0).requested().pods, 1);

        let mut done = (*pod("a", "500m", Some("n1"))).clone();
        done.status = Some(PodStatus {
            phase: Some(PodPhase::Succeeded),
            ..Default::default()
        });
        snap.observe_pod(key("a"), &Arc::new(done));
        assert_eq!(snap.node(0).requested(), Resources::default());
    }

    #[test]
    fn removing_a_node_keeps_indexes_consistent() {
        let mut snap = Snapshot::new();
        for n in ["n1", "n2", "n3"] {
            snap.upsert_node(node(n, "4"));
        }
        snap.remove_node("n1");
        assert_eq!(snap.len(), 2);
        for (i, info) in snap.nodes().iter().enumerate() {
            assert_eq!(snap.index_of(info.name()), Some(i));
        }
        assert_eq!(snap.index_of("n1"), None);
    }

    #[test]
    fn node_changes_are_classified_by_whether_they_can_help_a_pod() {
        let mut snap = Snapshot::new();
        assert_eq!(snap.upsert_node(node("n1", "4")), NodeChange::Added);
        assert_eq!(snap.upsert_node(node("n1", "4")), NodeChange::Other);
        assert_eq!(snap.upsert_node(node("n1", "8")), NodeChange::Loosened);
        assert_eq!(snap.upsert_node(node("n1", "2")), NodeChange::Other);
    }
}

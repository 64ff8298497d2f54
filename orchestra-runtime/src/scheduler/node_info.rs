//! What the scheduler knows of one node: the node object, the resources its pods
//! request, and how many pods of each owner it runs (for spreading).

use std::ops::{AddAssign, SubAssign};
use std::sync::Arc;

use orchestra_core::ResourceList;
use orchestra_core::kinds::{Node, Pod};

/// The cpu a container without a cpu request counts as when scoring (Kubernetes'
/// 100m), so that pods without requests still spread.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;

/// The memory a container without a memory request counts as when scoring
/// (Kubernetes' 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Requests (or capacity) in the units the scheduler compares: millicores, bytes and
/// a pod count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Number of pods.
    pub pods: i64,
}

impl Resources {
    /// The `cpu`, `memory` and `pods` entries of a resource list (absent ones are 0).
    pub fn from_list(list: &ResourceList) -> Resources {
        Resources {
            milli_cpu: list.get("cpu").map_or(0, |q| q.milli_value()),
            memory: list.get("memory").map_or(0, |q| q.value()),
            pods: list.get("pods").map_or(0, |q| q.value()),
        }
    }

    /// What a node offers to pods: its allocatable, or its capacity when it reports no
    /// allocatable.
    pub fn allocatable_of(node: &Node) -> Resources {
        node.status
            .as_ref()
            .map(|s| {
                if s.allocatable.is_empty() {
                    Resources::from_list(&s.capacity)
                } else {
                    Resources::from_list(&s.allocatable)
                }
            })
            .unwrap_or_default()
    }

    /// What a pod requests: the sum of its containers' requests, and one pod.
    ///
    /// A container that sets a limit but no request requests its limit, as Kubernetes
    /// defaults it.
    pub fn requested_by(pod: &Pod) -> Resources {
        Resources::sum_of_containers(pod, 0, 0)
    }

    /// Sums the containers' cpu and memory requests (or limits), counting a container
    /// without one as the given default.
    fn sum_of_containers(pod: &Pod, default_milli_cpu: i64, default_memory: i64) -> Resources {
        let mut total = Resources {
            pods: 1,
            ..Resources::default()
        };
        for c in &pod.spec.containers {
            let get = |name: &str| {
                c.resources
                    .requests
                    .get(name)
                    .or_else(|| c.resources.limits.get(name))
            };
            total.milli_cpu += get("cpu")
                .map(|q| q.milli_value())
                .filter(|&v| v > 0)
                .unwrap_or(default_milli_cpu);
            total.memory += get("memory")
                .map(|q| q.value())
                .filter(|&v| v > 0)
                .unwrap_or(default_memory);
        }
        total
    }

    /// What a pod counts as when scoring: like [`Resources::requested_by`], with
    /// [`DEFAULT_MILLI_CPU_REQUEST`] and [`DEFAULT_MEMORY_REQUEST`] for a container
    /// that requests none. Never used for fitting.
    pub fn non_zero_requested_by(pod: &Pod) -> Resources {
        Resources::sum_of_containers(pod, DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, other: Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.pods += other.pods;
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, other: Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.pods -= other.pods;
    }
}

/// What one pod requests, for fitting and for scoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodRequests {
    /// Its requests ([`Resources::requested_by`]).
    pub actual: Resources,
    /// Its requests for scoring ([`Resources::non_zero_requested_by`]).
    pub non_zero: Resources,
}

impl PodRequests {
    /// Both views of `pod`'s requests.
    pub fn of(pod: &Pod) -> PodRequests {
        PodRequests {
            actual: Resources::requested_by(pod),
            non_zero: Resources::non_zero_requested_by(pod),
        }
    }
}

/// One node as the scheduler sees it: the object plus the sum of what the pods placed
/// on it (bound or assumed) request.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    node: Arc<Node>,
    name: Arc<str>,
    allocatable: Resources,
    requested: Resources,
    non_zero_requested: Resources,
    /// Pods per owner. A node runs pods of a few owners, and the snapshot gives every
    /// owner uid one shared copy, so the spreading score — one look-up per node per
    /// cycle — compares pointers in a short vector instead of hashing strings.
    owners: Vec<(Arc<str>, u32)>,
    unschedulable: bool,
    tainted: bool,
}

impl NodeInfo {
    /// A node with nothing placed on it yet.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let name: Arc<str> = node.metadata.name.as_deref().unwrap_or_default().into();
        let allocatable = Resources::allocatable_of(&node);
        let (unschedulable, tainted) = (node.spec.unschedulable, !node.spec.taints.is_empty());
        NodeInfo {
            node,
            name,
            allocatable,
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            owners: Vec::new(),
            unschedulable,
            tainted,
        }
    }

    /// The node object.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's name, shared.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// What the node offers to pods (its allocatable, or its capacity when it reports
    /// no allocatable).
    pub fn allocatable(&self) -> Resources {
        self.allocatable
    }

    /// What the pods placed on it request, together.
    pub fn requested(&self) -> Resources {
        self.requested
    }

    /// What the pods placed on it count as for scoring (see
    /// [`Resources::non_zero_requested_by`]).
    pub fn non_zero_requested(&self) -> Resources {
        self.non_zero_requested
    }

    /// Whether the node is cordoned (`spec.unschedulable`), without touching the node
    /// object (filters run this for hundreds of nodes per pod).
    pub fn is_unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// Whether the node has any taint.
    pub fn is_tainted(&self) -> bool {
        self.tainted
    }

    /// How many pods controlled by the owner with this uid are placed on the node.
    pub fn pods_of_owner(&self, owner_uid: &str) -> u32 {
        self.owners
            .iter()
            .find(|(o, _)| &**o == owner_uid)
            .map_or(0, |(_, n)| *n)
    }

    /// As [`NodeInfo::pods_of_owner`], for the snapshot's shared copy of the uid
    /// ([`Snapshot::owner`](super::Snapshot::owner)): pointers compared, no string
    /// read.
    pub fn pods_of_shared_owner(&self, owner: &Arc<str>) -> u32 {
        self.owners
            .iter()
            .find(|(o, _)| Arc::ptr_eq(o, owner))
            .map_or(0, |(_, n)| *n)
    }

    /// Replaces the node object, keeping the pods placed on it.
    pub(crate) fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = Resources::allocatable_of(&node);
        self.unschedulable = node.spec.unschedulable;
        self.tainted = !node.spec.taints.is_empty();
        self.node = node;
    }

    pub(crate) fn add_pod(&mut self, requests: PodRequests, owner: Option<&Arc<str>>) {
        self.requested += requests.actual;
        self.non_zero_requested += requests.non_zero;
        if let Some(owner) = owner {
            match self.owners.iter_mut().find(|(o, _)| Arc::ptr_eq(o, owner)) {
                Some((_, n)) => *n += 1,
                None => self.owners.push((owner.clone(), 1)),
            }
        }
    }

    pub(crate) fn remove_pod(&mut self, requests: PodRequests, owner: Option<&Arc<str>>) {
        self.requested -= requests.actual;
        self.non_zero_requested -= requests.non_zero;
        if let Some(owner) = owner
            && let Some(i) = self.owners.iter().position(|(o, _)| Arc::ptr_eq(o, owner))
        {
            self.owners[i].1 -= 1;
            if self.owners[i].1 == 0 {
                self.owners.swap_remove(i);
            }
        }
    }
}

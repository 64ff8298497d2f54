//! `Node` (core/v1): a machine that runs pods.

use serde::{Deserialize, Serialize};

use super::{ConditionStatus, spec_status_resource};
use crate::meta::ObjectMeta;
use crate::quantity::ResourceList;
use crate::time::Time;
use crate::validation::{FieldErrors, validate_label_value, validate_qualified_name};

/// A node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: NodeSpec,
    /// The observed state, reported by the node agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

/// A node's desired state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// New pods are not scheduled here (cordoned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unschedulable: bool,
    /// Taints that repel pods without a matching toleration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// The pod IP range of the node.
    #[serde(default, rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// The provider's id of the machine.
    #[serde(
        default,
        rename = "providerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
}

/// A taint on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What it does to pods that do not tolerate it.
    pub effect: TaintEffect,
    /// When it was added (for `NoExecute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// Not scheduled here.
    #[default]
    NoSchedule,
    /// Scheduled here only if nowhere else fits.
    PreferNoSchedule,
    /// Not scheduled here, and evicted if already running here.
    NoExecute,
}

/// A node's observed state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Total resources.
    #[serde(default)]
    pub capacity: ResourceList,
    /// Resources available to pods.
    #[serde(default)]
    pub allocatable: ResourceList,
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    /// How to reach the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// What the node runs: the agent's version, the operating system, the container
    /// runtime. Reported by the node agent; `kubectl get nodes` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
}

/// What a node runs, as its agent reports it (Kubernetes' `NodeSystemInfo`). Fields
/// the agent does not know are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    /// The node agent's version, e.g. `v0.1.0`.
    #[serde(default)]
    pub kubelet_version: String,
    /// The operating system image, e.g. `Debian GNU/Linux 12 (bookworm)`.
    #[serde(default, rename = "osImage")]
    pub os_image: String,
    /// The kernel version, e.g. `6.1.0-18-amd64`.
    #[serde(default)]
    pub kernel_version: String,
    /// The container runtime and its version, e.g. `containerd://1.7.13`.
    #[serde(default)]
    pub container_runtime_version: String,
    /// The operating system, e.g. `linux`.
    #[serde(default)]
    pub operating_system: String,
    /// The processor architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
}

/// One condition of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// E.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the agent last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// An address of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP` or `Hostname`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub address: String,
}

impl Node {
    /// The condition of type `type_`, if reported.
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Whether the node's `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Fills in Kubernetes' defaults (a node has none).
    pub fn apply_defaults(&mut self) {}

    /// Checks the kind's own fields (not metadata), naming every bad field, as the
    /// API server does before every write.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        self.field_problems().into_result()
    }

    fn field_problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        for (i, t) in self.spec.taints.iter().enumerate() {
            if let Err(e) = validate_qualified_name(&t.key) {
                errors.push(format!("spec.taints[{i}].key"), e);
            }
            if let Some(v) = &t.value {
                if let Err(e) = validate_label_value(v) {
                    errors.push(format!("spec.taints[{i}].value"), e);
                }
            }
        }
        errors
    }
}

spec_status_resource!(Node, "Node", "v1", "nodes", "node", ["no"], Cluster);

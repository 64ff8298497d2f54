//! `Pod` (core/v1): one or more containers scheduled together on one node.

use serde::{Deserialize, Serialize};

use super::container::{Container, ContainerStatus, RestartPolicy};
use super::node::TaintEffect;
use super::scheduling::{Affinity, Toleration, TolerationOperator, TopologySpreadConstraint};
use super::{ConditionStatus, spec_status_resource};
use crate::meta::ObjectMeta;
use crate::string_map::StringMap;
use crate::time::Time;
use crate::validation::{FieldErrors, validate_dns1123_label, validate_qualified_name};

/// The default grace period for stopping a pod's containers, in seconds.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// How long pods tolerate a not-ready or unreachable node by default (Kubernetes'
/// DefaultTolerationSeconds admission), in seconds.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The taint key of a node whose agent reports it not ready.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint key of a node whose agent stopped reporting.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// A pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired pod.
    #[serde(default)]
    pub spec: PodSpec,
    /// The observed pod, written by the scheduler and the node agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

/// A pod's desired state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// The containers, started together.
    #[serde(default, deserialize_with = "crate::meta::compact_vec")]
    pub containers: Vec<Container>,
    /// When to restart exited containers (default `Always`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// The node the pod is bound to; empty until scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Node labels the pod requires.
    #[serde(default, skip_serializing_if = "StringMap::is_empty")]
    pub node_selector: StringMap,
    /// Scheduling constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Taints the pod tolerates.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub tolerations: Vec<Toleration>,
    /// Seconds the containers get between TERM and KILL (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Scheduling priority; higher goes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Which scheduler places the pod (default `default-scheduler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// The pod's hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// How the pod's replicas spread over topology domains (nodes, zones).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

/// A pod's observed state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// Where the pod is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PodPhase>,
    /// PodScheduled, Initialized, ContainersReady, Ready.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub conditions: Vec<PodCondition>,
    /// The pod's IP address.
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The node's IP address.
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// When the node agent accepted the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// Why the pod is in its phase, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the pod is in its phase, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One per container.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::meta::compact_vec"
    )]
    pub container_statuses: Vec<ContainerStatus>,
}

/// The pod condition saying whether the pod is bound to a node (`True`) or why it
/// cannot be (`False`, reason `Unschedulable`).
pub const POD_SCHEDULED: &str = "PodScheduled";

/// A pod's lifecycle phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, not all containers running yet.
    #[default]
    Pending,
    /// Bound to a node, all containers created, at least one running.
    Running,
    /// All containers exited successfully and will not restart.
    Succeeded,
    /// All containers exited, at least one in failure, and will not restart.
    Failed,
    /// The state could not be obtained.
    Unknown,
}

impl PodPhase {
    /// The phase's name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// One condition of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// `PodScheduled`, `Initialized`, `ContainersReady` or `Ready`.
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
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// When it was last probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
}

impl PodStatus {
    /// Sets the condition of type `type_`, keeping its `lastTransitionTime` when the
    /// status does not change; returns whether anything changed.
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: Option<&str>,
        message: Option<&str>,
        now: Time,
    ) -> bool {
        let reason = reason.map(str::to_owned);
        let message = message.map(str::to_owned);
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == status && c.reason == reason && c.message == message => false,
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = Some(now);
                }
                c.status = status;
                c.reason = reason;
                c.message = message;
                true
            }
            None => {
                self.conditions.push(PodCondition {
                    type_: type_.to_owned(),
                    status,
                    reason,
                    message,
                    last_transition_time: Some(now),
                    last_probe_time: None,
                });
                true
            }
        }
    }
}

/// The pod a workload stamps out: metadata and spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodTemplateSpec {
    /// Labels and annotations for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// The pods' spec.
    #[serde(default)]
    pub spec: PodSpec,
}

impl Pod {
    /// The pod's phase (`Pending` when not reported yet).
    pub fn phase(&self) -> PodPhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or_default()
    }

    /// The node the pod is bound to, if any.
    pub fn node_name(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    /// The condition of type `type_`, if reported.
    pub fn condition(&self, type_: &str) -> Option<&PodCondition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Whether the pod's `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// When the pod last became ready, if it is ready.
    pub fn ready_since(&self) -> Option<Time> {
        self.condition("Ready")
            .filter(|c| c.status == ConditionStatus::True)?
            .last_transition_time
    }

    /// Whether the pod has finished for good (`Succeeded` or `Failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase(), PodPhase::Succeeded | PodPhase::Failed)
    }

    /// Total restarts of all its containers.
    pub fn restart_count(&self) -> i32 {
        self.status
            .as_ref()
            .map(|s| s.container_statuses.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0)
    }

    /// Fills in Kubernetes' defaults, as the API server does on every create and
    /// update.
    pub fn apply_defaults(&mut self) {
        self.spec.apply_defaults();
    }

    /// Checks the kind's own fields (not metadata), naming every bad field, as the
    /// API server does before every write.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        self.field_problems().into_result()
    }

    fn field_problems(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        self.spec.validate_into("spec", &mut errors);
        errors
    }
}

impl PodSpec {
    /// Kubernetes' defaults: restart policy `Always`, grace period 30 s, the default
    /// scheduler, `TCP` ports, probe timings (10 s period, 1 s timeout, thresholds 1
    /// and 3), `Equal` tolerations, and the not-ready/unreachable `NoExecute`
    /// tolerations for 300 s that Kubernetes' DefaultTolerationSeconds admission adds
    /// (done here so every pod gets them whoever creates it).
    pub fn apply_defaults(&mut self) {
        self.restart_policy.get_or_insert(RestartPolicy::Always);
        self.termination_grace_period_seconds
            .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
        self.scheduler_name
            .get_or_insert_with(|| crate::scheduler::DEFAULT_SCHEDULER_NAME.to_owned());
        for c in &mut self.containers {
            for p in &mut c.ports {
                p.protocol.get_or_insert_with(|| "TCP".to_owned());
            }
            for probe in [
                &mut c.liveness_probe,
                &mut c.readiness_probe,
                &mut c.startup_probe,
            ]
            .into_iter()
            .flatten()
            {
                probe.period_seconds.get_or_insert(10);
                probe.timeout_seconds.get_or_insert(1);
                probe.success_threshold.get_or_insert(1);
                probe.failure_threshold.get_or_insert(3);
            }
        }
        for t in &mut self.tolerations {
            t.operator.get_or_insert(TolerationOperator::Equal);
        }
        for key in [TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE] {
            let tolerated = self.tolerations.iter().any(|t| {
                t.key.as_deref() == Some(key)
                    && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
                    || t.key.is_none() && t.operator == Some(TolerationOperator::Exists)
            });
            if !tolerated {
                self.tolerations.push(Toleration {
                    key: Some(key.to_owned()),
                    operator: Some(TolerationOperator::Exists),
                    value: None,
                    effect: Some(TaintEffect::NoExecute),
                    toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                });
            }
        }
    }

    /// Checks the spec, naming fields under `path` (e.g. `spec.template.spec`).
    pub fn validate_into(&self, path: &str, errors: &mut FieldErrors) {
        if self.containers.is_empty() {
            errors.push(
                format!("{path}.containers"),
                "at least one container is required",
            );
        }
        for (i, c) in self.topology_spread_constraints.iter().enumerate() {
            let field = format!("{path}.topologySpreadConstraints[{i}]");
            if c.max_skew < 1 {
                errors.push(
                    format!("{field}.maxSkew"),
                    format!("must be at least 1, got {}", c.max_skew),
                );
            }
            if let Err(e) = validate_qualified_name(&c.topology_key) {
                errors.push(format!("{field}.topologyKey"), e);
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, c) in self.containers.iter().enumerate() {
            let field = format!("{path}.containers[{i}]");
            if let Err(e) = validate_dns1123_label(&c.name) {
                errors.push(format!("{field}.name"), e);
            } else if !names.insert(c.name.as_str()) {
                errors.push(
                    format!("{field}.name"),
                    format!("duplicate container name {:?}", c.name),
                );
            }
            if c.image.trim().is_empty() {
                errors.push(format!("{field}.image"), "must not be empty");
            }
            for (j, p) in c.ports.iter().enumerate() {
                if !(1..=65535).contains(&p.container_port) {
                    errors.push(
                        format!("{field}.ports[{j}].containerPort"),
                        format!("{} is not a port number (1-65535)", p.container_port),
                    );
                }
            }
            for (name, q) in c.resources.requests.iter().chain(&c.resources.limits) {
                if q.is_negative() {
                    errors.push(
                        format!("{field}.resources[{name:?}]"),
                        format!("{q} must not be negative"),
                    );
                }
            }
            for (name, probe) in [
                ("livenessProbe", &c.liveness_probe),
                ("readinessProbe", &c.readiness_probe),
                ("startupProbe", &c.startup_probe),
            ] {
                if let Some(p) = probe {
                    let handlers = usize::from(p.exec.is_some())
                        + usize::from(p.http_get.is_some())
                        + usize::from(p.tcp_socket.is_some());
                    if handlers != 1 {
                        errors.push(
                            format!("{field}.{name}"),
                            "exactly one of exec, httpGet or tcpSocket is required",
                        );
                    }
                }
            }
        }
        if let Some(grace) = self.termination_grace_period_seconds {
            if grace < 0 {
                errors.push(
                    format!("{path}.terminationGracePeriodSeconds"),
                    format!("{grace} must not be negative"),
                );
            }
        }
        for key in self.node_selector.keys() {
            if let Err(e) = validate_qualified_name(key) {
                errors.push(format!("{path}.nodeSelector[{key:?}]"), e);
            }
        }
        for (i, t) in self.tolerations.iter().enumerate() {
            if t.operator == Some(TolerationOperator::Exists)
                && t.value.as_deref().is_some_and(|v| !v.is_empty())
            {
                errors.push(
                    format!("{path}.tolerations[{i}].value"),
                    "must be empty when operator is Exists",
                );
            }
        }
    }
}

spec_status_resource!(Pod, "Pod", "v1", "pods", "pod", ["po"], Namespaced);

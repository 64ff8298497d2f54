//! The built-in kinds, with Kubernetes' names and JSON shapes: [`Pod`], [`ReplicaSet`],
//! [`Deployment`], [`Node`], [`Lease`], [`HorizontalPodAutoscaler`] and [`Event`].
//!
//! Each carries the fields this project uses, defaulting as Kubernetes defaults them
//! (`apply_defaults`), and validation that names every bad field (`validate`); the
//! registry's strategies for them ([`registry`](crate::registry)) call those on every
//! write. They implement [`Resource`](crate::Resource) exactly as a user's own kind
//! would; the machinery knows none of them by name.

mod condition;
mod container;
mod deployment;
mod event;
mod hpa;
mod intstr;
mod lease;
mod node;
mod pod;
mod replicaset;
mod scheduling;

pub use condition::ConditionStatus;
pub use container::{
    Container, ContainerPort, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, EnvVar, ExecAction, HttpGetAction, Probe, ProbeHandler,
    ResourceRequirements, RestartPolicy, TcpSocketAction,
};
pub use deployment::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, DeploymentStrategy,
    DeploymentStrategyType, RollingUpdateDeployment,
};
pub use event::{Event, EventSource, ObjectReference};
pub use hpa::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingPolicyType, HPAScalingRules,
    HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerCondition,
    HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus, MetricIdentifier, MetricSourceType,
    MetricSpec, MetricStatus, MetricTarget, MetricTargetType, MetricValueStatus, PodsMetricSource,
    ResourceMetricSource, ScalingPolicySelect,
};
pub use intstr::IntOrString;
pub use lease::{Lease, LeaseSpec};
pub use node::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint, TaintEffect,
};
pub use pod::{
    DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, DEFAULT_TOLERATION_SECONDS, POD_SCHEDULED, Pod,
    PodCondition, PodPhase, PodSpec, PodStatus, PodTemplateSpec, TAINT_NODE_NOT_READY,
    TAINT_NODE_UNREACHABLE,
};
pub use replicaset::{ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};
pub use scheduling::{
    Affinity, LABEL_HOSTNAME, NodeAffinity, NodeSelector, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm, Toleration,
    TolerationOperator, TopologySpreadConstraint, UnsatisfiableConstraintAction,
};

/// Implements [`Resource`](crate::Resource) for a built-in kind shaped
/// `{ metadata, spec, status }`: its identity and metadata. What the server does with
/// it is its strategy, in [`registry::builtin`](crate::registry).
macro_rules! spec_status_resource {
    ($ty:ty, $kind:literal, $api_version:literal, $plural:literal, $singular:literal, [$($short:literal),*], $scope:ident) => {
        impl $crate::resource::Resource for $ty {
            const KIND: &'static str = $kind;
            const API_VERSION: &'static str = $api_version;
            const PLURAL: &'static str = $plural;
            const SINGULAR: &'static str = $singular;
            const SHORT_NAMES: &'static [&'static str] = &[$($short),*];
            const SCOPE: $crate::resource::Scope = $crate::resource::Scope::$scope;

            fn meta(&self) -> &$crate::meta::ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut $crate::meta::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use spec_status_resource;

/// Validates a pod-template-carrying workload's selector against its template labels.
pub(crate) fn check_selector_matches_template(
    selector: &crate::labels::LabelSelector,
    template: &PodTemplateSpec,
    field: &str,
    errors: &mut crate::validation::FieldErrors,
) {
    if selector.is_empty() {
        errors.push(format!("{field}.selector"), "must not be empty");
        return;
    }
    if let Err(e) = selector.validate(&format!("{field}.selector")) {
        errors.extend(e);
        return;
    }
    let labels = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    if !selector.matches(&labels) {
        errors.push(
            format!("{field}.template.metadata.labels"),
            "`selector` does not match template `labels`",
        );
    }
}

#[cfg(test)]
mod tests;

//! The strategies of the built-in kinds: each calls its kind's own `apply_defaults` and
//! `validate`, treats `spec` as the desired state and `status` as written apart, and
//! adds what Kubernetes' strategy for the kind adds — the pod's grace period, binding
//! and selectable fields, the workloads' `scale` subresource and immutable selector,
//! the event's fields, a lease's and an event's lack of status — and each kind's
//! strategic merge patch schema, from [`schemas`].

use crate::api::strategic_merge::{PatchSchema, schemas};
use crate::kinds::{
    ConditionStatus, Deployment, Event, HorizontalPodAutoscaler, Lease, Node, POD_SCHEDULED, Pod,
    PodStatus, ReplicaSet,
};
use crate::time::Time;
use crate::validation::FieldErrors;

use super::Registry;
use super::strategy::{ScaleView, Strategy, Subresource};

/// Registers every built-in kind with its strategy.
pub(super) fn register_all(registry: &Registry) {
    registry.register_with::<Pod, _>(PodStrategy);
    registry.register_with::<ReplicaSet, _>(ReplicaSetStrategy);
    registry.register_with::<Deployment, _>(DeploymentStrategy);
    registry.register_with::<Node, _>(NodeStrategy);
    registry.register_with::<Lease, _>(LeaseStrategy);
    registry.register_with::<HorizontalPodAutoscaler, _>(HpaStrategy);
    registry.register_with::<Event, _>(EventStrategy);
}

/// The methods every `{ metadata, spec, status }` kind shares.
macro_rules! spec_status_methods {
    ($ty:ty) => {
        fn defaults(&self, obj: &mut $ty) {
            obj.apply_defaults();
        }

        fn validate(&self, obj: &$ty) -> Result<(), FieldErrors> {
            obj.validate()
        }

        fn same_desired_state(&self, a: &$ty, b: &$ty) -> bool {
            a.spec == b.spec
        }

        fn set_status_from(&self, obj: &mut $ty, from: &$ty) {
            obj.status.clone_from(&from.status);
        }

        fn clear_status(&self, obj: &mut $ty) {
            obj.status = None;
        }
    };
}

/// Pods: grace periods for pods on a node, binding, and the field selectors agents
/// and schedulers use.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodStrategy;

impl Strategy<Pod> for PodStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::POD)
    }

    spec_status_methods!(Pod);

    /// A pod on a node gets the requested grace period, else its
    /// `terminationGracePeriodSeconds`, so its agent can stop the containers; a pod on
    /// no node has nothing to stop and goes at once, whatever was requested (as
    /// Kubernetes' pod strategy does).
    fn deletion_grace_seconds(&self, pod: &Pod, requested: Option<i64>) -> Option<i64> {
        pod.node_name()?;
        requested.or(pod.spec.termination_grace_period_seconds)
    }

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(&[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.schedulerName",
            "spec.restartPolicy",
            "status.phase",
            "status.podIP",
        ])
    }

    fn field_value(&self, pod: &Pod, path: &str) -> Option<String> {
        match path {
            "metadata.name" => pod.metadata.name.clone(),
            "metadata.namespace" => pod.metadata.namespace.clone(),
            "spec.nodeName" => pod.spec.node_name.clone(),
            "spec.schedulerName" => pod.spec.scheduler_name.clone(),
            "spec.restartPolicy" => pod.spec.restart_policy.map(|p| format!("{p:?}")),
            "status.phase" => Some(pod.phase().as_str().to_owned()),
            "status.podIP" => pod.status.as_ref()?.pod_ip.clone(),
            _ => None,
        }
    }

    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource::Binding]
    }

    fn bind(&self, pod: &mut Pod, node_name: &str, now: Time) -> Option<Result<(), String>> {
        if pod.metadata.is_being_deleted() {
            return Some(Err("the pod is being deleted".to_owned()));
        }
        if let Some(bound) = pod.node_name() {
            return Some(Err(format!("the pod is already bound to node {bound:?}")));
        }
        pod.spec.node_name = Some(node_name.to_owned());
        pod.status
            .get_or_insert_with(PodStatus::default)
            .set_condition(POD_SCHEDULED, ConditionStatus::True, None, None, now);
        Some(Ok(()))
    }
}

/// The selector of an apps/v1 workload may not change after creation.
fn selector_unchanged(
    new: &crate::labels::LabelSelector,
    old: &crate::labels::LabelSelector,
    errors: &mut FieldErrors,
) {
    if new != old {
        errors.push(
            "spec.selector",
            format!("field is immutable: {old} cannot become {new}"),
        );
    }
}

/// ReplicaSets: a `scale` subresource and an immutable selector.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplicaSetStrategy;

impl Strategy<ReplicaSet> for ReplicaSetStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::REPLICA_SET)
    }

    spec_status_methods!(ReplicaSet);

    fn validate_update(&self, new: &ReplicaSet, old: &ReplicaSet) -> Result<(), FieldErrors> {
        let mut errors = new.validate().err().unwrap_or_default();
        selector_unchanged(&new.spec.selector, &old.spec.selector, &mut errors);
        errors.into_result()
    }

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(&["metadata.name", "metadata.namespace", "status.replicas"])
    }

    fn field_value(&self, rs: &ReplicaSet, path: &str) -> Option<String> {
        match path {
            "metadata.name" => rs.metadata.name.clone(),
            "metadata.namespace" => rs.metadata.namespace.clone(),
            "status.replicas" => Some(rs.status.as_ref().map_or(0, |s| s.replicas).to_string()),
            _ => None,
        }
    }

    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource::Scale]
    }

    fn scale(&self, rs: &ReplicaSet) -> Option<ScaleView> {
        Some(ScaleView {
            replicas: rs.replicas(),
            status_replicas: rs.status.as_ref().map_or(0, |s| s.replicas),
            selector: rs.spec.selector.clone(),
        })
    }

    fn set_replicas(&self, rs: &mut ReplicaSet, replicas: i32) {
        rs.spec.replicas = Some(replicas);
    }
}

/// Deployments: a `scale` subresource and an immutable selector.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeploymentStrategy;

impl Strategy<Deployment> for DeploymentStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::DEPLOYMENT)
    }

    spec_status_methods!(Deployment);

    fn validate_update(&self, new: &Deployment, old: &Deployment) -> Result<(), FieldErrors> {
        let mut errors = new.validate().err().unwrap_or_default();
        selector_unchanged(&new.spec.selector, &old.spec.selector, &mut errors);
        errors.into_result()
    }

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(super::strategy::METADATA_FIELDS)
    }

    fn subresources(&self) -> &'static [Subresource] {
        &[Subresource::Scale]
    }

    fn scale(&self, d: &Deployment) -> Option<ScaleView> {
        Some(ScaleView {
            replicas: d.replicas(),
            status_replicas: d.status.as_ref().map_or(0, |s| s.replicas),
            selector: d.spec.selector.clone(),
        })
    }

    fn set_replicas(&self, d: &mut Deployment, replicas: i32) {
        d.spec.replicas = Some(replicas);
    }
}

/// Nodes: selectable by `spec.unschedulable`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeStrategy;

impl Strategy<Node> for NodeStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::NODE)
    }

    spec_status_methods!(Node);

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(&["metadata.name", "spec.unschedulable"])
    }

    fn field_value(&self, node: &Node, path: &str) -> Option<String> {
        match path {
            "metadata.name" => node.metadata.name.clone(),
            "spec.unschedulable" => Some(node.spec.unschedulable.to_string()),
            _ => None,
        }
    }
}

/// HorizontalPodAutoscalers.
#[derive(Clone, Copy, Debug, Default)]
pub struct HpaStrategy;

impl Strategy<HorizontalPodAutoscaler> for HpaStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::HORIZONTAL_POD_AUTOSCALER)
    }

    spec_status_methods!(HorizontalPodAutoscaler);

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(super::strategy::METADATA_FIELDS)
    }
}

/// Leases: all spec, no status.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeaseStrategy;

impl Strategy<Lease> for LeaseStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::METADATA_ONLY)
    }

    fn validate(&self, lease: &Lease) -> Result<(), FieldErrors> {
        lease.validate()
    }

    fn same_desired_state(&self, a: &Lease, b: &Lease) -> bool {
        a.spec == b.spec
    }

    fn has_status(&self) -> bool {
        false
    }

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(super::strategy::METADATA_FIELDS)
    }
}

/// Events: all record and no desired state (their generation never moves), no status,
/// selectable by the object they are about (as `kubectl describe` selects them).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventStrategy;

impl Strategy<Event> for EventStrategy {
    fn patch_schema(&self) -> Option<&'static PatchSchema> {
        Some(&schemas::METADATA_ONLY)
    }

    fn validate(&self, event: &Event) -> Result<(), FieldErrors> {
        event.validate()
    }

    fn same_desired_state(&self, _a: &Event, _b: &Event) -> bool {
        true
    }

    fn has_status(&self) -> bool {
        false
    }

    fn selectable_fields(&self) -> Option<&[&str]> {
        Some(&[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.apiVersion",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "reason",
            "type",
            "source",
            "reportingComponent",
        ])
    }

    fn field_value(&self, event: &Event, path: &str) -> Option<String> {
        let o = &event.involved_object;
        match path {
            "metadata.name" => event.metadata.name.clone(),
            "metadata.namespace" => event.metadata.namespace.clone(),
            "involvedObject.apiVersion" => o.api_version.clone(),
            "involvedObject.kind" => o.kind.clone(),
            "involvedObject.namespace" => o.namespace.clone(),
            "involvedObject.name" => o.name.clone(),
            "involvedObject.uid" => o.uid.clone(),
            "reason" => event.reason.clone(),
            "type" => event.type_.clone(),
            "source" => event.source.as_ref()?.component.clone(),
            "reportingComponent" => event.reporting_component.clone(),
            _ => None,
        }
    }
}

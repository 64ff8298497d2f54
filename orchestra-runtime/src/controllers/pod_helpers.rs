//! Small facts about pods that several controllers need: availability and the
//! pods a workload stamps out from its template.

use orchestra_core::kinds::{Pod, PodTemplateSpec};
use orchestra_core::{ObjectMeta, OwnerReference, Time};

/// Whether `pod` has been ready for at least `min_ready_seconds` at `now` (Kubernetes'
/// "available").
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    match pod.ready_since() {
        Some(since) => {
            min_ready_seconds <= 0 || now.since(since).as_secs_f64() >= f64::from(min_ready_seconds)
        }
        None => false,
    }
}

/// Whether `pod` still counts toward its owner's replicas: not finished and not being
/// deleted.
pub fn is_active(pod: &Pod) -> bool {
    !pod.is_terminal() && pod.metadata.deletion_timestamp.is_none()
}

/// A new pod from `template` in `namespace`, named `{prefix}-` plus a random suffix,
/// controlled by `owner`.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    prefix: &str,
    owner: OwnerReference,
) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            namespace: Some(namespace.to_owned()),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            owner_references: vec![owner],
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

//! The patch schemas of the built-in kinds, as the `patchStrategy` and `patchMergeKey`
//! tags of Kubernetes' Go types give them (`k8s.io/api` core/v1, apps/v1,
//! autoscaling/v2, coordination/v1; `k8s.io/apimachinery` meta/v1).
//!
//! They name the Kubernetes fields even where Orchestra's types do not have them yet
//! (`initContainers`, `volumes`…), so a patch written for Kubernetes merges here as it
//! would there. A list the Kubernetes type leaves untagged is atomic, and so absent
//! here: tolerations, a node's taints, `envFrom`, a pod's `containerStatuses`, an
//! autoscaler's `metrics`.

use super::{FieldStrategy, PatchSchema};

use FieldStrategy::PrimitiveSet;

const fn object(fields: &'static PatchSchema) -> FieldStrategy {
    FieldStrategy::object(fields)
}

const fn merge_on(key: &'static str, items: &'static PatchSchema) -> FieldStrategy {
    FieldStrategy::merge_by_key(key, items)
}

const EMPTY: &PatchSchema = &PatchSchema::EMPTY;

/// `metadata` (meta/v1 `ObjectMeta`): owner references merge on `uid`, finalizers are
/// a set.
pub static OBJECT_META: PatchSchema = PatchSchema::new(&[
    ("ownerReferences", merge_on("uid", EMPTY)),
    ("finalizers", PrimitiveSet),
]);

/// A container (core/v1 `Container`, and the common part of `EphemeralContainer`).
pub static CONTAINER: PatchSchema = PatchSchema::new(&[
    ("ports", merge_on("containerPort", EMPTY)),
    ("env", merge_on("name", EMPTY)),
    ("volumeMounts", merge_on("mountPath", EMPTY)),
    ("volumeDevices", merge_on("devicePath", EMPTY)),
]);

/// A pod's spec (core/v1 `PodSpec`).
pub static POD_SPEC: PatchSchema = PatchSchema::new(&[
    ("volumes", merge_on("name", EMPTY).retaining_keys()),
    ("initContainers", merge_on("name", &CONTAINER)),
    ("containers", merge_on("name", &CONTAINER)),
    ("ephemeralContainers", merge_on("name", &CONTAINER)),
    ("imagePullSecrets", merge_on("name", EMPTY)),
    ("hostAliases", merge_on("ip", EMPTY)),
    ("topologySpreadConstraints", merge_on("topologyKey", EMPTY)),
    ("schedulingGates", merge_on("name", EMPTY)),
    ("resourceClaims", merge_on("name", EMPTY).retaining_keys()),
]);

/// A container's status (core/v1 `ContainerStatus`).
pub static CONTAINER_STATUS: PatchSchema = PatchSchema::new(&[
    ("volumeMounts", merge_on("mountPath", EMPTY)),
    ("allocatedResourcesStatus", merge_on("name", EMPTY)),
]);

/// A pod's status (core/v1 `PodStatus`): conditions merge on `type`; the container
/// statuses are atomic.
pub static POD_STATUS: PatchSchema = PatchSchema::new(&[
    ("conditions", merge_on("type", EMPTY)),
    (
        "resourceClaimStatuses",
        merge_on("name", EMPTY).retaining_keys(),
    ),
]);

/// A pod template (core/v1 `PodTemplateSpec`).
pub static POD_TEMPLATE_SPEC: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("spec", object(&POD_SPEC)),
]);

/// `Pod` (core/v1).
pub static POD: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("spec", object(&POD_SPEC)),
    ("status", object(&POD_STATUS)),
]);

/// A workload's status with conditions merged on `type` (apps/v1 `DeploymentStatus`
/// and `ReplicaSetStatus`, autoscaling/v2 `HorizontalPodAutoscalerStatus`).
pub static CONDITIONS_STATUS: PatchSchema =
    PatchSchema::new(&[("conditions", merge_on("type", EMPTY))]);

/// A deployment's spec (apps/v1 `DeploymentSpec`): `strategy` is `retainKeys`.
pub static DEPLOYMENT_SPEC: PatchSchema = PatchSchema::new(&[
    ("template", object(&POD_TEMPLATE_SPEC)),
    ("strategy", object(EMPTY).retaining_keys()),
]);

/// `Deployment` (apps/v1).
pub static DEPLOYMENT: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("spec", object(&DEPLOYMENT_SPEC)),
    ("status", object(&CONDITIONS_STATUS)),
]);

/// A replica set's spec (apps/v1 `ReplicaSetSpec`).
pub static REPLICA_SET_SPEC: PatchSchema =
    PatchSchema::new(&[("template", object(&POD_TEMPLATE_SPEC))]);

/// `ReplicaSet` (apps/v1).
pub static REPLICA_SET: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("spec", object(&REPLICA_SET_SPEC)),
    ("status", object(&CONDITIONS_STATUS)),
]);

/// A node's status (core/v1 `NodeStatus`): conditions and addresses merge on `type`.
pub static NODE_STATUS: PatchSchema = PatchSchema::new(&[
    ("conditions", merge_on("type", EMPTY)),
    ("addresses", merge_on("type", EMPTY)),
]);

/// `Node` (core/v1): the spec's taints and pod CIDRs are atomic.
pub static NODE: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("status", object(&NODE_STATUS)),
]);

/// `HorizontalPodAutoscaler` (autoscaling/v2): the spec's metrics are atomic.
pub static HORIZONTAL_POD_AUTOSCALER: PatchSchema = PatchSchema::new(&[
    ("metadata", object(&OBJECT_META)),
    ("status", object(&CONDITIONS_STATUS)),
]);

/// A kind whose only tagged fields are its metadata's: `Lease` (coordination/v1) and
/// `Event` (core/v1).
pub static METADATA_ONLY: PatchSchema = PatchSchema::new(&[("metadata", object(&OBJECT_META))]);

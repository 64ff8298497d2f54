//! The schemas of the Kubernetes messages this server decodes: field numbers from
//! the `generated.proto` files of k8s.io/apimachinery and k8s.io/api, JSON names and
//! zero rules from the Go types (a `Zero::Keep` scalar is a Go pointer, or a field
//! Go's JSON writes even when zero).
//!
//! The schemas cover every field Orchestra's kinds store and the common ones beside
//! them; a field not listed (volumes, security contexts, status) is skipped, as the
//! JSON path's decoding into Orchestra's kinds drops it too. Statuses are left out on
//! purpose: a protobuf body never replaces a status (see `rest.rs`).

use super::decode::{Field, Kind, Message, Zero, field};

use Kind::{
    Bool, Embedded, Int32, Int64, IntOrString, Messages, Quantity, QuantityMap, StringMap, Strings,
    Time,
};

const fn string(number: u32, json: &'static str) -> Field {
    field(number, json, Kind::String)
}

const fn message(number: u32, json: &'static str, schema: &'static Message) -> Field {
    field(number, json, Kind::Message(schema))
}

/// The schema of the top-level kind `apiVersion`/`kind`, if this server decodes it.
pub(crate) fn schema(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "Pod") => &POD,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        ("apps/v1", "ReplicaSet") => &REPLICA_SET,
        ("autoscaling/v1", "HorizontalPodAutoscaler") => &HPA_V1,
        ("autoscaling/v2", "HorizontalPodAutoscaler") => &HPA_V2,
        _ => return None,
    })
}

// k8s.io/apimachinery/pkg/apis/meta/v1

/// `DeleteOptions`, the body of a delete (kubectl drain sends it as protobuf).
pub(crate) static DELETE_OPTIONS: Message = Message {
    fields: &[
        field(1, "gracePeriodSeconds", Int64(Zero::Keep)),
        field(2, "preconditions", Kind::Message(&PRECONDITIONS)),
        field(3, "orphanDependents", Bool(Zero::Keep)),
        string(4, "propagationPolicy"),
        field(5, "dryRun", Kind::Strings),
    ],
};

static PRECONDITIONS: Message = Message {
    fields: &[string(1, "uid"), string(2, "resourceVersion")],
};

pub(crate) static OBJECT_META: Message = Message {
    fields: &[
        string(1, "name"),
        string(2, "generateName"),
        string(3, "namespace"),
        string(5, "uid"),
        string(6, "resourceVersion"),
        field(7, "generation", Int64(Zero::Omit)),
        field(8, "creationTimestamp", Time),
        field(9, "deletionTimestamp", Time),
        field(10, "deletionGracePeriodSeconds", Int64(Zero::Keep)),
        field(11, "labels", StringMap),
        field(12, "annotations", StringMap),
        field(13, "ownerReferences", Messages(&OWNER_REFERENCE)),
        field(14, "finalizers", Strings),
    ],
};

static OWNER_REFERENCE: Message = Message {
    fields: &[
        string(5, "apiVersion"),
        string(1, "kind"),
        string(3, "name"),
        string(4, "uid"),
        field(6, "controller", Bool(Zero::Keep)),
        field(7, "blockOwnerDeletion", Bool(Zero::Keep)),
    ],
};

pub(crate) static LABEL_SELECTOR: Message = Message {
    fields: &[
        field(1, "matchLabels", StringMap),
        field(2, "matchExpressions", Messages(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    fields: &[
        string(1, "key"),
        string(2, "operator"),
        field(3, "values", Strings),
    ],
};

// k8s.io/api/core/v1

static POD: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &POD_SPEC),
    ],
};

pub(crate) static POD_TEMPLATE_SPEC: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &POD_SPEC),
    ],
};

static POD_SPEC: Message = Message {
    fields: &[
        field(20, "initContainers", Messages(&CONTAINER)),
        field(2, "containers", Messages(&CONTAINER)),
        string(3, "restartPolicy"),
        field(4, "terminationGracePeriodSeconds", Int64(Zero::Keep)),
        field(5, "activeDeadlineSeconds", Int64(Zero::Keep)),
        string(6, "dnsPolicy"),
        field(7, "nodeSelector", StringMap),
        string(8, "serviceAccountName"),
        string(9, "serviceAccount"),
        field(21, "automountServiceAccountToken", Bool(Zero::Keep)),
        string(10, "nodeName"),
        field(11, "hostNetwork", Bool(Zero::Omit)),
        field(12, "hostPID", Bool(Zero::Omit)),
        field(13, "hostIPC", Bool(Zero::Omit)),
        field(27, "shareProcessNamespace", Bool(Zero::Keep)),
        field(15, "imagePullSecrets", Messages(&LOCAL_OBJECT_REFERENCE)),
        string(16, "hostname"),
        string(17, "subdomain"),
        message(18, "affinity", &AFFINITY),
        string(19, "schedulerName"),
        field(22, "tolerations", Messages(&TOLERATION)),
        string(24, "priorityClassName"),
        field(25, "priority", Int32(Zero::Keep)),
        string(29, "runtimeClassName"),
        field(30, "enableServiceLinks", Bool(Zero::Keep)),
        string(31, "preemptionPolicy"),
        field(
            33,
            "topologySpreadConstraints",
            Messages(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        field(35, "setHostnameAsFQDN", Bool(Zero::Keep)),
        field(37, "hostUsers", Bool(Zero::Keep)),
    ],
};

static LOCAL_OBJECT_REFERENCE: Message = Message {
    fields: &[string(1, "name")],
};

static CONTAINER: Message = Message {
    fields: &[
        string(1, "name"),
        string(2, "image"),
        field(3, "command", Strings),
        field(4, "args", Strings),
        string(5, "workingDir"),
        field(6, "ports", Messages(&CONTAINER_PORT)),
        field(7, "env", Messages(&ENV_VAR)),
        message(8, "resources", &RESOURCE_REQUIREMENTS),
        string(24, "restartPolicy"),
        message(10, "livenessProbe", &PROBE),
        message(11, "readinessProbe", &PROBE),
        message(22, "startupProbe", &PROBE),
        string(13, "terminationMessagePath"),
        string(20, "terminationMessagePolicy"),
        string(14, "imagePullPolicy"),
        field(16, "stdin", Bool(Zero::Omit)),
        field(17, "stdinOnce", Bool(Zero::Omit)),
        field(18, "tty", Bool(Zero::Omit)),
    ],
};

static CONTAINER_PORT: Message = Message {
    fields: &[
        string(1, "name"),
        field(2, "hostPort", Int32(Zero::Omit)),
        field(3, "containerPort", Int32(Zero::Keep)),
        string(4, "protocol"),
        string(5, "hostIP"),
    ],
};

static ENV_VAR: Message = Message {
    fields: &[string(1, "name"), string(2, "value")],
};

static RESOURCE_REQUIREMENTS: Message = Message {
    fields: &[
        field(1, "limits", QuantityMap),
        field(2, "requests", QuantityMap),
    ],
};

static PROBE: Message = Message {
    fields: &[
        field(1, "handler", Embedded(&PROBE_HANDLER)),
        field(2, "initialDelaySeconds", Int32(Zero::Omit)),
        field(3, "timeoutSeconds", Int32(Zero::Omit)),
        field(4, "periodSeconds", Int32(Zero::Omit)),
        field(5, "successThreshold", Int32(Zero::Omit)),
        field(6, "failureThreshold", Int32(Zero::Omit)),
        field(7, "terminationGracePeriodSeconds", Int64(Zero::Keep)),
    ],
};

static PROBE_HANDLER: Message = Message {
    fields: &[
        message(1, "exec", &EXEC_ACTION),
        message(2, "httpGet", &HTTP_GET_ACTION),
        message(3, "tcpSocket", &TCP_SOCKET_ACTION),
    ],
};

static EXEC_ACTION: Message = Message {
    fields: &[field(1, "command", Strings)],
};

static HTTP_GET_ACTION: Message = Message {
    fields: &[
        string(1, "path"),
        field(2, "port", IntOrString),
        string(3, "host"),
        string(4, "scheme"),
    ],
};

static TCP_SOCKET_ACTION: Message = Message {
    fields: &[field(1, "port", IntOrString), string(2, "host")],
};

static AFFINITY: Message = Message {
    fields: &[message(1, "nodeAffinity", &NODE_AFFINITY)],
};

static NODE_AFFINITY: Message = Message {
    fields: &[
        message(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            &NODE_SELECTOR,
        ),
        field(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Messages(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

static NODE_SELECTOR: Message = Message {
    fields: &[field(1, "nodeSelectorTerms", Messages(&NODE_SELECTOR_TERM))],
};

static NODE_SELECTOR_TERM: Message = Message {
    fields: &[
        field(1, "matchExpressions", Messages(&NODE_SELECTOR_REQUIREMENT)),
        field(2, "matchFields", Messages(&NODE_SELECTOR_REQUIREMENT)),
    ],
};

static NODE_SELECTOR_REQUIREMENT: Message = Message {
    fields: &[
        string(1, "key"),
        string(2, "operator"),
        field(3, "values", Strings),
    ],
};

static PREFERRED_SCHEDULING_TERM: Message = Message {
    fields: &[
        field(1, "weight", Int32(Zero::Keep)),
        message(2, "preference", &NODE_SELECTOR_TERM),
    ],
};

static TOLERATION: Message = Message {
    fields: &[
        string(1, "key"),
        string(2, "operator"),
        string(3, "value"),
        string(4, "effect"),
        field(5, "tolerationSeconds", Int64(Zero::Keep)),
    ],
};

static TOPOLOGY_SPREAD_CONSTRAINT: Message = Message {
    fields: &[
        field(1, "maxSkew", Int32(Zero::Keep)),
        string(2, "topologyKey"),
        string(3, "whenUnsatisfiable"),
        message(4, "labelSelector", &LABEL_SELECTOR),
        field(5, "minDomains", Int32(Zero::Keep)),
        string(6, "nodeAffinityPolicy"),
        string(7, "nodeTaintsPolicy"),
        field(8, "matchLabelKeys", Strings),
    ],
};

// k8s.io/api/apps/v1

static DEPLOYMENT: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &DEPLOYMENT_SPEC),
    ],
};

static DEPLOYMENT_SPEC: Message = Message {
    fields: &[
        field(1, "replicas", Int32(Zero::Keep)),
        message(2, "selector", &LABEL_SELECTOR),
        message(3, "template", &POD_TEMPLATE_SPEC),
        message(4, "strategy", &DEPLOYMENT_STRATEGY),
        field(5, "minReadySeconds", Int32(Zero::Omit)),
        field(6, "revisionHistoryLimit", Int32(Zero::Keep)),
        field(7, "paused", Bool(Zero::Omit)),
        field(9, "progressDeadlineSeconds", Int32(Zero::Keep)),
    ],
};

static DEPLOYMENT_STRATEGY: Message = Message {
    fields: &[
        string(1, "type"),
        message(2, "rollingUpdate", &ROLLING_UPDATE_DEPLOYMENT),
    ],
};

static ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    fields: &[
        field(1, "maxUnavailable", IntOrString),
        field(2, "maxSurge", IntOrString),
    ],
};

static REPLICA_SET: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &REPLICA_SET_SPEC),
    ],
};

static REPLICA_SET_SPEC: Message = Message {
    fields: &[
        field(1, "replicas", Int32(Zero::Keep)),
        field(4, "minReadySeconds", Int32(Zero::Omit)),
        message(2, "selector", &LABEL_SELECTOR),
        message(3, "template", &POD_TEMPLATE_SPEC),
    ],
};

// k8s.io/api/autoscaling/v1 and v2

static HPA_V1: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &HPA_V1_SPEC),
    ],
};

static HPA_V1_SPEC: Message = Message {
    fields: &[
        message(1, "scaleTargetRef", &CROSS_VERSION_OBJECT_REFERENCE),
        field(2, "minReplicas", Int32(Zero::Keep)),
        field(3, "maxReplicas", Int32(Zero::Keep)),
        field(4, "targetCPUUtilizationPercentage", Int32(Zero::Keep)),
    ],
};

static CROSS_VERSION_OBJECT_REFERENCE: Message = Message {
    fields: &[
        string(1, "kind"),
        string(2, "name"),
        string(3, "apiVersion"),
    ],
};

static HPA_V2: Message = Message {
    fields: &[
        message(1, "metadata", &OBJECT_META),
        message(2, "spec", &HPA_V2_SPEC),
    ],
};

static HPA_V2_SPEC: Message = Message {
    fields: &[
        message(1, "scaleTargetRef", &CROSS_VERSION_OBJECT_REFERENCE),
        field(2, "minReplicas", Int32(Zero::Keep)),
        field(3, "maxReplicas", Int32(Zero::Keep)),
        field(4, "metrics", Messages(&METRIC_SPEC)),
        message(5, "behavior", &HPA_BEHAVIOR),
    ],
};

static METRIC_SPEC: Message = Message {
    fields: &[
        string(1, "type"),
        message(2, "object", &OBJECT_METRIC_SOURCE),
        message(3, "pods", &PODS_METRIC_SOURCE),
        message(4, "resource", &RESOURCE_METRIC_SOURCE),
        message(7, "containerResource", &CONTAINER_RESOURCE_METRIC_SOURCE),
        message(5, "external", &EXTERNAL_METRIC_SOURCE),
    ],
};

static OBJECT_METRIC_SOURCE: Message = Message {
    fields: &[
        message(1, "describedObject", &CROSS_VERSION_OBJECT_REFERENCE),
        message(2, "target", &METRIC_TARGET),
        message(3, "metric", &METRIC_IDENTIFIER),
    ],
};

static PODS_METRIC_SOURCE: Message = Message {
    fields: &[
        message(1, "metric", &METRIC_IDENTIFIER),
        message(2, "target", &METRIC_TARGET),
    ],
};

static RESOURCE_METRIC_SOURCE: Message = Message {
    fields: &[string(1, "name"), message(2, "target", &METRIC_TARGET)],
};

static CONTAINER_RESOURCE_METRIC_SOURCE: Message = Message {
    fields: &[
        string(1, "name"),
        message(2, "target", &METRIC_TARGET),
        string(3, "container"),
    ],
};

static EXTERNAL_METRIC_SOURCE: Message = Message {
    fields: &[
        message(1, "metric", &METRIC_IDENTIFIER),
        message(2, "target", &METRIC_TARGET),
    ],
};

static METRIC_IDENTIFIER: Message = Message {
    fields: &[string(1, "name"), message(2, "selector", &LABEL_SELECTOR)],
};

static METRIC_TARGET: Message = Message {
    fields: &[
        string(1, "type"),
        field(2, "value", Quantity),
        field(3, "averageValue", Quantity),
        field(4, "averageUtilization", Int32(Zero::Keep)),
    ],
};

static HPA_BEHAVIOR: Message = Message {
    fields: &[
        message(1, "scaleUp", &HPA_SCALING_RULES),
        message(2, "scaleDown", &HPA_SCALING_RULES),
    ],
};

static HPA_SCALING_RULES: Message = Message {
    fields: &[
        field(3, "stabilizationWindowSeconds", Int32(Zero::Keep)),
        string(1, "selectPolicy"),
        field(2, "policies", Messages(&HPA_SCALING_POLICY)),
        field(4, "tolerance", Quantity),
    ],
};

static HPA_SCALING_POLICY: Message = Message {
    fields: &[
        string(1, "type"),
        field(2, "value", Int32(Zero::Keep)),
        field(3, "periodSeconds", Int32(Zero::Keep)),
    ],
};

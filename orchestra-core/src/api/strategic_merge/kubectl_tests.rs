//! The bodies kubectl and a node agent send, applied with the built-in kinds' schemas
//! to the JSON of real objects.

use serde_json::{Value, json};

use super::*;
use crate::kinds::Deployment;

/// A deployment as `kubectl create deployment my-web-server --image=web-server:1`
/// and the registry leave it.
fn web_server_deployment() -> Value {
    json!({
        "metadata": {
            "name": "my-web-server",
            "namespace": "default",
            "uid": "8f7c1a2e-0000-4000-8000-000000000001",
            "resourceVersion": "12",
            "generation": 1,
            "labels": {"app": "my-web-server"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "my-web-server"}},
            "template": {
                "metadata": {"labels": {"app": "my-web-server"}},
                "spec": {
                    "containers": [{
                        "name": "web-server",
                        "image": "web-server:1",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "prod"}],
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    })
}

fn deployment_patch(original: Value, patch: &Value) -> Value {
    let mut doc = original;
    apply_strategic_merge_patch(&mut doc, patch, &schemas::DEPLOYMENT).unwrap();
    let typed: Deployment = serde_json::from_value(doc.clone()).expect("still a deployment");
    assert_eq!(typed.metadata.name.as_deref(), Some("my-web-server"));
    doc
}

#[test]
fn kubectl_set_image() {
    let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"web-server"}],
        "containers":[{"image":"web-server:2","name":"web-server"}]}}}});
    let got = deployment_patch(web_server_deployment(), &patch);
    let mut want = web_server_deployment();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web-server:2");
    assert_eq!(
        got, want,
        "only the image changed; ports, env and the rest stay"
    );
}

#[test]
fn kubectl_set_image_keeps_the_other_containers_in_place() {
    let mut original = web_server_deployment();
    original["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "log-agent", "image": "agent:1"},
        {"name": "web-server", "image": "web-server:1"},
        {"name": "proxy", "image": "proxy:1"},
    ]);
    let patch = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"log-agent"},{"name":"web-server"},{"name":"proxy"}],
        "containers":[{"image":"web-server:2","name":"web-server"}]}}}});
    let got = deployment_patch(original, &patch);
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "log-agent", "image": "agent:1"},
            {"name": "web-server", "image": "web-server:2"},
            {"name": "proxy", "image": "proxy:1"},
        ])
    );
}

#[test]
fn kubectl_apply_second_time() {
    let last_applied = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"my-web-server","namespace":"default"},"spec":{"replicas":5,"selector":{"matchLabels":{"app":"my-web-server"}},"template":{"metadata":{"labels":{"app":"my-web-server"}},"spec":{"containers":[{"image":"web-server:2","name":"web-server"}]}}}}"#;
    let patch = json!({
        "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":last_applied}},
        "spec":{"replicas":5,"template":{"spec":{
            "$setElementOrder/containers":[{"name":"web-server"}],
            "containers":[{"image":"web-server:2","name":"web-server"}]}}}});
    let got = deployment_patch(web_server_deployment(), &patch);
    let mut want = web_server_deployment();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!(last_applied);
    want["spec"]["replicas"] = json!(5);
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web-server:2");
    assert_eq!(got, want);
}

#[test]
fn kubectl_apply_switching_to_recreate() {
    let patch = json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}});
    let got = deployment_patch(web_server_deployment(), &patch);
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn kubectl_apply_removing_an_env_var_and_a_port() {
    let patch = json!({"spec":{"template":{"spec":{
    "$setElementOrder/containers":[{"name":"web-server"}],
    "containers":[{
        "name":"web-server",
        "$setElementOrder/env":[{"name":"LEVEL"}],
        "env":[{"name":"LEVEL","value":"debug"},{"$patch":"delete","name":"MODE"}],
        "ports":[{"$patch":"delete","containerPort":8080}],
    }]}}}});
    let got = deployment_patch(web_server_deployment(), &patch);
    let container = &got["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"],
        json!([{"name": "LEVEL", "value": "debug"}])
    );
    assert_eq!(container["ports"], json!([]));
}

#[test]
fn status_conditions_merge_on_type() {
    let patch = json!({"status":{
        "$setElementOrder/conditions":[{"type":"Available"},{"type":"Progressing"}],
        "conditions":[{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable"}]}});
    let got = deployment_patch(web_server_deployment(), &patch);
    assert_eq!(
        got["status"]["conditions"],
        json!([
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ])
    );
}

#[test]
fn finalizers_and_owner_references() {
    let mut pod = json!({"metadata": {
        "name": "p",
        "finalizers": ["a", "b"],
        "ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}],
    }});
    let patch = json!({"metadata": {
        "finalizers": ["c"],
        "$deleteFromPrimitiveList/finalizers": ["a"],
        "ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "kind": "Job", "name": "j"}],
    }});
    apply_strategic_merge_patch(&mut pod, &patch, &schemas::POD).unwrap();
    assert_eq!(
        pod["metadata"],
        json!({
            "name": "p",
            "finalizers": ["c", "b"],
            "ownerReferences": [
                {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": true},
                {"uid": "2", "kind": "Job", "name": "j"},
            ],
        })
    );
}

#[test]
fn the_schemas_follow_the_kubernetes_tags() {
    let list_key = |schema: &PatchSchema, field: &str| match schema.field(field) {
        Some(FieldStrategy::MergeByKey { key, .. }) => Some(*key),
        _ => None,
    };
    assert_eq!(list_key(&schemas::POD_SPEC, "containers"), Some("name"));
    assert_eq!(list_key(&schemas::POD_SPEC, "volumes"), Some("name"));
    assert!(schemas::POD_SPEC.field("volumes").unwrap().retains_keys());
    assert_eq!(list_key(&schemas::POD_SPEC, "tolerations"), None, "atomic");
    assert_eq!(
        list_key(&schemas::CONTAINER, "ports"),
        Some("containerPort")
    );
    assert_eq!(
        list_key(&schemas::CONTAINER, "volumeMounts"),
        Some("mountPath")
    );
    assert_eq!(list_key(&schemas::CONTAINER, "envFrom"), None, "atomic");
    assert_eq!(list_key(&schemas::NODE_STATUS, "addresses"), Some("type"));
    assert!(schemas::NODE.field("spec").is_none(), "taints are atomic");
    assert_eq!(
        list_key(&schemas::OBJECT_META, "ownerReferences"),
        Some("uid")
    );
    assert!(matches!(
        schemas::OBJECT_META.field("finalizers"),
        Some(FieldStrategy::PrimitiveSet)
    ));
    assert!(
        schemas::DEPLOYMENT_SPEC
            .field("strategy")
            .unwrap()
            .retains_keys()
    );
}

#[test]
fn kubectl_apply_switching_a_volume_source() {
    let mut pod = json!({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i",
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [
            {"name": "data", "emptyDir": {"medium": "Memory"}},
            {"name": "cache", "emptyDir": {}},
        ],
    }});
    let patch = json!({"spec": {
        "$setElementOrder/volumes": [{"name": "data"}, {"name": "cache"}],
        "volumes": [{"$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/srv"}, "name": "data"}],
        "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}],
    }});
    apply_strategic_merge_patch(&mut pod, &patch, &schemas::POD).unwrap();
    assert_eq!(
        pod["spec"]["volumes"],
        json!([
            {"name": "data", "hostPath": {"path": "/srv"}},
            {"name": "cache", "emptyDir": {}},
        ])
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data", "readOnly": true}]),
        "volume mounts merge on mountPath"
    );
}

#[test]
fn node_addresses_merge_and_taints_are_replaced() {
    let mut node = json!({"metadata": {"name": "n"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}]}});
    let patch = json!({
        "spec": {"taints": [{"key": "c", "effect": "NoExecute"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]},
    });
    apply_strategic_merge_patch(&mut node, &patch, &schemas::NODE).unwrap();
    assert_eq!(
        node["spec"]["taints"],
        json!([{"key": "c", "effect": "NoExecute"}])
    );
    assert_eq!(
        node["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n"}])
    );
}

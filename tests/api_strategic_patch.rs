//! Strategic merge patches through the typed API over a MemoryStore: the bodies kubectl
//! sends for a deployment, a node agent's status patch of a pod, and the refusals — a
//! user kind has no patch schema (415, as a custom resource in Kubernetes), a bad
//! directive is a bad request — which leave the store unchanged.

mod common;

use common::{Widget, memory_client};
use orchestra::core::api::Patch;
use orchestra::core::kinds::{ConditionStatus, Deployment, Pod};
use orchestra::core::{Api, ApiError};
use serde_json::json;

fn web_server() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "my-web-server", "labels": {"app": "my-web-server"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "my-web-server"}},
            "template": {
                "metadata": {"labels": {"app": "my-web-server"}},
                "spec": {"containers": [
                    {"name": "web-server", "image": "web-server:1",
                     "ports": [{"containerPort": 8080}],
                     "env": [{"name": "MODE", "value": "prod"}]},
                    {"name": "log-agent", "image": "agent:1"},
                ]},
            },
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn kubectl_set_image_and_apply() {
    let (client, _) = memory_client();
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let created = deployments.create(&web_server()).await.unwrap();

    let set_image = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"web-server"},{"name":"log-agent"}],
        "containers":[{"image":"web-server:2","name":"web-server"}]}}}});
    let patched = deployments
        .patch_with("my-web-server", &Patch::Strategic(set_image))
        .await
        .unwrap();
    let containers = &patched.spec.template.spec.containers;
    assert_eq!(containers.len(), 2, "the other container stays");
    assert_eq!(containers[0].image, "web-server:2");
    assert_eq!(containers[0].ports[0].container_port, 8080, "ports stay");
    assert_eq!(containers[0].env[0].value, "prod", "env stays");
    assert_eq!(containers[1].image, "agent:1");
    assert_eq!(patched.metadata.generation, Some(2));

    let apply = json!({
        "metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},
        "spec":{"replicas":5,"template":{"spec":{
            "$setElementOrder/containers":[{"name":"web-server"},{"name":"log-agent"}],
            "containers":[{"image":"web-server:2","name":"web-server"}]}}}});
    let applied = deployments
        .patch_with("my-web-server", &Patch::Strategic(apply))
        .await
        .unwrap();
    assert_eq!(applied.spec.replicas, Some(5));
    assert_eq!(
        applied.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"],
        "{}"
    );
    assert_eq!(applied.spec.template, patched.spec.template);
    assert_eq!(applied.metadata.uid, created.metadata.uid);
}

#[tokio::test]
async fn a_status_patch_merges_conditions_on_type() {
    let (client, _) = memory_client();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }))
    .unwrap();
    pods.create(&pod).await.unwrap();
    pods.patch_status_with(
        "p",
        &Patch::Strategic(json!({"status": {"conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "False"},
        ]}})),
    )
    .await
    .unwrap();
    let patched = pods
        .patch_status_with(
            "p",
            &Patch::Strategic(json!({"status": {
                "$setElementOrder/conditions": [{"type": "Initialized"}, {"type": "Ready"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }})),
        )
        .await
        .unwrap();
    let conditions = &patched.status.unwrap().conditions;
    assert_eq!(conditions.len(), 2, "{conditions:?}");
    assert_eq!(conditions[0].type_, "Initialized");
    assert_eq!(conditions[1].type_, "Ready");
    assert_eq!(conditions[1].status, ConditionStatus::True);
}

#[tokio::test]
async fn refusals_write_nothing() {
    let (client, store) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    widgets.create(&Widget::new("a", 1)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    deployments.create(&web_server()).await.unwrap();
    let before = store.current_revision().await.unwrap();

    let err = widgets
        .patch_with("a", &Patch::Strategic(json!({"spec": {"size": 2}})))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::UnsupportedMediaType(_)), "{err}");
    assert_eq!(err.code(), 415);
    assert!(
        err.to_string().contains("application/merge-patch+json"),
        "names the patch types it takes: {err}"
    );

    for bad in [
        json!({"spec": {"$replaceAll": true}}),
        json!({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
        json!(["not", "an", "object"]),
    ] {
        let err = deployments
            .patch_with("my-web-server", &Patch::Strategic(bad.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(_)), "{bad}: {err}");
    }
    assert_eq!(store.current_revision().await.unwrap(), before);
}

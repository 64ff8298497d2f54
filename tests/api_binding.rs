//! `Api<Pod>::bind`: the scheduler's one write, at most once per pod.

mod common;

use orchestra::core::kinds::{ConditionStatus, POD_SCHEDULED, Pod, PodStatus};
use orchestra::core::{Api, ApiError, DeleteParams, ObjectMeta};

fn pod(name: &str) -> Pod {
    let mut pod = Pod {
        metadata: ObjectMeta::named(name),
        ..Default::default()
    };
    pod.spec = common::web_template("web:1").spec;
    pod
}

#[tokio::test]
async fn bind_sets_the_node_and_the_scheduled_condition_in_one_write() {
    let (client, store) = common::memory_client();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let created = pods.create(&pod("a")).await.unwrap();
    let before = store.current_revision().await.unwrap();

    let bound = pods.bind(&created, "node-1").await.unwrap();

    assert_eq!(bound.node_name(), Some("node-1"));
    let scheduled = bound.condition(POD_SCHEDULED).expect("PodScheduled is set");
    assert_eq!(scheduled.status, ConditionStatus::True);
    assert_eq!(
        store.current_revision().await.unwrap(),
        before + 1,
        "one write"
    );
    assert_eq!(pods.get("a").await.unwrap().node_name(), Some("node-1"));
}

#[tokio::test]
async fn a_pod_is_never_bound_twice() {
    let (client, _) = common::memory_client();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let created = pods.create(&pod("a")).await.unwrap();
    pods.bind(&created, "node-1").await.unwrap();

    let again = pods.bind(&created, "node-2").await.unwrap_err();

    assert!(again.is_conflict(), "{again}");
    assert!(
        again
            .to_string()
            .contains("already bound to node \"node-1\""),
        "{again}"
    );
    assert_eq!(pods.get("a").await.unwrap().node_name(), Some("node-1"));
}

#[tokio::test]
async fn a_status_write_in_between_does_not_fail_the_bind() {
    let (client, _) = common::memory_client();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let created = pods.create(&pod("a")).await.unwrap();
    let mut status = created.clone();
    status.status = Some(PodStatus {
        message: Some("waiting".into()),
        ..Default::default()
    });
    pods.update_status(&status).await.unwrap();

    let bound = pods.bind(&created, "node-1").await.unwrap();

    assert_eq!(bound.node_name(), Some("node-1"));
    assert_eq!(
        bound.status.unwrap().message.as_deref(),
        Some("waiting"),
        "the status written in between is kept"
    );
}

#[tokio::test]
async fn binding_a_deleted_recreated_or_terminating_pod_fails_clearly() {
    let (client, _) = common::memory_client();
    let pods: Api<Pod> = Api::default_namespaced(client);

    let gone = pods.create(&pod("gone")).await.unwrap();
    pods.delete("gone", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(matches!(
        pods.bind(&gone, "node-1").await,
        Err(ApiError::NotFound(_))
    ));

    let old = pods.create(&pod("again")).await.unwrap();
    pods.delete("again", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    pods.create(&pod("again")).await.unwrap();
    let err = pods.bind(&old, "node-1").await.unwrap_err();
    assert!(err.to_string().contains("re-created"), "{err}");

    // An unbound pod is deleted at once, so a finalizer keeps this one terminating.
    let mut held = pod("terminating");
    held.metadata.finalizers.push("example.dev/hold".into());
    let terminating = pods.create(&held).await.unwrap();
    pods.delete("terminating", &DeleteParams::default())
        .await
        .unwrap();
    let err = pods.bind(&terminating, "node-1").await.unwrap_err();
    assert!(err.to_string().contains("being deleted"), "{err}");

    let err = pods.bind(&terminating, "").await.unwrap_err();
    assert!(err.to_string().contains("empty node name"), "{err}");
}

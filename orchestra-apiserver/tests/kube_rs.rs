//! kube-rs as the client: typed CRUD, the scale subresource, and its watcher and
//! reflector (in both list-then-watch and streaming-list mode) over the server.

mod common;

use std::time::Duration;

use common::TestServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

async fn client(server: &TestServer) -> kube::Client {
    let config = kube::Config::new(server.url().parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web-server:1"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn typed_crud_and_scale() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let created = pods
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let got = pods.get("web").await.unwrap();
    assert_eq!(
        got.metadata.resource_version,
        created.metadata.resource_version
    );
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    let patched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["tier"], "front");
    let strategic = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"spec": {"containers": [{"name": "web", "image": "web-server:2"}]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        strategic.spec.unwrap().containers[0].image.as_deref(),
        Some("web-server:2")
    );

    let missing = pods.get("nosuch").await.unwrap_err();
    match missing {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
        }
        other => panic!("{other:?}"),
    }
    let duplicate = pods
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, kube::Error::Api(ref s) if s.code == 409),
        "{duplicate:?}"
    );

    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "site"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "site"}},
            "template": {"metadata": {"labels": {"app": "site"}}, "spec": {"containers": [{"name": "site", "image": "web-server:1"}]}}
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let scale = deployments
        .patch_scale(
            "site",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(9));
    let scale = deployments.get_scale("site").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(9));

    pods.delete("web", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(pods.get_opt("web").await.unwrap().is_none());
    server.stop().await;
}

/// A reflector's store fills from the list (or the streaming list) and follows the
/// changes made after it.
async fn reflector_follows(config: watcher::Config) {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for i in 0..5 {
        pods.create(&PostParams::default(), &pod(&format!("before-{i}")))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store::<Pod>();
    let stream = reflector::reflector(writer, watcher(pods.clone(), config))
        .applied_objects()
        .boxed();
    let follow = tokio::spawn(async move {
        let _ = stream.try_for_each(|_| async { Ok(()) }).await;
    });
    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .expect("the reflector syncs within 10 s")
        .unwrap();
    assert_eq!(reader.state().len(), 5);
    pods.create(&PostParams::default(), &pod("after"))
        .await
        .unwrap();
    pods.delete("before-0", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut names: Vec<String> = reader
            .state()
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        names.sort();
        if names == ["after", "before-1", "before-2", "before-3", "before-4"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store holds {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    follow.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_reflector_lists_then_watches() {
    reflector_follows(watcher::Config::default()).await;
}

#[tokio::test]
async fn a_reflector_in_streaming_list_mode() {
    reflector_follows(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_is_a_410_kube_rs_reads_as_such() {
    use kube::api::{WatchEvent, WatchParams};
    let server = TestServer::start().await;
    let client = client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let first = pods
        .create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("b"))
        .await
        .unwrap();
    let now = server.store.current_revision().await.unwrap();
    server.store.compact(now).await.unwrap();
    let old = first.metadata.resource_version.unwrap();
    let mut events = pods
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream has an event")
        .unwrap();
    match event {
        WatchEvent::Error(status) => assert_eq!(status.code, 410, "{status:?}"),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    server.stop().await;
}

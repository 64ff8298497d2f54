//! The ReplicaSet controller in a running manager, in paused virtual time, with pods
//! made Ready by a test helper standing in for the node agent.

mod common;

use std::time::Duration;

use common::{mark_pods_ready, memory_client};
use orchestra::core::api::{Call, Intercept};
use orchestra::core::kinds::{Pod, ReplicaSet};
use orchestra::core::{Api, ApiError, Client, DeleteParams, ListParams, ObjectMeta, ResourceExt};
use orchestra::runtime::controllers::ReplicaSetController;
use orchestra::runtime::reconcile::Manager;
use tokio_util::sync::CancellationToken;

fn web(replicas: i32) -> ReplicaSet {
    common::web_replicaset(replicas, "web-server:1")
}

fn start(client: &Client) -> CancellationToken {
    let mut manager = Manager::new(client.clone());
    let controller = ReplicaSetController::new(client.clone(), manager.informers());
    manager = manager.controller(controller);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });
    stop
}

/// Lets the cluster settle, making pods ready as an agent would.
async fn settle(client: &Client) {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        mark_pods_ready(client).await;
    }
}

async fn live_pods(client: &Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn scales_up_and_down_and_reports_status() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.create(&web(3)).await.unwrap();
    for replicas in [3, 10, 2] {
        sets.update_with("web", |rs| rs.spec.replicas = Some(replicas))
            .await
            .unwrap();
        settle(&client).await;
        let pods = live_pods(&client).await;
        assert_eq!(
            pods.len(),
            replicas as usize,
            "pods for {replicas} replicas"
        );
        let rs = sets.get("web").await.unwrap();
        assert!(pods.iter().all(|p| {
            p.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == rs.uid())
        }));
        assert!(pods.iter().all(|p| p.name_any().starts_with("web-")));
        let status = rs.status.expect("status");
        assert_eq!(status.replicas, replicas);
        assert_eq!(status.ready_replicas, Some(replicas));
        assert_eq!(status.available_replicas, Some(replicas));
        assert_eq!(status.observed_generation, rs.metadata.generation);
    }
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_deleted_pod_is_replaced() {
    let (client, _) = memory_client();
    let stop = start(&client);
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&web(3))
        .await
        .unwrap();
    settle(&client).await;
    let victim = live_pods(&client).await[0].name_any().to_owned();
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete(&victim, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    settle(&client).await;
    let pods = live_pods(&client).await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| p.name_any() != victim));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn adopts_matching_orphans_and_releases_relabelled_pods() {
    let (client, _) = memory_client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan = Pod {
        metadata: ObjectMeta {
            name: Some("orphan".into()),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        },
        spec: web(1).spec.template.spec,
        status: None,
    };
    pods.create(&orphan).await.unwrap();
    let stop = start(&client);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets.create(&web(2)).await.unwrap();
    settle(&client).await;
    let adopted = pods.get("orphan").await.unwrap();
    assert_eq!(
        adopted.metadata.controller_ref().map(|r| r.uid.as_str()),
        Some(rs.uid()),
        "the orphan was adopted"
    );
    assert_eq!(
        live_pods(&client).await.len(),
        2,
        "it counts toward the replicas"
    );

    pods.update_with("orphan", |p| {
        p.metadata.labels.insert("app".into(), "debugging".into());
    })
    .await
    .unwrap();
    settle(&client).await;
    let released = pods.get("orphan").await.unwrap();
    assert!(
        released.metadata.controller_ref().is_none(),
        "a pod that stops matching is released"
    );
    let mine: Vec<_> = live_pods(&client)
        .await
        .into_iter()
        .filter(|p| p.metadata.labels["app"] == "web")
        .collect();
    assert_eq!(mine.len(), 2, "and replaced");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_lagging_cache_never_doubles_the_pods() {
    let (client, _) = memory_client();
    let stop = start(&client);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.create(&web(50)).await.unwrap();
    // Poke the ReplicaSet repeatedly while it is creating, so reconciles run before the
    // cache has seen every pod.
    for i in 0..20 {
        sets.update_with("web", |rs| {
            rs.metadata.annotations.insert("poke".into(), i.to_string());
        })
        .await
        .unwrap();
        tokio::task::yield_now().await;
    }
    settle(&client).await;
    assert_eq!(live_pods(&client).await.len(), 50);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_template_that_cannot_start_costs_one_pod_per_attempt_with_backoff() {
    // Every pod create fails, as it would for a template no node accepts.
    let (client, _) = memory_client();
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failing = Intercept::over(client.service().clone()).before({
        let counted = counted.clone();
        move |call: &Call<'_>| match call {
            Call::Create { target } if target.resource.is_of::<Pod>() => {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(ApiError::unavailable("pods refused"))
            }
            _ => Ok(()),
        }
    });
    let client = Client::over(std::sync::Arc::new(failing), client.clock().clone());
    let stop = start(&client);
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&web(1000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts = counted.load(std::sync::atomic::Ordering::SeqCst);
    // One create per reconcile (the first slow-start batch), retried with 5 ms doubling
    // backoff: about a dozen in 10 s, never a thousand.
    assert!(
        (5..=20).contains(&attempts),
        "{attempts} pod creates attempted"
    );
    stop.cancel();
}

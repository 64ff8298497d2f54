//! The user's scenario, step by step, on whole clusters of simulated nodes in paused
//! virtual time, with the invariants re-checked after every store event: run the
//! replicas, scale up and down, autoscale under load, roll out a new image within the
//! rollout bounds, roll back, and lose a node without losing the application.

mod cluster_support;
mod common;

use std::time::Duration;

use cluster_support::{
    Bounds, Invariants, Seed, builder, list_all, live_pods, pods_per_node, rolled_out,
    wait_for_web, wait_running, web,
};
use orchestra::cluster::Cluster;
use orchestra::core::kinds::{Deployment, HorizontalPodAutoscaler, ReplicaSet};
use orchestra::runtime::controllers::deployment::revision::revision;
use orchestra::runtime::controllers::rollback;
use orchestra::runtime::runtimes::{SimSelector, SimUsage};
use rand::Rng;

const MINUTE: Duration = Duration::from_secs(60);

/// A ready cluster of `nodes` nodes running `web` with `replicas` of `web-server:1`.
async fn running(seed: &Seed, nodes: usize, replicas: i32) -> (Cluster, Invariants) {
    let cluster = builder(seed, nodes).build().await.unwrap();
    cluster.wait_ready().await.unwrap();
    let invariants = Invariants::follow(cluster.registry()).await;
    cluster
        .api::<Deployment>()
        .create(&web(replicas, "web-server:1"))
        .await
        .unwrap();
    wait_running(&cluster, replicas as usize, "web-server:1", MINUTE).await;
    (cluster, invariants)
}

#[tokio::test(start_paused = true)]
async fn replicas_are_placed_within_node_capacity_and_all_run() {
    let seed = Seed::new(11);
    let (cluster, invariants) = running(&seed, 5, 60).await;
    let per = pods_per_node(&cluster).await;
    assert_eq!(per.len(), 5, "spread over every node: {per:?}");
    assert!(per.values().all(|&n| n <= 16), "4 cpu / 250m each: {per:?}");
    let d = cluster.api::<Deployment>().get("web").await.unwrap();
    assert!(rolled_out(&d), "{:?}", d.status);
    assert!(invariants.assert_held() > 60 * 3);
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn scaling_up_and_down_keeps_every_node_within_its_capacity() {
    let seed = Seed::new(12);
    let (cluster, invariants) = running(&seed, 5, 40).await;
    let deployments = cluster.api::<Deployment>();
    deployments
        .update_with("web", |d| d.spec.replicas = Some(80))
        .await
        .unwrap();
    wait_running(&cluster, 80, "web-server:1", MINUTE).await;
    let per = pods_per_node(&cluster).await;
    assert!(
        per.values().all(|&n| n == 16),
        "the cluster is full: {per:?}"
    );

    // One more than fits: it waits, and nothing is over-committed.
    deployments
        .update_with("web", |d| d.spec.replicas = Some(81))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pods = live_pods(&cluster).await;
    assert_eq!(pods.len(), 81);
    assert_eq!(
        pods.iter().filter(|p| p.spec.node_name.is_none()).count(),
        1
    );

    deployments
        .update_with("web", |d| d.spec.replicas = Some(20))
        .await
        .unwrap();
    wait_running(&cluster, 20, "web-server:1", MINUTE).await;
    invariants.assert_held();
    cluster.shutdown().await;
}

fn autoscaler(min: i32, max: i32) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler::for_deployment("web", min, max, 50)
}

#[tokio::test(start_paused = true)]
async fn the_autoscaler_follows_the_simulated_load_out_and_back_in() {
    let seed = Seed::new(13);
    let (cluster, invariants) = running(&seed, 5, 10).await;
    let profile = cluster.sim_profile().unwrap().clone();
    let image = SimSelector::image("web-server:1");
    // 200m of a 250m request: 80% against a 50% target.
    profile.set_usage(image.clone(), SimUsage::new(200, 64 << 20));
    cluster
        .api::<HorizontalPodAutoscaler>()
        .create(&autoscaler(10, 30))
        .await
        .unwrap();
    let d = wait_for_web(&cluster, 3 * MINUTE, |d| d.replicas() > 10).await;
    assert_eq!(
        d.replicas(),
        16,
        "ceil(10 x 80 / 50), and no more while the new pods start"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        cluster
            .api::<Deployment>()
            .get("web")
            .await
            .unwrap()
            .replicas(),
        16,
        "starting pods count as idle: no second scale-out for the same load"
    );
    wait_for_web(&cluster, 3 * MINUTE, |d| d.replicas() == 30).await;
    wait_running(&cluster, 30, "web-server:1", MINUTE).await;

    // Idle: back to the minimum, but not before the 5-minute stabilization window.
    profile.set_usage(image, SimUsage::new(10, 64 << 20));
    tokio::time::sleep(4 * MINUTE).await;
    assert_eq!(
        cluster
            .api::<Deployment>()
            .get("web")
            .await
            .unwrap()
            .replicas(),
        30,
        "held for the stabilization window"
    );
    wait_for_web(&cluster, 3 * MINUTE, |d| d.replicas() == 10).await;
    wait_running(&cluster, 10, "web-server:1", MINUTE).await;
    invariants.assert_held();
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_rolling_update_stays_within_its_bounds_after_every_event() {
    let seed = Seed::new(14);
    let (cluster, invariants) = running(&seed, 5, 60).await;
    invariants.bounds(Some(Bounds::web(60)));
    let checked_before = invariants.events();
    cluster
        .api::<Deployment>()
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    wait_for_web(&cluster, 5 * MINUTE, |d| {
        rolled_out(d) && d.metadata.generation == Some(2)
    })
    .await;
    wait_running(&cluster, 60, "web-server:2", MINUTE).await;
    let checked = invariants.assert_held() - checked_before;
    assert!(checked > 60 * 4, "checked after each of {checked} events");
    assert_eq!(
        invariants.lowest_available(),
        Some(45),
        "maxUnavailable is used, not exceeded"
    );
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_the_previous_image_as_a_new_revision() {
    let seed = Seed::new(15);
    let (cluster, invariants) = running(&seed, 4, 20).await;
    let deployments = cluster.api::<Deployment>();
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    wait_running(&cluster, 20, "web-server:2", 5 * MINUTE).await;
    wait_for_web(&cluster, MINUTE, rolled_out).await;

    invariants.bounds(Some(Bounds::web(20)));
    rollback(cluster.client(), "default", "web", None)
        .await
        .unwrap();
    wait_running(&cluster, 20, "web-server:1", 5 * MINUTE).await;
    wait_for_web(&cluster, MINUTE, rolled_out).await;
    invariants.assert_held();

    let sets: Vec<ReplicaSet> = list_all(&cluster).await;
    let mut revisions: Vec<(u64, String, i32)> = sets
        .iter()
        .map(|rs| {
            (
                revision(rs),
                rs.spec.template.spec.containers[0].image.clone(),
                rs.replicas(),
            )
        })
        .collect();
    revisions.sort();
    assert_eq!(
        revisions,
        [
            (2, "web-server:2".into(), 0),
            (3, "web-server:1".into(), 20)
        ]
    );
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_node_is_emptied_and_its_pods_replaced_elsewhere() {
    let seed = Seed::new(16);
    let mut rng = seed.rng();
    let (cluster, invariants) = running(&seed, 5, 40).await;
    let victim = format!("node-{}", rng.random_range(1..=5));
    let before = pods_per_node(&cluster).await;
    assert!(before[&victim] > 0);
    invariants.bounds(Some(Bounds::web(40)));

    cluster.stop_node(&victim).await.unwrap();
    // 40 s grace, then 300 s of toleration, then replacement.
    let deadline = tokio::time::Instant::now() + 8 * MINUTE;
    loop {
        let pods = live_pods(&cluster).await;
        let elsewhere = pods
            .iter()
            .filter(|p| p.spec.node_name.as_deref() != Some(victim.as_str()) && p.is_ready())
            .count();
        if elsewhere == 40 && pods.len() == 40 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods of {victim} not replaced: {elsewhere} ready elsewhere"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let n = cluster_support::node(&cluster, &victim).await;
    assert!(!n.is_ready(), "{victim} is not Ready");
    invariants.assert_held();
    let lowest = invariants.lowest_available().unwrap();
    assert!(
        lowest >= 40 - before[&victim] as i32,
        "only the lost node's pods were ever missing: {lowest}"
    );
    cluster.shutdown().await;
}

/// The same scenario with the pod caches keeping only eight pods decoded: every other
/// pod is read back from its packed form by the scheduler, the controllers and the
/// agents, and the rollout still holds its bounds.
#[tokio::test(start_paused = true)]
async fn with_few_pods_decoded_the_cluster_still_scales_and_rolls_out() {
    let seed = Seed::new(17);
    let cluster = builder(&seed, 5).pods_decoded(8).build().await.unwrap();
    cluster.wait_ready().await.unwrap();
    let invariants = Invariants::follow(cluster.registry()).await;
    let deployments = cluster.api::<Deployment>();
    deployments.create(&web(60, "web-server:1")).await.unwrap();
    wait_running(&cluster, 60, "web-server:1", MINUTE).await;

    deployments
        .update_with("web", |d| d.spec.replicas = Some(30))
        .await
        .unwrap();
    wait_running(&cluster, 30, "web-server:1", MINUTE).await;

    invariants.bounds(Some(Bounds::web(30)));
    deployments
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = "web-server:2".into()
        })
        .await
        .unwrap();
    wait_for_web(&cluster, 5 * MINUTE, |d| {
        rolled_out(d) && d.metadata.generation == Some(3)
    })
    .await;
    wait_running(&cluster, 30, "web-server:2", MINUTE).await;
    assert_eq!(live_pods(&cluster).await.len(), 30);
    assert!(invariants.assert_held() > 60 * 3);
    cluster.shutdown().await;
}

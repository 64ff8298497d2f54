//! Whole clusters under failure, in paused virtual time, with the invariants re-checked
//! after every store event: a node that dies and comes back, the control plane
//! restarted in the middle of a rollout on a DurableStore, and the leader of two
//! control-plane replicas killed in the middle of a rollout.

mod cluster_support;
mod common;

use std::sync::Arc;
use std::time::Duration;

use cluster_support::{
    Bounds, Invariants, Seed, builder, pods_per_node, rolled_out, wait_for_web, wait_running, web,
};
use orchestra::cluster::Cluster;
use orchestra::core::Store;
use orchestra::core::kinds::{Deployment, TAINT_NODE_UNREACHABLE};

use orchestra::store::DurableStore;
use rand::Rng;

const MINUTE: Duration = Duration::from_secs(60);

/// Waits until `events` more store events than `from` have been checked (a minute at
/// most: the real-time test uses it too, and a stuck run must end).
async fn after_events(invariants: &Invariants, from: usize, events: usize) {
    let wait = async {
        while invariants.events() < from + events {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    if tokio::time::timeout(MINUTE, wait).await.is_err() {
        panic!(
            "only {} of {} store events came in a minute",
            invariants.events() - from,
            events
        );
    }
}

async fn start_web(cluster: &Cluster, replicas: i32) {
    cluster
        .api::<Deployment>()
        .create(&web(replicas, "web-server:1"))
        .await
        .unwrap();
    wait_running(cluster, replicas as usize, "web-server:1", MINUTE).await;
    wait_for_web(cluster, MINUTE, rolled_out).await;
}

async fn update_image(cluster: &Cluster, image: &str) {
    cluster
        .api::<Deployment>()
        .update_with("web", |d| {
            d.spec.template.spec.containers[0].image = image.into()
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_node_that_dies_and_comes_back_cleans_up_and_takes_pods_again() {
    let seed = Seed::new(21);
    let mut rng = seed.rng();
    let cluster = builder(&seed, 4).build().await.unwrap();
    cluster.wait_ready().await.unwrap();
    let invariants = Invariants::follow(cluster.registry()).await;
    start_web(&cluster, 30).await;
    let victim = format!("node-{}", rng.random_range(1..=4));
    let had = pods_per_node(&cluster).await[&victim];
    assert!(had > 0);

    cluster.stop_node(&victim).await.unwrap();
    // Unreachable after 40 s, evicted 300 s later, replaced at once.
    let deadline = tokio::time::Instant::now() + 8 * MINUTE;
    loop {
        let per = pods_per_node(&cluster).await;
        if !per.contains_key(&victim) && per.values().sum::<usize>() == 30 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{per:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    wait_running(&cluster, 30, "web-server:1", MINUTE).await;
    let runtime = cluster.runtime(&victim).unwrap();
    assert_eq!(
        runtime.list_containers().await.unwrap().len(),
        had,
        "a dead agent cannot stop its containers"
    );

    cluster.start_node(&victim).unwrap();
    cluster.wait_ready().await.unwrap();
    let deadline = tokio::time::Instant::now() + MINUTE;
    loop {
        let node = cluster_support::node(&cluster, &victim).await;
        let untainted = !node
            .spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_NODE_UNREACHABLE);
        let leftovers = runtime.list_containers().await.unwrap().len();
        if node.is_ready() && untainted && leftovers == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{victim} back: ready {}, taints {:?}, {leftovers} containers left",
            node.is_ready(),
            node.spec.taints
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The other three nodes hold 48; 60 needs the one that came back.
    cluster
        .api::<Deployment>()
        .update_with("web", |d| d.spec.replicas = Some(60))
        .await
        .unwrap();
    wait_running(&cluster, 60, "web-server:1", MINUTE).await;
    assert!(pods_per_node(&cluster).await[&victim] >= 12);
    invariants.assert_held();
    cluster.shutdown().await;
}

// Real time, unlike the others: the DurableStore commits on a thread of its own, and
// paused time would jump ahead (to the next timer) whenever every task waits for a
// commit, so virtual deadlines and leases would race past the work. The sizes keep it
// to a few seconds; the limits below are only there to end a stuck run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_restarted_mid_rollout_on_a_durable_store_finishes_within_bounds() {
    let seed = Seed::new(22);
    let mut rng = seed.rng();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DurableStore::open(dir.path()).unwrap());
    let cluster = builder(&seed, 4).store(store).build().await.unwrap();
    cluster.wait_ready().await.unwrap();
    let invariants = Invariants::follow(cluster.registry()).await;
    start_web(&cluster, 40).await;

    invariants.bounds(Some(Bounds::web(40)));
    let from = invariants.events();
    update_image(&cluster, "web-server:2").await;
    after_events(&invariants, from, rng.random_range(5..80)).await;
    let d = cluster.api::<Deployment>().get("web").await.unwrap();
    assert!(!rolled_out(&d), "restarted in the middle: {:?}", d.status);
    cluster.restart_control_plane().await.unwrap();

    wait_for_web(&cluster, 5 * MINUTE, |d| {
        rolled_out(d) && d.metadata.generation == Some(2)
    })
    .await;
    wait_running(&cluster, 40, "web-server:2", MINUTE).await;
    invariants.assert_held();
    cluster.shutdown().await;

    // Everything it did is on disk.
    drop(invariants);
    let reopened: Arc<dyn Store> = Arc::new(DurableStore::open(dir.path()).unwrap());
    let client = orchestra::core::Client::new(orchestra::core::Registry::new(reopened));
    let pods: orchestra::core::Api<orchestra::core::kinds::Pod> =
        orchestra::core::Api::namespaced(client, "default");
    let images: Vec<String> = pods
        .list(&orchestra::core::ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.spec.containers[0].image.clone())
        .collect();
    assert_eq!(images.len(), 40);
    assert!(images.iter().all(|i| i == "web-server:2"));
}

#[tokio::test(start_paused = true)]
async fn the_leader_killed_mid_rollout_hands_over_and_the_rollout_finishes_within_bounds() {
    let seed = Seed::new(23);
    let mut rng = seed.rng();
    let a = builder(&seed, 4)
        .leader_election("control-plane-a")
        .build()
        .await
        .unwrap();
    a.wait_ready().await.unwrap();
    while !a.is_leader() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second replica on the same store, clock and lease, with no nodes of its own.
    let b = Cluster::builder()
        .store(a.registry().store().clone())
        .clock(a.client().clock().clone())
        .seed(seed.0 + 1)
        .leader_election("control-plane-b")
        .build()
        .await
        .unwrap();
    b.wait_ready().await.unwrap();
    let invariants = Invariants::follow(a.registry()).await;
    start_web(&a, 40).await;
    assert!(a.is_leader() && !b.is_leader(), "one leader");

    invariants.bounds(Some(Bounds::web(40)));
    let from = invariants.events();
    update_image(&a, "web-server:2").await;
    after_events(&invariants, from, rng.random_range(5..80)).await;
    assert!(a.kill_control_plane().await);
    let killed_at = tokio::time::Instant::now();

    while !b.is_leader() {
        assert!(
            killed_at.elapsed() < MINUTE,
            "the standby did not take over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        killed_at.elapsed() >= Duration::from_secs(10),
        "a crashed leader's lease runs out before anyone takes over ({:?})",
        killed_at.elapsed()
    );
    wait_for_web(&a, 5 * MINUTE, |d| {
        rolled_out(d) && d.metadata.generation == Some(2)
    })
    .await;
    wait_running(&a, 40, "web-server:2", MINUTE).await;
    invariants.assert_held();
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn stored_objects_that_cannot_be_read_are_reported_and_skipped_and_the_cluster_runs_on() {
    // Before the cluster starts: a pod value that is not JSON, and a Deployment value
    // stored under one name that says it is another (the one the test then creates).
    let seed = Seed::new(25);
    let store: Arc<dyn Store> = Arc::new(orchestra::store::MemoryStore::new());
    let plant = |key: &'static str, value: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .create(key.as_bytes(), bytes::Bytes::from_static(value))
                .await
                .unwrap();
        }
    };
    plant("/registry/pods/default/broken", b"{not json").await;
    plant(
        "/registry/apps/deployments/default/impostor",
        br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":50}}"#,
    )
    .await;
    let cluster = builder(&seed, 3)
        .store(store.clone())
        .build()
        .await
        .unwrap();
    tokio::time::timeout(MINUTE, cluster.wait_ready())
        .await
        .expect("the control plane syncs despite the bad values")
        .unwrap();
    start_web(&cluster, 6).await;
    assert_eq!(
        cluster
            .api::<Deployment>()
            .get("web")
            .await
            .unwrap()
            .spec
            .replicas,
        Some(6),
        "the impostor is never served as web"
    );

    // While it runs: a ReplicaSet value that is not an object; then the control plane
    // restarts, relisting everything with it in the store.
    plant("/registry/apps/replicasets/default/garbage", b"[]").await;
    cluster.restart_control_plane().await.unwrap();
    tokio::time::timeout(MINUTE, cluster.wait_ready())
        .await
        .expect("a restarted control plane syncs too")
        .unwrap();
    update_image(&cluster, "web-server:2").await;
    wait_for_web(&cluster, 5 * MINUTE, |d| {
        rolled_out(d) && d.metadata.generation == Some(2)
    })
    .await;
    wait_running(&cluster, 6, "web-server:2", MINUTE).await;

    let reported: Vec<String> = cluster
        .registry()
        .unreadable_objects()
        .into_iter()
        .map(|u| u.key)
        .collect();
    assert_eq!(
        reported,
        [
            "/registry/apps/deployments/default/impostor",
            "/registry/apps/replicasets/default/garbage",
            "/registry/pods/default/broken",
        ]
    );
    let events = cluster
        .api::<orchestra::core::kinds::Event>()
        .list(&orchestra::core::ListParams::default())
        .await
        .unwrap()
        .items;
    let mut warned: Vec<String> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("UnreadableObject"))
        .filter_map(|e| e.involved_object.name.clone())
        .collect();
    warned.sort();
    assert_eq!(warned, ["broken", "garbage", "impostor"]);
    cluster.shutdown().await;
}

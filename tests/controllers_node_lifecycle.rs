//! The node lifecycle controller in paused virtual time: a node whose lease stops is
//! marked unreachable after the grace period, its pods are evicted after their
//! toleration and replaced, and not before; a partition of most nodes evicts nothing.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::memory_client;
use orchestra::core::kinds::{
    ConditionStatus, Lease, Node, Pod, ReplicaSet, TAINT_NODE_UNREACHABLE, TaintEffect,
};
use orchestra::core::{Api, Client, ListParams, ObjectMeta, ResourceExt};
use orchestra::runtime::controllers::node_lifecycle::NODE_LEASE_NAMESPACE;
use orchestra::runtime::controllers::{
    NodeLifecycleConfig, NodeLifecycleController, ReplicaSetController,
};
use orchestra::runtime::reconcile::Manager;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// Stands in for node agents and the scheduler: renews the leases of live nodes every
/// 10 s, binds unbound pods round-robin to live nodes, and makes pods ready.
fn fake_agents(client: Client, nodes: Vec<String>, alive: Arc<Mutex<BTreeSet<String>>>) {
    tokio::spawn(async move {
        let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
        let pods: Api<Pod> = Api::all(client.clone());
        let mut tick = 0usize;
        loop {
            let live: Vec<String> = alive.lock().iter().cloned().collect();
            for node in &nodes {
                if !live.contains(node) {
                    continue;
                }
                let now = client.clock().now();
                let mut lease = Lease {
                    metadata: ObjectMeta::named(node.clone()),
                    ..Default::default()
                };
                lease.spec.holder_identity = Some(node.clone());
                lease.spec.renew_time = Some(now);
                if leases
                    .update_with(node, |l| l.spec.renew_time = Some(now))
                    .await
                    .is_err()
                {
                    let _ = leases.create(&lease).await;
                }
            }
            for pod in pods.list(&ListParams::default()).await.unwrap().items {
                let ns = Api::<Pod>::namespaced(client.clone(), pod.namespace().unwrap());
                if pod.node_name().is_none() && !live.is_empty() {
                    tick += 1;
                    let node = live[tick % live.len()].clone();
                    let _ = ns
                        .update_with(pod.name_any(), |p| p.spec.node_name = Some(node.clone()))
                        .await;
                }
            }
            // Only live agents report their pods ready.
            common::mark_pods_ready_except(&client, |p| {
                p.node_name().is_some_and(|n| !live.iter().any(|l| l == n))
            })
            .await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

async fn setup(
    node_count: usize,
    replicas: i32,
) -> (Client, Arc<Mutex<BTreeSet<String>>>, CancellationToken) {
    setup_with(node_count, replicas, NodeLifecycleConfig::default()).await
}

async fn setup_with(
    node_count: usize,
    replicas: i32,
    config: NodeLifecycleConfig,
) -> (Client, Arc<Mutex<BTreeSet<String>>>, CancellationToken) {
    let (client, _) = memory_client();
    let names: Vec<String> = (1..=node_count).map(|i| format!("node-{i}")).collect();
    let nodes: Api<Node> = Api::all(client.clone());
    for name in &names {
        nodes
            .create(&Node {
                metadata: ObjectMeta::named(name.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let alive = Arc::new(Mutex::new(names.iter().cloned().collect::<BTreeSet<_>>()));
    fake_agents(client.clone(), names, alive.clone());

    let mut manager = Manager::new(client.clone());
    let rs = ReplicaSetController::new(client.clone(), manager.informers());
    let lifecycle = NodeLifecycleController::new(client.clone(), manager.informers(), config);
    manager = manager.controller(rs);
    manager = manager.controller(lifecycle);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });

    let set = common::web_replicaset(replicas, "web-server:1");
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&set)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    (client, alive, stop)
}

async fn active_pods_on(client: &Client, node: &str) -> usize {
    let pods: Api<Pod> = Api::all(client.clone());
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.node_name() == Some(node) && p.metadata.deletion_timestamp.is_none())
        .count()
}

async fn ready_pods_on(client: &Client, node: &str) -> usize {
    let pods: Api<Pod> = Api::all(client.clone());
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.node_name() == Some(node) && p.is_ready())
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_silent_node_is_marked_then_emptied_after_grace_and_toleration() {
    let (client, alive, stop) = setup(3, 6).await;
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(active_pods_on(&client, "node-1").await, 2);
    assert_eq!(ready_pods_on(&client, "node-1").await, 2);

    alive.lock().remove("node-1");
    tokio::time::sleep(Duration::from_secs(30)).await;
    let node = nodes.get("node-1").await.unwrap();
    assert!(node.spec.taints.is_empty(), "not before the 40 s grace");

    tokio::time::sleep(Duration::from_secs(20)).await;
    let node = nodes.get("node-1").await.unwrap();
    assert!(
        node.spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_NODE_UNREACHABLE),
        "tainted after the grace"
    );
    assert!(
        node.spec
            .taints
            .iter()
            .any(|t| t.key == TAINT_NODE_UNREACHABLE && t.effect == TaintEffect::NoSchedule),
        "and kept free of new pods while its own pods still tolerate it"
    );
    assert_eq!(
        node.condition("Ready").map(|c| c.status),
        Some(ConditionStatus::Unknown)
    );
    assert_eq!(
        ready_pods_on(&client, "node-1").await,
        0,
        "its pods are no longer counted as ready, long before their eviction"
    );

    // The taint came 40 s after the last renewal, so 10 s ago at most.
    tokio::time::sleep(Duration::from_secs(280)).await;
    assert_eq!(
        active_pods_on(&client, "node-1").await,
        2,
        "pods tolerate the taint for 300 s"
    );

    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(
        active_pods_on(&client, "node-1").await,
        0,
        "evicted after their toleration"
    );
    let elsewhere =
        active_pods_on(&client, "node-2").await + active_pods_on(&client, "node-3").await;
    assert_eq!(elsewhere, 6, "and replaced on the other nodes");

    alive.lock().insert("node-1".into());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let node = nodes.get("node-1").await.unwrap();
    assert!(
        node.spec.taints.is_empty(),
        "a node that comes back loses the taint"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn when_most_nodes_vanish_nothing_is_evicted() {
    let (client, alive, stop) = setup(3, 6).await;
    alive.lock().remove("node-1");
    alive.lock().remove("node-2");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        active_pods_on(&client, "node-1").await,
        2,
        "a partition must not empty the cluster"
    );
    assert_eq!(active_pods_on(&client, "node-2").await, 2);
    let node = Api::<Node>::all(client.clone())
        .get("node-1")
        .await
        .unwrap();
    assert!(
        !node.spec.taints.is_empty()
            && node
                .spec
                .taints
                .iter()
                .all(|t| t.effect == TaintEffect::NoSchedule),
        "no new pods go there, but nothing is evicted: {:?}",
        node.spec.taints
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn evictions_start_for_one_node_at_a_time_at_the_configured_rate() {
    // One node per 100 s.
    let config = NodeLifecycleConfig::default().eviction_rate(0.01);
    let (client, alive, stop) = setup_with(10, 20, config).await;
    alive.lock().remove("node-1");
    alive.lock().remove("node-2");
    // Both nodes' pods are due 40 + 300 s from now.
    tokio::time::sleep(Duration::from_secs(370)).await;
    let emptied = [
        active_pods_on(&client, "node-1").await,
        active_pods_on(&client, "node-2").await,
    ];
    assert_eq!(
        emptied.iter().filter(|n| **n == 0).count(),
        1,
        "one node's evictions started: {emptied:?}"
    );
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(
        active_pods_on(&client, "node-1").await + active_pods_on(&client, "node-2").await,
        0
    );
    stop.cancel();
}

//! The cluster builder, in paused virtual time: the defaults run a Deployment to Ready
//! across simulated nodes; a user's Store and a user's Scheduler each replace their
//! part with nothing else changed; user controllers come back after a control-plane
//! restart; nodes and control plane stop and start independently; process nodes run
//! real processes (that one in real time).

mod cluster_support;
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cluster_support::{list_all, live_pods, pods_per_node, wait_running};
use orchestra::cluster::{BuiltinController, Cluster, ClusterError, NodeSpec};
use orchestra::core::kinds::{Deployment, Node, Pod, ReplicaSet};
use orchestra::core::{Api, Client, Clock, ListParams, Resource, Store};
use orchestra::runtime::scheduler::Scheduler;
use orchestra::store::MemoryStore;
use orchestra::store::testing::{InterceptedStore, StoreCall, StoreOp, Verdict};
use tokio_util::sync::CancellationToken;

const MINUTE: Duration = Duration::from_secs(60);

/// A user's scheduler: binds every pending pod to the alphabetically first Ready node.
struct FirstReadyNode;

#[async_trait]
impl Scheduler for FirstReadyNode {
    fn name(&self) -> &str {
        "default-scheduler"
    }

    async fn run(&self, client: Client, shutdown: CancellationToken) {
        let pods: Api<Pod> = Api::all(client.clone());
        let nodes: Api<Node> = Api::all(client.clone());
        while !shutdown.is_cancelled() {
            let ready = nodes.list(&ListParams::default()).await.map(|l| {
                let mut names: Vec<String> = l
                    .items
                    .iter()
                    .filter(|n| n.is_ready() && n.spec.taints.is_empty())
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                names.sort();
                names
            });
            if let (Ok(ready), Ok(pending)) = (ready, pods.list(&ListParams::default()).await)
                && let Some(first) = ready.first()
            {
                for pod in pending.items.iter().filter(|p| {
                    p.spec.node_name.is_none() && p.metadata.deletion_timestamp.is_none()
                }) {
                    let ns: Api<Pod> =
                        Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap());
                    let _ = ns.bind(pod, first).await;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
}

fn clock() -> Clock {
    Clock::starting_at(common::epoch())
}

#[tokio::test(start_paused = true)]
async fn the_defaults_run_a_deployment_to_ready_across_the_nodes() {
    let cluster = Cluster::builder()
        .clock(clock())
        .seed(1)
        .nodes(NodeSpec::sim(3))
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();
    assert_eq!(cluster.node_names(), ["node-1", "node-2", "node-3"]);
    assert!(cluster.is_leader());

    cluster
        .api::<Deployment>()
        .create(&common::web_deployment(9, "web-server:1"))
        .await
        .unwrap();
    wait_running(&cluster, 9, "web-server:1", MINUTE).await;
    let pods = live_pods(&cluster).await;
    let per = pods_per_node(&cluster).await;
    assert_eq!(per.len(), 3, "the reference scheduler spreads: {per:?}");
    assert!(per.values().all(|&n| n == 3), "{per:?}");

    // Seeded, the cluster's own client (nodes, the user's Deployment) and the control
    // plane's (ReplicaSets, pods) still draw uids no other object has.
    let mut uids: Vec<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
    uids.extend(uids_of::<Node>(&cluster).await);
    uids.extend(uids_of::<Deployment>(&cluster).await);
    uids.extend(uids_of::<ReplicaSet>(&cluster).await);
    let all = uids.len();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), all, "every uid is unique");
    cluster.shutdown().await;
}

/// The uids of every object of kind `K` (in the default namespace, for namespaced kinds).
async fn uids_of<K: Resource>(cluster: &Cluster) -> Vec<String> {
    let items: Vec<K> = list_all(cluster).await;
    items
        .into_iter()
        .filter_map(|o| o.meta().uid.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_user_store_and_a_user_scheduler_replace_their_parts_and_nothing_else() {
    // A user's store: a MemoryStore that counts the writes it is asked for.
    let store = Arc::new(InterceptedStore::new(Arc::new(MemoryStore::new())));
    let cluster = Cluster::builder()
        .clock(clock())
        .seed(2)
        .store(store.clone())
        .scheduler(FirstReadyNode)
        .nodes(NodeSpec::sim(3))
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();
    cluster
        .api::<Deployment>()
        .create(&common::web_deployment(6, "web-server:1"))
        .await
        .unwrap();
    wait_running(&cluster, 6, "web-server:1", MINUTE).await;

    let per = pods_per_node(&cluster).await;
    assert_eq!(
        per,
        HashMap::from([("node-1".to_owned(), 6)]),
        "the user's scheduler placed every pod"
    );
    let writes: u64 = StoreOp::WRITES.iter().map(|op| store.successes(*op)).sum();
    assert!(writes > 6 * 3, "nodes, pods, status updates: {writes}");
    assert_eq!(
        writes,
        store.current_revision().await.unwrap(),
        "every write of every component went through the user's store"
    );
    let d = cluster.api::<Deployment>().get("web").await.unwrap();
    assert_eq!(d.status.unwrap().available_replicas, 6);
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn user_controllers_come_back_after_a_control_plane_restart() {
    let starts = Arc::new(AtomicUsize::new(0));
    let counted = starts.clone();
    let cluster = Cluster::builder()
        .clock(clock())
        .without(BuiltinController::Autoscaler)
        .controllers(move |manager| {
            let counted = counted.clone();
            manager.runnable("counter", move |cancel| {
                counted.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move { cancel.cancelled().await })
            })
        })
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);

    cluster.restart_control_plane().await.unwrap();
    cluster.wait_ready().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert!(matches!(
        cluster.start_control_plane(),
        Err(ClusterError::ControlPlaneRunning)
    ));
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn nodes_and_control_plane_stop_and_start_independently() {
    let cluster = Cluster::builder()
        .clock(clock())
        .nodes(NodeSpec::sim(2))
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();

    cluster.stop_node("node-2").await.unwrap();
    assert!(!cluster.is_node_running("node-2"));
    assert!(cluster.is_leader(), "the control plane runs on");
    assert!(matches!(
        cluster.stop_node("node-9").await,
        Err(ClusterError::NoSuchNode(_))
    ));

    assert!(cluster.stop_control_plane().await);
    assert!(cluster.is_node_running("node-1"), "node-1 runs on");
    cluster.start_node("node-2").unwrap();
    assert!(matches!(
        cluster.start_node("node-2"),
        Err(ClusterError::NodeRunning(_))
    ));
    let added = cluster.add_node(None).await.unwrap();
    assert_eq!(added, "node-3");
    cluster.start_control_plane().unwrap();
    cluster.wait_ready().await.unwrap();
    assert_eq!(list_all::<Node>(&cluster).await.len(), 3);
    cluster.shutdown().await;
}

#[cfg(not(feature = "etcd"))]
#[tokio::test]
async fn an_etcd_store_without_the_feature_says_how_to_enable_it() {
    let spec: orchestra::cluster::StoreSpec = "etcd:http://127.0.0.1:2379".parse().unwrap();
    let err = spec
        .open()
        .await
        .err()
        .expect("no etcd without the feature");
    assert!(err.to_string().contains("--features etcd"), "{err}");
}

/// Real processes, so real time (a few seconds at most).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_nodes_run_each_replica_as_a_process_in_a_directory_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::builder()
        .nodes(NodeSpec::process(2).dir(dir.path()))
        .build()
        .await
        .unwrap();
    cluster.wait_ready().await.unwrap();
    let mut sleeper = common::web_deployment(4, "sleep");
    sleeper.spec.template.spec.containers[0].args = vec!["300".into()];
    sleeper.spec.template.spec.termination_grace_period_seconds = Some(1);
    cluster.api::<Deployment>().create(&sleeper).await.unwrap();
    wait_running(&cluster, 4, "sleep", MINUTE).await;
    let pods = live_pods(&cluster).await;
    let mut processes = 0;
    for node in ["node-1", "node-2"] {
        assert!(dir.path().join(node).is_dir(), "{node} keeps its own state");
        let runtime = cluster.runtime(node).unwrap();
        processes += runtime.list_containers().await.unwrap().len();
    }
    assert_eq!(processes, pods.len());

    // Processes outlive their agents by design: delete the pods before shutting down.
    cluster
        .api::<Deployment>()
        .delete("web", &orchestra::core::DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<Pod> = list_all(&cluster).await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} pods still not gone after a minute",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in ["node-1", "node-2"] {
        let left = cluster
            .runtime(node)
            .unwrap()
            .list_containers()
            .await
            .unwrap();
        assert!(left.iter().all(|c| !c.state.is_running()), "{left:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn wait_ready_gives_up_saying_what_it_waited_for() {
    // Nodes register, but every later write of them is refused, so none turns Ready.
    let store = Arc::new(
        InterceptedStore::new(Arc::new(MemoryStore::new())).on_call(|call| match call {
            StoreCall::Update { key, .. } if key.starts_with(b"/registry/nodes/") => {
                Verdict::Fail(orchestra::core::StoreError::unavailable("no nodes today"))
            }
            _ => Verdict::Pass,
        }),
    );
    let cluster = Cluster::builder()
        .clock(clock())
        .store(store)
        .nodes(NodeSpec::sim(2))
        .ready_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = cluster.wait_ready().await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(30), "{err}");
    match &err {
        ClusterError::NotReady { waiting_for, .. } => {
            assert!(
                waiting_for.contains("2 of 2 nodes to be Ready (node-1, node-2)"),
                "{err}"
            )
        }
        other => panic!("expected NotReady, got {other}"),
    }
    cluster.shutdown().await;
}

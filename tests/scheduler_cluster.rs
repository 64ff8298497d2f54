//! The reference scheduler against a MemoryStore, in paused virtual time: pods get
//! bound and spread, unschedulable pods say why and are retried when the cluster
//! changes (not in a loop), a bind that fails midway is retried, a Reserve plugin that
//! refuses is undone and retried, and deleting a pod makes room.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orchestra::core::kinds::{
    ConditionStatus, Container, Event, Node, NodeStatus, POD_SCHEDULED, Pod, PodSpec,
    ResourceRequirements, Taint, TaintEffect,
};
use orchestra::core::{Api, ApiError, Client, DeleteParams, ListParams, ObjectMeta};
use orchestra::runtime::scheduler::Scheduler;
use orchestra::runtime::scheduler::plugins::{DefaultBinder, default_profile};
use orchestra::runtime::scheduler::{
    BindPlugin, CycleState, DefaultScheduler, Plugin, PluginError, PodInfo, ReservePlugin,
};
use tokio_util::sync::CancellationToken;

fn node(name: &str, cpu: &str, pods: &str) -> Node {
    Node {
        metadata: ObjectMeta::named(name),
        status: Some(NodeStatus {
            allocatable: [
                ("cpu".to_owned(), cpu.parse().unwrap()),
                ("memory".to_owned(), "16Gi".parse().unwrap()),
                ("pods".to_owned(), pods.parse().unwrap()),
            ]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates a node and reports its status, as a node agent does (create ignores status).
async fn register(nodes: &Api<Node>, node: Node) {
    let created = nodes.create(&node).await.unwrap();
    let mut with_status = created.clone();
    with_status.status = node.status;
    nodes.update_status(&with_status).await.unwrap();
}

fn pod(name: &str, cpu: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: "app:1".into(),
                resources: ResourceRequirements {
                    requests: [("cpu".to_owned(), cpu.parse().unwrap())].into(),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

fn start(client: &Client, scheduler: DefaultScheduler) -> CancellationToken {
    let token = CancellationToken::new();
    let (client, stop) = (client.clone(), token.clone());
    tokio::spawn(async move { scheduler.run(client, stop).await });
    token
}

/// Waits (in virtual time) until `done` holds for the pods, or panics after `limit`.
async fn wait_for_pods(
    client: &Client,
    limit: Duration,
    done: impl Fn(&[Pod]) -> bool,
) -> Vec<Pod> {
    let pods: Api<Pod> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let items = pods.list(&ListParams::default()).await.unwrap().items;
        if done(&items) {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods did not get there in {limit:?}: {:#?}",
            items
                .iter()
                .map(|p| (p.metadata.name.clone(), p.spec.node_name.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_bound(pods: &[Pod]) -> bool {
    pods.iter().all(|p| p.node_name().is_some())
}

#[tokio::test(start_paused = true)]
async fn pods_are_bound_spread_and_marked_scheduled() {
    let (client, _) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..3 {
        register(&nodes, node(&format!("node-{i}"), "8", "110")).await;
    }
    let stop = start(&client, DefaultScheduler::new().seed(1));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..30 {
        let mut p = pod(&format!("web-{i}"), "100m");
        p.metadata
            .owner_references
            .push(orchestra::core::OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web".into(),
                uid: "rs-web".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        pods.create(&p).await.unwrap();
    }

    let bound = wait_for_pods(&client, Duration::from_secs(10), all_bound).await;

    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for p in &bound {
        *per_node
            .entry(p.spec.node_name.clone().unwrap())
            .or_default() += 1;
        let scheduled = p.condition(POD_SCHEDULED).expect("PodScheduled set");
        assert_eq!(scheduled.status, ConditionStatus::True);
    }
    assert_eq!(per_node.len(), 3);
    assert!(
        per_node.values().all(|&n| n == 10),
        "replicas of one owner spread evenly: {per_node:?}"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn an_unschedulable_pod_says_why_and_is_retried_when_a_node_fits() {
    let (client, store) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..3 {
        register(&nodes, node(&format!("small-{i}"), "1", "110")).await;
    }
    for i in 0..2 {
        let mut gpu = node(&format!("gpu-{i}"), "16", "110");
        gpu.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        register(&nodes, gpu).await;
    }
    let stop = start(&client, DefaultScheduler::new());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("big", "2")).await.unwrap();

    let expected = "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}";
    wait_for_pods(&client, Duration::from_secs(10), |pods| {
        pods[0].condition(POD_SCHEDULED).is_some_and(|c| {
            c.status == ConditionStatus::False
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref() == Some(expected)
        })
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let events = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling")
                && e.message.as_deref() == Some(expected)
                && e.involved_object.name.as_deref() == Some("big")),
        "a FailedScheduling event: {events:#?}"
    );

    // Nothing changes for ten virtual minutes: the pod is not retried in a loop (at
    // most the 5-minute safety-net retry, which finds the same answer and writes
    // nothing new).
    let before = store.current_revision().await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let after = store.current_revision().await.unwrap();
    assert!(
        after - before <= 2,
        "no write storm while nothing changes: {} writes",
        after - before
    );

    register(&nodes, node("large", "4", "110")).await;
    let bound = wait_for_pods(&client, Duration::from_secs(15), all_bound).await;
    assert_eq!(bound[0].spec.node_name.as_deref(), Some("large"));
    stop.cancel();
}

/// Fails the first `failures` binds with a store error, then binds normally.
struct FlakyBinder {
    inner: DefaultBinder,
    failures: AtomicUsize,
    attempts: AtomicUsize,
}

impl Plugin for FlakyBinder {
    fn name(&self) -> &'static str {
        "FlakyBinder"
    }
}

#[async_trait]
impl BindPlugin for FlakyBinder {
    async fn bind(&self, pod: &Pod, node: &str) -> Result<(), ApiError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ApiError::bad_request("injected bind failure"));
        }
        self.inner.bind(pod, node).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_bind_that_fails_midway_forgets_the_assumption_and_retries() {
    let (client, _) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    // Room for exactly two pods in the whole cluster.
    register(&nodes, node("only", "2", "110")).await;
    let binder = Arc::new(FlakyBinder {
        inner: DefaultBinder::new(client.clone()),
        failures: AtomicUsize::new(1),
        attempts: AtomicUsize::new(0),
    });
    let scheduler =
        DefaultScheduler::new().profile(default_profile("default-scheduler").bind(binder.clone()));
    let stop = start(&client, scheduler);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("a", "1")).await.unwrap();
    pods.create(&pod("b", "1")).await.unwrap();

    // If the failed bind's assumption were kept, the node would look full and one
    // pod would stay pending forever.
    let _bound = wait_for_pods(&client, Duration::from_secs(30), all_bound).await;
    assert_eq!(
        binder.attempts.load(Ordering::SeqCst),
        3,
        "one failure, two binds"
    );
    stop.cancel();
}

/// Refuses the first `refusals` reservations, then claims; counts what it is asked.
struct RefusingReserve {
    refusals: AtomicUsize,
    reserves: AtomicUsize,
    unreserves: AtomicUsize,
}

impl Plugin for RefusingReserve {
    fn name(&self) -> &'static str {
        "RefusingReserve"
    }
}

impl ReservePlugin for RefusingReserve {
    fn reserve(&self, _: &CycleState, _: &PodInfo, node: &str) -> Result<(), PluginError> {
        self.reserves.fetch_add(1, Ordering::SeqCst);
        if self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let cause = std::io::Error::other("quota service unreachable");
            return Err(PluginError::with_source(
                self.name(),
                format!("could not claim room on {node}"),
                cause,
            ));
        }
        Ok(())
    }

    fn unreserve(&self, _: &CycleState, _: &PodInfo, _: &str) {
        self.unreserves.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_reserve_plugin_that_refuses_is_undone_and_the_pod_retried() {
    let (client, _) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    register(&nodes, node("only", "2", "110")).await;
    let reserve = Arc::new(RefusingReserve {
        refusals: AtomicUsize::new(1),
        reserves: AtomicUsize::new(0),
        unreserves: AtomicUsize::new(0),
    });
    let scheduler = DefaultScheduler::new()
        .profile(default_profile("default-scheduler").reserve(reserve.clone()));
    let stop = start(&client, scheduler);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("a", "1")).await.unwrap();

    let bound = wait_for_pods(&client, Duration::from_secs(30), all_bound).await;
    assert_eq!(bound[0].node_name(), Some("only"));
    assert_eq!(
        reserve.reserves.load(Ordering::SeqCst),
        2,
        "refused, then claimed"
    );
    assert_eq!(
        reserve.unreserves.load(Ordering::SeqCst),
        1,
        "the refused reservation is undone, the bound one kept"
    );
    stop.cancel();
}

#[test]
fn a_plugin_error_names_its_plugin_and_keeps_its_cause_apart() {
    let error = PluginError::with_source(
        "RefusingReserve",
        "could not claim room on only",
        std::io::Error::other("quota service unreachable"),
    );
    assert_eq!(error.plugin(), "RefusingReserve");
    assert_eq!(
        error.to_string(),
        "RefusingReserve: could not claim room on only"
    );
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("quota service unreachable"));
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pod_makes_room_for_a_pending_one() {
    let (client, _) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    register(&nodes, node("n", "1", "110")).await;
    let stop = start(&client, DefaultScheduler::new());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pod("first", "1")).await.unwrap();
    wait_for_pods(&client, Duration::from_secs(5), all_bound).await;
    pods.create(&pod("second", "1")).await.unwrap();
    wait_for_pods(&client, Duration::from_secs(5), |pods| {
        pods.iter().any(|p| {
            p.condition(POD_SCHEDULED)
                .is_some_and(|c| c.status == ConditionStatus::False)
        })
    })
    .await;

    pods.delete("first", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();

    let bound = wait_for_pods(&client, Duration::from_secs(5), |pods| {
        pods.len() == 1 && all_bound(pods)
    })
    .await;
    assert_eq!(bound[0].metadata.name.as_deref(), Some("second"));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn pods_for_another_scheduler_are_left_alone() {
    let (client, _) = common::memory_client();
    let nodes: Api<Node> = Api::all(client.clone());
    register(&nodes, node("n", "8", "110")).await;
    let stop = start(&client, DefaultScheduler::new());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut other = pod("other", "100m");
    other.spec.scheduler_name = Some("my-scheduler".into());
    pods.create(&other).await.unwrap();
    pods.create(&pod("mine", "100m")).await.unwrap();

    wait_for_pods(&client, Duration::from_secs(5), |pods| {
        pods.iter()
            .any(|p| p.metadata.name.as_deref() == Some("mine") && p.node_name().is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(pods.get("other").await.unwrap().node_name(), None);
    stop.cancel();
}

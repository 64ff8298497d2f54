//! The node agent over SimRuntime, in paused virtual time: registration and lease,
//! pod lifecycle, crash-loop backoff, probes, graceful deletion, restart without leaks,
//! no status write storms, and metrics from runtime stats.

mod common;

use std::sync::Arc;
use std::time::Duration;

use orchestra::core::kinds::{
    ConditionStatus, Container, ExecAction, Lease, Node, Pod, PodPhase, PodSpec, Probe,
};
use orchestra::core::{Api, Client, DeleteParams, ListParams, ObjectMeta, ResourceExt, Runtime};
use orchestra::runtime::controllers::MetricsSource;
use orchestra::runtime::node::{NodeAgent, NodeAgentConfig, RuntimeMetrics};
use orchestra::runtime::runtimes::{SimBehavior, SimProfile, SimRuntime, SimSelector, SimUsage};
use tokio_util::sync::CancellationToken;

struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn start_agent(client: &Client, runtime: &SimRuntime, node: &str) -> Running {
    let agent = NodeAgent::new(
        client.clone(),
        Arc::new(runtime.clone()),
        NodeAgentConfig::new(node),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move { agent.run(token).await.unwrap() });
    Running { stop, task }
}

/// A MemoryStore, a SimRuntime driven by `profile`, and an agent for `node-1` on it.
struct Fixture {
    client: Client,
    profile: SimProfile,
    runtime: SimRuntime,
    pods: Api<Pod>,
    agent: Running,
}

fn fixture() -> Fixture {
    let (client, _) = common::memory_client();
    let profile = SimProfile::new();
    let runtime = SimRuntime::builder().profile(profile.clone()).build();
    let agent = start_agent(&client, &runtime, "node-1");
    let pods = Api::namespaced(client.clone(), "default");
    Fixture {
        client,
        profile,
        runtime,
        pods,
        agent,
    }
}

fn pod(name: &str, node: &str, image: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            node_name: Some(node.into()),
            containers: vec![Container {
                name: "main".into(),
                image: image.into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

fn with_probe(mut pod: Pod, liveness: bool, readiness: bool) -> Pod {
    let probe = || {
        Some(Box::new(Probe {
            exec: Some(ExecAction {
                command: vec!["check".into()],
            }),
            period_seconds: Some(10),
            failure_threshold: Some(3),
            ..Default::default()
        }))
    };
    if liveness {
        pod.spec.containers[0].liveness_probe = probe();
    }
    if readiness {
        pod.spec.containers[0].readiness_probe = probe();
    }
    pod
}

/// Waits in virtual time until `check` holds for the pod, or panics after `limit`.
async fn wait_for(
    pods: &Api<Pod>,
    name: &str,
    limit: Duration,
    check: impl Fn(&Pod) -> bool,
) -> Pod {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(p) = pods.get_opt(name).await.unwrap()
            && check(&p)
        {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pod {name} did not get there in {limit:?}: {:#?}",
            pods.get_opt(name).await.unwrap().map(|p| p.status)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_running_and_ready(p: &Pod) -> bool {
    p.phase() == PodPhase::Running && p.is_ready()
}

#[tokio::test(start_paused = true)]
async fn registers_the_node_and_runs_a_pod_to_running_and_ready() {
    let Fixture {
        client,
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    pods.create(&pod("web", "node-1", "web:1")).await.unwrap();

    let running = wait_for(&pods, "web", Duration::from_secs(5), is_running_and_ready).await;

    let status = running.status.unwrap();
    for type_ in ["Initialized", "ContainersReady", "Ready"] {
        let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
        assert_eq!(c.status, ConditionStatus::True, "{type_}");
    }
    let c = &status.container_statuses[0];
    assert!(c.ready && c.state.as_ref().unwrap().running.is_some());
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.pod_ip.is_some());
    assert_eq!(runtime.container_count(), 1);

    let node: Api<Node> = Api::all(client.clone());
    let node = node.get("node-1").await.unwrap();
    assert!(node.is_ready());
    assert_eq!(
        node.metadata
            .labels
            .get("kubernetes.io/hostname")
            .map(String::as_str),
        Some("node-1")
    );
    assert!(node.status.unwrap().allocatable.contains_key("pods"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    assert_eq!(
        leases
            .get("node-1")
            .await
            .unwrap()
            .spec
            .holder_identity
            .as_deref(),
        Some("node-1")
    );
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pods_of_other_nodes_are_left_alone() {
    let Fixture {
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    pods.create(&pod("elsewhere", "node-2", "web:1"))
        .await
        .unwrap();
    pods.create(&pod("here", "node-1", "web:1")).await.unwrap();
    wait_for(&pods, "here", Duration::from_secs(5), is_running_and_ready).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(pods.get("elsewhere").await.unwrap().status.is_none());
    assert_eq!(runtime.container_count(), 1);
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_crashing_container_restarts_with_kubernetes_backoff() {
    let Fixture {
        profile,
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    profile.set_behavior(SimSelector::image("crasher:1"), SimBehavior::crash_loop());
    pods.create(&pod("crash", "node-1", "crasher:1"))
        .await
        .unwrap();

    // Record when each restart is first seen; the container runs 1 s each time, then
    // waits 10 s, 20 s, 40 s, 80 s before the next start.
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let mut saw_backoff = false;
    while seen.len() < 4 {
        let p = pods.get("crash").await.unwrap();
        let c = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.first().cloned());
        if let Some(c) = c {
            if c.restart_count as usize > seen.len() {
                seen.push(started.elapsed().as_secs_f64());
            }
            saw_backoff |= c
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"));
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gaps: Vec<f64> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    // Each gap is the backoff plus the one second the container runs (and at most
    // one relist period of observation delay).
    for (gap, backoff) in gaps.iter().zip([20.0, 40.0, 80.0]) {
        assert!(
            (backoff + 0.9..=backoff + 2.5).contains(gap),
            "restart gaps {gaps:?} (first restarts at {seen:?})"
        );
    }
    assert!(
        (11.0..=13.5).contains(&seen[0]),
        "first restart after 1 s running + 10 s backoff: {seen:?}"
    );
    assert!(saw_backoff, "CrashLoopBackOff is reported while waiting");
    assert_eq!(
        runtime.container_count(),
        2,
        "one current and one previous instance are kept"
    );
    agent.stop().await;
}

/// The restart count and the waiting reason of the pod's first container.
fn restarts_and_waiting(p: &Pod) -> (i32, Option<String>) {
    let c = p.status.as_ref().and_then(|s| s.container_statuses.first());
    let waiting = c
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone());
    (c.map_or(0, |c| c.restart_count), waiting)
}

#[tokio::test(start_paused = true)]
async fn failed_starts_back_off_and_a_vanished_container_is_restarted() {
    let Fixture {
        profile,
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    profile.fail_starts(SimSelector::image("flaky:1"), 2, "injected fault");
    let started = tokio::time::Instant::now();
    pods.create(&pod("flaky", "node-1", "flaky:1"))
        .await
        .unwrap();
    let waiting = wait_for(&pods, "flaky", Duration::from_secs(5), |p| {
        restarts_and_waiting(p).1.as_deref() == Some("CreateContainerError")
    })
    .await;
    let message = waiting.status.as_ref().unwrap().container_statuses[0]
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.message.clone())
        .unwrap_or_default();
    assert!(message.contains("injected fault"), "{message}");

    // Two failures: 10 s, then 20 s of backoff before the third start runs.
    let running = wait_for(&pods, "flaky", Duration::from_secs(60), |p| {
        p.phase() == PodPhase::Running && p.is_ready()
    })
    .await;
    let waited = started.elapsed().as_secs_f64();
    assert!((30.0..=33.0).contains(&waited), "running after {waited} s");
    assert_eq!(
        restarts_and_waiting(&running),
        (0, None),
        "a failed start is no restart"
    );

    // Removed behind the agent's back: started again at once, as a restart.
    let list = runtime.list_containers().await.unwrap();
    assert_eq!(list.len(), 1);
    runtime.remove_container(&list[0].id).await.unwrap();
    let again = wait_for(&pods, "flaky", Duration::from_secs(5), |p| {
        restarts_and_waiting(p).0 == 1 && p.is_ready()
    })
    .await;
    assert_eq!(again.phase(), PodPhase::Running);
    let list = runtime.list_containers().await.unwrap();
    assert_eq!(list.len(), 1, "the new instance alone");
    assert_eq!(list[0].attempt, 1);
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_liveness_probe_restarts_the_container() {
    let Fixture {
        profile,
        pods,
        agent,
        ..
    } = fixture();
    let created = pods
        .create(&with_probe(pod("live", "node-1", "web:1"), true, false))
        .await
        .unwrap();
    wait_for(&pods, "live", Duration::from_secs(5), is_running_and_ready).await;

    profile.set_live(created.uid(), "main", false);
    let restarted = wait_for(&pods, "live", Duration::from_secs(120), |p| {
        p.restart_count() >= 1
    })
    .await;
    let last = restarted.status.unwrap().container_statuses[0]
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.exit_code, 143, "stopped with TERM: {last:?}");

    // Alive again: the restarted container stays up.
    profile.set_live(created.uid(), "main", true);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(pods.get("live").await.unwrap().restart_count(), 1);
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn readiness_flips_the_ready_condition() {
    let Fixture {
        profile,
        pods,
        agent,
        ..
    } = fixture();
    let created = pods
        .create(&with_probe(pod("ready", "node-1", "web:1"), false, true))
        .await
        .unwrap();
    wait_for(
        &pods,
        "ready",
        Duration::from_secs(15),
        is_running_and_ready,
    )
    .await;

    profile.set_ready(created.uid(), "main", false);
    let unready = wait_for(&pods, "ready", Duration::from_secs(60), |p| !p.is_ready()).await;
    assert_eq!(unready.phase(), PodPhase::Running);
    assert_eq!(unready.restart_count(), 0, "readiness never restarts");

    profile.set_ready(created.uid(), "main", true);
    wait_for(&pods, "ready", Duration::from_secs(30), Pod::is_ready).await;
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn deleting_a_pod_stops_its_containers_with_grace_then_removes_it() {
    let Fixture {
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    // This container ignores SIGTERM for 60 s: the 5 s grace period ends it with KILL.
    let mut stubborn = pod("stubborn", "node-1", "orchestra-ignore-term");
    stubborn.spec.containers[0].args = vec!["60".into()];
    stubborn.spec.termination_grace_period_seconds = Some(5);
    pods.create(&stubborn).await.unwrap();
    wait_for(
        &pods,
        "stubborn",
        Duration::from_secs(5),
        is_running_and_ready,
    )
    .await;

    let asked = tokio::time::Instant::now();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pending = pods.get_opt("stubborn").await.unwrap();
    assert!(
        pending.is_some_and(|p| p.metadata.deletion_timestamp.is_some()),
        "still terminating within the grace period"
    );
    loop {
        if pods.get_opt("stubborn").await.unwrap().is_none() {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "the pod was not removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "removed after the 5 s grace: {took:?}"
    );
    assert_eq!(runtime.container_count(), 0, "its containers are removed");
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_agent_adopts_its_containers_and_cleans_up_the_rest() {
    let Fixture {
        client,
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    for name in ["a", "b", "c"] {
        pods.create(&pod(name, "node-1", "web:1")).await.unwrap();
    }
    for name in ["a", "b", "c"] {
        wait_for(&pods, name, Duration::from_secs(5), is_running_and_ready).await;
    }
    let before: Vec<_> = runtime
        .list_containers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    agent.stop().await;

    // While the agent is down, one pod is removed from the store outright.
    pods.delete("c", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let agent = start_agent(&client, &runtime, "node-1");
    tokio::time::sleep(Duration::from_secs(10)).await;

    let after = runtime.list_containers().await.unwrap();
    assert_eq!(
        after.len(),
        2,
        "the gone pod's container is removed, nothing duplicated"
    );
    for c in &after {
        assert!(before.contains(&c.id), "adopted, not restarted: {c:?}");
        assert!(c.state.is_running());
    }
    for name in ["a", "b"] {
        let p = pods.get(name).await.unwrap();
        assert!(is_running_and_ready(&p));
        assert_eq!(p.restart_count(), 0);
    }
    agent.stop().await;
}

#[tokio::test(start_paused = true)]
async fn lease_renewal_stops_when_the_agent_stops() {
    let (client, _) = common::memory_client();
    let runtime = SimRuntime::new();
    let agent = start_agent(&client, &runtime, "node-1");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = leases.get("node-1").await.unwrap().spec.renew_time.unwrap();
    tokio::time::sleep(Duration::from_secs(25)).await;
    let renewed = leases.get("node-1").await.unwrap().spec.renew_time.unwrap();
    assert!(
        renewed.since(first) >= Duration::from_secs(20),
        "renewed every 10 s"
    );

    agent.stop().await;
    let last = leases.get("node-1").await.unwrap().spec.renew_time.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        leases.get("node-1").await.unwrap().spec.renew_time.unwrap(),
        last
    );
}

#[tokio::test(start_paused = true)]
async fn a_thousand_stable_pods_cause_no_status_writes() {
    let (client, store) = common::memory_client();
    let runtime = SimRuntime::new();
    let config = NodeAgentConfig::new("node-1").capacity("pods", "2000".parse().unwrap());
    let agent = NodeAgent::new(client.clone(), Arc::new(runtime.clone()), config);
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move { agent.run(token).await.unwrap() });
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..1000 {
        pods.create(&pod(&format!("p{i}"), "node-1", "web:1"))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods.list(&ListParams::default()).await.unwrap().items;
        if list.iter().all(is_running_and_ready) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = store.current_revision().await.unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    let writes = store.current_revision().await.unwrap() - before;
    // Only the lease heartbeat writes (every 10 s).
    assert!(
        writes <= 11,
        "{writes} writes in 100 s with 1000 stable pods"
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn runtime_metrics_sum_the_containers_of_each_pod() {
    let Fixture {
        profile,
        runtime,
        pods,
        agent,
        ..
    } = fixture();
    profile.set_usage(SimSelector::image("busy:1"), SimUsage::new(750, 64 << 20));
    let mut two = pod("two", "node-1", "busy:1");
    let mut second = two.spec.containers[0].clone();
    second.name = "sidecar".into();
    two.spec.containers.push(second);
    pods.create(&two).await.unwrap();
    pods.create(&pod("one", "node-1", "busy:1")).await.unwrap();
    let one = wait_for(&pods, "one", Duration::from_secs(5), is_running_and_ready).await;
    let two = wait_for(&pods, "two", Duration::from_secs(5), is_running_and_ready).await;

    let metrics = RuntimeMetrics::new();
    metrics.add_node("node-1", Arc::new(runtime.clone()));
    let pods = [Arc::new(one), Arc::new(two)];
    let cpu = metrics.pod_resource_usage(&pods, "cpu").await.unwrap();
    assert_eq!(cpu.get("one"), Some(&750));
    assert_eq!(cpu.get("two"), Some(&1500));
    let memory = metrics.pod_resource_usage(&pods, "memory").await.unwrap();
    assert_eq!(memory.get("two"), Some(&(128 << 20)));
    assert!(metrics.pod_resource_usage(&pods, "gpu").await.is_err());
    agent.stop().await;
}

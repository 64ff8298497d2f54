//! The whole-cluster scenarios: a control plane (ReplicaSet and Deployment controllers,
//! the reference scheduler) and N in-process node agents over SimRuntime, all sharing
//! one MemoryStore and one pod informer (the agents are fed by a `PodDispatcher`).
//!
//! - `e2e --nodes N --replicas R`: a Deployment of R replicas created → all Running.
//!   Per-pod startup latency is measured from the pod's creation (seen by the shared
//!   informer) to its first `Running` status. Peak RSS is read from `/proc/self/status`.
//! - `rollout --replicas R`: R replicas Running and Ready, then a new image, timed to
//!   the rollout being complete (`kubectl rollout status`'s condition) at 25%/25%.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra::core::kinds::{Deployment, Node, Pod, PodPhase};
use orchestra::core::{Api, Client, Clock, ListParams, Registry};
use orchestra::runtime::controllers::deployment::status::is_complete;
use orchestra::runtime::controllers::{DeploymentController, ReplicaSetController};
use orchestra::runtime::node::{NodeAgent, NodeAgentConfig, PodDispatcher};
use orchestra::runtime::reconcile::{DECODED_IN_LARGE_CACHES, InformerEvent, Manager};
use orchestra::runtime::runtimes::SimRuntime;
use orchestra::runtime::scheduler::DefaultScheduler;
use orchestra::store::{MemoryStore, MemoryStoreConfig};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

/// Store revisions kept for watchers to resume from (the MemoryStore default); older
/// ones are compacted away as new writes arrive.
const DEFAULT_HISTORY: usize = 100_000;

/// A running in-process cluster.
struct Cluster {
    client: Client,
    manager: Arc<Manager>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn deployment(replicas: i32, image: &str) -> Deployment {
    Deployment::new("my-web-server", replicas, image)
}

/// Starts the control plane and `nodes` agents, and waits until every node is Ready.
async fn start_cluster(
    nodes: usize,
    pods_per_node: usize,
    history: usize,
    compression: bool,
) -> Result<Cluster, String> {
    let store = MemoryStore::with_config(
        MemoryStoreConfig::default()
            .history(history)
            .compression(compression),
    );
    let client = Client::new(Registry::new(Arc::new(store)));
    let mut manager = Manager::new(client.clone());
    // As the cluster builder does: the pods being worked on stay decoded, the settled
    // ones are packed.
    manager
        .informers()
        .get::<Pod>()
        .keep_decoded(DECODED_IN_LARGE_CACHES);
    let rs = ReplicaSetController::new(client.clone(), manager.informers());
    let d = DeploymentController::new(client.clone(), manager.informers());
    manager = manager.controller(rs);
    manager = manager.controller(d);
    manager = DefaultScheduler::new().seed(1).add_to(manager);
    let dispatcher = PodDispatcher::new(manager.informers().get::<Pod>());
    let manager = Arc::new(manager);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    {
        let (manager, token) = (manager.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { manager.run(token).await }));
    }
    {
        let (dispatcher, token) = (dispatcher.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { dispatcher.run(token).await }));
    }
    let capacity = (pods_per_node.max(110)).to_string();
    for n in 0..nodes {
        let config = NodeAgentConfig::new(format!("node-{n:05}"))
            .capacity("pods", capacity.parse().map_err(|e| format!("{e}"))?)
            .capacity("cpu", "64".parse().map_err(|e| format!("{e}"))?)
            .workers(2);
        let agent = NodeAgent::new(client.clone(), Arc::new(SimRuntime::new()), config);
        let feed = dispatcher.feed(agent.node_name());
        let token = stop.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = agent.run_with_feed(feed, token).await {
                eprintln!("agent failed: {error}");
            }
        }));
    }
    let mut health = manager.watch_health();
    health
        .wait_for(|h| h.controllers_running)
        .await
        .map_err(|e| e.to_string())?;
    let node_api: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ready = node_api
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .iter()
            .filter(|n| n.is_ready())
            .count();
        if ready == nodes {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready} of {nodes} nodes Ready"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the scheduler's snapshot take in every node.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Cluster {
        client,
        manager,
        stop,
        tasks,
    })
}

impl Cluster {
    async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Resident memory now and at its peak, from `/proc/self/status` (0 where unreadable).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Bytes allocated and not yet freed, counted by the bench's allocator.
fn live_heap_bytes() -> isize {
    crate::GLOBAL.allocated() as isize
}

/// What the e2e driver has seen of the pods. It keeps nothing per pod but the latency,
/// so its own bookkeeping stays out of the memory it measures: a pod's startup runs
/// from its creationTimestamp (stamped by the API, as Kubernetes' pod startup SLI
/// counts) to the first event that shows it Running.
struct Observed {
    clock: Clock,
    created: usize,
    deleted: usize,
    /// Creation → first Running, in milliseconds, one per pod that got there.
    latencies: Vec<f64>,
}

impl Observed {
    fn new(clock: Clock, pods: usize) -> Self {
        Self {
            clock,
            created: 0,
            deleted: 0,
            latencies: Vec::with_capacity(pods),
        }
    }

    /// Takes in one event.
    fn observe(&mut self, event: &InformerEvent<Pod>) {
        let running = |p: &Pod| p.phase() == PodPhase::Running;
        let started = match event {
            InformerEvent::Added(pod) => {
                self.created += 1;
                running(pod).then_some(pod)
            }
            InformerEvent::Updated { old, new } => (!running(old) && running(new)).then_some(new),
            InformerEvent::Deleted(_) => {
                self.deleted += 1;
                None
            }
        };
        if let Some(created) = started.and_then(|p| p.metadata.creation_timestamp) {
            let latency = self.clock.now().since(created);
            self.latencies.push(latency.as_secs_f64() * 1000.0);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn e2e(args: &mut Args) -> Result<(), String> {
    let nodes: usize = args.get("nodes", 10)?;
    let replicas: usize = args.get("replicas", 1_000)?;
    let history: usize = args.get("history", DEFAULT_HISTORY)?;
    let compression: bool = args.get("compression", true)?;
    let setup = Instant::now();
    let cluster = start_cluster(nodes, replicas.div_ceil(nodes) * 2, history, compression).await?;
    let setup_secs = setup.elapsed().as_secs_f64();
    let (rss_before, _) = rss();
    let heap_before = live_heap_bytes();

    // Observe through a handler on the shared informer: no extra decoding, no queue,
    // and no wake-up of this thread per event; it is woken once, when every pod is
    // Running.
    let observed = Arc::new(Mutex::new(Observed::new(
        cluster.client.clock().clone(),
        replicas,
    )));
    let all_running = Arc::new(Notify::new());
    let _observer = cluster.manager.informers().get::<Pod>().add_handler({
        let observed = observed.clone();
        let all_running = all_running.clone();
        move |event| {
            let mut observed = observed.lock();
            observed.observe(event);
            if observed.latencies.len() == replicas {
                all_running.notify_one();
            }
        }
    });
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let started = Instant::now();
    deployments
        .create(&deployment(
            i32::try_from(replicas).map_err(|e| e.to_string())?,
            "web-server:1",
        ))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = started + Duration::from_secs(900);
    tokio::time::timeout_at(deadline.into(), all_running.notified())
        .await
        .map_err(|_| {
            let running = observed.lock().latencies.len();
            format!("only {running} of {replicas} pods Running")
        })?;
    let elapsed = started.elapsed();
    let (rss_after, peak) = rss();
    let heap_per_pod = (live_heap_bytes() - heap_before) as f64 / replicas as f64;
    let (created, deleted, mut latencies) = {
        let mut observed = observed.lock();
        let latencies = std::mem::take(&mut observed.latencies);
        (observed.created, observed.deleted, latencies)
    };
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    let pods_per_sec = per_sec(replicas as u64, elapsed);
    let per_pod = rss_after.saturating_sub(rss_before) as f64 / replicas as f64;
    let peak_per_pod = peak as f64 / replicas as f64;
    cluster.shutdown().await;

    let mut table = Table::new(format!(
        "e2e benchmark: {replicas} replicas on {nodes} simulated nodes (one process)"
    ));
    table.row(
        "cluster start (nodes registered, Ready)",
        format!("{setup_secs:.2}"),
        "s",
    );
    table.row(
        "deployment created → all Running",
        format!("{:.3}", elapsed.as_secs_f64()),
        "s",
    );
    table.row("throughput", thousands(pods_per_sec), "pods/s");
    table.row(
        "pods created / deleted on the way",
        format!("{created} / {deleted}"),
        "pods",
    );
    table.row("pod startup latency p50", format!("{p50:.1}"), "ms");
    table.row("pod startup latency p99", format!("{p99:.1}"), "ms");
    table.row(
        "peak RSS (whole process)",
        format!("{:.1}", peak as f64 / 1048576.0),
        "MiB",
    );
    table.row("RSS growth per pod", format!("{per_pod:.0}"), "bytes");
    table.row(
        "live heap growth per pod",
        format!("{heap_per_pod:.0}"),
        "bytes",
    );
    table.row("peak RSS / pods", format!("{peak_per_pod:.0}"), "bytes");
    table.print();
    result_line(json!({
        "scenario": "e2e",
        "nodes": nodes,
        "replicas": replicas,
        "seconds": elapsed.as_secs_f64(),
        "pods_per_sec": pods_per_sec,
        "p50_ms": p50,
        "p99_ms": p99,
        "peak_rss_bytes": peak,
        "rss_bytes_per_pod": per_pod.round(),
        "heap_bytes_per_pod": heap_per_pod.round(),
    }));
    Ok(())
}

async fn wait_rollout(
    api: &Api<Deployment>,
    replicas: i32,
    image: &str,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let d = api.get("my-web-server").await.map_err(|e| e.to_string())?;
        let done = d.status.as_ref().is_some_and(|s| is_complete(&d, s))
            && d.replicas() == replicas
            && d.spec.template.spec.containers[0].image == image;
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("rollout to {image} not complete: {:?}", d.status));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn rollout(args: &mut Args) -> Result<(), String> {
    let nodes: usize = args.get("nodes", 10)?;
    let replicas: usize = args.get("replicas", 1_000)?;
    let r = i32::try_from(replicas).map_err(|e| e.to_string())?;
    let history: usize = args.get("history", DEFAULT_HISTORY)?;
    let compression: bool = args.get("compression", true)?;
    let cluster = start_cluster(nodes, replicas.div_ceil(nodes) * 3, history, compression).await?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(900);
    let first = Instant::now();
    api.create(&deployment(r, "web-server:1"))
        .await
        .map_err(|e| e.to_string())?;
    wait_rollout(&api, r, "web-server:1", deadline).await?;
    let initial = first.elapsed();

    let started = Instant::now();
    api.update_with("my-web-server", |d| {
        d.spec.template.spec.containers[0].image = "web-server:2".into();
    })
    .await
    .map_err(|e| e.to_string())?;
    wait_rollout(&api, r, "web-server:2", deadline).await?;
    let elapsed = started.elapsed();
    cluster.shutdown().await;

    let mut table = Table::new(format!(
        "rollout benchmark: {replicas} replicas on {nodes} simulated nodes, maxSurge 25%, maxUnavailable 25%"
    ));
    table.row(
        "initial deployment → complete",
        format!("{:.3}", initial.as_secs_f64()),
        "s",
    );
    table.row(
        "image update → rollout complete",
        format!("{:.3}", elapsed.as_secs_f64()),
        "s",
    );
    table.print();
    result_line(json!({
        "scenario": "rollout",
        "replicas": replicas,
        "seconds": elapsed.as_secs_f64(),
    }));
    Ok(())
}

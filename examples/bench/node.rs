//! The node agent scenarios: N pods bound to one agent, from the first pod created to
//! the last pod reported Running.
//!
//! - `process --pods N`: ProcessRuntime, each pod a real `sleep` process.
//! - `sim-node --pods N`: SimRuntime, virtual containers.
//!
//! The pods are created already bound (`spec.nodeName`), so no scheduler is involved;
//! completion is read from the store, so it includes the agent's status writes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra::core::kinds::{Container, Pod, PodPhase, PodSpec};
use orchestra::core::{Api, Client, ListParams, ObjectMeta, Registry, Runtime};
use orchestra::runtime::node::{NodeAgent, NodeAgentConfig};
use orchestra::runtime::reconcile::Informer;
use orchestra::runtime::runtimes::SimRuntime;
use orchestra::store::{MemoryStore, MemoryStoreConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

/// Which runtime the agent drives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Process,
    Sim,
}

fn pod(i: usize, image: &str, args: &[&str]) -> Pod {
    Pod {
        metadata: ObjectMeta::named(format!("pod-{i:06}")),
        spec: PodSpec {
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: Some(0),
            containers: vec![Container {
                name: "main".into(),
                image: image.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

pub async fn run(args: &mut Args, kind: Kind) -> Result<(), String> {
    let default_pods = if kind == Kind::Process { 1_000 } else { 10_000 };
    let pods: usize = args.get("pods", default_pods)?;
    let workers: usize = args.get("workers", 16)?;
    let store = Arc::new(MemoryStore::with_config(
        MemoryStoreConfig::default().history(4 * pods + 1_000),
    ));
    let client = Client::new(Registry::new(store));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let runtime: Arc<dyn Runtime> = match kind {
        Kind::Sim => Arc::new(SimRuntime::new()),
        #[cfg(unix)]
        Kind::Process => Arc::new(
            orchestra::runtime::runtimes::ProcessRuntime::open(dir.path())
                .await
                .map_err(|e| e.to_string())?,
        ),
        #[cfg(not(unix))]
        Kind::Process => return Err("the process runtime needs a Unix host".into()),
    };
    let config = NodeAgentConfig::new("node-1")
        .capacity(
            "pods",
            pods.to_string().parse().map_err(|e| format!("{e}"))?,
        )
        .workers(workers);
    let agent = NodeAgent::new(client.clone(), runtime.clone(), config);
    let stop = CancellationToken::new();
    let token = stop.clone();
    let running = tokio::spawn(async move { agent.run(token).await });
    // Let the agent register and sync its (empty) pod cache before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let api: Api<Pod> = Api::namespaced(client.clone(), "bench");
    // An observer, like `kubectl get pods -w`: one decode per event, not a list per poll.
    let observer = Arc::new(Informer::new(api.clone(), ListParams::default()));
    let mut events = observer.subscribe();
    let observing = {
        let (observer, token) = (observer.clone(), stop.clone());
        tokio::spawn(async move { observer.run(token).await })
    };
    let started = Instant::now();
    for i in 0..pods {
        let p = match kind {
            Kind::Process => pod(i, "sleep", &["600"]),
            Kind::Sim => pod(i, "web-server:1", &[]),
        };
        api.create(&p).await.map_err(|e| e.to_string())?;
    }
    let created = started.elapsed();
    let mut up = HashSet::new();
    let elapsed = loop {
        let event = tokio::time::timeout(Duration::from_secs(300), events.recv())
            .await
            .map_err(|_| format!("only {} of {pods} pods Running after 5 minutes", up.len()))?
            .ok_or("the observer stopped")?;
        let pod = event.object();
        if pod.phase() == PodPhase::Running {
            up.insert(pod.metadata.name.clone());
        }
        if up.len() == pods {
            break started.elapsed();
        }
    };
    let containers = runtime.list_containers().await.map_err(|e| e.to_string())?;
    let live = containers.iter().filter(|c| c.state.is_running()).count();
    stop.cancel();
    let _ = observing.await;
    running
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // Clean up: stopping the agent leaves containers running by design.
    for c in &containers {
        let _ = runtime.remove_container(&c.id).await;
    }

    let scenario = if kind == Kind::Process {
        "process"
    } else {
        "sim-node"
    };
    let mut table = Table::new(format!(
        "{scenario} benchmark: {pods} pods bound to one node agent ({workers} workers)"
    ));
    table.row(
        "pods created in",
        format!("{:.3}", created.as_secs_f64()),
        "s",
    );
    table.row(
        "first created → last reported Running",
        format!("{:.3}", elapsed.as_secs_f64()),
        "s",
    );
    table.row(
        "throughput",
        thousands(per_sec(pods as u64, elapsed)),
        "pods/s",
    );
    table.row("running containers at the end", live, "containers");
    table.print();
    if live != pods {
        return Err(format!("{live} containers running for {pods} pods"));
    }
    result_line(json!({
        "scenario": scenario,
        "pods": pods,
        "seconds": elapsed.as_secs_f64(),
    }));
    Ok(())
}

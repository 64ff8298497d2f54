//! The `scheduler` scenario: N nodes, then M pods created as fast as the API takes
//! them while the reference scheduler places them. Timed from the first pod created
//! to the last pod bound (binding writes included), against a MemoryStore.
//!
//! Every pod requests 100m cpu and 128Mi memory; every node offers 32 cpu, 128Gi
//! memory and 110 pods, so every pod fits and the cycle does full work (sampling,
//! filtering, scoring, spreading). Completion is detected from the store revision
//! (each pod is written exactly twice: create and bind) and checked afterwards by
//! listing every pod.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra::core::kinds::{
    Container, LABEL_HOSTNAME, Node, NodeStatus, Pod, PodSpec, ResourceRequirements,
};
use orchestra::core::{Api, Client, ListParams, ObjectMeta, Registry, Store};
use orchestra::runtime::reconcile::Manager;
use orchestra::runtime::scheduler::DefaultScheduler;
use orchestra::store::{MemoryStore, MemoryStoreConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

fn node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    let mut meta = ObjectMeta::named(&name);
    meta.labels.insert(LABEL_HOSTNAME.to_owned(), name);
    Node {
        metadata: meta,
        status: Some(NodeStatus {
            allocatable: [
                ("cpu".to_owned(), "32".parse().expect("quantity")),
                ("memory".to_owned(), "128Gi".parse().expect("quantity")),
                ("pods".to_owned(), "110".parse().expect("quantity")),
            ]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod(i: usize) -> Pod {
    Pod {
        metadata: ObjectMeta::named(format!("pod-{i:06}")),
        spec: PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: "web-server:1".into(),
                resources: ResourceRequirements {
                    requests: [
                        ("cpu".to_owned(), "100m".parse().expect("quantity")),
                        ("memory".to_owned(), "128Mi".parse().expect("quantity")),
                    ]
                    .into(),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

pub async fn run(args: &mut Args) -> Result<(), String> {
    let nodes: usize = args.get("nodes", 5_000)?;
    let pods: usize = args.get("pods", 10_000)?;
    if nodes * 110 < pods {
        return Err(format!(
            "--pods {pods} cannot fit on --nodes {nodes} (110 pods per node)"
        ));
    }
    let store = Arc::new(MemoryStore::with_config(
        MemoryStoreConfig::default().history(2 * pods + 2 * nodes + 1_000),
    ));
    let client = Client::new(Registry::new(store.clone()));
    let node_api: Api<Node> = Api::all(client.clone());
    for i in 0..nodes {
        let wanted = node(i);
        let mut created = node_api.create(&wanted).await.map_err(|e| e.to_string())?;
        created.status = wanted.status;
        node_api
            .update_status(&created)
            .await
            .map_err(|e| e.to_string())?;
    }

    let mut manager = Manager::new(client.clone());
    manager = DefaultScheduler::new().seed(1).add_to(manager);
    let mut health = manager.watch_health();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let running = tokio::spawn(async move { manager.run(token).await });
    health
        .wait_for(|h| h.controllers_running)
        .await
        .map_err(|e| e.to_string())?;
    // Let the scheduler take in the nodes before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let base = store.current_revision().await.map_err(|e| e.to_string())?;
    let target = base + 2 * pods as u64;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let started = Instant::now();
    for i in 0..pods {
        pod_api.create(&pod(i)).await.map_err(|e| e.to_string())?;
    }
    let created = started.elapsed();
    let deadline = started + Duration::from_secs(600);
    while store.current_revision().await.map_err(|e| e.to_string())? < target {
        if Instant::now() > deadline {
            return Err("pods were not all bound within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let elapsed = started.elapsed();
    stop.cancel();
    running.await.map_err(|e| e.to_string())?;

    let listed = pod_api
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .items;
    let bound = listed.iter().filter(|p| p.node_name().is_some()).count();
    if bound != pods {
        return Err(format!("{bound} of {pods} pods are bound"));
    }
    let mut per_node = std::collections::HashMap::<&str, usize>::new();
    for p in &listed {
        *per_node
            .entry(p.node_name().unwrap_or_default())
            .or_default() += 1;
    }
    let busiest = per_node.values().copied().max().unwrap_or(0);

    let pods_per_sec = per_sec(pods as u64, elapsed);
    let mut table = Table::new(format!(
        "scheduler benchmark, {nodes} nodes, {pods} pods (MemoryStore)"
    ));
    table.row(
        "pods created in",
        format!("{:.3}", created.as_secs_f64()),
        "s",
    );
    table.row(
        "first created → last bound",
        format!("{:.3}", elapsed.as_secs_f64()),
        "s",
    );
    table.row("throughput", thousands(pods_per_sec), "pods/s");
    table.row("nodes used", per_node.len(), "nodes");
    table.row("most pods on one node", busiest, "pods");
    table.print();
    result_line(json!({
        "scenario": "scheduler",
        "nodes": nodes,
        "pods": pods,
        "seconds": elapsed.as_secs_f64(),
        "pods_per_sec": pods_per_sec,
    }));
    Ok(())
}

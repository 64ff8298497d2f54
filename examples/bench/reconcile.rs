//! The `reconcile` scenario: many objects through one controller with a trivial
//! reconcile — the cost of the machinery itself (informer, cache, queue, runner).
//!
//! Reports the time to sync the cache (list + decode), the reconcile throughput once
//! the controller starts, and the cache's memory per object beyond the objects
//! themselves, counted by the bench's allocator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use orchestra::core::kinds::{Container, Pod, PodSpec};
use orchestra::core::{Api, Client, ListParams, ObjectMeta, Registry};
use orchestra::runtime::reconcile::{Action, Context, Controller, Manager};
use orchestra::store::{MemoryStore, MemoryStoreConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::GLOBAL;
use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

/// Counts reconciles; does nothing else.
struct Count(Arc<AtomicUsize>);

#[async_trait]
impl Controller for Count {
    type Object = Pod;
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        "count"
    }

    async fn reconcile(&self, _pod: Arc<Pod>, _ctx: &Context<Pod>) -> Result<Action, Self::Error> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Action::await_change())
    }
}

fn live_bytes() -> isize {
    GLOBAL.allocated() as isize
}

pub async fn run(args: &mut Args) -> Result<(), String> {
    let objects: usize = args.get("objects", 100_000)?;
    // How many pods the cache keeps decoded (default: all); fewer packs the rest.
    let decoded: usize = args.get("decoded", usize::MAX)?;
    let store = Arc::new(MemoryStore::with_config(
        MemoryStoreConfig::default().history(objects + 1_000),
    ));
    let client = Client::new(Registry::new(store));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let started = Instant::now();
    for i in 0..objects {
        let pod = Pod {
            metadata: ObjectMeta::named(format!("pod-{i:06}")),
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: "web-server:1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            status: None,
        };
        pods.create(&pod).await.map_err(|e| e.to_string())?;
    }
    let create_secs = started.elapsed().as_secs_f64();

    // The objects alone: decode them all and hold them as the cache would (Arc<Pod>).
    let before = live_bytes();
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    // Pushed one by one: `collect` would reuse the list's buffer of whole pods and keep
    // it alive, counting it as object memory.
    let mut held: Vec<Arc<Pod>> = Vec::with_capacity(objects);
    for pod in list.items {
        held.push(Arc::new(pod));
    }
    let object_bytes = (live_bytes() - before) as f64 / objects as f64;
    drop(held);

    let count = Arc::new(AtomicUsize::new(0));
    let mut manager = Manager::new(client.clone());
    manager.informers().get::<Pod>().keep_decoded(decoded);
    manager = manager.controller(Count(count.clone()));
    let mut health = manager.watch_health();
    let stop = CancellationToken::new();
    let before_cache = live_bytes();
    let sync_started = Instant::now();
    let token = stop.clone();
    let running = tokio::spawn(async move { manager.run(token).await });
    health
        .wait_for(|h| h.controllers_running)
        .await
        .map_err(|e| e.to_string())?;
    let sync_secs = sync_started.elapsed().as_secs_f64();
    let reconcile_started = Instant::now();
    while count.load(Ordering::Relaxed) < objects {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let reconcile_elapsed = reconcile_started.elapsed();
    let cache_bytes = (live_bytes() - before_cache) as f64 / objects as f64;
    stop.cancel();
    running.await.map_err(|e| e.to_string())?;

    let reconciles_per_sec = per_sec(objects as u64, reconcile_elapsed);
    let overhead = (cache_bytes - object_bytes).max(0.0);
    let kept = if decoded >= objects {
        "all decoded".to_owned()
    } else {
        format!("{decoded} decoded, the rest packed")
    };
    let mut table = Table::new(format!(
        "reconcile benchmark, {objects} pods, one controller, cache: {kept}"
    ));
    table.row("create through the API", format!("{create_secs:.2}"), "s");
    table.row("cache sync (list + decode)", format!("{sync_secs:.3}"), "s");
    table.row("reconciles", thousands(reconciles_per_sec), "reconciles/s");
    table.row(
        "decoded pod, as Arc<Pod>",
        format!("{object_bytes:.0}"),
        "bytes/object",
    );
    table.row(
        "cache + queue, per object",
        format!("{cache_bytes:.0}"),
        "bytes/object",
    );
    table.row(
        "overhead beyond the object",
        format!("{overhead:.0}"),
        "bytes/object",
    );
    table.print();
    result_line(json!({
        "scenario": "reconcile",
        "objects": objects,
        "reconciles_per_sec": reconciles_per_sec,
        "cache_bytes_per_object": overhead.round(),
        "cache_and_queue_bytes_per_object": cache_bytes.round(),
        "decoded": decoded.min(objects),
        "sync_seconds": sync_secs,
    }));
    Ok(())
}

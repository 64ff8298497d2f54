//! The `store` scenario: raw Store throughput, the same measurements for every backend.
//!
//! Each measurement writes under its own prefix with 256-byte values, so backends that
//! persist state across runs (or share a server) are measured alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use orchestra::core::{ListOptions, Store};
use orchestra::store::{DurableStore, DurableStoreConfig, MemoryStore, MemoryStoreConfig};
use serde_json::json;

use crate::args::Args;
use crate::report::{Table, per_sec, result_line, thousands};

const VALUE_BYTES: usize = 256;

/// How much work each measurement does.
struct Sizes {
    keys: usize,
    gets: usize,
    seq_writes: usize,
    writers: usize,
    writes_per_writer: usize,
    list_keys: usize,
    watchers: usize,
    watched_writes: usize,
    latency_writes: usize,
    /// Keys of the memory measurement (in-process backends only).
    memory_keys: usize,
}

pub async fn run(args: &mut Args) -> Result<(), String> {
    let backend: String = args.get("backend", "memory".to_owned())?;
    let scale: Option<f64> = match args.get("scale", 0.0)? {
        s if s > 0.0 => Some(s),
        _ => None,
    };
    if backend != "all" {
        run_one(&backend, scale).await?;
        return Ok(());
    }
    // Side by side in one run: DurableStore against etcd on the same machine.
    let durable = run_one("durable", scale).await?;
    let etcd = run_one("etcd", scale).await?;
    let ratio = |a: f64, b: f64| (a / b * 100.0).round() / 100.0;
    let mut table = Table::new("DurableStore over etcd, same machine, both fsync-acknowledged");
    table.row(
        "64 writers",
        format!(
            "{:.2}",
            ratio(
                durable.concurrent_writes_per_sec,
                etcd.concurrent_writes_per_sec
            )
        ),
        "x",
    );
    table.row(
        "1 writer",
        format!(
            "{:.2}",
            ratio(durable.seq_writes_per_sec, etcd.seq_writes_per_sec)
        ),
        "x",
    );
    table.print();
    result_line(json!({
        "scenario": "store-compare",
        "durable_over_etcd_concurrent_writes": ratio(durable.concurrent_writes_per_sec, etcd.concurrent_writes_per_sec),
        "durable_over_etcd_seq_writes": ratio(durable.seq_writes_per_sec, etcd.seq_writes_per_sec),
    }));
    Ok(())
}

/// Measures one backend, prints its table and `RESULT` line, and returns its figures.
async fn run_one(backend: &str, scale: Option<f64>) -> Result<Figures, String> {
    let backend = backend.to_owned();
    // The rates stay comparable; only the runs are shorter where operations are slow:
    // every durable write waits for an fsync (writes at a hundredth), and etcd is a
    // networked, fsyncing server (everything at a fiftieth).
    let (default_scale, writes) = match backend.as_str() {
        "durable" => (1.0, 0.01),
        "etcd" => (0.02, 1.0),
        _ => (1.0, 1.0),
    };
    let scale = scale.unwrap_or(default_scale);
    let n = |base: usize| ((base as f64 * scale) as usize).max(1);
    let w = |base: usize| n((base as f64 * writes) as usize);
    let sizes = Sizes {
        keys: 10_000,
        gets: n(2_000_000),
        seq_writes: w(500_000),
        writers: 64,
        // Enough that the 64 writers run for a while even when commits are fast.
        writes_per_writer: w(5_000).max(n(500)),
        list_keys: 10_000,
        watchers: 100,
        watched_writes: w(200_000),
        latency_writes: w(20_000).max(500),
        // Not scaled: the figure is for a store of this size.
        memory_keys: 100_000,
    };
    let heap_per_key = match backend.as_str() {
        "memory" => Some(heap_per_key(sizes.memory_keys).await?),
        _ => None,
    };
    let (store, _kept) = open_backend(&backend).await?;
    let figures = measure(&backend, store, &sizes).await?;
    let mut table = Table::new(format!(
        "store benchmark, backend {backend}, {VALUE_BYTES}-byte values"
    ));
    table.row("get (1 task)", thousands(figures.gets_per_sec), "gets/s");
    table.row(
        "guarded update (1 task)",
        thousands(figures.seq_writes_per_sec),
        "writes/s",
    );
    table.row(
        format!("guarded update ({} tasks)", sizes.writers),
        thousands(figures.concurrent_writes_per_sec),
        "writes/s",
    );
    table.row(
        format!("list {} keys", sizes.list_keys),
        format!("{:.2}", figures.list_10k_ms),
        "ms",
    );
    table.row(
        format!("guarded update, {} watchers", sizes.watchers),
        thousands(figures.writes_per_sec_100_watchers),
        "writes/s",
    );
    table.row(
        "events delivered to watchers",
        thousands(figures.events_delivered_per_sec),
        "events/s",
    );
    table.row(
        "slowdown from watchers",
        format!(
            "{:.2}",
            figures.seq_writes_per_sec / figures.writes_per_sec_100_watchers
        ),
        "x",
    );
    table.row(
        "watch latency, write ack to receipt, p99",
        format!("{:.3}", figures.watch_p99_ms),
        "ms",
    );
    if let Some(bytes) = heap_per_key {
        table.row(
            format!(
                "heap per key, {} pod-like keys written 3 times",
                thousands(sizes.memory_keys as f64)
            ),
            format!("{bytes:.0}"),
            "bytes",
        );
    }
    table.print();
    result_line(json!({
        "scenario": "store",
        "heap_bytes_per_key": heap_per_key.map(f64::round),
        "backend": backend,
        "gets_per_sec": figures.gets_per_sec,
        "seq_writes_per_sec": figures.seq_writes_per_sec,
        "concurrent_writes_per_sec": figures.concurrent_writes_per_sec,
        "list_10k_ms": figures.list_10k_ms,
        "writes_per_sec_100_watchers": figures.writes_per_sec_100_watchers,
        "watch_events_delivered_per_sec": figures.events_delivered_per_sec,
        "watch_p99_ms": figures.watch_p99_ms,
    }));
    Ok(figures)
}

/// Opens the backend to measure, with whatever must stay alive while it is used: the
/// temporary directory of a store on disk, the etcd server the bench starts for itself.
async fn open_backend(name: &str) -> Result<(Arc<dyn Store>, Box<dyn std::any::Any>), String> {
    match name {
        // History large enough that the watchers of the watched-writes measurement are
        // never cut off: they must receive every event.
        "memory" => Ok((
            Arc::new(MemoryStore::with_config(
                MemoryStoreConfig::default().history(4_000_000),
            )),
            Box::new(()),
        )),
        "durable" => {
            let dir = tempfile::tempdir().map_err(err)?;
            let store = DurableStore::open_with_config(
                dir.path(),
                DurableStoreConfig::default().history(4_000_000),
            )
            .map_err(err)?;
            println!("durable store in {}", dir.path().display());
            Ok((Arc::new(store), Box::new(dir)))
        }
        #[cfg(feature = "etcd")]
        "etcd" => {
            use orchestra::store::testing::{EtcdCluster, etcd_installed};
            use orchestra::store::{EtcdStore, EtcdStoreConfig};
            if !etcd_installed() {
                return Err(
                    "the etcd backend needs the `etcd` binary (Debian: etcd-server)".to_owned(),
                );
            }
            let cluster = EtcdCluster::start(1).await;
            let store = EtcdStore::connect(EtcdStoreConfig::new(cluster.endpoints()))
                .await
                .map_err(err)?;
            Ok((Arc::new(store), Box::new(cluster)))
        }
        #[cfg(not(feature = "etcd"))]
        "etcd" => Err("build the bench with `--features etcd` for the etcd backend".to_owned()),
        other => Err(format!(
            "unknown backend {other:?}: expected memory, durable or etcd"
        )),
    }
}

struct Figures {
    gets_per_sec: f64,
    seq_writes_per_sec: f64,
    concurrent_writes_per_sec: f64,
    list_10k_ms: f64,
    writes_per_sec_100_watchers: f64,
    events_delivered_per_sec: f64,
    watch_p99_ms: f64,
}

fn value() -> Bytes {
    Bytes::from(vec![b'x'; VALUE_BYTES])
}

fn key(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}{i:08}").into_bytes()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn measure(backend: &str, store: Arc<dyn Store>, sizes: &Sizes) -> Result<Figures, String> {
    let run = format!("/bench/{backend}/{}", std::process::id());

    // Gets over a populated keyspace.
    let get_prefix = format!("{run}/get/");
    let keys: Vec<Vec<u8>> = (0..sizes.keys).map(|i| key(&get_prefix, i)).collect();
    create_all(&store, &keys).await?;
    let start = Instant::now();
    for i in 0..sizes.gets {
        let found = store.get(&keys[i % keys.len()]).await.map_err(err)?;
        std::hint::black_box(found);
    }
    let gets_per_sec = per_sec(sizes.gets as u64, start.elapsed());

    // Sequential guarded updates, one task.
    let seq_writes_per_sec =
        sequential_writes(&store, &format!("{run}/seq/"), sizes.seq_writes).await?;

    // Concurrent guarded updates: each writer owns one key.
    let conc_prefix = format!("{run}/conc/");
    let conc_keys: Vec<Vec<u8>> = (0..sizes.writers).map(|w| key(&conc_prefix, w)).collect();
    let revisions = create_all(&store, &conc_keys).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, mut rev) in revisions.into_iter().enumerate() {
        let store = store.clone();
        let k = key(&conc_prefix, w);
        let count = sizes.writes_per_writer;
        tasks.push(tokio::spawn(async move {
            for _ in 0..count {
                rev = update(&store, &k, rev).await?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    let concurrent_writes_per_sec = per_sec(
        (sizes.writers * sizes.writes_per_writer) as u64,
        start.elapsed(),
    );

    // List of 10k keys (the get keyspace): best of 5.
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let list = store
            .list(get_prefix.as_bytes(), ListOptions::default())
            .await
            .map_err(err)?;
        best = best.min(start.elapsed());
        if list.kvs.len() != sizes.list_keys {
            return Err(format!(
                "list returned {} keys, expected {}",
                list.kvs.len(),
                sizes.list_keys
            ));
        }
    }
    let list_10k_ms = best.as_secs_f64() * 1000.0;

    // Sequential writes while watchers consume every event.
    let watch_prefix = format!("{run}/watched/");
    let from = store.current_revision().await.map_err(err)?;
    let mut consumers = Vec::new();
    for _ in 0..sizes.watchers {
        let mut stream = store
            .watch(watch_prefix.as_bytes(), from)
            .await
            .map_err(err)?;
        let expected = sizes.watched_writes + 1_000;
        consumers.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                match stream.next().await {
                    Some(Ok(_)) => seen += 1,
                    Some(Err(e)) => return Err(format!("watcher failed after {seen} events: {e}")),
                    None => return Err(format!("watch ended after {seen} events")),
                }
            }
            Ok(seen)
        }));
    }
    let writes_per_sec_100_watchers =
        sequential_writes(&store, &watch_prefix, sizes.watched_writes).await?;
    for c in consumers {
        tokio::time::timeout(Duration::from_secs(120), c)
            .await
            .map_err(|_| "a watcher did not receive every event within 120 s".to_owned())?
            .map_err(err)??;
    }
    let delivered = (sizes.watchers * (sizes.watched_writes + 1_000)) as u64;
    let events_delivered_per_sec = per_sec(delivered, start.elapsed());
    let watch_p99_ms = watch_latency_p99(&store, &format!("{run}/latency/"), sizes).await?;
    Ok(Figures {
        watch_p99_ms,
        events_delivered_per_sec,
        gets_per_sec,
        seq_writes_per_sec,
        concurrent_writes_per_sec,
        list_10k_ms,
        writes_per_sec_100_watchers,
    })
}

/// Updates 1,000 keys round-robin `count` times from one task; returns writes/s. The
/// creates are not timed.
async fn sequential_writes(
    store: &Arc<dyn Store>,
    prefix: &str,
    count: usize,
) -> Result<f64, String> {
    let keys: Vec<Vec<u8>> = (0..1_000).map(|i| key(prefix, i)).collect();
    let mut revs = create_all(store, &keys).await?;
    let start = Instant::now();
    for i in 0..count {
        let slot = i % keys.len();
        revs[slot] = store
            .update(&keys[slot], value(), revs[slot])
            .await
            .map_err(err)?
            .mod_revision;
    }
    Ok(per_sec(count as u64, start.elapsed()))
}

/// Creates `keys` concurrently (not timed: a backend that commits writes together
/// fills them in a few commits); returns their revisions, in order.
async fn create_all(store: &Arc<dyn Store>, keys: &[Vec<u8>]) -> Result<Vec<u64>, String> {
    let creates = keys.iter().map(|k| store.create(k, value()));
    let kvs = futures::future::try_join_all(creates).await.map_err(err)?;
    Ok(kvs.into_iter().map(|kv| kv.mod_revision).collect())
}

/// One watcher, one writer doing sequential guarded updates: the 99th percentile of
/// the time from a write's acknowledgement to the watcher's receipt of it (0 when the
/// watcher got it first).
async fn watch_latency_p99(
    store: &Arc<dyn Store>,
    prefix: &str,
    sizes: &Sizes,
) -> Result<f64, String> {
    let k = key(prefix, 0);
    let mut rev = store.create(&k, value()).await.map_err(err)?.mod_revision;
    let mut stream = store.watch(prefix.as_bytes(), rev).await.map_err(err)?;
    let count = sizes.latency_writes;
    let watcher = tokio::spawn(async move {
        let mut received = Vec::with_capacity(count);
        while received.len() < count {
            match stream.next().await {
                Some(Ok(event)) => received.push((event.revision(), Instant::now())),
                other => return Err(format!("latency watch ended: {other:?}")),
            }
        }
        Ok(received)
    });
    let mut acked = Vec::with_capacity(count);
    for _ in 0..count {
        rev = update(store, &k, rev).await?;
        acked.push((rev, Instant::now()));
    }
    let received = tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .map_err(|_| "the latency watcher did not receive every event".to_owned())?
        .map_err(err)??;
    let mut latencies: Vec<Duration> = acked
        .iter()
        .zip(&received)
        .map(|((r1, ack), (r2, got))| {
            debug_assert_eq!(r1, r2);
            got.saturating_duration_since(*ack)
        })
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Ok(p99.as_secs_f64() * 1000.0)
}

/// One guarded update of `k` with a fresh value; returns the new mod_revision.
async fn update(store: &Arc<dyn Store>, k: &[u8], rev: u64) -> Result<u64, String> {
    Ok(store
        .update(k, value(), rev)
        .await
        .map_err(err)?
        .mod_revision)
}

/// The live heap a default-configured `MemoryStore` holds per key once `keys` keys have
/// each been written three times the way a pod is (created, bound to a node, given a
/// running status), interleaved as a cluster interleaves them, with the default history
/// of 100,000 revisions. Measured with the bench's counting allocator, so it is exact.
async fn heap_per_key(keys: usize) -> Result<f64, String> {
    let store = MemoryStore::new();
    let before = crate::GLOBAL.allocated() as f64;
    let mut revs = vec![0; keys];
    // Three passes a little apart, as a cluster's creates, binds and status updates are:
    // each key's versions sit at different distances from the history's end.
    const LAG: usize = 10_000;
    for step in 0..keys + 2 * LAG {
        for stage in 0..3 {
            let Some(i) = step.checked_sub(stage * LAG).filter(|&i| i < keys) else {
                continue;
            };
            let key = format!("/registry/pods/default/{}", pod_name(i));
            let value = pod_like(i, stage);
            revs[i] = if stage == 0 {
                store.create(key.as_bytes(), value).await
            } else {
                store.update(key.as_bytes(), value, revs[i]).await
            }
            .map_err(err)?
            .mod_revision;
        }
    }
    let bytes = (crate::GLOBAL.allocated() as f64 - before) / keys as f64;
    drop(store);
    Ok(bytes)
}

/// The name of the `i`th pod: a random-looking suffix, so keys arrive out of order as
/// generated names do (distinct for the first 2^20 pods: odd multipliers are bijective).
fn pod_name(i: usize) -> String {
    let suffix = (i as u64).wrapping_mul(0x9e37_79b1) & 0xf_ffff;
    format!("my-web-server-59j99lnh7k-{suffix:05x}")
}

/// A pod's JSON at one of three stages (0 created, 1 bound, 2 running), with the
/// per-pod fields (uid, timestamps, node, IP) varying as they do in a cluster.
fn pod_like(i: usize, stage: usize) -> Bytes {
    // A cheap mix so neighbours differ in every field that differs in a cluster.
    let h = |salt: u64| (i as u64 ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
    let uid = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        h(1) as u32,
        h(2) as u16,
        h(3) & 0xfff,
        h(4) & 0xfff,
        h(5) & 0xffff_ffff_ffff
    );
    let ts = |salt: u64| {
        format!(
            "2026-11-29T13:21:{:02}.{:06}Z",
            h(salt) % 60,
            h(salt + 1) % 1_000_000
        )
    };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name(i),
            "generateName": "my-web-server-59j99lnh7k-", "namespace": "default", "uid": uid,
            "generation": 1, "creationTimestamp": ts(10),
            "labels": {"app": "my-web-server", "pod-template-hash": "59j99lnh7k"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "my-web-server-59j99lnh7k", "uid": "ae8b2fc5-0eac-412d-b0a3-6ccb00532ca3",
                "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "containers": [{"name": "my-web-server", "image": "web-server:1"}],
            "restartPolicy": "Always",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
        },
    });
    if stage >= 1 {
        pod["spec"]["nodeName"] = json!(format!("node-{:05}", h(20) % 5000));
        pod["status"] = json!({"conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(30)}]});
    }
    if stage >= 2 {
        let started = ts(40);
        pod["status"] = json!({
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(30)},
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "True", "lastTransitionTime": started},
            ],
            "podIP": format!("10.0.{}.{}", h(50) % 256, h(51) % 256),
            "hostIP": "127.0.0.1", "startTime": started,
            "containerStatuses": [{"name": "my-web-server", "image": "web-server:1",
                "containerID": format!("orchestra://sim-{}-{}", h(60) % 5000, h(61) % 100),
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": started}}}],
        });
    }
    Bytes::from(serde_json::to_vec(&pod).expect("JSON"))
}

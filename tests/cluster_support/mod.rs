//! What the whole-cluster tests share: the seed (printed when a test fails), a cluster
//! of simulated nodes in paused time, the `web` Deployment with CPU requests, waits, and
//! the invariant checker that re-evaluates the cluster after every store event.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use orchestra::cluster::{Cluster, ClusterBuilder, NodeSpec};
use orchestra::core::kinds::{
    Deployment, Node, Pod, PodPhase, ReplicaSet, ResourceRequirements, TAINT_NODE_UNREACHABLE,
};
use orchestra::core::{
    Api, Clock, ListOptions, ListParams, Quantity, Registry, Resource, WatchEvent,
};
use orchestra::runtime::controllers::deployment::status::is_complete;
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::common;

/// The seed of a test's randomness: `ORCHESTRA_SEED` if set, else a fixed one per test
/// (so CI repeats). Printed if the test fails, to run it again with the same choices.
pub struct Seed(pub u64);

impl Seed {
    pub fn new(default: u64) -> Seed {
        let seed = std::env::var("ORCHESTRA_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        Seed(seed)
    }

    pub fn rng(&self) -> SmallRng {
        SmallRng::seed_from_u64(self.0)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed with ORCHESTRA_SEED={}", self.0);
        }
    }
}

/// Each pod's CPU request: 16 fit on a default node (4 cpu).
pub const POD_CPU: &str = "250m";

/// A builder for a cluster of `nodes` simulated nodes on the test clock.
pub fn builder(seed: &Seed, nodes: usize) -> ClusterBuilder {
    let mut builder = Cluster::builder()
        .clock(Clock::starting_at(common::epoch()))
        .seed(seed.0);
    if nodes > 0 {
        builder = builder.nodes(NodeSpec::sim(nodes));
    }
    builder
}

/// The `web` Deployment: `replicas` pods of `image` asking for [`POD_CPU`] each.
pub fn web(replicas: i32, image: &str) -> Deployment {
    let mut d = common::web_deployment(replicas, image);
    d.spec.template.spec.containers[0].resources = ResourceRequirements {
        requests: [("cpu".to_owned(), POD_CPU.parse().unwrap())].into(),
        ..Default::default()
    };
    d
}

/// Waits (virtual time) until `done` holds for the `web` Deployment, or panics after
/// `limit` with its status.
pub async fn wait_for_web(
    cluster: &Cluster,
    limit: Duration,
    done: impl Fn(&Deployment) -> bool,
) -> Deployment {
    let api = cluster.api::<Deployment>();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let d = api.get("web").await.unwrap();
        if done(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "web did not get there in {limit:?}: {:?}",
            d.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the rollout of `d` has finished.
pub fn rolled_out(d: &Deployment) -> bool {
    d.status.as_ref().is_some_and(|s| is_complete(d, s))
}

/// Every object of kind `K` (in the default namespace, for namespaced kinds).
pub async fn list_all<K: Resource>(cluster: &Cluster) -> Vec<K> {
    cluster
        .api::<K>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

/// The pods not being deleted.
pub async fn live_pods(cluster: &Cluster) -> Vec<Pod> {
    let pods: Vec<Pod> = list_all(cluster).await;
    pods.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Waits until exactly `replicas` live pods exist, all Running and Ready, running
/// `image`.
pub async fn wait_running(cluster: &Cluster, replicas: usize, image: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let pods = live_pods(cluster).await;
        let good = pods
            .iter()
            .filter(|p| {
                p.phase() == PodPhase::Running
                    && p.is_ready()
                    && p.spec.containers[0].image == image
            })
            .count();
        if pods.len() == replicas && good == replicas {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{good} of {} live pods Running and Ready with {image}, wanted {replicas}",
            pods.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rollout bounds of one Deployment, checked while set.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// The value of the pods' `app` label.
    pub app: String,
    pub replicas: i32,
    pub surge: i32,
    pub unavailable: i32,
}

impl Bounds {
    /// `app=web` with Kubernetes' 25% / 25% for `replicas`.
    pub fn web(replicas: i32) -> Bounds {
        Bounds {
            app: "web".into(),
            replicas,
            surge: (replicas + 3) / 4,
            unavailable: replicas / 4,
        }
    }
}

/// The key roots of the kinds the checker follows.
#[derive(Default)]
struct Roots {
    all: String,
    pods: String,
    sets: String,
    nodes: String,
}

#[derive(Default)]
struct Seen {
    roots: Roots,
    pods: HashMap<Bytes, Pod>,
    sets: HashMap<Bytes, ReplicaSet>,
    nodes: HashMap<String, Node>,
    events: usize,
    violations: Vec<String>,
    bounds: Option<Bounds>,
    lowest_available: Option<i32>,
}

/// Follows every store event of the cluster — on the server side, through the
/// registry's store, so that every change of every kind is seen in one order — and,
/// after each one, checks:
///
/// - while [`Bounds`] are set: the Deployment's ReplicaSets ask for at most `replicas +
///   surge` pods, at most that many of its pods exist (not being deleted), and at least
///   `replicas - unavailable` of them are available;
/// - a pod is never bound to a node that is not Ready (or is tainted unreachable);
/// - no node holds more pods, or more requested CPU or memory, than it can allocate.
#[derive(Clone)]
pub struct Invariants {
    seen: Arc<Mutex<Seen>>,
}

impl Invariants {
    /// Starts following the cluster behind `registry` from now.
    pub async fn follow(registry: &Registry) -> Invariants {
        let roots = Roots {
            all: format!("{}/", registry.key_prefix()),
            pods: registry.key_root(&Pod::api_resource(), None),
            sets: registry.key_root(&ReplicaSet::api_resource(), None),
            nodes: registry.key_root(&Node::api_resource(), None),
        };
        let store = registry.store().clone();
        let listed = store
            .list(roots.all.as_bytes(), ListOptions::default())
            .await
            .unwrap();
        let mut events = store
            .watch(roots.all.as_bytes(), listed.revision)
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen {
            roots,
            ..Seen::default()
        }));
        {
            let mut s = seen.lock();
            for kv in listed.kvs {
                s.apply(&kv.key, Some(&kv.value));
            }
        }
        let out = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        // Nothing is checked from here on: that is a failure too.
                        out.lock().violations.push(format!("the watch failed: {e}"));
                        return;
                    }
                };
                let revision = event.revision();
                let mut s = out.lock();
                let touched = match &event {
                    WatchEvent::Put { kv } => s.apply(&kv.key, Some(&kv.value)),
                    WatchEvent::Delete { prev, .. } => s.apply(&prev.key, None),
                };
                s.events += 1;
                s.check(revision, touched);
            }
        });
        Invariants { seen }
    }

    /// Checks the rollout bounds from now on (`None`: no longer).
    pub fn bounds(&self, bounds: Option<Bounds>) {
        let mut s = self.seen.lock();
        s.bounds = bounds;
        s.lowest_available = None;
    }

    /// The fewest available pods seen since bounds were last set.
    pub fn lowest_available(&self) -> Option<i32> {
        self.seen.lock().lowest_available
    }

    /// How many events were checked.
    pub fn events(&self) -> usize {
        self.seen.lock().events
    }

    /// Panics with the first violations, if any; returns the events checked.
    pub fn assert_held(&self) -> usize {
        let s = self.seen.lock();
        assert!(
            s.violations.is_empty(),
            "{} violations, first: {:#?}",
            s.violations.len(),
            &s.violations[..s.violations.len().min(5)]
        );
        s.events
    }
}

fn milli(q: Option<&Quantity>) -> i64 {
    q.map_or(0, Quantity::milli_value)
}

impl Seen {
    /// Records the new state of `key`; returns the node whose pods changed, if any.
    fn apply(&mut self, key: &[u8], value: Option<&Bytes>) -> Option<String> {
        let key = Bytes::copy_from_slice(key);
        if key.starts_with(self.roots.pods.as_bytes()) {
            let old_node = self.pods.get(&key).and_then(|p| p.spec.node_name.clone());
            match value {
                Some(v) => {
                    let pod: Pod = serde_json::from_slice(v).unwrap();
                    let node = pod.spec.node_name.clone();
                    if old_node.is_none()
                        && let Some(n) = &node
                    {
                        self.check_binding(&pod, n);
                    }
                    self.pods.insert(key, pod);
                    node.or(old_node)
                }
                None => {
                    self.pods.remove(&key);
                    old_node
                }
            }
        } else if key.starts_with(self.roots.sets.as_bytes()) {
            match value {
                Some(v) => self.sets.insert(key, serde_json::from_slice(v).unwrap()),
                None => self.sets.remove(&key),
            };
            None
        } else if key.starts_with(self.roots.nodes.as_bytes()) {
            let name = String::from_utf8_lossy(&key[self.roots.nodes.len()..]).into_owned();
            match value {
                Some(v) => self
                    .nodes
                    .insert(name.clone(), serde_json::from_slice(v).unwrap()),
                None => self.nodes.remove(&name),
            };
            Some(name)
        } else {
            None
        }
    }

    fn check_binding(&mut self, pod: &Pod, node: &str) {
        let why = match self.nodes.get(node) {
            None => Some("an unknown node".to_owned()),
            Some(n) if !n.is_ready() => Some("a node that is not Ready".to_owned()),
            Some(n)
                if n.spec
                    .taints
                    .iter()
                    .any(|t| t.key == TAINT_NODE_UNREACHABLE) =>
            {
                Some("an unreachable node".to_owned())
            }
            _ => None,
        };
        if let Some(why) = why {
            self.violations.push(format!(
                "pod {:?} bound to {why} ({node})",
                pod.metadata.name
            ));
        }
    }

    fn check(&mut self, revision: u64, touched_node: Option<String>) {
        if let Some(node) = touched_node {
            self.check_node(revision, &node);
        }
        let Some(b) = self.bounds.clone() else {
            return;
        };
        let ours = |p: &&Pod| p.metadata.labels.get("app") == Some(&b.app);
        let live: Vec<&Pod> = self
            .pods
            .values()
            .filter(ours)
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let asked: i32 = self
            .sets
            .values()
            .filter(|rs| {
                rs.spec
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.get("app"))
                    == Some(&b.app)
            })
            .map(|rs| rs.replicas())
            .sum();
        let available = live.iter().filter(|p| p.is_ready()).count() as i32;
        let most = b.replicas + b.surge;
        let least = b.replicas - b.unavailable;
        self.lowest_available = Some(
            self.lowest_available
                .map_or(available, |l| l.min(available)),
        );
        if asked > most {
            self.violations.push(format!(
                "revision {revision}: ReplicaSets ask for {asked} > {most}"
            ));
        }
        if live.len() as i32 > most {
            self.violations
                .push(format!("revision {revision}: {} pods > {most}", live.len()));
        }
        if available < least {
            self.violations.push(format!(
                "revision {revision}: {available} available < {least}"
            ));
        }
    }

    fn check_node(&mut self, revision: u64, node: &str) {
        let Some(allocatable) = self
            .nodes
            .get(node)
            .and_then(|n| n.status.as_ref())
            .map(|s| s.allocatable.clone())
        else {
            return;
        };
        let on_it: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| p.spec.node_name.as_deref() == Some(node))
            .filter(|p| !matches!(p.phase(), PodPhase::Succeeded | PodPhase::Failed))
            .collect();
        let requested = |resource: &str| -> i64 {
            on_it
                .iter()
                .flat_map(|p| &p.spec.containers)
                .map(|c| milli(c.resources.requests.get(resource)))
                .sum()
        };
        for resource in ["cpu", "memory"] {
            let (asked, has) = (requested(resource), milli(allocatable.get(resource)));
            if has > 0 && asked > has {
                self.violations.push(format!(
                    "revision {revision}: {node} over-committed on {resource}: {asked}m > {has}m"
                ));
            }
        }
        let pods = on_it.len() as i64 * 1000;
        let room = milli(allocatable.get("pods"));
        if room > 0 && pods > room {
            self.violations.push(format!(
                "revision {revision}: {node} holds {} pods > {}",
                on_it.len(),
                room / 1000
            ));
        }
    }
}

/// The nodes' names that pods are bound to, with how many live pods each.
pub async fn pods_per_node(cluster: &Cluster) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for p in live_pods(cluster).await {
        *per.entry(p.spec.node_name.unwrap_or_default()).or_default() += 1;
    }
    per
}

/// The Node `name` as stored.
pub async fn node(cluster: &Cluster, name: &str) -> Node {
    Api::<Node>::all(cluster.client().clone())
        .get(name)
        .await
        .unwrap()
}

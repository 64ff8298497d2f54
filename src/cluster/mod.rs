//! A whole cluster in one process: a store, a control plane (controller manager with
//! the built-in controllers, the scheduler, the user's controllers) and node agents,
//! composed by [`Cluster::builder`].
//!
//! This is the one place that sees the store backends and the moving parts together,
//! which is why it lives in the facade crate. Each part is a choice with a default, and
//! replacing one needs no change to the others:
//!
//! - **Store**: any `Arc<dyn Store>` (default a fresh [`MemoryStore`]); [`StoreSpec`]
//!   opens one named as `memory`, `durable:PATH` or `etcd:URL`. The cluster serves it
//!   through one [`Registry`] (the built-in kinds and the user's, added with
//!   [`ClusterBuilder::kind`]); every component is a [`Client`] of that registry.
//! - **Scheduler**: any [`Scheduler`] (default the reference [`DefaultScheduler`]),
//!   added to the control plane's manager so it runs only while it leads (the
//!   reference one shares the manager's informers).
//! - **Controllers**: the built-ins ([`BuiltinController`]), each on unless left out,
//!   plus the user's, added by a hook that receives the [`Manager`].
//! - **Nodes**: groups of in-process agents ([`NodeSpec`]) over simulated containers or
//!   real processes, or none when agents run elsewhere.
//!
//! The control plane and every node are stopped and started separately, so a test can
//! kill a node or restart (or crash) the control plane while the rest runs on. Several
//! clusters on one store with [`ClusterBuilder::leader_election`] are replicas of one
//! control plane (give the standbys no nodes).
//!
//! ```no_run
//! use orchestra::cluster::{Cluster, NodeSpec};
//! use orchestra::core::kinds::Deployment;
//!
//! # async fn demo() -> Result<(), orchestra::cluster::ClusterError> {
//! let cluster = Cluster::builder().nodes(NodeSpec::sim(10)).build().await?;
//! cluster.wait_ready().await?;
//! let deployments = cluster.api::<Deployment>();
//! // ... create a Deployment, watch it roll out ...
//! cluster.stop_node("node-3").await?;
//! cluster.restart_control_plane().await?;
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`MemoryStore`]: orchestra_store::MemoryStore
//! [`Registry`]: orchestra_core::registry::Registry
//! [`Client`]: orchestra_core::Client
//! [`Scheduler`]: orchestra_runtime::scheduler::Scheduler
//! [`DefaultScheduler`]: orchestra_runtime::scheduler::DefaultScheduler
//! [`Manager`]: orchestra_runtime::reconcile::Manager

mod builder;
mod control_plane;
mod error;
mod nodes;
mod store_spec;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::Node;
use orchestra_core::registry::Registry;
use orchestra_core::{Api, Client, ListParams, Resource, ResourceExt, Runtime};
use orchestra_runtime::node::RuntimeMetrics;
use orchestra_runtime::reconcile::Health;
use orchestra_runtime::runtimes::SimProfile;
use parking_lot::Mutex;
use tokio::sync::watch;

pub use builder::{
    CONTROL_PLANE_LEASE_NAME, CONTROL_PLANE_LEASE_NAMESPACE, ClusterBuilder, DEFAULT_READY_TIMEOUT,
};
pub use control_plane::BuiltinController;
pub use error::ClusterError;
pub use nodes::NodeSpec;
pub use store_spec::StoreSpec;

use control_plane::{ControlPlanePlan, RunningControlPlane};
use nodes::{NodePods, NodeSlot, next_names};

/// How often [`Cluster::wait_ready`] looks again.
const READY_POLL: Duration = Duration::from_millis(10);

/// A running cluster: its store, its control plane and its in-process nodes.
///
/// Dropping it signals every part to stop; [`Cluster::shutdown`] also waits for them.
pub struct Cluster {
    client: Client,
    plan: ControlPlanePlan,
    metrics: RuntimeMetrics,
    control_plane: Mutex<Option<RunningControlPlane>>,
    nodes: Mutex<BTreeMap<String, NodeSlot>>,
    /// `None` once shut down.
    node_pods: Option<NodePods>,
    node_template: Option<NodeSpec>,
    sim_profile: Option<SimProfile>,
    ready_timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.node_names())
            .field("control_plane", &self.control_plane_health())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A builder with every default: see [`ClusterBuilder`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn assemble(
        client: Client,
        plan: ControlPlanePlan,
        metrics: RuntimeMetrics,
        nodes: BTreeMap<String, NodeSlot>,
        node_template: Option<NodeSpec>,
        sim_profile: Option<SimProfile>,
        ready_timeout: Duration,
    ) -> Cluster {
        Cluster {
            node_pods: Some(NodePods::start(&client, plan.pods_decoded)),
            client,
            plan,
            metrics,
            control_plane: Mutex::new(None),
            nodes: Mutex::new(nodes),
            node_template,
            sim_profile,
            ready_timeout,
        }
    }

    /// Routes pod events to the in-process node agents (present until shutdown, which
    /// consumes the cluster).
    fn pod_dispatcher(&self) -> &orchestra_runtime::node::PodDispatcher {
        &self
            .node_pods
            .as_ref()
            .expect("the pod feed lives until shutdown")
            .dispatcher
    }

    /// A client of the cluster's API (with the cluster's clock).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The cluster's registry: the server side of its API, and the one place that
    /// sees the store beneath ([`Registry::store`]).
    pub fn registry(&self) -> &Registry {
        &self.plan.registry
    }

    /// Objects of kind `K` in the `default` namespace (all of them for a
    /// cluster-scoped kind).
    pub fn api<K: Resource>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Objects of kind `K` in `namespace`.
    pub fn api_in<K: Resource>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The profile every simulated node's containers follow (the first sim group's):
    /// set load, readiness and faults through it.
    pub fn sim_profile(&self) -> Option<&SimProfile> {
        self.sim_profile.as_ref()
    }

    /// The pod usage the autoscaler reads by default, from the running nodes' runtimes.
    pub fn metrics(&self) -> &RuntimeMetrics {
        &self.metrics
    }

    /// The names of the cluster's in-process nodes, running or not.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.lock().keys().cloned().collect()
    }

    /// Whether node `name`'s agent runs.
    pub fn is_node_running(&self, name: &str) -> bool {
        self.nodes
            .lock()
            .get(name)
            .is_some_and(NodeSlot::is_running)
    }

    /// Node `name`'s container runtime (it lives on while the agent is stopped).
    pub fn runtime(&self, name: &str) -> Option<Arc<dyn Runtime>> {
        self.nodes.lock().get(name).map(|n| n.runtime().clone())
    }

    /// The control plane's health, if it runs.
    pub fn control_plane_health(&self) -> Option<Health> {
        self.control_plane
            .lock()
            .as_ref()
            .map(RunningControlPlane::health)
    }

    /// A receiver of the control plane's health changes, if it runs.
    pub fn watch_control_plane_health(&self) -> Option<watch::Receiver<Health>> {
        self.control_plane
            .lock()
            .as_ref()
            .map(RunningControlPlane::watch_health)
    }

    /// Whether this cluster's control plane runs and leads (always, without leader
    /// election, once its caches are synced).
    pub fn is_leader(&self) -> bool {
        self.control_plane_health().is_some_and(|h| h.leader)
    }

    /// Waits until the control plane (if it runs) has synced its caches and started its
    /// controllers (or stands by, with leader election), and every running node is
    /// registered and Ready. Fails if a part stopped on its own meanwhile, or with
    /// [`ClusterError::NotReady`] (saying what it still waited for) after the builder's
    /// [`ready_timeout`](ClusterBuilder::ready_timeout), two minutes by default.
    pub async fn wait_ready(&self) -> Result<(), ClusterError> {
        self.wait_ready_within(self.ready_timeout).await
    }

    /// Like [`Cluster::wait_ready`], giving up after `limit`.
    pub async fn wait_ready_within(&self, limit: Duration) -> Result<(), ClusterError> {
        let waiting = std::sync::Mutex::new(String::from("the first look"));
        match tokio::time::timeout(limit, self.poll_ready(&waiting)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ClusterError::NotReady {
                waited: limit,
                waiting_for: waiting.into_inner().unwrap_or_else(|e| e.into_inner()),
            }),
        }
    }

    async fn poll_ready(&self, waiting: &std::sync::Mutex<String>) -> Result<(), ClusterError> {
        let say = |what: String| {
            if let Ok(mut w) = waiting.lock() {
                *w = what;
            }
        };
        let nodes: Api<Node> = Api::all(self.client.clone());
        loop {
            let control_plane_ready = match &*self.control_plane.lock() {
                None => true,
                Some(cp) if cp.has_exited() => return Err(ClusterError::ControlPlaneExited),
                Some(cp) => {
                    let h = cp.health();
                    h.informers_synced
                        && (h.controllers_running || self.plan.leader_election.is_some())
                }
            };
            if !control_plane_ready {
                say("the control plane to sync its caches and start its controllers".into());
            }
            let running: Vec<String> = {
                let mut slots = self.nodes.lock();
                for slot in slots.values_mut() {
                    if let Some(failure) = slot.failure() {
                        return Err(failure);
                    }
                }
                slots
                    .iter()
                    .filter(|(_, s)| s.is_running())
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            if control_plane_ready {
                // A store hiccup is not a failure of the cluster: look again.
                match nodes.list(&ListParams::default()).await {
                    Ok(list) => {
                        let unready: Vec<&String> = running
                            .iter()
                            .filter(|r| {
                                !list
                                    .items
                                    .iter()
                                    .any(|n| n.is_ready() && n.name_any() == r.as_str())
                            })
                            .collect();
                        if unready.is_empty() {
                            return Ok(());
                        }
                        let mut names: Vec<&str> =
                            unready.iter().take(5).map(|s| s.as_str()).collect();
                        if unready.len() > 5 {
                            names.push("…");
                        }
                        say(format!(
                            "{} of {} nodes to be Ready ({})",
                            unready.len(),
                            running.len(),
                            names.join(", ")
                        ));
                    }
                    Err(e) => say(format!("the API to list nodes ({e})")),
                }
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Starts the control plane (a new manager with cold caches, as a new process).
    pub fn start_control_plane(&self) -> Result<(), ClusterError> {
        let mut slot = self.control_plane.lock();
        if slot.is_some() {
            return Err(ClusterError::ControlPlaneRunning);
        }
        *slot = Some(self.plan.start());
        Ok(())
    }

    /// Stops the control plane gracefully: in-flight reconciles finish and the leader
    /// lease is released. The nodes run on. Returns whether it was running.
    pub async fn stop_control_plane(&self) -> bool {
        let running = self.control_plane.lock().take();
        match running {
            Some(cp) => {
                cp.stop().await;
                true
            }
            None => false,
        }
    }

    /// Stops the control plane as a crash would: its store connection is cut before it
    /// stops, so it writes nothing more and leaves its leader lease to expire. The
    /// nodes run on. Returns whether it was running.
    pub async fn kill_control_plane(&self) -> bool {
        let running = self.control_plane.lock().take();
        match running {
            Some(cp) => {
                cp.kill().await;
                true
            }
            None => false,
        }
    }

    /// Stops the control plane gracefully and starts a new one.
    pub async fn restart_control_plane(&self) -> Result<(), ClusterError> {
        self.stop_control_plane().await;
        self.start_control_plane()
    }

    /// Stops node `name`'s agent: its lease is no longer renewed and its pods no longer
    /// synced; its containers keep running, as when a kubelet stops. The control plane
    /// and other nodes run on.
    pub async fn stop_node(&self, name: &str) -> Result<(), ClusterError> {
        let task = {
            let mut nodes = self.nodes.lock();
            let slot = nodes
                .get_mut(name)
                .ok_or_else(|| ClusterError::NoSuchNode(name.to_owned()))?;
            slot.stop(&self.metrics)
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        Ok(())
    }

    /// Starts node `name`'s agent again, on the same runtime: it adopts the containers
    /// of pods still bound to it and removes the others.
    pub fn start_node(&self, name: &str) -> Result<(), ClusterError> {
        let mut nodes = self.nodes.lock();
        let slot = nodes
            .get_mut(name)
            .ok_or_else(|| ClusterError::NoSuchNode(name.to_owned()))?;
        if slot.is_running() {
            return Err(ClusterError::NodeRunning(name.to_owned()));
        }
        slot.start(&self.metrics, self.pod_dispatcher());
        Ok(())
    }

    /// Adds and starts a node like those of the cluster's first node group, under the
    /// next free name of that group (or `name`, if given). Returns its name.
    pub async fn add_node(&self, name: Option<&str>) -> Result<String, ClusterError> {
        let Some(template) = &self.node_template else {
            return Err(ClusterError::NoNodeTemplate(
                name.unwrap_or("a node").to_owned(),
            ));
        };
        let name = match name {
            Some(n) if self.nodes.lock().contains_key(n) => {
                return Err(ClusterError::NodeExists(n.to_owned()));
            }
            Some(n) => n.to_owned(),
            None => next_names(&self.nodes.lock(), &template.prefix, 1).remove(0),
        };
        let agent = template.agent(&self.client, &name).await?;
        let mut nodes = self.nodes.lock();
        if nodes.contains_key(&name) {
            return Err(ClusterError::NodeExists(name));
        }
        let mut slot = NodeSlot::new(agent);
        slot.start(&self.metrics, self.pod_dispatcher());
        nodes.insert(name.clone(), slot);
        Ok(name)
    }

    /// Stops everything gracefully: the control plane first (so it does not react to
    /// nodes going away), then every node agent.
    pub async fn shutdown(mut self) {
        self.stop_control_plane().await;
        let tasks: Vec<_> = self
            .nodes
            .lock()
            .values_mut()
            .filter_map(|slot| slot.stop(&self.metrics))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        if let Some(node_pods) = self.node_pods.take() {
            node_pods.stop().await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(cp) = self.control_plane.get_mut().as_ref() {
            cp.cancel();
        }
        for slot in self.nodes.get_mut().values() {
            slot.cancel();
        }
        if let Some(node_pods) = &self.node_pods {
            node_pods.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Cluster>();
        assert_send_sync::<ClusterBuilder>();
        assert_send_sync::<NodeSpec>();
        assert_send_sync::<ClusterError>();
    }

    /// Compiles only if the cluster's futures can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn cluster_futures_are_send(cluster: &'static Cluster, owned: Cluster) {
        fn send<T: Send>(_: T) {}
        send(cluster.wait_ready());
        send(cluster.stop_node("node-1"));
        send(cluster.add_node(None));
        send(cluster.stop_control_plane());
        send(cluster.kill_control_plane());
        send(cluster.restart_control_plane());
        send(owned.shutdown());
        send(Cluster::builder().build());
    }
}

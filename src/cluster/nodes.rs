//! Nodes of an in-process cluster: [`NodeSpec`] says how many and on which runtime, and
//! the cluster keeps one slot per node whose agent can be stopped and started again
//! without touching the control plane.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::Pod;
use orchestra_core::{Api, ApiError, Client, ListParams, Runtime};
use orchestra_runtime::node::{NodeAgent, NodeAgentConfig, PodDispatcher, RuntimeMetrics};
use orchestra_runtime::reconcile::Informer;
use orchestra_runtime::runtimes::{SimProfile, SimRuntime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ClusterError;

/// A function that adjusts each node agent's settings (capacity, lease timing, ...).
type Configure = Arc<dyn Fn(NodeAgentConfig) -> NodeAgentConfig + Send + Sync>;

/// Which container runtime a group of in-process nodes runs.
#[derive(Clone, Debug)]
enum NodeRuntime {
    /// One [`SimRuntime`] per node, all driven by one profile.
    Sim {
        profile: SimProfile,
        start_latency: Duration,
    },
    /// One ProcessRuntime per node, each in its own directory.
    #[cfg(unix)]
    Process { dir: Option<PathBuf> },
}

/// A group of in-process nodes: how many, named how, on which runtime.
///
/// Nodes are named `{prefix}{n}` counting from 1 (`node-1`, `node-2`, ...); a second
/// group with the same prefix goes on counting.
///
/// **Capacity.** A simulated node has Kubernetes' defaults: 4 cpu, 8 GiB and room for
/// **110 pods**, so 2,000 replicas need at least 19 nodes — or more room per node, set
/// with [`configure`](NodeSpec::configure) as below. The scheduler never places more
/// than a node's `pods` capacity, nor more requested cpu and memory than it has.
///
/// **Load and faults.** Every simulated container follows the group's [`SimProfile`]:
/// keep a clone to set the CPU and memory its containers report (what the autoscaler
/// reads), make them crash, fail their probes or fail to start.
///
/// ```
/// use std::time::Duration;
/// use orchestra::cluster::NodeSpec;
/// use orchestra::runtime::runtimes::{SimProfile, SimSelector, SimUsage};
///
/// let profile = SimProfile::new(); // keep a clone to drive load and faults
/// let nodes = NodeSpec::sim(10).profile(profile.clone()).configure(|agent| {
///     agent
///         .capacity("pods", "300".parse().unwrap()) // 10 nodes hold 3,000 pods
///         .lease_renew_interval(Duration::from_secs(1))
/// });
/// // Later, once the cluster runs: every `web-server:1` container uses 800m of CPU.
/// profile.set_usage(SimSelector::image("web-server:1"), SimUsage::new(800, 64 << 20));
/// ```
#[derive(Clone)]
#[must_use]
pub struct NodeSpec {
    pub(super) count: usize,
    pub(super) prefix: String,
    runtime: NodeRuntime,
    configure: Option<Configure>,
}

impl std::fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSpec")
            .field("count", &self.count)
            .field("prefix", &self.prefix)
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl NodeSpec {
    /// `count` nodes of simulated containers ([`SimRuntime`]) sharing one
    /// [`SimProfile`] (a new one unless [`profile`](NodeSpec::profile) gives it).
    pub fn sim(count: usize) -> NodeSpec {
        NodeSpec {
            count,
            prefix: "node-".to_owned(),
            runtime: NodeRuntime::Sim {
                profile: SimProfile::new(),
                start_latency: Duration::ZERO,
            },
            configure: None,
        }
    }

    /// `count` nodes whose containers are real processes on this machine
    /// (`ProcessRuntime`). Each node's runtime keeps its state and logs in a directory
    /// of its own: `{dir}/{node}` with [`dir`](NodeSpec::dir), otherwise a new
    /// temporary directory (which, as ProcessRuntime never deletes its directory, stays
    /// behind). Processes outlive their agents, as containers outlive a kubelet: delete
    /// the pods before shutting the cluster down.
    #[cfg(unix)]
    pub fn process(count: usize) -> NodeSpec {
        NodeSpec {
            count,
            prefix: "node-".to_owned(),
            runtime: NodeRuntime::Process { dir: None },
            configure: None,
        }
    }

    /// The profile the simulated containers follow (sim nodes only): keep a clone to
    /// change their load, readiness and faults while the cluster runs.
    pub fn profile(mut self, profile: SimProfile) -> Self {
        if let NodeRuntime::Sim { profile: p, .. } = &mut self.runtime {
            *p = profile;
        }
        self
    }

    /// How long a simulated container takes to start (sim nodes only; default none).
    pub fn start_latency(mut self, latency: Duration) -> Self {
        if let NodeRuntime::Sim { start_latency, .. } = &mut self.runtime {
            *start_latency = latency;
        }
        self
    }

    /// The directory under which each process node gets its runtime directory
    /// (process nodes only).
    #[cfg(unix)]
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if let NodeRuntime::Process { dir: d } = &mut self.runtime {
            *d = Some(dir.into());
        }
        self
    }

    /// The node name prefix (default `node-`).
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Adjusts every agent's settings, starting from `NodeAgentConfig::new(name)`.
    pub fn configure(
        mut self,
        f: impl Fn(NodeAgentConfig) -> NodeAgentConfig + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }

    /// The shared profile of sim nodes.
    pub(super) fn sim_profile(&self) -> Option<&SimProfile> {
        match &self.runtime {
            NodeRuntime::Sim { profile, .. } => Some(profile),
            #[cfg(unix)]
            NodeRuntime::Process { .. } => None,
        }
    }

    /// A node agent named `name` of this group, over a runtime of its own.
    pub(super) async fn agent(
        &self,
        client: &Client,
        name: &str,
    ) -> Result<NodeAgent, ClusterError> {
        let runtime: Arc<dyn Runtime> = match &self.runtime {
            NodeRuntime::Sim {
                profile,
                start_latency,
            } => Arc::new(
                SimRuntime::builder()
                    .profile(profile.clone())
                    .clock(client.clock().clone())
                    .start_latency(*start_latency)
                    .build(),
            ),
            #[cfg(unix)]
            NodeRuntime::Process { dir } => {
                let mut builder = orchestra_runtime::runtimes::ProcessRuntime::builder()
                    .clock(client.clock().clone());
                if let Some(dir) = dir {
                    builder = builder.root(dir.join(name));
                }
                Arc::new(
                    builder
                        .open()
                        .await
                        .map_err(|source| ClusterError::Runtime {
                            node: name.to_owned(),
                            source,
                        })?,
                )
            }
        };
        let mut config = NodeAgentConfig::new(name);
        if let Some(configure) = &self.configure {
            // The name is the slot's, whatever the hook did.
            config = configure(config).node_name(name);
        }
        Ok(NodeAgent::new(client.clone(), runtime, config))
    }
}

/// The pods of every in-process node, from one informer shared by all their agents and
/// routed to each by node name: an agent does not decode or filter other nodes' pod
/// events, so a cluster of thousands of nodes costs one decode per event. It runs for
/// the cluster's whole life, independent of the control plane (which has informers of
/// its own and may be restarted).
pub(super) struct NodePods {
    pub(super) dispatcher: PodDispatcher,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl NodePods {
    pub(super) fn start(client: &Client, pods_decoded: usize) -> NodePods {
        let informer = Arc::new(Informer::new(
            Api::<Pod>::all(client.clone()),
            ListParams::default(),
        ));
        informer.keep_decoded(pods_decoded);
        let dispatcher = PodDispatcher::new(informer.clone());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let watching = tokio::spawn(async move { informer.run(token).await });
        let (routes, token) = (dispatcher.clone(), stop.clone());
        let routing = tokio::spawn(async move { routes.run(token).await });
        NodePods {
            dispatcher,
            stop,
            tasks: vec![watching, routing],
        }
    }

    /// Signals the informer and the routing to stop.
    pub(super) fn cancel(&self) {
        self.stop.cancel();
    }

    /// Stops them and waits until they have let go of the store (a durable store can
    /// then be reopened at once).
    pub(super) async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// An agent that runs now.
struct RunningAgent {
    stop: CancellationToken,
    task: JoinHandle<Result<(), ApiError>>,
}

/// One node of the cluster: its agent (and runtime), running or not.
pub(super) struct NodeSlot {
    agent: NodeAgent,
    running: Option<RunningAgent>,
}

impl NodeSlot {
    pub(super) fn new(agent: NodeAgent) -> NodeSlot {
        NodeSlot {
            agent,
            running: None,
        }
    }

    pub(super) fn runtime(&self) -> &Arc<dyn Runtime> {
        self.agent.runtime()
    }

    pub(super) fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts the agent on its node's pod feed, and reads the node's usage for the
    /// autoscaler meanwhile.
    pub(super) fn start(&mut self, metrics: &RuntimeMetrics, pods: &PodDispatcher) {
        let stop = CancellationToken::new();
        let agent = self.agent.clone();
        let token = stop.clone();
        let feed = pods.feed(agent.node_name());
        let task = tokio::spawn(async move { agent.run_with_feed(feed, token).await });
        metrics.add_node(self.agent.node_name(), self.agent.runtime().clone());
        self.running = Some(RunningAgent { stop, task });
    }

    /// Signals the agent to stop, and returns its task to await (outside any lock).
    pub(super) fn stop(
        &mut self,
        metrics: &RuntimeMetrics,
    ) -> Option<JoinHandle<Result<(), ApiError>>> {
        let running = self.running.take()?;
        metrics.remove_node(self.agent.node_name());
        running.stop.cancel();
        Some(running.task)
    }

    /// If the agent's task ended by itself, its error (taken, so reported once).
    pub(super) fn failure(&mut self) -> Option<ClusterError> {
        let finished = self.running.as_ref().is_some_and(|r| r.task.is_finished());
        if !finished {
            return None;
        }
        let running = self.running.take()?;
        let node = self.agent.node_name().to_owned();
        // A finished task yields at once.
        let result = futures::FutureExt::now_or_never(running.task)?;
        Some(match result {
            Ok(Err(source)) => ClusterError::NodeFailed {
                node,
                source: Box::new(source),
            },
            Ok(Ok(())) | Err(_) => ClusterError::NodeExited(node),
        })
    }

    pub(super) fn cancel(&self) {
        if let Some(r) = &self.running {
            r.stop.cancel();
        }
    }
}

/// The next free names `{prefix}{n}` for `count` nodes, given the names taken.
pub(super) fn next_names<V>(
    taken: &BTreeMap<String, V>,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let mut names = Vec::with_capacity(count);
    let mut n = 1;
    while names.len() < count {
        let name = format!("{prefix}{n}");
        if !taken.contains_key(&name) {
            names.push(name);
        }
        n += 1;
    }
    names
}

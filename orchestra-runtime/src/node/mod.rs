//! The node agent (the kubelet's role): registers its Node, renews its Lease, and runs
//! the pods bound to it through a [`orchestra_core::Runtime`].
//!
//! - `registration.rs`: the Node object and the Lease heartbeat.
//! - `pod_worker.rs`: one sync of one pod (start, restart with crash-loop backoff,
//!   probes, graceful termination, status).
//! - [`status`], [`restart`], [`probes`]: the pure rules behind a sync.
//! - `relist.rs`: notices container changes in the runtime (the kubelet's PLEG).
//! - [`metrics`]: a `MetricsSource` for the autoscaler from runtime stats.
//!
//! Pods reach the agent through a [`PodFeed`]: on its own machine, an informer over the
//! pods whose `spec.nodeName` is its node (a field selector, so it never sees other
//! nodes' pods); many agents in one process share one informer through a
//! [`PodDispatcher`], which routes each pod event to the one agent it concerns by node
//! name, so an event costs the same with 5 nodes as with 5,000. Either way a work queue
//! follows, so a pod is synced by one worker at a time and bursts of events coalesce.
//!
//! Stopping the agent leaves its containers running, as stopping a kubelet does: a new
//! agent on the same runtime adopts them (their restart counts included) and cleans
//! up containers of pods that are gone.

mod dispatch;
mod host;
mod mailbox;
pub mod metrics;
mod pod_worker;
pub mod probes;
mod record;
mod registration;
mod relist;
pub mod restart;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::api::FieldSelector;
use orchestra_core::kinds::{Pod, Taint};
use orchestra_core::{
    Api, ApiError, Client, ListParams, Quantity, ResourceList, Runtime, StringMap,
};
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use dispatch::{PodDispatcher, PodFeed};
pub use host::host_capacity;
pub use metrics::RuntimeMetrics;
pub use restart::CrashLoopBackoff;

use crate::keys::KeyRef;
use crate::reconcile::{Informer, InformerEvent, ObjectKey, QueueConfig, WorkQueue};
use pod_worker::{adopt, grace_period, remove_containers, sync_pod};
use record::{KeyedRecord, PodRecords};
use relist::SeenContainers;

/// Settings of a [`NodeAgent`].
///
/// ```
/// use std::time::Duration;
/// use orchestra_runtime::node::NodeAgentConfig;
///
/// let config = NodeAgentConfig::new("node-1")
///     .capacity("pods", "250".parse().unwrap())
///     .label("topology.kubernetes.io/zone", "zone-a")
///     .lease_renew_interval(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct NodeAgentConfig {
    pub(crate) node_name: String,
    /// Allocatable is the same.
    pub(crate) capacity: ResourceList,
    pub(crate) labels: StringMap,
    pub(crate) taints: Vec<Taint>,
    pub(crate) address: String,
    pub(crate) lease_duration: Duration,
    pub(crate) lease_renew_interval: Duration,
    pub(crate) relist_period: Duration,
    pub(crate) crash_loop: CrashLoopBackoff,
    pub(crate) workers: usize,
}

impl Default for NodeAgentConfig {
    /// A node named after this host (as the kubelet names its node), with 4 cpu,
    /// 8 GiB and room for 110 pods.
    fn default() -> Self {
        let quantity = |s: &str| s.parse::<Quantity>().expect("a valid literal quantity");
        NodeAgentConfig {
            node_name: crate::host_name::host_name(),
            capacity: [
                ("cpu".to_owned(), quantity("4")),
                ("memory".to_owned(), quantity("8Gi")),
                ("pods".to_owned(), quantity("110")),
            ]
            .into(),
            labels: StringMap::new(),
            taints: Vec::new(),
            address: "127.0.0.1".into(),
            lease_duration: Duration::from_secs(40),
            lease_renew_interval: Duration::from_secs(10),
            relist_period: Duration::from_secs(1),
            crash_loop: CrashLoopBackoff::default(),
            workers: 16,
        }
    }
}

impl NodeAgentConfig {
    /// The defaults, for a node named `node_name`.
    pub fn new(node_name: impl Into<String>) -> NodeAgentConfig {
        NodeAgentConfig::default().node_name(node_name)
    }

    /// The defaults, for a node named `node_name` whose capacity is this machine's
    /// (see [`host_capacity`]): for an agent running real processes.
    pub fn from_host(node_name: impl Into<String>) -> NodeAgentConfig {
        let mut config = NodeAgentConfig::new(node_name);
        config.capacity.extend(host_capacity());
        config
    }

    /// The node's name, a DNS-1123 subdomain. Default: this host's name.
    #[must_use]
    pub fn node_name(mut self, name: impl Into<String>) -> Self {
        self.node_name = name.into();
        self
    }

    /// Sets one capacity entry (`cpu`, `memory`, `pods`); allocatable is the same.
    /// Default 4 cpu, 8 GiB memory, 110 pods.
    #[must_use]
    pub fn capacity(mut self, resource: &str, quantity: Quantity) -> Self {
        self.capacity.insert(resource.to_owned(), quantity);
        self
    }

    /// Adds a label to the Node (`kubernetes.io/hostname` is always set).
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds a taint the Node registers with.
    #[must_use]
    pub fn taint(mut self, taint: Taint) -> Self {
        self.taints.push(taint);
        self
    }

    /// The node's address: its `InternalIP`, and each of its pods' `hostIP`. Default
    /// `127.0.0.1`.
    #[must_use]
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// The lease duration written to the node's Lease. Default 40 s.
    #[must_use]
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration;
        self
    }

    /// How often the node's Lease is renewed. Default 10 s.
    #[must_use]
    pub fn lease_renew_interval(mut self, interval: Duration) -> Self {
        self.lease_renew_interval = interval;
        self
    }

    /// How often the runtime is listed for container changes. Default 1 s.
    #[must_use]
    pub fn relist_period(mut self, period: Duration) -> Self {
        self.relist_period = period;
        self
    }

    /// The crash-loop backoff. Default 10 s doubling to 300 s, reset after 10 min.
    #[must_use]
    pub fn crash_loop(mut self, backoff: CrashLoopBackoff) -> Self {
        self.crash_loop = backoff;
        self
    }

    /// How many pods are synced at once (at least 1). Default 16.
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    fn allocatable(&self) -> ResourceList {
        self.capacity.clone()
    }
}

/// What a pod sync needs: shared by the workers and spawned terminations.
#[derive(Clone)]
pub(crate) struct AgentContext {
    pub client: Client,
    pub runtime: Arc<dyn Runtime>,
    pub config: Arc<NodeAgentConfig>,
}

/// A node agent over one runtime.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use orchestra_core::Client;
/// use orchestra_runtime::node::{NodeAgent, NodeAgentConfig};
/// use orchestra_runtime::runtimes::SimRuntime;
/// use tokio_util::sync::CancellationToken;
///
/// # async fn demo(client: Client) -> Result<(), orchestra_core::ApiError> {
/// let agent = NodeAgent::new(client, Arc::new(SimRuntime::new()), NodeAgentConfig::new("node-1"));
/// agent.run(CancellationToken::new()).await
/// # }
/// ```
#[derive(Clone)]
pub struct NodeAgent {
    ctx: AgentContext,
}

impl NodeAgent {
    /// An agent for the node `config.node_name`, writing through `client`.
    pub fn new(client: Client, runtime: Arc<dyn Runtime>, config: NodeAgentConfig) -> NodeAgent {
        NodeAgent {
            ctx: AgentContext {
                client,
                runtime,
                config: Arc::new(config),
            },
        }
    }

    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.ctx.config.node_name
    }

    /// The runtime the agent drives.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.ctx.runtime
    }

    /// Registers the node and runs its pods until `cancel` fires, watching them through
    /// an informer of its own over the pods whose `spec.nodeName` is this node (an agent
    /// on its own machine). Fails only if the node cannot be registered; everything
    /// after that is retried.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), ApiError> {
        let selector =
            FieldSelector::everything().equals("spec.nodeName", &self.ctx.config.node_name);
        let informer = Arc::new(Informer::new(
            Api::<Pod>::all(self.ctx.client.clone()),
            ListParams::default().fields(selector),
        ));
        let informer_task = {
            let (informer, token) = (informer.clone(), cancel.child_token());
            tokio::spawn(async move { informer.run(token).await })
        };
        let feed = PodFeed::new(informer.cache(), informer.subscribe());
        let result = self.run_with_feed(feed, cancel).await;
        let _ = informer_task.await;
        result
    }

    /// Like [`run`](Self::run), with pods from `feed`: for many agents in one process,
    /// fed by one [`PodDispatcher`] instead of one informer each.
    pub async fn run_with_feed(
        &self,
        feed: PodFeed,
        cancel: CancellationToken,
    ) -> Result<(), ApiError> {
        let ctx = &self.ctx;
        // The one-off steps are boxed (registration, adoption), as is each pod sync
        // below: the agent's task lives as long as the agent, and an inline future
        // would keep its size (kilobytes, for a store write) for all that time.
        tokio::select! {
            registered = Box::pin(registration::register_node(&ctx.client, &ctx.config)) => registered?,
            _ = cancel.cancelled() => return Ok(()),
        }
        let lease = tokio::spawn(registration::renew_lease(
            ctx.client.clone(),
            ctx.config.clone(),
            cancel.child_token(),
        ));
        let PodFeed {
            cache: pods,
            mut events,
        } = feed;
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = pods.wait_until_synced() => {}
        }

        let queue = Arc::new(WorkQueue::<ObjectKey>::new(
            QueueConfig::default().name(format!("node-agent/{}", ctx.config.node_name)),
        ));
        let records = Arc::new(Mutex::new(PodRecords::default()));
        if !cancel.is_cancelled() {
            Box::pin(self.adopt_existing(&pods, &records)).await;
        }

        let feeder = {
            let (queue, pods, records) = (queue.clone(), pods.clone(), records.clone());
            async move {
                while let Some(event) = events.recv().await {
                    if let InformerEvent::Updated { old, new } = &event
                        && old.metadata.resource_version == new.metadata.resource_version
                    {
                        continue;
                    }
                    // The key the agent's record of the pod keeps, shared with the
                    // cache's: the record's own once there is one, so the cache's lock
                    // (its informer takes it for every event) is left alone.
                    let pod = event.object();
                    let recorded = records.lock().held_key(KeyRef::of(&**pod));
                    queue.add(recorded.unwrap_or_else(|| pods.key_of(pod)));
                }
                // The feed ended (its informer stopped): keep serving what is queued
                // until cancelled.
                std::future::pending::<()>().await;
            }
        };
        let seen = Arc::new(Mutex::new(SeenContainers::default()));
        let relist = relist::run(
            ctx.clone(),
            queue.clone(),
            pods.clone(),
            seen.clone(),
            cancel.child_token(),
        );
        let workers = (0..ctx.config.workers).map(|_| {
            let (ctx, queue, records, pods) =
                (ctx.clone(), queue.clone(), records.clone(), pods.clone());
            let seen = seen.clone();
            async move {
                while let Some(item) = queue.next().await {
                    let key = item.key().clone();
                    // Boxed: a sync's state machine (kilobytes, for its status write)
                    // would otherwise make every idle worker as large.
                    let synced = Box::pin(sync(&ctx, &pods, &records, &seen, &key)).await;
                    if let Some(at) = synced {
                        queue.add_after(key, at.saturating_duration_since(Instant::now()));
                    }
                }
            }
        });
        let stopper = {
            let queue = queue.clone();
            let cancel = cancel.clone();
            async move {
                cancel.cancelled().await;
                queue.shut_down();
            }
        };
        tokio::select! {
            _ = feeder => {}
            _ = futures::future::join(futures::future::join_all(workers), stopper) => {}
        }
        relist.abort();
        let _ = lease.await;
        Ok(())
    }

    /// Adopts what the runtime already runs: containers of pods still bound here are
    /// taken over (with their restart counts); the others are stopped and removed.
    async fn adopt_existing(
        &self,
        pods: &crate::reconcile::Cache<Pod>,
        records: &Mutex<PodRecords>,
    ) {
        let existing = match self.ctx.runtime.list_containers().await {
            Ok(list) => list,
            Err(error) => {
                tracing::warn!(%error, "could not list the runtime's containers; adopting none");
                return;
            }
        };
        let mut by_pod: HashMap<ObjectKey, Vec<_>> = HashMap::new();
        for status in existing {
            let key = ObjectKey::namespaced(&status.sandbox.namespace, &status.sandbox.name);
            by_pod.entry(key).or_default().push(status);
        }
        for (key, statuses) in by_pod {
            let uid = statuses[0].sandbox.uid.clone();
            match pods
                .get(&key)
                .filter(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
            {
                Some(pod) => {
                    let (record, stale) = adopt(&pod, statuses);
                    remove_containers(&*self.ctx.runtime, &stale, Duration::ZERO).await;
                    tracing::info!(pod = %key, "adopted running containers");
                    records.lock().put(KeyedRecord::new(key, record));
                }
                None => {
                    let ids: Vec<_> = statuses.into_iter().map(|s| s.id).collect();
                    tracing::info!(pod = %key, containers = ids.len(), "removing containers of a pod that is gone");
                    remove_containers(&*self.ctx.runtime, &ids, Duration::ZERO).await;
                }
            }
        }
    }
}

/// One sync of the pod `key`, with its record taken out of the shared map meanwhile.
async fn sync(
    ctx: &AgentContext,
    pods: &crate::reconcile::Cache<Pod>,
    records: &Mutex<PodRecords>,
    seen: &Mutex<SeenContainers>,
    key: &ObjectKey,
) -> Option<Instant> {
    let pod = pods.get(key);
    let mut record = records.lock().take(key);
    let known = record.is_some();
    // A record of an earlier pod of the same name goes first.
    if let Some(old) = record.take_if(|r| pod.as_ref().is_none_or(|p| !r.record().is_of(p))) {
        let grace = pod.as_deref().map_or(Duration::ZERO, grace_period);
        remove_containers(&*ctx.runtime, &old.record().container_ids(), grace).await;
    }
    let Some(pod) = pod else {
        // Gone from the store. Its record's containers are removed above; those of a
        // pod the agent never knew are what the relist last saw of it (often nothing:
        // the relist queues a pod again when its removed containers vanish).
        if !known {
            let ids = seen.lock().containers_of(key);
            remove_containers(&*ctx.runtime, &ids, Duration::ZERO).await;
        }
        return None;
    };
    let mut record =
        record.unwrap_or_else(|| KeyedRecord::new(key.clone(), adopt(&pod, Vec::new()).0));
    let wake = sync_pod(ctx, &pod, record.record_mut()).await;
    records.lock().put(record);
    wake
}

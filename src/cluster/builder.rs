//! [`ClusterBuilder`]: choose the store, the scheduler, the controllers and the nodes;
//! every choice has a default, and replacing one touches nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::registry::{Registry, RegistryBuilder, Strategy};
use orchestra_core::{Client, Clock, Resource, Store};
use orchestra_runtime::controllers::{MetricsSource, NodeLifecycleConfig};
use orchestra_runtime::node::RuntimeMetrics;
use orchestra_runtime::reconcile::{DECODED_IN_LARGE_CACHES, LeaderElectionConfig, Manager};
use orchestra_runtime::scheduler::{DefaultScheduler, Scheduler};
use orchestra_store::MemoryStore;

use super::control_plane::{
    BuiltinController, ControlPlanePlan, KindHook, ManagerHook, SchedulerChoice,
};
use super::nodes::{NodeSlot, NodeSpec, next_names};
use super::{Cluster, ClusterError};

/// The namespace of the control plane's leader lease.
pub const CONTROL_PLANE_LEASE_NAMESPACE: &str = "kube-system";
/// The name of the control plane's leader lease: replicas of one cluster share it.
pub const CONTROL_PLANE_LEASE_NAME: &str = "orchestra-control-plane";

/// Composes a [`Cluster`]; start from [`Cluster::builder`].
///
/// Defaults: a fresh [`MemoryStore`], the reference [`DefaultScheduler`], every
/// built-in controller (the autoscaler reading the cluster's own [`RuntimeMetrics`]),
/// no leader election, no nodes.
#[must_use]
pub struct ClusterBuilder {
    store: Option<Arc<dyn Store>>,
    clock: Option<Clock>,
    key_prefix: Option<String>,
    max_object_bytes: Option<usize>,
    kinds: Vec<KindHook>,
    scheduler: SchedulerChoice,
    disabled: BTreeSet<BuiltinController>,
    node_lifecycle: NodeLifecycleConfig,
    metrics: Option<Arc<dyn MetricsSource>>,
    hpa_sync_period: Option<Duration>,
    pods_decoded: usize,
    hooks: Vec<ManagerHook>,
    leader_election: Option<LeaderElectionConfig>,
    nodes: Vec<NodeSpec>,
    control_plane: bool,
    seed: Option<u64>,
    ready_timeout: Duration,
}

/// How long [`Cluster::wait_ready`] waits by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            store: None,
            clock: None,
            key_prefix: None,
            max_object_bytes: None,
            kinds: Vec::new(),
            scheduler: SchedulerChoice::On(Arc::new(DefaultScheduler::new())),
            disabled: BTreeSet::new(),
            node_lifecycle: NodeLifecycleConfig::default(),
            metrics: None,
            hpa_sync_period: None,
            pods_decoded: DECODED_IN_LARGE_CACHES,
            hooks: Vec::new(),
            leader_election: None,
            nodes: Vec::new(),
            control_plane: true,
            seed: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }
}

impl ClusterBuilder {
    /// Keeps the cluster's state in `store` (any backend, or the user's own).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock every component stamps time with (default: one following tokio time,
    /// so a cluster in paused time runs on virtual time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The prefix of every key the cluster stores (default `/registry`), so several
    /// clusters can share one store.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// The largest encoded object the cluster accepts (default 1.5 MiB, as etcd).
    pub fn max_object_bytes(mut self, bytes: usize) -> Self {
        self.max_object_bytes = Some(bytes);
        self
    }

    /// Serves the user's kind `K` (with the default strategy), so `Api<K>` works on
    /// the cluster and its garbage collector follows `K`'s owner references.
    pub fn kind<K: Resource>(self) -> Self {
        self.kind_with::<K, _>(orchestra_core::registry::DefaultStrategy)
    }

    /// Serves the user's kind `K` with its own strategy (defaults, validation, status,
    /// selectable fields, subresources).
    pub fn kind_with<K: Resource, S: Strategy<K> + Clone>(mut self, strategy: S) -> Self {
        self.kinds.push(KindHook::of::<K, S>(strategy));
        self
    }

    /// Seeds generated uids and names and the reference scheduler's tie-breaks (however
    /// the scheduler was chosen, before or after), so a simulated cluster repeats.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Places pods with `scheduler`, which joins the control plane's manager
    /// ([`Scheduler::add_to`]: the reference [`DefaultScheduler`] shares its informers)
    /// and runs only while the control plane leads.
    pub fn scheduler<S: Scheduler>(mut self, scheduler: S) -> Self {
        self.scheduler = SchedulerChoice::On(Arc::new(scheduler));
        self
    }

    /// Runs no scheduler: pods are bound by a scheduler running elsewhere.
    pub fn without_scheduler(mut self) -> Self {
        self.scheduler = SchedulerChoice::Off;
        self
    }

    /// Leaves out one built-in controller.
    pub fn without(mut self, controller: BuiltinController) -> Self {
        self.disabled.insert(controller);
        self
    }

    /// The node lifecycle controller's settings (grace period, eviction rate).
    pub fn node_lifecycle(mut self, config: NodeLifecycleConfig) -> Self {
        self.node_lifecycle = config;
        self
    }

    /// Where the autoscaler reads pod usage (default: the cluster's [`RuntimeMetrics`]
    /// over its own nodes' runtimes).
    pub fn autoscaler_metrics(mut self, metrics: Arc<dyn MetricsSource>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How often each autoscaler is re-evaluated (default 15 s).
    pub fn autoscaler_sync_period(mut self, period: Duration) -> Self {
        self.hpa_sync_period = Some(period);
        self
    }

    /// How many of the most recently changed pods the cluster's pod caches keep
    /// decoded; older ones are kept packed, at a tenth of the memory, and decoded when
    /// read (default [`DECODED_IN_LARGE_CACHES`], so a cluster of up to that many pods
    /// packs none). `usize::MAX` keeps every pod decoded.
    pub fn pods_decoded(mut self, limit: usize) -> Self {
        self.pods_decoded = limit;
        self
    }

    /// Adds the user's controllers: `hook` gets the control plane's manager (its
    /// client and shared informers included) each time one is built and returns it
    /// with the controllers added, so they come back after
    /// [`Cluster::restart_control_plane`]:
    /// `.controllers(|manager| { let c = MyController::new(manager.informers()); manager.controller(c) })`.
    pub fn controllers(
        mut self,
        hook: impl Fn(Manager) -> Manager + Send + Sync + 'static,
    ) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Runs the controllers and the scheduler only while this replica, named
    /// `identity`, holds the control plane's lease ([`CONTROL_PLANE_LEASE_NAME`]), so
    /// several clusters on one store act as replicas of one control plane.
    pub fn leader_election(self, identity: impl Into<String>) -> Self {
        self.leader_election_config(LeaderElectionConfig::new(
            CONTROL_PLANE_LEASE_NAMESPACE,
            CONTROL_PLANE_LEASE_NAME,
            identity,
        ))
    }

    /// Leader election with explicit settings (lease name, durations).
    pub fn leader_election_config(mut self, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some(config);
        self
    }

    /// Adds a group of in-process nodes (call again for more groups).
    pub fn nodes(mut self, nodes: NodeSpec) -> Self {
        self.nodes.push(nodes);
        self
    }

    /// How long [`Cluster::wait_ready`] waits before it gives up saying what is not
    /// ready (default [`DEFAULT_READY_TIMEOUT`]; tokio time, so virtual in paused tests).
    pub fn ready_timeout(mut self, limit: Duration) -> Self {
        self.ready_timeout = limit;
        self
    }

    /// Starts no control plane: the cluster is only nodes (and a client) on a store
    /// whose control plane runs elsewhere. [`Cluster::start_control_plane`] can still
    /// start one later.
    pub fn without_control_plane(mut self) -> Self {
        self.control_plane = false;
        self
    }

    /// Opens the node runtimes and starts the control plane and the node agents. Must
    /// be called inside a tokio runtime. Returns at once; see [`Cluster::wait_ready`].
    pub async fn build(self) -> Result<Cluster, ClusterError> {
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let clock = self.clock.unwrap_or_default();
        let mut registry: RegistryBuilder = Registry::builder(store).clock(clock.clone());
        if let Some(prefix) = self.key_prefix {
            registry = registry.key_prefix(prefix);
        }
        if let Some(bytes) = self.max_object_bytes {
            registry = registry.max_object_bytes(bytes);
        }
        if let Some(seed) = self.seed {
            registry = registry.seed(seed);
        }
        let registry = registry.build();
        for kind in &self.kinds {
            kind.register(&registry);
        }
        let client = Client::over(Arc::new(registry.clone()), clock.clone());
        let runtime_metrics = RuntimeMetrics::new();
        let metrics = self
            .metrics
            .unwrap_or_else(|| Arc::new(runtime_metrics.clone()));
        let scheduler = match (self.scheduler, self.seed) {
            (SchedulerChoice::On(s), Some(seed)) => {
                SchedulerChoice::On(s.seeded(seed).unwrap_or(s))
            }
            (other, _) => other,
        };
        let plan = ControlPlanePlan {
            registry,
            clock,
            scheduler,
            disabled: self.disabled,
            node_lifecycle: self.node_lifecycle,
            metrics,
            hpa_sync_period: self.hpa_sync_period,
            pods_decoded: self.pods_decoded,
            hooks: self.hooks,
            leader_election: self.leader_election,
        };

        let mut slots = BTreeMap::new();
        for spec in &self.nodes {
            for name in next_names(&slots, &spec.prefix, spec.count) {
                let agent = spec.agent(&client, &name).await?;
                slots.insert(name, NodeSlot::new(agent));
            }
        }
        let sim_profile = self.nodes.iter().find_map(|s| s.sim_profile().cloned());
        let cluster = Cluster::assemble(
            client,
            plan,
            runtime_metrics,
            slots,
            self.nodes.first().cloned(),
            sim_profile,
            self.ready_timeout,
        );
        if self.control_plane {
            cluster.start_control_plane()?;
        }
        for name in cluster.node_names() {
            cluster.start_node(&name)?;
        }
        Ok(cluster)
    }
}

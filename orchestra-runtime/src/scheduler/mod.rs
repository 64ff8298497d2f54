//! The reference scheduler: places pods on nodes through a framework of filter and
//! score plugins.
//!
//! - [`framework`]: the extension points (PreFilter, Filter, PostFilter, PreScore,
//!   Score, NormalizeScore, Reserve/Unreserve, Bind) as small traits, and the
//!   [`Profile`] that picks plugins and weights.
//! - [`pod_info`]: the pod being placed, with what every plugin needs of it computed
//!   once ([`PodInfo`]).
//! - [`plugins`]: the default plugins with Kubernetes' meaning, and
//!   [`default_profile`](plugins::default_profile).
//! - [`algorithm`]: one scheduling cycle as a pure function (node sampling, filtering,
//!   scoring), testable without tasks or stores.
//! - [`snapshot`]: nodes with what is placed on them, and the assume cache.
//! - [`queue`]: active, backoff and unschedulable sub-queues.
//!
//! [`DefaultScheduler`] puts them together as a [`Scheduler`]: run it on its own
//! ([`Scheduler::run`]) or inside a controller manager ([`Scheduler::add_to`]) so it
//! shares the manager's informers and leader election.
//!
//! ```no_run
//! use orchestra_core::Client;
//! use orchestra_runtime::scheduler::{DefaultScheduler, Scheduler, plugins};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo(client: Client) {
//! // The default profile without spreading, plus a second profile for pods that ask
//! // for `batch-scheduler` by `spec.schedulerName`.
//! let scheduler = DefaultScheduler::new()
//!     .profile(plugins::default_profile("default-scheduler").without("PodTopologySpread"))
//!     .profile(plugins::default_profile("batch-scheduler"));
//! scheduler.run(client, CancellationToken::new()).await;
//! # }
//! ```

pub mod algorithm;
mod contract;
pub mod framework;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
pub mod queue;
mod scheduling_loop;
pub mod snapshot;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use orchestra_core::{Client, DEFAULT_SCHEDULER_NAME};
use tokio_util::sync::CancellationToken;

pub use algorithm::{AlgorithmConfig, FitError, num_feasible_nodes_to_find, schedule_pod};
pub use contract::Scheduler;
pub use framework::{
    BindPlugin, CycleState, FilterPlugin, MAX_NODE_SCORE, Plugin, PluginError, PostFilterPlugin,
    PostFilterResult, PreFilterPlugin, PreFilterResult, PreScorePlugin, PreScoreResult, Profile,
    ReservePlugin, ScorePlugin, Unfit,
};
pub use node_info::{NodeInfo, PodRequests, Resources};
pub use pod_info::PodInfo;
pub use queue::{SchedulingQueue, SchedulingQueueConfig};
pub use scheduling_loop::{REASON_FAILED_SCHEDULING, REASON_UNSCHEDULABLE};
pub use snapshot::{PlacedLabels, Snapshot};

use crate::reconcile::Manager;
use scheduling_loop::{LoopSettings, SchedulingLoop};

/// How many bind writes may be in flight at once by default.
pub const DEFAULT_MAX_BINDS_IN_FLIGHT: usize = 1024;

/// The reference scheduler: profiles of plugins over a scheduling queue, a snapshot
/// with an assume cache, and asynchronous binding.
#[derive(Clone, Debug)]
pub struct DefaultScheduler {
    profiles: Vec<Profile>,
    algorithm: AlgorithmConfig,
    queue: SchedulingQueueConfig,
    max_binds_in_flight: usize,
    seed: u64,
}

impl Default for DefaultScheduler {
    fn default() -> Self {
        DefaultScheduler::new()
    }
}

impl DefaultScheduler {
    /// Kubernetes' default profile for `default-scheduler`, default settings.
    pub fn new() -> DefaultScheduler {
        DefaultScheduler {
            profiles: vec![plugins::default_profile(DEFAULT_SCHEDULER_NAME)],
            algorithm: AlgorithmConfig::default(),
            queue: SchedulingQueueConfig::default(),
            max_binds_in_flight: DEFAULT_MAX_BINDS_IN_FLIGHT,
            seed: 0,
        }
    }

    /// Adds a profile, replacing the one with the same scheduler name.
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profiles
            .retain(|p| p.scheduler_name() != profile.scheduler_name());
        self.profiles.push(profile);
        self
    }

    /// Sets the scheduling cycle's settings (node sampling, parallelism).
    #[must_use]
    pub fn algorithm(mut self, config: AlgorithmConfig) -> Self {
        self.algorithm = config;
        self
    }

    /// Sets the queue's backoff and retry settings.
    #[must_use]
    pub fn queue(mut self, config: SchedulingQueueConfig) -> Self {
        self.queue = config;
        self
    }

    /// Limits the bind writes in flight (default [`DEFAULT_MAX_BINDS_IN_FLIGHT`]).
    #[must_use]
    pub fn max_binds_in_flight(mut self, n: usize) -> Self {
        self.max_binds_in_flight = n.max(1);
        self
    }

    /// Seeds the tie-breaking between equally good nodes, so runs repeat.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs this scheduler inside `manager`: over its shared pod and node informers,
    /// started once they are synced and only while the manager leads.
    #[must_use]
    pub fn add_to(self, manager: Manager) -> Manager {
        let informers = manager.informers().clone();
        let client = manager.client().clone();
        // Create the informers now so the manager starts and syncs them with the rest.
        let _ = informers.get::<orchestra_core::kinds::Pod>();
        let _ = informers.get::<orchestra_core::kinds::Node>();
        let this = Arc::new(self);
        manager.runnable("scheduler", move |cancel| {
            let settings = this.settings(&client);
            let (client, informers) = (client.clone(), informers.clone());
            Box::pin(SchedulingLoop::run(settings, client, informers, cancel))
        })
    }

    fn settings(&self, client: &Client) -> LoopSettings {
        let profiles = self
            .profiles
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if p.bind.is_none() {
                    p = p.bind(Arc::new(plugins::DefaultBinder::new(client.clone())));
                }
                Arc::new(p)
            })
            .collect();
        LoopSettings {
            profiles,
            algorithm: self.algorithm.clone(),
            queue: self.queue.clone(),
            max_binds_in_flight: self.max_binds_in_flight,
            seed: self.seed,
        }
    }
}

#[async_trait]
impl Scheduler for DefaultScheduler {
    fn name(&self) -> &str {
        self.profiles
            .first()
            .map_or(DEFAULT_SCHEDULER_NAME, |p| p.scheduler_name())
    }

    /// Runs with informers of its own (no leader election; add it to a [`Manager`]
    /// with [`Scheduler::add_to`] for that).
    async fn run(&self, client: Client, shutdown: CancellationToken) {
        self.clone()
            .add_to(Manager::new(client))
            .run(shutdown)
            .await;
    }

    /// Runs over the manager's shared pod and node informers.
    fn add_to(self: Arc<Self>, manager: Manager) -> Manager {
        DefaultScheduler::add_to((*self).clone(), manager)
    }

    fn seeded(&self, seed: u64) -> Option<Arc<dyn Scheduler>> {
        Some(Arc::new(self.clone().seed(seed)))
    }
}

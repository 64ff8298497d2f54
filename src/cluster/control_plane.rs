//! The control plane of a [`Cluster`](super::Cluster): one controller manager holding
//! the built-in controllers the builder left on, the scheduler, and the user's
//! controllers, over a connection of its own to the cluster's registry, which a crash
//! cuts as a network would.
//!
//! The plan is kept, not the manager: restarting the control plane builds a new
//! manager from the same plan, with cold caches, as a restarted process would.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::api::Intercept;
use orchestra_core::kinds::Pod;
use orchestra_core::registry::{Registry, Strategy};
use orchestra_core::{Client, Clock, Resource};
use orchestra_runtime::controllers::{
    DeploymentController, GarbageCollector, HpaController, MetricsSource, NodeLifecycleConfig,
    NodeLifecycleController, ReplicaSetController,
};
use orchestra_runtime::reconcile::{Health, LeaderElectionConfig, Manager};
use orchestra_runtime::scheduler::Scheduler;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A built-in controller a cluster runs unless told not to
/// ([`ClusterBuilder::without`](super::ClusterBuilder::without)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BuiltinController {
    /// Keeps each ReplicaSet's pod count.
    ReplicaSet,
    /// Rolls Deployments out through ReplicaSets.
    Deployment,
    /// Resizes autoscaled workloads from the cluster's metrics.
    Autoscaler,
    /// Marks silent nodes unreachable and evicts their pods.
    NodeLifecycle,
    /// Deletes objects whose owners are gone.
    GarbageCollector,
}

/// Lets a user add controllers (or runnables) to each manager the cluster builds.
pub(super) type ManagerHook = Arc<dyn Fn(Manager) -> Manager + Send + Sync>;

/// A user's kind, registered with the cluster's registry (the garbage collector and
/// every other client find it by discovery).
#[derive(Clone)]
pub(super) struct KindHook {
    register: Arc<dyn Fn(&Registry) + Send + Sync>,
}

impl KindHook {
    pub(super) fn of<K: Resource, S: Strategy<K> + Clone>(strategy: S) -> KindHook {
        KindHook {
            register: Arc::new(move |registry| registry.register_with::<K, S>(strategy.clone())),
        }
    }

    pub(super) fn register(&self, registry: &Registry) {
        (self.register)(registry);
    }
}

/// Which scheduler the control plane runs.
#[derive(Clone)]
pub(super) enum SchedulerChoice {
    /// This one, added to the manager ([`Scheduler::add_to`]).
    On(Arc<dyn Scheduler>),
    /// None: pods are bound by someone else.
    Off,
}

/// Everything needed to build the control plane's manager, again and again.
#[derive(Clone)]
pub(super) struct ControlPlanePlan {
    pub registry: Registry,
    pub clock: Clock,
    pub scheduler: SchedulerChoice,
    pub disabled: BTreeSet<BuiltinController>,
    pub node_lifecycle: NodeLifecycleConfig,
    pub metrics: Arc<dyn MetricsSource>,
    pub hpa_sync_period: Option<Duration>,
    /// How many recently changed pods the pod caches keep decoded.
    pub pods_decoded: usize,
    pub hooks: Vec<ManagerHook>,
    pub leader_election: Option<LeaderElectionConfig>,
}

/// A control plane that runs now.
pub(super) struct RunningControlPlane {
    stop: CancellationToken,
    cut: CancellationToken,
    task: JoinHandle<()>,
    health: watch::Receiver<Health>,
}

impl ControlPlanePlan {
    /// Builds a manager and starts it, over a connection a crash cuts.
    pub(super) fn start(&self) -> RunningControlPlane {
        let cut = CancellationToken::new();
        let link = Intercept::new(self.registry.clone()).cut_by(cut.clone());
        let client = Client::over(Arc::new(link), self.clock.clone());
        let manager = self.manager(client);
        let health = manager.watch_health();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move { manager.run(token).await });
        RunningControlPlane {
            stop,
            cut,
            task,
            health,
        }
    }

    fn manager(&self, client: Client) -> Manager {
        let mut manager = Manager::new(client.clone());
        manager
            .informers()
            .get::<Pod>()
            .keep_decoded(self.pods_decoded);
        if let Some(config) = &self.leader_election {
            manager = manager.leader_election(config.clone());
        }
        let on = |c| !self.disabled.contains(&c);
        if on(BuiltinController::ReplicaSet) {
            let c = ReplicaSetController::new(client.clone(), manager.informers());
            manager = manager.controller(c);
        }
        if on(BuiltinController::Deployment) {
            let c = DeploymentController::new(client.clone(), manager.informers());
            manager = manager.controller(c);
        }
        if on(BuiltinController::Autoscaler) {
            let mut c =
                HpaController::new(client.clone(), manager.informers(), self.metrics.clone());
            if let Some(period) = self.hpa_sync_period {
                c = c.sync_period(period);
            }
            manager = manager.controller(c);
        }
        if on(BuiltinController::NodeLifecycle) {
            let c = NodeLifecycleController::new(
                client.clone(),
                manager.informers(),
                self.node_lifecycle.clone(),
            );
            manager = manager.controller(c);
        }
        if on(BuiltinController::GarbageCollector) {
            manager = GarbageCollector::new(client.clone(), manager.informers()).add_to(manager);
        }
        if let SchedulerChoice::On(scheduler) = &self.scheduler {
            manager = scheduler.clone().add_to(manager);
        }
        self.hooks
            .iter()
            .fold(manager, |manager, hook| hook(manager))
    }
}

impl RunningControlPlane {
    pub(super) fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    pub(super) fn watch_health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    pub(super) fn has_exited(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops gracefully: controllers finish what they are doing, the lease is released.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Stops as a crash would: the connection is cut first, so nothing more is written
    /// (the leader lease is left to expire).
    pub(super) async fn kill(self) {
        self.cut.cancel();
        self.stop.cancel();
        let _ = self.task.await;
    }

    /// Signals a stop without waiting (for `Drop`).
    pub(super) fn cancel(&self) {
        self.stop.cancel();
    }
}

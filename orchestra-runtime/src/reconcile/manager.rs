//! The controller manager: many controllers over shared informers, started once the
//! caches are synced, optionally only while this replica holds a leader lease.
//!
//! There is one informer per kind in a manager ([`Informers`]), whoever asks for it: a
//! controller's own kind, the kinds it owns or watches, and any cache a controller
//! reads. Informers
//! run for the manager's whole life (a standby replica keeps warm caches and takes over
//! quickly); controllers run only while leading.

use std::pin::Pin;
use std::sync::Arc;

use orchestra_core::{Client, Resource};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::controller::{Controller, Mapper};
use super::informer::{HandlerRegistration, InformerEvent};
pub use super::informers::Informers;
use super::leader::{LeaderElectionConfig, LeaderElector};
use super::queue::WorkQueue;
use super::runner::{ControllerRunner, RunnerConfig};
use crate::keys::ObjectKey;

/// Queues the keys woken by changes to kind `O`, through `map`, for as long as the
/// returned registration lives. An update wakes the keys of both the old and the new
/// state, so a dependent that changed owners wakes both.
pub(crate) fn queue_mapped_keys<O: Resource>(
    informers: &Informers,
    map: Mapper<O>,
    queue: WorkQueue<ObjectKey>,
) -> HandlerRegistration {
    informers
        .get::<O>()
        .add_handler(move |event: &InformerEvent<O>| match event {
            InformerEvent::Updated { old, new } => {
                let before = map(old);
                let after = map(new);
                for key in after
                    .iter()
                    .chain(before.iter().filter(|k| !after.contains(k)))
                {
                    queue.add(key.clone());
                }
            }
            other => {
                for key in map(other.object()) {
                    queue.add(key);
                }
            }
        })
}

/// A controller with its runner settings, type-erased for the manager.
trait AnyController: Send + Sync {
    fn name(&self) -> String;
    fn run(
        self: Arc<Self>,
        informers: Informers,
        client: Client,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<C: Controller> AnyController for ControllerRunner<C> {
    fn name(&self) -> String {
        self.controller_name().to_owned()
    }

    fn run(
        self: Arc<Self>,
        informers: Informers,
        client: Client,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { ControllerRunner::run(&self, &informers, client, cancel).await })
    }
}

/// A task the manager starts and stops with its controllers.
type Runnable =
    Arc<dyn Fn(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The manager's state, for health checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Whether every informer completed its first list.
    pub informers_synced: bool,
    /// Whether this replica leads (always true without leader election).
    pub leader: bool,
    /// Whether controllers are running now.
    pub controllers_running: bool,
}

/// The controller manager: runs many controllers over shared informers, starts them
/// once every cache has synced, and — with [`Manager::leader_election`] — only while
/// this replica holds the lease.
///
/// There is one informer per kind, whoever asks for it (see [`Manager::informers`]).
/// Informers run for the manager's whole life, so a standby replica keeps warm caches
/// and takes over quickly; controllers run only while leading, and stop before the
/// lease can pass to another replica.
///
/// ```no_run
/// # use orchestra_core::Client;
/// # use orchestra_runtime::reconcile::{Controller, Manager};
/// # async fn demo<C: Controller>(client: Client, controller: C) {
/// let manager = Manager::new(client).controller(controller);
/// let stop = tokio_util::sync::CancellationToken::new();
/// manager.run(stop).await; // until `stop` is cancelled elsewhere
/// # }
/// ```
pub struct Manager {
    client: Client,
    informers: Informers,
    controllers: Vec<Arc<dyn AnyController>>,
    runnables: Vec<(String, Runnable)>,
    leader_election: Option<LeaderElectionConfig>,
    health: watch::Sender<Health>,
}

impl Manager {
    /// A manager over `client`, with no controllers and no leader election.
    pub fn new(client: Client) -> Self {
        let health = Health {
            informers_synced: false,
            leader: false,
            controllers_running: false,
        };
        Manager {
            informers: Informers::new(client.clone()),
            client,
            controllers: Vec::new(),
            runnables: Vec::new(),
            leader_election: None,
            health: watch::channel(health).0,
        }
    }

    /// Runs controllers only while holding the lease `config` describes.
    #[must_use]
    pub fn leader_election(mut self, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some(config);
        self
    }

    /// The shared informers: ask here for the caches a controller reads.
    pub fn informers(&self) -> &Informers {
        &self.informers
    }

    /// The client the manager's informers and controllers use.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Adds a controller with the default runner settings.
    #[must_use]
    pub fn controller<C: Controller>(self, controller: C) -> Self {
        self.controller_with(controller, RunnerConfig::default())
    }

    /// Adds a task that is not a per-object controller (the garbage collector, say):
    /// `run` is started like the controllers — after the caches sync, only while
    /// leading — and must return soon after its token is cancelled. It may be started
    /// again after leadership is regained.
    #[must_use]
    pub fn runnable(
        mut self,
        name: impl Into<String>,
        run: impl Fn(CancellationToken) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.runnables.push((name.into(), Arc::new(run)));
        self
    }

    /// Adds a controller with explicit runner settings (concurrency, work queue).
    #[must_use]
    pub fn controller_with<C: Controller>(mut self, controller: C, config: RunnerConfig) -> Self {
        // Create the informers now, so they all start (and sync) together.
        let _ = self.informers.get::<C::Object>();
        let runner = ControllerRunner::new(controller, config, &self.informers);
        self.controllers.push(Arc::new(runner));
        self
    }

    /// The current health.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// A receiver of health changes.
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Runs until `cancel` fires: starts the informers, waits for their caches, and runs
    /// the controllers (while leading, with leader election). On cancel, controllers
    /// finish their in-flight reconciles and stop, then the informers stop.
    pub async fn run(&self, cancel: CancellationToken) {
        let informer_cancel = cancel.child_token();
        self.informers.start(informer_cancel.clone());
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.informers.wait_until_synced() => {
                self.health.send_modify(|h| h.informers_synced = true);
                match &self.leader_election {
                    None => {
                        self.health.send_modify(|h| h.leader = true);
                        self.run_controllers(cancel.clone()).await;
                    }
                    Some(config) => self.run_while_leading(config.clone(), cancel.clone()).await,
                }
            }
        }
        informer_cancel.cancel();
        self.informers.join().await;
        self.health.send_modify(|h| {
            h.leader = false;
            h.controllers_running = false;
        });
    }

    async fn run_while_leading(&self, config: LeaderElectionConfig, cancel: CancellationToken) {
        let elector = Arc::new(LeaderElector::new(self.client.clone(), config));
        let mut leadership = elector.watch_leadership();
        let elector_cancel = CancellationToken::new();
        let elector_task = {
            let elector = elector.clone();
            let token = elector_cancel.clone();
            tokio::spawn(async move { elector.run(token).await })
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = leadership.wait_for(|leading| *leading) => if changed.is_err() { break },
            }
            self.health.send_modify(|h| h.leader = true);
            let term = cancel.child_token();
            let lost = {
                let term = term.clone();
                let mut leadership = elector.watch_leadership();
                async move {
                    let _ = leadership.wait_for(|leading| !*leading).await;
                    term.cancel();
                }
            };
            tokio::join!(self.run_controllers(term), async {
                tokio::select! {
                    _ = lost => {}
                    _ = cancel.cancelled() => {}
                }
            });
            self.health.send_modify(|h| h.leader = elector.is_leader());
        }
        // Controllers are stopped before the lease is released, so a successor never
        // overlaps with us.
        elector_cancel.cancel();
        let _ = elector_task.await;
    }

    /// Runs every controller until `cancel` fires and all have stopped.
    async fn run_controllers(&self, cancel: CancellationToken) {
        self.health.send_modify(|h| h.controllers_running = true);
        let mut set = JoinSet::new();
        for controller in &self.controllers {
            tracing::info!(controller = %controller.name(), "starting controller");
            set.spawn(controller.clone().run(
                self.informers.clone(),
                self.client.clone(),
                cancel.clone(),
            ));
        }
        for (name, run) in &self.runnables {
            tracing::info!(runnable = %name, "starting");
            set.spawn(run(cancel.clone()));
        }
        if set.is_empty() {
            // Nothing to run, but the manager's informers still serve their caches.
            cancel.cancelled().await;
        }
        while let Some(result) = set.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a controller task failed");
            }
        }
        self.health.send_modify(|h| h.controllers_running = false);
    }
}

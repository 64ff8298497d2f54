//! The [`Scheduler`] trait: the contract of whatever places pods on nodes.
//!
//! A scheduler watches pods that have no `spec.nodeName` (and whose `spec.schedulerName`
//! is its [`name`](Scheduler::name), or unset for the default scheduler) and binds each
//! to a node through the `binding` subresource ([`Api::bind`](orchestra_core::Api)). It
//! must never bind a pod twice and never bind a pod that is being deleted (the binding
//! refuses both).
//!
//! The reference [`DefaultScheduler`](super::DefaultScheduler) is one; a user replaces it
//! as a whole by implementing this trait, or keeps the framework and swaps plugins.

use std::sync::Arc;

use async_trait::async_trait;
use orchestra_core::Client;
use tokio_util::sync::CancellationToken;

use crate::reconcile::Manager;

/// Places pods on nodes. Dyn-compatible, so a control plane holds any scheduler as
/// `Arc<dyn Scheduler>`.
///
/// Contract: [`run`](Scheduler::run) schedules until `shutdown` fires, then returns
/// promptly (in-flight bind writes may finish); it may be called again afterwards (a
/// control plane that loses and regains leadership does so).
#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// The name pods select this scheduler by (`spec.schedulerName`).
    fn name(&self) -> &str;

    /// Schedules pods through `client` until `shutdown` fires.
    async fn run(&self, client: Client, shutdown: CancellationToken);

    /// Joins `manager`: the scheduler then runs after the manager's caches sync and
    /// only while the manager leads. A scheduler that reads the manager's shared
    /// informers ([`Manager::informers`]) overrides this to use them; the default runs
    /// [`run`](Scheduler::run) as one of the manager's tasks, over its client.
    fn add_to(self: Arc<Self>, manager: Manager) -> Manager {
        let client = manager.client().clone();
        manager.runnable("scheduler", move |cancel| {
            let (scheduler, client) = (self.clone(), client.clone());
            Box::pin(async move { scheduler.run(client, cancel).await })
        })
    }

    /// The same scheduler with its random choices (tie-breaks) seeded by `seed`, so a
    /// simulated cluster repeats; `None` (the default) for a scheduler without any.
    fn seeded(&self, _seed: u64) -> Option<Arc<dyn Scheduler>> {
        None
    }
}

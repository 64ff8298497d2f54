//! The [`Scheduler`] trait: whatever places pods on nodes.
//!
//! A scheduler watches pods that have no `spec.nodeName` (and whose `spec.schedulerName`
//! is its [`name`](Scheduler::name), or unset for the default scheduler) and binds each
//! to a node by setting `spec.nodeName` with a guarded update. It must never bind a pod
//! twice and never bind a pod that is being deleted.
//!
//! `orchestra_runtime::scheduler` holds the reference implementation, a framework of
//! filter and score plugins; a user replaces it as a whole by implementing this trait,
//! or keeps the framework and swaps plugins.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::api::Client;

/// The scheduler name pods get when they name none (Kubernetes' `default-scheduler`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Places pods on nodes. Object-safe, so a control plane can hold any scheduler as
/// `Arc<dyn Scheduler>`.
///
/// Contract: [`run`](Scheduler::run) schedules until `shutdown` fires, then returns
/// promptly (in-flight bind writes may finish); it may be called again afterwards
/// (a control plane that loses and regains leadership does so).
#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// The name pods select this scheduler by (`spec.schedulerName`).
    fn name(&self) -> &str;

    /// Schedules pods through `client` until `shutdown` fires.
    async fn run(&self, client: Client, shutdown: CancellationToken);
}

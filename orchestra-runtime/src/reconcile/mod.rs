//! The generic reconcile machinery every controller runs on — ours and our users'.
//!
//! A chain of small parts, each testable alone in paused time:
//!
//! - [`Informer`] lists and watches one kind into a [`Cache`] with indexes, and fans
//!   its changes out to subscribers; it relists after a compacted watch so no change
//!   is lost silently. The cache holds objects as shared `Arc<K>`, or, when told to,
//!   only the recently changed ones, packing the rest: 100,000 pods then take a few
//!   hundred bytes each.
//! - [`WorkQueue`] holds the keys waiting for reconciliation with client-go's
//!   guarantees: deduplicated, never processed concurrently with itself, earliest
//!   requeue wins, per-key exponential backoff.
//! - [`Controller`] is what a user writes: `reconcile(obj) -> Action`, and [`Watches`]
//!   to say which other changes wake it.
//! - The runner feeds one controller from its triggers through its queue with bounded
//!   concurrency, panic isolation and graceful shutdown; the [`Manager`] runs many
//!   controllers over shared informers, after their caches sync and, with
//!   [`LeaderElector`], only on the replica holding the lease.
//! - A [`Tally`] keeps a summary of a group of cached objects current as they change,
//!   for numbers a controller needs on every sync without visiting every object.
//! - [`finalizer`] runs cleanup before an object goes.

mod cache;
mod controller;
mod events;
mod finalizer;
mod informer;
mod informers;
mod leader;
mod manager;
pub mod queue;
mod rate_limit;
mod runner;
mod tally;

pub use crate::keys::ObjectKey;
pub use cache::{
    Cache, DECODED_IN_LARGE_CACHES, INDEX_LABEL, INDEX_NAMESPACE, INDEX_OWNER, IndexFn,
};
pub use controller::{Action, Context, Controller, Watches};
pub use events::{EventRecorder, EventType};
pub use finalizer::{FinalizerError, FinalizerEvent, finalizer};
pub use informer::{HandlerRegistration, Informer, InformerConfig, InformerEvent, Subscription};
pub use informers::{Informers, KindInformer, MetaEvent, MetaHandler};
pub use leader::{LEADER_ELECTION_NAMESPACE, LeaderElectionConfig, LeaderElector};
pub use manager::{Health, Manager};
pub use queue::{QueueConfig, QueueItem, QueueKey, QueueMetrics, WorkQueue};
pub use rate_limit::RateLimit;
pub(crate) use runner::ErrorChain;
pub use runner::{DEFAULT_CONCURRENCY, RunnerConfig};
pub use tally::Tally;

/// Compile-time checks: what controllers share across tasks is `Send + Sync`.
#[cfg(test)]
mod send_sync {
    use orchestra_core::kinds::Pod;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        send_sync::<super::Informer<Pod>>();
        send_sync::<super::Cache<Pod>>();
        send_sync::<super::Informers>();
        send_sync::<super::WorkQueue<super::ObjectKey>>();
        send_sync::<super::LeaderElector>();
        send_sync::<super::Manager>();
        send_sync::<crate::node::NodeAgent>();
        send_sync::<crate::scheduler::DefaultScheduler>();
        send_sync::<std::sync::Arc<dyn crate::scheduler::Scheduler>>();
        send_sync::<std::sync::Arc<dyn super::KindInformer>>();
    }
}

//! The built-in controllers. Each lives in its own module, split into a pure decision
//! ("given these objects, what should change?") with its own unit tests, and a thin
//! controller that reads caches and writes through the typed API.

pub mod deployment;
pub mod gc;
pub mod hpa;
pub mod node_lifecycle;
pub mod pod_helpers;
pub mod replicaset;

pub use deployment::{
    DeploymentController, DeploymentError, DeploymentExt, RollbackOutcome, rollback,
};
pub use gc::GarbageCollector;
pub use hpa::{HpaController, MetricsSource, Scalable};
pub use node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
pub use replicaset::ReplicaSetController;

//! The built-in controllers. Each lives in its own module, split into a pure decision
//! ("given these objects, what should change?") with its own unit tests, and a thin
//! controller that reads caches and writes through the typed API.
//!
//! Rolling a Deployment back, as `kubectl rollout undo` does, is a method of
//! `Api<Deployment>` from [`DeploymentExt`]: the previous revision by default, or the
//! one named; the Deployment controller then rolls the restored template out.
//!
//! ```no_run
//! use orchestra_core::kinds::Deployment;
//! use orchestra_core::{Api, Client};
//! use orchestra_runtime::controllers::DeploymentExt;
//!
//! # async fn undo(client: Client) -> Result<(), Box<dyn std::error::Error>> {
//! let deployments: Api<Deployment> = Api::namespaced(client, "default");
//! let outcome = deployments.rollback("my-web-server", None).await?;
//! println!("{outcome}"); // deployment default/my-web-server rolled back to revision 1
//! # Ok(())
//! # }
//! ```

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
pub use hpa::{HpaController, MetricsSource};
pub use node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
pub use replicaset::ReplicaSetController;

//! # orchestra-runtime
//!
//! What acts on the state: the reconcile machinery, the scheduler, the controllers, the
//! node agent and the container runtimes.
//!
//! Some of what `kubectl` does beyond reading and writing objects lives here too, as
//! methods of the typed API: `kubectl rollout undo [--to-revision=N]` is
//! [`rollback`](controllers::DeploymentExt::rollback) on an `Api<Deployment>`, once
//! [`controllers::DeploymentExt`] is in scope.

pub mod controllers;
mod host_name;
mod keys;
pub mod node;
pub mod reconcile;
pub mod runtimes;
pub mod scheduler;
mod stable_hash;
#[cfg(feature = "testing")]
pub mod testing;

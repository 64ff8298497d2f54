//! # orchestra-runtime
//!
//! What acts on the state: the reconcile machinery, the scheduler, the controllers, the
//! node agent and the container runtimes.

pub mod controllers;
pub mod node;
pub mod reconcile;
pub mod runtimes;
pub mod scheduler;
mod stable_hash;
#[cfg(feature = "testing")]
pub mod testing;

//! # Orchestra
//!
//! Orchestration primitives: compose a Kubernetes-style orchestrator from a Store, a
//! Runtime, a Scheduler and Controllers, run by a generic reconcile loop.
//!
//! This facade re-exports the workspace crates: [`core`] (the object model, the `Store`
//! trait and the typed API), [`store`] (the store backends) and [`runtime`] (the moving
//! parts).

pub use orchestra_core as core;
pub use orchestra_runtime as runtime;
pub use orchestra_store as store;

pub use orchestra_core::*;

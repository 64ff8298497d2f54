#![doc = include_str!("../README.md")]
//!
//! ## The crates
//!
//! This facade re-exports the workspace crates: [`core`] (the object model, the `Store`
//! trait and the typed API), [`store`] (the store backends), [`runtime`] (the moving
//! parts), and [`apiserver`] (the Kubernetes REST API over a registry). [`cluster`]
//! composes them into a whole cluster in one process; the `orchestra` binary (`orchestra
//! up`) serves one to kubectl.

pub mod cluster;
pub mod kubeconfig;

pub use orchestra_apiserver as apiserver;
pub use orchestra_core as core;
pub use orchestra_runtime as runtime;
pub use orchestra_store as store;

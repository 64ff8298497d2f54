#![doc = include_str!("../README.md")]
//!
//! ## The crates
//!
//! This facade re-exports the workspace crates: [`core`] (the object model, the `Store`
//! trait and the typed API), [`store`] (the store backends) and [`runtime`] (the moving
//! parts). [`cluster`] composes them into a whole cluster in one process.

pub mod cluster;

pub use orchestra_core as core;
pub use orchestra_runtime as runtime;
pub use orchestra_store as store;

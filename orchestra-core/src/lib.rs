//! # orchestra-core
//!
//! The vocabulary of Orchestra: the object model (metadata, label selectors,
//! quantities, the built-in kinds), the [`Store`], [`Runtime`] and [`Scheduler`] traits, and
//! the typed object API ([`Api`]) through which every controller reads and writes.
//!
//! This crate does no I/O of its own: stores, runtimes and the reconcile machinery live
//! in `orchestra-store` and `orchestra-runtime` and depend on it.

pub mod api;
pub mod conformance;
pub mod kinds;
pub mod labels;
pub mod meta;
pub mod quantity;
pub mod resource;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod string_map;
pub mod time;
pub mod validation;

pub use api::{
    Api, ApiError, Client, ClientConfig, DeleteParams, ListParams, ObjectEvent, ObjectList,
};
pub use labels::{LabelSelector, SelectorParseError};
pub use meta::{ObjectMeta, OwnerReference, TypeMeta};
pub use quantity::{Quantity, QuantityError, ResourceList};
pub use resource::{Resource, ResourceExt, Scope};
pub use runtime::{
    ChangeMarker, ContainerConfig, ContainerId, ContainerStats, LogOptions, LogStream, PodSandbox,
    ProbeOutcome, Runtime, RuntimeContainerState, RuntimeContainerStatus, RuntimeError,
};
pub use scheduler::{DEFAULT_SCHEDULER_NAME, Scheduler};
pub use store::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};
pub use string_map::StringMap;
pub use time::{Clock, Time};

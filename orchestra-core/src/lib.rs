//! # orchestra-core
//!
//! The vocabulary of Orchestra: the object model (metadata, label selectors,
//! quantities, the built-in kinds and their descriptors), the [`Store`] and [`Runtime`]
//! traits, the typed object API ([`Api`]) through which every controller
//! reads and writes, the [`ObjectService`] seam beneath it, and the server-side
//! [`Registry`] that implements that service over a store with every object rule, and
//! the server-side tables `kubectl get` prints ([`table`]).
//!
//! This crate does no I/O of its own: stores, runtimes, the reconcile machinery and
//! the API server live in other crates and depend on it.

pub mod api;
pub mod conformance;
pub mod kinds;
pub mod labels;
pub mod meta;
pub mod quantity;
pub mod registry;
pub mod resource;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod string_map;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod validation;

pub use api::{
    Api, ApiError, Client, DeleteParams, ListParams, ObjectBody, ObjectEvent, ObjectList,
    ObjectService, WatchParams,
};
pub use labels::{LabelSelector, SelectorParseError};
pub use meta::{ObjectMeta, OwnerReference, PartialObjectMetadata, TypeMeta};
pub use quantity::{Quantity, QuantityError, ResourceList};
pub use registry::Registry;
pub use resource::{ApiResource, GroupKind, GroupResource, Resource, ResourceExt, Scope};
pub use runtime::{
    ChangeMarker, ContainerConfig, ContainerId, ContainerStats, LogOptions, LogStream, PodSandbox,
    ProbeOutcome, Runtime, RuntimeContainerState, RuntimeContainerStatus, RuntimeError,
};
pub use scheduler::DEFAULT_SCHEDULER_NAME;
pub use store::{
    KeyValue, ListOptions, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream,
};
pub use string_map::StringMap;
pub use time::{Clock, Time};

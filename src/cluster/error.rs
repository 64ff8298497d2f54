//! [`ClusterError`]: what can go wrong composing, starting and steering a [`Cluster`].
//!
//! [`Cluster`]: super::Cluster

use orchestra_core::{ApiError, RuntimeError, StoreError};

/// Errors of the cluster builder and of a running [`Cluster`](super::Cluster).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A store description (`memory`, `durable:PATH`, `etcd:URL`) could not be read.
    #[error("invalid store {given:?}: {reason}")]
    InvalidStore {
        /// What was given.
        given: String,
        /// Why it is not a store description.
        reason: String,
    },
    /// The store asked for needs a cargo feature this build does not have.
    #[error(
        "the {what} needs the `{feature}` feature of the `orchestra` crate (build with `--features {feature}`)"
    )]
    FeatureDisabled {
        /// What was asked for.
        what: &'static str,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// The store could not be opened or reached.
    #[error("cannot open the store")]
    Store(#[source] StoreError),
    /// A node's container runtime could not be opened.
    #[error("cannot open the container runtime of node {node:?}")]
    Runtime {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: RuntimeError,
    },
    /// A node's agent stopped with an error (it could not register its Node).
    #[error("the agent of node {node:?} failed")]
    NodeFailed {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: Box<ApiError>,
    },
    /// A node's agent ended without being stopped (it panicked).
    #[error("the agent of node {0:?} stopped unexpectedly")]
    NodeExited(String),
    /// No node of that name belongs to this cluster.
    #[error("no node {0:?} in this cluster")]
    NoSuchNode(String),
    /// A node of that name exists already.
    #[error("node {0:?} exists already")]
    NodeExists(String),
    /// The node's agent runs already.
    #[error("node {0:?} is running already")]
    NodeRunning(String),
    /// The control plane runs already.
    #[error("the control plane is running already")]
    ControlPlaneRunning,
    /// The control plane's task ended on its own (it panicked).
    #[error("the control plane stopped unexpectedly")]
    ControlPlaneExited,
    /// [`Cluster::wait_ready`](super::Cluster::wait_ready) gave up.
    #[error("the cluster was not ready after {waited:?}: still waiting for {waiting_for}")]
    NotReady {
        /// How long it waited.
        waited: std::time::Duration,
        /// What it was still waiting for.
        waiting_for: String,
    },
    /// Nodes can only be added to a cluster that was built with nodes of its own.
    #[error("this cluster runs no nodes of its own, so it cannot add {0:?}")]
    NoNodeTemplate(String),
}

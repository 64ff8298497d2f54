//! The container [`Runtime`] a node agent drives: start, stop, status, list, logs,
//! stats and probes of the containers of the pods bound to one node.
//!
//! A runtime knows containers, not pods: every container it starts belongs to a
//! [`PodSandbox`] (the pod's uid, namespace and name) and carries the container's name
//! and the agent's attempt number, so an agent that restarts can list what is already
//! there and re-adopt or clean it up. Restart policy, crash-loop backoff, probe
//! scheduling and pod status are the agent's job; the runtime only does what it is told
//! and reports what it sees.
//!
//! Implementations live in `orchestra_runtime::runtimes` (`SimRuntime`, `ProcessRuntime`);
//! `orchestra_runtime::testing` holds the conformance kit every implementation passes.

use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::kinds::{Container, ProbeHandler};
use crate::time::Time;

/// The pod a container belongs to, as the runtime records it (and persists it, for a
/// runtime that keeps state across restarts).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PodSandbox {
    /// The pod's uid: what identifies the pod across renames and re-creations.
    pub uid: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
}

/// A container's identity inside one runtime, unique for the runtime's lifetime
/// (including across agent restarts when the runtime persists its state).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub String);

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`Runtime::start_container`] is asked to start.
#[derive(Clone, Debug)]
pub struct ContainerConfig {
    /// The pod the container belongs to.
    pub sandbox: PodSandbox,
    /// The container as the pod spec declares it (image, command, args, env, ports,
    /// resource limits). Its `name` is the container's name within the pod.
    pub container: Container,
    /// The agent's attempt counter: 0 for the first start, +1 for every restart.
    pub attempt: u32,
}

/// The state of a container as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeContainerState {
    /// Created but not (yet) running: the start is still in progress.
    Created,
    /// Running.
    Running,
    /// Finished, successfully or not.
    Exited {
        /// The exit code; for a process killed by a signal, 128 + the signal number.
        exit_code: i32,
        /// The signal that ended it, if one did.
        signal: Option<i32>,
        /// A short machine-readable reason, Kubernetes-style: `Completed`, `Error`,
        /// `OOMKilled`, `StartError`, `Unknown`.
        reason: String,
        /// A human-readable detail, if there is one.
        message: Option<String>,
    },
}

impl RuntimeContainerState {
    /// Whether the container is running.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }

    /// Whether the container has exited.
    pub fn is_exited(&self) -> bool {
        matches!(self, Self::Exited { .. })
    }
}

/// A container's status, as [`Runtime::container_status`] and
/// [`Runtime::list_containers`] report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeContainerStatus {
    /// The container's id.
    pub id: ContainerId,
    /// The pod it belongs to.
    pub sandbox: PodSandbox,
    /// The container's name within the pod.
    pub name: String,
    /// The image it was started from.
    pub image: String,
    /// The attempt number it was started with.
    pub attempt: u32,
    /// Its state.
    pub state: RuntimeContainerState,
    /// When the runtime created it.
    pub created_at: Time,
    /// When it started running, once it has.
    pub started_at: Option<Time>,
    /// When it exited, once it has.
    pub finished_at: Option<Time>,
    /// The address its ports are reachable on, if it has one (the pod IP).
    pub ip: Option<IpAddr>,
}

/// Resource usage of one container, for the autoscaler and for `top`-like views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// CPU time used since the container started, in nanoseconds.
    pub cpu_usage_nanos: u64,
    /// Current CPU usage in millicores (1000 = one core busy), averaged over the
    /// interval since the previous sample (or since start for the first one).
    pub cpu_millicores: u64,
    /// Resident memory in bytes.
    pub memory_bytes: u64,
}

/// Which part of a container's log [`Runtime::logs`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogOptions {
    /// Only the last this many lines (`None`: everything retained).
    pub tail_lines: Option<usize>,
    /// Keep the stream open and yield new output as it is written, until the container
    /// exits (then the stream ends after the last output).
    pub follow: bool,
}

impl LogOptions {
    /// Only the last `lines` lines.
    #[must_use]
    pub fn tail(mut self, lines: usize) -> Self {
        self.tail_lines = Some(lines);
        self
    }

    /// Follow the log as it grows.
    #[must_use]
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }
}

/// A stream of log chunks (each a whole number of lines, newline included, except
/// possibly the very last chunk of an exited container).
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, RuntimeError>> + Send>>;

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The probe succeeded.
    Success,
    /// The probe failed; the text says why (`connection refused`, `HTTP 500`, `exit 1`).
    Failure(String),
}

impl ProbeOutcome {
    /// Whether the probe succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

/// Errors of a [`Runtime`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No container with this id exists (never did, or was removed).
    #[error("container {0} not found")]
    NotFound(ContainerId),
    /// The image could not be resolved (for `ProcessRuntime`: no such executable).
    #[error("image {image:?} not found: {reason}")]
    ImageNotFound {
        /// The image as the container spec gives it.
        image: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The container spec cannot be started as given (empty image, bad limits, ...).
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    /// The container could not be started.
    #[error("failed to start container {name:?} of pod {pod}: {reason}")]
    StartFailed {
        /// The container's name.
        name: String,
        /// The pod, as `namespace/name`.
        pod: String,
        /// Why.
        reason: String,
    },
    /// The operation is not possible in the container's current state (stats of an
    /// exited container, say).
    #[error("container {id}: {reason}")]
    InvalidState {
        /// The container.
        id: ContainerId,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error talking to the operating system or the engine.
    #[error("runtime I/O error: {context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of the runtime.
    #[error("runtime error: {0}")]
    Other(String),
}

/// Where a runtime's containers stand, so an agent can skip a relist that would find
/// nothing new: the agent lists every container every second (Kubernetes' PLEG), and a
/// runtime that knows when its containers can next change spares it the listing.
///
/// Two markers with the same `generation`, the earlier one's `next_change` not yet
/// reached, promise that a listing now would show every container in the state the
/// listing after the earlier marker showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeMarker {
    /// Changes whenever a container is created, stopped, killed or removed, or changes
    /// state in any way other than by time passing.
    pub generation: u64,
    /// The earliest moment a container may change state by time alone (a start that
    /// takes a while, an exit planned for later), if any.
    pub next_change: Option<tokio::time::Instant>,
}

impl ChangeMarker {
    /// Whether this marker, taken at `at`, promises that nothing changed since
    /// `earlier`: the same generation, and no change by time alone due yet.
    pub fn promises_no_change_since(
        &self,
        earlier: &ChangeMarker,
        at: tokio::time::Instant,
    ) -> bool {
        self.generation == earlier.generation && earlier.next_change.is_none_or(|due| at < due)
    }
}

/// A container runtime: what a node agent drives to run the containers of its pods.
///
/// Contracts (the conformance kit in `orchestra_runtime::testing` checks each):
/// - `start_container` returns once the container exists; its state is then `Created`
///   or `Running`, and becomes `Running` without further calls unless it fails to
///   start (`Exited` with reason `StartError`) or exits at once.
/// - `stop_container` asks the container to stop (SIGTERM or its equivalent), waits up
///   to `grace`, then kills it (SIGKILL); it returns once the container has exited.
///   Stopping an exited container is a no-op. The container stays listed until
///   `remove_container`.
/// - `remove_container` stops the container at once if it still runs (grace zero),
///   then forgets it and its logs; afterwards every call with its id is `NotFound`.
/// - `list_containers` returns every container not yet removed, running or exited,
///   including ones started before this runtime value was created when the runtime
///   persists state (so an agent restarting after a crash finds them).
/// - `logs` returns what the container wrote to stdout and stderr (interleaved);
///   `stats` its resource usage, an error once it has exited.
/// - `probe` runs one probe action against the container within `timeout` and says
///   whether it succeeded; a timeout is a failure, not an error.
/// - `change_marker`, where given, moves its generation on every start, stop and
///   removal, and never promises "no change" across a change (see [`ChangeMarker`]).
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// A short name for logs and metrics (`sim`, `process`, `docker`).
    fn name(&self) -> &str;

    /// Start a container.
    async fn start_container(&self, config: ContainerConfig) -> Result<ContainerId, RuntimeError>;

    /// Stop a container: TERM, then KILL after `grace`; returns once it has exited.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError>;

    /// Forget a container (killing it first if it still runs).
    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError>;

    /// The current status of one container.
    async fn container_status(
        &self,
        id: &ContainerId,
    ) -> Result<RuntimeContainerStatus, RuntimeError>;

    /// Every container this runtime knows, running or exited.
    async fn list_containers(&self) -> Result<Vec<RuntimeContainerStatus>, RuntimeError>;

    /// The container's output.
    async fn logs(&self, id: &ContainerId, options: LogOptions) -> Result<LogStream, RuntimeError>;

    /// The container's resource usage.
    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, RuntimeError>;

    /// Run one probe action (exec, TCP or HTTP) against the container.
    async fn probe(
        &self,
        id: &ContainerId,
        handler: &ProbeHandler,
        timeout: Duration,
    ) -> Result<ProbeOutcome, RuntimeError>;

    /// Where the containers stand, for skipping relists (see [`ChangeMarker`]). `None`,
    /// the default, means the runtime cannot tell, and every relist lists.
    fn change_marker(&self) -> Option<ChangeMarker> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_object_safe(_: &dyn Runtime) {}

    #[test]
    fn runtime_is_object_safe_and_errors_are_send_sync() {
        let _ = assert_object_safe;
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RuntimeError>();
        assert_send_sync::<ContainerConfig>();
    }
}

//! The pod status the agent reports, computed from what it knows of the pod's
//! containers: phase, conditions (`Initialized`, `ContainersReady`, `Ready`; the
//! scheduler's `PodScheduled` is kept) and one `containerStatus` per container, with
//! Kubernetes' rules. Pure, so "no write when nothing changed" is just equality.

use std::net::IpAddr;

use orchestra_core::kinds::{
    ConditionStatus, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodPhase, PodStatus, RestartPolicy,
};
use orchestra_core::{ContainerId, RuntimeContainerState, RuntimeContainerStatus, Time};

/// What the agent keeps of one container instance's runtime status: the parts a pod
/// status is made of. An agent holds one for every container it runs (two for one
/// that restarted), so it is kept small: the rest of a [`RuntimeContainerStatus`] (the
/// sandbox, the container's name and image: strings the pod already has) is not kept,
/// and the details of an exit are boxed, as most instances an agent holds are running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The instance's id.
    pub id: ContainerId,
    /// Its state.
    pub state: InstanceState,
    /// When it started running, once it has.
    pub started_at: Option<Time>,
    /// The address its ports are reachable on, if it has one (the pod IP).
    pub ip: Option<IpAddr>,
}

impl InstanceStatus {
    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        matches!(self.state, InstanceState::Running)
    }

    /// How it ended, once it has.
    pub fn exit(&self) -> Option<&InstanceExit> {
        match &self.state {
            InstanceState::Exited(exit) => Some(exit),
            _ => None,
        }
    }
}

/// The state of a container instance, as [`RuntimeContainerState`] with the exit's
/// details (and the time it exited) boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Created, not running yet.
    Created,
    /// Running.
    Running,
    /// Finished, successfully or not.
    Exited(Box<InstanceExit>),
}

/// How a container instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceExit {
    /// The exit code; for a process killed by a signal, 128 + the signal number.
    pub exit_code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// A short machine-readable reason: `Completed`, `Error`, `OOMKilled`, ...
    pub reason: String,
    /// A human-readable detail, if there is one.
    pub message: Option<String>,
    /// When it exited, if the runtime knows.
    pub finished_at: Option<Time>,
}

impl From<RuntimeContainerStatus> for InstanceStatus {
    fn from(status: RuntimeContainerStatus) -> InstanceStatus {
        let state = match status.state {
            RuntimeContainerState::Created => InstanceState::Created,
            RuntimeContainerState::Running => InstanceState::Running,
            RuntimeContainerState::Exited {
                exit_code,
                signal,
                reason,
                message,
            } => InstanceState::Exited(Box::new(InstanceExit {
                exit_code,
                signal,
                reason,
                message,
                finished_at: status.finished_at,
            })),
        };
        InstanceStatus {
            id: status.id,
            state,
            started_at: status.started_at,
            ip: status.ip,
        }
    }
}

/// Why a container is not running, as `containerStatuses[].state.waiting` says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, `CreateContainerError`.
    pub reason: String,
    /// Details, for people.
    pub message: Option<String>,
}

/// What the agent knows of one container of the pod.
#[derive(Clone, Debug)]
pub struct ContainerReport<'a> {
    /// The container as the pod spec declares it.
    pub spec: &'a Container,
    /// How often the agent restarted it.
    pub restart_count: i32,
    /// Its current (latest) instance in the runtime.
    pub current: Option<&'a InstanceStatus>,
    /// The instance before, if it exited.
    pub previous: Option<&'a InstanceStatus>,
    /// Set when it is not running and not finished for good: why.
    pub waiting: Option<Waiting>,
    /// Running and passing its readiness probe (or without one).
    pub ready: bool,
    /// Running and past its startup probe (or without one).
    pub started: bool,
}

/// The status to report for `pod`, given its containers (in spec order).
pub fn pod_status(
    pod: &Pod,
    containers: &[ContainerReport<'_>],
    pod_ip: Option<&str>,
    host_ip: Option<&str>,
    now: Time,
) -> PodStatus {
    let mut status = pod.status.clone().unwrap_or_default();
    let policy = pod.spec.restart_policy.unwrap_or_default();
    status.phase = Some(phase(policy, containers));
    let all_ready = !containers.is_empty() && containers.iter().all(|c| c.ready);
    let not_ready: Vec<&str> = containers
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.spec.name.as_str())
        .collect();
    let message = (!not_ready.is_empty())
        .then(|| format!("containers with unready status: [{}]", not_ready.join(" ")));
    status.set_condition("Initialized", ConditionStatus::True, None, None, now);
    for type_ in ["ContainersReady", "Ready"] {
        status.set_condition(
            type_,
            all_ready.into(),
            (!all_ready).then_some("ContainersNotReady"),
            message.as_deref(),
            now,
        );
    }
    status.container_statuses = containers.iter().map(container_status).collect();
    if pod_ip.is_some() {
        status.pod_ip = pod_ip.map(str::to_owned);
    }
    if host_ip.is_some() {
        status.host_ip = host_ip.map(str::to_owned);
    }
    if status.start_time.is_none() {
        status.start_time = Some(now);
    }
    status
}

/// Kubernetes' pod phase: Pending while a container has never run; Running while one
/// runs or will run again; Succeeded when all exited 0 for good; Failed when all
/// exited for good and one failed.
fn phase(policy: RestartPolicy, containers: &[ContainerReport<'_>]) -> PodPhase {
    let exited = |s: &InstanceStatus| s.exit().map(|e| e.exit_code);
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        // Not running now but ran before: it is restarting, which counts as stopped
        // (Running phase under Always).
        let last_exit = match c.current.map(|s| &s.state) {
            Some(InstanceState::Running) => {
                running += 1;
                continue;
            }
            Some(InstanceState::Exited(exit)) => Some(exit.exit_code),
            _ => c.previous.and_then(exited),
        };
        match last_exit {
            Some(code) => {
                stopped += 1;
                succeeded += usize::from(code == 0);
            }
            None => waiting += 1,
        }
    }
    if waiting > 0 {
        PodPhase::Pending
    } else if running > 0 {
        PodPhase::Running
    } else if !containers.is_empty() {
        // Every container has stopped.
        match policy {
            RestartPolicy::Always => PodPhase::Running,
            _ if succeeded == stopped => PodPhase::Succeeded,
            RestartPolicy::Never => PodPhase::Failed,
            // One failed: it will be restarted.
            RestartPolicy::OnFailure => PodPhase::Running,
        }
    } else {
        PodPhase::Pending
    }
}

fn terminated(s: &InstanceStatus) -> Option<ContainerState> {
    let exit = s.exit()?;
    Some(ContainerState {
        terminated: Some(Box::new(ContainerStateTerminated {
            exit_code: exit.exit_code,
            signal: exit.signal,
            reason: Some(exit.reason.clone()),
            message: exit.message.clone(),
            started_at: s.started_at,
            finished_at: exit.finished_at,
        })),
        ..Default::default()
    })
}

fn container_status(c: &ContainerReport<'_>) -> ContainerStatus {
    let waiting = |w: &Waiting| ContainerState {
        waiting: Some(Box::new(ContainerStateWaiting {
            reason: Some(w.reason.clone()),
            message: w.message.clone(),
        })),
        ..Default::default()
    };
    let (state, last_state) = match (c.current, &c.waiting) {
        // A waiting reason wins: an exited instance about to restart is reported as
        // waiting (CrashLoopBackOff) with the exit in lastState.
        (current, Some(w)) => (
            Some(waiting(w)),
            current
                .and_then(terminated)
                .or_else(|| c.previous.and_then(terminated)),
        ),
        (Some(s), None) => match &s.state {
            InstanceState::Running => (
                Some(ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: s.started_at,
                    }),
                    ..Default::default()
                }),
                c.previous.and_then(terminated),
            ),
            InstanceState::Exited(_) => (terminated(s), c.previous.and_then(terminated)),
            InstanceState::Created => (
                Some(waiting(&Waiting {
                    reason: "ContainerCreating".into(),
                    message: None,
                })),
                c.previous.and_then(terminated),
            ),
        },
        (None, None) => (
            Some(waiting(&Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            })),
            c.previous.and_then(terminated),
        ),
    };
    ContainerStatus {
        name: c.spec.name.clone(),
        image: c.spec.image.clone(),
        container_id: c.current.map(|s| format!("orchestra://{}", s.id)),
        ready: c.ready,
        started: Some(c.started),
        restart_count: c.restart_count,
        state,
        last_state: last_state.map(Box::new),
    }
}

#[cfg(test)]
mod tests;

//! The Pod table: Name, Ready, Status, Restarts, Age | IP, Node, Nominated Node,
//! Readiness Gates — with the Status reason kube-apiserver derives from the phase and
//! the containers' states.

use serde_json::Value;

use super::{Columns, ROW_COMPLETED, TableColumnDefinition, TableRowCondition, age, name_cell};
use crate::kinds::{
    ConditionStatus, ContainerStateTerminated, ContainerStatus, POD_SCHEDULED, Pod, PodPhase,
    PodStatus,
};
use crate::time::Time;

/// The pod reason the node lifecycle controller sets when the node of a pod being
/// deleted stopped answering: such a pod reads `Unknown`, not `Terminating`.
const NODE_LOST: &str = "NodeLost";
/// The PodScheduled reason of a pod held back by scheduling gates.
const SCHEDULING_GATED: &str = "SchedulingGated";

impl Columns for Pod {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::string("Ready", "Ready containers out of all containers."),
            TableColumnDefinition::string(
                "Status",
                "What the pod is doing: its phase, or the reason a container is waiting or \
                 exited.",
            ),
            TableColumnDefinition::string(
                "Restarts",
                "How many times the pod's containers restarted, and how long ago the last \
                 one did.",
            ),
            TableColumnDefinition::age_column(),
            TableColumnDefinition::string("IP", "The pod's IP address.").wide(),
            TableColumnDefinition::string("Node", "The node the pod is bound to.").wide(),
            TableColumnDefinition::string(
                "Nominated Node",
                "The node the scheduler preempted pods on for this pod.",
            )
            .wide(),
            TableColumnDefinition::string(
                "Readiness Gates",
                "Extra conditions the pod's readiness waits for, true out of all.",
            )
            .wide(),
        ]
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        let no_status = PodStatus::default();
        let status = self.status.as_ref().unwrap_or(&no_status);
        let summary = ContainerSummary::of(self, status, InitContainers::default());
        let restarts = match summary.last_restart {
            Some(at) if summary.restarts != 0 => {
                format!("{} ({} ago)", summary.restarts, age(Some(at), now))
            }
            _ => summary.restarts.to_string(),
        };
        let ip = status.pod_ip.as_deref().filter(|ip| !ip.is_empty());
        vec![
            name_cell(&self.metadata),
            Value::from(format!("{}/{}", summary.ready, summary.total)),
            Value::from(summary.reason),
            Value::from(restarts),
            Value::from(age(self.metadata.creation_timestamp, now)),
            Value::from(ip.unwrap_or("<none>")),
            Value::from(self.node_name().unwrap_or("<none>")),
            // This model has no nominated nodes or readiness gates: the cells say so as
            // kube-apiserver does for a pod without them.
            Value::from("<none>"),
            Value::from("<none>"),
        ]
    }

    fn row_conditions(&self) -> Vec<TableRowCondition> {
        let (reason, message) = match self.status.as_ref().and_then(|s| s.phase) {
            Some(PodPhase::Succeeded) => ("Succeeded", "All containers exited successfully."),
            Some(PodPhase::Failed) => ("Failed", "The pod's containers exited in failure."),
            _ => return Vec::new(),
        };
        vec![TableRowCondition {
            type_: ROW_COMPLETED.to_owned(),
            status: ConditionStatus::True,
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
        }]
    }
}

/// A pod's init containers as the Status cell reads them: which run to completion
/// before the others start, and which keep running beside them (restartable, the
/// "sidecars").
///
/// This pod model has no init containers yet, so the table passes none; the rules are
/// kube-apiserver's all the same, and tested, for when it does.
#[derive(Clone, Copy, Debug, Default)]
struct InitContainers<'a> {
    /// Each init container's name and whether it is restartable, in spec order.
    specs: &'a [(&'a str, bool)],
    /// Their statuses.
    statuses: &'a [ContainerStatus],
}

impl InitContainers<'_> {
    fn restartable(&self, name: &str) -> bool {
        self.specs
            .iter()
            .any(|(n, restartable)| *n == name && *restartable)
    }
}

/// What the Ready, Status and Restarts cells are made of.
#[derive(Debug, PartialEq)]
struct ContainerSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Time>,
}

/// The time a container last exited before its current run, if it did.
fn last_exit(c: &ContainerStatus) -> Option<Time> {
    c.last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.finished_at)
}

/// Keeps the later of two restart times.
fn latest(current: &mut Option<Time>, candidate: Option<Time>) {
    if let Some(t) = candidate {
        if current.is_none_or(|c| c < t) {
            *current = Some(t);
        }
    }
}

/// An exit without a reason, named by its signal or its exit code.
fn exit_text(t: &ContainerStateTerminated) -> String {
    match t.signal.filter(|s| *s != 0) {
        Some(signal) => format!("Signal:{signal}"),
        None => format!("ExitCode:{}", t.exit_code),
    }
}

impl ContainerSummary {
    fn of(pod: &Pod, status: &PodStatus, init: InitContainers<'_>) -> ContainerSummary {
        // A pod without a reported phase has just been created: Kubernetes stores
        // every new pod as Pending.
        let phase = status.phase.unwrap_or(PodPhase::Pending);
        let mut reason = match status.reason.as_deref() {
            Some(r) if !r.is_empty() => r.to_owned(),
            _ => phase.as_str().to_owned(),
        };
        if status
            .conditions
            .iter()
            .any(|c| c.type_ == POD_SCHEDULED && c.reason.as_deref() == Some(SCHEDULING_GATED))
        {
            reason = SCHEDULING_GATED.to_owned();
        }
        let sidecars = init
            .specs
            .iter()
            .filter(|(_, restartable)| *restartable)
            .count();
        let mut summary = ContainerSummary {
            ready: 0,
            total: pod.spec.containers.len() + sidecars,
            reason: String::new(),
            restarts: 0,
            last_restart: None,
        };

        // Init containers run in order: the first one not done yet says why the pod
        // is still initializing.
        let mut sidecar_restarts = 0;
        let mut last_sidecar_restart = None;
        let mut initializing = false;
        for (i, c) in init.statuses.iter().enumerate() {
            summary.restarts += i64::from(c.restart_count);
            latest(&mut summary.last_restart, last_exit(c));
            let restartable = init.restartable(&c.name);
            if restartable {
                sidecar_restarts += i64::from(c.restart_count);
                latest(&mut last_sidecar_restart, last_exit(c));
            }
            let state = c.state.as_ref();
            let terminated = state.and_then(|s| s.terminated.as_deref());
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty() && *r != "PodInitializing");
            if terminated.is_some_and(|t| t.exit_code == 0) {
                continue;
            }
            if restartable && c.started == Some(true) {
                if c.ready {
                    summary.ready += 1;
                }
                continue;
            }
            reason = if let Some(t) = terminated {
                match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => format!("Init:{r}"),
                    None => format!("Init:{}", exit_text(t)),
                }
            } else if let Some(waiting) = waiting {
                format!("Init:{waiting}")
            } else {
                format!("Init:{i}/{}", init.specs.len())
            };
            initializing = true;
            break;
        }

        let initialized = pod
            .condition("Initialized")
            .is_some_and(|c| c.status == ConditionStatus::True);
        if !initializing || initialized {
            // Once initialized, only the sidecars' restarts still count.
            summary.restarts = sidecar_restarts;
            summary.last_restart = last_sidecar_restart;
            let mut has_running = false;
            // The first container with something to say wins, so walk from the last.
            for c in status.container_statuses.iter().rev() {
                summary.restarts += i64::from(c.restart_count);
                latest(&mut summary.last_restart, last_exit(c));
                let state = c.state.as_ref();
                let waiting = state
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .filter(|r| !r.is_empty());
                if let Some(waiting) = waiting {
                    reason = waiting.to_owned();
                } else if let Some(t) = state.and_then(|s| s.terminated.as_deref()) {
                    reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                        Some(r) => r.to_owned(),
                        None => exit_text(t),
                    };
                } else if c.ready && state.is_some_and(|s| s.running.is_some()) {
                    has_running = true;
                    summary.ready += 1;
                }
            }
            // One container completed while another still runs: the pod is not done.
            if reason == "Completed" && has_running {
                reason = if pod.is_ready() {
                    "Running"
                } else {
                    "NotReady"
                }
                .to_owned();
            }
        }

        if pod.metadata.deletion_timestamp.is_some() {
            if status.reason.as_deref() == Some(NODE_LOST) {
                reason = "Unknown".to_owned();
            } else if !matches!(phase, PodPhase::Succeeded | PodPhase::Failed) {
                reason = "Terminating".to_owned();
            }
        }
        summary.reason = reason;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{ContainerState, ContainerStateWaiting, PodCondition};

    fn state(waiting: Option<&str>, exit: Option<(i32, Option<&str>)>) -> ContainerState {
        ContainerState {
            waiting: waiting.map(|r| {
                Box::new(ContainerStateWaiting {
                    reason: Some(r.to_owned()),
                    message: None,
                })
            }),
            running: None,
            terminated: exit.map(|(exit_code, reason)| {
                Box::new(ContainerStateTerminated {
                    exit_code,
                    reason: reason.map(str::to_owned),
                    ..Default::default()
                })
            }),
        }
    }

    fn status(name: &str, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: name.to_owned(),
            state: Some(state),
            ..Default::default()
        }
    }

    fn pod_with(containers: usize) -> (Pod, PodStatus) {
        let mut pod = Pod::default();
        pod.spec.containers = vec![Default::default(); containers];
        let status = PodStatus {
            phase: Some(PodPhase::Pending),
            container_statuses: vec![status("app", state(Some("PodInitializing"), None))],
            ..Default::default()
        };
        (pod, status)
    }

    fn reason(specs: &[(&str, bool)], statuses: &[ContainerStatus]) -> String {
        let (pod, status) = pod_with(1);
        ContainerSummary::of(&pod, &status, InitContainers { specs, statuses }).reason
    }

    const TWO: &[(&str, bool)] = &[("migrate", false), ("seed", false)];

    #[test]
    fn the_first_unfinished_init_container_names_the_status() {
        let done = status("migrate", state(None, Some((0, Some("Completed")))));
        let running = status("seed", ContainerState::default());
        assert_eq!(reason(TWO, &[done.clone(), running]), "Init:1/2");
        let pulling = status("seed", state(Some("ImagePullBackOff"), None));
        assert_eq!(
            reason(TWO, &[done.clone(), pulling]),
            "Init:ImagePullBackOff"
        );
        let starting = status("migrate", state(Some("PodInitializing"), None));
        assert_eq!(reason(TWO, &[starting]), "Init:0/2");
    }

    #[test]
    fn a_failed_init_container_shows_its_reason_or_exit() {
        let failed = status("migrate", state(None, Some((1, Some("Error")))));
        assert_eq!(reason(TWO, &[failed]), "Init:Error");
        let bare = status("migrate", state(None, Some((3, None))));
        assert_eq!(reason(TWO, &[bare]), "Init:ExitCode:3");
        let mut killed = state(None, Some((0, None)));
        let t = killed.terminated.as_mut().unwrap();
        t.exit_code = 137;
        t.signal = Some(9);
        assert_eq!(reason(TWO, &[status("migrate", killed)]), "Init:Signal:9");
    }

    #[test]
    fn started_sidecars_count_as_containers_and_do_not_hold_initialization() {
        let specs: &[(&str, bool)] = &[("proxy", true)];
        let mut proxy = status("proxy", ContainerState::default());
        proxy.started = Some(true);
        proxy.ready = true;
        proxy.restart_count = 2;
        let (mut pod, mut status) = pod_with(1);
        status.phase = Some(PodPhase::Running);
        status.container_statuses = vec![ContainerStatus {
            name: "app".into(),
            ready: true,
            restart_count: 1,
            state: Some(ContainerState {
                running: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        }];
        pod.status = Some(status.clone());
        let statuses = [proxy];
        let summary = ContainerSummary::of(
            &pod,
            &status,
            InitContainers {
                specs,
                statuses: &statuses,
            },
        );
        assert_eq!(
            (
                summary.ready,
                summary.total,
                summary.reason.as_str(),
                summary.restarts
            ),
            (2, 2, "Running", 3)
        );
    }

    #[test]
    fn an_initialized_pod_reads_its_containers_even_if_an_init_status_lags() {
        let lagging = status("migrate", state(Some("CrashLoopBackOff"), None));
        let (mut pod, mut status) = pod_with(1);
        status.container_statuses = vec![self::status("app", state(Some("ErrImagePull"), None))];
        status.conditions.push(PodCondition {
            type_: "Initialized".into(),
            status: ConditionStatus::True,
            ..Default::default()
        });
        pod.status = Some(status.clone());
        let statuses = [lagging];
        let summary = ContainerSummary::of(
            &pod,
            &status,
            InitContainers {
                specs: TWO,
                statuses: &statuses,
            },
        );
        assert_eq!(summary.reason, "ErrImagePull");
    }
}

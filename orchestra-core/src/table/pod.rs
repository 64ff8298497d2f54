//! The Pod table: Name, Ready, Status, Restarts, Age | IP, Node, Nominated Node,
//! Readiness Gates — with the Status reason kube-apiserver derives from the phase and
//! the containers' states.

use serde_json::Value;

use super::{Columns, ROW_COMPLETED, TableColumnDefinition, TableRowCondition, age, name_cell};
use crate::kinds::{ConditionStatus, POD_SCHEDULED, Pod, PodPhase, PodStatus};
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
        let summary = ContainerSummary::of(self, status);
        let restarts = match summary.last_restart {
            Some(at) if summary.restarts != 0 => {
                format!("{} ({} ago)", summary.restarts, age(Some(at), now))
            }
            _ => summary.restarts.to_string(),
        };
        let ip = status.pod_ip.as_deref().filter(|ip| !ip.is_empty());
        vec![
            name_cell(&self.metadata),
            Value::from(format!("{}/{}", summary.ready, self.spec.containers.len())),
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

/// What the Ready, Status and Restarts cells are made of.
struct ContainerSummary {
    ready: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Time>,
}

impl ContainerSummary {
    fn of(pod: &Pod, status: &PodStatus) -> ContainerSummary {
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

        let mut summary = ContainerSummary {
            ready: 0,
            reason: String::new(),
            restarts: 0,
            last_restart: None,
        };
        let mut has_running = false;
        // The first container with something to say wins, so walk from the last.
        for c in status.container_statuses.iter().rev() {
            summary.restarts += i64::from(c.restart_count);
            let finished = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.finished_at);
            if let Some(finished) = finished {
                if summary.last_restart.is_none_or(|last| last < finished) {
                    summary.last_restart = Some(finished);
                }
            }
            let state = c.state.as_ref();
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(waiting) = waiting {
                reason = waiting.to_owned();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_owned(),
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(signal) => format!("Signal:{signal}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
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

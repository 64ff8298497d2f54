//! A Deployment's status and conditions, computed from its ReplicaSets, so "rollout
//! finished" means exactly what `kubectl rollout status` checks.

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{
    ConditionStatus, Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet,
};
use orchestra_core::{ResourceExt, Time};

/// The `Progressing` reason once the new ReplicaSet is fully available.
pub const REASON_COMPLETE: &str = "NewReplicaSetAvailable";
/// The `Progressing` reason while the rollout moves.
pub const REASON_UPDATED: &str = "ReplicaSetUpdated";
/// The `Progressing` reason when the rollout made no progress for the deadline.
pub const REASON_DEADLINE: &str = "ProgressDeadlineExceeded";
/// The `Progressing` reason while paused.
pub const REASON_PAUSED: &str = "DeploymentPaused";

/// A computed status, and when to look again (for the progress deadline).
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// The status to report.
    pub status: DeploymentStatus,
    /// Reconcile again after this long even if nothing changes.
    pub check_again_in: Option<Duration>,
}

/// Whether the rollout of `d` is complete by `status`: every replica updated and
/// available, no old ones left, and the status is of the current generation.
pub fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.replicas();
    status.updated_replicas == replicas
        && status.replicas == replicas
        && status.available_replicas == replicas
        && status.observed_generation >= d.metadata.generation
}

/// The status of `d` from its ReplicaSets (`new` among them, if it exists).
pub fn compute(
    d: &Deployment,
    new: Option<&ReplicaSet>,
    rss: &[Arc<ReplicaSet>],
    max_unavailable: i32,
    now: Time,
) -> Computed {
    let sum = |f: &dyn Fn(&ReplicaSet) -> i32| rss.iter().map(|rs| f(rs)).sum::<i32>();
    let observed =
        |rs: &ReplicaSet, f: &dyn Fn(&orchestra_core::kinds::ReplicaSetStatus) -> i32| {
            rs.status.as_ref().map_or(0, f)
        };
    let replicas = sum(&|rs| observed(rs, &|s| s.replicas));
    let available = sum(&|rs| observed(rs, &|s| s.available_replicas.unwrap_or(0)));
    let previous = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas,
        updated_replicas: new.map_or(0, |n| observed(n, &|s| s.replicas)),
        ready_replicas: sum(&|rs| observed(rs, &|s| s.ready_replicas.unwrap_or(0))),
        available_replicas: available,
        unavailable_replicas: (sum(&|rs| rs.replicas()) - available).max(0),
        collision_count: previous.collision_count,
        conditions: previous.conditions.clone(),
    };
    let available_ok = available >= d.replicas() - max_unavailable;
    set_condition(
        &mut status.conditions,
        "Available",
        available_ok.into(),
        if available_ok {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        if available_ok {
            "Deployment has minimum availability."
        } else {
            "Deployment does not have minimum availability."
        },
        now,
        false,
    );
    let deadline =
        Duration::from_secs(d.spec.progress_deadline_seconds.unwrap_or(600).max(1) as u64);
    let mut check_again_in = None;
    let last = previous
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned();
    if d.spec.paused {
        set_condition(
            &mut status.conditions,
            "Progressing",
            ConditionStatus::Unknown,
            REASON_PAUSED,
            "Deployment is paused",
            now,
            false,
        );
    } else if is_complete(d, &status) {
        let rs_name = new.map(|n| n.name_any().to_owned()).unwrap_or_default();
        let message = format!("ReplicaSet {rs_name:?} has successfully progressed.");
        set_condition(
            &mut status.conditions,
            "Progressing",
            ConditionStatus::True,
            REASON_COMPLETE,
            &message,
            now,
            // Not touched again once complete (Kubernetes' SetDeploymentCondition):
            // a fresh timestamp on every reconcile would make each status write wake
            // the controller for another one, forever, in real time.
            false,
        );
    } else {
        let progressed = status.updated_replicas > previous.updated_replicas
            || status.available_replicas > previous.available_replicas
            || status.ready_replicas > previous.ready_replicas
            || status.observed_generation != previous.observed_generation
            || last
                .as_ref()
                .is_none_or(|c| c.reason.as_deref() == Some(REASON_COMPLETE));
        let since = last
            .as_ref()
            .and_then(|c| c.last_update_time)
            .unwrap_or(now);
        if progressed {
            let rs_name = new.map(|n| n.name_any().to_owned()).unwrap_or_default();
            let message = format!("ReplicaSet {rs_name:?} is progressing.");
            set_condition(
                &mut status.conditions,
                "Progressing",
                ConditionStatus::True,
                REASON_UPDATED,
                &message,
                now,
                true,
            );
            check_again_in = Some(deadline);
        } else if now.since(since) >= deadline {
            let rs_name = new.map(|n| n.name_any().to_owned()).unwrap_or_default();
            let message = format!("ReplicaSet {rs_name:?} has timed out progressing.");
            set_condition(
                &mut status.conditions,
                "Progressing",
                ConditionStatus::False,
                REASON_DEADLINE,
                &message,
                now,
                false,
            );
        } else {
            check_again_in = Some(deadline - now.since(since));
        }
    }
    Computed {
        status,
        check_again_in,
    }
}

/// Sets condition `type_`, moving `lastTransitionTime` only when the status changes and
/// `lastUpdateTime` when `touch` is set or anything changed.
fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: Time,
    touch: bool,
) {
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let changed = c.status != status || c.reason.as_deref() != Some(reason);
            if c.status != status {
                c.last_transition_time = Some(now);
            }
            if changed || touch {
                c.last_update_time = Some(now);
            }
            c.status = status;
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
        }
        None => conditions.push(DeploymentCondition {
            type_: type_.to_owned(),
            status,
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_update_time: Some(now),
            last_transition_time: Some(now),
        }),
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::ObjectMeta;
    use orchestra_core::kinds::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};

    use super::*;

    #[test]
    fn a_complete_rollout_reports_the_same_status_later() {
        let mut d = Deployment {
            metadata: ObjectMeta {
                generation: Some(1),
                ..ObjectMeta::named("web")
            },
            spec: DeploymentSpec {
                replicas: Some(3),
                ..Default::default()
            },
            status: None,
        };
        let rs = ReplicaSet {
            metadata: ObjectMeta::named("web-1"),
            spec: ReplicaSetSpec {
                replicas: Some(3),
                ..Default::default()
            },
            status: Some(ReplicaSetStatus {
                replicas: 3,
                ready_replicas: Some(3),
                available_replicas: Some(3),
                ..Default::default()
            }),
        };
        let rss = vec![Arc::new(rs.clone())];
        let t0: Time = "2026-01-01T00:00:00Z".parse().unwrap();
        let first = compute(&d, Some(&rs), &rss, 0, t0).status;
        assert!(is_complete(&d, &first));
        d.status = Some(first.clone());
        let later = compute(&d, Some(&rs), &rss, 0, t0.plus(Duration::from_secs(5))).status;
        assert_eq!(later, first, "nothing changed, so nothing to write");
    }
}

//! What a ReplicaSet should do about its pods, as a pure function of the ReplicaSet,
//! the pods that could be its own, and the time.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use orchestra_core::kinds::{Pod, PodPhase, ReplicaSet, ReplicaSetStatus};
use orchestra_core::{ResourceExt, StringMap, Time};

use super::owned::{ControlledPods, LabelGroup};
use crate::controllers::pod_helpers::{is_active, is_available};

/// The most pods created (or deleted) by one reconcile, as Kubernetes' `burstReplicas`.
pub const BURST_REPLICAS: usize = 500;

/// The changes one reconcile of a ReplicaSet should make.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Orphan pods matching the selector, to take ownership of.
    pub adopt: Vec<Arc<Pod>>,
    /// Owned pods whose labels no longer match, to let go of.
    pub release: Vec<Arc<Pod>>,
    /// How many pods to create from the template.
    pub create: usize,
    /// Which pods to delete, in deletion order.
    pub delete: Vec<Arc<Pod>>,
    /// The status to report.
    pub status: ReplicaSetStatus,
}

/// Decides what `rs` should do, given `candidates`: every pod in its namespace that is
/// owned by it or matches its selector (others are ignored). Pods to adopt count as
/// its own from now on; pods to release do not.
pub fn plan(rs: &ReplicaSet, candidates: &[Arc<Pod>], now: Time) -> Plan {
    let uid = rs.uid();
    let selector = &rs.spec.selector;
    let mut plan = Plan::default();
    let mut mine: Vec<Arc<Pod>> = Vec::new();
    for pod in candidates {
        let matches = !selector.is_empty() && selector.matches(&pod.metadata.labels);
        match pod.metadata.controller_ref() {
            Some(owner) if owner.uid == uid => {
                if matches {
                    mine.push(pod.clone());
                } else if pod.metadata.deletion_timestamp.is_none() {
                    plan.release.push(pod.clone());
                }
            }
            Some(_) => {}
            None if matches && is_active(pod) && rs.metadata.deletion_timestamp.is_none() => {
                plan.adopt.push(pod.clone());
                mine.push(pod.clone());
            }
            None => {}
        }
    }
    let active: Vec<Arc<Pod>> = mine.iter().filter(|p| is_active(p)).cloned().collect();
    let want = rs.replicas().max(0) as usize;
    if rs.metadata.deletion_timestamp.is_none() {
        match active.len().cmp(&want) {
            Ordering::Less => plan.create = (want - active.len()).min(BURST_REPLICAS),
            Ordering::Greater => {
                let surplus = (active.len() - want).min(BURST_REPLICAS);
                plan.delete = deletion_order(&active, candidates, now)
                    .into_iter()
                    .take(surplus)
                    .collect();
            }
            Ordering::Equal => {}
        }
    }
    plan.status = status(rs, &active, now);
    plan
}

/// The plan [`plan`] would make, worked out from the counts the pod cache keeps of the
/// ReplicaSet's own pods (`owned`, its [`ControlledPods`]) and from the orphan pods of
/// its namespace (those without a controller) — without visiting its pods. `None` when
/// the plan depends on individual pods: some to delete (their order does), to adopt or
/// to release; a ReplicaSet being deleted; or `minReadySeconds` (availability then
/// depends on each pod's ready time). The controller then calls [`plan`].
pub fn plan_from_counts(
    rs: &ReplicaSet,
    owned: Option<&ControlledPods>,
    orphans: &[Arc<Pod>],
) -> Option<Plan> {
    let selector = &rs.spec.selector;
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    if rs.metadata.deletion_timestamp.is_some() || min_ready > 0 || selector.is_empty() {
        return None;
    }
    if orphans
        .iter()
        .any(|p| is_active(p) && selector.matches(&p.metadata.labels))
    {
        return None;
    }
    let groups = owned.map_or(&[][..], |o| o.groups.as_slice());
    if groups.iter().any(|g| !selector.matches(&g.labels)) {
        return None;
    }
    let active = groups.iter().map(|g| g.active).sum::<u32>() as usize;
    let want = rs.replicas().max(0) as usize;
    if active > want {
        return None;
    }
    let labeled: u32 = groups
        .iter()
        .filter(|g| fully_labeled(rs, &g.labels))
        .map(|g| g.active)
        .sum();
    let sum = |count: fn(&LabelGroup) -> u32| groups.iter().map(count).sum::<u32>() as i32;
    Some(Plan {
        create: (want - active).min(BURST_REPLICAS),
        status: status_with(
            rs,
            active as i32,
            labeled as i32,
            sum(|g| g.ready),
            sum(|g| g.ready_since_known),
        ),
        ..Plan::default()
    })
}

/// The status of `rs` with `active` pods. One pass over the pods: a ReplicaSet may have
/// a hundred thousand, and each visit is a cache miss.
fn status(rs: &ReplicaSet, active: &[Arc<Pod>], now: Time) -> ReplicaSetStatus {
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let (mut labeled, mut ready, mut available) = (0, 0, 0);
    for p in active {
        labeled += i32::from(fully_labeled(rs, &p.metadata.labels));
        if p.is_ready() {
            ready += 1;
            available += i32::from(is_available(p, min_ready, now));
        }
    }
    status_with(rs, active.len() as i32, labeled, ready, available)
}

/// Whether `labels` carry every label of `rs`'s pod template.
fn fully_labeled(rs: &ReplicaSet, labels: &StringMap) -> bool {
    rs.spec
        .template
        .metadata
        .as_ref()
        .is_none_or(|template| template.labels.is_subset_of(labels))
}

/// The status of `rs` with these counts; its conditions are kept.
fn status_with(
    rs: &ReplicaSet,
    replicas: i32,
    fully_labeled: i32,
    ready: i32,
    available: i32,
) -> ReplicaSetStatus {
    ReplicaSetStatus {
        replicas,
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions: rs
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
    }
}

/// `pods` ordered as Kubernetes deletes surplus replicas: unscheduled before
/// scheduled; pending before unknown before running; not ready before ready; more
/// replicas on the same node before fewer; ready for a shorter time before longer;
/// more restarts before fewer; newer before older.
pub fn deletion_order(pods: &[Arc<Pod>], related: &[Arc<Pod>], now: Time) -> Vec<Arc<Pod>> {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_active(p)) {
        if let Some(node) = p.node_name() {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let phase_rank = |p: &Pod| match p.phase() {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        _ => 2,
    };
    let mut ordered = pods.to_vec();
    ordered.sort_by(|a, b| {
        let co_located = |p: &Pod| {
            p.node_name()
                .map_or(0, |n| per_node.get(n).copied().unwrap_or(0))
        };
        a.node_name()
            .is_some()
            .cmp(&b.node_name().is_some())
            .then(phase_rank(a).cmp(&phase_rank(b)))
            .then(a.is_ready().cmp(&b.is_ready()))
            .then(co_located(b).cmp(&co_located(a)))
            .then_with(|| match (a.ready_since(), b.ready_since()) {
                (Some(x), Some(y)) => now.since(x).cmp(&now.since(y)),
                _ => Ordering::Equal,
            })
            .then(b.restart_count().cmp(&a.restart_count()))
            .then(
                b.metadata
                    .creation_timestamp
                    .cmp(&a.metadata.creation_timestamp),
            )
    });
    ordered
}

/// Pod creation batch sizes for `total` pods: 1, 2, 4, … (Kubernetes' slow start), so a
/// template that cannot start fails after one pod, not after a thousand.
pub fn slow_start_batches(total: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut done, mut size) = (0, 1);
    while done < total {
        let batch = size.min(total - done);
        batches.push(batch);
        done += batch;
        size *= 2;
    }
    batches
}

#[cfg(test)]
mod tests;

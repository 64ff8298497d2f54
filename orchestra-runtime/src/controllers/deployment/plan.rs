//! What a Deployment should do about its ReplicaSets this round, as a pure function of
//! the Deployment, its ReplicaSets (with the pod counts their status reports) and the
//! time. [`super::DeploymentController`] carries the [`Step`]s out in order and writes
//! the status; nothing here reads a cache, a store or a clock.
//!
//! The rules, as Kubernetes applies them:
//!
//! - The ReplicaSet whose template, less its hash label, is the Deployment's is the new
//!   one (the oldest, if several are). One that is not the newest revision — a rollback
//!   brought its template back — first becomes revision max + 1, and nothing else
//!   happens that round.
//! - Paused, or scaled while several ReplicaSets are active: the active ones are
//!   resized in proportion, together replicas + maxSurge, and the rollout stands still.
//! - RollingUpdate: the new ReplicaSet grows while all pods stay within replicas +
//!   maxSurge; when it cannot, the old ones shrink while at least replicas −
//!   maxUnavailable pods stay available.
//! - Recreate: every old ReplicaSet goes to zero, and the new one grows once their pods
//!   are gone.
//! - Old ReplicaSets without pods, beyond revisionHistoryLimit, are deleted, oldest
//!   revision first.
//! - The Deployment's revision annotation follows its new ReplicaSet's, and its change
//!   cause is copied onto that ReplicaSet.
//! - The status (counters and conditions) is the one [`status::compute`] gives.

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{
    Deployment, DeploymentStatus, DeploymentStrategyType, IntOrString, ReplicaSet, ReplicaSetSpec,
};
use orchestra_core::{ObjectMeta, ResourceExt, StringMap, Time};

use super::DeploymentError;
use super::revision::{
    CHANGE_CAUSE_ANNOTATION, DESIRED_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH, REVISION_ANNOTATION,
    find_new, history_to_delete, revision, template_hash, without_hash,
};
use super::rolling::{RsCounts, fenceposts, new_rs_target, old_rs_targets, proportional};
use super::status;

/// The changes one reconcile of a Deployment should make.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentPlan {
    /// The writes to make, in this order. If [`Step::Create`] meets a ReplicaSet of
    /// another template under its name (a hash collision), the rest is skipped: the
    /// collision is counted in the status instead, and the next plan hashes differently.
    pub steps: Vec<Step>,
    /// The status to write after the steps; `None` when the stored one is current.
    pub status: Option<DeploymentStatus>,
    /// Plan again after this long even if nothing changes (to notice the progress
    /// deadline passing); `None` waits for a change.
    pub check_again_in: Option<Duration>,
}

/// One write of a [`DeploymentPlan`].
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create this ReplicaSet for the Deployment's current template: named after the
    /// template hash, which labels it, its selector and its pods (`pod-template-hash`);
    /// annotated with its revision, the Deployment size and the change cause;
    /// controlled by the Deployment.
    Create(Box<ReplicaSet>),
    /// Set `spec.replicas` of the ReplicaSet `name`, recording the Deployment size it
    /// was sized for (`desired`) in [`DESIRED_REPLICAS_ANNOTATION`].
    Scale {
        /// The ReplicaSet.
        name: String,
        /// Its new `spec.replicas`.
        replicas: i32,
        /// The Deployment's `replicas` at the time.
        desired: i32,
    },
    /// Set these annotations on the ReplicaSet `name` (its revision, the change cause),
    /// keeping the others.
    AnnotateReplicaSet {
        /// The ReplicaSet.
        name: String,
        /// The annotations to set.
        annotations: StringMap,
    },
    /// Set these annotations on the Deployment (its revision), keeping the others.
    AnnotateDeployment {
        /// The annotations to set.
        annotations: StringMap,
    },
    /// Delete the old ReplicaSet `name`: it has no pods and is beyond
    /// `revisionHistoryLimit`.
    Delete {
        /// The ReplicaSet.
        name: String,
    },
}

/// Decides what `d` should do this round, given `replicasets`: those its controller
/// reference could name (the ReplicaSet cache's `owned_by(uid)`; any it does not
/// control are ignored), with their status as last reported. `now` dates condition
/// changes and measures the progress deadline.
///
/// Fails only with [`DeploymentError::BadStrategy`], for a maxSurge or maxUnavailable
/// that is no number or percentage.
pub fn plan(
    d: &Deployment,
    replicasets: &[Arc<ReplicaSet>],
    now: Time,
) -> Result<DeploymentPlan, DeploymentError> {
    let mut plan = DeploymentPlan::default();
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(plan);
    }
    let (surge, unavailable) = bounds(d).map_err(|message| DeploymentError::BadStrategy {
        name: d.object_key(),
        message,
    })?;
    let rss = controlled(d, replicasets);
    let new = find_new(&without_hash(&d.spec.template), &rss).cloned();
    let old: Vec<Arc<ReplicaSet>> = rss
        .iter()
        .filter(|rs| new.as_ref().is_none_or(|n| !Arc::ptr_eq(n, rs)))
        .cloned()
        .collect();
    let max_revision = rss.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let replicas = d.replicas();

    if let Some(n) = &new {
        let current = revision(n);
        if current < max_revision || current == 0 {
            // A rollback made an old ReplicaSet current again: it becomes the newest
            // revision before anything is scaled.
            let next = max_revision + 1;
            let mut annotations = StringMap::from([(REVISION_ANNOTATION, next.to_string())]);
            annotations.extend(change_cause(d).map(|c| (CHANGE_CAUSE_ANNOTATION, c.clone())));
            plan.steps.push(Step::AnnotateReplicaSet {
                name: n.name_any().to_owned(),
                annotations,
            });
            plan.steps.extend(record_revision(d, next));
            return Ok(plan);
        }
        if let Some(cause) = change_cause(d)
            && n.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION) != Some(cause)
        {
            plan.steps.push(Step::AnnotateReplicaSet {
                name: n.name_any().to_owned(),
                annotations: StringMap::from([(CHANGE_CAUSE_ANNOTATION, cause.clone())]),
            });
        }
        plan.steps.extend(record_revision(d, current));
    }

    let active: Vec<&Arc<ReplicaSet>> = rss.iter().filter(|rs| rs.replicas() > 0).collect();
    let scaled = active.iter().any(|rs| {
        rs.metadata
            .annotations
            .get(DESIRED_REPLICAS_ANNOTATION)
            .is_some_and(|a| *a != replicas.to_string())
    });
    if d.spec.paused || (scaled && active.len() > 1) {
        // Scaling (or a paused deployment): resize the active ReplicaSets in proportion,
        // within replicas + surge, without moving the rollout.
        if active.len() > 1 {
            // As Kubernetes: the active ReplicaSets together get replicas + surge.
            let sizes: Vec<i32> = active.iter().map(|rs| rs.replicas()).collect();
            for (rs, size) in active.iter().zip(proportional(replicas + surge, &sizes)) {
                plan.scale(rs, size, replicas);
            }
        } else if let Some(only) = active.first().copied().or(new.as_ref()) {
            plan.scale(only, replicas, replicas);
        }
    } else {
        match (&new, d.strategy_type()) {
            (None, strategy) => {
                let old_pods: Vec<RsCounts> = old.iter().map(|rs| pod_counts(rs)).collect();
                let initial = match strategy {
                    DeploymentStrategyType::Recreate if old_pods.iter().any(|c| c.replicas > 0) => {
                        0
                    }
                    DeploymentStrategyType::Recreate => replicas,
                    DeploymentStrategyType::RollingUpdate => {
                        let none = RsCounts {
                            replicas: 0,
                            available: 0,
                        };
                        new_rs_target(replicas, surge, &none, &old_pods)
                    }
                };
                let revision = max_revision + 1;
                plan.steps
                    .push(Step::Create(Box::new(new_replicaset(d, initial, revision))));
                plan.steps.extend(record_revision(d, revision));
            }
            (Some(n), DeploymentStrategyType::Recreate) => {
                let old_running = old.iter().any(|rs| {
                    rs.replicas() > 0 || rs.status.as_ref().is_some_and(|s| s.replicas > 0)
                });
                if old_running {
                    for rs in &old {
                        plan.scale(rs, 0, replicas);
                    }
                } else {
                    plan.scale(n, replicas, replicas);
                }
            }
            (Some(n), DeploymentStrategyType::RollingUpdate) => {
                let old_pods: Vec<RsCounts> = old.iter().map(|rs| pod_counts(rs)).collect();
                let target = new_rs_target(replicas, surge, &counts(n), &old_pods);
                if target != n.replicas() {
                    plan.scale(n, target, replicas);
                } else {
                    // The new ReplicaSet is as large as the surge lets it be: make room.
                    let old_counts: Vec<RsCounts> = old.iter().map(|rs| counts(rs)).collect();
                    let targets = old_rs_targets(replicas, unavailable, &counts(n), &old_counts);
                    for (rs, t) in old.iter().zip(targets) {
                        if t != rs.replicas() {
                            plan.scale(rs, t, replicas);
                        }
                    }
                    plan.scale(n, target, replicas);
                }
            }
        }
    }

    let limit = d.spec.revision_history_limit.unwrap_or(10);
    for rs in history_to_delete(&old, limit) {
        plan.steps.push(Step::Delete {
            name: rs.name_any().to_owned(),
        });
    }

    let computed = status::compute(d, new.as_deref(), &rss, unavailable, now);
    if d.status.as_ref() != Some(&computed.status) {
        plan.status = Some(computed.status);
    }
    plan.check_again_in = computed.check_again_in;
    Ok(plan)
}

impl DeploymentPlan {
    /// Adds a [`Step::Scale`] of `rs` to `replicas`, unless it is that size already and
    /// was sized for `desired`.
    fn scale(&mut self, rs: &ReplicaSet, replicas: i32, desired: i32) {
        let unchanged = rs.replicas() == replicas
            && rs.metadata.annotations.get(DESIRED_REPLICAS_ANNOTATION)
                == Some(&desired.to_string());
        if !unchanged {
            self.steps.push(Step::Scale {
                name: rs.name_any().to_owned(),
                replicas,
                desired,
            });
        }
    }
}

/// Whether `existing`, found under the name of the ReplicaSet `wanted` that `d`'s plan
/// creates, is `d`'s own: created by an earlier round whose write the cache has not
/// shown yet (as Kubernetes checks, by controller and template). Anything else under
/// that name is a hash collision.
pub fn is_own_replicaset(d: &Deployment, existing: &ReplicaSet, wanted: &ReplicaSet) -> bool {
    existing
        .metadata
        .controller_ref()
        .is_some_and(|r| r.uid == d.uid())
        && without_hash(&existing.spec.template) == without_hash(&wanted.spec.template)
}

/// How many pods `d`'s rollout may add above its replicas and take away below them:
/// maxSurge and maxUnavailable (25% each by default); Recreate takes every pod away
/// and adds none.
fn bounds(d: &Deployment) -> Result<(i32, i32), String> {
    let replicas = d.replicas();
    match d.strategy_type() {
        DeploymentStrategyType::Recreate => Ok((0, replicas)),
        DeploymentStrategyType::RollingUpdate => {
            let rolling = d
                .spec
                .strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref());
            let default = IntOrString::from("25%");
            let surge = rolling.and_then(|r| r.max_surge.as_ref());
            let unavailable = rolling.and_then(|r| r.max_unavailable.as_ref());
            fenceposts(
                replicas,
                surge.unwrap_or(&default),
                unavailable.unwrap_or(&default),
            )
        }
    }
}

/// The ReplicaSets among `replicasets` that `d` controls, oldest first.
fn controlled(d: &Deployment, replicasets: &[Arc<ReplicaSet>]) -> Vec<Arc<ReplicaSet>> {
    let mut rss: Vec<Arc<ReplicaSet>> = replicasets
        .iter()
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == d.uid())
        })
        .cloned()
        .collect();
    rss.sort_by_key(|rs| (rs.metadata.creation_timestamp, rs.name_any().to_owned()));
    rss
}

fn change_cause(d: &Deployment) -> Option<&String> {
    d.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION)
}

/// The step recording `revision` on the Deployment, unless it already says so.
fn record_revision(d: &Deployment, revision: u64) -> Option<Step> {
    let value = revision.to_string();
    (d.metadata.annotations.get(REVISION_ANNOTATION) != Some(&value)).then(|| {
        Step::AnnotateDeployment {
            annotations: StringMap::from([(REVISION_ANNOTATION, value)]),
        }
    })
}

/// The ReplicaSet of `d`'s current template, at `replicas` and `revision`.
fn new_replicaset(d: &Deployment, replicas: i32, revision: u64) -> ReplicaSet {
    let collisions = d
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let hash = template_hash(&d.spec.template, collisions);
    let mut template = d.spec.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut selector = d.spec.selector.clone();
    selector
        .match_labels
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut meta = ObjectMeta::namespaced(
        d.namespace().unwrap_or("default"),
        format!("{}-{hash}", d.name_any()),
    );
    meta.labels = template
        .metadata
        .as_ref()
        .map(|m| m.labels.clone())
        .unwrap_or_default();
    meta.annotations
        .insert(REVISION_ANNOTATION.into(), revision.to_string());
    meta.annotations
        .insert(DESIRED_REPLICAS_ANNOTATION.into(), d.replicas().to_string());
    if let Some(cause) = change_cause(d) {
        meta.annotations
            .insert(CHANGE_CAUSE_ANNOTATION.into(), cause.clone());
    }
    meta.owner_references.push(d.owner_reference(true));
    ReplicaSet {
        metadata: meta,
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector,
            template,
        },
        status: None,
    }
}

/// A ReplicaSet as the rollout arithmetic sees it: what it asks for and what is
/// available.
fn counts(rs: &ReplicaSet) -> RsCounts {
    RsCounts {
        replicas: rs.replicas(),
        available: rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
    }
}

/// As [`counts`], but an old ReplicaSet that still has more pods than it asks for
/// (just scaled down, its surplus not deleted yet) counts its pods: the surge bounds
/// the pods that exist, and growing the new ReplicaSet into room the old one has not
/// freed yet would briefly exceed it.
fn pod_counts(rs: &ReplicaSet) -> RsCounts {
    let mut c = counts(rs);
    c.replicas = c.replicas.max(rs.status.as_ref().map_or(0, |s| s.replicas));
    c
}

#[cfg(test)]
mod tests;

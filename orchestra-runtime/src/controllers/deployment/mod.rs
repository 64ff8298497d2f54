//! The Deployment controller: rolls a Deployment's pods from one template to the next
//! through ReplicaSets, one per template revision.
//!
//! The arithmetic is pure ([`rolling`], [`revision`], [`status`]); this module reads the
//! ReplicaSet cache and scales ReplicaSets through the typed API. The ReplicaSet
//! controller then makes the pods follow.

pub mod revision;
pub mod rolling;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_core::kinds::{
    Deployment, DeploymentStrategyType, IntOrString, ReplicaSet, ReplicaSetSpec,
};
use orchestra_core::{Api, ApiError, Client, DeleteParams, ObjectMeta, ResourceExt};

use crate::reconcile::{Action, Cache, Context, Controller, Informers, Watches};
use revision::{
    POD_TEMPLATE_HASH, REVISION_ANNOTATION, find_new, history_to_delete, template_hash,
    without_hash,
};
use rolling::{RsCounts, fenceposts, new_rs_target, old_rs_targets, proportional};

/// The annotation recording the Deployment size a ReplicaSet was last scaled for; a
/// mismatch means the Deployment was scaled, not updated.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";

/// Errors of the Deployment controller and of [`rollback`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// A read or write failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The Deployment's strategy cannot be computed (a bad maxSurge or maxUnavailable).
    #[error("deployment {name}: {message}")]
    BadStrategy {
        /// The Deployment.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A rollback was asked of a paused Deployment.
    #[error("deployment {0} is paused: resume it before rolling back")]
    Paused(String),
    /// A rollback named a revision that does not exist.
    #[error("deployment {name} has no revision {revision}")]
    NoSuchRevision {
        /// The Deployment.
        name: String,
        /// The revision asked for (0: "the previous one").
        revision: u64,
    },
}

/// The Deployment controller. Build it from a manager's informers and add it to the
/// manager, next to the ReplicaSet controller.
pub struct DeploymentController {
    client: Client,
    replicasets: Cache<ReplicaSet>,
}

impl DeploymentController {
    /// A controller reading the ReplicaSet cache of `informers`.
    pub fn new(client: Client, informers: &Informers) -> Self {
        DeploymentController {
            client,
            replicasets: informers.cache::<ReplicaSet>(),
        }
    }

    /// The ReplicaSets `d` controls, oldest first.
    fn owned(&self, d: &Deployment) -> Vec<Arc<ReplicaSet>> {
        let mut rss: Vec<Arc<ReplicaSet>> = self
            .replicasets
            .owned_by(d.uid())
            .into_iter()
            .filter(|rs| {
                rs.metadata
                    .controller_ref()
                    .is_some_and(|r| r.uid == d.uid())
            })
            .collect();
        rss.sort_by_key(|rs| (rs.metadata.creation_timestamp, rs.name_any().to_owned()));
        rss
    }

    async fn scale(
        &self,
        api: &Api<ReplicaSet>,
        rs: &ReplicaSet,
        replicas: i32,
        desired: i32,
    ) -> Result<(), ApiError> {
        let unchanged = rs.replicas() == replicas
            && rs.metadata.annotations.get(DESIRED_REPLICAS_ANNOTATION)
                == Some(&desired.to_string());
        if unchanged {
            return Ok(());
        }
        api.update_with(rs.name_any(), |r| {
            r.spec.replicas = Some(replicas);
            r.metadata
                .annotations
                .insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
        })
        .await
        .map(|_| ())
    }

    /// Creates the ReplicaSet for the Deployment's current template. Returns whether
    /// its name was taken by another template (a hash collision, now counted in the
    /// Deployment's status, so the next sync hashes differently).
    async fn create_new(
        &self,
        d: &Deployment,
        api: &Api<ReplicaSet>,
        replicas: i32,
        revision: u64,
    ) -> Result<bool, DeploymentError> {
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
        meta.owner_references.push(d.owner_reference(true));
        let rs = ReplicaSet {
            metadata: meta,
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: d.spec.min_ready_seconds,
                selector,
                template,
            },
            status: None,
        };
        match api.create(&rs).await {
            Ok(_) => Ok(false),
            Err(e) if e.is_already_exists() => {
                // Our own ReplicaSet, created by an earlier sync the cache has not shown
                // yet, is no collision (as Kubernetes checks, by owner and template).
                let existing = api.get(rs.name_any()).await?;
                let ours = existing
                    .metadata
                    .controller_ref()
                    .is_some_and(|r| r.uid == d.uid());
                if ours && without_hash(&existing.spec.template) == without_hash(&rs.spec.template)
                {
                    return Ok(false);
                }
                // Another template hashed to the same name: count the collision so the
                // next attempt hashes differently.
                let deployments: Api<Deployment> =
                    Api::namespaced(self.client.clone(), d.namespace().unwrap_or("default"));
                deployments
                    .update_status_with(d.name_any(), |x| {
                        let status = x.status.get_or_insert_with(Default::default);
                        status.collision_count = Some(collisions + 1);
                    })
                    .await?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }
}

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

#[async_trait]
impl Controller for DeploymentController {
    type Object = Deployment;
    type Error = DeploymentError;

    fn name(&self) -> &str {
        "deployment"
    }

    async fn reconcile(
        &self,
        d: Arc<Deployment>,
        _ctx: &Context<Deployment>,
    ) -> Result<Action, DeploymentError> {
        if d.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let namespace = d.namespace().unwrap_or("default").to_owned();
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &namespace);
        let rss = self.owned(&d);
        let template = without_hash(&d.spec.template);
        let new = find_new(&template, &rss).cloned();
        let old: Vec<Arc<ReplicaSet>> = rss
            .iter()
            .filter(|rs| new.as_ref().is_none_or(|n| n.uid() != rs.uid()))
            .cloned()
            .collect();
        let max_revision = rss
            .iter()
            .map(|rs| revision::revision(rs))
            .max()
            .unwrap_or(0);
        let replicas = d.replicas();
        let strategy = d.spec.strategy.clone().unwrap_or_default();
        let rolling = strategy.rolling_update.clone().unwrap_or_default();
        let (surge, unavailable) = match d.strategy_type() {
            DeploymentStrategyType::Recreate => (0, replicas),
            DeploymentStrategyType::RollingUpdate => fenceposts(
                replicas,
                rolling
                    .max_surge
                    .as_ref()
                    .unwrap_or(&IntOrString::from("25%")),
                rolling
                    .max_unavailable
                    .as_ref()
                    .unwrap_or(&IntOrString::from("25%")),
            )
            .map_err(|message| DeploymentError::BadStrategy {
                name: d.object_key(),
                message,
            })?,
        };

        // A rollback made an old ReplicaSet current again: it becomes the newest revision.
        if let Some(n) = &new {
            if revision::revision(n) < max_revision || revision::revision(n) == 0 {
                let next = (max_revision + 1).to_string();
                api.update_with(n.name_any(), |r| {
                    r.metadata
                        .annotations
                        .insert(REVISION_ANNOTATION.into(), next.clone());
                })
                .await?;
                return Ok(Action::await_change());
            }
        }

        let active: Vec<&Arc<ReplicaSet>> = rss.iter().filter(|rs| rs.replicas() > 0).collect();
        let scaled = active.iter().any(|rs| {
            rs.metadata
                .annotations
                .get(DESIRED_REPLICAS_ANNOTATION)
                .is_some_and(|a| *a != replicas.to_string())
        });
        if d.spec.paused || (scaled && active.len() > 1) {
            // Scaling (or a paused deployment): resize the active ReplicaSets in
            // proportion, within replicas + surge, without moving the rollout.
            if active.len() > 1 {
                // As Kubernetes: the active ReplicaSets together get replicas + surge.
                let allowed = replicas + surge;
                let sizes: Vec<i32> = active.iter().map(|rs| rs.replicas()).collect();
                for (rs, size) in active.iter().zip(proportional(allowed, &sizes)) {
                    self.scale(&api, rs, size, replicas).await?;
                }
            } else if let Some(only) = active.first().copied().or(new.as_ref()) {
                self.scale(&api, only, replicas, replicas).await?;
            }
        } else {
            match (&new, d.strategy_type()) {
                (None, strategy) => {
                    let old_counts: Vec<RsCounts> = old.iter().map(|rs| pod_counts(rs)).collect();
                    let initial = match strategy {
                        DeploymentStrategyType::Recreate
                            if old_counts.iter().any(|c| c.replicas > 0) =>
                        {
                            0
                        }
                        DeploymentStrategyType::Recreate => replicas,
                        DeploymentStrategyType::RollingUpdate => new_rs_target(
                            replicas,
                            surge,
                            &RsCounts {
                                replicas: 0,
                                available: 0,
                            },
                            &old_counts,
                        ),
                    };
                    if self.create_new(&d, &api, initial, max_revision + 1).await? {
                        // The status below, computed from `d`, would undo the count;
                        // the count's own write wakes this Deployment again.
                        return Ok(Action::await_change());
                    }
                }
                (Some(n), DeploymentStrategyType::Recreate) => {
                    let old_running = old.iter().any(|rs| {
                        rs.replicas() > 0 || rs.status.as_ref().is_some_and(|s| s.replicas > 0)
                    });
                    if old_running {
                        for rs in &old {
                            self.scale(&api, rs, 0, replicas).await?;
                        }
                    } else {
                        self.scale(&api, n, replicas, replicas).await?;
                    }
                }
                (Some(n), DeploymentStrategyType::RollingUpdate) => {
                    let old_counts: Vec<RsCounts> = old.iter().map(|rs| counts(rs)).collect();
                    let old_pods: Vec<RsCounts> = old.iter().map(|rs| pod_counts(rs)).collect();
                    let target = new_rs_target(replicas, surge, &counts(n), &old_pods);
                    if target != n.replicas() {
                        self.scale(&api, n, target, replicas).await?;
                    } else {
                        let targets =
                            old_rs_targets(replicas, unavailable, &counts(n), &old_counts);
                        for (rs, t) in old.iter().zip(targets) {
                            if t != rs.replicas() {
                                self.scale(&api, rs, t, replicas).await?;
                            }
                        }
                        self.scale(&api, n, target, replicas).await?;
                    }
                }
            }
        }

        for rs in history_to_delete(&old, d.spec.revision_history_limit.unwrap_or(10)) {
            match api.delete(rs.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }

        let now = self.client.clock().now();
        let computed = status::compute(&d, new.as_deref(), &rss, unavailable, now);
        if d.status.as_ref() != Some(&computed.status) {
            let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &namespace);
            let next = computed.status.clone();
            match deployments
                .update_status_with(d.name_any(), |x| x.status = Some(next.clone()))
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(match computed.check_again_in {
            Some(after) => Action::requeue(after.max(Duration::from_millis(100))),
            None => Action::await_change(),
        })
    }

    fn watches(&self) -> Watches<Deployment> {
        Watches::new().owns::<ReplicaSet>()
    }
}

/// Rolls the Deployment `name` back to the template of `to_revision` (default: the
/// revision before the current one), as a new revision. Refuses a paused Deployment
/// and a revision that does not exist.
///
/// The controller writes the Deployment's status all through a rollout, so the
/// guarded write here can lose a race; it then starts over from a fresh read, after
/// a pause (up to 16 attempts in about 2 s).
pub async fn rollback(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: Option<u64>,
) -> Result<Deployment, DeploymentError> {
    const ATTEMPTS: u32 = 16;
    let mut attempt = 1;
    loop {
        match rollback_once(client, namespace, name, to_revision).await {
            Err(DeploymentError::Api(e)) if e.is_conflict() && attempt < ATTEMPTS => {
                // A short, growing pause lets a burst of status writes pass.
                let pause = Duration::from_millis(5 << attempt.min(5));
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn rollback_once(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: Option<u64>,
) -> Result<Deployment, DeploymentError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let d = deployments.get(name).await?;
    if d.spec.paused {
        return Err(DeploymentError::Paused(d.object_key()));
    }
    let owned: Vec<Arc<ReplicaSet>> = replicasets
        .list(&orchestra_core::ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .controller_ref()
                .is_some_and(|r| r.uid == d.uid())
        })
        .map(Arc::new)
        .collect();
    let template = without_hash(&d.spec.template);
    let current = find_new(&template, &owned)
        .map(|rs| revision::revision(rs))
        .unwrap_or(0);
    let target = revision::rollback_target(&owned, current, to_revision).ok_or(
        DeploymentError::NoSuchRevision {
            name: d.object_key(),
            revision: to_revision.unwrap_or(0),
        },
    )?;
    let restored = without_hash(&target.spec.template);
    let mut updated = d.clone();
    updated.spec.template = restored;
    Ok(deployments.update(&updated).await?)
}

//! The Deployment controller: rolls a Deployment's pods from one template to the next
//! through ReplicaSets, one per template revision.
//!
//! The decision is [`plan::plan`], a pure function of the Deployment, its ReplicaSets and
//! the time, built on the arithmetic of [`rolling`], [`revision`] and [`status`]. This
//! module reads the ReplicaSet cache, carries the plan's steps out through the typed API
//! and writes the status; the ReplicaSet controller then makes the pods follow.
//! [`DeploymentExt::rollback`] is `kubectl rollout undo`.

pub mod plan;
pub mod revision;
mod rollback;
pub mod rolling;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra_core::kinds::{Deployment, DeploymentStatus, ReplicaSet};
use orchestra_core::{Api, ApiError, Client, DeleteParams, ResourceExt};

use crate::reconcile::{Action, Cache, Context, Controller, Informers, Watches};
use plan::Step;

pub use revision::DESIRED_REPLICAS_ANNOTATION;
pub use rollback::{DeploymentExt, RollbackOutcome, rollback};

/// Errors of the Deployment controller and of [`DeploymentExt::rollback`].
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
        /// The revision asked for.
        revision: u64,
    },
    /// A rollback to the previous revision, of a Deployment that has none: no
    /// ReplicaSet of it has a revision below the current one.
    #[error("deployment {0} has no previous revision to roll back to")]
    NoPreviousRevision(String),
}

impl DeploymentError {
    /// Whether this says something does not exist: the Deployment (an API NotFound) or
    /// the revision a rollback asked for.
    pub fn is_not_found(&self) -> bool {
        match self {
            DeploymentError::Api(e) => e.is_not_found(),
            DeploymentError::NoSuchRevision { .. } | DeploymentError::NoPreviousRevision(_) => true,
            _ => false,
        }
    }
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

    /// Carries out [`Step::Create`]. Returns `false` when the name was taken by another
    /// template (a hash collision, now counted in the Deployment's status, so the next
    /// plan hashes differently).
    async fn create(
        &self,
        d: &Deployment,
        replicasets: &Api<ReplicaSet>,
        deployments: &Api<Deployment>,
        rs: &ReplicaSet,
    ) -> Result<bool, DeploymentError> {
        match replicasets.create(rs).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_already_exists() => {
                let existing = replicasets.get(rs.name_any()).await?;
                if plan::is_own_replicaset(d, &existing, rs) {
                    return Ok(true);
                }
                let collisions = d
                    .status
                    .as_ref()
                    .and_then(|s| s.collision_count)
                    .unwrap_or(0);
                write_status(deployments, d.name_any(), |status| {
                    status.collision_count = Some(collisions + 1);
                })
                .await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How many times a status write starts over from a fresh read when another writer got
/// in between (as many as `Api::update_with` makes).
const STATUS_ATTEMPTS: usize = 16;

/// Changes the stored status of the Deployment `name` with `change`, starting over from
/// a fresh read if another writer gets in between. A Deployment that is gone needs no
/// status.
async fn write_status(
    deployments: &Api<Deployment>,
    name: &str,
    mut change: impl FnMut(&mut DeploymentStatus),
) -> Result<(), ApiError> {
    let mut attempt = 1;
    loop {
        let mut d = match deployments.get(name).await {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        change(d.status.get_or_insert_with(Default::default));
        match deployments.update_status(&d).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_conflict() && attempt < STATUS_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
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
        let owned = self.replicasets.owned_by(d.uid());
        let decision = plan::plan(&d, &owned, self.client.clock().now())?;
        let namespace = d.namespace().unwrap_or("default");
        let replicasets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), namespace);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        for step in &decision.steps {
            match step {
                Step::Create(rs) => {
                    if !self.create(&d, &replicasets, &deployments, rs).await? {
                        // The planned status, computed from `d`, would undo the count;
                        // the count's own write wakes this Deployment again.
                        return Ok(Action::await_change());
                    }
                }
                Step::Scale {
                    name,
                    replicas,
                    desired,
                } => {
                    replicasets
                        .update_with(name, |rs| {
                            rs.spec.replicas = Some(*replicas);
                            rs.metadata
                                .annotations
                                .insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.to_string());
                        })
                        .await?;
                }
                Step::AnnotateReplicaSet { name, annotations } => {
                    replicasets
                        .update_with(name, |rs| {
                            rs.metadata.annotations.extend(annotations.clone());
                        })
                        .await?;
                }
                Step::AnnotateDeployment { annotations } => {
                    let annotated = deployments
                        .update_with(d.name_any(), |x| {
                            x.metadata.annotations.extend(annotations.clone());
                        })
                        .await;
                    ignore_not_found(annotated)?;
                }
                Step::Delete { name } => {
                    ignore_not_found(replicasets.delete(name, &DeleteParams::default()).await)?;
                }
            }
        }
        if let Some(status) = &decision.status {
            write_status(&deployments, d.name_any(), |s| s.clone_from(status)).await?;
        }
        Ok(match decision.check_again_in {
            Some(after) => Action::requeue(after.max(Duration::from_millis(100))),
            None => Action::await_change(),
        })
    }

    fn watches(&self) -> Watches<Deployment> {
        Watches::new().owns::<ReplicaSet>()
    }
}

fn ignore_not_found<T>(result: Result<T, ApiError>) -> Result<(), ApiError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

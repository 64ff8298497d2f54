//! Rolling a Deployment back, as `kubectl rollout undo [--to-revision=N]` does: the
//! Deployment's template becomes that of an earlier revision's ReplicaSet again, and the
//! controller rolls it out as a new revision, within the usual bounds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{Deployment, ReplicaSet};
use orchestra_core::{Api, Client, ListParams, ResourceExt};

use super::DeploymentError;
use super::revision::{CHANGE_CAUSE_ANNOTATION, find_new, revision, rollback_target, without_hash};

/// How many times a rollback starts over when another writer changed the Deployment
/// between its read and its write.
const ATTEMPTS: u32 = 16;

mod sealed {
    pub trait Sealed {}
    impl Sealed for orchestra_core::Api<orchestra_core::kinds::Deployment> {}
}

/// What `kubectl rollout` does to a Deployment, as methods of `Api<Deployment>`.
///
/// Sealed: it is implemented for `Api<Deployment>` only, so methods can be added.
pub trait DeploymentExt: sealed::Sealed {
    /// Rolls the Deployment `name` back to the template of revision `to_revision`, or
    /// by default (`None`, or `Some(0)` as kubectl takes it) of the revision before
    /// the current one. The controller then rolls the restored template out as a new
    /// revision (the highest so far), and the Deployment's change cause becomes that
    /// of the restored revision.
    ///
    /// When the Deployment's template already is that of the revision, nothing is
    /// written and the outcome is [`RollbackOutcome::Skipped`], not an error. Errors:
    /// [`DeploymentError::Paused`] for a paused Deployment (resume it first);
    /// [`DeploymentError::NoSuchRevision`] for a revision none of its ReplicaSets has,
    /// [`DeploymentError::NoPreviousRevision`] when there is no earlier one to go back
    /// to, and the API's NotFound for a Deployment that does not exist (all three
    /// answer [`DeploymentError::is_not_found`]).
    ///
    /// The controller writes the Deployment's status all through a rollout, so the
    /// guarded write here can lose a race; it then starts over from a fresh read,
    /// after a pause (up to 16 attempts in about 2 s).
    ///
    /// ```no_run
    /// use orchestra_core::kinds::Deployment;
    /// use orchestra_core::{Api, Client};
    /// use orchestra_runtime::controllers::DeploymentExt;
    ///
    /// # async fn undo(client: Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let deployments: Api<Deployment> = Api::namespaced(client, "default");
    /// // kubectl rollout undo deployment/web
    /// let outcome = deployments.rollback("web", None).await?;
    /// println!("{outcome}");
    /// // kubectl rollout undo deployment/web --to-revision=1
    /// if deployments.rollback("web", Some(1)).await?.is_skipped() {
    ///     println!("web already runs revision 1's template");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn rollback(
        &self,
        name: &str,
        to_revision: Option<u64>,
    ) -> impl Future<Output = Result<RollbackOutcome, DeploymentError>> + Send;
}

/// What [`DeploymentExt::rollback`] did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RollbackOutcome {
    /// The Deployment's template is that of `revision` again, as written.
    RolledBack {
        /// The revision whose template was restored.
        revision: u64,
        /// The Deployment as written.
        deployment: Deployment,
    },
    /// The Deployment's template already was that of `revision`: nothing was written
    /// (kubectl's "skipped rollback").
    Skipped {
        /// The revision asked for.
        revision: u64,
        /// The Deployment as read.
        deployment: Deployment,
    },
}

impl RollbackOutcome {
    /// Whether nothing was written, the template being that of the revision already.
    pub fn is_skipped(&self) -> bool {
        matches!(self, RollbackOutcome::Skipped { .. })
    }

    /// The revision whose template the Deployment now has.
    pub fn revision(&self) -> u64 {
        match self {
            RollbackOutcome::RolledBack { revision, .. }
            | RollbackOutcome::Skipped { revision, .. } => *revision,
        }
    }

    /// The Deployment, as written or (when skipped) as read.
    pub fn deployment(&self) -> &Deployment {
        match self {
            RollbackOutcome::RolledBack { deployment, .. }
            | RollbackOutcome::Skipped { deployment, .. } => deployment,
        }
    }

    /// The Deployment, as written or (when skipped) as read.
    pub fn into_deployment(self) -> Deployment {
        match self {
            RollbackOutcome::RolledBack { deployment, .. }
            | RollbackOutcome::Skipped { deployment, .. } => deployment,
        }
    }
}

/// kubectl's line for the outcome.
impl std::fmt::Display for RollbackOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.deployment().object_key();
        match self {
            RollbackOutcome::RolledBack { revision, .. } => {
                write!(f, "deployment {name} rolled back to revision {revision}")
            }
            RollbackOutcome::Skipped { revision, .. } => write!(
                f,
                "deployment {name}: skipped rollback (current template already matches revision {revision})"
            ),
        }
    }
}

impl DeploymentExt for Api<Deployment> {
    async fn rollback(
        &self,
        name: &str,
        to_revision: Option<u64>,
    ) -> Result<RollbackOutcome, DeploymentError> {
        let mut attempt = 1;
        loop {
            match rollback_once(self, name, to_revision).await {
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
}

/// [`DeploymentExt::rollback`] for code that holds a [`Client`] rather than an
/// `Api<Deployment>`; returns the Deployment, as written or (when skipped) as read.
pub async fn rollback(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: Option<u64>,
) -> Result<Deployment, DeploymentError> {
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .rollback(name, to_revision)
        .await
        .map(RollbackOutcome::into_deployment)
}

async fn rollback_once(
    deployments: &Api<Deployment>,
    name: &str,
    to_revision: Option<u64>,
) -> Result<RollbackOutcome, DeploymentError> {
    let d = deployments.get(name).await?;
    if d.spec.paused {
        return Err(DeploymentError::Paused(d.object_key()));
    }
    let replicasets: Api<ReplicaSet> = Api::namespaced(
        deployments.client().clone(),
        d.namespace().unwrap_or("default"),
    );
    let owned: Vec<Arc<ReplicaSet>> = replicasets
        .list(&ListParams::default())
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
    let current = find_new(&template, &owned).map_or(0, |rs| revision(rs));
    let wanted = to_revision.filter(|r| *r != 0);
    let target = rollback_target(&owned, current, wanted).ok_or_else(|| match wanted {
        Some(revision) => DeploymentError::NoSuchRevision {
            name: d.object_key(),
            revision,
        },
        None => DeploymentError::NoPreviousRevision(d.object_key()),
    })?;
    let revision = revision(target);
    let restored = without_hash(&target.spec.template);
    if restored == template {
        return Ok(RollbackOutcome::Skipped {
            revision,
            deployment: d,
        });
    }
    let mut updated = d.clone();
    updated.spec.template = restored;
    // The restored revision's reason comes back with it, as kubectl does.
    match target.metadata.annotations.get(CHANGE_CAUSE_ANNOTATION) {
        Some(cause) => {
            updated
                .metadata
                .annotations
                .insert(CHANGE_CAUSE_ANNOTATION.into(), cause.clone());
        }
        None => {
            updated.metadata.annotations.remove(CHANGE_CAUSE_ANNOTATION);
        }
    }
    Ok(RollbackOutcome::RolledBack {
        revision,
        deployment: deployments.update(&updated).await?,
    })
}

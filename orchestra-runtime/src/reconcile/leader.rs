//! Lease-based leader election, with client-go's algorithm and defaults, so several
//! control-plane replicas can run with exactly one active.
//!
//! Candidates race to hold one [`Lease`] object with guarded updates. The holder renews
//! it every `retry_period`; another candidate takes over only when it has seen the
//! lease unchanged for a whole `lease_duration`, measured on its own clock from the
//! moment it observed the last change (so clock skew between machines does not
//! matter). A holder that cannot renew for `renew_deadline` steps down; because
//! `renew_deadline < lease_duration`, it has stopped before anyone else may start.

use std::time::Duration;

use orchestra_core::kinds::{Lease, LeaseSpec};
use orchestra_core::{Api, ApiError, Client, ObjectMeta};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Settings of a [`LeaderElector`]: which Lease the candidates share, who this
/// candidate is, and the timing, whose defaults are client-go's.
///
/// ```
/// use std::time::Duration;
/// use orchestra_runtime::reconcile::LeaderElectionConfig;
///
/// let config = LeaderElectionConfig::default()
///     .lease_name("my-operator")
///     .lease_duration(Duration::from_secs(30));
/// ```
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    pub(crate) namespace: String,
    pub(crate) lease_name: String,
    pub(crate) identity: String,
    pub(crate) lease_duration: Duration,
    pub(crate) renew_deadline: Duration,
    pub(crate) retry_period: Duration,
}

/// The namespace of the control plane's Leases, as in Kubernetes.
pub const LEADER_ELECTION_NAMESPACE: &str = "kube-system";

impl Default for LeaderElectionConfig {
    /// The Lease `kube-system/orchestra-controller-manager`, an identity of this host's
    /// name and a suffix no other candidate has, and client-go's timing.
    fn default() -> Self {
        LeaderElectionConfig {
            namespace: LEADER_ELECTION_NAMESPACE.to_owned(),
            lease_name: "orchestra-controller-manager".to_owned(),
            identity: unique_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// This host's name, the process id and a count, so two candidates on one host, even
/// in one process, differ.
fn unique_identity() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CANDIDATES: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}_{}",
        crate::host_name::host_name(),
        std::process::id(),
        CANDIDATES.fetch_add(1, Ordering::Relaxed)
    )
}

impl LeaderElectionConfig {
    /// The defaults, for the Lease `namespace/lease_name` and the candidate `identity`.
    pub fn new(
        namespace: impl Into<String>,
        lease_name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaderElectionConfig::default()
            .namespace(namespace)
            .lease_name(lease_name)
            .identity(identity)
    }

    /// The namespace of the Lease. Default [`LEADER_ELECTION_NAMESPACE`].
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The name of the Lease: candidates for the same role share it. Default
    /// `orchestra-controller-manager`.
    #[must_use]
    pub fn lease_name(mut self, name: impl Into<String>) -> Self {
        self.lease_name = name.into();
        self
    }

    /// This candidate's identity, unique among the candidates. Default: the host's
    /// name, the process id and a per-process count.
    #[must_use]
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// How long a lease is valid without renewal. Default 15 s.
    #[must_use]
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration;
        self
    }

    /// How long the holder keeps trying to renew before it steps down; shorter than
    /// the lease duration and longer than the retry period. Default 10 s.
    #[must_use]
    pub fn renew_deadline(mut self, deadline: Duration) -> Self {
        self.renew_deadline = deadline;
        self
    }

    /// How often candidates try to acquire the lease and the holder renews it.
    /// Default 2 s.
    #[must_use]
    pub fn retry_period(mut self, period: Duration) -> Self {
        self.retry_period = period;
        self
    }

    /// Sets the three durations at once (see [`lease_duration`](Self::lease_duration),
    /// [`renew_deadline`](Self::renew_deadline), [`retry_period`](Self::retry_period)).
    #[must_use]
    pub fn durations(
        self,
        lease_duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Self {
        self.lease_duration(lease_duration)
            .renew_deadline(renew_deadline)
            .retry_period(retry_period)
    }
}

/// Competes for a lease and reports whether this candidate leads.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    leading: watch::Sender<bool>,
}

/// What this candidate last saw of the lease.
struct Observation {
    /// The lease's resourceVersion when we last saw it change.
    resource_version: String,
    /// When (on our clock) we saw that change.
    at: Instant,
}

impl LeaderElector {
    /// A candidate using `client` to reach the lease.
    ///
    /// # Panics
    /// If the durations are inconsistent (`renew_deadline` not below `lease_duration`,
    /// or `retry_period` not below `renew_deadline`): that would allow two leaders.
    pub fn new(client: Client, config: LeaderElectionConfig) -> Self {
        assert!(
            config.renew_deadline < config.lease_duration
                && config.retry_period < config.renew_deadline,
            "leader election needs retry_period < renew_deadline < lease_duration, got {:?} / {:?} / {:?}",
            config.retry_period,
            config.renew_deadline,
            config.lease_duration
        );
        let api = Api::namespaced(client, &config.namespace);
        LeaderElector {
            api,
            config,
            leading: watch::channel(false).0,
        }
    }

    /// The candidate's identity.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// Whether this candidate leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// A receiver that changes whenever leadership is gained or lost.
    pub fn watch_leadership(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Competes until `cancel` fires: acquires when the lease is free or expired, renews
    /// while leading, steps down when renewal fails for `renew_deadline`. On cancel, a
    /// leader releases the lease so a successor need not wait for it to expire.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut observed: Option<Observation> = None;
        let mut last_renew = Instant::now();
        loop {
            // While leading, stepping down at the renew deadline is a timer of its own,
            // so a slow store call cannot stretch leadership past it.
            let deadline = last_renew + self.config.renew_deadline;
            let leading = self.is_leader();
            let step_down = async move {
                if leading {
                    tokio::time::sleep_until(deadline).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::pin!(step_down);
            let attempt = tokio::time::timeout(
                self.config.retry_period,
                self.try_acquire_or_renew(&mut observed),
            );
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = &mut step_down => {
                    self.step_down();
                    continue;
                }
                r = attempt => {
                    if matches!(r, Ok(Ok(true))) {
                        last_renew = Instant::now();
                        if !self.is_leader() {
                            tracing::info!(identity = %self.config.identity, lease = %self.config.lease_name, "became leader");
                            self.leading.send_replace(true);
                        }
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = &mut step_down => self.step_down(),
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
        if self.is_leader() {
            self.leading.send_replace(false);
            if let Err(e) = self.release().await {
                tracing::warn!(identity = %self.config.identity, error = %e, "could not release the lease");
            }
        }
    }

    fn step_down(&self) {
        tracing::warn!(identity = %self.config.identity, lease = %self.config.lease_name, "lost leadership: could not renew in time");
        self.leading.send_replace(false);
    }

    /// One round of client-go's `tryAcquireOrRenew`; true when we hold the lease.
    async fn try_acquire_or_renew(
        &self,
        observed: &mut Option<Observation>,
    ) -> Result<bool, ApiError> {
        let now = self.api.client().clock().now();
        let me = &self.config.identity;
        let duration_secs = self.config.lease_duration.as_secs().max(1) as i32;
        let Some(lease) = self.api.get_opt(&self.config.lease_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta::named(self.config.lease_name.clone()),
                spec: LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                },
            };
            return match self.api.create(&lease).await {
                Ok(_) => Ok(true),
                Err(e) if e.is_already_exists() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|o| o.resource_version != rv) {
            *observed = Some(Observation {
                resource_version: rv,
                at: Instant::now(),
            });
        }
        let holder = lease.spec.holder_identity.clone().unwrap_or_default();
        let held_by_other = !holder.is_empty() && holder != *me;
        if held_by_other {
            let valid_for = lease
                .spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(self.config.lease_duration);
            let seen_at = observed.as_ref().map(|o| o.at).unwrap_or_else(Instant::now);
            if seen_at.elapsed() < valid_for {
                return Ok(false);
            }
        }
        let mut next = lease.clone();
        if holder != *me {
            next.spec.acquire_time = Some(now);
            next.spec.lease_transitions =
                Some(lease.spec.lease_transitions.unwrap_or(0) + i32::from(!holder.is_empty()));
        }
        next.spec.holder_identity = Some(me.clone());
        next.spec.lease_duration_seconds = Some(duration_secs);
        next.spec.renew_time = Some(now);
        match self.api.update(&next).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (empties the holder) if we still hold it.
    async fn release(&self) -> Result<(), ApiError> {
        let Some(lease) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(());
        };
        if lease.spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let mut released = lease;
        released.spec.holder_identity = None;
        released.spec.lease_duration_seconds = Some(1);
        self.api.update(&released).await.map(|_| ())
    }
}

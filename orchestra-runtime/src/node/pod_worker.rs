//! Syncing one pod with the runtime: start its containers, restart them by policy with
//! crash-loop backoff, run their probes, terminate them gracefully when the pod is
//! deleted, and report status only when it changed.
//!
//! One sync is one pass over one pod, run by the agent's work queue (so a pod is never
//! synced twice at once); it returns when it wants to run again (a probe or a backoff
//! due). Everything the agent remembers about a pod between passes is its
//! [`PodRecord`].

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{Container, Pod, RestartPolicy};
use orchestra_core::{
    Api, ContainerConfig, ContainerId, DeleteParams, PodSandbox, ResourceExt, Runtime,
    RuntimeContainerState, RuntimeContainerStatus, RuntimeError,
};
use tokio::time::Instant;

use super::AgentContext;
use super::probes::{ProbeKind, ProbeTracker};
use super::restart::should_restart;
use super::status::{ContainerReport, InstanceStatus, Waiting, pod_status};

/// What the agent remembers about one container of a pod.
///
/// An agent keeps one per container of every pod it runs, so what most containers
/// never have (a previous instance, a waiting reason, probes) is boxed: a running
/// container without probes costs its current status and little more.
#[derive(Debug, Default)]
pub(crate) struct ContainerRecord {
    /// The current instance.
    id: Option<ContainerId>,
    /// Its last known status.
    current: Option<InstanceStatus>,
    /// The instance before it, once it exited.
    previous: Option<Box<InstanceStatus>>,
    restart_count: i32,
    /// The backoff before the last restart (None: never restarted since a reset).
    backoff: Option<Duration>,
    /// Not before this instant may it start again.
    next_start: Option<Instant>,
    /// The exited instance whose backoff was already counted.
    counted_exit: Option<ContainerId>,
    waiting: Option<Box<Waiting>>,
    /// The probes of the current instance while it runs; `None` when it has none.
    probes: Option<Box<Probes>>,
}

/// The probe trackers of one running container (at least one is set).
#[derive(Debug)]
struct Probes {
    startup: Option<ProbeTracker>,
    liveness: Option<ProbeTracker>,
    readiness: Option<ProbeTracker>,
}

impl Probes {
    fn startup_pending(&self) -> bool {
        self.startup.as_ref().is_some_and(|s| !s.is_passing())
    }
}

/// The records of a pod's containers, by name. A pod has a handful of containers, so
/// a vector beats a hash map here — and keeps an agent with 100,000 pods small. It is
/// sized for the pod's containers up front (see [`PodRecord::adopt`]): growing from
/// empty would reserve room for four.
#[derive(Debug, Default)]
struct ContainerRecords(Vec<(String, ContainerRecord)>);

impl ContainerRecords {
    fn with_capacity(containers: usize) -> ContainerRecords {
        ContainerRecords(Vec::with_capacity(containers))
    }

    fn entry(&mut self, name: &str) -> &mut ContainerRecord {
        let i = match self.0.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.0.push((name.to_owned(), ContainerRecord::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    fn get(&self, name: &str) -> Option<&ContainerRecord> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    fn values(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.0.iter().map(|(_, c)| c)
    }
}

/// What the agent remembers about one pod between syncs.
#[derive(Debug, Default)]
pub(crate) struct PodRecord {
    uid: String,
    containers: ContainerRecords,
    terminating: bool,
}

impl PodRecord {
    /// A record for `pod`, adopting what the runtime already runs for it (an agent
    /// that restarted): the latest instance of each container becomes current, the
    /// one before it previous; older ones are removed.
    pub(crate) fn adopt(
        pod: &Pod,
        mut existing: Vec<RuntimeContainerStatus>,
    ) -> (PodRecord, Vec<ContainerId>) {
        existing.sort_by_key(|s| std::cmp::Reverse(s.attempt));
        let mut record = PodRecord {
            uid: pod.uid().to_owned(),
            containers: ContainerRecords::with_capacity(pod.spec.containers.len()),
            terminating: false,
        };
        let mut stale = Vec::new();
        for status in existing {
            let Some(spec) = pod.spec.containers.iter().find(|c| c.name == status.name) else {
                stale.push(status.id);
                continue;
            };
            let c = record.containers.entry(&spec.name);
            if c.current.is_none() {
                c.id = Some(status.id.clone());
                c.restart_count = i32::try_from(status.attempt).unwrap_or(i32::MAX);
                if status.state.is_running() {
                    c.arm_probes(spec, Instant::now());
                }
                c.current = Some(status.into());
            } else if c.previous.is_none() && status.state.is_exited() {
                c.previous = Some(Box::new(status.into()));
            } else {
                stale.push(status.id);
            }
        }
        (record, stale)
    }

    pub(crate) fn uid(&self) -> &str {
        &self.uid
    }

    /// Every container instance the record knows.
    pub(crate) fn container_ids(&self) -> Vec<ContainerId> {
        self.containers
            .values()
            .flat_map(|c| {
                c.id.iter()
                    .cloned()
                    .chain(c.previous.as_ref().map(|p| p.id.clone()))
            })
            .collect()
    }
}

impl ContainerRecord {
    fn arm_probes(&mut self, spec: &Container, started: Instant) {
        let track = |kind, probe: &Option<Box<orchestra_core::kinds::Probe>>| {
            probe
                .as_deref()
                .and_then(|p| ProbeTracker::new(kind, p, started))
        };
        let probes = Probes {
            startup: track(ProbeKind::Startup, &spec.startup_probe),
            liveness: track(ProbeKind::Liveness, &spec.liveness_probe),
            readiness: track(ProbeKind::Readiness, &spec.readiness_probe),
        };
        let any =
            probes.startup.is_some() || probes.liveness.is_some() || probes.readiness.is_some();
        self.probes = any.then(|| Box::new(probes));
    }

    fn started(&self) -> bool {
        self.is_running() && self.probe_passing(|p| p.startup.as_ref())
    }

    fn is_running(&self) -> bool {
        self.current.as_ref().is_some_and(|s| s.state.is_running())
    }

    fn ready(&self) -> bool {
        self.started() && self.probe_passing(|p| p.readiness.as_ref())
    }

    /// Whether the probe `pick` chooses passes, or the container does not have it.
    fn probe_passing(&self, pick: impl FnOnce(&Probes) -> Option<&ProbeTracker>) -> bool {
        self.probes
            .as_deref()
            .and_then(pick)
            .is_none_or(ProbeTracker::is_passing)
    }
}

/// The sandbox identity of `pod` in the runtime.
pub(crate) fn sandbox_of(pod: &Pod) -> PodSandbox {
    PodSandbox {
        uid: pod.uid().to_owned(),
        namespace: pod.namespace().unwrap_or("default").to_owned(),
        name: pod.name_any().to_owned(),
    }
}

/// Stops containers (all at once, each given `grace`), then removes them, best effort
/// (the pod is gone or they are stale). With no grace the removal alone does: removing
/// a running container kills it.
pub(crate) async fn remove_containers(runtime: &dyn Runtime, ids: &[ContainerId], grace: Duration) {
    if !grace.is_zero() {
        let stops = ids.iter().map(|id| runtime.stop_container(id, grace));
        for (id, result) in ids.iter().zip(futures::future::join_all(stops).await) {
            match result {
                Ok(()) | Err(RuntimeError::NotFound(_)) => {}
                Err(error) => tracing::warn!(container = %id, %error, "could not stop container"),
            }
        }
    }
    for id in ids {
        match runtime.remove_container(id).await {
            Ok(()) | Err(RuntimeError::NotFound(_)) => {}
            Err(error) => tracing::warn!(container = %id, %error, "could not remove container"),
        }
    }
}

/// The grace period for stopping the containers of `pod`.
pub(crate) fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or(pod.spec.termination_grace_period_seconds)
        .unwrap_or(orchestra_core::kinds::DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// One sync of `pod`: returns when it wants to be synced again, if it does.
pub(crate) async fn sync_pod(
    ctx: &AgentContext,
    pod: &Arc<Pod>,
    record: &mut PodRecord,
) -> Option<Instant> {
    if pod.metadata.is_being_deleted() {
        if !record.terminating {
            record.terminating = true;
            terminate(ctx, pod.clone(), record.container_ids());
        }
        return None;
    }
    let policy = pod.spec.restart_policy.unwrap_or_default();
    let mut wake: Option<Instant> = None;
    let mut soonest = |at: Instant| wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
    for spec in &pod.spec.containers {
        let c = record.containers.entry(&spec.name);
        if let Some(at) = step_container(ctx, pod, spec, c, policy).await {
            soonest(at);
        }
    }
    report_status(ctx, pod, record).await;
    wake
}

/// Brings one container one step closer to what the spec and policy want.
async fn step_container(
    ctx: &AgentContext,
    pod: &Pod,
    spec: &Container,
    c: &mut ContainerRecord,
    policy: RestartPolicy,
) -> Option<Instant> {
    let runtime = &*ctx.runtime;
    let now = Instant::now();
    if let Some(id) = &c.id {
        match runtime.container_status(id).await {
            Ok(status) => c.current = Some(status.into()),
            Err(RuntimeError::NotFound(_)) => {
                // Removed behind our back: start afresh (as a restart).
                c.previous = c.current.take().map(Box::new);
                c.id = None;
            }
            Err(error) => {
                tracing::warn!(container = %id, %error, "could not read container status");
                return Some(now + Duration::from_secs(1));
            }
        }
    }
    match c.current.as_ref().map(|s| s.state.clone()) {
        // Still starting: the relist notices when it runs.
        Some(RuntimeContainerState::Created) => None,
        Some(RuntimeContainerState::Running) => run_probes(ctx, pod, spec, c, now).await,
        Some(RuntimeContainerState::Exited { exit_code, .. }) => {
            c.probes = None;
            if !should_restart(policy, exit_code) {
                c.waiting = None;
                return None;
            }
            let id = c.id.clone();
            if c.counted_exit != id {
                c.counted_exit = id;
                let current = c.current.as_ref().expect("matched Some");
                let ran_for = match (current.started_at, current.finished_at) {
                    (Some(s), Some(f)) => f.since(s),
                    _ => Duration::ZERO,
                };
                let delay = ctx.config.crash_loop.next_delay(c.backoff, ran_for);
                c.backoff = Some(delay);
                c.next_start = Some(now + delay);
            }
            let at = c.next_start.unwrap_or(now);
            if at > now {
                c.waiting = Some(Box::new(Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {}s restarting failed container={} pod={}",
                        c.backoff.unwrap_or_default().as_secs(),
                        spec.name,
                        pod.name_any()
                    )),
                }));
                return Some(at);
            }
            start(ctx, pod, spec, c).await
        }
        None => match c.next_start {
            Some(at) if at > Instant::now() => Some(at),
            _ => start(ctx, pod, spec, c).await,
        },
    }
}

/// Starts a new instance of the container (a restart when one ran before).
async fn start(
    ctx: &AgentContext,
    pod: &Pod,
    spec: &Container,
    c: &mut ContainerRecord,
) -> Option<Instant> {
    let restarting = c.current.is_some() || c.previous.is_some();
    let attempt = if restarting { c.restart_count + 1 } else { 0 };
    let config = ContainerConfig {
        sandbox: sandbox_of(pod),
        container: spec.clone(),
        attempt: u32::try_from(attempt).unwrap_or(0),
    };
    match ctx.runtime.start_container(config).await {
        Ok(id) => {
            // Keep one exited instance for `lastState` and logs; remove the one before.
            if let Some(done) = c.current.take() {
                if let Some(older) = c.previous.replace(Box::new(done)) {
                    remove_containers(&*ctx.runtime, &[older.id], Duration::ZERO).await;
                }
            }
            c.restart_count = attempt;
            c.id = Some(id.clone());
            c.current = ctx.runtime.container_status(&id).await.ok().map(Into::into);
            c.waiting = None;
            c.arm_probes(spec, Instant::now());
            // Still starting: the relist notices when it runs.
            next_probe(c).filter(|_| c.is_running())
        }
        Err(error) => {
            let reason = match &error {
                RuntimeError::ImageNotFound { .. } => "ErrImagePull",
                RuntimeError::InvalidConfig(_) => "CreateContainerConfigError",
                _ => "CreateContainerError",
            };
            tracing::warn!(pod = %pod.object_key(), container = %spec.name, %error, "container start failed");
            let delay = ctx.config.crash_loop.next_delay(c.backoff, Duration::ZERO);
            c.backoff = Some(delay);
            c.next_start = Some(Instant::now() + delay);
            c.waiting = Some(Box::new(Waiting {
                reason: reason.into(),
                message: Some(error.to_string()),
            }));
            c.next_start
        }
    }
}

fn next_probe(c: &ContainerRecord) -> Option<Instant> {
    let p = c.probes.as_deref()?;
    if p.startup_pending() {
        return p.startup.as_ref().map(ProbeTracker::next_due);
    }
    p.liveness
        .iter()
        .chain(&p.readiness)
        .map(ProbeTracker::next_due)
        .min()
}

/// Runs the probes that are due; a failed liveness (or startup) probe restarts the
/// container.
async fn run_probes(
    ctx: &AgentContext,
    pod: &Pod,
    spec: &Container,
    c: &mut ContainerRecord,
    now: Instant,
) -> Option<Instant> {
    let id = c.id.clone()?;
    let probes = c.probes.as_deref_mut()?;
    let startup_pending = probes.startup_pending();
    let mut kill = None;
    for tracker in [
        &mut probes.startup,
        &mut probes.liveness,
        &mut probes.readiness,
    ]
    .into_iter()
    .flatten()
    {
        let gated = startup_pending && tracker.kind() != ProbeKind::Startup;
        if gated || tracker.next_due() > now {
            continue;
        }
        let outcome = ctx
            .runtime
            .probe(&id, tracker.handler(), tracker.timeout())
            .await;
        let (success, message) = match outcome {
            Ok(o) if o.is_success() => (true, None),
            Ok(orchestra_core::ProbeOutcome::Failure(m)) => (false, Some(m)),
            Ok(_) => (false, None),
            Err(e) => (false, Some(e.to_string())),
        };
        let changed = tracker.record(success, message, now);
        let failed_for_good = changed
            && !tracker.is_passing()
            && matches!(tracker.kind(), ProbeKind::Liveness | ProbeKind::Startup);
        if failed_for_good {
            kill = Some(format!(
                "{:?} probe failed: {}",
                tracker.kind(),
                tracker.last_message().unwrap_or("no detail")
            ));
        }
    }
    if let Some(why) = kill {
        tracing::info!(pod = %pod.object_key(), container = %spec.name, %why, "restarting container");
        if let Err(error) = ctx.runtime.stop_container(&id, grace_period(pod)).await {
            tracing::warn!(container = %id, %error, "could not stop unhealthy container");
        }
        c.current = ctx.runtime.container_status(&id).await.ok().map(Into::into);
        // Sync again at once: the exited container goes through the restart policy.
        return Some(Instant::now());
    }
    next_probe(c)
}

/// Writes the pod's status if it differs from what the store has.
async fn report_status(ctx: &AgentContext, pod: &Arc<Pod>, record: &PodRecord) {
    let reports: Vec<ContainerReport<'_>> = pod
        .spec
        .containers
        .iter()
        .map(|spec| {
            let c = record.containers.get(&spec.name);
            ContainerReport {
                spec,
                restart_count: c.map_or(0, |c| c.restart_count),
                current: c.and_then(|c| c.current.as_ref()),
                previous: c.and_then(|c| c.previous.as_deref()),
                waiting: c.and_then(|c| c.waiting.as_deref().cloned()),
                ready: c.is_some_and(ContainerRecord::ready),
                started: c.is_some_and(ContainerRecord::started),
            }
        })
        .collect();
    let pod_ip = reports
        .iter()
        .find_map(|r| r.current.and_then(|s| s.ip))
        .map(|ip| ip.to_string());
    let status = pod_status(
        pod,
        &reports,
        pod_ip.as_deref(),
        Some(&ctx.config.address),
        ctx.client.clock().now(),
    );
    if pod.status.as_ref() == Some(&status) {
        return;
    }
    // Only the status of the pod passed as the new one is read.
    let reported = Pod {
        status: Some(status),
        ..Pod::default()
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), pod.namespace().unwrap_or("default"));
    // One guarded write over the cached pod, no read: a stale cache is a Conflict.
    match pods.replace_status(pod, &reported).await {
        Ok(_) => {}
        // The cache is behind the store; the newer pod will be synced again.
        Err(e) if e.is_conflict() || e.is_not_found() => {}
        Err(error) => {
            tracing::warn!(pod = %pod.object_key(), %error, "could not report pod status")
        }
    }
}

/// Graceful termination, off the sync path: stop every container with the pod's
/// grace period, remove them, then remove the pod object (the kubelet's final delete).
fn terminate(ctx: &AgentContext, pod: Arc<Pod>, ids: Vec<ContainerId>) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        remove_containers(&*ctx.runtime, &ids, grace_period(&pod)).await;
        let pods: Api<Pod> =
            Api::namespaced(ctx.client.clone(), pod.namespace().unwrap_or("default"));
        let params = DeleteParams::default()
            .grace_period(0)
            .precondition_uid(pod.uid());
        match pods.delete(pod.name_any(), &params).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(error) => {
                tracing::warn!(pod = %pod.object_key(), %error, "could not remove terminated pod")
            }
        }
    });
}

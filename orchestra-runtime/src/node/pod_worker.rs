//! Syncing one pod with the runtime: start its containers, restart them by policy with
//! crash-loop backoff, run their probes, terminate them gracefully when the pod is
//! deleted, and report status only when it changed.
//!
//! One sync is one pass over one pod, run by the agent's work queue (so a pod is never
//! synced twice at once); it returns when it wants to run again (a probe or a backoff
//! due). Everything the agent remembers about a pod between passes is its
//! [`PodRecord`] (see `record.rs`).

use std::sync::Arc;
use std::time::Duration;

use orchestra_core::kinds::{Container, Pod, RestartPolicy};
use orchestra_core::{
    Api, ContainerConfig, ContainerId, DeleteParams, PodSandbox, ResourceExt, Runtime,
    RuntimeContainerStatus, RuntimeError,
};
use tokio::time::Instant;

use super::AgentContext;
use super::probes::{ProbeKind, ProbeTracker};
use super::record::{ContainerRecord, PodRecord};
use super::restart::should_restart;
use super::status::{ContainerReport, InstanceState, Waiting, pod_status};

/// A record for `pod`, adopting what the runtime already runs for it (an agent that
/// restarted): the latest instance of each container becomes current, the one before
/// it previous; older ones are returned, to be removed.
pub(crate) fn adopt(
    pod: &Pod,
    mut existing: Vec<RuntimeContainerStatus>,
) -> (PodRecord, Vec<ContainerId>) {
    existing.sort_by_key(|s| std::cmp::Reverse(s.attempt));
    let mut record = PodRecord::new(pod.uid(), pod.spec.containers.len());
    let mut stale = Vec::new();
    for status in existing {
        let Some(spec) = pod.spec.containers.iter().find(|c| c.name == status.name) else {
            stale.push(status.id);
            continue;
        };
        let attempt = status.attempt;
        let c = record.containers.entry(&spec.name);
        if let Err(unused) = c.adopt(spec, status.into(), attempt) {
            stale.push(unused.id);
        }
    }
    (record, stale)
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
    if let Some(id) = c.id() {
        match runtime.container_status(id).await {
            Ok(status) => c.observe(status.into()),
            Err(RuntimeError::NotFound(_)) => {
                // Removed behind our back: start afresh (as a restart).
                c.lose_current();
            }
            Err(error) => {
                tracing::warn!(container = %id, %error, "could not read container status");
                return Some(now + Duration::from_secs(1));
            }
        }
    }
    let exit_code = match c.current().map(|s| &s.state) {
        // Still starting: the relist notices when it runs.
        Some(InstanceState::Created) => return None,
        Some(InstanceState::Running) => return run_probes(ctx, pod, spec, c, now).await,
        Some(InstanceState::Exited(exit)) => exit.exit_code,
        None => {
            return match c.next_start() {
                Some(at) if at > Instant::now() => Some(at),
                _ => start(ctx, pod, spec, c).await,
            };
        }
    };
    c.probes = None;
    if !should_restart(policy, exit_code) {
        c.stop_waiting();
        return None;
    }
    if c.cold().and_then(|k| k.counted_exit.as_ref()) != c.id() {
        let id = c.id().cloned();
        let current = c.current().expect("exited");
        let ran_for = match (
            current.started_at,
            current.exit().and_then(|e| e.finished_at),
        ) {
            (Some(s), Some(f)) => f.since(s),
            _ => Duration::ZERO,
        };
        let delay = ctx.config.crash_loop.next_delay(c.backoff(), ran_for);
        let cold = c.cold_mut();
        cold.counted_exit = id;
        cold.backoff = Some(delay);
        cold.next_start = Some(now + delay);
    }
    let at = c.next_start().unwrap_or(now);
    if at > now {
        let message = format!(
            "back-off {}s restarting failed container={} pod={}",
            c.backoff().unwrap_or_default().as_secs(),
            spec.name,
            pod.name_any()
        );
        c.cold_mut().waiting = Some(Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(message),
        });
        return Some(at);
    }
    start(ctx, pod, spec, c).await
}

/// Starts a new instance of the container (a restart when one ran before).
async fn start(
    ctx: &AgentContext,
    pod: &Pod,
    spec: &Container,
    c: &mut ContainerRecord,
) -> Option<Instant> {
    let restarting = c.current().is_some() || c.previous().is_some();
    let attempt = if restarting { c.restart_count + 1 } else { 0 };
    let config = ContainerConfig {
        sandbox: sandbox_of(pod),
        container: spec.clone(),
        attempt: u32::try_from(attempt).unwrap_or(0),
    };
    match ctx.runtime.start_container(config).await {
        Ok(id) => {
            // Keep one exited instance for `lastState` and logs; remove the one before.
            if let Some(done) = c.take_current() {
                if let Some(older) = c.cold_mut().previous.replace(done) {
                    remove_containers(&*ctx.runtime, &[older.id], Duration::ZERO).await;
                }
            }
            c.restart_count = attempt;
            let status = ctx.runtime.container_status(&id).await.ok().map(Into::into);
            c.set_current(id, status);
            c.stop_waiting();
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
            let delay = ctx
                .config
                .crash_loop
                .next_delay(c.backoff(), Duration::ZERO);
            let cold = c.cold_mut();
            cold.backoff = Some(delay);
            cold.next_start = Some(Instant::now() + delay);
            cold.waiting = Some(Waiting {
                reason: reason.into(),
                message: Some(error.to_string()),
            });
            cold.next_start
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
    let id = c.id()?.clone();
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
        let status = ctx.runtime.container_status(&id).await.ok().map(Into::into);
        c.set_current(id, status);
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
                current: c.and_then(ContainerRecord::current),
                previous: c.and_then(ContainerRecord::previous),
                waiting: c.and_then(ContainerRecord::waiting).cloned(),
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

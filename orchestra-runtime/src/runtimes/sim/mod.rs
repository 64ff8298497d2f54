//! [`SimRuntime`]: virtual containers for simulating whole clusters, in the spirit of
//! kwok. No process, no task and no timer per container: a container is a small record
//! whose state is computed from timestamps whenever it is read (see `container.rs`), so
//! one process holds hundreds of thousands of them across thousands of runtimes (one
//! per simulated node), and everything runs in paused tokio time.
//!
//! What a container does comes from its image and from a [`SimProfile`] of rules that
//! tests change at run time (behaviour, synthetic CPU and memory, probe results, start
//! faults, missing images). A few well-known images behave like the programs of the
//! same name, so the Runtime conformance kit runs unchanged against this runtime and
//! against [`ProcessRuntime`](super::ProcessRuntime):
//!
//! | image (last path segment) | behaviour |
//! | --- | --- |
//! | `true` | exits 0 at once |
//! | `false` | exits 1 at once |
//! | `sleep` | exits 0 after `args[0]` seconds (fractions allowed) |
//! | `echo` | writes its arguments joined by spaces and a newline to its log, exits 0 |
//! | `printf` | writes its format (`%s`, `%%`, `\n`, `\t`, `\\`) once per argument, like `printf(1)`, exits 0 |
//! | `orchestra-ignore-term` | writes `ready`, ignores the stop signal, exits 0 after `args[0]` seconds |
//! | anything else | runs until stopped |
//!
//! Rules in the profile for a container, its pod or its image take precedence over the
//! well-known meaning; a rule for [`SimSelector::Any`] applies only to images with no
//! well-known meaning, so a crash-looping default does not change what `true` does.
//!
//! A stopped container ends as if by SIGTERM (exit 143, signal 15), or, for one that
//! ignores it, by SIGKILL after the grace period (137, signal 9). [`SimRuntime::kill`]
//! ends containers at once (137; reason `OOMKilled` for [`SimKill::OutOfMemory`]).
//!
//! Probes: a probe call is matched against the container's readiness, liveness and
//! startup probe actions; a result forced in the profile for a matching probe wins.
//! Otherwise an exec probe of `false` fails and any other passes, and a TCP or HTTP
//! probe passes when the port is one the container declares (by number or name) and
//! fails as `connection refused` otherwise. A container that is not running fails
//! every probe.

mod builder;
mod container;
mod follow;
mod images;
mod names;
mod probe;
mod profile;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use orchestra_core::Time;
use orchestra_core::kinds::ProbeHandler;
use orchestra_core::runtime::{
    ChangeMarker, ContainerConfig, ContainerId, ContainerStats, LogOptions, LogStream, PodSandbox,
    ProbeOutcome, Runtime, RuntimeContainerStatus, RuntimeError,
};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use self::builder::SimRuntimeBuilder;
use self::container::{ExitReason, Extras, SimCold, SimContainer, SimLog};
use self::follow::Follower;
use self::images::well_known;
use self::names::{Images, PodByUid, SimPod};
use self::profile::Subject;
pub use self::profile::{SimBehavior, SimProbe, SimProfile, SimSelector, SimUsage};
use super::logs::tail_lines;
use crate::keys::SharedNamespaces;

/// The default cap on one simulated container's log.
pub const DEFAULT_SIM_LOG_LIMIT: usize = 64 * 1024;

/// How [`SimRuntime::kill`] ends a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimKill {
    /// Killed by SIGKILL from outside: exit 137, signal 9, reason `Error`.
    Signal,
    /// Killed for exceeding its memory limit: exit 137, reason `OOMKilled`.
    OutOfMemory,
}

/// A container runtime of virtual containers; see the module docs for what they do.
///
/// Cheap to clone: clones are the same runtime.
///
/// ```no_run
/// use std::time::Duration;
///
/// use orchestra_core::kinds::Container;
/// use orchestra_core::{ContainerConfig, PodSandbox, Runtime};
/// use orchestra_runtime::runtimes::{SimKill, SimProfile, SimRuntime, SimSelector, SimUsage};
///
/// # async fn doc() -> Result<(), orchestra_core::RuntimeError> {
/// // One profile drives every simulated node.
/// let profile = SimProfile::new();
/// let nodes: Vec<SimRuntime> = (0..100)
///     .map(|_| {
///         SimRuntime::builder()
///             .profile(profile.clone())
///             .start_latency(Duration::from_millis(500))
///             .build()
///     })
///     .collect();
/// let id = nodes[0]
///     .start_container(ContainerConfig {
///         sandbox: PodSandbox {
///             uid: "uid-1".into(),
///             namespace: "default".into(),
///             name: "web-1".into(),
///         },
///         container: Container {
///             name: "web".into(),
///             image: "web:1".into(),
///             ..Container::default()
///         },
///         attempt: 0,
///     })
///     .await?;
/// profile.set_usage(SimSelector::image("web:1"), SimUsage::new(900, 128 << 20));
/// nodes[0].kill(&id, SimKill::OutOfMemory)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SimRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// This runtime's number, part of its container ids.
    node: u32,
    profile: SimProfile,
    start_latency: Duration,
    log_limit: usize,
    subnet: u32,
    /// A tokio instant and the wall time it stands for: how instants become `Time`s.
    epoch: (Instant, Time),
    /// Woken on every change that is not a timestamp passing (stop, kill, remove,
    /// log write), so followers and stoppers re-check.
    changed: Notify,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped, under the lock, by every change other than time passing (a container
    /// added, stopped, killed or removed): the generation of [`ChangeMarker`].
    generation: u64,
    next_id: u64,
    /// Boxed: a node's few dozen containers arrive in id order, which leaves the
    /// B-tree's nodes about half full, so inline records would cost twice their size.
    containers: BTreeMap<u64, Box<SimContainer>>,
    /// Pods with at least one container.
    pods: HashSet<PodByUid>,
    next_ip: u32,
    /// Namespaces, stored once.
    namespaces: SharedNamespaces,
    /// Container names and images, stored once per pair.
    images: Images,
}

impl Default for SimRuntime {
    fn default() -> Self {
        SimRuntime::new()
    }
}

impl SimRuntime {
    /// A runtime with default settings and a profile of its own.
    pub fn new() -> SimRuntime {
        SimRuntime::builder().build()
    }

    /// A builder for a runtime with other settings.
    pub fn builder() -> SimRuntimeBuilder {
        SimRuntimeBuilder::default()
    }

    /// The rules its containers follow (shared with every runtime built with clones of
    /// the same profile).
    pub fn profile(&self) -> &SimProfile {
        &self.inner.profile
    }

    /// How many containers it holds (running or exited, not removed).
    pub fn container_count(&self) -> usize {
        self.inner.state.lock().containers.len()
    }

    /// Ends the container at once, as if killed from outside. Returns whether it was
    /// running (killing an exited container changes nothing).
    pub fn kill(&self, id: &ContainerId, how: SimKill) -> Result<bool, RuntimeError> {
        let killed = self.with(id, |c, now| {
            let alive = c.exit_at(now).is_none();
            kill(c, now, how);
            alive
        })?;
        self.inner.changed.notify_waiters();
        Ok(killed)
    }

    /// Kills every live container of the pod with uid `pod_uid`; returns how many.
    pub fn kill_pod(&self, pod_uid: &str, how: SimKill) -> usize {
        let now = Instant::now();
        let mut killed = 0;
        {
            let mut state = self.inner.state.lock();
            for c in state.containers.values_mut() {
                if c.pod.uid() == pod_uid && c.exit_at(now).is_none() {
                    kill(c, now, how);
                    killed += 1;
                }
            }
            if killed > 0 {
                state.generation += 1;
            }
        }
        self.inner.changed.notify_waiters();
        killed
    }

    /// Appends `bytes` to a container's log, as if it had written them.
    pub fn write_log(&self, id: &ContainerId, bytes: &[u8]) -> Result<(), RuntimeError> {
        let limit = self.inner.log_limit;
        self.with(id, |c, _| {
            c.cold_mut()
                .log
                .get_or_insert_with(Default::default)
                .append(bytes, limit);
        })?;
        self.inner.changed.notify_waiters();
        Ok(())
    }

    fn id(&self, key: u64) -> ContainerId {
        use std::fmt::Write;
        // Sized exactly: `format!` would start small and grow, and ids are made for
        // every container on every relist and kept in the agent's records.
        let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
        let node = u64::from(self.inner.node);
        let mut id = String::with_capacity("sim--".len() + digits(node) + digits(key));
        let _ = write!(id, "sim-{node}-{key}");
        ContainerId(id)
    }

    /// The map key of an id this runtime issued; anything else is `NotFound`.
    fn key(&self, id: &ContainerId) -> Result<u64, RuntimeError> {
        id.0.strip_prefix("sim-")
            .and_then(|rest| rest.split_once('-'))
            .filter(|(node, _)| node.parse() == Ok(self.inner.node))
            .and_then(|(_, key)| key.parse().ok())
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))
    }

    fn time_of(&self, at: Instant) -> Time {
        let (base, wall) = self.inner.epoch;
        let since = at.saturating_duration_since(base);
        // Whole microseconds, the precision object timestamps keep.
        wall.plus(Duration::from_micros(
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX),
        ))
    }

    /// The status of container `key` at `now`. Called for every container on every
    /// relist, so it reads the exit once and copies each shared string straight into
    /// its `String` (no formatting machinery).
    fn status_of(&self, key: u64, c: &SimContainer, now: Instant) -> RuntimeContainerStatus {
        let exit = c.exit_at(now);
        RuntimeContainerStatus {
            id: self.id(key),
            sandbox: PodSandbox {
                uid: String::from(c.pod.uid()),
                namespace: String::from(&*c.pod.namespace),
                name: String::from(c.pod.name()),
            },
            name: String::from(&*c.spec.name),
            image: String::from(&*c.spec.image),
            attempt: c.attempt,
            state: c.state_given(exit, now),
            created_at: self.time_of(self.created(c)),
            started_at: c.started_given(exit, now).map(|t| self.time_of(t)),
            finished_at: exit.map(|e| self.time_of(e.at)),
            ip: Some(IpAddr::V4(c.pod.ip)),
        }
    }

    /// When `c` was created: its start, less the start latency it was given.
    fn created(&self, c: &SimContainer) -> Instant {
        c.starts
            .checked_sub(self.inner.start_latency)
            .unwrap_or(c.starts)
    }

    /// Runs `f` on the container with `id`; ending it (a stop) counts as a change.
    fn with<T>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut SimContainer, Instant) -> T,
    ) -> Result<T, RuntimeError> {
        let key = self.key(id)?;
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(&key)
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
        let ended = c.ended().map(|e| e.at);
        let out = f(c, Instant::now());
        if c.ended().map(|e| e.at) != ended {
            state.generation += 1;
        }
        Ok(out)
    }
}

fn kill(c: &mut SimContainer, now: Instant, how: SimKill) {
    match how {
        SimKill::Signal => c.end(now, 137, Some(9), ExitReason::Error),
        SimKill::OutOfMemory => c.end(now, 137, None, ExitReason::OomKilled),
    }
}

#[async_trait]
impl Runtime for SimRuntime {
    fn name(&self) -> &str {
        "sim"
    }

    async fn start_container(&self, config: ContainerConfig) -> Result<ContainerId, RuntimeError> {
        let ContainerConfig {
            sandbox,
            container: spec,
            attempt,
        } = config;
        if spec.image.is_empty() {
            return Err(RuntimeError::InvalidConfig("empty image".to_owned()));
        }
        if spec.name.is_empty() {
            return Err(RuntimeError::InvalidConfig(
                "empty container name".to_owned(),
            ));
        }
        let inner = &self.inner;
        if inner.profile.is_missing(&spec.image) {
            return Err(RuntimeError::ImageNotFound {
                image: spec.image,
                reason: "the simulator's profile lists it as missing".to_owned(),
            });
        }
        let now = Instant::now();
        let mut state = inner.state.lock();
        let subject = Subject {
            pod: &sandbox.uid,
            name: &spec.name,
            image: &spec.image,
        };
        if let Some(reason) = inner.profile.take_start_fault(&subject) {
            return Err(RuntimeError::StartFailed {
                name: spec.name,
                pod: format!("{}/{}", sandbox.namespace, sandbox.name),
                reason: reason.to_string(),
            });
        }
        let known = well_known(&spec.image, &spec.args);
        let (specific, any) = inner.profile.behavior(&subject);
        let behavior = specific
            .or(known.as_ref().map(|k| k.behavior))
            .or(any)
            .unwrap_or(SimBehavior::RunForever);
        let starts = now + inner.start_latency;
        let mut cold = SimCold {
            planned_exit: match behavior {
                SimBehavior::RunForever => None,
                SimBehavior::Exit { after, code } => Some((starts + after, code)),
            },
            ..SimCold::default()
        };
        if let Some(output) = known.as_ref().and_then(|k| k.output.as_deref()) {
            let mut log = SimLog::default();
            log.append(output.as_bytes(), inner.log_limit);
            cold.log = Some(log);
        }
        let handler =
            |p: &Option<Box<orchestra_core::kinds::Probe>>| p.as_ref().and_then(|p| p.handler());
        let probes = [
            handler(&spec.readiness_probe),
            handler(&spec.liveness_probe),
            handler(&spec.startup_probe),
        ];
        if !spec.ports.is_empty() || probes.iter().any(Option::is_some) {
            cold.extras = Some(Box::new(Extras {
                ports: spec.ports,
                probes,
            }));
        }
        let cold = (cold.planned_exit.is_some() || cold.log.is_some() || cold.extras.is_some())
            .then(|| Box::new(cold));

        let pod = match state.pods.get(sandbox.uid.as_str()) {
            Some(pod) => pod.0.clone(),
            None => {
                let ip = Ipv4Addr::from(inner.subnet | (state.next_ip % 254 + 1));
                let namespace = state.namespaces.intern(&sandbox.namespace);
                let pod = Arc::new(SimPod::new(&sandbox.uid, &sandbox.name, namespace, ip)?);
                state.next_ip = state.next_ip.wrapping_add(1);
                state.pods.insert(PodByUid(pod.clone()));
                pod
            }
        };
        let image = state.images.intern(&spec.name, &spec.image);
        let key = state.next_id;
        state.next_id += 1;
        state.generation += 1;
        state.containers.insert(
            key,
            Box::new(SimContainer {
                pod,
                spec: image,
                starts,
                attempt,
                ignores_term: known.is_some_and(|k| k.ignores_term),
                cold,
            }),
        );
        Ok(self.id(key))
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + grace;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake = self.with(id, |c, now| {
                if c.exit_at(now).is_some() {
                    return None;
                }
                if !c.ignores_term {
                    c.end(now, 143, Some(15), ExitReason::Error);
                    return None;
                }
                if now >= deadline {
                    kill(c, now, SimKill::Signal);
                    return None;
                }
                // It ignores TERM: wait for the grace to run out or for it to exit
                // on its own first.
                Some(c.next_change(now).map_or(deadline, |t| t.min(deadline)))
            })?;
            let Some(wake) = wake else {
                self.inner.changed.notify_waiters();
                return Ok(());
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = &mut changed => {}
            }
        }
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let key = self.key(id)?;
        {
            let mut state = self.inner.state.lock();
            let c = state
                .containers
                .remove(&key)
                .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
            state.generation += 1;
            // Held by the set and this container alone: its last container is gone.
            if Arc::strong_count(&c.pod) <= 2 {
                state.pods.remove(c.pod.uid());
            }
            state.images.release(&c.spec);
        }
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn container_status(
        &self,
        id: &ContainerId,
    ) -> Result<RuntimeContainerStatus, RuntimeError> {
        let key = self.key(id)?;
        let state = self.inner.state.lock();
        let c = state
            .containers
            .get(&key)
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
        Ok(self.status_of(key, c, Instant::now()))
    }

    async fn list_containers(&self) -> Result<Vec<RuntimeContainerStatus>, RuntimeError> {
        let now = Instant::now();
        let state = self.inner.state.lock();
        Ok(state
            .containers
            .iter()
            .map(|(key, c)| self.status_of(*key, c, now))
            .collect())
    }

    async fn logs(&self, id: &ContainerId, options: LogOptions) -> Result<LogStream, RuntimeError> {
        let (first, offset) = self.with(id, |c, now| match c.visible_log(now) {
            Some(log) => {
                let all = log.all();
                let shown = match options.tail_lines {
                    Some(n) => tail_lines(all, n),
                    None => all,
                };
                (Bytes::copy_from_slice(shown), log.end())
            }
            None => (Bytes::new(), 0),
        })?;
        let head = futures::stream::iter((!first.is_empty()).then_some(Ok(first)));
        if !options.follow {
            return Ok(Box::pin(head));
        }
        let follower = Follower {
            runtime: self.clone(),
            id: id.clone(),
            offset,
        };
        let rest = futures::stream::unfold(follower, |mut f| async move {
            f.next_chunk().await.map(|chunk| (Ok(chunk), f))
        });
        Ok(Box::pin(futures::StreamExt::chain(head, rest)))
    }

    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, RuntimeError> {
        let profile = &self.inner.profile;
        self.with(id, |c, now| {
            if !c.is_running(now) {
                return Err(RuntimeError::InvalidState {
                    id: id.clone(),
                    reason: "not running".to_owned(),
                });
            }
            let usage = profile.usage(&Subject {
                pod: c.pod.uid(),
                name: &c.spec.name,
                image: &c.spec.image,
            });
            // CPU time as if the current rate had held since the start: synthetic
            // load has no history worth keeping per container.
            let nanos = c.running_for(now).as_nanos() * u128::from(usage.cpu_millicores) / 1000;
            Ok(ContainerStats {
                cpu_usage_nanos: u64::try_from(nanos).unwrap_or(u64::MAX),
                cpu_millicores: usage.cpu_millicores,
                memory_bytes: usage.memory_bytes,
            })
        })?
    }

    async fn probe(
        &self,
        id: &ContainerId,
        handler: &ProbeHandler,
        _timeout: Duration,
    ) -> Result<ProbeOutcome, RuntimeError> {
        let profile = &self.inner.profile;
        self.with(id, |c, now| probe::outcome(c, profile, handler, now))
    }

    fn change_marker(&self) -> Option<ChangeMarker> {
        let now = Instant::now();
        let state = self.inner.state.lock();
        let next_change = state
            .containers
            .values()
            .filter_map(|c| c.next_change(now))
            .min();
        Some(ChangeMarker {
            generation: state.generation,
            next_change,
        })
    }
}

//! What simulated containers do: the rules a [`SimProfile`] holds (behaviour, resource
//! usage, probe results, start faults, missing images), each settable for every
//! container, an image, a pod or one container of a pod.
//!
//! A profile is a cheap handle: clones share the same rules, so one profile can drive
//! the containers of thousands of [`SimRuntime`](super::SimRuntime)s (one per simulated
//! node) and an autoscaler test changes the load of a whole deployment with one call.
//! Rules are read when they matter: behaviour when a container starts, usage on every
//! `stats`, probe results on every `probe`. So a changed usage or readiness shows at
//! once, while a changed behaviour applies from the next start on (as a new image would).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{
    MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// Which containers a rule applies to. When several rules match a container, the most
/// specific wins: a container of a pod, then the pod, then the image, then [`Any`].
///
/// [`Any`]: SimSelector::Any
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SimSelector {
    /// Every container.
    Any,
    /// Containers started from this image (compared as written in the spec).
    Image(Arc<str>),
    /// Every container of the pod with this uid.
    Pod(Arc<str>),
    /// One container (by name) of the pod with this uid.
    Container {
        /// The pod's uid.
        pod: Arc<str>,
        /// The container's name within the pod.
        name: Arc<str>,
    },
}

impl SimSelector {
    /// Containers started from `image`.
    pub fn image(image: &str) -> SimSelector {
        SimSelector::Image(image.into())
    }

    /// Every container of the pod with uid `pod`.
    pub fn pod(pod: &str) -> SimSelector {
        SimSelector::Pod(pod.into())
    }

    /// The container `name` of the pod with uid `pod`.
    pub fn container(pod: &str, name: &str) -> SimSelector {
        SimSelector::Container {
            pod: pod.into(),
            name: name.into(),
        }
    }
}

/// What a simulated container does once it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimBehavior {
    /// Run until stopped or killed.
    RunForever,
    /// Exit on its own `after` this long running, with exit `code`.
    Exit {
        /// How long it runs.
        after: Duration,
        /// Its exit code (0 is reported as `Completed`, anything else as `Error`).
        code: i32,
    },
}

impl SimBehavior {
    /// Exit with `code` after running for `after`.
    pub const fn exit_after(after: Duration, code: i32) -> SimBehavior {
        SimBehavior::Exit { after, code }
    }

    /// A container that fails soon after every start (one second, exit code 1): what
    /// drives a node agent into crash-loop backoff.
    pub const fn crash_loop() -> SimBehavior {
        SimBehavior::Exit {
            after: Duration::from_secs(1),
            code: 1,
        }
    }
}

/// Synthetic resource usage of a running container, as `stats` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimUsage {
    /// CPU in millicores (1000 = one core busy).
    pub cpu_millicores: u64,
    /// Resident memory in bytes.
    pub memory_bytes: u64,
}

impl SimUsage {
    /// A usage of `cpu_millicores` and `memory_bytes`.
    pub const fn new(cpu_millicores: u64, memory_bytes: u64) -> SimUsage {
        SimUsage {
            cpu_millicores,
            memory_bytes,
        }
    }
}

impl Default for SimUsage {
    /// What an idle small process uses: no CPU and one MiB of memory (non-zero, as a
    /// real process's resident memory always is).
    fn default() -> Self {
        SimUsage::new(0, 1 << 20)
    }
}

/// Which probe of a container a simulated probe result is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimProbe {
    /// The readiness probe.
    Readiness,
    /// The liveness probe.
    Liveness,
    /// The startup probe.
    Startup,
}

impl SimProbe {
    pub(super) const ALL: [SimProbe; 3] =
        [SimProbe::Readiness, SimProbe::Liveness, SimProbe::Startup];

    fn index(self) -> usize {
        match self {
            SimProbe::Readiness => 0,
            SimProbe::Liveness => 1,
            SimProbe::Startup => 2,
        }
    }

    /// The name used in failure messages.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SimProbe::Readiness => "readiness",
            SimProbe::Liveness => "liveness",
            SimProbe::Startup => "startup",
        }
    }
}

/// The container a rule lookup is for.
pub(super) struct Subject<'a> {
    pub pod: &'a str,
    pub name: &'a str,
    pub image: &'a str,
}

/// One kind of rule at the four levels of specificity.
#[derive(Debug)]
struct Layered<V> {
    /// By pod uid, then container name: looked up with borrowed strings, so a lookup
    /// needs no shared string of its own (a container holds its pod's uid unshared).
    container: HashMap<Arc<str>, HashMap<Arc<str>, V>>,
    pod: HashMap<Arc<str>, V>,
    image: HashMap<Arc<str>, V>,
    any: Option<V>,
}

impl<V> Default for Layered<V> {
    fn default() -> Self {
        Layered {
            container: HashMap::new(),
            pod: HashMap::new(),
            image: HashMap::new(),
            any: None,
        }
    }
}

impl<V> Layered<V> {
    fn set(&mut self, selector: SimSelector, value: Option<V>) {
        fn put<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: Option<V>) {
            match value {
                Some(v) => {
                    map.insert(key, v);
                }
                None => {
                    map.remove(&key);
                }
            }
        }
        match selector {
            SimSelector::Any => self.any = value,
            SimSelector::Image(image) => put(&mut self.image, image, value),
            SimSelector::Pod(pod) => put(&mut self.pod, pod, value),
            SimSelector::Container { pod, name } => {
                let names = self.container.entry(pod.clone()).or_default();
                put(names, name, value);
                if names.is_empty() {
                    self.container.remove(&pod);
                }
            }
        }
    }

    /// The rule for exactly the container `subject`.
    fn for_container(&self, subject: &Subject<'_>) -> Option<&V> {
        self.container.get(subject.pod)?.get(subject.name)
    }

    /// The most specific rule for `subject` above the `Any` level.
    fn specific(&self, subject: &Subject<'_>) -> Option<&V> {
        if let Some(v) = self.for_container(subject) {
            return Some(v);
        }
        self.pod
            .get(subject.pod)
            .or_else(|| self.image.get(subject.image))
    }

    fn get(&self, subject: &Subject<'_>) -> Option<&V> {
        self.specific(subject).or(self.any.as_ref())
    }

    fn get_mut(&mut self, subject: &Subject<'_>) -> Option<&mut V> {
        if self.for_container(subject).is_some() {
            return self
                .container
                .get_mut(subject.pod)
                .and_then(|names| names.get_mut(subject.name));
        }
        if self.pod.contains_key(subject.pod) {
            return self.pod.get_mut(subject.pod);
        }
        if self.image.contains_key(subject.image) {
            return self.image.get_mut(subject.image);
        }
        self.any.as_mut()
    }
}

/// A pending start fault.
#[derive(Debug)]
struct StartFault {
    remaining: u32,
    reason: Arc<str>,
}

#[derive(Debug, Default)]
struct Rules {
    behavior: Layered<SimBehavior>,
    usage: Layered<SimUsage>,
    probes: [Layered<bool>; 3],
    start_faults: Layered<StartFault>,
    missing_images: std::collections::HashSet<Arc<str>>,
}

/// The rules simulated containers follow; cheap to clone, clones share the rules.
///
/// ```no_run
/// use std::time::Duration;
/// use orchestra_runtime::runtimes::{SimBehavior, SimProfile, SimSelector, SimUsage};
///
/// let profile = SimProfile::new();
/// // Every `web:2` container fails a second after it starts.
/// profile.set_behavior(SimSelector::image("web:2"), SimBehavior::crash_loop());
/// // Synthetic load for the autoscaler: 800m CPU per `web:1` container.
/// profile.set_usage(SimSelector::image("web:1"), SimUsage::new(800, 64 << 20));
/// // One pod's container stops being ready.
/// profile.set_ready("pod-uid", "web", false);
/// // The next three starts of `web:1` fail.
/// profile.fail_starts(SimSelector::image("web:1"), 3, "injected fault");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SimProfile {
    /// Made with the first rule: a simulated cluster may give every node a profile of
    /// its own, and the empty rule tables take a kilobyte.
    rules: Arc<RwLock<Option<Box<Rules>>>>,
}

impl SimProfile {
    /// A profile with no rules: well-known images behave as documented on
    /// [`SimRuntime`](super::SimRuntime), everything else runs forever, is ready and
    /// live, and uses [`SimUsage::default`].
    pub fn new() -> SimProfile {
        SimProfile::default()
    }

    /// The rules, made on first use, to change them.
    fn write(&self) -> MappedRwLockWriteGuard<'_, Rules> {
        RwLockWriteGuard::map(self.rules.write(), |rules| {
            &mut **rules.get_or_insert_default()
        })
    }

    /// The rules, if any was ever set.
    fn read(&self) -> Option<MappedRwLockReadGuard<'_, Rules>> {
        RwLockReadGuard::try_map(self.rules.read(), |rules| rules.as_deref()).ok()
    }

    /// What containers matching `selector` do from their next start on.
    pub fn set_behavior(&self, selector: SimSelector, behavior: SimBehavior) {
        self.write().behavior.set(selector, Some(behavior));
    }

    /// Drops the behaviour rule for exactly `selector`.
    pub fn clear_behavior(&self, selector: SimSelector) {
        self.write().behavior.set(selector, None);
    }

    /// The usage `stats` reports for running containers matching `selector`, from now on.
    pub fn set_usage(&self, selector: SimSelector, usage: SimUsage) {
        self.write().usage.set(selector, Some(usage));
    }

    /// Drops the usage rule for exactly `selector`.
    pub fn clear_usage(&self, selector: SimSelector) {
        self.write().usage.set(selector, None);
    }

    /// Forces the result of the `probe` probe of containers matching `selector`:
    /// `Some(true)` passes, `Some(false)` fails, `None` drops the rule.
    pub fn set_probe(&self, selector: SimSelector, probe: SimProbe, passes: Option<bool>) {
        self.write().probes[probe.index()].set(selector, passes);
    }

    /// Whether the readiness probe of container `container` of pod `pod_uid` passes.
    pub fn set_ready(&self, pod_uid: &str, container: &str, ready: bool) {
        self.set_probe(
            SimSelector::container(pod_uid, container),
            SimProbe::Readiness,
            Some(ready),
        );
    }

    /// Whether the liveness probe of container `container` of pod `pod_uid` passes.
    pub fn set_live(&self, pod_uid: &str, container: &str, live: bool) {
        self.set_probe(
            SimSelector::container(pod_uid, container),
            SimProbe::Liveness,
            Some(live),
        );
    }

    /// Makes the next `count` starts of containers matching `selector` fail with
    /// `StartFailed` and `reason`. A later call for the same selector replaces it.
    pub fn fail_starts(&self, selector: SimSelector, count: u32, reason: &str) {
        let fault = (count > 0).then(|| StartFault {
            remaining: count,
            reason: reason.into(),
        });
        self.write().start_faults.set(selector, fault);
    }

    /// Makes `image` unknown: starts of it fail with `ImageNotFound`.
    pub fn missing_image(&self, image: &str) {
        self.write().missing_images.insert(image.into());
    }

    pub(super) fn is_missing(&self, image: &str) -> bool {
        self.read().is_some_and(|rules| {
            !rules.missing_images.is_empty() && rules.missing_images.contains(image)
        })
    }

    /// Consumes one pending start fault for `subject`, returning its reason.
    pub(super) fn take_start_fault(&self, subject: &Subject<'_>) -> Option<Arc<str>> {
        {
            let rules = self.read()?;
            let faults = &rules.start_faults;
            if faults.any.is_none()
                && faults.container.is_empty()
                && faults.pod.is_empty()
                && faults.image.is_empty()
            {
                return None;
            }
        }
        let mut rules = self.write();
        let fault = rules.start_faults.get_mut(subject)?;
        fault.remaining = fault.remaining.saturating_sub(1);
        let reason = fault.reason.clone();
        if fault.remaining == 0 {
            // Drop the spent rule so the lookup fast path above stays fast.
            let selector = spent_selector(&rules.start_faults, subject);
            rules.start_faults.set(selector, None);
        }
        Some(reason)
    }

    /// The behaviour rule set for `subject` above the `Any` level, then the `Any` one.
    pub(super) fn behavior(
        &self,
        subject: &Subject<'_>,
    ) -> (Option<SimBehavior>, Option<SimBehavior>) {
        self.read().map_or((None, None), |rules| {
            (
                rules.behavior.specific(subject).copied(),
                rules.behavior.any,
            )
        })
    }

    pub(super) fn usage(&self, subject: &Subject<'_>) -> SimUsage {
        self.read()
            .and_then(|rules| rules.usage.get(subject).copied())
            .unwrap_or_default()
    }

    pub(super) fn probe(&self, subject: &Subject<'_>, probe: SimProbe) -> Option<bool> {
        self.read()
            .and_then(|rules| rules.probes[probe.index()].get(subject).copied())
    }
}

/// The selector of the rule `get_mut` found for `subject`, to remove it once spent.
fn spent_selector(faults: &Layered<StartFault>, subject: &Subject<'_>) -> SimSelector {
    if faults.for_container(subject).is_some() {
        SimSelector::container(subject.pod, subject.name)
    } else if faults.pod.contains_key(subject.pod) {
        SimSelector::pod(subject.pod)
    } else if faults.image.contains_key(subject.image) {
        SimSelector::image(subject.image)
    } else {
        SimSelector::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_profile_holds_no_rule_tables_and_reads_as_empty() {
        let profile = SimProfile::new();
        let subject = Subject {
            pod: "uid-1",
            name: "web",
            image: "web:1",
        };
        assert_eq!(profile.behavior(&subject), (None, None));
        assert_eq!(profile.usage(&subject), SimUsage::default());
        assert_eq!(profile.probe(&subject, SimProbe::Readiness), None);
        assert!(!profile.is_missing("web:1"));
        assert!(profile.take_start_fault(&subject).is_none());
        assert!(profile.rules.read().is_none(), "reads make nothing");

        profile.set_ready("uid-1", "web", false);
        assert!(profile.rules.read().is_some());
        assert_eq!(profile.probe(&subject, SimProbe::Readiness), Some(false));
        assert_eq!(profile.probe(&subject, SimProbe::Liveness), None);
    }
}

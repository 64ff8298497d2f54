//! The relist (the kubelet's pod lifecycle event generator): every `relist_period` the
//! runtime's containers are listed and compared with the previous listing; each pod
//! whose containers changed state (started, exited, vanished, appeared) is queued
//! for a sync. This is how the agent notices a crash without polling every pod.
//!
//! Every agent relists every second, so with thousands of agents in one process the
//! comparison is the hot part: [`SeenContainers`] keeps the last listing sorted by
//! container id, and a listing in the same order (SimRuntime lists in that order;
//! another runtime's listing is sorted first) is compared with it in one pass: a relist
//! that finds the same containers updates them in place, allocating nothing of its own
//! and cloning no key (the runtime's listing itself still allocates); one where some
//! appeared or vanished merges the two into a new list. A sorted vector costs a third
//! of a hash map's table for the few dozen containers of an agent. And a runtime that
//! gives [`ChangeMarker`]s (SimRuntime does) is not listed at all while nothing can
//! have changed, as Kubernetes' evented PLEG spares the relist.

use std::cmp::Ordering;
use std::sync::Arc;

use orchestra_core::kinds::Pod;
use orchestra_core::{ChangeMarker, ContainerId, RuntimeContainerState, RuntimeContainerStatus};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::AgentContext;
use crate::reconcile::{Cache, ObjectKey, WorkQueue};

/// Starts the relist loop, keeping `seen` (which the pod syncs read too) up to date.
pub(crate) fn run(
    ctx: AgentContext,
    queue: Arc<WorkQueue<ObjectKey>>,
    pods: Cache<Pod>,
    seen: Arc<Mutex<SeenContainers>>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut listed_at: Option<ChangeMarker> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(ctx.config.relist_period) => {}
            }
            // Taken before listing: a change that slips in between shows in the
            // listing and moves the next marker on, so it is never skipped.
            let marker = ctx.runtime.change_marker();
            if nothing_changed(listed_at, marker, Instant::now()) {
                continue;
            }
            match ctx.runtime.list_containers().await {
                Ok(list) => {
                    seen.lock().relist(list, &pods, |pod| queue.add(pod));
                    listed_at = marker;
                }
                Err(error) => tracing::warn!(%error, "relist failed"),
            }
        }
    })
}

/// Whether the runtime promises a listing now would show what the listing taken at
/// marker `listed_at` showed: the same generation, and no container due to change by
/// time alone yet (see [`ChangeMarker`]). A runtime that gives no markers is always
/// listed.
fn nothing_changed(
    listed_at: Option<ChangeMarker>,
    now: Option<ChangeMarker>,
    at: Instant,
) -> bool {
    match (listed_at, now) {
        (Some(then), Some(now)) => now.promises_no_change_since(&then, at),
        _ => false,
    }
}

/// What the last relist saw of one container.
struct Seen {
    /// Its id (a boxed string: the list is kept as long as the agent runs).
    id: Box<str>,
    pod: ObjectKey,
    phase: Phase,
}

/// The part of a container's state a relist compares. An id names one run of a
/// container, which only moves forward through these (an exited container's details
/// never change), so a change of phase is every change: keeping the whole state for
/// every container would cost 64 bytes where this costs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Exited,
}

impl From<&RuntimeContainerState> for Phase {
    fn from(state: &RuntimeContainerState) -> Phase {
        match state {
            RuntimeContainerState::Created => Phase::Created,
            RuntimeContainerState::Running => Phase::Running,
            RuntimeContainerState::Exited { .. } => Phase::Exited,
        }
    }
}

/// The order containers are kept in: by id, shorter ids first. For ids made of a
/// fixed prefix and a counter (SimRuntime's `sim-{node}-{n}`) that is the order of the
/// counter, the order SimRuntime lists them in, so its listings need no sorting.
fn listing_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The containers the last relist saw, sorted by [`listing_order`] of their ids, and
/// the comparison with the next.
#[derive(Default)]
pub(crate) struct SeenContainers {
    seen: Vec<Seen>,
}

impl SeenContainers {
    /// The containers of pod `pod` the last relist saw: what a pod the agent holds no
    /// record of left behind, without listing the runtime again.
    pub(crate) fn containers_of(&self, pod: &ObjectKey) -> Vec<ContainerId> {
        self.seen
            .iter()
            .filter(|seen| seen.pod == *pod)
            .map(|seen| ContainerId(String::from(&*seen.id)))
            .collect()
    }

    /// Takes in a new listing and calls `changed` with the pod of every container that
    /// appeared, vanished or changed state since the last one (a pod may be named more
    /// than once; the queue coalesces).
    pub(crate) fn relist(
        &mut self,
        mut list: Vec<RuntimeContainerStatus>,
        pods: &Cache<Pod>,
        mut changed: impl FnMut(ObjectKey),
    ) {
        let order = |a: &RuntimeContainerStatus, b: &RuntimeContainerStatus| {
            listing_order(&a.id.0, &b.id.0)
        };
        if !list.is_sorted_by(|a, b| order(a, b).is_le()) {
            list.sort_unstable_by(order);
        }
        let same_containers = self.seen.len() == list.len()
            && self.seen.iter().zip(&list).all(|(s, l)| *s.id == *l.id.0);
        if same_containers {
            for (seen, status) in self.seen.iter_mut().zip(&list) {
                let phase = Phase::from(&status.state);
                if seen.phase != phase {
                    seen.phase = phase;
                    changed(seen.pod.clone());
                }
            }
            return;
        }
        // Some appeared or vanished: merge the two sorted lists.
        let mut next = Vec::with_capacity(list.len());
        let mut last = std::mem::take(&mut self.seen).into_iter().peekable();
        for status in list {
            while let Some(gone) = last.next_if(|s| listing_order(&s.id, &status.id.0).is_lt()) {
                changed(gone.pod);
            }
            let phase = Phase::from(&status.state);
            match last.next_if(|s| *s.id == *status.id.0) {
                Some(mut seen) => {
                    if seen.phase != phase {
                        seen.phase = phase;
                        changed(seen.pod.clone());
                    }
                    next.push(seen);
                }
                None => {
                    // Kept for as long as the container lives: share the cache's key.
                    let pod = pods.key(Some(&status.sandbox.namespace), &status.sandbox.name);
                    changed(pod.clone());
                    let id = status.id.0.into_boxed_str();
                    next.push(Seen { id, pod, phase });
                }
            }
        }
        for gone in last {
            changed(gone.pod);
        }
        self.seen = next;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orchestra_core::kinds::Container;
    use orchestra_core::{ContainerConfig, PodSandbox, Runtime};

    use super::*;
    use crate::runtimes::{SimBehavior, SimKill, SimRuntime, SimSelector};

    async fn start(runtime: &SimRuntime, pod: &str, image: &str) -> ContainerId {
        let config = ContainerConfig {
            sandbox: PodSandbox {
                uid: format!("uid-{pod}"),
                namespace: "default".into(),
                name: pod.into(),
            },
            container: Container {
                name: "main".into(),
                image: image.into(),
                ..Container::default()
            },
            attempt: 0,
        };
        runtime.start_container(config).await.unwrap()
    }

    /// Containers start after 1 s; `crasher:1` exits 5 s after starting.
    fn runtime_with_a_crasher() -> SimRuntime {
        let runtime = SimRuntime::builder()
            .start_latency(Duration::from_secs(1))
            .build();
        runtime.profile().set_behavior(
            SimSelector::image("crasher:1"),
            SimBehavior::exit_after(Duration::from_secs(5), 1),
        );
        runtime
    }

    /// The pods one relist of `runtime` queues, sorted.
    async fn relist(seen: &mut SeenContainers, runtime: &SimRuntime) -> Vec<String> {
        let mut pods = Vec::new();
        let list = runtime.list_containers().await.unwrap();
        // No pod is cached: every key is made afresh.
        let cache = Cache::<Pod>::new_with_writer().cache().clone();
        seen.relist(list, &cache, |key| pods.push(key.name.to_string()));
        pods.sort();
        pods
    }

    #[tokio::test(start_paused = true)]
    async fn queues_pods_whose_containers_appear_change_or_vanish() {
        let runtime = runtime_with_a_crasher();
        let mut seen = SeenContainers::default();
        let web = start(&runtime, "web", "web:1").await;
        start(&runtime, "crasher", "crasher:1").await;
        assert_eq!(relist(&mut seen, &runtime).await, ["crasher", "web"]);
        assert!(
            relist(&mut seen, &runtime).await.is_empty(),
            "nothing changed"
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["crasher", "web"],
            "both started"
        );
        assert!(relist(&mut seen, &runtime).await.is_empty());

        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["crasher"],
            "exited on its own"
        );

        runtime.kill(&web, SimKill::OutOfMemory).unwrap();
        assert_eq!(relist(&mut seen, &runtime).await, ["web"], "killed");
        assert!(relist(&mut seen, &runtime).await.is_empty());

        runtime.remove_container(&web).await.unwrap();
        let new_web = start(&runtime, "web", "web:1").await;
        assert_eq!(
            relist(&mut seen, &runtime).await,
            ["web", "web"],
            "one gone, one new"
        );
        assert!(relist(&mut seen, &runtime).await.is_empty());
        assert_eq!(
            seen.containers_of(&ObjectKey::namespaced("default", "web")),
            [new_web],
            "what is left of a pod, as last listed"
        );
    }

    /// A relist with markers: the skip never hides a change (whenever the marker says
    /// nothing changed, a listing finds nothing), and it does skip when nothing did.
    #[tokio::test(start_paused = true)]
    async fn markers_skip_only_relists_that_would_find_nothing() {
        let runtime = runtime_with_a_crasher();
        let mut seen = SeenContainers::default();
        let mut listed_at = None;
        // Relists as the agent does; returns whether it listed and what it queued.
        let mut step = async |seen: &mut SeenContainers| {
            let marker = runtime.change_marker();
            assert!(marker.is_some(), "SimRuntime gives markers");
            let skipped = nothing_changed(listed_at, marker, Instant::now());
            let queued = relist(seen, &runtime).await;
            assert!(
                !skipped || queued.is_empty(),
                "a skipped relist would have missed {queued:?}"
            );
            listed_at = marker;
            (!skipped, queued)
        };
        let web = start(&runtime, "web", "web:1").await;
        start(&runtime, "crasher", "crasher:1").await;
        assert_eq!(
            step(&mut seen).await,
            (true, vec!["crasher".into(), "web".into()])
        );
        // Both start after 1 s: not before.
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(step(&mut seen).await, (false, vec![]));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            step(&mut seen).await,
            (true, vec!["crasher".into(), "web".into()])
        );
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            step(&mut seen).await,
            (false, vec![]),
            "quiet until the exit"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(step(&mut seen).await, (true, vec!["crasher".into()]));
        assert_eq!(step(&mut seen).await, (false, vec![]));

        runtime.kill(&web, SimKill::Signal).unwrap();
        assert_eq!(step(&mut seen).await, (true, vec!["web".into()]), "a kill");
        runtime.remove_container(&web).await.unwrap();
        let web = start(&runtime, "web", "web:1").await;
        assert!(step(&mut seen).await.0, "a removal and a start");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(step(&mut seen).await, (true, vec!["web".into()]));
        runtime.stop_container(&web, Duration::ZERO).await.unwrap();
        assert_eq!(step(&mut seen).await, (true, vec!["web".into()]), "a stop");
        assert_eq!(step(&mut seen).await, (false, vec![]));
    }

    /// A listing as a runtime that lists in no particular order gives it.
    fn listing(containers: &[(&str, &str, RuntimeContainerState)]) -> Vec<RuntimeContainerStatus> {
        containers
            .iter()
            .map(|(id, pod, state)| RuntimeContainerStatus {
                id: ContainerId((*id).into()),
                sandbox: PodSandbox {
                    uid: format!("uid-{pod}"),
                    namespace: "default".into(),
                    name: (*pod).into(),
                },
                name: "main".into(),
                image: "web:1".into(),
                attempt: 0,
                state: state.clone(),
                created_at: orchestra_core::Time::UNIX_EPOCH,
                started_at: None,
                finished_at: None,
                ip: None,
            })
            .collect()
    }

    #[test]
    fn listings_in_any_order_compare_by_id() {
        use RuntimeContainerState::{Created, Running};
        let cache = Cache::<Pod>::new_with_writer().cache().clone();
        let mut seen = SeenContainers::default();
        let mut relist = |list| {
            let mut pods = Vec::new();
            seen.relist(list, &cache, |key| pods.push(key.name.to_string()));
            pods.sort();
            pods
        };
        let first = listing(&[
            ("c-10", "b", Created),
            ("c-9", "a", Created),
            ("x", "c", Running),
        ]);
        assert_eq!(relist(first), ["a", "b", "c"]);
        let reordered = listing(&[
            ("x", "c", Running),
            ("c-9", "a", Created),
            ("c-10", "b", Created),
        ]);
        assert!(relist(reordered).is_empty(), "the same containers");
        let changed = listing(&[
            ("c-10", "b", Running),
            ("x", "c", Running),
            ("c-9", "a", Created),
        ]);
        assert_eq!(relist(changed), ["b"]);
        let moved = listing(&[
            ("c-11", "d", Created),
            ("c-10", "b", Running),
            ("c-8", "e", Created),
        ]);
        assert_eq!(relist(moved), ["a", "c", "d", "e"], "two gone, two new");
        assert!(
            relist(listing(&[
                ("c-8", "e", Created),
                ("c-10", "b", Running),
                ("c-11", "d", Created),
            ]))
            .is_empty()
        );
        assert_eq!(relist(Vec::new()), ["b", "d", "e"], "all gone");
        assert!(relist(Vec::new()).is_empty());
    }

    #[test]
    fn ids_of_a_counter_sort_by_the_counter() {
        let mut ids = ["sim-1-10", "sim-1-9", "sim-1-100", "sim-1-11", "sim-1-0"];
        ids.sort_by(|a, b| listing_order(a, b));
        assert_eq!(
            ids,
            ["sim-1-0", "sim-1-9", "sim-1-10", "sim-1-11", "sim-1-100"]
        );
    }

    #[test]
    fn without_markers_every_relist_lists() {
        let marker = ChangeMarker {
            generation: 1,
            next_change: None,
        };
        let now = Instant::now();
        assert!(!nothing_changed(None, None, now));
        assert!(
            !nothing_changed(None, Some(marker), now),
            "never listed yet"
        );
        assert!(nothing_changed(Some(marker), Some(marker), now));
        let moved = ChangeMarker {
            generation: 2,
            ..marker
        };
        assert!(!nothing_changed(Some(marker), Some(moved), now));
    }
}

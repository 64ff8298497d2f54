//! The scheduling loop: one task that owns the snapshot and the queue, applies
//! informer events to them, runs one cycle at a time, and hands bind writes to their
//! own tasks so the next cycle never waits for the store.

use std::sync::Arc;

use orchestra_core::kinds::{ConditionStatus, Node, POD_SCHEDULED, Pod, PodStatus};
use orchestra_core::{Api, ApiError, Client};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::algorithm::{AlgorithmConfig, FitError, ScanCursor, schedule_pod};
use super::framework::{CycleState, Profile};
use super::pod_info::PodInfo;
use super::queue::{SchedulingQueue, SchedulingQueueConfig};
use super::snapshot::{NodeChange, Snapshot};
use crate::keys::KeyMap;
use crate::reconcile::{
    Cache, ErrorChain, EventRecorder, EventType, InformerEvent, Informers, ObjectKey,
};

/// How many cycles run back to back before the loop yields to other tasks.
const CYCLES_PER_YIELD: u32 = 64;

/// The reason of `PodScheduled=False` and of the Event for a pod no node can take.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";

/// The Event reason for a failed scheduling attempt.
pub const REASON_FAILED_SCHEDULING: &str = "FailedScheduling";

/// What the loop needs from its owner.
pub(crate) struct LoopSettings {
    pub profiles: Vec<Arc<Profile>>,
    pub algorithm: AlgorithmConfig,
    pub queue: SchedulingQueueConfig,
    pub max_binds_in_flight: usize,
    pub seed: u64,
}

struct BindOutcome {
    key: ObjectKey,
    /// Which pod of that name: one deleted and re-created while its bind was in
    /// flight is another pod, with bookkeeping of its own.
    uid: Option<String>,
    node: Arc<str>,
    result: Result<(), ApiError>,
}

/// A pod between its cycle and the end of its bind, kept for Unreserve.
struct Reserved {
    info: PodInfo,
    state: CycleState,
    profile: usize,
}

pub(crate) struct SchedulingLoop {
    settings: LoopSettings,
    client: Client,
    pods: Cache<Pod>,
    snapshot: Snapshot,
    queue: SchedulingQueue,
    cursor: ScanCursor,
    rng: SmallRng,
    recorder: EventRecorder,
    binds_in_flight: usize,
    reserved: KeyMap<Reserved>,
    bind_tx: mpsc::UnboundedSender<BindOutcome>,
}

impl SchedulingLoop {
    /// Runs until `cancel` fires, over the shared informers' pods and nodes.
    pub(crate) async fn run(
        settings: LoopSettings,
        client: Client,
        informers: Informers,
        cancel: CancellationToken,
    ) {
        let pod_informer = informers.get::<Pod>();
        let mut pod_events = pod_informer.subscribe();
        let mut node_events = informers.get::<Node>().subscribe();
        let (bind_tx, mut bind_results) = mpsc::unbounded_channel();
        let recorder = EventRecorder::new(
            client.clone(),
            settings
                .profiles
                .first()
                .map_or("default-scheduler", |p| p.scheduler_name()),
        );
        let mut this = SchedulingLoop {
            queue: SchedulingQueue::new(settings.queue.clone()),
            rng: SmallRng::seed_from_u64(settings.seed),
            settings,
            client,
            pods: pod_informer.cache(),
            snapshot: Snapshot::new(),
            cursor: ScanCursor::default(),
            recorder,
            binds_in_flight: 0,
            reserved: KeyMap::new(),
            bind_tx,
        };
        let mut cycles = 0u32;
        loop {
            // Apply everything that already happened before deciding anything.
            while let Ok(event) = node_events.try_recv() {
                this.on_node(event);
            }
            while let Ok(event) = pod_events.try_recv() {
                this.on_pod(event);
            }
            while let Ok(outcome) = bind_results.try_recv() {
                this.on_bound(outcome);
            }
            this.queue.flush(Instant::now());
            if this.binds_in_flight < this.settings.max_binds_in_flight
                && let Some(key) = this.queue.pop()
            {
                this.schedule(key);
                cycles += 1;
                if cycles % CYCLES_PER_YIELD == 0 {
                    tokio::task::yield_now().await;
                }
                if cancel.is_cancelled() {
                    break;
                }
                continue;
            }
            let deadline = this.queue.next_deadline();
            tokio::select! {
                _ = cancel.cancelled() => break,
                event = node_events.recv() => match event {
                    Some(e) => this.on_node(e),
                    None => break,
                },
                event = pod_events.recv() => match event {
                    Some(e) => this.on_pod(e),
                    None => break,
                },
                Some(outcome) = bind_results.recv() => this.on_bound(outcome),
                _ = sleep_until(deadline) => {}
            }
        }
    }

    fn on_node(&mut self, event: InformerEvent<Node>) {
        match event {
            InformerEvent::Added(node) | InformerEvent::Updated { new: node, .. } => {
                let change = self.snapshot.upsert_node(node);
                if matches!(change, NodeChange::Added | NodeChange::Loosened) {
                    self.queue.move_all_unschedulable(Instant::now());
                }
            }
            InformerEvent::Deleted(node) => {
                self.snapshot
                    .remove_node(node.metadata.name.as_deref().unwrap_or_default());
            }
        }
    }

    fn on_pod(&mut self, event: InformerEvent<Pod>) {
        let now = Instant::now();
        match event {
            InformerEvent::Deleted(pod) => {
                let key = self.key_of(&pod);
                let freed = self.snapshot.placement_of(&key).is_some();
                self.snapshot.remove_pod(&key);
                self.queue.remove(&key);
                if freed {
                    self.queue.move_all_unschedulable(now);
                }
            }
            InformerEvent::Added(pod) => self.on_pod_state(&pod, true, now),
            InformerEvent::Updated { old, new } => {
                // Our own status writes (PodScheduled=False) come back as updates; only a
                // change of what scheduling looks at is a reason to try again. A bound
                // pod (most updates: its agent's status) is not queued either way.
                let relevant = new.node_name().is_none() && old.spec != new.spec
                    || old.metadata.labels != new.metadata.labels
                    || old.metadata.deletion_timestamp != new.metadata.deletion_timestamp
                    || old.is_terminal() != new.is_terminal();
                self.on_pod_state(&new, relevant, now);
            }
        }
    }

    fn on_pod_state(&mut self, pod: &Arc<Pod>, changed: bool, now: Instant) {
        let key = self.key_of(pod);
        if pod.node_name().is_some() {
            let was_placed = self.snapshot.placement_of(&key).is_some();
            self.snapshot.observe_pod(key.clone(), pod);
            self.queue.remove(&key);
            if was_placed && self.snapshot.placement_of(&key).is_none() {
                // It finished: its node has room again.
                self.queue.move_all_unschedulable(now);
            }
            return;
        }
        let wanted = self.profile_for(pod).is_some()
            && !pod.metadata.is_being_deleted()
            && !pod.is_terminal();
        if !wanted {
            self.queue.remove(&key);
        } else if self.snapshot.is_assumed(&key) {
            // Its bind is in flight.
        } else if changed || !self.queue.contains(&key) {
            self.queue.add(key, pod.spec.priority.unwrap_or(0), now);
        }
    }

    /// The key to keep for `pod`, shared with the cache's: the snapshot's own when it
    /// has placed the pod (most events: its agent's status updates), so the cache's
    /// lock, which its informer takes for every event, is left alone.
    fn key_of(&self, pod: &Pod) -> ObjectKey {
        self.snapshot
            .key_of(pod)
            .unwrap_or_else(|| self.pods.key_of(pod))
    }

    fn profile_for(&self, pod: &Pod) -> Option<usize> {
        let name = pod
            .spec
            .scheduler_name
            .as_deref()
            .unwrap_or(orchestra_core::DEFAULT_SCHEDULER_NAME);
        self.settings
            .profiles
            .iter()
            .position(|p| p.scheduler_name() == name)
    }

    /// One scheduling cycle for the pod `key`.
    fn schedule(&mut self, key: ObjectKey) {
        let now = Instant::now();
        let Some(pod) = self.pods.get(&key) else {
            self.queue.remove(&key);
            return;
        };
        let Some(profile_index) = self.profile_for(&pod) else {
            self.queue.remove(&key);
            return;
        };
        if pod.node_name().is_some() || pod.metadata.is_being_deleted() || pod.is_terminal() {
            self.queue.remove(&key);
            return;
        }
        let info = PodInfo::new(pod.clone());
        let profile = self.settings.profiles[profile_index].clone();
        let started = std::time::Instant::now();
        let outcome = schedule_pod(
            &profile,
            &self.settings.algorithm,
            &info,
            &self.snapshot,
            &mut self.cursor,
            &mut self.rng,
        );
        metrics::histogram!("orchestra_scheduler_cycle_seconds")
            .record(started.elapsed().as_secs_f64());
        let result = match outcome {
            Ok(result) => result,
            Err(fit) => {
                self.unschedulable(&key, &pod, fit, now);
                return;
            }
        };
        let node = result.node_name.clone();
        for (i, plugin) in profile.reserve.iter().enumerate() {
            if let Err(error) = plugin.reserve(&result.state, &info, &node) {
                for undo in profile.reserve[..=i].iter().rev() {
                    undo.unreserve(&result.state, &info, &node);
                }
                tracing::warn!(pod = %key, node = %node, error = %ErrorChain(&error), "reserve failed");
                self.queue.requeue_backoff(&key, now);
                return;
            }
        }
        self.snapshot.assume(key.clone(), &info, result.node_index);
        let binder = profile
            .bind
            .clone()
            .expect("every profile has a binder when the loop runs");
        self.reserved.insert(
            key.clone(),
            Reserved {
                info,
                state: result.state,
                profile: profile_index,
            },
        );
        self.binds_in_flight += 1;
        let tx = self.bind_tx.clone();
        tokio::spawn(async move {
            let result = binder.bind(&pod, &node).await;
            let uid = pod.metadata.uid.clone();
            let _ = tx.send(BindOutcome {
                key,
                uid,
                node,
                result,
            });
        });
    }

    fn on_bound(&mut self, outcome: BindOutcome) {
        self.binds_in_flight -= 1;
        let ours = self
            .reserved
            .get(&outcome.key)
            .is_some_and(|r| r.info.pod.metadata.uid == outcome.uid);
        if !ours {
            // The bind of an earlier pod of this name (deleted meanwhile; its placement
            // went with it): the entries now under the name are the new pod's.
            return;
        }
        let reserved = self.reserved.remove(&outcome.key);
        match outcome.result {
            Ok(()) => {
                metrics::counter!("orchestra_scheduler_pods_scheduled_total").increment(1);
                self.queue.done(&outcome.key);
            }
            Err(error) => {
                metrics::counter!("orchestra_scheduler_bind_errors_total").increment(1);
                tracing::debug!(pod = %outcome.key, node = %outcome.node, error = %ErrorChain(&error), "bind failed; forgetting the assumption");
                self.snapshot.forget(&outcome.key);
                if let Some(r) = reserved {
                    for plugin in self.settings.profiles[r.profile].reserve.iter().rev() {
                        plugin.unreserve(&r.state, &r.info, &outcome.node);
                    }
                }
                let now = Instant::now();
                if matches!(error, ApiError::NotFound { .. }) {
                    self.queue.remove(&outcome.key);
                } else {
                    // Conflict (bound elsewhere, re-created, being deleted) or a store
                    // error: try again after a backoff; the next cycle reads the pod's
                    // latest state and drops it if it no longer needs scheduling.
                    self.queue.requeue_backoff(&outcome.key, now);
                }
                // The node has room again for pods that did not fit.
                self.queue.move_all_unschedulable(now);
            }
        }
    }

    fn unschedulable(&mut self, key: &ObjectKey, pod: &Arc<Pod>, fit: FitError, now: Instant) {
        if fit.nominated.is_some() {
            self.queue.requeue_backoff(key, now);
            return;
        }
        metrics::counter!("orchestra_scheduler_unschedulable_total").increment(1);
        self.queue.requeue_unschedulable(key, now);
        let message = fit.to_string();
        tracing::debug!(pod = %key, %message, "unschedulable");
        let already_reported = pod.condition(POD_SCHEDULED).is_some_and(|c| {
            c.status == ConditionStatus::False && c.message.as_deref() == Some(message.as_str())
        });
        if already_reported {
            return;
        }
        let client = self.client.clone();
        let recorder = self.recorder.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            report_unschedulable(client, recorder, pod, message).await;
        });
    }
}

/// Writes `PodScheduled=False` (reason `Unschedulable`) and a `FailedScheduling` Event.
async fn report_unschedulable(
    client: Client,
    recorder: EventRecorder,
    pod: Arc<Pod>,
    message: String,
) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let now = client.clock().now();
    let written = pods
        .update_status_with(name, |p| {
            if p.node_name().is_none() {
                p.status
                    .get_or_insert_with(PodStatus::default)
                    .set_condition(
                        POD_SCHEDULED,
                        ConditionStatus::False,
                        Some(REASON_UNSCHEDULABLE),
                        Some(&message),
                        now,
                    );
            }
        })
        .await;
    if let Err(error) = written
        && !matches!(error, ApiError::NotFound { .. })
    {
        tracing::warn!(pod = name, %error, "could not record PodScheduled=False");
    }
    if let Err(error) = recorder
        .record(
            &*pod,
            EventType::Warning,
            REASON_FAILED_SCHEDULING,
            &message,
        )
        .await
    {
        tracing::warn!(pod = name, %error, "could not record the FailedScheduling event");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

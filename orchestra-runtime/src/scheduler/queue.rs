//! The scheduling queue: which pod to try next, and when to try again.
//!
//! Three sub-queues, as in Kubernetes:
//! - **active**: pods ready to be tried, highest `spec.priority` first, then first in,
//!   first out;
//! - **backoff**: pods that failed recently and wait out a per-pod backoff (1 s doubling
//!   to 10 s by default) before going back to active;
//! - **unschedulable**: pods no node could take. They are not retried in a loop: a
//!   cluster event that could make them fit (a node added or loosened, a pod deleted)
//!   moves them back, and so does time (5 minutes by default) as a safety net.
//!
//! A pod that is being tried when such an event happens is not parked as
//! unschedulable (it goes to backoff instead), so an event during its cycle is never
//! lost. The queue is plain data: time is passed in, so it is tested without a clock.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

use crate::keys::{KeyMap, ObjectKey};

/// Settings of the [`SchedulingQueue`]; the defaults are kube-scheduler's.
#[derive(Clone, Debug)]
pub struct SchedulingQueueConfig {
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_in_unschedulable: Duration,
    pub(crate) unschedulable_flush_interval: Duration,
}

impl Default for SchedulingQueueConfig {
    fn default() -> Self {
        SchedulingQueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
            unschedulable_flush_interval: Duration::from_secs(30),
        }
    }
}

impl SchedulingQueueConfig {
    /// The backoff after a pod's first failed attempt, doubling with each further
    /// one. Default 1 s.
    #[must_use]
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The longest backoff. Default 10 s.
    #[must_use]
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// How long a pod stays unschedulable without any event that could help it before
    /// it is retried anyway. Default 5 min.
    #[must_use]
    pub fn max_in_unschedulable(mut self, d: Duration) -> Self {
        self.max_in_unschedulable = d;
        self
    }

    /// How often unschedulable pods are checked against
    /// [`max_in_unschedulable`](Self::max_in_unschedulable). Default 30 s.
    #[must_use]
    pub fn unschedulable_flush_interval(mut self, d: Duration) -> Self {
        self.unschedulable_flush_interval = d;
        self
    }
}

/// Where a known pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

#[derive(Debug)]
struct QueuedPod {
    priority: i32,
    /// Order of arrival, for FIFO among equal priorities.
    seq: u64,
    /// Distinguishes this pod's current heap entry from stale ones.
    token: u64,
    place: Place,
    attempts: u32,
    /// When its last attempt failed, for the backoff.
    failed_at: Option<Instant>,
    /// The scheduling cycle that popped it (while in flight).
    cycle: u64,
    /// The pod changed while it was in flight.
    updated_in_flight: bool,
    unschedulable_since: Option<Instant>,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveEntry {
    priority: i32,
    seq: u64,
    token: u64,
    key: ObjectKey,
}

impl Ord for ActiveEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The scheduling queue. Keys are pods' namespace/name.
#[derive(Debug)]
pub struct SchedulingQueue {
    config: SchedulingQueueConfig,
    pods: KeyMap<QueuedPod>,
    active: BinaryHeap<ActiveEntry>,
    backoff: BinaryHeap<Reverse<(Instant, u64, ObjectKey)>>,
    unschedulable: usize,
    next_seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    last_flush: Option<Instant>,
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(config: SchedulingQueueConfig) -> SchedulingQueue {
        SchedulingQueue {
            config,
            pods: KeyMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            unschedulable: 0,
            next_seq: 0,
            scheduling_cycle: 0,
            move_request_cycle: 0,
            last_flush: None,
        }
    }

    /// Pods waiting in (active, backoff, unschedulable).
    pub fn counts(&self) -> (usize, usize, usize) {
        let active = self
            .pods
            .values()
            .filter(|p| p.place == Place::Active)
            .count();
        let backoff = self
            .pods
            .values()
            .filter(|p| p.place == Place::Backoff)
            .count();
        (active, backoff, self.unschedulable)
    }

    /// Whether the pod is known to the queue (waiting or in flight).
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.pods.contains_key(key)
    }

    /// Whether the pod is parked as unschedulable.
    pub fn is_unschedulable(&self, key: &ObjectKey) -> bool {
        self.pods
            .get(key)
            .is_some_and(|p| p.place == Place::Unschedulable)
    }

    /// A pod to schedule appeared or changed. A new pod goes to active; a parked
    /// unschedulable pod that changed gets another try (to backoff if its backoff has
    /// not expired yet); a pod in flight is marked so a failed attempt retries soon.
    pub fn add(&mut self, key: ObjectKey, priority: i32, now: Instant) {
        match self.pods.get_mut(&key) {
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.pods.insert(
                    key.clone(),
                    QueuedPod {
                        priority,
                        seq,
                        token: 0,
                        place: Place::InFlight,
                        attempts: 0,
                        failed_at: None,
                        cycle: 0,
                        updated_in_flight: false,
                        unschedulable_since: None,
                    },
                );
                self.move_to_active(&key);
            }
            Some(pod) => {
                let old_priority = pod.priority;
                pod.priority = priority;
                match pod.place {
                    Place::InFlight => pod.updated_in_flight = true,
                    Place::Unschedulable => self.wake(&key, now),
                    Place::Active if old_priority != priority => self.move_to_active(&key),
                    Place::Active | Place::Backoff => {}
                }
            }
        }
    }

    /// Forgets a pod (deleted, or bound by someone else).
    pub fn remove(&mut self, key: &ObjectKey) {
        if let Some(pod) = self.pods.remove(key)
            && pod.place == Place::Unschedulable
        {
            self.unschedulable -= 1;
        }
    }

    /// The next pod to try, if one is active. It stays known (in flight) until
    /// [`done`](Self::done), [`requeue_unschedulable`](Self::requeue_unschedulable),
    /// [`requeue_backoff`](Self::requeue_backoff) or [`remove`](Self::remove).
    pub fn pop(&mut self) -> Option<ObjectKey> {
        while let Some(entry) = self.active.pop() {
            let Some(pod) = self.pods.get_mut(&entry.key) else {
                continue;
            };
            if pod.place != Place::Active || pod.token != entry.token {
                continue;
            }
            self.scheduling_cycle += 1;
            pod.place = Place::InFlight;
            pod.attempts += 1;
            pod.cycle = self.scheduling_cycle;
            pod.updated_in_flight = false;
            return Some(entry.key);
        }
        None
    }

    /// The pod was placed: the queue forgets it.
    pub fn done(&mut self, key: &ObjectKey) {
        self.remove(key);
    }

    /// No node could take the pod. It is parked until an event could help — unless
    /// such an event (or a change to the pod) already happened during its attempt, in
    /// which case it only backs off.
    pub fn requeue_unschedulable(&mut self, key: &ObjectKey, now: Instant) {
        let move_request_cycle = self.move_request_cycle;
        let Some(pod) = self.pods.get_mut(key) else {
            return;
        };
        pod.failed_at = Some(now);
        if pod.updated_in_flight || move_request_cycle >= pod.cycle {
            self.move_to_backoff(key);
        } else {
            pod.place = Place::Unschedulable;
            pod.unschedulable_since = Some(now);
            self.unschedulable += 1;
        }
    }

    /// The attempt failed for another reason (a bind error): retry after the backoff.
    pub fn requeue_backoff(&mut self, key: &ObjectKey, now: Instant) {
        if let Some(pod) = self.pods.get_mut(key) {
            pod.failed_at = Some(now);
            self.move_to_backoff(key);
        }
    }

    /// Something changed that could make unschedulable pods fit: move them all back
    /// (to backoff where their backoff has not expired yet).
    pub fn move_all_unschedulable(&mut self, now: Instant) {
        self.move_request_cycle = self.scheduling_cycle;
        if self.unschedulable == 0 {
            return;
        }
        let parked: Vec<ObjectKey> = self
            .pods
            .iter()
            .filter(|(_, p)| p.place == Place::Unschedulable)
            .map(|(k, _)| k.clone())
            .collect();
        for key in parked {
            self.wake(&key, now);
        }
    }

    /// Moves pods whose backoff expired to active, and pods unschedulable for too long
    /// back into play.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((at, token, _))) = self.backoff.peek() {
            if *at > now {
                break;
            }
            let (token, Reverse((_, _, key))) = (*token, self.backoff.pop().expect("peeked"));
            if self
                .pods
                .get(&key)
                .is_some_and(|p| p.place == Place::Backoff && p.token == token)
            {
                self.move_to_active(&key);
            }
        }
        let due = self
            .last_flush
            .is_none_or(|t| now >= t + self.config.unschedulable_flush_interval);
        if due && self.unschedulable > 0 {
            self.last_flush = Some(now);
            let limit = self.config.max_in_unschedulable;
            let stale: Vec<ObjectKey> = self
                .pods
                .iter()
                .filter(|(_, p)| {
                    p.place == Place::Unschedulable
                        && p.unschedulable_since.is_some_and(|t| now >= t + limit)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                self.wake(&key, now);
            }
        }
    }

    /// When [`flush`](Self::flush) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|Reverse((at, _, _))| *at);
        let unschedulable = (self.unschedulable > 0).then(|| {
            self.last_flush.map_or_else(Instant::now, |t| {
                t + self.config.unschedulable_flush_interval
            })
        });
        match (backoff, unschedulable) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long the pod's current backoff lasts.
    fn backoff_for(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.config
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.config.max_backoff)
    }

    fn wake(&mut self, key: &ObjectKey, now: Instant) {
        let Some(pod) = self.pods.get(key) else {
            return;
        };
        if pod.place == Place::Unschedulable {
            self.unschedulable -= 1;
        }
        let until = pod.failed_at.map(|t| t + self.backoff_for(pod.attempts));
        if until.is_some_and(|u| u > now) {
            self.move_to_backoff(key);
        } else {
            self.move_to_active(key);
        }
    }

    fn move_to_active(&mut self, key: &ObjectKey) {
        let pod = self.pods.get_mut(key).expect("known pod");
        pod.token += 1;
        pod.place = Place::Active;
        self.active.push(ActiveEntry {
            priority: pod.priority,
            seq: pod.seq,
            token: pod.token,
            key: key.clone(),
        });
    }

    fn move_to_backoff(&mut self, key: &ObjectKey) {
        let attempts = self.pods[key].attempts;
        let backoff = self.backoff_for(attempts);
        let pod = self.pods.get_mut(key).expect("known pod");
        pod.token += 1;
        pod.place = Place::Backoff;
        let at = pod.failed_at.map_or_else(Instant::now, |t| t + backoff);
        self.backoff.push(Reverse((at, pod.token, key.clone())));
    }
}

#[cfg(test)]
mod tests;

//! The work queue's state machine: every key's pending time, the ready FIFO and the
//! delayed heap, with no locking, waking or clock of its own. [`super::WorkQueue`]
//! holds it behind one mutex, passes in `now`, and acts on what each method returns.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::super::rate_limit::{ExponentialBackoff, TokenBucket};
use super::{QueueKey, QueueMetrics};

/// Everything behind the queue's mutex.
pub(super) struct State<K> {
    /// Every key with pending work, in flight, or with a failure count; no others.
    entries: HashMap<K, Entry>,
    /// Keys ready to hand out, oldest first. A key is here at most once
    /// (`Entry::in_ready`) and never while in flight.
    ready: VecDeque<K>,
    /// Delayed keys by due time. An element is live only while its key's entry is
    /// `waiting` with `due` equal to its time; others are skipped when popped, and
    /// purged when they outnumber the keys.
    delayed: BinaryHeap<Delayed<K>>,
    /// Tie-breaker making heap order total, and FIFO among equal times.
    seq: u64,
    /// Workers sleeping in `next`, registered with the queue's `Notify`.
    pub(super) sleepers: usize,
    /// The sleeping worker that also waits for the earliest delayed time, if any: the
    /// time it sleeps until, and a token telling it apart from a worker that has since
    /// taken the role over (for an earlier time).
    timer: Option<(Instant, u64)>,
    next_token: u64,
    pub(super) shut_down: bool,
    backoff: ExponentialBackoff,
    bucket: Option<TokenBucket>,
    /// Entries with `waiting` set.
    waiting: usize,
    /// Entries with `started` set.
    in_flight: usize,
    adds_total: u64,
    retries_total: u64,
    handed_out_total: u64,
    queue_duration_total: Duration,
    work_duration_total: Duration,
}

/// One key's state. The key is *pending* when `due` is set, *ready* when in the ready
/// FIFO, *in flight* when `started` is set; pending while in flight is client-go's
/// "dirty while processing".
#[derive(Debug)]
struct Entry {
    /// When the key should next be handed out: the earliest time asked for.
    due: Option<Instant>,
    /// In `State::ready`; then `due` has passed and the key is not in flight.
    in_ready: bool,
    /// Has a live element in `State::delayed`; then `due` was in the future when set.
    waiting: bool,
    /// Handed out at this time and not yet done.
    started: Option<Instant>,
    /// Rate-limited adds since the last `forget`.
    failures: u32,
}

impl Entry {
    const IDLE: Self = Self {
        due: None,
        in_ready: false,
        waiting: false,
        started: None,
        failures: 0,
    };

    /// Nothing to remember: the entry can leave the map.
    fn is_idle(&self) -> bool {
        self.due.is_none() && self.started.is_none() && self.failures == 0
    }
}

/// An element of the delayed heap, ordered so that the earliest `at` is on top.
struct Delayed<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Delayed<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<K> Eq for Delayed<K> {}

impl<K> PartialOrd for Delayed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Delayed<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed, as `BinaryHeap` is a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What [`State::schedule`] did with an add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheduled {
    /// Nothing: shut down, or the key was already pending at the same or an earlier time.
    Absorbed,
    /// Newly pending and put in the ready FIFO: wake a worker.
    Ready,
    /// Pending and due, but in flight: handed out again when done.
    Dirty,
    /// Pending at this later time: a sleeping worker must wait for it, if it is the
    /// earliest.
    Delayed(Instant),
}

impl<K: QueueKey> State<K> {
    pub(super) fn new(backoff: ExponentialBackoff, bucket: Option<TokenBucket>) -> Self {
        Self {
            entries: HashMap::new(),
            ready: VecDeque::new(),
            delayed: BinaryHeap::new(),
            seq: 0,
            sleepers: 0,
            timer: None,
            next_token: 0,
            shut_down: false,
            backoff,
            bucket,
            waiting: 0,
            in_flight: 0,
            adds_total: 0,
            retries_total: 0,
            handed_out_total: 0,
            queue_duration_total: Duration::ZERO,
            work_duration_total: Duration::ZERO,
        }
    }

    /// Keys ready now.
    pub(super) fn depth(&self) -> usize {
        self.ready.len()
    }

    /// Records that `key` needs work at `at`, keeping the earliest time. Returns whether
    /// the add counted (gave the key new pending work) and what to do about it.
    pub(super) fn schedule(&mut self, key: K, at: Instant, now: Instant) -> (bool, Scheduled) {
        if self.shut_down {
            return (false, Scheduled::Absorbed);
        }
        // Looked up first so that the common case, a known key, hashes once and moves
        // `key` into the FIFO or heap without a clone.
        let (counted, scheduled) = if let Some(entry) = self.entries.get_mut(&key) {
            Self::schedule_entry(
                entry,
                key,
                at,
                now,
                &mut self.ready,
                &mut self.delayed,
                &mut self.seq,
                &mut self.waiting,
            )
        } else {
            let mut entry = Entry::IDLE;
            let result = Self::schedule_entry(
                &mut entry,
                key.clone(),
                at,
                now,
                &mut self.ready,
                &mut self.delayed,
                &mut self.seq,
                &mut self.waiting,
            );
            self.entries.insert(key, entry);
            result
        };
        if counted {
            self.adds_total += 1;
        }
        if matches!(scheduled, Scheduled::Delayed(_))
            && self.delayed.len() > 64 + 2 * self.entries.len()
        {
            self.purge_delayed();
        }
        (counted, scheduled)
    }

    #[allow(clippy::too_many_arguments)] // disjoint borrows of `self` next to `entry`
    fn schedule_entry(
        entry: &mut Entry,
        key: K,
        at: Instant,
        now: Instant,
        ready: &mut VecDeque<K>,
        delayed: &mut BinaryHeap<Delayed<K>>,
        seq: &mut u64,
        waiting: &mut usize,
    ) -> (bool, Scheduled) {
        if entry.in_ready || entry.due.is_some_and(|due| due <= at) {
            return (false, Scheduled::Absorbed);
        }
        let counted = entry.due.is_none();
        entry.due = Some(at);
        if at <= now {
            if entry.waiting {
                // Its heap element is dead now; it is skipped when popped.
                entry.waiting = false;
                *waiting -= 1;
            }
            if entry.started.is_some() {
                return (counted, Scheduled::Dirty);
            }
            entry.in_ready = true;
            ready.push_back(key);
            (counted, Scheduled::Ready)
        } else {
            if !entry.waiting {
                entry.waiting = true;
                *waiting += 1;
            }
            *seq += 1;
            delayed.push(Delayed { at, seq: *seq, key });
            (counted, Scheduled::Delayed(at))
        }
    }

    /// Drops dead heap elements (their key's time moved earlier, or was replaced by an
    /// immediate add). Triggered when the heap grows past twice the keys known, so the
    /// cost is amortized over the adds that made the garbage.
    fn purge_delayed(&mut self) {
        let entries = &self.entries;
        self.delayed.retain(|element| {
            entries
                .get(&element.key)
                .is_some_and(|entry| entry.waiting && entry.due == Some(element.at))
        });
    }

    /// Moves the delayed keys due by `now` into the ready FIFO (or, for keys in flight,
    /// leaves them pending, to be made ready when done).
    pub(super) fn promote_due(&mut self, now: Instant) {
        while let Some(top) = self.delayed.peek() {
            if top.at > now {
                break;
            }
            let Some(Delayed { at, key, .. }) = self.delayed.pop() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if !entry.waiting || entry.due != Some(at) {
                continue;
            }
            entry.waiting = false;
            self.waiting -= 1;
            if entry.started.is_none() {
                debug_assert!(!entry.in_ready, "a waiting key is not ready");
                entry.in_ready = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Takes the oldest ready key and marks it in flight; returns it with how long it
    /// had been due.
    pub(super) fn hand_out(&mut self, now: Instant) -> Option<(K, Duration)> {
        let key = self.ready.pop_front()?;
        let entry = self
            .entries
            .get_mut(&key)
            .expect("a ready key has an entry");
        let due = entry.due.take().expect("a ready key is pending");
        entry.in_ready = false;
        entry.started = Some(now);
        let queued_for = now.saturating_duration_since(due);
        self.in_flight += 1;
        self.handed_out_total += 1;
        self.queue_duration_total += queued_for;
        Some((key, queued_for))
    }

    /// Marks `key` done. Returns how long it was in flight and whether it became ready
    /// again (pending and due), or `None` if it was not in flight.
    pub(super) fn finish(&mut self, key: &K, now: Instant) -> Option<(Duration, bool)> {
        let entry = self.entries.get_mut(key)?;
        let started = entry.started.take()?;
        let worked = now.saturating_duration_since(started);
        self.in_flight -= 1;
        self.work_duration_total += worked;
        let requeued = match entry.due {
            // Without a live heap element nothing else would make it ready.
            Some(due) if due <= now || !entry.waiting => {
                if entry.waiting {
                    entry.waiting = false;
                    self.waiting -= 1;
                }
                entry.in_ready = true;
                self.ready.push_back(key.clone());
                true
            }
            // Due later: its live heap element will make it ready.
            Some(_) => false,
            None => {
                if entry.is_idle() {
                    self.entries.remove(key);
                }
                false
            }
        };
        Some((worked, requeued))
    }

    /// Counts a failure of `key` and returns how long its retry waits: the longer of
    /// its exponential backoff and the overall bucket's wait. `None` when shut down.
    pub(super) fn retry_delay(&mut self, key: &K, now: Instant) -> Option<Duration> {
        if self.shut_down {
            return None;
        }
        self.retries_total += 1;
        // The failure count is kept on the entry even when the retry itself is
        // absorbed by an earlier pending time, as client-go counts every failure.
        if !self.entries.contains_key(key) {
            self.entries.insert(key.clone(), Entry::IDLE);
        }
        let failures = &mut self
            .entries
            .get_mut(key)
            .expect("inserted when missing")
            .failures;
        let mut delay = self.backoff.delay(*failures);
        *failures = failures.saturating_add(1);
        if let Some(bucket) = self.bucket.as_mut() {
            delay = delay.max(bucket.reserve(now));
        }
        Some(delay)
    }

    /// Resets the failure count of `key`.
    pub(super) fn forget(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.failures = 0;
            if entry.is_idle() {
                self.entries.remove(key);
            }
        }
    }

    /// Failures of `key` since it was last forgotten.
    pub(super) fn failures(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |entry| entry.failures)
    }

    /// Stops handing out and drops all pending work; keeps only the entries of keys in
    /// flight, so that their items can still be dropped.
    pub(super) fn shut_down(&mut self) {
        self.shut_down = true;
        self.ready.clear();
        self.delayed.clear();
        self.waiting = 0;
        self.timer = None;
        self.entries.retain(|_, entry| {
            *entry = Entry {
                started: entry.started,
                ..Entry::IDLE
            };
            entry.started.is_some()
        });
    }

    /// A worker is about to sleep in `next` (its `Notified` is already enabled). If the
    /// earliest delayed time is earlier than the current timer's (or there is no timer),
    /// it becomes the timer: returns that time to sleep until, and its token.
    pub(super) fn start_sleeping(&mut self) -> Option<(Instant, u64)> {
        self.sleepers += 1;
        let earliest = self.delayed.peek()?.at;
        if self.timer.is_some_and(|(deadline, _)| deadline <= earliest) {
            return None;
        }
        self.next_token += 1;
        self.timer = Some((earliest, self.next_token));
        self.timer
    }

    /// A worker that slept stops sleeping (it woke, or its future was dropped), giving
    /// up the timer role if it still holds it. Returns whether it did.
    pub(super) fn stop_sleeping(&mut self, timer_token: Option<u64>) -> bool {
        self.sleepers -= 1;
        match (self.timer, timer_token) {
            (Some((_, current)), Some(mine)) if current == mine => {
                self.timer = None;
                true
            }
            _ => false,
        }
    }

    /// Whether a sleeping worker should be woken: there are more ready keys than the
    /// waking workers take, or delayed keys that no sleeping worker times.
    pub(super) fn needs_another_worker(&self) -> bool {
        self.sleepers > 0
            && (!self.ready.is_empty() || (self.timer.is_none() && !self.delayed.is_empty()))
    }

    /// Whether a worker must wake to time `at` because no sleeping worker waits for a
    /// time that early.
    pub(super) fn needs_timer_for(&self, at: Instant) -> bool {
        self.sleepers > 0 && self.timer.is_none_or(|(deadline, _)| at < deadline)
    }

    pub(super) fn snapshot(&self) -> QueueMetrics {
        QueueMetrics {
            depth: self.ready.len(),
            delayed: self.waiting,
            in_flight: self.in_flight,
            adds_total: self.adds_total,
            retries_total: self.retries_total,
            handed_out_total: self.handed_out_total,
            queue_duration_total: self.queue_duration_total,
            work_duration_total: self.work_duration_total,
        }
    }
}

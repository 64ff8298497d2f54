//! The controller work queue: which key to reconcile next, and when.
//!
//! A controller does not react to events one by one. Watch events, resyncs and retries
//! all reduce to "key K needs attention (now, or at time T)", and the [`WorkQueue`]
//! turns that stream into work for a fixed set of workers with client-go's guarantees:
//!
//! 1. **Dedup.** A key is queued at most once, however often it is added before a
//!    worker takes it.
//! 2. **Never concurrent with itself.** A key handed out and not yet finished (its
//!    [`QueueItem`] not yet dropped) is not handed out again. Adds that arrive meanwhile
//!    mark it *dirty*, and it is handed out once more after the current run finishes, so
//!    the change that caused the add is never lost.
//! 3. **Earliest requeue wins.** Each key has at most one pending time. Adding it again
//!    with an earlier time moves it earlier; a later time never postpones it; an
//!    immediate [`add`](WorkQueue::add) replaces a pending delayed one (the delayed add
//!    is *not* run again afterwards: the reconcile that runs now decides the next
//!    requeue, as in kube-rs).
//! 4. **Per-key exponential backoff.** [`add_rate_limited`](WorkQueue::add_rate_limited)
//!    waits `base · 2^failures` (5 ms doubling to 1000 s by default);
//!    [`forget`](WorkQueue::forget) resets the count after a success.
//! 5. **Optional overall rate limit** of retries, a token bucket ([`RateLimit`]), off by
//!    default.
//!
//! A worker loop looks like this:
//!
//! ```no_run
//! use orchestra_runtime::reconcile::{QueueConfig, WorkQueue};
//!
//! # async fn reconcile(_key: &String) -> Result<(), ()> { Ok(()) }
//! # async fn worker() {
//! let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default().name("deployments"));
//! queue.add("default/web".to_string());
//!
//! while let Some(item) = queue.next().await {
//!     match reconcile(item.key()).await {
//!         Ok(()) => queue.forget(item.key()),
//!         Err(_) => queue.add_rate_limited(item.key().clone()),
//!     }
//!     // Dropping `item` marks the key done; a retry or an add that arrived while it
//!     // ran makes it available to the workers again.
//! }
//! # }
//! ```
//!
//! # How it works
//!
//! One `parking_lot` mutex guards all state: a map from key to its entry (pending time,
//! in flight, failure count), a FIFO of keys ready now, and a binary heap of delayed
//! keys with lazy deletion (a heap entry counts only while it matches the key's current
//! pending time). No task is spawned, per key or otherwise: waiting workers sleep on a
//! [`Notify`], and one of them at a time (the *timer*) also sleeps until the earliest
//! delayed key is due and then moves due keys to the ready FIFO. Every mutex section is
//! short and allocates nothing beyond a key clone and the collections' amortized growth.
//!
//! All time is [`tokio::time`], so everything here runs in paused virtual time.

use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::rate_limit::{ExponentialBackoff, RateLimit, TokenBucket};

mod instruments;
mod state;
#[cfg(test)]
mod tests;

use instruments::Instruments;
use state::{Scheduled, State};

/// Anything usable as a work-queue key. Implemented for every type with these bounds;
/// controllers use an object reference (namespace and name).
pub trait QueueKey: Clone + Eq + Hash + Send + Sync + fmt::Debug + 'static {}

impl<T: Clone + Eq + Hash + Send + Sync + fmt::Debug + 'static> QueueKey for T {}

/// How a [`WorkQueue`] is named and how it spaces out retries.
///
/// ```
/// use std::time::Duration;
/// use orchestra_runtime::reconcile::{QueueConfig, RateLimit};
///
/// let config = QueueConfig::default()
///     .name("replicasets")
///     .base_backoff(Duration::from_millis(10))
///     .max_backoff(Duration::from_secs(300))
///     .rate_limit(RateLimit::new(50.0, 200));
/// ```
#[derive(Clone, Debug)]
pub struct QueueConfig {
    name: String,
    base_backoff: Duration,
    max_backoff: Duration,
    rate_limit: Option<RateLimit>,
}

impl Default for QueueConfig {
    /// Named `workqueue`, backoff 5 ms doubling to 1000 s (client-go's defaults), no
    /// overall rate limit.
    fn default() -> Self {
        Self {
            name: "workqueue".to_owned(),
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_secs(1000),
            rate_limit: None,
        }
    }
}

impl QueueConfig {
    /// The queue's name, the `name` label of its metrics. Usually the controller's name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The wait before the first retry of a key; each further failure doubles it.
    /// Default 5 ms.
    #[must_use]
    pub fn base_backoff(mut self, base: Duration) -> Self {
        self.base_backoff = base;
        self
    }

    /// The longest wait before a retry, however often the key has failed. Default
    /// 1000 s.
    #[must_use]
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Also limits all rate-limited retries together with a token bucket; a retry waits
    /// for the longer of its own backoff and its token.
    ///
    /// Off by default, unlike client-go (10 qps, burst 100). That bucket is shared by
    /// every key of a controller, so after a mass failure (a store outage, a node with
    /// 500 pods going down) a controller of thousands of objects would need minutes to
    /// work through its retries even once the cause is gone, while per-key backoff
    /// already keeps each failing key cheap. Turn it on to protect a slow or paid
    /// downstream (a cloud API) from retry storms.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
}

/// A point-in-time snapshot of a queue's numbers, from [`WorkQueue::metrics`].
///
/// The same numbers are emitted through the [`metrics`] facade; this snapshot is for
/// tests, status pages and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueMetrics {
    /// Keys ready now and waiting for a worker (what [`WorkQueue::len`] returns).
    pub depth: usize,
    /// Keys scheduled for a later time (delayed adds and backoffs), including keys in
    /// flight that will run again later.
    pub delayed: usize,
    /// Keys handed out whose [`QueueItem`] has not yet been dropped.
    pub in_flight: usize,
    /// Adds that gave a key new pending work. Adds absorbed by dedup (the key already
    /// had pending work at the same or an earlier time) are not counted, as in
    /// client-go.
    pub adds_total: u64,
    /// Calls to [`WorkQueue::add_rate_limited`].
    pub retries_total: u64,
    /// Keys handed out by [`WorkQueue::next`].
    pub handed_out_total: u64,
    /// Summed over every hand-out: how long the key had been ready (its pending time
    /// reached) before a worker took it. Divide by `handed_out_total` for the mean.
    pub queue_duration_total: Duration,
    /// Summed over every finished item: how long it was in flight.
    pub work_duration_total: Duration,
}

/// A key a worker must reconcile now; dropping it marks the key done.
///
/// While the item lives, the key is *in flight*: it is not handed to another worker,
/// and adds to it only mark it dirty. Dropping the item (explicitly with
/// [`done`](Self::done), at the end of the worker's loop body, or during a panic's
/// unwinding) releases the key, and a dirty key becomes ready again. A guard rather than
/// a `done(key)` method means a worker that errors or panics cannot leave a key stuck
/// in flight forever.
#[must_use = "dropping the item marks the key done at once"]
pub struct QueueItem<K: QueueKey> {
    key: K,
    shared: Arc<Shared<K>>,
}

impl<K: QueueKey> QueueItem<K> {
    /// The key to reconcile.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Marks the key done; the same as dropping the item, spelled out.
    pub fn done(self) {}
}

impl<K: QueueKey> Drop for QueueItem<K> {
    fn drop(&mut self) {
        self.shared.done(&self.key);
    }
}

impl<K: QueueKey> fmt::Debug for QueueItem<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueItem").field("key", &self.key).finish()
    }
}

/// A deduplicating, rate-limiting queue of keys to reconcile, with client-go's
/// guarantees (see the [module docs](self)).
///
/// Cloning is cheap and every clone is the same queue: hand one to the event handlers
/// that add keys and one to each worker.
///
/// Metrics handles are taken from the [`metrics`] recorder installed when the queue is
/// created, so install the recorder first.
pub struct WorkQueue<K: QueueKey> {
    shared: Arc<Shared<K>>,
}

impl<K: QueueKey> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: QueueKey> fmt::Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", &self.shared.name)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl<K: QueueKey> WorkQueue<K> {
    /// An empty queue.
    ///
    /// Does not need a runtime; [`next`](Self::next) must run inside one with time
    /// enabled.
    #[must_use]
    pub fn new(config: QueueConfig) -> Self {
        let backoff = ExponentialBackoff {
            base: config.base_backoff,
            max: config.max_backoff,
        };
        let bucket = config
            .rate_limit
            .map(|limit| TokenBucket::new(limit, Instant::now()));
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(backoff, bucket)),
                notify: Notify::new(),
                instruments: Instruments::register(&config.name),
                name: config.name,
            }),
        }
    }

    /// The name given in [`QueueConfig::name`].
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Queues `key` to be handed out as soon as a worker is free.
    ///
    /// Nothing happens if the key is already ready; a key in flight is marked dirty
    /// and handed out again after its current item is dropped. A pending delayed add of
    /// the key is replaced by this one. Ignored after [`shut_down`](Self::shut_down).
    pub fn add(&self, key: K) {
        self.shared.schedule(key, Duration::ZERO);
    }

    /// Queues `key` to be handed out `delay` from now, unless it is already pending at
    /// an earlier time: the earliest time wins. A zero delay is [`add`](Self::add).
    pub fn add_after(&self, key: K, delay: Duration) {
        self.shared.schedule(key, delay);
    }

    /// Queues `key` again after a failure, backing off exponentially: the n-th retry
    /// since the last [`forget`](Self::forget) waits `base · 2^(n-1)`, capped at the
    /// maximum, or longer if an overall [`RateLimit`] is configured and its bucket is
    /// empty. Then the earliest-wins rule of [`add_after`](Self::add_after) applies.
    pub fn add_rate_limited(&self, key: K) {
        let mut state = self.shared.state.lock();
        let now = Instant::now();
        if let Some(delay) = state.retry_delay(&key, now) {
            self.shared.schedule_locked(state, key, delay, now);
            self.shared.instruments.retries.increment(1);
        }
    }

    /// Resets the failure count of `key`, so that its next retry waits the base backoff
    /// again. Call it when the key reconciled successfully. Pending work is kept.
    ///
    /// The queue remembers a failed key until it is forgotten (as client-go does), so
    /// also forget the keys of objects that are gone, or their counts stay in memory.
    pub fn forget(&self, key: &K) {
        self.shared.state.lock().forget(key);
    }

    /// How many times `key` was retried with
    /// [`add_rate_limited`](Self::add_rate_limited) since it was last forgotten.
    #[must_use]
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.shared.state.lock().failures(key)
    }

    /// Waits for the next key that is due and not in flight, and hands it out.
    ///
    /// Keys come out in the order they became due. Concurrent callers get distinct
    /// keys. Returns `None` once the queue is [shut down](Self::shut_down), at once,
    /// even if keys were queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes (say, as the losing
    /// branch of a `tokio::select!` against a cancellation token), it took no key, and
    /// a wake-up it had received passes on to another waiting worker.
    pub async fn next(&self) -> Option<QueueItem<K>> {
        let shared = &*self.shared;
        let mut sleeper = Sleeper {
            shared,
            asleep: false,
            timer_token: None,
        };
        // The first look is taken without registering a `Notified` (which costs a lock
        // inside `Notify`). Only when nothing is ready do we register and look again,
        // so that no wake-up between the look and the wait is missed.
        let mut registered = false;
        loop {
            let mut notified = pin!(shared.notify.notified());
            if registered {
                notified.as_mut().enable();
            }
            let deadline = {
                let mut state = shared.state.lock();
                sleeper.wake(&mut state);
                if state.shut_down {
                    return None;
                }
                let now = Instant::now();
                state.promote_due(now);
                if let Some((key, queued_for)) = state.hand_out(now) {
                    let wake_another = state.needs_another_worker();
                    shared.instruments.depth.set(state.depth() as f64);
                    drop(state);
                    if wake_another {
                        shared.notify.notify_one();
                    }
                    let seconds = queued_for.as_secs_f64();
                    shared.instruments.queue_duration.record(seconds);
                    return Some(QueueItem {
                        key,
                        shared: Arc::clone(&self.shared),
                    });
                }
                if !registered {
                    registered = true;
                    continue;
                }
                // The guard is dropped at the end of this block, before any await, which
                // keeps the future `Send`.
                sleeper.sleep(&mut state)
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        biased;
                        () = notified => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// How many keys are due now and waiting for a worker. Keys in flight or scheduled
    /// for later are not counted; [`metrics`](Self::metrics) has those.
    #[must_use]
    pub fn len(&self) -> usize {
        self.metrics().depth
    }

    /// Whether no key is due now (see [`len`](Self::len)).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts the queue down: every current and future [`next`](Self::next) returns
    /// `None`, queued and delayed keys are dropped, and later adds are ignored.
    ///
    /// Items already handed out stay valid and may be dropped at any time; adds that
    /// made them dirty are dropped too. There is no drain: the runner that owns the
    /// workers stops them (they see `None`) and waits for the items in flight, which is
    /// the graceful part of a graceful shutdown. Idempotent.
    pub fn shut_down(&self) {
        let mut state = self.shared.state.lock();
        state.shut_down();
        self.shared.instruments.depth.set(0.0);
        drop(state);
        self.shared.notify.notify_waiters();
    }

    /// Whether [`shut_down`](Self::shut_down) was called.
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        self.shared.state.lock().shut_down
    }

    /// A snapshot of the queue's numbers.
    #[must_use]
    pub fn metrics(&self) -> QueueMetrics {
        let mut state = self.shared.state.lock();
        state.promote_due(Instant::now());
        self.shared.instruments.depth.set(state.depth() as f64);
        state.snapshot()
    }
}

/// What every clone of a queue, and every item it handed out, points to.
struct Shared<K: QueueKey> {
    name: String,
    state: Mutex<State<K>>,
    /// Wakes workers sleeping in `next`: `notify_one` when there is work for one more
    /// (and someone sleeps), `notify_waiters` on shutdown.
    notify: Notify,
    instruments: Instruments,
}

/// Delays past this are treated as "practically never" rather than overflowing
/// `Instant` (about 30 years, as tokio does for its far future).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl<K: QueueKey> Shared<K> {
    /// Records that `key` needs work `delay` from now, and wakes a worker if one must
    /// act on it.
    fn schedule(&self, key: K, delay: Duration) {
        let state = self.state.lock();
        // Read under the lock, so that times are ordered as the adds are.
        let now = Instant::now();
        self.schedule_locked(state, key, delay, now);
    }

    fn schedule_locked(
        &self,
        mut state: MutexGuard<'_, State<K>>,
        key: K,
        delay: Duration,
        now: Instant,
    ) {
        let at = now + delay.min(FAR_FUTURE);
        let (counted, scheduled) = state.schedule(key, at, now);
        let wake = match scheduled {
            Scheduled::Absorbed | Scheduled::Dirty => false,
            Scheduled::Ready => {
                self.instruments.depth.set(state.depth() as f64);
                state.sleepers > 0
            }
            Scheduled::Delayed(at) => state.needs_timer_for(at),
        };
        drop(state);
        if wake {
            self.notify.notify_one();
        }
        if counted {
            self.instruments.adds.increment(1);
        }
    }

    /// Marks `key` done (its item was dropped), making it ready again if it became
    /// pending and due meanwhile.
    fn done(&self, key: &K) {
        let mut state = self.state.lock();
        let now = Instant::now();
        let Some((worked, requeued)) = state.finish(key, now) else {
            return;
        };
        let wake = requeued && state.sleepers > 0;
        if requeued {
            self.instruments.depth.set(state.depth() as f64);
        }
        drop(state);
        if wake {
            self.notify.notify_one();
        }
        self.instruments.work_duration.record(worked.as_secs_f64());
    }
}

/// A worker inside `next`: whether it is counted as sleeping, and whether it holds the
/// timer role. Dropping it mid-wait (cancellation) gives both up, and passes the timer
/// role on to another sleeping worker.
struct Sleeper<'a, K: QueueKey> {
    shared: &'a Shared<K>,
    asleep: bool,
    timer_token: Option<u64>,
}

impl<K: QueueKey> Sleeper<'_, K> {
    /// Goes to sleep; returns the time to wake at if this worker is now the timer.
    fn sleep(&mut self, state: &mut State<K>) -> Option<Instant> {
        self.asleep = true;
        let (deadline, token) = state.start_sleeping()?;
        self.timer_token = Some(token);
        Some(deadline)
    }

    /// Wakes up (a no-op if not asleep); returns whether the timer role was given up.
    fn wake(&mut self, state: &mut State<K>) -> bool {
        if !std::mem::take(&mut self.asleep) {
            return false;
        }
        state.stop_sleeping(self.timer_token.take())
    }
}

impl<K: QueueKey> Drop for Sleeper<'_, K> {
    fn drop(&mut self) {
        if !self.asleep {
            return;
        }
        let mut state = self.shared.state.lock();
        let was_timer = self.wake(&mut state);
        let pass_on = was_timer && state.needs_another_worker();
        drop(state);
        if pass_on {
            self.shared.notify.notify_one();
        }
    }
}

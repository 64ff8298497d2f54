//! The work queue's guarantees, each shown in paused virtual time. Randomized checks
//! are in `randomized`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use metrics::Unit;
use tokio::time::{Instant, sleep, timeout};

use super::instruments;
use super::*;

mod randomized;

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

fn queue() -> WorkQueue<String> {
    WorkQueue::new(QueueConfig::default().name("test"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn key(name: &str) -> String {
    name.to_owned()
}

/// Waits for the next item, failing the test if none comes within a virtual hour.
async fn take(queue: &WorkQueue<String>) -> QueueItem<String> {
    timeout(Duration::from_secs(3600), queue.next())
        .await
        .expect("a key is handed out within the hour")
        .expect("the queue is not shut down")
}

/// Asserts that nothing is handed out for a virtual minute.
async fn assert_nothing_for_a_minute(queue: &WorkQueue<String>) {
    if let Ok(item) = timeout(Duration::from_secs(60), queue.next()).await {
        panic!("expected nothing, got {item:?}");
    }
}

// 1. Dedup.

#[tokio::test(start_paused = true)]
async fn a_key_added_many_times_while_queued_is_handed_out_once() {
    let queue = queue();
    for _ in 0..100 {
        queue.add(key("a"));
    }
    queue.add(key("b"));
    queue.add(key("a"));
    assert_eq!(queue.len(), 2);

    assert_eq!(take(&queue).await.key(), "a");
    assert_eq!(take(&queue).await.key(), "b");
    assert_nothing_for_a_minute(&queue).await;
    assert!(queue.is_empty());
    assert_eq!(queue.metrics().adds_total, 2);
}

// 2. Never concurrent with itself; a change while in flight is not lost.

#[tokio::test(start_paused = true)]
async fn a_key_in_flight_is_handed_out_again_only_after_done() {
    let queue = queue();
    queue.add(key("a"));
    let item = take(&queue).await;

    // Adds while in flight mark it dirty; they do not make it ready.
    queue.add(key("a"));
    queue.add(key("a"));
    assert_eq!(queue.len(), 0);

    let second_worker = tokio::spawn({
        let queue = queue.clone();
        async move {
            let item = take(&queue).await;
            (item.key().clone(), Instant::now())
        }
    });
    let start = Instant::now();
    sleep(SECOND).await;
    assert!(!second_worker.is_finished(), "handed out while in flight");

    drop(item);
    let (key, at) = second_worker.await.unwrap();
    assert_eq!(key, "a");
    assert_eq!(
        at,
        start + SECOND,
        "handed out as soon as the first run was done"
    );
    // The two dirty adds were one change to handle, not two.
    assert_nothing_for_a_minute(&queue).await;
}

#[tokio::test(start_paused = true)]
async fn done_without_new_adds_does_not_requeue() {
    let queue = queue();
    queue.add(key("a"));
    take(&queue).await.done();
    assert_nothing_for_a_minute(&queue).await;
    assert_eq!(
        queue.metrics(),
        QueueMetrics {
            adds_total: 1,
            handed_out_total: 1,
            ..QueueMetrics::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_get_distinct_keys() {
    let queue = queue();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    for _ in 0..4 {
        let (queue, tx, release) = (queue.clone(), tx.clone(), release.clone());
        tokio::spawn(async move {
            let item = take(&queue).await;
            tx.send(item.key().clone()).unwrap();
            release.notified().await;
        });
    }
    tokio::task::yield_now().await;
    for name in ["a", "b", "c", "d"] {
        queue.add(key(name));
    }
    let mut got = HashSet::new();
    for _ in 0..4 {
        let next = timeout(SECOND, rx.recv())
            .await
            .expect("every waiter gets a key");
        got.insert(next.unwrap());
    }
    assert_eq!(got.len(), 4);
    release.notify_waiters();
}

// 3. Delayed adds: the earliest time wins.

#[tokio::test(start_paused = true)]
async fn delayed_keys_come_out_in_time_order_at_their_time() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("b"), 2 * SECOND);
    queue.add_after(key("c"), 3 * SECOND);
    queue.add_after(key("a"), SECOND);
    assert_eq!(queue.len(), 0);
    assert_eq!(queue.metrics().delayed, 3);
    for (name, after) in [("a", 1), ("b", 2), ("c", 3)] {
        assert_eq!(take(&queue).await.key(), name);
        assert_eq!(Instant::now() - start, after * SECOND);
    }
}

#[tokio::test(start_paused = true)]
async fn a_shorter_delay_moves_a_pending_key_earlier() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("a"), 10 * SECOND);
    queue.add_after(key("a"), 5 * SECOND);
    take(&queue).await.done();
    assert_eq!(Instant::now() - start, 5 * SECOND);
    assert_nothing_for_a_minute(&queue).await;
}

#[tokio::test(start_paused = true)]
async fn a_longer_delay_does_not_postpone_a_pending_key() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("a"), SECOND);
    queue.add_after(key("a"), 10 * SECOND);
    take(&queue).await.done();
    assert_eq!(Instant::now() - start, SECOND);
    assert_nothing_for_a_minute(&queue).await;
    assert_eq!(queue.metrics().adds_total, 1);
}

#[tokio::test(start_paused = true)]
async fn an_immediate_add_replaces_a_pending_delay() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("a"), 10 * SECOND);
    queue.add(key("a"));
    take(&queue).await.done();
    assert_eq!(Instant::now(), start);
    // The delayed add was replaced, not kept for later.
    assert_nothing_for_a_minute(&queue).await;
    assert_eq!(queue.metrics().delayed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_is_an_immediate_add() {
    let queue = queue();
    queue.add_after(key("a"), Duration::ZERO);
    assert_eq!(queue.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_delay_added_while_in_flight_runs_at_the_later_of_its_time_and_done() {
    let queue = queue();
    let start = Instant::now();
    queue.add(key("a"));

    // Due before the run ends: handed out right after done.
    let item = take(&queue).await;
    queue.add_after(key("a"), SECOND);
    sleep(2 * SECOND).await;
    drop(item);
    let item = take(&queue).await;
    assert_eq!(Instant::now() - start, 2 * SECOND);

    // Due after the run ends: handed out at its time.
    queue.add_after(key("a"), 5 * SECOND);
    sleep(SECOND).await;
    drop(item);
    take(&queue).await.done();
    assert_eq!(Instant::now() - start, 7 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_worker_notices_a_new_earlier_delay() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("late"), 10 * SECOND);
    let worker = tokio::spawn({
        let queue = queue.clone();
        async move { (take(&queue).await.key().clone(), Instant::now()) }
    });
    sleep(MS).await; // the worker now sleeps until the 10 s key
    queue.add_after(key("early"), SECOND);
    let (name, at) = worker.await.unwrap();
    assert_eq!(name, "early");
    assert_eq!(at - start, SECOND + MS);
}

#[tokio::test(start_paused = true)]
async fn keys_due_while_the_timer_worker_is_busy_go_to_the_other_workers() {
    let queue = queue();
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..3 {
        let (queue, tx) = (queue.clone(), tx.clone());
        tokio::spawn(async move {
            while let Some(item) = queue.next().await {
                tx.send((item.key().clone(), Instant::now() - start))
                    .unwrap();
                sleep(10 * SECOND).await; // a long reconcile
            }
        });
    }
    sleep(MS).await; // all three workers sleep, one of them as the timer
    queue.add_after(key("a"), SECOND);
    queue.add_after(key("b"), SECOND);
    queue.add_after(key("c"), 2 * SECOND);
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(
            timeout(Duration::from_secs(60), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    started.sort();
    let expected = [("a", SECOND), ("b", SECOND), ("c", 2 * SECOND)];
    assert_eq!(started, expected.map(|(k, at)| (key(k), MS + at)));
}

// 4. Per-key exponential backoff.

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_from_5ms() {
    let queue = queue();
    for failures in 0..10u32 {
        assert_eq!(queue.num_requeues(&key("a")), failures);
        queue.add_rate_limited(key("a"));
        let start = Instant::now();
        take(&queue).await.done();
        assert_eq!(Instant::now() - start, 5 * MS * 2u32.pow(failures));
    }
    assert_eq!(queue.num_requeues(&key("a")), 10);
    // Other keys have their own count.
    assert_eq!(queue.num_requeues(&key("b")), 0);
    assert_eq!(queue.metrics().retries_total, 10);
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped_at_the_maximum() {
    let queue: WorkQueue<String> = WorkQueue::new(
        QueueConfig::default()
            .base_backoff(SECOND)
            .max_backoff(4 * SECOND),
    );
    let mut waits = Vec::new();
    for _ in 0..5 {
        queue.add_rate_limited(key("a"));
        let start = Instant::now();
        take(&queue).await.done();
        waits.push((Instant::now() - start).as_secs());
    }
    assert_eq!(waits, [1, 2, 4, 4, 4]);
}

#[tokio::test(start_paused = true)]
async fn forget_resets_the_backoff() {
    let queue = queue();
    for _ in 0..3 {
        queue.add_rate_limited(key("a"));
        take(&queue).await.done();
    }
    assert_eq!(queue.num_requeues(&key("a")), 3);
    let item = take_after_rate_limited(&queue, "a").await;
    queue.forget(item.key());
    drop(item);
    assert_eq!(queue.num_requeues(&key("a")), 0);

    queue.add_rate_limited(key("a"));
    let start = Instant::now();
    take(&queue).await.done();
    assert_eq!(Instant::now() - start, 5 * MS);
}

async fn take_after_rate_limited(queue: &WorkQueue<String>, name: &str) -> QueueItem<String> {
    queue.add_rate_limited(key(name));
    take(queue).await
}

#[tokio::test(start_paused = true)]
async fn a_retry_requested_while_in_flight_waits_for_done_and_its_backoff() {
    let queue = queue();
    queue.add(key("a"));
    let item = take(&queue).await;
    let start = Instant::now();
    queue.add_rate_limited(key("a"));
    drop(item);
    assert_eq!(queue.len(), 0, "the retry waits for its backoff");
    take(&queue).await.done();
    assert_eq!(Instant::now() - start, 5 * MS);
}

// 5. Optional overall rate limit.

#[tokio::test(start_paused = true)]
async fn an_overall_rate_limit_spaces_retries_after_the_burst() {
    let queue: WorkQueue<String> = WorkQueue::new(
        QueueConfig::default()
            .base_backoff(Duration::ZERO)
            .rate_limit(RateLimit::new(10.0, 2)),
    );
    let start = Instant::now();
    for name in ["a", "b", "c", "d", "e"] {
        queue.add_rate_limited(key(name));
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        let item = take(&queue).await;
        seen.push((item.key().clone(), (Instant::now() - start).as_millis()));
    }
    let expected = [("a", 0), ("b", 0), ("c", 100), ("d", 200), ("e", 300)];
    assert_eq!(seen, expected.map(|(k, ms)| (key(k), ms)));
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_longer_of_backoff_and_rate_limit() {
    let queue: WorkQueue<String> = WorkQueue::new(
        QueueConfig::default()
            .base_backoff(150 * MS)
            .rate_limit(RateLimit::new(10.0, 2)),
    );
    let start = Instant::now();
    for name in ["a", "b", "c", "d", "e"] {
        queue.add_rate_limited(key(name));
    }
    let mut at = Vec::new();
    for _ in 0..5 {
        take(&queue).await.done();
        at.push((Instant::now() - start).as_millis());
    }
    assert_eq!(at, [150, 150, 150, 200, 300]);
}

#[tokio::test(start_paused = true)]
async fn plain_adds_are_not_rate_limited() {
    let queue: WorkQueue<String> =
        WorkQueue::new(QueueConfig::default().rate_limit(RateLimit::new(1.0, 1)));
    for i in 0..100 {
        queue.add(format!("k{i}"));
    }
    assert_eq!(queue.len(), 100);
}

// 6. Shutdown.

#[tokio::test(start_paused = true)]
async fn shut_down_wakes_waiting_workers_with_none() {
    let queue = queue();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.next().await.map(|item| item.key().clone()) })
        })
        .collect();
    queue.add_after(key("later"), SECOND); // one worker sleeps as the timer
    sleep(MS).await;
    queue.shut_down();
    for worker in workers {
        let got = timeout(SECOND, worker).await.expect("woken by shutdown");
        assert_eq!(got.unwrap(), None);
    }
    assert!(queue.is_shut_down());
}

#[tokio::test(start_paused = true)]
async fn shut_down_drops_queued_and_delayed_keys_and_ignores_adds() {
    let queue = queue();
    queue.add(key("a"));
    queue.add_after(key("b"), SECOND);
    queue.add_rate_limited(key("c"));
    queue.shut_down();
    assert!(queue.next().await.is_none());

    queue.add(key("d"));
    queue.add_after(key("e"), SECOND);
    queue.add_rate_limited(key("f"));
    sleep(2 * SECOND).await;
    assert!(queue.next().await.is_none());
    let metrics = queue.metrics();
    assert_eq!(
        (metrics.depth, metrics.delayed, metrics.in_flight),
        (0, 0, 0)
    );
    assert_eq!((metrics.adds_total, metrics.retries_total), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn items_in_flight_at_shutdown_can_still_be_dropped() {
    let queue = queue();
    queue.add(key("a"));
    let item = take(&queue).await;
    queue.add(key("a")); // dirty
    queue.shut_down();
    queue.shut_down(); // idempotent
    assert_eq!(queue.metrics().in_flight, 1);
    drop(item);
    assert_eq!(queue.metrics().in_flight, 0);
    assert_eq!(queue.len(), 0, "the dirty add was dropped");
    assert!(queue.next().await.is_none());
}

// Cancellation safety.

#[tokio::test(start_paused = true)]
async fn a_woken_worker_dropped_before_it_runs_passes_the_key_on() {
    let queue = queue();
    let first = tokio::spawn({
        let queue = queue.clone();
        async move { queue.next().await.map(|item| item.key().clone()) }
    });
    tokio::task::yield_now().await;
    let second = tokio::spawn({
        let queue = queue.clone();
        async move { queue.next().await.map(|item| item.key().clone()) }
    });
    tokio::task::yield_now().await;

    queue.add(key("a")); // wakes the first worker...
    first.abort(); // ...which is dropped before it looks
    assert!(first.await.unwrap_err().is_cancelled());
    let got = timeout(SECOND, second)
        .await
        .expect("the wake-up was passed on");
    assert_eq!(got.unwrap().as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_timer_worker_dropped_mid_wait_hands_the_timer_on() {
    let queue = queue();
    let start = Instant::now();
    queue.add_after(key("a"), SECOND);
    let timer = tokio::spawn({
        let queue = queue.clone();
        async move { queue.next().await.map(|item| item.key().clone()) }
    });
    tokio::task::yield_now().await; // sleeps until the key is due
    let other = tokio::spawn({
        let queue = queue.clone();
        async move {
            (
                queue.next().await.map(|item| item.key().clone()),
                Instant::now(),
            )
        }
    });
    tokio::task::yield_now().await; // sleeps on wake-ups only
    timer.abort();
    let (got, at) = timeout(Duration::from_secs(3600), other)
        .await
        .expect("the timer role was handed on")
        .unwrap();
    assert_eq!(got.as_deref(), Some("a"));
    assert_eq!(at, start + SECOND);
}

#[tokio::test(start_paused = true)]
async fn next_raced_against_a_timeout_loses_no_key() {
    let queue = queue();
    let start = Instant::now();
    for i in 0..20u32 {
        queue.add_after(format!("k{i}"), (i + 1) * 10 * MS);
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        assert!(
            Instant::now() - start < 10 * SECOND,
            "keys lost: got only {got:?}"
        );
        tokio::select! {
            item = queue.next() => {
                let item = item.unwrap();
                got.push((item.key().clone(), Instant::now() - start));
            }
            () = sleep(3 * MS) => {}
        }
    }
    let expected: Vec<_> = (0..20u32)
        .map(|i| (format!("k{i}"), (i + 1) * 10 * MS))
        .collect();
    assert_eq!(got, expected);
}

// 7. Metrics.

#[tokio::test(start_paused = true)]
async fn metrics_count_adds_retries_and_durations() {
    let queue = queue();
    queue.add(key("a"));
    queue.add(key("a"));
    queue.add_after(key("b"), 10 * SECOND);
    assert_eq!(
        queue.metrics(),
        QueueMetrics {
            depth: 1,
            delayed: 1,
            adds_total: 2,
            ..QueueMetrics::default()
        }
    );

    sleep(2 * SECOND).await;
    let item = take(&queue).await; // queued 2 s
    sleep(3 * SECOND).await;
    queue.add_rate_limited(key("a"));
    assert_eq!(queue.metrics().in_flight, 1);
    drop(item); // worked 3 s
    sleep(SECOND).await;
    take(&queue).await.done(); // due 5 ms after the retry, queued ~1 s

    let metrics = queue.metrics();
    assert_eq!(metrics.depth, 0);
    assert_eq!(metrics.delayed, 1);
    assert_eq!(metrics.in_flight, 0);
    assert_eq!(metrics.adds_total, 3);
    assert_eq!(metrics.retries_total, 1);
    assert_eq!(metrics.handed_out_total, 2);
    assert_eq!(metrics.queue_duration_total, 3 * SECOND - 5 * MS);
    assert_eq!(metrics.work_duration_total, 3 * SECOND);
}

/// A `metrics` recorder keeping every value, keyed `name{label=value}`.
#[derive(Default)]
struct TestRecorder {
    counters: parking_lot::Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: parking_lot::Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: parking_lot::Mutex<HashMap<String, Arc<TestHistogram>>>,
}

#[derive(Default)]
struct TestHistogram(parking_lot::Mutex<Vec<f64>>);

impl metrics::HistogramFn for TestHistogram {
    fn record(&self, value: f64) {
        self.0.lock().push(value);
    }
}

fn render(key: &metrics::Key) -> String {
    let labels: Vec<_> = key
        .labels()
        .map(|label| format!("{}={}", label.key(), label.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<Unit>, _: metrics::SharedString) {}

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let value = self.counters.lock().entry(render(key)).or_default().clone();
        metrics::Counter::from_arc(value)
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        let value = self.gauges.lock().entry(render(key)).or_default().clone();
        metrics::Gauge::from_arc(value)
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let value = self
            .histograms
            .lock()
            .entry(render(key))
            .or_default()
            .clone();
        metrics::Histogram::from_arc(value)
    }
}

#[tokio::test(start_paused = true)]
async fn metrics_are_emitted_through_the_facade_labeled_by_name() {
    let recorder = TestRecorder::default();
    let queue: WorkQueue<String> = metrics::with_local_recorder(&recorder, || {
        WorkQueue::new(QueueConfig::default().name("pods"))
    });
    queue.add(key("a"));
    queue.add(key("b"));
    queue.add(key("b"));
    sleep(SECOND).await;
    let item = take(&queue).await;
    sleep(2 * SECOND).await;
    queue.add_rate_limited(key("a"));
    drop(item);

    let counter = |name: &str| {
        recorder.counters.lock()[&format!("{name}{{name=pods}}")].load(Ordering::Relaxed)
    };
    let gauge = |name: &str| {
        f64::from_bits(
            recorder.gauges.lock()[&format!("{name}{{name=pods}}")].load(Ordering::Relaxed),
        )
    };
    let histogram = |name: &str| {
        recorder.histograms.lock()[&format!("{name}{{name=pods}}")]
            .0
            .lock()
            .clone()
    };
    assert_eq!(counter(instruments::ADDS), 3); // a, b, and the retry of a
    assert_eq!(counter(instruments::RETRIES), 1);
    assert_eq!(gauge(instruments::DEPTH), 1.0); // b
    assert_eq!(histogram(instruments::QUEUE_DURATION), [1.0]);
    assert_eq!(histogram(instruments::WORK_DURATION), [2.0]);
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert_send_sync::<WorkQueue<String>>();
    assert_send_sync::<QueueItem<String>>();
    assert_send_sync::<QueueConfig>();
    let queue = queue();
    assert_send(&queue.next());
}

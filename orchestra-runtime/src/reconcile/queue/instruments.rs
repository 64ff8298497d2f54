//! The queue's instruments in the [`metrics`] facade, registered once per queue with
//! its `name` label so that the hot path only touches ready handles (no-ops when no
//! recorder is installed).

use metrics::{Counter, Gauge, Histogram, Unit};

/// Gauge: keys due now and waiting for a worker.
pub(super) const DEPTH: &str = "orchestra_workqueue_depth";
/// Counter: adds that gave a key new pending work.
pub(super) const ADDS: &str = "orchestra_workqueue_adds_total";
/// Counter: rate-limited adds (retries after failure).
pub(super) const RETRIES: &str = "orchestra_workqueue_retries_total";
/// Histogram: seconds from a key being due to a worker taking it.
pub(super) const QUEUE_DURATION: &str = "orchestra_workqueue_queue_duration_seconds";
/// Histogram: seconds a key was in flight.
pub(super) const WORK_DURATION: &str = "orchestra_workqueue_work_duration_seconds";

pub(super) struct Instruments {
    pub(super) depth: Gauge,
    pub(super) adds: Counter,
    pub(super) retries: Counter,
    pub(super) queue_duration: Histogram,
    pub(super) work_duration: Histogram,
}

impl Instruments {
    pub(super) fn register(name: &str) -> Self {
        metrics::describe_gauge!(DEPTH, "Keys due now and waiting for a worker.");
        metrics::describe_counter!(ADDS, "Adds that gave a key new pending work.");
        metrics::describe_counter!(RETRIES, "Rate-limited adds after a failure.");
        metrics::describe_histogram!(
            QUEUE_DURATION,
            Unit::Seconds,
            "Time from a key being due to a worker taking it."
        );
        metrics::describe_histogram!(WORK_DURATION, Unit::Seconds, "Time a worker held a key.");
        let name = name.to_owned();
        Self {
            depth: metrics::gauge!(DEPTH, "name" => name.clone()),
            adds: metrics::counter!(ADDS, "name" => name.clone()),
            retries: metrics::counter!(RETRIES, "name" => name.clone()),
            queue_duration: metrics::histogram!(QUEUE_DURATION, "name" => name.clone()),
            work_duration: metrics::histogram!(WORK_DURATION, "name" => name),
        }
    }
}

//! The scheduling queue's guarantees: priority then FIFO, backoff, unschedulable pods
//! retried on events and not in a loop, no event lost during a cycle.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn key(name: &str) -> ObjectKey {
    ObjectKey::namespaced("default", name)
}

fn queue() -> SchedulingQueue {
    SchedulingQueue::new(SchedulingQueueConfig::default())
}

#[test]
fn higher_priority_first_then_first_in_first_out() {
    let now = Instant::now();
    let mut q = queue();
    q.add(key("low-1"), 0, now);
    q.add(key("high"), 100, now);
    q.add(key("low-2"), 0, now);
    q.add(key("mid"), 10, now);
    let order: Vec<String> = std::iter::from_fn(|| q.pop())
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(order, ["high", "mid", "low-1", "low-2"]);
}

#[test]
fn adding_a_queued_pod_again_keeps_one_entry() {
    let now = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, now);
    q.add(key("a"), 0, now);
    assert_eq!(q.pop(), Some(key("a")));
    assert_eq!(q.pop(), None);
}

#[test]
fn unschedulable_pods_wait_for_an_event_not_a_loop() {
    let start = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, start);
    assert_eq!(q.pop(), Some(key("a")));
    q.requeue_unschedulable(&key("a"), start);
    assert!(q.is_unschedulable(&key("a")));

    // Time alone (well within the 5-minute safety net) does not bring it back.
    q.flush(start + Duration::from_secs(60));
    assert_eq!(q.pop(), None);
    assert_eq!(q.counts(), (0, 0, 1));

    // A node appears: after its 1 s backoff it is active again.
    q.move_all_unschedulable(start + Duration::from_secs(61));
    assert_eq!(q.pop(), Some(key("a")));
}

#[test]
fn an_event_inside_the_backoff_window_waits_out_the_backoff() {
    let start = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, start);
    q.pop();
    q.requeue_unschedulable(&key("a"), start);
    q.move_all_unschedulable(start + Duration::from_millis(200));
    assert_eq!(q.pop(), None, "still backing off");
    assert_eq!(q.next_deadline(), Some(start + Duration::from_secs(1)));
    q.flush(start + Duration::from_secs(1));
    assert_eq!(q.pop(), Some(key("a")));
}

#[test]
fn an_event_during_the_attempt_is_not_lost() {
    let start = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, start);
    q.pop();
    // A node is added while the cycle for "a" runs on the old snapshot.
    q.move_all_unschedulable(start);
    q.requeue_unschedulable(&key("a"), start);
    assert!(
        !q.is_unschedulable(&key("a")),
        "backs off instead of parking"
    );
    q.flush(start + Duration::from_secs(1));
    assert_eq!(q.pop(), Some(key("a")));
}

#[test]
fn backoff_doubles_per_attempt_up_to_the_maximum() {
    let mut now = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, now);
    let mut waits = Vec::new();
    for _ in 0..6 {
        assert_eq!(q.pop(), Some(key("a")));
        q.requeue_backoff(&key("a"), now);
        let at = q.next_deadline().unwrap();
        waits.push((at - now).as_secs());
        now = at;
        q.flush(now);
    }
    assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
}

#[test]
fn pods_unschedulable_for_too_long_are_retried_anyway() {
    let start = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, start);
    q.pop();
    q.requeue_unschedulable(&key("a"), start);
    q.flush(start + Duration::from_secs(299));
    assert_eq!(q.pop(), None);
    q.flush(start + Duration::from_secs(330));
    assert_eq!(q.pop(), Some(key("a")));
}

#[test]
fn a_changed_pod_leaves_the_unschedulable_queue_and_removed_pods_are_gone() {
    let start = Instant::now();
    let mut q = queue();
    q.add(key("a"), 0, start);
    q.add(key("b"), 0, start);
    q.pop();
    q.pop();
    q.requeue_unschedulable(&key("a"), start);
    q.requeue_unschedulable(&key("b"), start);
    q.add(key("a"), 0, start + Duration::from_secs(5));
    q.remove(&key("b"));
    assert_eq!(q.counts(), (1, 0, 0));
    assert_eq!(q.pop(), Some(key("a")));
    assert!(!q.contains(&key("b")));
}

//! Probe bookkeeping for one container: when the next probe is due and what the
//! consecutive results add up to (success and failure thresholds), as the kubelet
//! keeps it. Pure: the agent runs the probes and feeds the results in.

use std::time::Duration;

use orchestra_core::kinds::{Probe, ProbeHandler};
use tokio::time::Instant;

/// Which probe, which decides the result before the first probe has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Restart the container when it fails; assumed passing until it fails.
    Liveness,
    /// Mark the container ready when it passes; assumed failing until it passes.
    Readiness,
    /// Hold back the other probes until it passes once; assumed failing until then.
    Startup,
}

/// The state of one probe of one container.
#[derive(Clone, Debug)]
pub struct ProbeTracker {
    kind: ProbeKind,
    handler: ProbeHandler,
    period: Duration,
    timeout: Duration,
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    passing: bool,
    next_due: Instant,
    last_message: Option<String>,
}

fn seconds(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.map_or(default, |s| u64::try_from(s.max(0)).unwrap_or(default)))
}

impl ProbeTracker {
    /// A tracker for `probe`, for a container that started at `started` (`None` when
    /// the probe has no action).
    pub fn new(kind: ProbeKind, probe: &Probe, started: Instant) -> Option<ProbeTracker> {
        let handler = probe.handler()?;
        let initial_delay = seconds(probe.initial_delay_seconds, 0);
        let threshold = |v: Option<i32>, default: u32| {
            v.and_then(|t| u32::try_from(t).ok())
                .filter(|&t| t > 0)
                .unwrap_or(default)
        };
        Some(ProbeTracker {
            kind,
            handler,
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: threshold(probe.success_threshold, 1),
            failure_threshold: threshold(probe.failure_threshold, 3),
            successes: 0,
            failures: 0,
            passing: kind == ProbeKind::Liveness,
            next_due: started + initial_delay,
            last_message: None,
        })
    }

    /// The action to run.
    pub fn handler(&self) -> &ProbeHandler {
        &self.handler
    }

    /// How long one probe may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the thresholds currently count the probe as passing.
    pub fn is_passing(&self) -> bool {
        self.passing
    }

    /// When the next probe is due.
    pub fn next_due(&self) -> Instant {
        self.next_due
    }

    /// Why the last probe failed, if it did.
    pub fn last_message(&self) -> Option<&str> {
        self.last_message.as_deref()
    }

    /// Records one probe's result at `now` and schedules the next; returns whether the
    /// passing/failing verdict changed.
    pub fn record(&mut self, success: bool, message: Option<String>, now: Instant) -> bool {
        self.next_due = now + self.period;
        let before = self.passing;
        if success {
            self.successes += 1;
            self.failures = 0;
            self.last_message = None;
            if self.successes >= self.success_threshold {
                self.passing = true;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            self.last_message = message;
            if self.failures >= self.failure_threshold {
                self.passing = false;
            }
        }
        before != self.passing
    }

    /// The kind of probe.
    pub fn kind(&self) -> ProbeKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use orchestra_core::kinds::ExecAction;

    use super::*;

    fn probe(failure_threshold: i32, success_threshold: i32) -> Probe {
        Probe {
            exec: Some(ExecAction {
                command: vec!["true".into()],
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
            failure_threshold: Some(failure_threshold),
            success_threshold: Some(success_threshold),
            ..Default::default()
        }
    }

    #[test]
    fn liveness_passes_until_failure_threshold_consecutive_failures() {
        let start = Instant::now();
        let mut t = ProbeTracker::new(ProbeKind::Liveness, &probe(3, 1), start).unwrap();
        assert!(t.is_passing());
        assert_eq!(
            t.next_due(),
            start + Duration::from_secs(5),
            "initial delay"
        );
        assert!(!t.record(false, Some("exit 1".into()), start));
        assert!(!t.record(false, None, start));
        assert!(!t.record(true, None, start), "a success resets the count");
        assert!(!t.record(false, None, start));
        assert!(!t.record(false, None, start));
        assert!(t.record(false, Some("exit 1".into()), start));
        assert!(!t.is_passing());
        assert_eq!(t.last_message(), Some("exit 1"));
        assert_eq!(t.next_due(), start + Duration::from_secs(10));
    }

    #[test]
    fn readiness_fails_until_success_threshold_consecutive_successes() {
        let start = Instant::now();
        let mut t = ProbeTracker::new(ProbeKind::Readiness, &probe(1, 2), start).unwrap();
        assert!(!t.is_passing());
        assert!(!t.record(true, None, start));
        assert!(t.record(true, None, start));
        assert!(t.is_passing());
        assert!(t.record(false, None, start), "one failure at threshold 1");
    }

    #[test]
    fn a_probe_without_an_action_is_not_tracked() {
        assert!(
            ProbeTracker::new(ProbeKind::Readiness, &Probe::default(), Instant::now()).is_none()
        );
    }
}

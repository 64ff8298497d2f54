//! Whether and when an exited container starts again: the restart policy and the
//! crash-loop backoff (Kubernetes': 10 s doubling to 5 min, reset after a container
//! ran 10 minutes).

use std::time::Duration;

use orchestra_core::kinds::RestartPolicy;

/// Crash-loop backoff settings; the defaults are the kubelet's.
///
/// ```
/// use std::time::Duration;
/// use orchestra_runtime::node::CrashLoopBackoff;
///
/// let backoff = CrashLoopBackoff::default().initial(Duration::from_secs(1));
/// assert_eq!(backoff.next_delay(None, Duration::ZERO), Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoopBackoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
}

impl Default for CrashLoopBackoff {
    fn default() -> Self {
        CrashLoopBackoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

impl CrashLoopBackoff {
    /// The delay before the first restart; each further one doubles it. Default 10 s.
    #[must_use]
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// The longest delay. Default 300 s.
    #[must_use]
    pub fn max(mut self, delay: Duration) -> Self {
        self.max = delay;
        self
    }

    /// A container that ran at least this long before exiting starts over at the
    /// initial delay. Default 10 min.
    #[must_use]
    pub fn reset_after(mut self, ran_for: Duration) -> Self {
        self.reset_after = ran_for;
        self
    }

    /// The delay before the next restart, given the delay before the previous one
    /// (`None`: it never restarted) and how long the container ran this time.
    pub fn next_delay(&self, previous: Option<Duration>, ran_for: Duration) -> Duration {
        match previous {
            Some(prev) if ran_for < self.reset_after => (prev * 2).min(self.max),
            _ => self.initial.min(self.max),
        }
    }
}

/// Whether a container that exited with `exit_code` is started again under `policy`.
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_five_minutes_and_resets_after_ten_minutes_running() {
        let b = CrashLoopBackoff::default();
        let mut delay = None;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let next = b.next_delay(delay, Duration::from_secs(1));
            seen.push(next.as_secs());
            delay = Some(next);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            b.next_delay(delay, Duration::from_secs(600)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn restart_policies() {
        assert!(should_restart(RestartPolicy::Always, 0));
        assert!(should_restart(RestartPolicy::Always, 1));
        assert!(!should_restart(RestartPolicy::OnFailure, 0));
        assert!(should_restart(RestartPolicy::OnFailure, 137));
        assert!(!should_restart(RestartPolicy::Never, 1));
    }
}

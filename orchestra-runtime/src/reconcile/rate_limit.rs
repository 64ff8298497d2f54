//! How long a retried key waits: a per-key exponential backoff and an optional overall
//! token bucket.
//!
//! These are the two halves of client-go's default controller rate limiter
//! (`ItemExponentialFailureRateLimiter` and `BucketRateLimiter`, combined by
//! `MaxOfRateLimiter`). Both are plain values driven by the [`WorkQueue`]'s lock and
//! clock: they take `now` as an argument and do no I/O and no locking of their own, so
//! they are tested here without tasks or time.
//!
//! [`WorkQueue`]: super::WorkQueue

use std::time::Duration;

use tokio::time::Instant;

/// An overall limit on how fast rate-limited retries are released, as a token bucket.
///
/// Every [`WorkQueue::add_rate_limited`](super::WorkQueue::add_rate_limited) takes one
/// token; the bucket holds at most `burst` tokens and refills at `qps` tokens per
/// second. When the bucket is empty the retry waits for its token, so retries leave the
/// queue at no more than `qps` per second after an initial burst. The wait is combined
/// with the key's own exponential backoff by taking the longer of the two.
///
/// Only rate-limited adds are throttled: [`add`](super::WorkQueue::add) and
/// [`add_after`](super::WorkQueue::add_after) (watch events, explicit requeues) are
/// never delayed by the bucket.
///
/// client-go enables such a bucket by default (10 qps, burst 100); Orchestra does not,
/// see [`QueueConfig::rate_limit`](super::QueueConfig::rate_limit).
///
/// ```
/// use orchestra_runtime::reconcile::{QueueConfig, RateLimit};
///
/// // client-go's default: 10 retries per second after a burst of 100.
/// let config = QueueConfig::default().rate_limit(RateLimit::new(10.0, 100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    qps: f64,
    burst: u32,
}

impl RateLimit {
    /// A bucket refilled at `qps` tokens per second that holds at most `burst` tokens
    /// (and starts full).
    ///
    /// # Panics
    ///
    /// If `qps` is not a finite number greater than zero, or `burst` is zero: such a
    /// bucket would never release a retry.
    #[must_use]
    pub fn new(qps: f64, burst: u32) -> Self {
        assert!(
            qps.is_finite() && qps > 0.0,
            "rate limit qps must be finite and positive, got {qps}"
        );
        assert!(burst > 0, "rate limit burst must be at least 1");
        Self { qps, burst }
    }

    /// Tokens added per second.
    #[must_use]
    pub fn qps(&self) -> f64 {
        self.qps
    }

    /// Most tokens the bucket holds, and so the most retries released at once.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// `base · 2^failures`, capped at `max`: the wait before retry number `failures + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExponentialBackoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl ExponentialBackoff {
    /// The delay for a key that has already failed `failures` times (0 on the first
    /// failure, giving `base`).
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        // 2^127 nanoseconds overflows any Duration, so beyond that the answer is `max`;
        // the multiplication is done in u128 so no intermediate can wrap.
        if failures >= 127 {
            return self.max;
        }
        let nanos = self.base.as_nanos().saturating_mul(1u128 << failures);
        if nanos >= self.max.as_nanos() {
            self.max
        } else {
            // Below `max`, which is a Duration, so it fits the u64 nanoseconds...
            // unless `max` itself is beyond u64 nanoseconds (584 years); clamp anyway.
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }
}

/// A token bucket in "reservation" style, like Go's `rate.Limiter::Reserve`: every call
/// takes a token, tokens may go negative, and the caller is told how long to wait for
/// its token. Reservations are never cancelled, so the release times it hands out are
/// spaced exactly `1/qps` apart once the burst is spent.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            updated: now,
        }
    }

    /// Takes one token and returns how long from `now` until it is available.
    pub(crate) fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.qps).min(f64::from(self.limit.burst));
        self.updated = self.updated.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.limit.qps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_from_base_and_stops_at_max() {
        let backoff = ExponentialBackoff {
            base: 5 * MS,
            max: Duration::from_secs(1000),
        };
        let delays: Vec<_> = (0..6).map(|n| backoff.delay(n)).collect();
        assert_eq!(
            delays,
            [5 * MS, 10 * MS, 20 * MS, 40 * MS, 80 * MS, 160 * MS]
        );
        // 5 ms · 2^17 = 655.36 s, 5 ms · 2^18 = 1310.72 s > 1000 s.
        assert_eq!(backoff.delay(17), Duration::from_millis(655_360));
        assert_eq!(backoff.delay(18), Duration::from_secs(1000));
        assert_eq!(backoff.delay(126), Duration::from_secs(1000));
        assert_eq!(backoff.delay(127), Duration::from_secs(1000));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(1000));
    }

    #[test]
    fn backoff_with_huge_max_does_not_overflow() {
        let backoff = ExponentialBackoff {
            base: Duration::from_secs(1),
            max: Duration::MAX,
        };
        assert_eq!(backoff.delay(3), Duration::from_secs(8));
        assert!(backoff.delay(100) > Duration::from_secs(1 << 40));
    }

    #[test]
    fn bucket_releases_burst_then_spaces_by_one_over_qps() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(10.0, 2), now);
        let waits: Vec<_> = (0..5).map(|_| bucket.reserve(now)).collect();
        assert_eq!(
            waits,
            [Duration::ZERO, Duration::ZERO, 100 * MS, 200 * MS, 300 * MS]
        );
    }

    #[test]
    fn bucket_refills_over_time_up_to_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::new(10.0, 2), start);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        // An hour later the bucket is full again, but holds no more than the burst.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), 100 * MS);
    }

    #[test]
    #[should_panic(expected = "qps must be finite and positive")]
    fn zero_qps_is_rejected() {
        let _ = RateLimit::new(0.0, 1);
    }

    #[test]
    #[should_panic(expected = "burst must be at least 1")]
    fn zero_burst_is_rejected() {
        let _ = RateLimit::new(1.0, 0);
    }
}

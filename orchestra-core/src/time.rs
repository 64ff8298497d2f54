//! Wall-clock timestamps that follow tokio's (possibly paused) time.
//!
//! Everything in Orchestra that waits uses `tokio::time`, and everything that stamps an
//! object (`creationTimestamp`, lease renewals, condition transitions) asks a [`Clock`].
//! The clock reads "the wall time when it was created, plus how far tokio's clock has
//! moved since", so under `#[tokio::test(start_paused = true)]` a five-minute eviction
//! timeout passes in milliseconds and timestamps agree with the timers.

mod rfc3339;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in wall-clock time, serialized as RFC 3339 in UTC with microseconds
/// (`2026-11-28T10:00:00.000000Z`), like Kubernetes' `MicroTime`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Time = Time(DateTime::UNIX_EPOCH);

    /// A time from whole seconds since the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Time {
        Time(
            Utc.timestamp_opt(secs, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
        )
    }

    /// This time plus `d` (saturating at the end of representable time).
    pub fn plus(self, d: Duration) -> Time {
        match chrono::Duration::from_std(d) {
            Ok(cd) => Time(
                self.0
                    .checked_add_signed(cd)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
            Err(_) => Time(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// This time minus `d` (saturating at the start of representable time).
    pub fn minus(self, d: Duration) -> Time {
        match chrono::Duration::from_std(d) {
            Ok(cd) => Time(
                self.0
                    .checked_sub_signed(cd)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            ),
            Err(_) => Time(DateTime::<Utc>::MIN_UTC),
        }
    }

    /// How long after `earlier` this time is; zero if it is not after it.
    pub fn since(self, earlier: Time) -> Duration {
        (self.0 - earlier.0).to_std().unwrap_or(Duration::ZERO)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rfc3339::format(&self.0, &mut [0; rfc3339::LEN]) {
            Some(text) => f.write_str(text),
            None => f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true)),
        }
    }
}

impl FromStr for Time {
    type Err = chrono::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match rfc3339::parse(s) {
            Some(t) => Ok(Time(t)),
            None => Ok(Time(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))),
        }
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match rfc3339::format(&self.0, &mut [0; rfc3339::LEN]) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse()
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {s:?}: {e}")))
    }
}

/// The source of wall-clock time for one cluster.
///
/// Cheap to clone; all clones agree. See the module docs for why it follows tokio time.
#[derive(Clone, Debug)]
pub struct Clock {
    base_wall: DateTime<Utc>,
    base_instant: tokio::time::Instant,
}

impl Clock {
    /// A clock anchored at the current system time.
    ///
    /// Under paused tokio time it advances only when tokio's clock does.
    pub fn new() -> Clock {
        Clock::starting_at(Time(Utc::now()))
    }

    /// A clock that reads `start` now and advances with tokio's clock from there:
    /// deterministic timestamps for tests.
    pub fn starting_at(start: Time) -> Clock {
        Clock {
            base_wall: start.0,
            base_instant: tokio::time::Instant::now(),
        }
    }

    /// The current time, truncated to whole microseconds: the precision timestamps
    /// are stored with, so a stamped object equals itself read back.
    pub fn now(&self) -> Time {
        let now = Time(self.base_wall).plus(self.base_instant.elapsed());
        Time(now.0.trunc_subsecs(6))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn clock_follows_paused_tokio_time() {
        let start = Time::from_unix_seconds(1_700_000_000);
        let clock = Clock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(clock.now().since(start), Duration::from_secs(300));
    }

    #[test]
    fn time_round_trips_through_json() {
        let t: Time = "2026-11-28T10:00:00Z".parse().unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-28T10:00:00.000000Z\"");
        let back: Time = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_timestamp_names_the_input() {
        let err = serde_json::from_str::<Time>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("yesterday"), "{err}");
    }
}

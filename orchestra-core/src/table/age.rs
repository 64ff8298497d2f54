//! Ages as kubectl prints them (`4s`, `2m3s`, `5h`, `3d`), with the rounding of
//! Kubernetes' `duration.HumanDuration`, so a table from this server reads like one
//! from kube-apiserver.

use chrono::TimeDelta;

use crate::time::Time;

/// How long ago `since` was at `now`, as [`human_duration`] writes it; `<unknown>`
/// when the time is not set. The cell of every Age column.
pub fn age(since: Option<Time>, now: Time) -> String {
    match since {
        Some(since) => human_duration(now.0 - since.0),
        None => "<unknown>".to_owned(),
    }
}

/// A duration in two or three significant figures, as Kubernetes writes ages:
///
/// | duration | written as |
/// |---|---|
/// | under 2 minutes | seconds: `0s` … `119s` |
/// | under 10 minutes | minutes and seconds: `2m`, `2m3s` |
/// | under 3 hours | minutes: `10m` … `179m` |
/// | under 8 hours | hours and minutes: `3h`, `3h5m` |
/// | under 2 days | hours: `8h` … `47h` |
/// | under 8 days | days and hours: `2d`, `2d5h` |
/// | under 2 years | days: `8d` … `729d` |
/// | under 8 years | years and days: `2y`, `2y45d` (years of 365 days) |
/// | longer | years: `8y` |
///
/// Each unit is truncated, never rounded. Up to a second in the future (clocks a
/// little apart) reads `0s`; further in the future is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    // Whole seconds, truncated toward zero: -1.5 s is -1 and still reads "0s".
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 2 * 60 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 8 * 24 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 2 * 365 * 24 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 8 * 365 * 24 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// `2m3s`, or just `2m` when the remainder is zero.
fn with_remainder(whole: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{whole}{unit}")
    } else {
        format!("{whole}{unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> String {
        human_duration(TimeDelta::seconds(s))
    }

    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;

    #[test]
    fn the_near_future_is_now_and_the_far_future_is_invalid() {
        assert_eq!(human_duration(TimeDelta::milliseconds(-500)), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(-1999)), "0s");
        assert_eq!(secs(-1), "0s");
        assert_eq!(secs(-2), "<invalid>");
        assert_eq!(secs(-3600), "<invalid>");
    }

    #[test]
    fn seconds_up_to_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(4_900)), "4s");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(60), "60s");
        assert_eq!(secs(2 * MINUTE - 1), "119s");
    }

    #[test]
    fn minutes_and_seconds_up_to_ten_minutes_then_minutes() {
        assert_eq!(secs(2 * MINUTE), "2m");
        assert_eq!(secs(2 * MINUTE + 3), "2m3s");
        assert_eq!(secs(10 * MINUTE - 1), "9m59s");
        assert_eq!(secs(10 * MINUTE), "10m");
        assert_eq!(secs(10 * MINUTE + 59), "10m");
        assert_eq!(secs(3 * HOUR - 1), "179m");
    }

    #[test]
    fn hours_and_minutes_up_to_eight_hours_then_hours() {
        assert_eq!(secs(3 * HOUR), "3h");
        assert_eq!(secs(3 * HOUR + 5 * MINUTE + 59), "3h5m");
        assert_eq!(secs(8 * HOUR - 1), "7h59m");
        assert_eq!(secs(8 * HOUR), "8h");
        assert_eq!(secs(48 * HOUR - 1), "47h");
    }

    #[test]
    fn days_and_hours_up_to_eight_days_then_days() {
        assert_eq!(secs(2 * DAY), "2d");
        assert_eq!(secs(2 * DAY + 5 * HOUR), "2d5h");
        assert_eq!(secs(8 * DAY - 1), "7d23h");
        assert_eq!(secs(8 * DAY), "8d");
        assert_eq!(secs(2 * YEAR - 1), "729d");
    }

    #[test]
    fn years_and_days_up_to_eight_years_then_years() {
        assert_eq!(secs(2 * YEAR), "2y");
        assert_eq!(secs(2 * YEAR + 45 * DAY), "2y45d");
        assert_eq!(secs(8 * YEAR - 1), "7y364d");
        assert_eq!(secs(8 * YEAR), "8y");
        assert_eq!(secs(100 * YEAR + 200 * DAY), "100y");
    }

    #[test]
    fn an_unset_time_has_an_unknown_age() {
        let now = Time::from_unix_seconds(1_000_000);
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(Some(Time::from_unix_seconds(1_000_000 - 4)), now), "4s");
    }
}

//! RFC 3339 in the one shape Orchestra writes (`2026-11-28T10:00:00.000000Z`), written
//! and read without allocating. Every object carries several timestamps, so this is
//! on the path of every encode and decode; anything outside the shape (other offsets,
//! lower-case letters, years past 9999, leap seconds) is left to chrono.

use std::ops::Range;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Bytes in `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(super) const LEN: usize = 27;

/// `t` in UTC with microseconds (truncated, as chrono writes them), or `None` for a
/// year outside 0–9999 or a leap second.
pub(super) fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; LEN]) -> Option<&'b str> {
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let fields: [(Range<usize>, u32); 7] = [
        (0..4, year.unsigned_abs()),
        (5..7, t.month()),
        (8..10, t.day()),
        (11..13, t.hour()),
        (14..16, t.minute()),
        (17..19, t.second()),
        (20..26, nanos / 1_000),
    ];
    for (range, value) in fields {
        digits(&mut buf[range], value);
    }
    for (at, separator) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        buf[at] = separator;
    }
    buf[19] = b'.';
    buf[26] = b'Z';
    std::str::from_utf8(buf).ok()
}

/// Writes `n` in decimal into all of `out`, zero-padded on the left.
fn digits(out: &mut [u8], mut n: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.f]Z` with 1 to 9 fraction digits; `None` for anything
/// else, valid or not.
pub(super) fn parse(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b[b.len() - 1] != b'Z' || separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let number = |range: Range<usize>| {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let places = fraction.len() as u32;
            number(20..20 + fraction.len())? * 10u32.pow(9 - places)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time = date.and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::{SecondsFormat, TimeZone};
    use proptest::prelude::*;

    use super::*;

    /// Every second of years 1 to 9999, with any nanosecond.
    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (-62_135_596_800i64..253_402_300_800, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
    }

    proptest! {
        /// Written exactly as chrono writes it, and read back as chrono reads it.
        #[test]
        fn agrees_with_chrono(t in any_time()) {
            let mut buf = [0; LEN];
            let ours = format(&t, &mut buf).expect("years 1-9999 have the fast shape");
            prop_assert_eq!(ours, t.to_rfc3339_opts(SecondsFormat::Micros, true));
            let chrono_read = DateTime::parse_from_rfc3339(ours).unwrap().with_timezone(&Utc);
            prop_assert_eq!(parse(ours), Some(chrono_read));
        }

        /// Any number of fraction digits reads as chrono reads it.
        #[test]
        fn fractions_of_any_length_agree_with_chrono(t in any_time(), places in 0usize..=9) {
            let nanos = format!("{:09}", t.nanosecond());
            let fraction = if places == 0 { String::new() } else { format!(".{}", &nanos[..places]) };
            let text = format!("{}{fraction}Z", t.format("%Y-%m-%dT%H:%M:%S"));
            let chrono_read = DateTime::parse_from_rfc3339(&text).unwrap().with_timezone(&Utc);
            prop_assert_eq!(parse(&text), Some(chrono_read));
        }
    }

    #[test]
    fn other_shapes_are_left_to_chrono() {
        for text in [
            "2026-11-28T10:00:00+01:00",
            "2026-11-28t10:00:00z",
            "2026-11-28 10:00:00Z",
            "2026-11-28T10:00:00.1234567890Z",
            "2026-11-28T10:00:00.Z",
            "2026-02-30T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "+12026-11-28T10:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format(&far, &mut [0; LEN]), None);
    }
}

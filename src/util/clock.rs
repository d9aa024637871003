//! Wall-clock helpers in one place: milliseconds since the epoch, UTC and local civil time (through jiff, which
//! reads the zone from TZ or /etc/localtime as the C library does).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now; 0 if the clock is before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A UTC date and time broken down, from milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

fn timestamp(ms: i64) -> Timestamp {
    // Outside jiff's range (±9999 years) only with a corrupt input: clamp rather than fail.
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The UTC civil time of `ms`.
pub fn civil_utc(ms: i64) -> Civil {
    let dt = TimeZone::UTC.to_datetime(timestamp(ms));
    Civil {
        year: i32::from(dt.year()),
        month: dt.month() as u32,
        day: dt.day() as u32,
        hour: dt.hour() as u32,
        minute: dt.minute() as u32,
        second: dt.second() as u32,
        millis: dt.millisecond() as u32,
    }
}

/// `2026-11-24T18:56:56.123Z`: RFC 3339 in UTC with milliseconds.
pub fn utc(ms: i64) -> String {
    let c = civil_utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// (year, month 1-12, day 1-31) of a day number counted from 1970-01-01.
pub fn date_of_day(day: i64) -> (i64, u32, u32) {
    let c = civil_utc(day.saturating_mul(86_400_000));
    (i64::from(c.year), c.month, c.day)
}

/// The local zone's offset east of UTC, in seconds, at `t` seconds since the epoch.
pub fn utc_offset(t: i64) -> i64 {
    let ts = Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH);
    i64::from(TimeZone::system().to_offset(ts).seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_strings_and_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_764_010_616_123), "2025-11-24T18:56:56.123Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(date_of_day(0), (1970, 1, 1));
        assert_eq!(date_of_day(11_016), (2000, 2, 29));
        let c = civil_utc(951_782_400_000 + 3_723_004);
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
        assert_eq!((c.hour, c.minute, c.second, c.millis), (1, 2, 3, 4));
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        for ms in [i64::MIN, i64::MAX, -62_135_596_800_001] {
            let _ = utc(ms);
        }
        let _ = date_of_day(i64::MAX);
        let _ = utc_offset(i64::MIN);
    }
}

//! Times as people and programs write them: `--since 1h`, `--from 03:00` (the last time the local clock read
//! 03:00), `2026-11-28 03:00`, RFC 3339, or Unix seconds as Prometheus' API takes them.

use crate::config::units::parse_duration;
use jiff::tz::TimeZone;

/// A point in time in Unix ms. `now_ms` is given so that tests (and one command) read one clock.
pub fn parse_instant(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0) as i64);
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let tz = TimeZone::system();
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(tz)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| e.to_string());
    }
    if let Ok(t) = s.parse::<jiff::civil::Time>() {
        let now = jiff::Timestamp::from_millisecond(now_ms)
            .map_err(|e| e.to_string())?
            .to_zoned_datetime(tz.clone());
        let today = now
            .date()
            .to_datetime(t)
            .to_zoned_datetime(tz)
            .map_err(|e| e.to_string())?;
        let ms = today.timestamp().as_millisecond();
        // Later than now: sar's -s names a time of the file's day; ours is the last time it was that time.
        return Ok(if ms > now_ms { ms - 86_400_000 } else { ms });
    }
    if let Ok(d) = parse_duration(s) {
        return Ok(now_ms - d.as_millis() as i64);
    }
    Err(format!(
        "{s:?} is not a time: write 03:00, \"2026-11-28 03:00\", an RFC 3339 time, Unix seconds, or a duration back from now (1h)"
    ))
}

/// A duration in ms: "30s", "5m", or plain seconds as Prometheus' `step` takes them.
pub fn parse_span(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.trim().parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok((secs * 1000.0) as i64);
    }
    parse_duration(s).map(|d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_written_form() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_instant("1700000000", now), Ok(now));
        assert_eq!(parse_instant("2023-11-14T22:13:20Z", now), Ok(now));
        assert_eq!(parse_instant("1h", now), Ok(now - 3_600_000));
        let t = parse_instant("03:00", now).unwrap();
        assert!(t <= now && t > now - 86_400_000);
        assert!(parse_instant("yesterday", now).is_err());
        assert_eq!(parse_span("30s"), Ok(30_000));
        assert_eq!(parse_span("15"), Ok(15_000));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_instant(&s, 1_700_000_000_000);
            let _ = parse_span(&s);
        }
    }
}

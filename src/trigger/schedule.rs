//! Schedules: periodic thread dumps, histograms or bundles, every interval or on a 5-field cron expression
//! (local time, as cron reads it), for the JVMs a schedule selects. Checked once per collection (a time
//! comparison); the snapshots themselves are the snapshot worker's, within its hourly budget.

use super::action::ActionKind;
use crate::config::units::{Interval, Pattern};
use crate::util::clock::{date_of_day, utc_offset};
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// dump, histo or bundle.
    #[serde(rename = "do")]
    pub actions: Vec<ActionKind>,
    /// Either an interval...
    #[serde(default)]
    pub every: Option<Interval>,
    /// ... or a cron expression: "minute hour day-of-month month day-of-week", e.g. "0 */6 * * *".
    #[serde(default)]
    pub cron: Option<toml::Spanned<String>>,
    /// JVMs whose app name matches this regular expression (default: every JVM).
    #[serde(default)]
    pub app: Option<Pattern>,
}

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day-of-month and day-of-week restricted both: a day matches either (cron's rule).
    either: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    pub fn parse(s: &str) -> Result<Cron, String> {
        let s = s.trim();
        let expanded = match s {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            _ => s,
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "\"{s}\" has {} fields; cron takes 5: minute hour day-of-month month day-of-week, e.g. \"0 */6 * * *\"",
                f.len()
            ));
        }
        let minute = field(f[0], 0, 59, &[], "minute")?;
        let hour = field(f[1], 0, 23, &[], "hour")?;
        let dom = field(f[2], 1, 31, &[], "day of month")?;
        let month = field(f[3], 1, 12, &MONTHS, "month")?;
        let mut dow = field(f[4], 0, 7, &DAYS, "day of week")?;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7); // 7 is Sunday too
        }
        Ok(Cron {
            minute,
            hour,
            dom,
            month,
            dow,
            either: !f[2].starts_with('*') && !f[4].starts_with('*'),
        })
    }

    fn day_matches(&self, dom: u32, month: u32, dow: u32) -> bool {
        if self.month & (1 << month) == 0 {
            return false;
        }
        let d = self.dom & (1 << dom) != 0;
        let w = self.dow & (1 << dow) != 0;
        if self.either { d || w } else { d && w }
    }

    /// The first matching minute strictly after `after` (seconds since the epoch, in a zone `offset`
    /// seconds east of UTC), as seconds since the epoch; None when no date in 8 years matches (Feb 30).
    pub fn next_after(&self, after: i64, offset: i64) -> Option<i64> {
        let local = after.checked_add(offset)?.div_euclid(60).checked_add(1)? * 60;
        let first_day = local.div_euclid(86400);
        let start_min = (local.rem_euclid(86400) / 60) as u32;
        for day in first_day..first_day + 8 * 366 {
            let (_, m, d) = date_of_day(day);
            let dow = (day + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            if !self.day_matches(d, m, dow) {
                continue;
            }
            let from = if day == first_day { start_min } else { 0 };
            for min_of_day in from..1440 {
                let (h, mi) = (min_of_day / 60, min_of_day % 60);
                if self.hour & (1 << h) != 0 && self.minute & (1 << mi) != 0 {
                    return Some(day * 86400 + min_of_day as i64 * 60 - offset);
                }
            }
        }
        None
    }
}

/// One field: "*", "*/n", "a", "a-b", "a-b/n", "a/n", comma lists; names for months and days.
fn field(s: &str, lo: u32, hi: u32, names: &[&str], what: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    let value = |t: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Ok(i as u32 + u32::from(names.len() == 12));
        }
        let v: u32 = t
            .parse()
            .map_err(|_| format!("{what}: \"{t}\" is not a number"))?;
        if v < lo || v > hi {
            return Err(format!("{what}: {v} is outside {lo}-{hi}"));
        }
        Ok(v)
    };
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st
                    .parse()
                    .map_err(|_| format!("{what}: step \"{st}\" is not a number"))?;
                if st == 0 || st > hi {
                    return Err(format!("{what}: step {st} must be 1-{hi}"));
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("{what}: range {a}-{b} runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if step > 1 { hi } else { a })
        };
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// When each schedule is next due.
pub struct Timer {
    every: Option<std::time::Duration>,
    cron: Option<Cron>,
    next_instant: Option<Instant>,
    next_wall: Option<i64>,
}

impl Timer {
    /// `cfg` was validated: exactly one of every / cron, and the cron parses.
    pub fn new(cfg: &ScheduleConfig, now: Instant, wall_s: i64) -> Timer {
        let cron = cfg
            .cron
            .as_ref()
            .and_then(|c| Cron::parse(c.get_ref()).ok());
        let mut t = Timer {
            every: cfg.every.map(|e| e.0),
            cron,
            next_instant: None,
            next_wall: None,
        };
        t.next_instant = t.every.map(|e| now + e);
        t.schedule_cron(wall_s);
        t
    }

    fn schedule_cron(&mut self, wall_s: i64) {
        if let Some(c) = &self.cron {
            let mut n = c.next_after(wall_s, utc_offset(wall_s));
            // A daylight-saving change between now and then moves the zone's offset: ask again with it.
            if let Some(x) = n {
                let off = utc_offset(x);
                if off != utc_offset(wall_s) {
                    n = c.next_after(wall_s, off);
                }
            }
            self.next_wall = n;
        }
    }

    /// True once per due time; a schedule missed by more than one period fires once, not once per miss.
    pub fn due(&mut self, now: Instant, wall_s: i64) -> bool {
        if let (Some(e), Some(n)) = (self.every, self.next_instant)
            && now >= n
        {
            let mut next = n + e;
            while next <= now {
                next += e;
            }
            self.next_instant = Some(next);
            return true;
        }
        if let Some(n) = self.next_wall
            && wall_s >= n
        {
            self.schedule_cron(wall_s);
            return true;
        }
        false
    }
}

pub fn validate(s: &ScheduleConfig) -> Result<(), String> {
    match (&s.every, &s.cron) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(format!(
                "schedule \"{}\": set exactly one of every = \"15m\" or cron = \"0 */6 * * *\"",
                s.name
            ));
        }
        _ => {}
    }
    if s.actions.is_empty() {
        return Err(format!(
            "schedule \"{}\": do is empty; use dump, histo or bundle",
            s.name
        ));
    }
    if let Some(a) = s
        .actions
        .iter()
        .find(|a| !matches!(a, ActionKind::Dump | ActionKind::Histo | ActionKind::Bundle))
    {
        return Err(format!(
            "schedule \"{}\": \"{}\" is not a snapshot; a schedule can do dump, histo or bundle",
            s.name,
            a.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24 (a Tuesday) 18:54:17 UTC.
    const T: i64 = 1_795_546_457;

    fn at(s: &str, after: i64) -> i64 {
        Cron::parse(s).unwrap().next_after(after, 0).unwrap()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(date_of_day(0), (1970, 1, 1));
        assert_eq!(date_of_day(T.div_euclid(86400)), (2026, 11, 24));
        assert_eq!(date_of_day(11_016), (2000, 2, 29));
    }

    #[test]
    fn next_times() {
        assert_eq!(at("* * * * *", T), T - 17 + 60);
        let day0 = T - (18 * 3600 + 54 * 60 + 17);
        // From 18:54 the next sixth hour is midnight.
        assert_eq!(at("0 */6 * * *", T), day0 + 86400);
        assert_eq!(at("0 */6 * * *", day0 + 3600), day0 + 6 * 3600);
        assert_eq!(at("30 9 * * mon-fri", T), day0 + 86400 + 9 * 3600 + 1800);
        // Sunday is 0 and 7: from Tuesday the next Sunday is 5 days on.
        assert_eq!(at("0 0 * * 7", T), day0 + 5 * 86400);
        assert_eq!(at("0 0 * * sun", T), day0 + 5 * 86400);
        // Day of month and day of week both restricted: either matches (the 1st, or a Wednesday).
        assert_eq!(at("0 0 1 * wed", T), day0 + 86400);
        assert_eq!(at("0 0 29 2 *", T), civil_days(2028, 2, 29) * 86400);
        assert!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(T, 0)
                .is_none()
        );
        // A zone 9 h east: 09:00 local is 00:00 UTC.
        assert_eq!(
            Cron::parse("0 9 * * *")
                .unwrap()
                .next_after(T, 9 * 3600)
                .unwrap(),
            day0 + 86400
        );
    }

    fn civil_days(y: i64, m: u32, d: u32) -> i64 {
        (0..30_000).find(|&z| date_of_day(z) == (y, m, d)).unwrap()
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
            "* * * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Cron::parse("@daily").is_ok());
        assert!(Cron::parse("0,15,30,45 8-18/2 1-7 jan,JUL 1-5").is_ok());
    }

    #[test]
    fn every_fires_once_per_period_and_skips_misses() {
        let cfg = ScheduleConfig {
            name: "s".into(),
            actions: vec![ActionKind::Dump],
            every: Some(Interval::secs(10)),
            cron: None,
            app: None,
        };
        let t0 = Instant::now();
        let mut t = Timer::new(&cfg, t0, T);
        assert!(!t.due(t0, T));
        assert!(t.due(t0 + std::time::Duration::from_secs(10), T));
        assert!(!t.due(t0 + std::time::Duration::from_secs(11), T));
        assert!(t.due(t0 + std::time::Duration::from_secs(55), T));
        assert!(!t.due(t0 + std::time::Duration::from_secs(59), T));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "[0-9*/,a-z@ -]{0,40}") {
            let _ = Cron::parse(&s);
        }

        /// Whatever the expression and the time, the next run is later, within 8 years, on a matching minute.
        #[test]
        fn next_is_after_and_matches(
            mi in 0u32..60, h in 0u32..24, step in 1u32..13, after in 0i64..4_000_000_000, off in -50_400i64..50_400
        ) {
            let s = format!("{mi} {h}/{step} * * *");
            let c = Cron::parse(&s).unwrap();
            let n = c.next_after(after, off).unwrap();
            proptest::prop_assert!(n > after);
            proptest::prop_assert!(n - after <= 86400 + 60);
            let local = n + off;
            proptest::prop_assert_eq!(local.rem_euclid(60), 0);
            let m = (local.rem_euclid(86400) / 60) as u32;
            proptest::prop_assert_eq!(m % 60, mi);
            proptest::prop_assert!(m / 60 >= h && (m / 60 - h).is_multiple_of(step));
        }
    }
}

//! The one place where counters become rates and percentages: two readings and the real time between them.
//!
//! One rule for a counter that reads lower than before: it was reset (a device removed and added again, an
//! interface restarted, a process replaced), so it counts from zero again and the increase is its current value
//! — as Prometheus' `rate()` and sysstat's interface-restart check have it. Two kinds of value are not such
//! counters and say so by their helper: fields the kernel prints as 32-bit ([`counter32`], they wrap), and CPU
//! time in ticks ([`ticks`]), which the kernel's NO_HZ idle accounting can step back by a tick or two: clamped at
//! zero, as sysstat does, never read as a reset.

/// Increase of a 64-bit counter between two readings; a reset counts from zero.
pub fn counter(cur: u64, prev: u64) -> u64 {
    if cur >= prev { cur - prev } else { cur }
}

/// Increase of a counter the kernel prints as 32-bit (the diskstats time fields): it wraps at 2^32.
pub fn counter32(cur: u64, prev: u64) -> u64 {
    u64::from((cur as u32).wrapping_sub(prev as u32))
}

/// Increase of CPU time in ticks; a step back is accounting jitter, clamped at zero.
pub fn ticks(cur: u64, prev: u64) -> u64 {
    cur.saturating_sub(prev)
}

/// Per-second rate of an increase over `secs` seconds; 0 for an empty interval.
pub fn per_sec(increase: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        increase as f64 / secs
    } else {
        0.0
    }
}

/// Seconds between two readings of /proc/uptime in centiseconds (sysstat's interval clock), at least 10 ms.
pub fn interval_s(cur_cs: u64, prev_cs: u64) -> f64 {
    cur_cs.saturating_sub(prev_cs).max(1) as f64 / 100.0
}

/// Share of `part` in `total` in percent, 0 when total is 0.
pub fn pct(part: f64, total: f64) -> f64 {
    if total > 0.0 {
        part * 100.0 / total
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_the_counter_rule() {
        assert_eq!(counter(150, 100), 50);
        assert_eq!(counter(30, 100), 30, "a reset counts from zero");
        assert_eq!(
            counter32(5, u64::from(u32::MAX) - 4),
            10,
            "a 32-bit field wraps"
        );
        assert_eq!(ticks(99, 100), 0, "tick jitter is clamped");
        assert_eq!(per_sec(50, 5.0), 10.0);
        assert_eq!(per_sec(50, 0.0), 0.0);
        assert_eq!(interval_s(250, 100), 1.5);
        assert_eq!(interval_s(100, 100), 0.01);
        assert_eq!(pct(1.0, 4.0), 25.0);
        assert_eq!(pct(1.0, 0.0), 0.0);
    }
}

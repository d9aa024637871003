//! The one place counters become rates: two readings and the real elapsed time between them.

/// Increase of a monotonic counter between two readings. A counter that went backwards (a reset, a device
/// that was removed and re-added, a 32-bit wrap on an old kernel) gives `None`, as sysstat skips such a line.
pub fn delta(cur: u64, prev: u64) -> Option<u64> {
    cur.checked_sub(prev)
}

/// Per-second rate of a counter over `secs` seconds; 0 when the interval is empty or the counter went back.
pub fn per_sec(cur: u64, prev: u64, secs: f64) -> f64 {
    match delta(cur, prev) {
        Some(d) if secs > 0.0 => d as f64 / secs,
        _ => 0.0,
    }
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
    fn rates() {
        assert_eq!(per_sec(150, 100, 5.0), 10.0);
        assert_eq!(per_sec(50, 100, 5.0), 0.0);
        assert_eq!(per_sec(150, 100, 0.0), 0.0);
        assert_eq!(pct(1.0, 4.0), 25.0);
        assert_eq!(pct(1.0, 0.0), 0.0);
    }
}

//! Requests as an application's access log tells them: totals since wasp started following the log, and the
//! figures of the last interval derived from two readings (TPS, percentiles, error share).

use serde::Serialize;

/// Status classes in label order; the last is for a missing or odd status.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
/// Methods with their own label value; anything else is OTHER.
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "OTHER",
];

pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100) - 1,
        _ => 5,
    }
}

pub fn method_index(m: &[u8]) -> usize {
    METHODS[..9]
        .iter()
        .position(|x| x.as_bytes() == m)
        .unwrap_or(9)
}

/// A latency histogram: `counts[i]` requests took at most `bounds[i]` seconds and more than the bound before
/// (not cumulative); the last count is above every bound (+Inf).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn new(bounds: Vec<f64>) -> Self {
        let n = bounds.len() + 1;
        Histogram {
            bounds,
            counts: vec![0; n],
            sum_seconds: 0.0,
        }
    }

    pub fn observe(&mut self, seconds: f64) {
        let i = self.bounds.partition_point(|&b| b < seconds);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum_seconds += seconds;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// This histogram minus an earlier one of the same source (counts only grow; a restart gives `self`).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        if earlier.bounds != self.bounds || earlier.count() > self.count() {
            return self.clone();
        }
        Histogram {
            bounds: self.bounds.clone(),
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            sum_seconds: self.sum_seconds - earlier.sum_seconds,
        }
    }

    /// The q-quantile in seconds as PromQL's histogram_quantile computes it: linear within the bucket, the
    /// first bucket starting at 0, and the highest finite bound when it falls in +Inf. None when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 || self.bounds.is_empty() {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if (below + c) as f64 >= rank && c > 0 {
                let Some(&hi) = self.bounds.get(i) else {
                    return self.bounds.last().copied();
                };
                let lo = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                return Some(lo + (hi - lo) * (rank - below as f64) / c as f64);
            }
            below += c;
        }
        self.bounds.last().copied()
    }
}

/// One access log of one application (instance), as of one collection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppRequests {
    pub app: String,
    /// The JVM's pid when the app runs in several JVMs on this host; else empty.
    pub instance: String,
    /// The JVM the log belongs to, when discovered from one.
    pub pid: Option<u32>,
    /// Names the log among the app's logs: the valve's prefix or the configured entry's name.
    pub log: String,
    /// Requests since start, `[status class][method]`.
    pub requests: [[u64; 10]; 6],
    /// None when the format logs no time taken.
    pub duration: Option<Histogram>,
    pub bytes: u64,
    pub lines: u64,
    pub unmatched: u64,
    /// Lines longer than the bound, cut and counted unmatched.
    pub long_lines: u64,
    pub rotations: u64,
    pub files: usize,
    /// Figures over the last interval; None on the first reading.
    pub interval: Option<Interval>,
}

impl AppRequests {
    pub fn total(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }

    pub fn errors(&self) -> u64 {
        self.requests[4].iter().sum()
    }
}

/// What happened between two readings of an access log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interval {
    pub requests: u64,
    pub tps: f64,
    /// 5xx share of the interval's requests, %; None without requests.
    pub error_pct: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// This instance's share of its app's requests on this host, %.
    pub tps_share: Option<f64>,
}

impl Interval {
    /// The figures between `prev` and `cur`, `seconds` apart.
    pub fn between(prev: &AppRequests, cur: &AppRequests, seconds: f64) -> Interval {
        let requests = cur.total().saturating_sub(prev.total());
        let errors = cur.errors().saturating_sub(prev.errors());
        let h = match (&cur.duration, &prev.duration) {
            (Some(c), Some(p)) => Some(c.since(p)),
            (Some(c), None) => Some(c.clone()),
            _ => None,
        };
        let ms = |q: f64| h.as_ref().and_then(|h| h.quantile(q)).map(|s| s * 1000.0);
        Interval {
            requests,
            tps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            error_pct: (requests > 0).then(|| errors as f64 / requests as f64 * 100.0),
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            tps_share: None,
        }
    }
}

/// The slowest and most failing URL templates of a log's last complete minute, and its slowest requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessTop {
    pub app: String,
    pub instance: String,
    pub log: String,
    /// `{minute_ms, templates, slowest: [...], failing: [...]}`, each row with count, errors, p50/p95/max ms.
    pub top: serde_json::Value,
    /// `[{timestamp_ms, template, status, duration_ms, thread}]`.
    pub slow: serde_json::Value,
}

/// The response-time scatter of one app (docs/access-logs.md): points held, requests seen, requests sampled
/// away to keep the bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScatterCount {
    pub app: String,
    pub points: u64,
    pub seen: u64,
    pub sampled_out: u64,
}

/// Default latency buckets, seconds: 5 ms to 30 s.
pub const DEFAULT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_as_promql() {
        let mut h = Histogram::new(vec![0.1, 0.2, 0.4]);
        for s in [0.05, 0.05, 0.15, 0.15, 0.3, 0.3, 0.3, 0.3, 1.0, 0.0] {
            h.observe(s);
        }
        assert_eq!(h.counts, vec![3, 2, 4, 1]);
        // rank 5 of 10: the end of the second bucket.
        assert!((h.quantile(0.5).unwrap() - 0.2).abs() < 1e-9);
        // rank 7: 2 of 4 into (0.2, 0.4].
        assert!((h.quantile(0.7).unwrap() - 0.3).abs() < 1e-9);
        // rank 9.9: +Inf bucket -> the highest finite bound.
        assert_eq!(h.quantile(0.99), Some(0.4));
        assert_eq!(Histogram::new(vec![1.0]).quantile(0.5), None);
        let mut e = h.clone();
        e.observe(0.05);
        assert_eq!(e.since(&h).counts, vec![1, 0, 0, 0]);
        assert_eq!(status_class(503), 4);
        assert_eq!(status_class(0), 5);
        assert_eq!(status_class(600), 5);
        assert_eq!(method_index(b"PATCH"), 6);
        assert_eq!(method_index(b"\xff"), 9);
    }
}

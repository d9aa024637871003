//! One sar-like line per access log of each app: requests per second, 5xx share and percentiles over the
//! interval, and the log's unmatched lines.

use crate::model::Collection;
use std::fmt::Write;

pub(super) fn render(c: &Collection, out: &mut String) {
    if c.access.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "APP                  PID     LOG                      REQ/s   ERR%    P50ms    P95ms    P99ms  SHARE%   REQUESTS  UNMATCHED FILES"
    );
    let num = |v: Option<f64>, w: usize, d: usize| {
        v.map(|x| format!("{x:>w$.d$}"))
            .unwrap_or_else(|| format!("{:>w$}", "-"))
    };
    for a in &c.access {
        let i = a.interval.as_ref();
        let _ = writeln!(
            out,
            "{:<20} {:<7} {:<22} {} {} {} {} {} {} {:>10} {:>10} {:>5}",
            a.app,
            a.pid.map(|p| p.to_string()).unwrap_or("-".into()),
            a.log,
            num(i.map(|i| i.tps), 7, 1),
            num(i.and_then(|i| i.error_pct), 6, 1),
            num(i.and_then(|i| i.p50_ms), 8, 1),
            num(i.and_then(|i| i.p95_ms), 8, 1),
            num(i.and_then(|i| i.p99_ms), 8, 1),
            num(i.and_then(|i| i.tps_share), 7, 1),
            a.total(),
            a.unmatched,
            a.files,
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::{AppRequests, Interval};

    #[test]
    fn one_line_per_log() {
        let mut a = AppRequests {
            app: "shop".into(),
            pid: Some(4242),
            log: "localhost_access_log".into(),
            files: 1,
            interval: Some(Interval {
                requests: 50,
                tps: 10.0,
                error_pct: Some(2.0),
                p50_ms: Some(12.5),
                p95_ms: Some(80.0),
                p99_ms: None,
                tps_share: Some(100.0),
            }),
            ..Default::default()
        };
        a.requests[1][0] = 50;
        let c = Collection {
            access: vec![a],
            ..Default::default()
        };
        let mut out = String::new();
        render(&c, &mut out);
        let line = out.lines().nth(1).unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "shop",
                "4242",
                "localhost_access_log",
                "10.0",
                "2.0",
                "12.5",
                "80.0",
                "-",
                "100.0",
                "50",
                "0",
                "1"
            ]
        );
    }
}

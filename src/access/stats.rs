//! Counting the requests of one access log: totals by status class and method, the latency histogram, bytes,
//! and per URL template the current minute's counts, errors and latencies, from which the slowest and most
//! failing templates of each minute are kept (capped: a flood of distinct URLs costs a bounded table).

use super::format::Request;
use super::template::template_into;
use crate::model::access::{AppRequests, Histogram, method_index, status_class};
use serde::Serialize;
use std::collections::HashMap;

/// Templates counted per minute; more go to one `{other}` row.
const MAX_TEMPLATES: usize = 500;
/// Rows in each top list.
pub const TOP: usize = 10;
/// Minutes before the current one whose slowest requests stay for the incident view: a bundle taken a few
/// minutes after the trouble (by hand, or after a rule's `for`) still lists them. At most TOP per minute.
pub const SLOW_MINUTES: i64 = 5;

#[derive(Debug, Clone, Default)]
struct Tpl {
    count: u64,
    errors: u64,
    max_us: u64,
    hist: Histogram,
}

/// One row of a minute's top list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRow {
    pub template: String,
    pub count: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// The slowest and most failing templates of one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TopTemplates {
    /// Start of the minute, ms since the epoch.
    pub minute_ms: i64,
    pub templates: usize,
    pub slowest: Vec<TemplateRow>,
    pub failing: Vec<TemplateRow>,
}

/// A slow request kept for the incident view, with its thread when the log has one (`%I`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowRequest {
    pub timestamp_ms: i64,
    pub template: String,
    pub status: u16,
    pub duration_ms: f64,
    pub thread: Option<String>,
}

/// Counts of one log; owned by the access thread.
pub struct Tally {
    pub totals: AppRequests,
    minute_ms: i64,
    table: HashMap<String, Tpl>,
    bounds: Vec<f64>,
    pub last_top: Option<TopTemplates>,
    /// The slowest requests of the current minute and the SLOW_MINUTES before it, at most TOP each.
    pub slow: Vec<SlowRequest>,
    /// The fastest of the current minute's kept slow requests once TOP are kept: quicker ones are not looked at.
    slow_floor_ms: f64,
    scratch: String,
}

impl Tally {
    pub fn new(totals: AppRequests, bounds: Vec<f64>) -> Self {
        Tally {
            totals,
            minute_ms: 0,
            table: HashMap::new(),
            bounds,
            last_top: None,
            slow: Vec::new(),
            slow_floor_ms: -1.0,
            scratch: String::new(),
        }
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Counts one request, read at `now_ms`.
    pub fn add(&mut self, r: &Request, now_ms: i64) {
        self.roll(now_ms);
        let t = &mut self.totals;
        t.requests[status_class(r.status)][method_index(r.method)] += 1;
        t.bytes = t.bytes.saturating_add(r.bytes);
        let secs = r.duration_us.map(|us| us as f64 / 1e6);
        if let (Some(h), Some(s)) = (t.duration.as_mut(), secs) {
            h.observe(s);
        }
        template_into(r.path, &mut self.scratch);
        let n = self.table.len();
        let row = match self.table.get_mut(self.scratch.as_str()) {
            Some(row) => row,
            None => {
                let k = if n >= MAX_TEMPLATES {
                    "{other}".to_string()
                } else {
                    self.scratch.clone()
                };
                self.table.entry(k).or_insert_with(|| Tpl {
                    hist: Histogram::new(self.bounds.clone()),
                    ..Default::default()
                })
            }
        };
        row.count += 1;
        if status_class(r.status) == 4 {
            row.errors += 1;
        }
        if let (Some(us), Some(s)) = (r.duration_us, secs) {
            row.max_us = row.max_us.max(us);
            row.hist.observe(s);
            let ms = us as f64 / 1000.0;
            if ms > self.slow_floor_ms {
                self.keep_slow(r, ms, now_ms);
            }
        }
    }

    /// Keeps a request among the current minute's TOP slowest.
    fn keep_slow(&mut self, r: &Request, ms: f64, now_ms: i64) {
        let keep = SlowRequest {
            timestamp_ms: now_ms,
            template: self.scratch.clone(),
            status: r.status,
            duration_ms: ms,
            thread: r
                .thread
                .map(|t| String::from_utf8_lossy(&t[..t.len().min(128)]).into_owned()),
        };
        let minute = self.minute_ms;
        let current: Vec<usize> = (0..self.slow.len())
            .filter(|&i| self.slow[i].timestamp_ms >= minute)
            .collect();
        if current.len() < TOP {
            self.slow.push(keep);
        } else if let Some(&i) = current.iter().min_by(|&&a, &&b| {
            self.slow[a]
                .duration_ms
                .total_cmp(&self.slow[b].duration_ms)
        }) {
            self.slow[i] = keep;
        }
        let kept = self.slow.iter().filter(|x| x.timestamp_ms >= minute);
        if kept.clone().count() >= TOP {
            self.slow_floor_ms = kept.map(|x| x.duration_ms).fold(f64::INFINITY, f64::min);
        }
    }

    /// Closes the minute when `now_ms` is in a later one.
    pub fn roll(&mut self, now_ms: i64) {
        let minute = now_ms - now_ms.rem_euclid(60_000);
        if minute == self.minute_ms {
            return;
        }
        if !self.table.is_empty() {
            self.last_top = Some(self.top());
        }
        self.slow
            .retain(|x| x.timestamp_ms >= minute - SLOW_MINUTES * 60_000);
        self.slow_floor_ms = -1.0;
        self.table.clear();
        self.minute_ms = minute;
    }

    fn top(&self) -> TopTemplates {
        let row = |(k, t): (&String, &Tpl)| TemplateRow {
            template: k.clone(),
            count: t.count,
            errors: t.errors,
            p50_ms: t.hist.quantile(0.5).map(|s| s * 1000.0),
            p95_ms: t.hist.quantile(0.95).map(|s| s * 1000.0),
            max_ms: (t.hist.count() > 0).then(|| t.max_us as f64 / 1000.0),
        };
        let mut slowest: Vec<TemplateRow> = self.table.iter().map(row).collect();
        slowest.sort_by(|a, b| {
            b.p95_ms
                .unwrap_or(0.0)
                .total_cmp(&a.p95_ms.unwrap_or(0.0))
                .then(b.count.cmp(&a.count))
                .then(a.template.cmp(&b.template))
        });
        slowest.truncate(TOP);
        let mut failing: Vec<TemplateRow> = self
            .table
            .iter()
            .filter(|(_, t)| t.errors > 0)
            .map(row)
            .collect();
        failing.sort_by(|a, b| b.errors.cmp(&a.errors).then(a.template.cmp(&b.template)));
        failing.truncate(TOP);
        TopTemplates {
            minute_ms: self.minute_ms,
            templates: self.table.len(),
            slowest,
            failing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_requests_stay_for_the_last_minutes_then_go() {
        let mut t = Tally::new(AppRequests::default(), vec![0.01, 0.1, 1.0]);
        let slow = Request {
            method: b"GET",
            path: b"/slow",
            status: 200,
            bytes: 10,
            duration_us: Some(3_000_000),
            thread: None,
        };
        let t0: i64 = 1_800_000_000_000;
        t.add(&slow, t0 + 5);
        // Quiet minutes after it: the collection rolls every poll.
        for m in 1..=SLOW_MINUTES {
            t.roll(t0 + m * 60_000 + 30_000);
            assert_eq!(t.slow.len(), 1, "{m} minutes later");
        }
        t.roll(t0 + (SLOW_MINUTES + 1) * 60_000);
        assert!(t.slow.is_empty());
    }

    #[test]
    fn counts_templates_and_minutes() {
        let mut t = Tally::new(
            AppRequests {
                duration: Some(Histogram::new(vec![0.01, 0.1, 1.0])),
                ..Default::default()
            },
            vec![0.01, 0.1, 1.0],
        );
        let req = |path: &'static [u8], status, us| Request {
            method: b"GET",
            path,
            status,
            bytes: 10,
            duration_us: Some(us),
            thread: Some(b"http-nio-8080-exec-1"),
        };
        let t0: i64 = 1_800_000_020_000;
        let t0 = t0 - t0 % 60_000;
        for i in 0..20u64 {
            t.add(&req(b"/orders/1", 200, 5_000 + i), t0 + 1);
            t.add(&req(b"/orders/2", 500, 500_000), t0 + 2);
        }
        t.add(&req(b"/x", 200, 50), t0 + 60_000);
        let top = t.last_top.clone().unwrap();
        assert_eq!(top.minute_ms, t0);
        assert_eq!(top.slowest[0].template, "/orders/{n}");
        assert_eq!((top.slowest[0].count, top.slowest[0].errors), (40, 20));
        assert_eq!(top.failing.len(), 1);
        assert_eq!(t.totals.total(), 41);
        assert_eq!(t.totals.errors(), 20);
        assert_eq!(t.totals.bytes, 410);
        assert_eq!(
            t.totals.duration.as_ref().unwrap().counts,
            vec![21, 0, 20, 0]
        );
        // The previous minute's slowest stay, at most TOP, with their thread.
        assert!(t.slow.len() <= TOP + 1);
        assert!(
            t.slow
                .iter()
                .any(|s| s.duration_ms == 500.0
                    && s.thread.as_deref() == Some("http-nio-8080-exec-1"))
        );
        // A flood of distinct URLs stays within the cap.
        for i in 0..2000 {
            let p: String = (0..4u32)
                .map(|k| (b'a' + ((i / 26u32.pow(k)) % 26) as u8) as char)
                .collect();
            let p = format!("/{p}");
            t.add(
                &req(Box::leak(p.into_boxed_str()).as_bytes(), 200, 1),
                t0 + 60_001,
            );
        }
        assert!(t.table.len() <= MAX_TEMPLATES + 1);
    }
}

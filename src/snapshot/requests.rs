//! The requests part of a bundle's report: what the JVM's access logs said around the moment (rate,
//! percentiles, 5xx share) and its slowest requests of the last minutes, each next to the thread of the dump
//! that served it when the log names the thread (`%I`). A request is logged when it ends: the thread has
//! moved on since, so the dump shows what that thread does now (often the next slow request), not the past.

use crate::jvm::threaddump::ThreadDump;
use crate::model::Collection;
use crate::model::access::AppRequests;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Slow requests listed per JVM.
const SLOW_IN_REPORT: usize = 10;

/// One slow request as the collection's `access_top` keeps it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub(crate) struct Slow {
    pub timestamp_ms: i64,
    pub template: String,
    pub status: u16,
    pub duration_ms: f64,
    pub thread: Option<String>,
}

impl Slow {
    /// "slow request /x 2.3 s (500)".
    pub(crate) fn label(&self) -> String {
        format!(
            "slow request {} {:.1} s ({})",
            self.template,
            self.duration_ms / 1000.0,
            self.status
        )
    }
}

fn mine(a_app: &str, a_pid: Option<u32>, a_instance: &str, pid: u32, app: &str) -> bool {
    match a_pid {
        Some(p) => p == pid,
        // A configured log counts for every JVM of its app.
        None => a_app == app && (a_instance.is_empty() || a_instance == pid.to_string()),
    }
}

/// The access logs of a JVM in a collection.
fn logs<'a>(c: &'a Collection, pid: u32, app: &'a str) -> impl Iterator<Item = &'a AppRequests> {
    c.access
        .iter()
        .filter(move |a| mine(&a.app, a.pid, &a.instance, pid, app))
}

/// The JVM's slowest requests of the last minutes, slowest first.
pub(crate) fn slowest(c: &Collection, pid: u32, app: &str) -> Vec<Slow> {
    let logs: Vec<&AppRequests> = logs(c, pid, app).collect();
    let mut v: Vec<Slow> = c
        .access_top
        .iter()
        .filter(|t| {
            logs.iter()
                .any(|a| a.app == t.app && a.instance == t.instance && a.log == t.log)
        })
        .flat_map(|t| serde_json::from_value::<Vec<Slow>>(t.slow.clone()).unwrap_or_default())
        .collect();
    v.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
    v.truncate(SLOW_IN_REPORT);
    v
}

/// Thread name -> the slowest request it served, for marking threads elsewhere in the report.
pub(crate) fn by_thread(slow: &[Slow]) -> HashMap<&str, &Slow> {
    let mut m = HashMap::new();
    for s in slow {
        if let Some(t) = &s.thread {
            m.entry(t.as_str()).or_insert(s);
        }
    }
    m
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0} ms"))
}

/// The requests section of one JVM; nothing when no access log is followed for it.
pub(crate) fn section(
    s: &mut String,
    c: &Collection,
    pid: u32,
    app: &str,
    dump: Option<&ThreadDump>,
) {
    let logs: Vec<&AppRequests> = logs(c, pid, app).collect();
    if logs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nrequests (access logs, the last interval):");
    for a in &logs {
        match &a.interval {
            Some(i) => {
                let _ = writeln!(
                    s,
                    "  {}: {:.1} req/s, p50 {}, p95 {}, p99 {}, 5xx {}; {} since wasp began",
                    a.log,
                    i.tps,
                    ms(i.p50_ms),
                    ms(i.p95_ms),
                    ms(i.p99_ms),
                    i.error_pct.map_or("-".into(), |p| format!("{p:.1} %")),
                    a.total()
                );
            }
            None => {
                let _ = writeln!(s, "  {}: {} since wasp began", a.log, a.total());
            }
        }
    }
    let slow = slowest(c, pid, app);
    if slow.is_empty() {
        return;
    }
    let _ = writeln!(s, "slowest requests of the last minutes:");
    for r in &slow {
        let on = r
            .thread
            .as_deref()
            .map_or(String::new(), |t| format!(" on \"{t}\""));
        let _ = writeln!(
            s,
            "  {:>9.1} ms  {}  {}{on}  (read {})",
            r.duration_ms,
            r.status,
            r.template,
            crate::util::clock::utc(r.timestamp_ms)
        );
        let Some(name) = &r.thread else { continue };
        match dump.and_then(|d| d.threads.iter().find(|t| &t.name == name)) {
            Some(t) => {
                let top = t.frames.first().map_or("", |f| f.frame.as_str());
                let _ = writeln!(
                    s,
                    "      in the dump now: {}{} {top}",
                    if t.state.is_empty() {
                        &t.os_state
                    } else {
                        &t.state
                    },
                    if t.state_detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", t.state_detail)
                    }
                );
            }
            None if dump.is_some() => {
                let _ = writeln!(s, "      not in the dump (the pool ended the thread)");
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::{AccessTop, Histogram, Interval};

    /// A real dump of a Tomcat (Spring Boot's, IBM's ThreadDumpFlameGrapher test data): the slow request's
    /// thread is found in it and shown with its state; a thread the pool ended is said to be gone.
    #[test]
    fn slow_requests_next_to_their_threads() {
        let dump = crate::jvm::threaddump::parse(include_str!(
            "../../tests/fixtures/dumps/world/ibm-hotspot11_small.txt"
        ));
        let log = AppRequests {
            app: "shop".into(),
            pid: Some(42),
            log: "localhost_access_log".into(),
            duration: Some(Histogram::new(vec![0.1, 1.0, 10.0])),
            interval: Some(Interval {
                requests: 24,
                tps: 12.0,
                error_pct: Some(4.2),
                p50_ms: Some(30.0),
                p95_ms: Some(2100.0),
                p99_ms: Some(2290.0),
                tps_share: None,
            }),
            ..Default::default()
        };
        let mut c = Collection {
            access: vec![log],
            ..Default::default()
        };
        c.access_top.push(AccessTop {
            app: "shop".into(),
            instance: String::new(),
            log: "localhost_access_log".into(),
            top: serde_json::json!({}),
            slow: serde_json::json!([
                {"timestamp_ms": 1_800_000_000_000i64, "template": "/orders/{n}", "status": 200,
                 "duration_ms": 2300.0, "thread": "http-nio-8072-exec-1"},
                {"timestamp_ms": 1_800_000_000_000i64, "template": "/x", "status": 500,
                 "duration_ms": 900.0, "thread": "http-nio-8072-exec-99"},
                {"timestamp_ms": 1_800_000_000_000i64, "template": "/y", "status": 200,
                 "duration_ms": 50.0, "thread": null}
            ]),
        });
        let mut s = String::new();
        section(&mut s, &c, 42, "shop", Some(&dump));
        assert!(
            s.contains("localhost_access_log: 12.0 req/s, p50 30 ms, p95 2100 ms"),
            "{s}"
        );
        let lines: Vec<&str> = s.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains("2300.0 ms  200  /orders/{n} on \"http-nio-8072-exec-1\""))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(
            lines[i + 1].contains("in the dump now: WAITING")
                && lines[i + 1].contains("Unsafe.park"),
            "{s}"
        );
        assert!(
            lines[i + 2].contains("/x on \"http-nio-8072-exec-99\""),
            "{s}"
        );
        assert!(lines[i + 3].contains("not in the dump"), "{s}");
        assert!(
            lines[i + 4].contains("/y") && !lines[i + 4].contains(" on "),
            "{s}"
        );
        let slow = slowest(&c, 42, "shop");
        assert_eq!(
            by_thread(&slow)["http-nio-8072-exec-1"].label(),
            "slow request /orders/{n} 2.3 s (200)"
        );
        // Another JVM's section: nothing.
        let mut s = String::new();
        section(&mut s, &c, 43, "shop", Some(&dump));
        assert!(s.is_empty());
    }
}

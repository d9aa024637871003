//! The text report of a snapshot (`report.txt`): the verdict first, then the evidence per JVM, the host at the
//! moment, and the list of files. Pure: it formats what the bundle gathered.

use super::request::Request;
use super::requests;
use super::store::{FileEntry, JvmEntry, utc};
use crate::host::pidinfo;
use crate::jvm::{analysis, histogram, threaddump};
use crate::model::LatestCollection;
use crate::model::event::Event;
use std::fmt::Write as _;

/// Hottest threads shown with their stacks in the report.
const HOT_IN_REPORT: usize = 5;

/// What one JVM gave, for the report.
#[derive(Default)]
pub(crate) struct Gathered {
    pub(crate) dumps: Vec<threaddump::ThreadDump>,
    pub(crate) cpu: Option<analysis::ThreadCpu>,
    pub(crate) report: Option<analysis::Report>,
    pub(crate) histogram: Option<histogram::Histogram>,
    pub(crate) netstat: Option<pidinfo::Netstat>,
    pub(crate) files: Option<pidinfo::OpenFiles>,
    pub(crate) process: Option<pidinfo::ProcessFigures>,
}

/// "R 1, S 39".
pub fn counts<K: std::fmt::Display, V: std::fmt::Display>(
    it: impl Iterator<Item = (K, V)>,
) -> String {
    let v: Vec<String> = it.map(|(k, n)| format!("{k} {n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn kb_field(p: &pidinfo::ProcessFigures, k: &str) -> String {
    p.status_field(k)
        .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kb| format!("{:.0} MB", kb as f64 / 1024.0))
        .unwrap_or("?".into())
}

pub(crate) fn report_text(
    req: &Request,
    id: &str,
    stamp: i64,
    entries: &[JvmEntry],
    got: &[Gathered],
    hosts: &[(&str, &LatestCollection)],
    files: &[FileEntry],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "wasp {} {id}", req.kind.as_str());
    let _ = writeln!(s, "time:   {}", utc(stamp));
    let _ = writeln!(s, "reason: {}", req.reason);
    let _ = writeln!(
        s,
        "JVMs:   {} ({})",
        if entries.is_empty() {
            "none found".to_string()
        } else {
            entries
                .iter()
                .map(|e| format!("{} {}", e.pid, e.app))
                .collect::<Vec<_>>()
                .join(", ")
        },
        req.select
    );
    if let Some(ev) = &req.event {
        event_section(&mut s, ev);
    }
    // The newest collection the bundle saw: its access logs hold the slow requests up to the moment.
    let latest = hosts.last().map(|(_, h)| &*h.collection);
    for (i, e) in entries.iter().enumerate() {
        let g = &got[i];
        let slow = latest.map_or(Vec::new(), |c| requests::slowest(c, e.pid, &e.app));
        let slow_on = requests::by_thread(&slow);
        let _ = writeln!(
            s,
            "\n== JVM {} \"{}\" (user {}, {}) ==",
            e.pid, e.app, e.user, e.main
        );
        for v in &e.verdict {
            let _ = writeln!(s, "* {v}");
        }
        for err in &e.errors {
            let _ = writeln!(s, "! {err}");
        }
        if let Some(p) = &g.process {
            let _ = writeln!(
                s,
                "process: {} threads ({}), RSS {}, swapped {}",
                p.threads.len(),
                counts(p.thread_states.iter()),
                kb_field(p, "VmRSS"),
                kb_field(p, "VmSwap")
            );
        }
        if let Some(o) = &g.files {
            let _ = writeln!(
                s,
                "open files: {}{} (sockets {}, pipes {}, files {}, jars {}, deleted {})",
                o.total,
                o.limit.map(|l| format!(" of {l}")).unwrap_or_default(),
                o.sockets,
                o.pipes,
                o.regular,
                o.jars.len(),
                o.deleted.len()
            );
        }
        if let Some(n) = &g.netstat {
            let _ = writeln!(s, "TCP: {}", counts(n.by_state.iter()));
            for p in n.by_peer.iter().take(5) {
                let _ = writeln!(s, "  {:6} {:12} {}", p.count, p.state, p.peer);
            }
        }
        if let Some(c) = latest {
            requests::section(&mut s, c, e.pid, &e.app, g.dumps.last());
        }
        if let Some(r) = &g.report {
            if !r.hot.is_empty() {
                let _ = writeln!(s, "\nhottest threads:");
            }
            for h in r.hot.iter().take(HOT_IN_REPORT) {
                let _ = writeln!(
                    s,
                    "  {:.1}% \"{}\" (nid {}) {}{}",
                    h.cpu_pct,
                    h.thread,
                    h.nid,
                    h.state,
                    slow_on
                        .get(h.thread.as_str())
                        .map_or(String::new(), |r| format!("  <- {}", r.label()))
                );
                for f in &h.top_frames {
                    let _ = writeln!(s, "        at {f}");
                }
            }
            for d in &r.diagnoses {
                let _ = writeln!(s, "\n{}:", d.name);
                for ev in d.evidence.iter().take(10) {
                    let _ = writeln!(s, "  {ev}");
                }
            }
        }
    }
    for (name, h) in hosts {
        let c = &h.collection;
        let _ = writeln!(
            s,
            "\n== host at {} ({}, collection took {} ms) ==",
            utc(c.timestamp_ms),
            if *name == "host" {
                "before the snapshot"
            } else {
                "after it"
            },
            h.took.as_millis()
        );
        if let Some(cpu) = c.cpu.as_ref().and_then(|c| c.all.as_ref()) {
            let _ = writeln!(
                s,
                "cpu: %usr {:.1} %sys {:.1} %iowait {:.1} %steal {:.1} %idle {:.1}",
                cpu.usr, cpu.sys, cpu.iowait, cpu.steal, cpu.idle
            );
        }
        if let Some(l) = &c.load {
            let _ = writeln!(
                s,
                "load: {:.2} {:.2} {:.2}, run queue {}",
                l.ldavg_1, l.ldavg_5, l.ldavg_15, l.runq_sz
            );
        }
        if let Some(m) = &c.memory {
            let _ = writeln!(
                s,
                "memory: available {} MB of {} MB, swap used {} MB",
                m.available >> 20,
                m.total >> 20,
                m.swap.used >> 20
            );
        }
    }
    if !req.context.is_empty() {
        let _ = writeln!(s, "\n== context ({} lines) ==", req.context.len());
        for l in req.context.iter().take(20) {
            let _ = writeln!(s, "  | {l}");
        }
        if req.context.len() > 20 {
            let _ = writeln!(s, "  (all in context.txt)");
        }
    }
    let _ = writeln!(s, "\n== files ==");
    for f in files {
        let _ = writeln!(s, "  {:<44} {:>9}  {}", f.file, f.bytes, f.what);
    }
    s
}

/// The event a rule fired on, first after the header: for a crash, what the hs_err file says (error, frame,
/// thread, the top of the stack) and where it is, so the bundle of the siblings explains why it was taken.
fn event_section(s: &mut String, e: &Event) {
    let _ = writeln!(s, "\n== event: {} ==", e.kind.name());
    let _ = writeln!(s, "* {}", e.message);
    let at = |k: &str| e.fields.get(k).filter(|v| !v.is_empty());
    for (key, label) in [
        ("hs_err", "hs_err file"),
        ("error", "error"),
        ("frame", "problematic frame"),
        ("thread", "current thread"),
        ("heap_dump", "heap dump"),
        ("exit_code", "exit code"),
        ("signal", "signal"),
    ] {
        if let Some(v) = at(key) {
            let _ = writeln!(s, "{label}: {v}");
        }
    }
    if let Some(cg) = &e.cgroup {
        let _ = writeln!(s, "cgroup: {cg}");
    }
    if let Some(st) = at("stack") {
        let _ = writeln!(s, "stack:");
        for l in st.lines().take(8) {
            let _ = writeln!(s, "  | {l}");
        }
    }
    let _ = writeln!(s, "(all of it in event.json)");
}

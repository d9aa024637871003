//! What a snapshot tells the document sinks (elasticsearch, http_json, file): a compact `Document` per JVM per
//! thread-dump snapshot ("thread_dump"), per class histogram ("class_histogram") and per incident bundle
//! ("incident"). Summaries, never the raw text: every list is cut to a fixed length, every string to 1 KiB, and
//! `fit` keeps the whole document under `MAX_BYTES`, saying what it cut. The files under `data_dir/snapshots`
//! keep everything.

use super::request::{Kind, Reason, Request};
use super::store::JvmEntry;
use crate::jvm::analysis::Report;
use crate::jvm::dump::ThreadDump;
use crate::jvm::histogram::Histogram;
use crate::model::Document;
use crate::model::LatestCollection;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Where the snapshot worker hands its documents; the daemon wires it to the shipper (whose submit never
/// blocks). Defined here so that triggers do not depend on the shipping.
pub type Publish = Arc<dyn Fn(Document) + Send + Sync>;

/// A publisher that drops everything (no shipping wired: tests).
#[cfg(test)]
pub fn discard() -> Publish {
    Arc::new(|_| {})
}

/// The most one document may take as JSON (the encoders add `host` and `@timestamp`: `fit` leaves room).
pub const MAX_BYTES: usize = 64 * 1024;
/// Room left for what the encoders add to a document (`"host"`, `"@timestamp"`).
const ENVELOPE: usize = 512;
/// Room for the `truncated` marker (at most `CUTS_NAMED` places of 128 bytes).
const MARKER: usize = 4096;
/// Longest string kept in a document (thread names and frames can be anything).
pub const MAX_STRING: usize = 1024;
const HOT: usize = 10;
const HOT_FRAMES: usize = 5;
const CLASSES: usize = 30;
const LOCKS: usize = 10;
const CHAIN: usize = 10;
const NAMES: usize = 5;
const CYCLES: usize = 10;
const EVIDENCE: usize = 10;
const DIAGNOSES: usize = 10;
const GROUPS: usize = 5;
const VERDICT: usize = 10;
const STUCK: usize = 10;
const CONTEXT_LINES: usize = 50;
const CONTEXT_LINE: usize = 512;
const JVMS: usize = 50;
/// Places named in a document's `truncated.cut`.
const CUTS_NAMED: usize = 20;

/// The snapshot a document comes from.
pub struct Source<'a> {
    pub id: &'a str,
    pub path: &'a Path,
    pub kind: Kind,
    pub reason: &'a Reason,
    pub timestamp_ms: i64,
}

impl Source<'_> {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "path": self.path.display().to_string(),
            "kind": self.kind.as_str(),
            "reason": self.reason,
            "reason_text": self.reason.to_string(),
        })
    }
}

fn jvm_labels(j: &JvmEntry) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pid".to_string(), j.pid.to_string()),
        ("app".to_string(), j.app.clone()),
    ])
}

fn jvm_json(j: &JvmEntry, vm: Option<&str>) -> Value {
    json!({"pid": j.pid, "app": j.app, "user": j.user, "main": j.main, "vm": vm})
}

/// A thread's state as `states` counts it: the JVM's own threads have none and count as "VM".
fn state(s: &str) -> &str {
    if s.is_empty() { "VM" } else { s }
}

fn first<T: Clone>(v: &[T], n: usize) -> Vec<T> {
    v.iter().take(n).cloned().collect()
}

/// Per awaited lock: its owner, the threads waiting, the longest chain through it.
type LockWait<'a> = (Option<&'a str>, Vec<&'a str>, &'a [String]);

/// One JVM's thread dumps (one, or a bundle's N apart in time) and their analysis.
pub fn thread_dump(o: &Source, j: &JvmEntry, dumps: &[ThreadDump], r: &Report) -> Document {
    let last = dumps.last();
    // Contention grouped by lock: who holds it, how many wait, a few of them, the longest chain through it.
    let mut locks: BTreeMap<&str, LockWait> = BTreeMap::new();
    for b in &r.blocked {
        let e = locks
            .entry(b.waits_for.as_str())
            .or_insert((b.owner.as_deref(), Vec::new(), &[]));
        e.1.push(b.thread.as_str());
        if b.chain.len() > e.2.len() {
            e.2 = &b.chain;
        }
    }
    let mut locks: Vec<_> = locks.into_iter().collect();
    locks.sort_by(|a, b| b.1.1.len().cmp(&a.1.1.len()).then(a.0.cmp(b.0)));
    let lock_list: Vec<Value> = locks
        .iter()
        .take(LOCKS)
        .map(|(lock, (owner, waiting, chain))| {
            json!({
                "lock": lock,
                "owner": owner,
                "waiting": waiting.len(),
                "threads": first(waiting, NAMES),
                "longest_chain": first(chain, CHAIN),
            })
        })
        .collect();
    // Hottest threads: CPU sampled just before the dump when there is a sample (bundles), else the CPU time
    // each thread used since it started (cpu= of the dump, JDK 11+).
    let hot: Value = if !r.hot.is_empty() {
        json!({
            "source": "sampled",
            "threads": r.hot.iter().take(HOT).map(|h| json!({
                "thread": h.thread,
                "nid": h.nid,
                "state": state(&h.state),
                "cpu_pct": h.cpu_pct,
                "top_frames": first(&h.top_frames, HOT_FRAMES),
            })).collect::<Vec<_>>(),
        })
    } else {
        let mut t: Vec<_> = last
            .map(|d| {
                d.threads
                    .iter()
                    .filter(|t| t.cpu_ms.is_some_and(|c| c > 0.0))
                    .collect()
            })
            .unwrap_or_default();
        t.sort_by(|a, b| b.cpu_ms.unwrap_or(0.0).total_cmp(&a.cpu_ms.unwrap_or(0.0)));
        json!({
            "source": "cpu_time_since_start",
            "threads": t.iter().take(HOT).map(|t| json!({
                "thread": t.name,
                "nid": t.nid,
                "state": state(&t.state),
                "cpu_ms": t.cpu_ms,
                "top_frames": t.frames.iter().take(HOT_FRAMES).map(|f| f.frame.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    };
    let is_pool = |n: &str| n == "request thread pool exhausted";
    let diag = |d: &crate::jvm::analysis::Diagnosis| json!({"name": d.name, "evidence_lines": d.evidence.len(), "evidence": first(&d.evidence, EVIDENCE)});
    let pool: Vec<Value> = r
        .diagnoses
        .iter()
        .filter(|d| is_pool(&d.name))
        .map(diag)
        .collect();
    let others: Vec<Value> = r
        .diagnoses
        .iter()
        .filter(|d| !is_pool(&d.name))
        .take(DIAGNOSES)
        .map(diag)
        .collect();
    let body = json!({
        "snapshot": o.json(),
        "jvm": jvm_json(j, last.and_then(|d| d.vm.as_deref())),
        "dumps": dumps.len(),
        "threads": r.threads,
        "daemon_threads": last.map_or(0, |d| d.threads.iter().filter(|t| t.daemon).count()),
        "states": r.states,
        "verdict": first(&r.verdict, VERDICT),
        "deadlocks": {
            "count": r.deadlocks.len(),
            "cycles": r.deadlocks.iter().take(CYCLES).map(|c| first(c, CHAIN)).collect::<Vec<_>>(),
        },
        "blocked": {
            "threads": r.blocked.len(),
            "locks": locks.len(),
            "by_lock": lock_list,
        },
        "hot": hot,
        "pool_exhaustion": pool.into_iter().next(),
        "diagnoses": others,
        "identical_stacks": r.groups.iter().take(GROUPS).map(|g| json!({
            "count": g.count,
            "state": g.state,
            "top_frames": first(&g.top_frames, HOT_FRAMES),
        })).collect::<Vec<_>>(),
        "stuck": first(&r.stuck, STUCK),
        "unparsed_lines": r.unparsed_lines,
        "errors": j.errors,
    });
    Document {
        kind: "thread_dump".into(),
        timestamp_ms: o.timestamp_ms,
        labels: jvm_labels(j),
        body,
    }
}

/// One JVM's class histogram: totals and the 30 classes that take the most bytes.
pub fn class_histogram(o: &Source, j: &JvmEntry, h: &Histogram) -> Document {
    let mut top: Vec<_> = h.entries.iter().collect();
    top.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.class.cmp(&b.class)));
    let body = json!({
        "snapshot": o.json(),
        "jvm": jvm_json(j, None),
        "total_instances": h.total_instances,
        "total_bytes": h.total_bytes,
        "classes": h.entries.len(),
        "top": top.iter().take(CLASSES).map(|e| json!({
            "class": e.class,
            "module": e.module,
            "instances": e.instances,
            "bytes": e.bytes,
        })).collect::<Vec<_>>(),
        "unparsed_lines": h.unparsed,
    });
    Document {
        kind: "class_histogram".into(),
        timestamp_ms: o.timestamp_ms,
        labels: jvm_labels(j),
        body,
    }
}

/// One incident bundle: why, the context lines, the JVMs with the findings of the report, the host figures of
/// the moment; the bundle's id (its manifest's) finds the files.
pub fn incident(
    o: &Source,
    req: &Request,
    jvms: &[(&JvmEntry, Option<&Report>)],
    host: Option<&LatestCollection>,
    files: usize,
    bytes: u64,
) -> Document {
    let findings: Vec<String> = jvms
        .iter()
        .flat_map(|(j, _)| {
            j.verdict
                .iter()
                .map(move |v| format!("{} {}: {v}", j.pid, j.app))
        })
        .take(JVMS)
        .collect();
    let jvm_list: Vec<Value> = jvms
        .iter()
        .take(JVMS)
        .map(|(j, r)| {
            json!({
                "pid": j.pid,
                "app": j.app,
                "user": j.user,
                "main": j.main,
                "verdict": first(&j.verdict, VERDICT),
                "errors": first(&j.errors, VERDICT),
                "threads": r.map(|r| r.threads),
                "states": r.map(|r| &r.states),
                "deadlocks": r.map(|r| r.deadlocks.len()),
                "blocked": r.map(|r| r.blocked.len()),
                "diagnoses": r.map(|r| r.diagnoses.iter().map(|d| d.name.as_str()).collect::<Vec<_>>()),
            })
        })
        .collect();
    let host = host.map(|h| {
        let c = &h.collection;
        let cpu = c.cpu.as_ref().and_then(|c| c.all.as_ref());
        json!({
            "timestamp_ms": c.timestamp_ms,
            "cpu": cpu.map(|c| json!({"usr": c.usr, "sys": c.sys, "iowait": c.iowait, "steal": c.steal, "idle": c.idle})),
            "load": c.load.as_ref().map(|l| json!({"ldavg_1": l.ldavg_1, "ldavg_5": l.ldavg_5, "ldavg_15": l.ldavg_15, "runq_sz": l.runq_sz})),
            "memory": c.memory.as_ref().map(|m| json!({"total": m.total, "available": m.available, "swap_used": m.swap.used})),
        })
    });
    let mut labels = BTreeMap::from([("snapshot".to_string(), o.id.to_string())]);
    if let Reason::Rule(n) | Reason::Schedule(n) = o.reason {
        labels.insert("rule".into(), n.clone());
    }
    let body = json!({
        "snapshot": o.json(),
        "manifest_id": o.id,
        "select": req.select.to_string(),
        "context": {
            "lines": req.context.len(),
            "first": req.context.iter().take(CONTEXT_LINES).map(|l| cut(l, CONTEXT_LINE)).collect::<Vec<_>>(),
        },
        "jvms": jvm_list,
        "jvm_count": jvms.len(),
        "findings": findings,
        "host": host,
        "files": files,
        "bytes": bytes,
        // The event a rule fired on (a sibling bundle's crash): its line and the hs_err summary, bounded.
        "event": req.event.as_ref().map(|e| json!({
            "kind": e.kind.name(),
            "pid": e.pid,
            "app": e.app,
            "message": cut(&e.message, CONTEXT_LINE),
            "hs_err": e.fields.get("hs_err"),
            "error": e.fields.get("error").map(|v| cut(v, CONTEXT_LINE)),
            "frame": e.fields.get("frame").map(|v| cut(v, CONTEXT_LINE)),
        })),
    });
    Document {
        kind: "incident".into(),
        timestamp_ms: o.timestamp_ms,
        labels,
        body,
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with " [...]" when cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [...]", &s[..end])
}

/// Keeps `d` within `max` bytes as JSON (less room for the encoders' fields): strings over `MAX_STRING` are
/// cut, then the largest list is halved until it fits; what was cut is named in `body.truncated`
/// (`{"original_bytes": n, "cut": ["hot.threads", ...]}`). Returns whether anything was cut.
pub fn fit(d: &mut Document, max: usize) -> bool {
    let size = |d: &Document| serde_json::to_string(d).map_or(usize::MAX, |s| s.len());
    let original = size(d);
    let mut cuts: Vec<String> = Vec::new();
    cap_strings(&mut d.body, "", &mut cuts);
    for v in d.labels.values_mut() {
        if v.len() > MAX_STRING {
            *v = cut(v, MAX_STRING);
            cuts.push("labels".into());
        }
    }
    if cuts.is_empty() && size(d) <= max.saturating_sub(ENVELOPE) {
        return false;
    }
    // Cut: leave room for the marker too.
    let limit = max.saturating_sub(ENVELOPE + MARKER);
    // Each round halves one list; 64 rounds empty any list a body can hold.
    for _ in 0..64 {
        if size(d) <= limit {
            break;
        }
        match largest_list(&mut d.body, String::new()) {
            Some((path, list, _)) => {
                let keep = list.len() / 2;
                list.truncate(keep);
                if !cuts.contains(&path) {
                    cuts.push(path);
                }
            }
            None => break,
        }
    }
    if size(d) > limit {
        // Nothing left to halve (a body of many small fields): keep what says where the rest is.
        let keep = ["snapshot", "jvm", "threads", "states", "manifest_id"];
        if let Value::Object(m) = &mut d.body {
            m.retain(|k, _| keep.contains(&k.as_str()));
        }
        cuts.push("body".into());
        if size(d) > limit {
            d.body = json!({});
        }
    }
    if cuts.is_empty() {
        return false;
    }
    cuts.dedup();
    // The marker itself is bounded: a pathological body may have been cut in many places.
    let more = cuts.len().saturating_sub(CUTS_NAMED);
    let mut named: Vec<String> = cuts.iter().take(CUTS_NAMED).map(|c| cut(c, 128)).collect();
    if more > 0 {
        named.push(format!("{more} more"));
    }
    let marker = json!({"original_bytes": original, "cut": named});
    if !d.body.is_object() {
        d.body = json!({"value": d.body.take()});
        if size(d) > limit {
            d.body = json!({});
        }
    }
    if let Value::Object(m) = &mut d.body {
        m.insert("truncated".into(), marker);
    }
    true
}

fn cap_strings(v: &mut Value, path: &str, cuts: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() > MAX_STRING => {
            *s = cut(s, MAX_STRING);
            let p = if path.is_empty() { "body" } else { path };
            if !cuts.iter().any(|c| c == p) {
                cuts.push(p.to_string());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cap_strings(x, path, cuts)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                cap_strings(x, &p, cuts);
            }
        }
        _ => {}
    }
}

/// The non-empty list that takes the most bytes, with its path ("hot.threads"; lists inside lists are named
/// by the outer one's path).
fn largest_list(v: &mut Value, path: String) -> Option<(String, &mut Vec<Value>, usize)> {
    match v {
        Value::Array(a) => {
            // A list whose one element is the bulk: look inside it.
            if a.len() == 1 && has_list(&a[0]) {
                return largest_list(&mut a[0], path);
            }
            if a.is_empty() {
                return None;
            }
            let own = serde_json::to_string(&*a).map_or(0, |s| s.len());
            Some((path, a, own))
        }
        Value::Object(m) => {
            let mut best: Option<(String, &mut Vec<Value>, usize)> = None;
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(c) = largest_list(x, p)
                    && best.as_ref().is_none_or(|b| c.2 > b.2)
                {
                    best = Some(c);
                }
            }
            best
        }
        _ => None,
    }
}

fn has_list(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => m.values().any(has_list),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jvm::{analysis, histogram, threaddump};
    use proptest::prelude::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dumps")
                .join(name),
        )
        .unwrap()
    }

    fn entry(pid: u32) -> JvmEntry {
        JvmEntry {
            pid,
            app: "lab".into(),
            user: "root".into(),
            main: "Lab".into(),
            ..Default::default()
        }
    }

    const REASON: Reason = Reason::Signal("SIGUSR1");

    fn origin(kind: Kind) -> Source<'static> {
        Source {
            id: "20261124-190512-345-dump",
            path: Path::new("/var/lib/wasp/snapshots/20261124-190512-345-dump"),
            kind,
            reason: &REASON,
            timestamp_ms: 1_795_000_000_000,
        }
    }

    fn bytes(d: &Document) -> usize {
        serde_json::to_string(d).unwrap().len()
    }

    #[test]
    fn thread_dump_summarises_the_lab_dump() {
        let d = threaddump::parse(&fixture("jdk17-attach-raw-threaddump-l.txt"));
        let r = analysis::analyze(std::slice::from_ref(&d), None);
        let mut doc = thread_dump(&origin(Kind::Dump), &entry(4242), &[d], &r);
        assert!(!fit(&mut doc, MAX_BYTES), "a normal dump is not cut");
        assert_eq!(doc.kind, "thread_dump");
        assert_eq!(doc.labels["pid"], "4242");
        assert_eq!(doc.labels["app"], "lab");
        let b = &doc.body;
        // 28 Java threads (as many "java.lang.Thread.State" lines as the file has) and 8 VM threads.
        assert_eq!(b["threads"], 36);
        assert_eq!(b["states"]["VM"], 8);
        let java: u64 = b["states"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "VM")
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        assert_eq!(java, 28);
        assert_eq!(b["deadlocks"]["count"], 2);
        assert_eq!(b["hot"]["source"], "cpu_time_since_start");
        assert_eq!(b["hot"]["threads"][0]["thread"], "busy-spinner");
        assert!(b["hot"]["threads"].as_array().unwrap().len() <= HOT);
        let locks = b["blocked"]["by_lock"].as_array().unwrap();
        let held = locks
            .iter()
            .find(|l| l["owner"] == "monitor-holder")
            .expect("the monitor-holder's lock");
        assert_eq!(held["waiting"], 2, "{held}");
        assert_eq!(b["snapshot"]["id"], "20261124-190512-345-dump");
        assert_eq!(b["snapshot"]["reason"]["name"], "SIGUSR1");
        assert!(b["pool_exhaustion"].is_null());
        assert!(
            !b.to_string().contains("at java.lang.Thread.run"),
            "no raw text"
        );
        assert!(bytes(&doc) < 16 * 1024, "{} bytes", bytes(&doc));
    }

    #[test]
    fn class_histogram_keeps_the_top_30_by_bytes() {
        let h = histogram::parse(&fixture("jdk17-jcmd-class-histogram.txt"));
        assert!(h.entries.len() > CLASSES);
        let doc = class_histogram(&origin(Kind::Histo), &entry(1), &h);
        let top = doc.body["top"].as_array().unwrap();
        assert_eq!(top.len(), CLASSES);
        let b: Vec<u64> = top.iter().map(|e| e["bytes"].as_u64().unwrap()).collect();
        assert!(b.windows(2).all(|w| w[0] >= w[1]));
        let max = h.entries.iter().map(|e| e.bytes).max().unwrap();
        assert_eq!(b[0], max);
        assert_eq!(doc.body["total_bytes"], h.total_bytes);
        assert_eq!(doc.body["classes"], h.entries.len());
    }

    /// A dump of `n` threads at their worst for the summary: long names, deep stacks, all in one busy http pool,
    /// every thread BLOCKED: groups of 10 wait for their first thread's lock, and the first threads of the first
    /// groups wait for each other in a chain.
    fn monster(n: usize, name_len: usize) -> String {
        let mut s =
            String::from("Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode):\n\n");
        for i in 0..n {
            let name = format!("http-nio-8080-exec-{i}-{}", "x".repeat(name_len));
            let leader = i - i % 10;
            let waits = if i != leader {
                leader
            } else if i < 100 && i + 10 < n {
                i + 10
            } else {
                usize::MAX
            };
            s.push_str(&format!(
                "\"{name}\" #{} daemon prio=5 os_prio=0 cpu={}.00ms elapsed=9.0s tid=0x1 nid=0x{:x} waiting for monitor entry  [0x0]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n",
                i + 10,
                i * 7 % 1000,
                i + 100
            ));
            s.push_str(&format!(
                "\tat shop.Service{i}.call{}(Service.java:{i})\n\t- waiting to lock <0x{waits:016x}> (a shop.Lock{waits})\n",
                "y".repeat(name_len),
            ));
            for k in 0..60 {
                s.push_str(&format!("\tat shop.Layer{k}.method{i}(Layer.java:{k})\n"));
            }
            s.push_str(&format!("\t- locked <0x{i:016x}> (a shop.Lock{i})\n"));
            s.push_str(
                "\tat org.apache.coyote.AbstractProtocol.process(AbstractProtocol.java:1)\n\n",
            );
        }
        s
    }

    #[test]
    fn a_2000_thread_dump_stays_under_the_bound() {
        let text = monster(2000, 200);
        assert!(text.len() > 5 << 20, "{} bytes of dump", text.len());
        let d = threaddump::parse(&text);
        assert_eq!(d.threads.len(), 2000);
        let r = analysis::analyze(std::slice::from_ref(&d), None);
        let mut doc = thread_dump(&origin(Kind::Dump), &entry(7), &[d], &r);
        fit(&mut doc, MAX_BYTES);
        assert!(bytes(&doc) <= MAX_BYTES - ENVELOPE, "{} bytes", bytes(&doc));
        // The counts are whole even when lists are cut.
        assert_eq!(doc.body["threads"], 2000);
        assert_eq!(doc.body["states"]["BLOCKED"], 2000);
        assert_eq!(doc.body["blocked"]["threads"], 2000);
        // One per group of 10, and the one the later leaders wait for, which no thread holds.
        assert_eq!(doc.body["blocked"]["locks"], 201);
        assert!(
            doc.body["pool_exhaustion"]["name"].is_string(),
            "{}",
            doc.body["pool_exhaustion"]
        );
    }

    #[test]
    fn fit_cuts_long_strings_and_large_lists_and_says_so() {
        let d = threaddump::parse(&monster(50, 5000));
        let r = analysis::analyze(std::slice::from_ref(&d), None);
        let mut doc = thread_dump(&origin(Kind::Dump), &entry(7), &[d], &r);
        let before = bytes(&doc);
        assert!(before > MAX_BYTES, "{before}");
        assert!(fit(&mut doc, MAX_BYTES));
        assert!(bytes(&doc) <= MAX_BYTES - ENVELOPE, "{}", bytes(&doc));
        let t = &doc.body["truncated"];
        assert_eq!(t["original_bytes"], before);
        let cut: Vec<&str> = t["cut"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(cut.contains(&"hot.threads.thread"), "{cut:?}");
        assert_eq!(doc.body["threads"], 50);
        // Strings are cut on a character boundary with a marker.
        let name = doc.body["hot"]["threads"][0]["thread"].as_str().unwrap();
        assert!(
            name.ends_with(" [...]") && name.len() <= MAX_STRING + 6,
            "{}",
            name.len()
        );
        // A tight bound halves the largest lists until it fits.
        let mut small = doc.clone();
        assert!(fit(&mut small, 16 * 1024));
        assert!(bytes(&small) <= 16 * 1024 - ENVELOPE, "{}", bytes(&small));
        assert_eq!(small.body["threads"], 50);
    }

    #[test]
    fn incident_holds_reason_context_jvms_and_findings() {
        let d = threaddump::parse(&fixture("jdk17-attach-raw-threaddump-l.txt"));
        let r = analysis::analyze(std::slice::from_ref(&d), None);
        let mut e = entry(4242);
        e.verdict = r.verdict.clone();
        e.errors = vec!["class histogram: refused".into()];
        let reason = Reason::Rule("tomcat_pool".into());
        let o = Source {
            reason: &reason,
            kind: Kind::Bundle,
            ..origin(Kind::Bundle)
        };
        let req = Request::new(
            Kind::Bundle,
            super::super::request::Select::All,
            reason.clone(),
        )
        .with_context((0..500).map(|i| format!("log line {i} {}", "z".repeat(2000))));
        let mut doc = incident(&o, &req, &[(&e, Some(&r))], None, 12, 345_678);
        assert!(!fit(&mut doc, MAX_BYTES));
        assert_eq!(doc.kind, "incident");
        assert_eq!(doc.labels["rule"], "tomcat_pool");
        let b = &doc.body;
        assert_eq!(b["manifest_id"], "20261124-190512-345-dump");
        assert_eq!(b["snapshot"]["reason"]["source"], "rule");
        // 200 lines kept by the request and its "more lines" note; 50 of at most 512 bytes here.
        assert_eq!(b["context"]["lines"], 201);
        assert_eq!(
            b["context"]["first"].as_array().unwrap().len(),
            CONTEXT_LINES
        );
        assert_eq!(b["jvms"][0]["pid"], 4242);
        assert_eq!(b["jvms"][0]["threads"], 36);
        assert_eq!(b["jvms"][0]["errors"][0], "class histogram: refused");
        assert!(
            b["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().starts_with("4242 lab: DEADLOCK")),
            "{}",
            b["findings"]
        );
        assert_eq!(b["files"], 12);
        assert!(bytes(&doc) < MAX_BYTES - ENVELOPE);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,1500}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 1000, 40, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..40).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,300}", inner, 0..40)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever a body holds, fit never panics and the document ends within the bound.
        #[test]
        fn fit_always_fits(body in json_value(), max in 2048usize..80_000) {
            let mut d = Document {
                kind: "thread_dump".into(),
                timestamp_ms: 1,
                labels: BTreeMap::from([("pid".to_string(), "1".to_string())]),
                body,
            };
            let cut = fit(&mut d, max + MARKER + ENVELOPE);
            prop_assert!(bytes(&d) <= max + MARKER, "{} > {}", bytes(&d), max + MARKER);
            prop_assert_eq!(cut, d.body.get("truncated").is_some());
        }

        /// Any dump-like text another process may have written: parsed, analysed, summarised and fitted
        /// without a panic, within the bound.
        #[test]
        fn any_dump_text_gives_a_bounded_document(lines in proptest::collection::vec(
            prop_oneof![
                Just("\"a\" #1 prio=5 cpu=1.5ms nid=0x1 runnable  [0x0]".to_string()),
                Just("   java.lang.Thread.State: BLOCKED (on object monitor)".to_string()),
                Just("\t- waiting to lock <0x1> (a X)".to_string()),
                Just("\t- locked <0x2> (a X)".to_string()),
                Just("\tat http.Foo.bar(Foo.java:1)".to_string()),
                Just("Found one Java-level deadlock:".to_string()),
                "\\PC{0,2000}",
            ], 0..200)) {
            let d = threaddump::parse(&lines.join("\n"));
            let r = analysis::analyze(std::slice::from_ref(&d), None);
            let mut doc = thread_dump(&origin(Kind::Dump), &entry(1), &[d], &r);
            fit(&mut doc, MAX_BYTES);
            prop_assert!(bytes(&doc) <= MAX_BYTES - ENVELOPE);
        }
    }
}

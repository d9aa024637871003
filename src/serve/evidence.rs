//! What the console shows of the snapshots under `data_dir/snapshots`: the latest thread dump of a JVM as the
//! analyser's table (each thread with the lock it waits for and that lock's owner, by row), its class
//! histograms and the comparison of two, and each incident bundle with its report and figures. Read from the
//! files the snapshot worker wrote (never by attaching), bounded, never through a link; the analysis is the
//! same `jvm::analysis` that wrote the text reports.

use crate::jvm::analysis::{self, locks};
use crate::jvm::dump::ThreadDump;
use crate::jvm::{histogram, threaddump};
use crate::snapshot::store::{self, Incident, Manifest};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;

/// A thread dump or histogram file larger than this is not read (the attach reply bound is far below it).
const MAX_FILE: u64 = 64 << 20;
/// A JSON or text file of a bundle shown in the console (figures, host figures, report, context).
const MAX_SMALL: u64 = 8 << 20;
/// Frames shown per thread: the top of the stack is what the table is for.
const FRAMES: usize = 16;
/// Histogram rows and growth rows sent to the browser.
const ROWS: usize = 200;

/// Reads a file of a snapshot: at most `max` bytes, refusing a link (the directory is the agent's own, but the
/// rule holds for every file a path names).
fn read(path: &Path, max: u64) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut b = Vec::new();
    f.take(max).read_to_end(&mut b).ok()?;
    Some(String::from_utf8_lossy(&b).into_owned())
}

/// The files of `pid` that a snapshot's manifest lists as `what`, with their snapshot, newest first.
fn files_of(dir: &Path, pid: u32, what: &str) -> Vec<(Incident, Manifest, Vec<String>)> {
    store::list(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| {
            let m = Manifest::read(&i.path)?;
            let files: Vec<String> = m
                .files
                .iter()
                .filter(|f| f.what == what && f.pid == Some(pid))
                .map(|f| f.file.clone())
                .collect();
            (!files.is_empty()).then_some((i, m, files))
        })
        .collect()
}

/// A typed value as JSON text through the pretty serialiser the CLI and the bundles already use: going through
/// `serde_json::Value` would compile the report's, manifest's and histogram's serialisers once more (binary
/// size: docs/performance.md).
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
}

/// `object` (the text of a JSON object) with `key: raw` added at its end, `raw` being JSON text.
fn with_raw(object: impl ToString, key: &str, raw: &str) -> String {
    let mut s = object.to_string();
    s.pop();
    if !s.ends_with('{') {
        s.push(',');
    }
    s.push_str(&Value::from(key).to_string());
    s.push(':');
    s.push_str(raw);
    s.push('}');
    s
}

/// A file name from a manifest, used only when it is a plain name in the snapshot's directory.
fn plain(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

#[derive(Serialize)]
struct Row<'a> {
    /// The row index: owners and deadlock members point at rows.
    i: usize,
    name: &'a str,
    id: Option<u64>,
    nid: Option<u64>,
    daemon: bool,
    state: &'a str,
    detail: &'a str,
    cpu_ms: Option<f64>,
    waits_for: Option<&'a crate::jvm::dump::Lock>,
    /// The row of the thread holding the lock this one waits for.
    owner: Option<usize>,
    holds: Vec<&'a str>,
    frames: Vec<&'a str>,
    deadlocked: bool,
}

/// The analyser's table of one dump: every thread, who it waits for (by row), deadlock members marked.
pub fn thread_table(d: &ThreadDump) -> Value {
    let g = locks::graph(d);
    let labels = locks::labels(d);
    let (cycles, _) = locks::deadlocks(d, &labels, &g);
    let in_cycle: std::collections::HashSet<&str> =
        cycles.iter().flatten().map(String::as_str).collect();
    let rows: Vec<Row> = d
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| Row {
            i,
            name: &t.name,
            id: t.id,
            nid: t.nid,
            daemon: t.daemon,
            state: &t.state,
            detail: &t.state_detail,
            cpu_ms: t.cpu_ms,
            waits_for: t.waiting_for(),
            owner: g.waits[i],
            holds: t.locks_held().map(|l| l.address.as_str()).collect(),
            frames: t
                .frames
                .iter()
                .take(FRAMES)
                .map(|f| f.frame.as_str())
                .collect(),
            deadlocked: in_cycle.contains(labels[i].as_str()),
        })
        .collect();
    json!({ "threads": rows, "labels": labels })
}

/// The newest snapshot with thread dumps of `pid`: the analysis of its dumps (apart in time in a bundle)
/// and the table of the last one.
pub fn latest_dump(dir: &Path, pid: u32) -> Option<String> {
    let (inc, m, files) = files_of(dir, pid, "thread dump").into_iter().next()?;
    let dumps: Vec<ThreadDump> = files
        .iter()
        .filter(|f| plain(f))
        .filter_map(|f| read(&inc.path.join(f), MAX_FILE))
        .map(|t| threaddump::parse(&t))
        .collect();
    let last = dumps.iter().rev().find(|d| !d.threads.is_empty())?;
    // A bundle's own analysis had the CPU per thread sampled before its last dump: its hot threads are
    // measured. Otherwise the dumps are analysed here, with CPU from their cpu= growth where they have it.
    let sampled = m
        .files
        .iter()
        .find(|f| f.pid == Some(pid) && f.what == "the figures above as JSON" && plain(&f.file))
        .and_then(|f| read(&inc.path.join(&f.file), MAX_SMALL))
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|mut f| f["analysis"].take())
        .filter(|a| a.is_object());
    let report = match sampled {
        Some(v) => v.to_string(),
        None => pretty(&analysis::analyze(&dumps, None)),
    };
    let mut v = thread_table(last);
    v["id"] = json!(inc.id);
    v["time"] = json!(m.time);
    v["timestamp_ms"] = json!(m.timestamp_ms);
    v["kind"] = json!(m.kind);
    v["reason"] = json!(m.reason_text);
    v["files"] = json!(files);
    v["vm"] = json!(last.vm);
    Some(with_raw(v, "report", &report))
}

/// Every class histogram of `pid`, newest first: `{id, time, file}`.
pub fn histograms(dir: &Path, pid: u32) -> Vec<Value> {
    files_of(dir, pid, "class histogram")
        .into_iter()
        .flat_map(|(i, m, files)| {
            files
                .into_iter()
                .map(move |f| json!({"id": i.id, "time": m.time, "timestamp_ms": m.timestamp_ms, "file": f}))
        })
        .collect()
}

/// The histogram of `pid` in snapshot `id` (exactly that id).
pub fn histogram(dir: &Path, pid: u32, id: &str) -> Option<histogram::Histogram> {
    let (inc, _, files) = files_of(dir, pid, "class histogram")
        .into_iter()
        .find(|(i, _, _)| i.id == id)?;
    let f = files.into_iter().find(|f| plain(f))?;
    Some(histogram::parse(&read(&inc.path.join(f), MAX_FILE)?))
}

/// A histogram for the browser: its largest classes.
pub fn histogram_view(mut h: histogram::Histogram) -> String {
    let rows = h.entries.len();
    h.entries.truncate(ROWS);
    with_raw(json!({ "rows": rows }), "histogram", &pretty(&h))
}

/// `b` against the earlier `a`: growth per class, largest first.
pub fn compare(dir: &Path, pid: u32, a: &str, b: &str) -> Result<String, String> {
    let ha = histogram(dir, pid, a).ok_or_else(|| format!("no histogram of pid {pid} in {a}"))?;
    let hb = histogram(dir, pid, b).ok_or_else(|| format!("no histogram of pid {pid} in {b}"))?;
    let mut d = histogram::diff(&ha, &hb);
    let changed = d.growth.len();
    d.growth.truncate(ROWS);
    Ok(with_raw(
        json!({"a": a, "b": b, "changed": changed}),
        "diff",
        &pretty(&d),
    ))
}

/// One incident: its manifest, report, context lines, each JVM's figures (sockets, open files, process and
/// threads, analysis), each dump's thread states, and the host figures before and after.
pub fn incident(dir: &Path, id: &str) -> Option<String> {
    let inc = store::list(dir).ok()?.into_iter().find(|i| i.id == id)?;
    let m = Manifest::read(&inc.path).unwrap_or_default();
    let text = |f: &str| read(&inc.path.join(f), MAX_SMALL);
    let parsed = |f: &str| text(f).and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let jvms: Vec<String> = m
        .jvms
        .iter()
        .map(|j| {
            let of = |what: &str| {
                m.files
                    .iter()
                    .filter(|f| f.pid == Some(j.pid) && f.what == what && plain(&f.file))
                    .map(|f| f.file.clone())
                    .collect::<Vec<_>>()
            };
            let dumps: Vec<Value> = of("thread dump")
                .iter()
                .filter_map(|f| {
                    let d = threaddump::parse(&read(&inc.path.join(f), MAX_FILE)?);
                    let mut states = std::collections::BTreeMap::<String, usize>::new();
                    for t in &d.threads {
                        let s = if t.state.is_empty() { "VM" } else { &t.state };
                        *states.entry(s.to_string()).or_default() += 1;
                    }
                    Some(json!({"file": f, "threads": d.threads.len(), "states": states}))
                })
                .collect();
            let figures = of("the figures above as JSON")
                .first()
                .and_then(|f| parsed(f));
            let histogram = of("class histogram")
                .first()
                .and_then(|f| text(f))
                .map(|t| histogram_view(histogram::parse(&t)));
            let v = json!({"dumps": dumps, "figures": figures});
            let v = with_raw(v, "histogram", histogram.as_deref().unwrap_or("null"));
            with_raw(v, "jvm", &pretty(j))
        })
        .collect();
    let v = json!({
        "id": inc.id,
        "report": text("report.txt"),
        "context": text("context.txt").map(|t| t.lines().map(str::to_string).collect::<Vec<_>>()),
        "host_before": parsed("host.json"),
        "host_after": parsed("host-after.json"),
    });
    let v = with_raw(v, "manifest", &pretty(&m));
    Some(with_raw(v, "jvms", &format!("[{}]", jvms.join(","))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLOCK: &str = "\"one\" #10 prio=5 os_prio=0 cpu=1.50ms elapsed=3.00s tid=0x1 nid=0x10 waiting for monitor entry [0x0]
   java.lang.Thread.State: BLOCKED (on object monitor)
\tat A.run(A.java:1)
\t- waiting to lock <0x00000000aaaa0001> (a java.lang.Object)
\t- locked <0x00000000aaaa0002> (a java.lang.Object)

\"two\" #11 prio=5 os_prio=0 cpu=1.00ms elapsed=3.00s tid=0x2 nid=0x11 waiting for monitor entry [0x0]
   java.lang.Thread.State: BLOCKED (on object monitor)
\tat B.run(B.java:1)
\t- waiting to lock <0x00000000aaaa0002> (a java.lang.Object)
\t- locked <0x00000000aaaa0001> (a java.lang.Object)

\"idle\" #12 prio=5 os_prio=0 cpu=0.10ms elapsed=3.00s tid=0x3 nid=0x12 waiting on condition [0x0]
   java.lang.Thread.State: TIMED_WAITING (sleeping)
\tat java.lang.Thread.sleep(Native Method)
";

    #[test]
    fn the_table_points_each_waiter_at_its_owner_and_marks_the_cycle() {
        let d = threaddump::parse(DEADLOCK);
        let v = thread_table(&d);
        let t = v["threads"].as_array().unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0]["owner"], 1);
        assert_eq!(t[1]["owner"], 0);
        assert_eq!(t[0]["waits_for"]["address"], "0x00000000aaaa0001");
        assert_eq!(t[1]["holds"][0], "0x00000000aaaa0001");
        assert_eq!(t[0]["deadlocked"], true);
        assert_eq!(t[2]["deadlocked"], false);
        assert!(t[2]["owner"].is_null());
    }

    #[test]
    fn snapshots_are_found_by_pid_and_links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("20261129-120000-000-dump");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("7-x-threads-1.txt"), DEADLOCK).unwrap();
        let m = Manifest {
            id: "20261129-120000-000-dump".into(),
            kind: "dump".into(),
            files: vec![store::FileEntry {
                file: "7-x-threads-1.txt".into(),
                what: "thread dump".into(),
                bytes: 1,
                pid: Some(7),
            }],
            ..Default::default()
        };
        std::fs::write(
            snap.join("manifest.json"),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&latest_dump(d.path(), 7).unwrap()).unwrap();
        assert_eq!(v["report"]["deadlocks"].as_array().unwrap().len(), 1, "{v}");
        assert!(latest_dump(d.path(), 8).is_none());
        // The same file name as a link to elsewhere: not read.
        std::fs::remove_file(snap.join("7-x-threads-1.txt")).unwrap();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, DEADLOCK).unwrap();
        std::os::unix::fs::symlink(&outside, snap.join("7-x-threads-1.txt")).unwrap();
        assert!(latest_dump(d.path(), 7).is_none());
    }

    #[test]
    fn raw_json_is_added_as_the_last_key() {
        assert_eq!(with_raw(json!({}), "k", "[1]"), r#"{"k":[1]}"#);
        let v: Value = serde_json::from_str(&with_raw(json!({"a": "}"}), "b\"", "{\n}")).unwrap();
        assert_eq!(v, json!({"a": "}", "b\"": {}}));
    }

    proptest::proptest! {
        #[test]
        fn the_table_never_panics(s in "\\PC{0,400}") {
            let _ = thread_table(&threaddump::parse(&s));
        }
    }
}

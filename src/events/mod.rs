//! Events from every source (the kernel's log, the JVMs' lifecycle) recorded in one place: the journal in the
//! data dir (`wasp events`), the document sinks, the counters of the exposition, and the queue the rules read.
//! Sources run on their own threads and never block the collection loop: recording is a short lock.

pub mod journal;

use crate::config::units::ByteSize;
use crate::host::kmsg::{self, Kmsg, KmsgStats};
use crate::model::event::{Event, EventKind};
use crate::model::{Document, MetricSet};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Read the kernel's log (/dev/kmsg: needs CAP_SYSLOG) for OOM kills, hung tasks, segfaults, I/O and
    /// file-system errors, link changes, soft lockups.
    pub kmsg: bool,
    /// Events of one kind beyond this many per minute are dropped and counted (a flapping link, a dying disk).
    pub per_kind_per_minute: u32,
    /// The journal in the data dir (events.ndjson) is rotated at this size; one older generation is kept.
    pub journal_max: ByteSize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            kmsg: true,
            per_kind_per_minute: kmsg::DEFAULT_PER_KIND_PER_MIN,
            journal_max: ByteSize(4 << 20),
        }
    }
}

/// Where recorded events go besides the journal (the document sinks).
pub type Publish = Arc<dyn Fn(Document) + Send + Sync>;

/// Distinct cgroups counted by name in `wasp_oom_kills_total`; more are counted under "other", so a host
/// that churns pods cannot grow the exposition without bound.
const MAX_CGROUP_LABELS: usize = 100;
const RECENT: usize = 100;

struct Inner {
    journal: journal::Journal,
    publish: Option<Publish>,
    by_kind: BTreeMap<EventKind, u64>,
    restarts: BTreeMap<String, u64>,
    oom_by_cgroup: BTreeMap<String, u64>,
    recent: VecDeque<Event>,
    /// Events not yet handed to the rules.
    pending: Vec<Event>,
    kmsg: Option<KmsgStats>,
    kmsg_error: Option<String>,
}

/// The one recording handle, cloned to every source.
#[derive(Clone)]
pub struct Recorder(Arc<Mutex<Inner>>);

impl Recorder {
    pub fn new(data_dir: &Path, cfg: &EventsConfig, publish: Option<Publish>) -> Recorder {
        Recorder(Arc::new(Mutex::new(Inner {
            journal: journal::Journal::new(data_dir, cfg.journal_max.0),
            publish,
            by_kind: BTreeMap::new(),
            restarts: BTreeMap::new(),
            oom_by_cgroup: BTreeMap::new(),
            recent: VecDeque::new(),
            pending: Vec::new(),
            kmsg: None,
            kmsg_error: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, e: Event) {
        tracing::info!(kind = e.kind.name(), pid = ?e.pid, app = ?e.app, "event: {}", e.message);
        let mut g = self.lock();
        if let Err(err) = g.journal.append(&e) {
            tracing::warn!(error = %err, "event not written to the journal");
        }
        *g.by_kind.entry(e.kind).or_default() += 1;
        if e.kind == EventKind::JvmRestart
            && let Some(app) = &e.app
        {
            *g.restarts.entry(app.clone()).or_default() += 1;
        }
        if e.kind == EventKind::OomKill {
            let mut cg = e.cgroup.clone().unwrap_or_else(|| "/".into());
            if !g.oom_by_cgroup.contains_key(&cg) && g.oom_by_cgroup.len() >= MAX_CGROUP_LABELS {
                cg = "other".into();
            }
            *g.oom_by_cgroup.entry(cg).or_default() += 1;
        }
        // Routine starts and exits stay in the journal and the counters; the sinks get what calls for someone.
        if let Some(p) = &g.publish
            && !matches!(e.kind, EventKind::JvmStart | EventKind::JvmExit)
        {
            p(document(&e));
        }
        if g.recent.len() >= RECENT {
            g.recent.pop_front();
        }
        g.recent.push_back(e.clone());
        if g.pending.len() < 10 * RECENT {
            g.pending.push(e);
        }
    }

    /// The events recorded since the last call: what the rules see once.
    pub fn take_pending(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().pending)
    }

    pub fn recent(&self) -> Vec<Event> {
        self.lock().recent.iter().cloned().collect()
    }

    pub fn add_metrics(&self, m: &mut MetricSet) {
        let g = self.lock();
        let f = m.counter("wasp_events_total", "Events recorded, by kind.");
        for k in EventKind::ALL {
            f.push(
                [("kind", k.name())],
                *g.by_kind.get(&k).unwrap_or(&0) as f64,
            );
        }
        let f = m.counter(
            "wasp_jvm_restarts_total",
            "JVMs of an app that came back under a new pid.",
        );
        for (app, n) in &g.restarts {
            f.push([("app", app.clone())], *n as f64);
        }
        let f = m.counter(
            "wasp_oom_kills_total",
            "Processes the kernel's OOM killer killed, by the victim's memory cgroup.",
        );
        for (cg, n) in &g.oom_by_cgroup {
            f.push([("cgroup", cg.clone())], *n as f64);
        }
        if let Some(s) = &g.kmsg {
            m.counter(
                "wasp_kmsg_lost_total",
                "Kernel log records overwritten before the agent read them.",
            )
            .set(s.lost as f64);
            let f = m.counter(
                "wasp_events_rate_limited_total",
                "Events dropped by the per-kind rate limit.",
            );
            for (k, n) in &s.rate_limited {
                f.push([("kind", k.name())], *n as f64);
            }
        }
    }

    /// The status section: counts, the kernel reader's state and the last events.
    pub fn status(&self) -> serde_json::Value {
        let g = self.lock();
        let counts: BTreeMap<&str, u64> = g.by_kind.iter().map(|(k, n)| (k.name(), *n)).collect();
        serde_json::json!({
            "counts": counts,
            "kmsg": g.kmsg.as_ref().map(|s| serde_json::json!({
                "records": s.records, "lost": s.lost, "last_seq": s.last_seq,
            })),
            "kmsg_error": g.kmsg_error,
            "recent": g.recent.iter().rev().take(10).collect::<Vec<_>>(),
        })
    }
}

/// An event as a document for the document sinks.
pub fn document(e: &Event) -> Document {
    let mut labels = BTreeMap::new();
    labels.insert("event_kind".to_string(), e.kind.name().to_string());
    if let Some(p) = e.pid {
        labels.insert("pid".into(), p.to_string());
    }
    if let Some(a) = &e.app {
        labels.insert("app".into(), a.clone());
    }
    Document {
        kind: "event".into(),
        timestamp_ms: e.timestamp_ms,
        labels,
        body: serde_json::to_value(e).unwrap_or_default(),
    }
}

/// Starts the kernel-log reader on its own thread; it ends when `stop` is set. Without /dev/kmsg (no
/// CAP_SYSLOG, a container) the reason is kept for `wasp status` and nothing else changes.
pub fn start_kmsg(
    rec: &Recorder,
    cfg: &EventsConfig,
    proc_root: &Path,
    data_dir: &Path,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if !cfg.kmsg {
        return None;
    }
    let state: PathBuf = data_dir.join("kmsg.state");
    let mut k = match Kmsg::open(
        Path::new("/dev/kmsg"),
        &state,
        kmsg::boot_id(proc_root),
        cfg.per_kind_per_minute,
    ) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read /dev/kmsg (needs CAP_SYSLOG): no kernel events");
            rec.lock().kmsg_error = Some(format!("/dev/kmsg: {e}"));
            return None;
        }
    };
    let rec = rec.clone();
    std::thread::Builder::new()
        .name("wasp-kmsg".into())
        .spawn(move || {
            let mut shown = None;
            while !stop.load(Ordering::Relaxed) {
                match k.poll(10_000) {
                    Ok(events) => {
                        for e in events {
                            rec.record(e);
                        }
                    }
                    Err(e) => {
                        rec.lock().kmsg_error = Some(format!("/dev/kmsg: {e}"));
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
                if shown.as_ref() != Some(&k.stats) {
                    shown = Some(k.stats.clone());
                    rec.lock().kmsg = shown.clone();
                }
                k.wait(Duration::from_millis(500));
            }
        })
        .ok()
}

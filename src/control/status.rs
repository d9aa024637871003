//! The sections of `wasp status`, one convention for all: a `<Name>Section` wrapping a handle of its subsystem.
//! The agent itself, the collection (last time, duration, errors, the JVMs it watches), the snapshots
//! (counters, budget, recent triggers with their outcome), the shipping (queues, spools, deliveries per sink)
//! and the triggers (rules, schedules, log watches, checks, one line each).

use super::StatusProvider;
use super::server::ControlCounters;
use crate::model::Latest;
use crate::serve::http;
use crate::snapshot::store::utc;
use crate::snapshot::worker::Snapshots;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, UNIX_EPOCH};

pub struct AgentSection {
    pub started: Instant,
    pub config: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub control: Arc<ControlCounters>,
}

impl StatusProvider for AgentSection {
    fn name(&self) -> &'static str {
        "agent"
    }
    fn status(&self) -> Value {
        let c = &self.control;
        json!({
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs(),
            "config": self.config.as_ref().map(|p| p.display().to_string()).unwrap_or("embedded defaults".into()),
            "data_dir": self.data_dir,
            "control_socket": self.socket,
            "control_requests": c.served.load(Ordering::Relaxed),
            "control_refused_peers": c.refused_peers.load(Ordering::Relaxed),
            "control_refused_busy": c.refused_busy.load(Ordering::Relaxed),
            "control_bad_requests": c.bad_requests.load(Ordering::Relaxed),
        })
    }
}

pub struct CollectionSection {
    pub shared: http::Shared,
    pub latest: Latest,
}

impl StatusProvider for CollectionSection {
    fn name(&self) -> &'static str {
        "collection"
    }
    fn status(&self) -> Value {
        let (interval, last_wall) = {
            let p = self.shared.read().unwrap_or_else(|e| e.into_inner());
            (p.interval, p.last_ok_wall)
        };
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let last_ms = last_wall
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        let mut v = json!({
            "interval_s": interval.as_secs_f64(),
            "last": last_ms.map(utc),
            "age_s": last_ms.map(|ms| (crate::util::clock::now_ms() - ms) as f64 / 1000.0),
        });
        if let Some(l) = latest {
            let c = &l.collection;
            v["took_ms"] = json!(l.took.as_secs_f64() * 1000.0);
            v["errors"] = json!(
                c.errors
                    .iter()
                    .map(|e| format!("{}: {}", e.collector, e.message))
                    .collect::<Vec<_>>()
            );
            v["jvms"] = json!(
                c.jvms
                    .iter()
                    .map(|j| json!({
                        "pid": j.pid,
                        "app": j.app,
                        "user": j.user,
                        "main": j.main,
                        "measurable": j.measurable,
                        "reason": j.reason,
                    }))
                    .collect::<Vec<_>>()
            );
            v["access_logs"] = json!(
                c.access
                    .iter()
                    .map(|a| json!({
                        "app": a.app,
                        "pid": a.pid,
                        "log": a.log,
                        "files": a.files,
                        "requests": a.total(),
                        "unmatched": a.unmatched,
                        "tps": a.interval.as_ref().map(|i| i.tps),
                        "p95_ms": a.interval.as_ref().and_then(|i| i.p95_ms),
                        "error_pct": a.interval.as_ref().and_then(|i| i.error_pct),
                    }))
                    .collect::<Vec<_>>()
            );
        }
        v
    }
}

pub struct SnapshotSection(pub Snapshots);

impl StatusProvider for SnapshotSection {
    fn name(&self) -> &'static str {
        "snapshots"
    }
    fn status(&self) -> Value {
        let s = &self.0;
        let c = &s.counters;
        json!({
            "dir": s.dir,
            "taken": c.taken.load(Ordering::Relaxed),
            "failed": c.failed.load(Ordering::Relaxed),
            "refused_budget": c.refused_budget.load(Ordering::Relaxed),
            "refused_queue": c.refused_queue.load(Ordering::Relaxed),
            "coalesced": c.coalesced.load(Ordering::Relaxed),
            "documents": c.documents.load(Ordering::Relaxed),
            "documents_truncated": c.documents_truncated.load(Ordering::Relaxed),
            "budget_per_hour": s.per_hour(),
            "budget_left": s.budget_left(),
            "recent": s.recent(),
        })
    }
}

pub struct ShippingSection(pub crate::ship::ShippingStatus);

impl StatusProvider for ShippingSection {
    fn name(&self) -> &'static str {
        "shipping"
    }
    fn status(&self) -> Value {
        serde_json::to_value(self.0.status()).unwrap_or_default()
    }
}

pub struct TriggerSection(pub crate::trigger::engine::TriggerStatus);

impl StatusProvider for TriggerSection {
    fn name(&self) -> &'static str {
        "triggers"
    }
    fn status(&self) -> Value {
        self.0.current()
    }
}

/// Kernel and JVM events: counts, the kernel reader's state, the last ten.
pub struct EventSection(pub crate::events::Recorder);

impl StatusProvider for EventSection {
    fn name(&self) -> &'static str {
        "events"
    }
    fn status(&self) -> Value {
        self.0.status()
    }
}

//! The collection loop: collect on a fixed schedule, derive the exposition, hand the collection to the
//! triggers and the shipper, keep the agent's own figures, and back the per-process scan off when the agent
//! goes over its CPU budget. It runs on its own thread and never waits on the network or a JVM.

use super::reload::collectors_changed;
use super::{Control, MetricsHook, common_labels};
use crate::collect::Collector;
use crate::config::Config;
use crate::model::MetricSet;
use crate::model::{Latest, LatestCollection};
use crate::present::{metrics, prom};
use crate::serve::http;
use crate::ship::{Item, Shipper};
use crate::trigger::engine::Triggers;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

/// The agent's own figures, for its self-metrics and heartbeat.
#[derive(Default)]
struct SelfStats {
    collections: u64,
    skipped: u64,
    cpu_seconds: f64,
    rss_bytes: u64,
}

impl SelfStats {
    fn refresh(&mut self) {
        // procfs: our own /proc/self/stat, one small read per collection.
        if let Ok(me) = procfs::process::Process::myself()
            && let Ok(st) = me.stat()
        {
            let tps = procfs::ticks_per_second() as f64;
            self.cpu_seconds = (st.utime + st.stime) as f64 / tps;
            self.rss_bytes = st.rss * procfs::page_size();
        }
    }

    fn add_metrics(&self, m: &mut MetricSet, took: Duration) {
        m.gauge(
            "wasp_collection_duration_seconds",
            "How long the last collection took.",
        )
        .set(took.as_secs_f64());
        m.counter("wasp_collections_total", "Collections taken since start.")
            .set(self.collections as f64);
        m.counter(
            "wasp_collections_skipped_total",
            "Collections skipped because the previous one overran its interval.",
        )
        .set(self.skipped as f64);
        m.counter(
            "wasp_agent_cpu_seconds_total",
            "CPU time the agent itself used.",
        )
        .set(self.cpu_seconds);
        m.gauge(
            "wasp_agent_resident_memory_bytes",
            "The agent's own resident memory.",
        )
        .set(self.rss_bytes as f64);
        m.counter(
            "wasp_log_lines_dropped_total",
            "Log lines dropped because the log writer's buffer was full.",
        )
        .set(crate::logging::dropped_lines() as f64);
    }
}

/// The CPU-budget back-off: the agent's CPU over the last ~10 collections decides how often the per-process
/// scan runs (every 1st, 2nd, 4th, 8th collection). Kept across reloads.
struct CpuBudget {
    since: Instant,
    cpu_at_start: f64,
}

impl CpuBudget {
    fn new() -> Self {
        CpuBudget {
            since: Instant::now(),
            cpu_at_start: 0.0,
        }
    }

    fn check(
        &mut self,
        collector: &mut Collector,
        cpu_seconds: f64,
        interval: Duration,
        budget: f64,
    ) {
        if self.since.elapsed() < interval * 10 {
            return;
        }
        let used = (cpu_seconds - self.cpu_at_start) / self.since.elapsed().as_secs_f64() * 100.0;
        let every = collector.process_every();
        if used > budget && every < 8 {
            collector.set_process_every(every * 2);
            tracing::warn!(
                cpu_percent = used,
                budget,
                process_scan_every = every * 2,
                "over the CPU budget; the per-process scan backs off"
            );
        } else if used < budget / 2.0 && every > 1 {
            collector.set_process_every(every / 2);
            tracing::info!(
                cpu_percent = used,
                budget,
                process_scan_every = every / 2,
                "back under the CPU budget"
            );
        }
        *self = CpuBudget {
            since: Instant::now(),
            cpu_at_start: cpu_seconds,
        };
    }
}

/// What reacts to each collection besides the views: the rules, and the events of the JVMs' lifecycle.
pub(super) struct Deciders {
    pub triggers: Triggers,
    pub events: crate::events::Recorder,
    /// The local history's queue (None: `[history] enabled = false`, or its store could not be opened).
    pub history: Option<crate::history::writer::Writer>,
    /// Where the access logs' scatter points go (the console's API reads them; kept across reloads).
    pub scatter: crate::access::scatter::Scatter,
}

/// Collects on a fixed schedule. A collection that overruns its interval makes the loop skip the ticks it
/// missed (counted), never queue them up.
pub(super) fn collection_loop(
    mut cfg: Config,
    shared: &http::Shared,
    latest: &Latest,
    hooks: &[MetricsHook],
    shipper: &Shipper,
    ctl: &Receiver<Control>,
    deciders: Deciders,
) {
    let Deciders {
        mut triggers,
        events,
        history,
        scatter,
    } = deciders;
    let mut interval = cfg.agent.interval.0;
    let mut labels = common_labels(&cfg);
    let mut collector = Collector::with_scatter(&cfg, scatter.clone());
    let mut stats = SelfStats::default();
    let mut next = Instant::now();
    let mut last_heartbeat = Instant::now();
    let mut budget = CpuBudget::new();
    let mut lifecycle = crate::jvm::lifecycle::Lifecycle::default();
    let mut access_docs = crate::access::docs::TopDocuments::default();
    loop {
        let started = Instant::now();
        let c = collector.collect();
        let took = started.elapsed();
        // JVMs that appeared, went, crashed or came back: a few bounded reads of the files they left.
        for e in lifecycle.observe(&c.jvms, &cfg.agent.proc_root, c.timestamp_ms) {
            events.record(e);
        }
        stats.collections += 1;
        stats.refresh();
        tracing::debug!(took = ?took, errors = c.errors.len(), "collection done");
        let mut m: MetricSet = metrics::from_collection_named(&c, cfg.jvm.metric_names);
        stats.add_metrics(&mut m, took);
        shipper.add_metrics(&mut m);

        for h in hooks {
            h(&mut m);
        }
        budget.check(
            &mut collector,
            stats.cpu_seconds,
            interval,
            cfg.agent.cpu_budget_percent,
        );
        m.gauge(
            "wasp_process_scan_every",
            "The per-process scan runs every n-th collection (1 = always; more when over the CPU budget).",
        )
        .set(collector.process_every() as f64);
        // Events since the previous collection, for the rules; a kernel event about a JVM we knew names its app.
        let mut fresh = events.take_pending();
        lifecycle.name_apps(&mut fresh);
        triggers.on_collection(&c, &fresh, &mut m);
        let mut text = String::with_capacity(64 * 1024);
        prom::render(&m, &labels, &mut text);
        {
            let mut p = shared.write().unwrap_or_else(|e| e.into_inner());
            p.exposition = Arc::from(text);
            p.last_ok = Some(Instant::now());
            p.last_ok_wall = Some(SystemTime::now());
        }
        // Each log's slowest and failing URL templates, once per closed minute.
        for d in access_docs.fresh(&c.access_top) {
            shipper.submit(Item::Document(d));
        }
        let c = Arc::new(c);
        *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(LatestCollection {
            collection: c.clone(),
            took,
        }));
        let m = Arc::new(m);
        if let Some(h) = &history {
            h.submit(m.clone());
        }
        shipper.submit(Item::Collection {
            collection: c,
            metrics: m,
        });
        if last_heartbeat.elapsed() >= cfg.log.heartbeat.0 {
            last_heartbeat = Instant::now();
            tracing::info!(
                collections = stats.collections,
                skipped = stats.skipped,
                cpu_seconds = stats.cpu_seconds,
                rss_bytes = stats.rss_bytes,
                took = ?took,
                "heartbeat"
            );
        }

        next += interval;
        let now = Instant::now();
        if next <= now {
            let missed = ((now - next).as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
            stats.skipped += missed;
            tracing::warn!(took = ?took, missed, "collection overran its interval; skipping missed ticks");
            next += interval * missed as u32;
        }
        match ctl.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Control::Reload(new)) => {
                // Unchanged collectors are kept: their previous readings (rates continue), JVM state and
                // back-off. Changed ones start from a fresh first reading, which is honest; the back-off is the
                // agent's own CPU, so it carries over.
                if collectors_changed(&cfg, &new) {
                    let every = collector.process_every();
                    collector = Collector::with_scatter(&new, scatter.clone());
                    collector.set_process_every(every);
                    tracing::info!("collection configuration changed; collectors rebuilt");
                } else {
                    tracing::debug!("collection configuration unchanged; collectors kept");
                }
                labels = common_labels(&new);
                triggers.reload(new.triggers());
                if new.agent.interval.0 != interval {
                    interval = new.agent.interval.0;
                    next = Instant::now() + interval;
                }
                cfg = *new;
            }
            Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

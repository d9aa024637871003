//! The triggers as the daemon sees them: started once (log watch threads, check tasks, the action runner),
//! then called once per collection to evaluate rules and schedules on the collected model, hand over what
//! fires, and add the trigger metrics. Also the config validation of `[[rules]]`, `[[schedules]]`,
//! `[[logs]]` and `[[checks]]`, with errors at their line and column.

use super::Sections;
use super::action::{Actions, Firing, Plan, SnapshotSink};
use super::check::{self, CheckConfig, Checks};
use super::figures::{Catalogue, Sources};
use super::logwatch::{self, LogWatchConfig, LogWatches};
use super::rules::{self, Engine};
use super::schedule::{ScheduleConfig, Timer};
use crate::model::event::Event;
use crate::model::{Collection, MetricSet};
use crate::snapshot::blocked::BlockedThreads;
use crate::snapshot::documents::Publish;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

pub struct Triggers {
    status: TriggerStatus,
    engine: Engine,
    schedules: Vec<(ScheduleConfig, Timer, u64)>,
    sources: Sources,
    actions: Actions,
    /// Where event documents go: the same way as the snapshot worker's documents.
    publish: Publish,
    logs: Vec<LogWatchConfig>,
    checks: Vec<CheckConfig>,
    /// The last firings, oldest first: `recent` of the status section (the console's timeline, `wasp status`).
    fired: VecDeque<serde_json::Value>,
}

/// Firings kept for the status section.
const RECENT: usize = 20;

/// What the timeline shows of a firing: when, which rule or schedule, for which JVM, and what it asked for.
fn remember(fired: &mut VecDeque<serde_json::Value>, f: &Firing, plan: &Plan) {
    if fired.len() == RECENT {
        fired.pop_front();
    }
    let mut v = serde_json::json!({
        "timestamp_ms": f.timestamp_ms,
        "source": f.source,
        "rule": f.rule,
        "when": f.when,
        "actions": plan.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    });
    if let Some(pid) = f.pid {
        v["pid"] = pid.into();
    }
    if let Some(app) = &f.app {
        v["app"] = app.as_str().into();
    }
    if !f.jvms.is_empty() {
        v["jvms"] = f.jvms.clone().into();
    }
    fired.push_back(v);
}

impl Triggers {
    /// Starts the watches, checks and the action runner. `cfg` was validated when it was read.
    pub fn start(
        cfg: Sections,
        rt: &tokio::runtime::Handle,
        snapshot: SnapshotSink,
        blocked: BlockedThreads,
        publish: Publish,
    ) -> anyhow::Result<Triggers> {
        let logs = LogWatches::start(cfg.logs)?;
        let checks = Checks::start(cfg.checks, rt);
        let actions = Actions::start(rt, snapshot);
        let cat = Catalogue {
            logs: cfg.logs,
            checks: cfg.checks,
        };
        let rules = rules::compile(cfg.rules, &cat)
            .map_err(|(i, _, m)| anyhow::anyhow!("rule {}: {m}", i + 1))?;
        if !cfg.rules.is_empty() || !cfg.schedules.is_empty() || !cfg.logs.is_empty() {
            tracing::info!(
                rules = cfg.rules.len(),
                schedules = cfg.schedules.len(),
                log_watches = cfg.logs.len(),
                checks = cfg.checks.len(),
                "triggers started"
            );
        }
        Ok(Triggers {
            status: TriggerStatus::default(),
            engine: Engine::new(rules),
            schedules: timers(cfg.schedules),
            sources: Sources::new(logs, checks, blocked),
            actions,
            publish,
            logs: cfg.logs.to_vec(),
            checks: cfg.checks.to_vec(),
            fired: VecDeque::new(),
        })
    }

    /// Applies changed rules and schedules (unchanged rules keep their state). Watches and checks run on their own threads and tasks, so their
    /// changes wait for a restart (and so does a reload that changes them: rules may name them).
    pub fn reload(&mut self, cfg: Sections) {
        if cfg.logs != self.logs || cfg.checks != self.checks {
            tracing::warn!(
                "[[logs]] and [[checks]] changes take effect at the next restart; rules and schedules are kept as they were"
            );
            return;
        }
        let cat = Catalogue {
            logs: &self.logs,
            checks: &self.checks,
        };
        match rules::compile(cfg.rules, &cat) {
            Ok(r) => {
                let old = std::mem::replace(&mut self.engine, Engine::new(r));
                self.engine.carry_over(old);
                self.schedules = timers(cfg.schedules);
            }
            Err((i, _, m)) => tracing::error!(rule = i + 1, error = %m, "rules not reloaded"),
        }
    }

    /// Once per collection, with the events recorded since the previous one: evaluate, hand over what
    /// fires, add the metrics. No I/O and no waiting.
    pub fn on_collection(&mut self, c: &Collection, events: &[Event], m: &mut MetricSet) {
        let now = Instant::now();
        let view = self.sources.view();
        let logs = &self.sources.logs;
        let fired = self
            .engine
            .evaluate(c, events, &view, now, &|w| logs.recent(w));
        for (ri, f) in fired {
            let plan = &self.engine.rules[ri].plan;
            remember(&mut self.fired, &f, plan);
            self.actions.dispatch(f, plan, &self.publish);
        }
        let wall = c.timestamp_ms.div_euclid(1000);
        for (s, timer, n) in &mut self.schedules {
            if !timer.due(now, wall) {
                continue;
            }
            let plan = Plan {
                actions: s.actions.clone(),
                ..Default::default()
            };
            let when = match (&s.every, &s.cron) {
                (Some(e), _) => format!("every {e}"),
                (_, Some(cr)) => format!("cron {}", cr.get_ref()),
                _ => String::new(),
            };
            let firing = |pid, app| Firing {
                source: "schedule",
                rule: s.name.clone(),
                when: when.clone(),
                timestamp_ms: c.timestamp_ms,
                host: c.hostname.clone(),
                pid,
                app,
                jvms: Vec::new(),
                figures: BTreeMap::new(),
                log_lines: Vec::new(),
                event: None,
            };
            match &s.app {
                None => {
                    *n += 1;
                    let f = firing(None, None);
                    remember(&mut self.fired, &f, &plan);
                    self.actions.dispatch(f, &plan, &self.publish);
                }
                Some(p) => {
                    for j in c.jvms.iter().filter(|j| p.is_match(&j.app)) {
                        *n += 1;
                        let f = firing(Some(j.pid), Some(j.app.clone()));
                        remember(&mut self.fired, &f, &plan);
                        self.actions.dispatch(f, &plan, &self.publish);
                    }
                }
            }
        }
        self.add_metrics(m);
        self.publish_status();
    }

    /// The `wasp status` section, for the control socket; updated once per collection.
    pub fn status(&self) -> TriggerStatus {
        self.status.clone()
    }

    fn publish_status(&self) {
        if self.engine.rules.is_empty()
            && self.schedules.is_empty()
            && self.logs.is_empty()
            && self.checks.is_empty()
        {
            return;
        }
        let mut m = serde_json::Map::new();
        for (k, v) in self.engine.status_lines() {
            m.insert(k, v.into());
        }
        for (s, _, n) in &self.schedules {
            m.insert(format!("schedule {}", s.name), format!("fired {n}").into());
        }
        for (c, st) in &self.sources.logs.watches {
            let st = logwatch::lock(st).clone();
            let pats: Vec<String> = c
                .patterns
                .keys()
                .zip(&st.counts)
                .map(|(p, n)| format!("{p} {n}"))
                .collect();
            m.insert(
                format!("log {}", c.name),
                format!(
                    "{} files, {} lines, silent for {:.0} s; {}",
                    st.files,
                    st.lines,
                    logwatch::silence(&st),
                    pats.join(", ")
                )
                .into(),
            );
        }
        for (c, st) in &self.sources.checks.checks {
            let st = check::lock(st).clone();
            let state = match st.up {
                None => "not checked yet".to_string(),
                Some(true) => "up".into(),
                Some(false) => format!("DOWN ({})", st.last_error.as_deref().unwrap_or("?")),
            };
            let lat = st
                .latency
                .map(|l| format!(", {:.1} ms", l * 1000.0))
                .unwrap_or_default();
            let http = st.status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
            m.insert(
                format!("check {}", c.name),
                format!(
                    "{state}{lat}{http}; {} checks, {} failed",
                    st.total, st.failures
                )
                .into(),
            );
        }
        if !self.fired.is_empty() {
            m.insert("recent".into(), self.fired.iter().cloned().collect());
        }
        *self.status.0.lock().unwrap_or_else(|e| e.into_inner()) = serde_json::Value::Object(m);
    }

    fn add_metrics(&self, m: &mut MetricSet) {
        self.engine.add_metrics(m);
        if !self.schedules.is_empty() {
            let fam = m.counter(
                "wasp_schedule_fired_total",
                "Times a schedule was due (per selected JVM).",
            );
            for (s, _, n) in &self.schedules {
                fam.push([("schedule", s.name.clone())], *n as f64);
            }
        }
        self.actions.add_metrics(m);
        log_metrics(&self.sources.logs, m);
        check_metrics(&self.sources.checks, m);
    }
}

/// The `triggers` section of `wasp status`: rules, schedules, log watches and checks, one line each.
#[derive(Clone, Default)]
pub struct TriggerStatus(std::sync::Arc<std::sync::Mutex<serde_json::Value>>);

impl TriggerStatus {
    /// The section as of the latest collection.
    pub fn current(&self) -> serde_json::Value {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn timers(s: &[ScheduleConfig]) -> Vec<(ScheduleConfig, Timer, u64)> {
    let now = Instant::now();
    let wall = crate::util::clock::now_ms().div_euclid(1000);
    s.iter()
        .map(|c| (c.clone(), Timer::new(c, now, wall), 0))
        .collect()
}

fn log_metrics(l: &LogWatches, m: &mut MetricSet) {
    if l.watches.is_empty() {
        return;
    }
    let states: Vec<(String, Vec<String>, logwatch::WatchState)> = l
        .watches
        .iter()
        .map(|(c, s)| {
            (
                c.name.clone(),
                c.patterns.keys().cloned().collect(),
                logwatch::lock(s).clone(),
            )
        })
        .collect();
    let fam = m.counter(
        "wasp_log_lines_total",
        "Log lines that matched a watch's pattern.",
    );
    for (w, pats, st) in &states {
        for (p, n) in pats.iter().zip(&st.counts) {
            fam.push([("watch", w.clone()), ("pattern", p.clone())], *n as f64);
        }
    }
    type Get = fn(&logwatch::WatchState) -> f64;
    let per_watch: [(&'static str, &'static str, bool, Get); 7] = [
        (
            "wasp_log_read_lines_total",
            "Log lines read by a watch.",
            true,
            |s| s.lines as f64,
        ),
        (
            "wasp_log_read_bytes_total",
            "Log bytes read by a watch.",
            true,
            |s| s.bytes as f64,
        ),
        (
            "wasp_log_silence_seconds",
            "Seconds since a watch's last alive line (or its start).",
            false,
            logwatch::silence,
        ),
        ("wasp_log_files", "Files a watch follows now.", false, |s| {
            s.files as f64
        }),
        (
            "wasp_log_rotations_total",
            "Rotations a watch followed (renamed away, or truncated).",
            true,
            |s| s.rotations as f64,
        ),
        (
            "wasp_log_behind_total",
            "Polls that hit max_read and left lines for the next poll.",
            true,
            |s| s.behind as f64,
        ),
        (
            "wasp_log_long_lines_total",
            "Lines longer than 64 KiB, cut.",
            true,
            |s| s.long_lines as f64,
        ),
    ];
    for (name, help, counter, get) in per_watch {
        let fam = if counter {
            m.counter(name, help)
        } else {
            m.gauge(name, help)
        };
        for (w, _, st) in &states {
            fam.push([("watch", w.clone())], get(st));
        }
    }
}

fn check_metrics(c: &Checks, m: &mut MetricSet) {
    if c.checks.is_empty() {
        return;
    }
    let states: Vec<(String, bool, check::CheckState)> = c
        .checks
        .iter()
        .map(|(c, s)| (c.name.clone(), c.http.is_some(), check::lock(s).clone()))
        .collect();
    let fam = m.gauge(
        "wasp_check_up",
        "1 when the last service check succeeded (TCP connect, or HTTP GET with the expected status).",
    );
    for (n, _, s) in &states {
        if let Some(up) = s.up {
            fam.push([("check", n.clone())], if up { 1.0 } else { 0.0 });
        }
    }
    let fam = m.gauge(
        "wasp_check_latency_seconds",
        "Time to connect (TCP) or to the response headers (HTTP) of the last answered check.",
    );
    for (n, _, s) in &states {
        if let Some(l) = s.latency {
            fam.push([("check", n.clone())], l);
        }
    }
    let fam = m.gauge(
        "wasp_check_http_status",
        "HTTP status of the last HTTP check (0 when no answer came).",
    );
    for (n, http, s) in &states {
        if *http && s.up.is_some() {
            fam.push([("check", n.clone())], s.status.unwrap_or(0) as f64);
        }
    }
    let fam = m.counter("wasp_checks_total", "Service checks run.");
    for (n, _, s) in &states {
        fam.push([("check", n.clone())], s.total as f64);
    }
    let fam = m.counter("wasp_check_failures_total", "Service checks that failed.");
    for (n, _, s) in &states {
        fam.push([("check", n.clone())], s.failures as f64);
    }
}

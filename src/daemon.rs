//! `wasp run`: wires the collection loop, the local endpoints, the shipper and systemd, and stops them cleanly.
//!
//! The collection loop runs on its own thread and never waits on the network or a JVM; the endpoints, signals
//! and the systemd watchdog run on a small tokio runtime; the shipper has its own thread behind a bounded queue.

use crate::collect::Collector;
use crate::config::Config;
use crate::model::MetricSet;
use crate::present::{metrics, prom};
use crate::serve::http;
use crate::service::Notifier;
use crate::ship::{Item, Shipper};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

/// Where state goes: the configured data dir, or, when it cannot be created (not root), a per-user directory.
pub fn data_dir(cfg: &Config) -> PathBuf {
    let want = &cfg.agent.data_dir;
    if std::fs::create_dir_all(want).is_ok() && is_writable(want) {
        return want.clone();
    }
    let fallback = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wasp");
    tracing::warn!(
        wanted = %want.display(),
        using = %fallback.display(),
        "data_dir is not writable; using a per-user directory"
    );
    let _ = std::fs::create_dir_all(&fallback);
    fallback
}

fn is_writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The file `wasp reload` reads the running agent's pid from.
pub fn pid_file(cfg: &Config) -> PathBuf {
    data_dir(cfg).join("wasp.pid")
}

/// The configured labels, put on every sample of the exposition.
pub fn common_labels(cfg: &Config) -> Vec<(String, String)> {
    cfg.agent
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Who the shipped data is from.
fn origin(cfg: &Config) -> crate::ship::encode::Origin {
    crate::ship::encode::Origin {
        hostname: cfg.hostname(),
        labels: common_labels(cfg),
        boot_time_ms: procfs::boot_time_secs().map_or(0, |s| s as i64 * 1000),
    }
}

fn sink_names(cfg: &Config) -> Vec<String> {
    if cfg.sinks.0.is_empty() {
        return vec!["file".into()];
    }
    cfg.sinks.0.keys().cloned().collect()
}

fn same_sinks(a: &Config, b: &Config) -> bool {
    // Compared through their TOML form: the sink configs hold no floats, so this is exact.
    toml::to_string(&a.sinks).ok() == toml::to_string(&b.sinks).ok()
}

/// Adds figures of a part of the agent (counters it keeps) to every exposition; must not block.
pub type MetricsHook = Box<dyn Fn(&mut MetricSet) + Send>;

/// The sinks' queues, spools and deliveries in `wasp status`.
struct ShippingSection(crate::ship::ShippingStatus);

impl crate::control::StatusProvider for ShippingSection {
    fn name(&self) -> String {
        "shipping".into()
    }
    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.0.status()).unwrap_or_default()
    }
}

/// What the runtime tells the collection loop.
enum Control {
    Stop,
    Reload(Box<Config>),
}

pub fn run(cfg: Config, cfg_path: Option<PathBuf>) -> anyhow::Result<()> {
    let interval = cfg.agent.interval.0;
    let dir = data_dir(&cfg);
    // Shared: the collection loop submits collections, the snapshot worker its documents.
    let shipper = Arc::new(Shipper::start(&cfg.sinks, &dir, origin(&cfg))?);
    let shipping = shipper.status_handle();
    let shared = http::shared(interval);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("wasp-io")
        .build()?;
    let token = match &cfg.server.bearer_token_file {
        Some(p) => Some(http::read_token(p)?),
        None => {
            if cfg.server.enabled && !cfg.server.listen.ip().is_loopback() {
                tracing::warn!(listen = %cfg.server.listen, "serving beyond loopback without a bearer token ([server] bearer_token_file)");
            }
            None
        }
    };
    let listener = if cfg.server.enabled {
        Some(rt.block_on(http::bind(cfg.server.listen))?)
    } else {
        None
    };
    let pid_path = dir.join("wasp.pid");
    if let Err(e) = std::fs::write(&pid_path, format!("{}\n", std::process::id())) {
        tracing::warn!(path = %pid_path.display(), error = %e, "cannot write the pid file; `wasp reload` will not find this agent");
    }

    let latest: crate::model::Latest = Arc::default();
    let snapshots = crate::trigger::snapshot::Snapshots::start(
        cfg.snapshots.clone(),
        cfg.jvm.clone(),
        crate::host::Roots {
            proc: cfg.agent.proc_root.clone(),
            sys: cfg.agent.sys_root.clone(),
        },
        dir.join("snapshots"),
        latest.clone(),
        publish_documents(&shipper),
    )?;
    let triggers = crate::trigger::engine::Triggers::start(
        &cfg,
        rt.handle(),
        snapshot_sink(snapshots.clone()),
    )?;
    let trigger_status = triggers.status();
    let control_counters = Arc::new(crate::control::server::ControlCounters::default());
    // The counters of the snapshot worker and the control socket, in every exposition.
    let hooks: Vec<MetricsHook> = {
        let (s, c) = (snapshots.counters.clone(), control_counters.clone());
        vec![
            Box::new(move |m: &mut MetricSet| s.add_metrics(m)),
            Box::new(move |m: &mut MetricSet| c.add_metrics(m)),
        ]
    };
    let (ctl_tx, ctl_rx) = channel::<Control>();
    let loop_shared = shared.clone();
    let loop_cfg = cfg.clone();
    let loop_latest = latest.clone();
    let loop_shipper = shipper.clone();
    let collector = std::thread::Builder::new()
        .name("wasp-collect".into())
        .spawn(move || {
            collection_loop(
                loop_cfg,
                &loop_shared,
                &loop_latest,
                &hooks,
                &loop_shipper,
                &ctl_rx,
                triggers,
            );
        })?;

    tracing::info!(
        pid = std::process::id(),
        interval = %cfg.agent.interval,
        listen = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
        sinks = ?sink_names(&cfg),
        "wasp running"
    );

    // The control socket and `wasp status`; the shippers register their status sections on `control.providers`.
    let control = crate::control::start(
        &rt,
        crate::control::Wiring {
            cfg: &cfg,
            cfg_path: cfg_path.as_deref(),
            data_dir: &dir,
            shared: &shared,
            latest: &latest,
            snapshots: &snapshots,
            counters: control_counters,
        },
    );
    control
        .providers
        .register(Arc::new(ShippingSection(shipping)));
    control.providers.register(Arc::new(trigger_status));
    let notifier = Notifier::from_env();
    rt.block_on(async {
        if let Some(l) = listener {
            let app = http::router(shared.clone(), token);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        }
        tokio::spawn(systemd_notifications(shared.clone(), Notifier::from_env()));
        signals(cfg, cfg_path, &ctl_tx, &shared, &snapshots).await;
    });
    tracing::info!("stopping");
    notifier.notify("STOPPING=1");
    let _ = ctl_tx.send(Control::Stop);
    // A collector stuck in the kernel (a hung file system) must not keep the agent from stopping.
    let deadline = Instant::now() + Duration::from_millis(300);
    while !collector.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if collector.is_finished() {
        if collector.join().is_err() {
            tracing::error!("collection loop panicked");
        }
        match sole(shipper) {
            Some(s) => s.shutdown(Duration::from_millis(500)),
            None => tracing::warn!("the shipper is still in use; its open batches stay unspooled"),
        }
    } else {
        tracing::error!(
            "collection loop did not stop within 300ms (stuck in a read?); exiting without it"
        );
    }
    let _ = std::fs::remove_file(&pid_path);
    control.stop();
    rt.shutdown_timeout(Duration::from_millis(100));
    tracing::info!("stopped");
    Ok(())
}

/// Rules and schedules ask the snapshot worker through this: the JVM a per-JVM rule fired for, the JVMs in a
/// host rule's scope, or every JVM, the rule or schedule as the reason, and the matched log lines and figures as context.
fn snapshot_sink(
    snapshots: crate::trigger::snapshot::Snapshots,
) -> crate::trigger::action::SnapshotSink {
    use crate::trigger::action::SnapshotKind;
    use crate::trigger::snapshot::{Kind, Reason, Request, Select};
    Box::new(move |kind, f| {
        let kind = match kind {
            SnapshotKind::Dump => Kind::Dump,
            SnapshotKind::Histo => Kind::Histo,
            SnapshotKind::Bundle => Kind::Bundle,
        };
        let select = match (f.pid, f.jvms.is_empty()) {
            (Some(p), _) => Select::Pid(p),
            (None, false) => Select::Apps(f.jvms.clone()),
            (None, true) => Select::All,
        };
        let reason = if f.source == "schedule" {
            Reason::Schedule(f.rule.clone())
        } else {
            Reason::Rule(f.rule.clone())
        };
        let context = std::iter::once(format!("{} {}: {}", f.source, f.rule, f.when))
            .chain(f.figures.iter().map(|(k, v)| format!("{k} = {v}")))
            .chain(
                f.log_lines
                    .iter()
                    .map(|l| format!("{} [{}] {}", l.file, l.pattern, l.line)),
            );
        snapshots.request(Request::new(kind, select, reason).with_context(context));
    })
}

/// The snapshot worker's documents go to the shipper. Through a weak reference: the worker thread outlives the
/// run, and the shipper must be the daemon's alone to shut down.
fn publish_documents(shipper: &Arc<Shipper>) -> crate::trigger::documents::Publish {
    let weak = Arc::downgrade(shipper);
    Arc::new(move |d| match weak.upgrade() {
        Some(s) => s.submit(Item::Document(d)),
        None => {
            tracing::info!(kind = %d.kind, "agent stopping: snapshot document not shipped (its snapshot is on disk)")
        }
    })
}

/// The shipper once no one else holds it: the snapshot worker holds it only for the moment of a submit, which
/// never blocks, so a short wait is enough.
fn sole(mut shipper: Arc<Shipper>) -> Option<Shipper> {
    let deadline = Instant::now() + Duration::from_millis(100);
    loop {
        match Arc::try_unwrap(shipper) {
            Ok(s) => return Some(s),
            Err(s) if Instant::now() < deadline => {
                shipper = s;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

/// Waits for SIGTERM/SIGINT; meanwhile SIGHUP reloads, SIGUSR1 asks for thread dumps, SIGUSR2 for a bundle.
/// Signal work runs here, off the handler (tokio's handler only sets a flag), and the snapshots themselves on
/// their own worker.
async fn signals(
    mut current: Config,
    cfg_path: Option<PathBuf>,
    ctl: &Sender<Control>,
    shared: &http::Shared,
    snapshots: &crate::trigger::snapshot::Snapshots,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            // A refusal (budget, full queue) is counted and logged by `request` itself.
            _ = usr1.recv() => snapshots.request(current.snapshots.signal_request(false)),
            _ = usr2.recv() => snapshots.request(current.snapshots.signal_request(true)),
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => {
                if let Some(new) = reload(&current, cfg_path.as_deref()) {
                    shared.write().unwrap_or_else(|e| e.into_inner()).interval = new.agent.interval.0;
                    current = new.clone();
                    let _ = ctl.send(Control::Reload(Box::new(new)));
                }
            }
        }
    }
}

/// Re-reads and validates the whole file; an invalid one changes nothing and says why.
fn reload(current: &Config, path: Option<&Path>) -> Option<Config> {
    let started = Instant::now();
    let new = match Config::load_default_or(path) {
        Ok((c, _)) => c,
        Err(e) => {
            tracing::error!(error = %e, "reload refused: the configuration is invalid; nothing changed");
            return None;
        }
    };
    if new.server.listen != current.server.listen || new.server.enabled != current.server.enabled {
        tracing::warn!("[server] changes take effect at the next restart; the rest is applied now");
    }
    if !same_sinks(&new, current) {
        tracing::warn!(
            "[sinks] changes take effect at the next restart (spools and senders stay as they are)"
        );
    }
    if new.agent.data_dir != current.agent.data_dir {
        tracing::warn!("[agent] data_dir changes take effect at the next restart");
    }
    // signal_apps applies now (the signal handler reads the current config); the worker keeps the rest.
    let worker = |c: &Config| {
        let mut s = c.snapshots.clone();
        s.signal_apps.clear();
        (
            serde_json::to_value(s).ok(),
            serde_json::to_value(&c.control).ok(),
        )
    };
    if worker(&new) != worker(current) {
        tracing::warn!(
            "[snapshots] and [control] changes (but signal_apps) take effect at the next restart"
        );
    }
    crate::logging::set_level(new.log.level);
    tracing::info!(
        interval = %new.agent.interval,
        level = new.log.level.as_str(),
        took = ?started.elapsed(),
        "configuration reloaded"
    );
    Some(new)
}

/// READY=1 once the first collection is published; WATCHDOG=1 while collections stay fresh, so that systemd
/// restarts an agent whose collection loop is stuck.
async fn systemd_notifications(shared: http::Shared, n: Notifier) {
    if !n.enabled() {
        return;
    }
    loop {
        if shared.read().map(|p| p.last_ok.is_some()).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n.ready();
    let Some(period) = crate::service::watchdog_period() else {
        return;
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let fresh = shared
            .read()
            .map(|p| p.last_ok.is_some_and(|t| t.elapsed() < p.interval * 3))
            .unwrap_or(false);
        if fresh {
            n.watchdog();
        } else {
            tracing::warn!("collection is stale; withholding the systemd watchdog ping");
        }
    }
}

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
    }
}

/// Collects on a fixed schedule. A collection that overruns its interval makes the loop skip the ticks it
/// missed (counted), never queue them up.
fn collection_loop(
    mut cfg: Config,
    shared: &http::Shared,
    latest: &crate::model::Latest,
    hooks: &[MetricsHook],
    shipper: &Shipper,
    ctl: &Receiver<Control>,
    mut triggers: crate::trigger::engine::Triggers,
) {
    let mut interval = cfg.agent.interval.0;
    let mut labels = common_labels(&cfg);
    let mut collector = Collector::new(&cfg);
    let mut stats = SelfStats::default();
    let mut next = Instant::now();
    let mut last_heartbeat = Instant::now();
    // CPU-budget window: the agent's CPU over the last ~10 collections.
    let mut window = (Instant::now(), 0.0f64);
    loop {
        let started = Instant::now();
        let c = collector.collect();
        let took = started.elapsed();
        stats.collections += 1;
        stats.refresh();
        tracing::debug!(took = ?took, errors = c.errors.len(), "collection done");
        let mut m: MetricSet = metrics::from_collection(&c);
        stats.add_metrics(&mut m, took);
        shipper.add_metrics(&mut m);

        for h in hooks {
            h(&mut m);
        }
        if window.0.elapsed() >= interval * 10 {
            let used = (stats.cpu_seconds - window.1) / window.0.elapsed().as_secs_f64() * 100.0;
            let every = collector.process_every();
            let budget = cfg.agent.cpu_budget_percent;
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
            window = (Instant::now(), stats.cpu_seconds);
        }
        m.gauge(
            "wasp_process_scan_every",
            "The per-process scan runs every n-th collection (1 = always; more when over the CPU budget).",
        )
        .set(collector.process_every() as f64);
        triggers.on_collection(&c, &mut m, shipper);
        let mut text = String::with_capacity(64 * 1024);
        prom::render(&m, &labels, &mut text);
        {
            let mut p = shared.write().unwrap_or_else(|e| e.into_inner());
            p.exposition = Arc::from(text);
            p.last_ok = Some(Instant::now());
            p.last_ok_wall = Some(SystemTime::now());
        }
        let c = Arc::new(c);
        *latest.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(crate::model::LatestCollection {
                collection: c.clone(),
                took,
            }));
        shipper.submit(Item::Collection {
            collection: c,
            metrics: Arc::new(m),
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
                // Rates continue across a reload only if the collectors are unchanged; new collectors start
                // from a fresh first reading, which is honest.
                collector = Collector::new(&new);
                labels = common_labels(&new);
                triggers.reload(&new);
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

//! `wasp run`: wires the collection loop, the local endpoints, the shipper and systemd, and stops them cleanly.
//!
//! The collection loop runs on its own thread and never waits on the network or a JVM; the endpoints, signals
//! and the systemd watchdog run on a small tokio runtime; the shipper has its own thread behind a bounded queue.

mod collect_loop;
mod paths;
mod reload;

use crate::config::Config;
use crate::model::MetricSet;
use crate::serve::http;
use crate::service::Notifier;
use crate::ship::{Item, Shipper};
use crate::snapshot::blocked::BlockedThreads;
use crate::snapshot::worker::Snapshots;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

/// Adds figures of a part of the agent (counters it keeps) to every exposition; must not block.
pub type MetricsHook = Box<dyn Fn(&mut MetricSet) + Send>;

/// What the runtime tells the collection loop.
enum Control {
    Stop,
    Reload(Box<Config>),
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

pub fn run(cfg: Config, cfg_path: Option<PathBuf>) -> anyhow::Result<()> {
    let interval = cfg.agent.interval.0;
    let dir = paths::create_data_dir(&cfg);
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
    let mut extra_hooks: Vec<MetricsHook> = Vec::new();
    // The BLOCKED threads of the dumps the snapshot worker takes, read by the rules (jvm.blocked_threads).
    let blocked = BlockedThreads::default();
    let snapshots = Snapshots::start(
        cfg.snapshots.clone(),
        cfg.jvm.clone(),
        crate::host::Roots {
            proc: cfg.agent.proc_root.clone(),
            sys: cfg.agent.sys_root.clone(),
        },
        crate::paths::snapshot_dir(&dir),
        latest.clone(),
        publish_documents(&shipper),
        blocked.clone(),
    )?;
    let to_snapshots = snapshots.clone();
    let triggers = crate::trigger::engine::Triggers::start(
        cfg.triggers(),
        rt.handle(),
        Box::new(move |r| to_snapshots.request(r)),
        blocked,
        publish_documents(&shipper),
    )?;
    let trigger_status = triggers.status();
    // Kernel and JVM events: recorded to the journal and the document sinks, counted, handed to the rules.
    let events = crate::events::Recorder::new(&dir, &cfg.events, Some(publish_documents(&shipper)));
    let events_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kmsg = crate::events::start_kmsg(
        &events,
        &cfg.events,
        &cfg.agent.proc_root,
        &dir,
        events_stop.clone(),
    );
    let history = start_history(&cfg, &dir);
    if let Some(h) = &history {
        shared.write().unwrap_or_else(|e| e.into_inner()).history =
            Some(crate::history::path(&dir));
        let c = h.counters.clone();
        extra_hooks.push(Box::new(move |m: &mut MetricSet| c.add_metrics(m)));
    }
    let control_counters = Arc::new(crate::control::server::ControlCounters::default());
    // The counters of the snapshot worker and the control socket, in every exposition.
    let hooks: Vec<MetricsHook> = {
        let (s, c) = (snapshots.counters.clone(), control_counters.clone());
        let ev = events.clone();
        let mut hooks: Vec<MetricsHook> = vec![
            Box::new(move |m: &mut MetricSet| s.add_metrics(m)),
            Box::new(move |m: &mut MetricSet| c.add_metrics(m)),
            Box::new(move |m: &mut MetricSet| ev.add_metrics(m)),
        ];
        hooks.append(&mut extra_hooks);
        hooks
    };
    let (ctl_tx, ctl_rx) = channel::<Control>();
    let loop_shared = shared.clone();
    let loop_cfg = cfg.clone();
    let loop_latest = latest.clone();
    let loop_shipper = shipper.clone();
    let loop_events = events.clone();
    let scatter = crate::access::scatter::Scatter::new(cfg.access.scatter_per_minute);
    let loop_scatter = scatter.clone();
    let collector = std::thread::Builder::new()
        .name("wasp-collect".into())
        .spawn(move || {
            collect_loop::collection_loop(
                loop_cfg,
                &loop_shared,
                &loop_latest,
                &hooks,
                &loop_shipper,
                &ctl_rx,
                collect_loop::Deciders {
                    triggers,
                    events: loop_events,
                    scatter: loop_scatter,
                    history,
                },
            );
        })?;

    tracing::info!(
        pid = std::process::id(),
        interval = %cfg.agent.interval,
        listen = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
        sinks = ?sink_names(&cfg),
        "wasp running"
    );

    // The control socket and `wasp status` with every section (control::status).
    let control = crate::control::start(
        &rt,
        crate::control::Wiring {
            cfg: &cfg.control,
            socket: crate::paths::socket_in(&cfg, &dir),
            cfg_path: cfg_path.as_deref(),
            data_dir: &dir,
            shared: &shared,
            latest: &latest,
            snapshots: &snapshots,
            shipping,
            triggers: trigger_status,
            counters: control_counters,
            events: events.clone(),
        },
    );
    let notifier = Notifier::from_env();
    rt.block_on(async {
        if let Some(l) = listener {
            // The console and its JSON API on the same listener, behind the same token.
            let api = crate::serve::api::Api {
                latest: latest.clone(),
                snapshots: snapshots.clone(),
                providers: control.providers.clone(),
                scatter,
            };
            let console = crate::serve::api::routes(api).merge(crate::serve::console::routes());
            let app = http::router_with(shared.clone(), token, console);
            tokio::spawn(async move {
                if let Err(e) = http::serve(l, app, http::Limits::default()).await {
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
    // The kernel reader wakes at least every 500 ms; it is not waited for (it holds nothing to flush).
    events_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(kmsg);
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

/// The local history's thread; a store that cannot be opened costs the history, not the agent.
fn start_history(cfg: &Config, dir: &std::path::Path) -> Option<crate::history::writer::Writer> {
    if !cfg.history.enabled {
        return None;
    }
    let path = crate::history::path(dir);
    let limits = crate::history::store::Limits::from_config(&cfg.history);
    match crate::history::writer::Writer::start(&path, limits) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open the history; running without it");
            None
        }
    }
}

/// Documents (the snapshot worker's, and the event documents of `log` actions) go to the shipper this one way.
/// Through a weak reference: the worker thread outlives the run, and the shipper must be the daemon's alone to
/// shut down.
fn publish_documents(shipper: &Arc<Shipper>) -> crate::snapshot::documents::Publish {
    let weak = Arc::downgrade(shipper);
    Arc::new(move |d| match weak.upgrade() {
        Some(s) => s.submit(Item::Document(d)),
        None => {
            tracing::info!(kind = %d.kind, "agent stopping: document not shipped (a snapshot stays on disk)")
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
    snapshots: &Snapshots,
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
                if let Some(new) = reload::reload(&current, cfg_path.as_deref()) {
                    shared.write().unwrap_or_else(|e| e.into_inner()).interval = new.agent.interval.0;
                    current = new.clone();
                    let _ = ctl.send(Control::Reload(Box::new(new)));
                }
            }
        }
    }
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

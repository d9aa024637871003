//! `wasp run`: wires the collection loop, the local endpoints and the shipper, and stops them cleanly.
//!
//! The collection loop runs on its own thread and never waits on the network or a JVM; the endpoints run on a
//! small tokio runtime; the shipper has its own thread behind a bounded queue.

use crate::collect::Collector;
use crate::config::Config;
use crate::model::MetricSet;
use crate::present::{metrics, prom};
use crate::serve::http;
use crate::ship::{Item, Shipper};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
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

/// The configured labels, put on every sample of the exposition.
pub fn common_labels(cfg: &Config) -> Vec<(String, String)> {
    cfg.agent
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn run(cfg: Config) -> anyhow::Result<()> {
    let interval = cfg.agent.interval.0;
    let dir = data_dir(&cfg);
    let out_path = dir.join("wasp.jsonl");
    let shipper = Shipper::start(out_path.clone(), 50_000_000, 3)?;
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

    let (stop_tx, stop_rx) = channel::<()>();
    let loop_shared = shared.clone();
    let labels = common_labels(&cfg);
    let loop_cfg = cfg.clone();
    let collector = std::thread::Builder::new()
        .name("wasp-collect".into())
        .spawn(move || {
            collection_loop(&loop_cfg, &labels, &loop_shared, &shipper, &stop_rx).map(|_| shipper)
        })?;

    tracing::info!(
        interval = %cfg.agent.interval,
        listen = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
        output = %out_path.display(),
        "wasp running"
    );

    rt.block_on(async {
        if let Some(l) = listener {
            let app = http::router(shared.clone(), token);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        }
        wait_for_stop().await;
    });
    tracing::info!("stopping");
    let _ = stop_tx.send(());
    // A collector stuck in the kernel (a hung file system) must not keep the agent from stopping.
    let deadline = Instant::now() + Duration::from_millis(300);
    while !collector.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if collector.is_finished() {
        match collector.join() {
            Ok(Ok(shipper)) => shipper.shutdown(Duration::from_millis(500)),
            Ok(Err(e)) => tracing::error!(error = %e, "collection loop failed"),
            Err(_) => tracing::error!("collection loop panicked"),
        }
    } else {
        tracing::error!(
            "collection loop did not stop within 300ms (stuck in a read?); exiting without it"
        );
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Collects on a fixed schedule. A collection that overruns its interval makes the loop skip the ticks it
/// missed (counted), never queue them up.
fn collection_loop(
    cfg: &Config,
    labels: &[(String, String)],
    shared: &http::Shared,
    shipper: &Shipper,
    stop: &Receiver<()>,
) -> anyhow::Result<()> {
    let interval = cfg.agent.interval.0;
    let mut collector = Collector::new(cfg);
    let mut next = Instant::now();
    let mut skipped: u64 = 0;
    loop {
        let started = Instant::now();
        let c = collector.collect();
        let took = started.elapsed();
        let mut m: MetricSet = metrics::from_collection(&c);
        m.gauge(
            "wasp_collection_duration_seconds",
            "How long the last collection took.",
        )
        .set(took.as_secs_f64());
        m.counter(
            "wasp_collections_skipped_total",
            "Collections skipped because the previous one overran its interval.",
        )
        .set(skipped as f64);
        let mut text = String::with_capacity(64 * 1024);
        prom::render(&m, labels, &mut text);
        {
            let mut p = shared.write().unwrap_or_else(|e| e.into_inner());
            p.exposition = Arc::from(text);
            p.last_ok = Some(Instant::now());
            p.last_ok_wall = Some(SystemTime::now());
        }
        shipper.submit(Item::Collection {
            collection: Arc::new(c),
            metrics: Arc::new(m),
        });

        next += interval;
        let now = Instant::now();
        if next <= now {
            let missed = ((now - next).as_nanos() / interval.as_nanos().max(1)) as u64 + 1;
            skipped += missed;
            tracing::warn!(took = ?took, missed, "collection overran its interval; skipping missed ticks");
            next += interval * missed as u32;
        }
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return Ok(()),
        }
    }
}

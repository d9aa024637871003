//! The snapshot worker: takes thread dumps and bundles off the signal handler and off the collection loop.
//! Requests queue in a bounded channel (a full queue refuses and counts); an hourly budget bounds the work a
//! storm of signals can cause; dumps of one JVM never overlap (one worker, and attach serialises per pid).

use super::SnapshotConfig;
use crate::host::Roots;
use crate::jvm::{JvmConfig, analysis, attach, discover, threaddump};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Free space a snapshot requires on its file system.
const MIN_FREE: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// One thread dump of every JVM (SIGUSR1).
    Dumps,
    /// Several dumps apart in time, a histogram and the analysis of every JVM (SIGUSR2).
    Bundle,
}

#[derive(Default, Debug)]
pub struct Counters {
    pub taken: AtomicU64,
    pub refused_budget: AtomicU64,
    pub refused_queue: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Snapshots {
    tx: SyncSender<Request>,
    pub counters: Arc<Counters>,
}

impl Snapshots {
    pub fn start(
        cfg: SnapshotConfig,
        jvm: JvmConfig,
        roots: Roots,
        dir: PathBuf,
    ) -> std::io::Result<Snapshots> {
        let (tx, rx) = sync_channel(4);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        std::thread::Builder::new()
            .name("wasp-snapshot".into())
            .spawn(move || worker(rx, cfg, jvm, roots, dir, c))?;
        Ok(Snapshots { tx, counters })
    }

    /// Never blocks: a full queue refuses the request (counted and logged).
    pub fn request(&self, r: Request) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(r) {
            let n = self.counters.refused_queue.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(request = ?r, refused_total = n, "snapshot queue full; request refused");
        }
    }
}

fn worker(
    rx: Receiver<Request>,
    cfg: SnapshotConfig,
    jvm: JvmConfig,
    roots: Roots,
    dir: PathBuf,
    c: Arc<Counters>,
) {
    let mut recent: Vec<Instant> = Vec::new();
    for req in rx {
        recent.retain(|t| t.elapsed() < Duration::from_secs(3600));
        if recent.len() as u32 >= cfg.budget_per_hour {
            let n = c.refused_budget.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(request = ?req, budget = cfg.budget_per_hour, refused_total = n, "snapshot budget for this hour used up; request refused");
            continue;
        }
        recent.push(Instant::now());
        let started = Instant::now();
        match take(req, &cfg, &jvm, &roots, &dir) {
            Ok(path) => {
                c.taken.fetch_add(1, Ordering::Relaxed);
                tracing::info!(request = ?req, path = %path.display(), took = ?started.elapsed(), "snapshot written");
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(request = ?req, error = %format!("{e:#}"), "snapshot failed");
            }
        }
        prune(&dir, cfg.keep);
    }
}

/// Writes one snapshot directory atomically: built under a temporary name, renamed when complete.
fn take(
    req: Request,
    cfg: &SnapshotConfig,
    jvm: &JvmConfig,
    roots: &Roots,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let stamp = crate::collect::now_ms();
    let kind = match req {
        Request::Dumps => "dumps",
        Request::Bundle => "bundle",
    };
    let name = format!("{stamp}-{kind}");
    std::fs::create_dir_all(dir)?;
    // Never fill the disk of the host we watch: a bundle needs a few MB, keep a wide margin.
    let st = nix::sys::statvfs::statvfs(dir)?;
    #[allow(clippy::unnecessary_cast)]
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    anyhow::ensure!(
        free >= MIN_FREE,
        "{}: only {} MB free, {} MB required; snapshot not taken",
        dir.display(),
        free >> 20,
        MIN_FREE >> 20
    );
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::create_dir_all(&tmp)?;
    let opts = attach::AttachOptions {
        timeout: cfg.timeout.0,
        proc_root: roots.proc.clone(),
        fallback: jvm.fallback(),
    };
    let jvms = discover::discover(roots, jvm);
    let mut manifest = Vec::new();
    let rounds = if req == Request::Bundle {
        cfg.bundle_dumps.max(1)
    } else {
        1
    };
    let mut dumps: Vec<Vec<threaddump::ThreadDump>> = vec![Vec::new(); jvms.len()];
    let mut cpu: Vec<Option<analysis::ThreadCpu>> = vec![None; jvms.len()];
    for round in 0..rounds {
        if round > 0 {
            std::thread::sleep(cfg.bundle_every.0);
        }
        for (i, j) in jvms.iter().enumerate() {
            if req == Request::Bundle && round + 1 == rounds {
                cpu[i] = analysis::sample_thread_cpu(j.pid, Duration::from_millis(500)).ok();
            }
            match attach::thread_dump(j.pid, &opts) {
                Ok(text) => {
                    let f = format!("{}-{}-threads-{}.txt", j.pid, safe(&j.app), round + 1);
                    std::fs::write(tmp.join(&f), &text)?;
                    dumps[i].push(threaddump::parse(&text));
                    manifest.push(serde_json::json!({"pid": j.pid, "app": j.app, "file": f}));
                }
                Err(e) => manifest
                    .push(serde_json::json!({"pid": j.pid, "app": j.app, "error": e.to_string()})),
            }
        }
    }
    if req == Request::Bundle {
        for (i, j) in jvms.iter().enumerate() {
            if let Ok(h) = attach::class_histogram(j.pid, false, &opts) {
                std::fs::write(
                    tmp.join(format!("{}-{}-histogram.txt", j.pid, safe(&j.app))),
                    h,
                )?;
            }
            if !dumps[i].is_empty() {
                let r = analysis::analyze(&dumps[i], cpu[i].as_ref());
                std::fs::write(
                    tmp.join(format!("{}-{}-report.txt", j.pid, safe(&j.app))),
                    r.to_text(),
                )?;
            }
        }
    }
    std::fs::write(
        tmp.join("manifest.json"),
        serde_json::to_string_pretty(
            &serde_json::json!({"kind": kind, "timestamp_ms": stamp, "jvms": manifest}),
        )?,
    )?;
    let done = dir.join(&name);
    std::fs::rename(&tmp, &done)?;
    Ok(done)
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Keeps the newest `keep` snapshot directories.
fn prune(dir: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut all: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    all.sort();
    let n = all.len().saturating_sub(keep);
    for p in all.into_iter().take(n) {
        let _ = std::fs::remove_dir_all(p);
    }
}

//! One sink at work: a batcher thread (queue -> batches -> encoded bodies -> spool) and a sender thread (spool ->
//! backend, oldest first, one request in flight, retries). The collection loop only ever `try_send`s to the queue.

use super::config::{SinkConfig, SinkKind};
use super::deliver::{Outcome, Sender};
use super::encode::{Batch, Encoded, Metrics, Origin};
use super::sinks::{self, Backend, file::RotatingFile};
use super::spool::{Pos, Record, Spool, SpoolStats};
use super::stats::SinkStats;
use crate::model::Document;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a sink's queue carries.
#[derive(Clone)]
pub enum Entry {
    Metrics(Metrics),
    Document(Arc<Document>),
}

/// Set-aside batches kept for inspection per sink (oldest removed first).
const REJECTED_KEEP: usize = 20;

pub struct Sink {
    pub name: String,
    pub kind: SinkKind,
    pub(crate) backend: Arc<dyn Backend>,
    tx: Option<SyncSender<Entry>>,
    pub stats: Arc<SinkStats>,
    pub spool_stats: Option<Arc<SpoolStats>>,
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<bool>, Condvar)>,
    threads: Vec<JoinHandle<()>>,
}

pub(crate) fn now_ms() -> i64 {
    crate::util::clock::now_ms()
}

impl Sink {
    /// Opens the spool (replaying what an earlier run left) and starts the threads.
    pub fn start(
        name: &str,
        cfg: &SinkConfig,
        data_dir: &Path,
        origin: Origin,
    ) -> anyhow::Result<Sink> {
        let stats = Arc::new(SinkStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new((Mutex::new(false), Condvar::new()));
        let (tx, rx) = sync_channel::<Entry>(cfg.queue);
        let mut threads = Vec::new();
        let mut spool_stats = None;
        let backend = sinks::backend(cfg);
        if cfg.kind == SinkKind::File {
            let path = cfg
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("wasp.jsonl"));
            let out = RotatingFile::open(path, cfg.rotate_bytes.0, cfg.keep)?;
            let (c, b, s) = (cfg.clone(), backend.clone(), stats.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("wasp-sink-{name}"))
                    .spawn(move || batcher(rx, c, b, origin, s, Output::File(out)))?,
            );
        } else {
            let dir = data_dir.join("spool").join(name);
            let (spool, rec) = Spool::open(
                &dir,
                cfg.spool.max_bytes.0,
                cfg.spool.max_age.0.as_millis() as i64,
                cfg.spool.sync,
            )?;
            if rec.pending_records > 0 || rec.torn_bytes > 0 || rec.corrupt_records > 0 {
                tracing::info!(
                    sink = name,
                    batches = rec.pending_records,
                    bytes = rec.pending_bytes,
                    torn_bytes = rec.torn_bytes,
                    corrupt = rec.corrupt_records,
                    bad_segments = rec.bad_segments,
                    "spool replay: unsent batches from an earlier run go out first"
                );
            }
            spool_stats = Some(spool.stats());
            let sender = Sender::new(cfg, backend.clone())?;
            let spool = Arc::new(Mutex::new(spool));
            let (c, b, s, sp, w) = (
                cfg.clone(),
                backend.clone(),
                stats.clone(),
                spool.clone(),
                wake.clone(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("wasp-sink-{name}"))
                    .spawn(move || batcher(rx, c, b, origin, s, Output::Spool(sp, w)))?,
            );
            let (c, s, st, w, n) = (
                cfg.clone(),
                stats.clone(),
                stop.clone(),
                wake.clone(),
                name.to_string(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("wasp-send-{name}"))
                    .spawn(move || sender_loop(n, c, sender, spool, s, st, w))?,
            );
        }
        Ok(Sink {
            name: name.to_string(),
            kind: cfg.kind,
            backend,
            tx: Some(tx),
            stats,
            spool_stats,
            stop,
            wake,
            threads,
        })
    }

    /// Never blocks: a full queue drops the entry, counts it and logs it.
    pub fn offer(&self, e: Entry) {
        let Some(tx) = &self.tx else { return };
        let samples = match &e {
            Entry::Metrics(m) => m.metrics.sample_count() as u64,
            Entry::Document(_) => 1,
        };
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(e) {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            let n = self
                .stats
                .dropped_queue_items
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            self.stats
                .dropped_queue_samples
                .fetch_add(samples, Ordering::Relaxed);
            // Once per power of two: a stuck batcher must not flood the log.
            if n.is_power_of_two() {
                tracing::warn!(sink = %self.name, dropped_total = n, "sink queue full; collection dropped for this sink");
            }
        }
    }

    /// Flushes the open batch to the spool, gives the sender until `deadline` to finish what it has in flight, and
    /// stops. Whatever is unsent stays in the spool for the next start.
    pub fn shutdown(mut self, deadline: Instant) {
        self.tx.take();
        // The batcher ends when the queue closes (after writing its open batch); then the sender is told to stop.
        let mut threads = std::mem::take(&mut self.threads).into_iter();
        if let Some(b) = threads.next() {
            while !b.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if b.is_finished() {
                let _ = b.join();
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        self.wake.1.notify_all();
        for t in threads {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::info!(sink = %self.name, "sender still busy at shutdown; its batch stays spooled");
            }
        }
    }
}

enum Output {
    File(RotatingFile),
    Spool(Arc<Mutex<Spool>>, Arc<(Mutex<bool>, Condvar)>),
}

/// Encodes `b`, splitting it in halves while the body is over the size limit and can still be split.
fn encode_bounded(
    backend: &dyn Backend,
    max_bytes: u64,
    b: Batch,
    o: &Origin,
    out: &mut Vec<Encoded>,
) {
    let e = backend.encode(&b, o);
    let parts = b.metrics.len() + b.documents.len();
    if e.body.len() as u64 <= max_bytes || parts < 2 {
        if !e.body.is_empty() {
            out.push(e);
        }
        return;
    }
    // The first half of the items (collections, then documents) in one, the rest in the other: both non-empty.
    let half = parts / 2;
    let (mut x, mut y) = (Batch::default(), Batch::default());
    for (i, m) in b.metrics.into_iter().enumerate() {
        if i < half {
            x.metrics.push(m)
        } else {
            y.metrics.push(m)
        }
    }
    let nm = parts - b.documents.len();
    for (i, d) in b.documents.into_iter().enumerate() {
        if nm + i < half {
            x.documents.push(d)
        } else {
            y.documents.push(d)
        }
    }
    encode_bounded(backend, max_bytes, x, o, out);
    encode_bounded(backend, max_bytes, y, o, out);
}

fn batcher(
    rx: Receiver<Entry>,
    cfg: SinkConfig,
    backend: Arc<dyn Backend>,
    origin: Origin,
    stats: Arc<SinkStats>,
    mut out: Output,
) {
    let kind = cfg.kind;
    let mut batch = Batch::default();
    let mut samples = 0usize;
    let mut opened: Option<Instant> = None;
    loop {
        let wait = opened.map_or(Duration::from_secs(3600), |t| {
            cfg.batch.max_delay.0.saturating_sub(t.elapsed())
        });
        let closed = match rx.recv_timeout(wait) {
            Ok(e) => {
                stats.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    Entry::Metrics(m) if backend.takes_metrics() => {
                        samples += m.metrics.sample_count();
                        batch.metrics.push(m);
                    }
                    Entry::Document(d) if backend.takes_documents() => batch.documents.push(d),
                    _ => continue,
                }
                opened.get_or_insert_with(Instant::now);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let due = opened.is_some_and(|t| t.elapsed() >= cfg.batch.max_delay.0)
            || samples >= cfg.batch.max_samples
            || batch.documents.len() >= cfg.batch.max_documents
            // A local file is written as each item comes: it is the local record, and local disk is cheap.
            || (matches!(out, Output::File(_)) && !batch.is_empty());
        if (due || closed) && !batch.is_empty() {
            let b = std::mem::take(&mut batch);
            samples = 0;
            opened = None;
            let mut encoded = Vec::new();
            encode_bounded(&*backend, cfg.batch.max_bytes.0, b, &origin, &mut encoded);
            for e in encoded {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                if e.skipped > 0 {
                    stats.skipped_items.fetch_add(e.skipped, Ordering::Relaxed);
                    tracing::debug!(
                        skipped = e.skipped,
                        kind = kind.as_str(),
                        "samples the format cannot carry were left out"
                    );
                }
                match &mut out {
                    Output::File(f) => {
                        if let Err(err) = f.write_all(&e.body) {
                            stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %err, path = %f.path().display(), "cannot write the JSON-lines output");
                        } else {
                            stats.sent_batches.fetch_add(1, Ordering::Relaxed);
                            stats.sent_items.fetch_add(e.items, Ordering::Relaxed);
                            stats
                                .sent_bytes
                                .fetch_add(e.body.len() as u64, Ordering::Relaxed);
                            stats
                                .last_success_ms
                                .store(now_ms() as u64, Ordering::Relaxed);
                        }
                    }
                    Output::Spool(sp, wake) => {
                        let rec = Record {
                            kind: kind as u8,
                            items: e.items,
                            min_ts_ms: e.min_ts_ms,
                            max_ts_ms: e.max_ts_ms,
                            created_ms: now_ms(),
                            body: e.body,
                        };
                        let r = sp.lock().unwrap_or_else(|p| p.into_inner()).append(&rec);
                        if let Err(err) = r {
                            stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(sink = %crate::util::redact::url(cfg.url.as_deref().unwrap_or("")), error = %err, "cannot spool a batch; it is lost");
                        }
                        *wake.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
                        wake.1.notify_all();
                    }
                }
            }
            if let Output::File(f) = &mut out
                && let Err(err) = f.flush()
            {
                tracing::warn!(error = %err, "cannot flush the JSON-lines output");
            }
        }
        if closed {
            return;
        }
    }
}

/// Sleeps up to `d` unless told to stop or woken (new data); returns true if told to stop.
fn pause(stop: &AtomicBool, wake: &(Mutex<bool>, Condvar), d: Duration, wakeable: bool) -> bool {
    let end = Instant::now() + d;
    let mut woken = wake.0.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        if wakeable && *woken {
            *woken = false;
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        woken = wake
            .1
            .wait_timeout(woken, left.min(Duration::from_millis(250)))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

fn sender_loop(
    name: String,
    cfg: SinkConfig,
    sender: Sender,
    spool: Arc<Mutex<Spool>>,
    stats: Arc<SinkStats>,
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<bool>, Condvar)>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(sink = %name, error = %e, "cannot start the sink's runtime; nothing will be sent");
            return;
        }
    };
    let rejected_dir = spool
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .dir()
        .join("rejected");
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        let next = spool.lock().unwrap_or_else(|p| p.into_inner()).peek();
        let (pos, rec) = match next {
            Ok(Some(x)) => x,
            Ok(None) => {
                pause(&stop, &wake, Duration::from_secs(1), true);
                continue;
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "cannot read the spool");
                pause(&stop, &wake, Duration::from_secs(1), false);
                continue;
            }
        };
        let mut counted = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1
                && !spool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .still_owed(pos)
            {
                tracing::debug!(sink = %name, "batch dropped from the full spool while being retried");
                break;
            }
            let started = Instant::now();
            let outcome = rt.block_on(sender.send(rec.body.clone()));
            stats.sends.fetch_add(1, Ordering::Relaxed);
            stats
                .send_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let too_old = cfg.spool.max_age.0.as_millis() as i64 <= now_ms() - rec.created_ms;
            match outcome {
                Outcome::Done { status, rejected } => {
                    stats.last_status.store(status as u64, Ordering::Relaxed);
                    stats.sent_batches.fetch_add(1, Ordering::Relaxed);
                    stats.sent_items.fetch_add(rec.items, Ordering::Relaxed);
                    stats
                        .sent_bytes
                        .fetch_add(rec.body.len() as u64, Ordering::Relaxed);
                    stats.rejected_items.fetch_add(rejected, Ordering::Relaxed);
                    stats
                        .last_success_ms
                        .store(now_ms() as u64, Ordering::Relaxed);
                    let since = stats.failing_since_ms.swap(0, Ordering::Relaxed);
                    if since != 0 && warned {
                        tracing::info!(sink = %name, failed_for_s = (now_ms() - since as i64) / 1000, "sink recovered");
                    }
                    warned = false;
                    ack(&spool, pos, &name);
                    break;
                }
                Outcome::Retry {
                    status,
                    counts,
                    after,
                    why,
                } => {
                    stats.last_status.store(status as u64, Ordering::Relaxed);
                    if counts {
                        counted += 1;
                    }
                    let since = match stats.failing_since_ms.load(Ordering::Relaxed) {
                        0 => {
                            stats
                                .failing_since_ms
                                .store(now_ms() as u64, Ordering::Relaxed);
                            now_ms()
                        }
                        s => s as i64,
                    };
                    if counted >= cfg.retry.max_attempts || too_old {
                        let reason = if too_old {
                            "older than spool.max_age"
                        } else {
                            "attempt limit"
                        };
                        set_aside(&rejected_dir, &rec, status, &why, &stats, &name, reason);
                        ack(&spool, pos, &name);
                        break;
                    }
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    // One warning per failure episode, after it has lasted a while; retries are debug.
                    if !warned && now_ms() - since >= 30_000 {
                        warned = true;
                        tracing::warn!(sink = %name, error = %why, failing_for_s = (now_ms() - since) / 1000, "sink failing; batches wait in the spool");
                    } else {
                        tracing::debug!(sink = %name, attempt, error = %why, "send failed; will retry");
                    }
                    let wait = super::retry::backoff(
                        attempt,
                        cfg.retry.initial_backoff.0,
                        cfg.retry.max_backoff.0,
                        after,
                    );
                    if pause(&stop, &wake, wait, false) {
                        return;
                    }
                }
                Outcome::Refused { status, why } => {
                    stats.last_status.store(status as u64, Ordering::Relaxed);
                    set_aside(&rejected_dir, &rec, status, &why, &stats, &name, "refused");
                    ack(&spool, pos, &name);
                    break;
                }
            }
        }
    }
}

fn ack(spool: &Mutex<Spool>, pos: Pos, name: &str) {
    if let Err(e) = spool.lock().unwrap_or_else(|p| p.into_inner()).ack(pos) {
        tracing::warn!(sink = name, error = %e, "cannot record a delivered batch; it may be sent again");
    }
}

/// Keeps a refused batch for inspection (bounded), counts it and logs it with the answer's excerpt.
fn set_aside(
    dir: &Path,
    rec: &Record,
    status: u16,
    why: &str,
    stats: &SinkStats,
    name: &str,
    reason: &str,
) {
    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
    stats.failed_items.fetch_add(rec.items, Ordering::Relaxed);
    stats
        .failed_bytes
        .fetch_add(rec.body.len() as u64, Ordering::Relaxed);
    tracing::warn!(sink = name, status, reason, answer = %why, items = rec.items, "batch set aside, not retried");
    let _ = std::fs::create_dir_all(dir);
    let base: PathBuf = dir.join(format!("{}-{status}", rec.created_ms));
    let _ = std::fs::write(base.with_extension("body"), &rec.body);
    let _ = std::fs::write(base.with_extension("txt"), format!("{reason}\n{why}\n"));
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut bodies: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "body"))
            .collect();
        bodies.sort();
        while bodies.len() > REJECTED_KEEP {
            let p = bodies.remove(0);
            let _ = std::fs::remove_file(&p);
            let _ = std::fs::remove_file(p.with_extension("txt"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Collection, MetricSet};

    fn metrics(ts: i64) -> Metrics {
        let mut m = MetricSet::new(ts);
        m.gauge("node_load1", "load").set(1.0);
        Metrics {
            collection: Arc::new(Collection {
                timestamp_ms: ts,
                ..Default::default()
            }),
            metrics: Arc::new(m),
        }
    }

    fn doc(ts: i64) -> Arc<Document> {
        Arc::new(Document {
            kind: "event".into(),
            timestamp_ms: ts,
            labels: Default::default(),
            body: serde_json::json!({"text": "x".repeat(200)}),
        })
    }

    #[test]
    fn an_oversized_batch_is_split_until_each_body_fits_or_holds_one_item() {
        let cfg: SinkConfig =
            toml::from_str("type = \"http_json\"\nurl = \"http://x\"\ngzip = false").unwrap();
        let backend = sinks::backend(&cfg);
        let mut max_bytes = 1;
        let o = Origin::default();
        // One collection and one document: two bodies (a split that left one side empty would never end).
        let b = Batch {
            metrics: vec![metrics(1)],
            documents: vec![doc(2)],
        };
        let mut out = Vec::new();
        encode_bounded(&*backend, max_bytes, b, &o, &mut out);
        assert_eq!(out.len(), 2);
        // Ten collections and three documents: every item alone, in order.
        let b = Batch {
            metrics: (0..10).map(metrics).collect(),
            documents: (10..13).map(doc).collect(),
        };
        let mut out = Vec::new();
        encode_bounded(&*backend, max_bytes, b, &o, &mut out);
        let firsts: Vec<i64> = out.iter().map(|e| e.min_ts_ms).collect();
        assert_eq!(firsts, (0..13).collect::<Vec<_>>());
        // Under the limit: one body.
        max_bytes = 1 << 20;
        let b = Batch {
            metrics: (0..10).map(metrics).collect(),
            documents: (10..13).map(doc).collect(),
        };
        let mut out = Vec::new();
        encode_bounded(&*backend, max_bytes, b, &o, &mut out);
        assert_eq!(out.len(), 1);
    }
}

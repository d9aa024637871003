//! One sink at work. A network sink is write-ahead: `offer` encodes each collection or document on the caller's
//! thread (the collection loop) and appends it to the sink's spool before returning, so a `kill -9` loses at
//! most the collection being taken; a sender thread reads the spool (oldest first, one request in flight,
//! retries) and acknowledges what the backend accepted. Appending is local disk only, never the network.
//! The file sink keeps its queue and writer thread: the file is itself the local record.

use super::answer::Outcome;
use super::config::{SinkConfig, SinkKind};
use super::deliver::Sender;
use super::encode::{Batch, Encoded, Metrics, Origin};
use super::sinks::{self, Backend, file::RotatingFile};
use super::spool::{Pos, Record, Spool, SpoolStats};
use super::stats::SinkStats;
use crate::model::Document;
use crate::util::episode::Episode;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
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
    wal: Option<Wal>,
    pub stats: Arc<SinkStats>,
    pub spool_stats: Option<Arc<SpoolStats>>,
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<bool>, Condvar)>,
    writer: Option<JoinHandle<()>>,
    sender: Option<JoinHandle<()>>,
}

/// The write-ahead side of a network sink: what `offer` needs to encode and append on the caller's thread.
struct Wal {
    spool: Arc<Mutex<Spool>>,
    wake: Arc<(Mutex<bool>, Condvar)>,
    max_bytes: u64,
    origin: Origin,
    writer: String,
    episode: Episode,
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
        let backend = sinks::backend(cfg);
        if cfg.kind == SinkKind::File {
            let (tx, rx) = sync_channel::<Entry>(cfg.queue);
            let path = cfg
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("wasp.jsonl"));
            let out = RotatingFile::open(path, cfg.rotate_bytes.0, cfg.keep)?;
            let (c, b, s) = (cfg.clone(), backend.clone(), stats.clone());
            let writer = std::thread::Builder::new()
                .name(format!("wasp-sink-{name}"))
                .spawn(move || file_writer(rx, c, b, origin, s, out))?;
            return Ok(Sink {
                name: name.to_string(),
                kind: cfg.kind,
                backend,
                tx: Some(tx),
                wal: None,
                stats,
                spool_stats: None,
                stop,
                wake,
                writer: Some(writer),
                sender: None,
            });
        }
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
        let spool_stats = Some(spool.stats());
        let sender = Sender::new(cfg, backend.clone())?;
        let spool = Arc::new(Mutex::new(spool));
        let (c, s, st, w, n, sp) = (
            cfg.clone(),
            stats.clone(),
            stop.clone(),
            wake.clone(),
            name.to_string(),
            spool.clone(),
        );
        let sender = std::thread::Builder::new()
            .name(format!("wasp-send-{name}"))
            .spawn(move || sender_loop(n, c, sender, sp, s, st, w))?;
        Ok(Sink {
            name: name.to_string(),
            kind: cfg.kind,
            backend,
            tx: None,
            wal: Some(Wal {
                spool,
                wake: wake.clone(),
                max_bytes: cfg.batch.max_bytes.0,
                origin,
                writer: format!("spool {name}"),
                episode: Episode::default(),
            }),
            stats,
            spool_stats,
            stop,
            wake,
            writer: None,
            sender: Some(sender),
        })
    }

    /// A network sink: appended to the spool now (write-ahead; local disk, never the network). The file sink:
    /// queued without blocking; a full queue drops the entry, counts it and logs it.
    pub fn offer(&self, e: Entry) {
        if let Some(w) = &self.wal {
            self.write_ahead(w, e);
            return;
        }
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

    /// Encodes one collection or document and appends it to the spool; the sender is woken. Local disk only:
    /// the caller never waits on the network. A failed append (full disk) is counted, and warned once per episode.
    fn write_ahead(&self, w: &Wal, e: Entry) {
        let mut b = Batch::default();
        match e {
            Entry::Metrics(m) => b.metrics.push(m),
            Entry::Document(d) => b.documents.push(d),
        }
        let mut encoded = Vec::new();
        encode_bounded(&*self.backend, w.max_bytes, b, &w.origin, &mut encoded);
        let mut spool = w.spool.lock().unwrap_or_else(|p| p.into_inner());
        for e in encoded {
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            if e.skipped > 0 {
                self.stats
                    .skipped_items
                    .fetch_add(e.skipped, Ordering::Relaxed);
            }
            let rec = Record {
                kind: self.kind as u8,
                items: e.items,
                min_ts_ms: e.min_ts_ms,
                max_ts_ms: e.max_ts_ms,
                created_ms: now_ms(),
                body: e.body,
            };
            match spool.append(&rec) {
                Ok(()) => {
                    w.episode.ok(&w.writer);
                }
                Err(err) => {
                    self.stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                    w.episode.failed(&w.writer, &err);
                }
            }
        }
        drop(spool);
        *w.wake.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        w.wake.1.notify_all();
    }

    /// Lets the file writer finish its queue, syncs the spool, gives the sender until `deadline` to finish what it
    /// has in flight, and stops. Whatever is unsent stays in the spool for the next start.
    pub fn shutdown(mut self, deadline: Instant) {
        self.tx.take();
        let wait = |t: JoinHandle<()>| {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let done = t.is_finished();
            if done {
                let _ = t.join();
            }
            done
        };
        if let Some(t) = self.writer.take() {
            wait(t);
        }
        if let Some(w) = &self.wal
            && let Err(e) = w.spool.lock().unwrap_or_else(|p| p.into_inner()).sync()
        {
            tracing::warn!(sink = %self.name, error = %e, "cannot sync the spool at shutdown");
        }
        self.stop.store(true, Ordering::Relaxed);
        self.wake.1.notify_all();
        if let Some(t) = self.sender.take()
            && !wait(t)
        {
            tracing::info!(sink = %self.name, "sender still busy at shutdown; its batch stays spooled");
        }
    }
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

/// The file sink's writer: each item is written as it comes (the file is the local record, local disk is
/// cheap). A write that fails (full disk) is counted, and warned once per episode.
fn file_writer(
    rx: Receiver<Entry>,
    cfg: SinkConfig,
    backend: Arc<dyn Backend>,
    origin: Origin,
    stats: Arc<SinkStats>,
    mut out: RotatingFile,
) {
    let episode = Episode::default();
    let writer = format!("file {}", out.path().display());
    while let Ok(e) = rx.recv() {
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        let mut b = Batch::default();
        match e {
            Entry::Metrics(m) if backend.takes_metrics() => b.metrics.push(m),
            Entry::Document(d) if backend.takes_documents() => b.documents.push(d),
            _ => continue,
        }
        let mut encoded = Vec::new();
        encode_bounded(&*backend, cfg.batch.max_bytes.0, b, &origin, &mut encoded);
        for e in encoded {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            if e.skipped > 0 {
                stats.skipped_items.fetch_add(e.skipped, Ordering::Relaxed);
            }
            match out.write_all(&e.body) {
                Err(err) => {
                    stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                    episode.failed(&writer, &err);
                }
                Ok(()) => {
                    episode.ok(&writer);
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
    let delay = cfg.batch.max_delay.0.as_millis() as i64;
    // Records still to go one per request: those of a joined batch the backend refused, so that one bad record
    // (a sample Prometheus already holds newer ones of, after a resend) takes no good one with it.
    let mut alone = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let most = if alone > 0 { 1 } else { MAX_RECORDS };
        let next = spool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .peek_batch(most, cfg.batch.max_bytes.0);
        let mut batch = match next {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                pause(&stop, &wake, Duration::from_secs(1), true);
                continue;
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "cannot read the spool");
                pause(&stop, &wake, Duration::from_secs(1), false);
                continue;
            }
        };
        // Up to max_samples (at least one record); until the oldest has waited max_delay, more may come.
        let mut samples = 0u64;
        let keep = batch
            .iter()
            .take_while(|(_, r)| {
                samples += r.items;
                samples <= cfg.batch.max_samples as u64
            })
            .count()
            .max(1);
        let full = keep < batch.len() || batch.len() == most;
        batch.truncate(keep);
        let due = batch[0].1.created_ms + delay;
        if !full && now_ms() < due {
            if pause(
                &stop,
                &wake,
                Duration::from_millis((due - now_ms()) as u64),
                false,
            ) {
                return;
            }
            continue;
        }
        let j = joined(sender.backend(), batch, &name);
        let (first, records) = (j.first, j.members.len() as u64);
        let rec = &j.rec;
        alone = alone.saturating_sub(records);
        let mut counted = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1
                && !spool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .still_owed(first)
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
                    settle(&spool, &j, &name, true);
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
                        set_aside(&rejected_dir, rec, status, &why, &stats, &name, reason);
                        settle(&spool, &j, &name, false);
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
                    if records > 1 {
                        tracing::debug!(sink = %name, records, answer = %why, "a batch joined from disk was refused; its records go again one by one");
                        alone = records;
                        break;
                    }
                    set_aside(&rejected_dir, rec, status, &why, &stats, &name, "refused");
                    settle(&spool, &j, &name, false);
                    break;
                }
            }
        }
    }
}

/// The most records one request takes from the spool (max_bytes and max_samples bound it first, normally).
const MAX_RECORDS: usize = 512;

/// Spooled records as one request. Bodies that do not join (not what we wrote: the disk changed under us) go
/// out one by one instead.
fn joined(backend: &dyn Backend, mut batch: Vec<(Pos, Record)>, name: &str) -> Joined {
    let member = |(p, r): &(Pos, Record)| (*p, r.items, r.body.len() as u64);
    if batch.len() > 1 {
        let bodies: Vec<&[u8]> = batch.iter().map(|(_, r)| r.body.as_slice()).collect();
        match backend.join(&bodies) {
            Ok(body) => {
                let rec = Record {
                    kind: batch[0].1.kind,
                    items: batch.iter().map(|(_, r)| r.items).sum(),
                    min_ts_ms: batch.iter().map(|(_, r)| r.min_ts_ms).min().unwrap_or(0),
                    max_ts_ms: batch.iter().map(|(_, r)| r.max_ts_ms).max().unwrap_or(0),
                    created_ms: batch[0].1.created_ms,
                    body,
                };
                return Joined {
                    first: batch[0].0,
                    last: batch[batch.len() - 1].0,
                    members: batch.iter().map(member).collect(),
                    rec,
                };
            }
            Err(e) => {
                tracing::warn!(sink = name, error = %e, "spooled batches do not join; sending the oldest alone");
            }
        }
    }
    let one = batch.swap_remove(0);
    Joined {
        first: one.0,
        last: one.0,
        members: vec![member(&one)],
        rec: one.1,
    }
}

/// Spooled records as one request.
struct Joined {
    /// The position after the first record: still owed while the request is retried?
    first: Pos,
    /// The position after the last: acknowledged once the request is delivered.
    last: Pos,
    /// Each record's position after it, items and bytes.
    members: Vec<(Pos, u64, u64)>,
    rec: Record,
}

/// A request done with (delivered, or set aside): its records acknowledged. Those the full spool let go while
/// it was in flight are already off the spool's count; if delivered, they are taken off the drop counters too
/// (delivered, not lost).
fn settle(spool: &Mutex<Spool>, j: &Joined, name: &str, delivered: bool) {
    let mut sp = spool.lock().unwrap_or_else(|p| p.into_inner());
    let gone: Vec<&(Pos, u64, u64)> = j
        .members
        .iter()
        .filter(|(p, _, _)| !sp.still_owed(*p))
        .collect();
    if delivered && !gone.is_empty() {
        sp.delivered_after_drop(
            gone.len() as u64,
            gone.iter().map(|g| g.1).sum(),
            gone.iter().map(|g| g.2).sum(),
        );
    }
    let records = (j.members.len() - gone.len()) as u64;
    if let Err(e) = sp.ack(j.last, records) {
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

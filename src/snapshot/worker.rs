//! The snapshot worker: takes thread dumps, histograms and incident bundles off the signal handler, the control
//! socket and the collection loop. `Snapshots::submit` (and `request`, which only logs the outcome) never
//! blocks: it checks the hourly budget and puts the request in a bounded channel (a full queue or a spent
//! budget refuses, counted and logged, and the caller is told why); dumps of one JVM never overlap (one worker,
//! and attach serialises per pid). Each request's outcome is kept in a short ring of recent triggers for
//! `wasp status`. A rule asks with
//! `snapshots.submit(Request::new(Kind::Bundle, Select::All, Reason::Rule(name)).with_context(lines))`.

use super::SnapshotConfig;
use super::blocked::BlockedThreads;
use super::bundle::{self, Written};
use super::documents::{self, Publish};
use super::request::{Kind, Request};
use crate::host::Roots;
use crate::jvm::JvmConfig;
use crate::model::Latest;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests waiting for the worker; more are refused.
const QUEUE: usize = 4;
/// Recent triggers kept for `wasp status`.
const RECENT: usize = 32;
/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum Refusal {
    /// The hourly budget is spent; `retry_in_s` until the oldest request leaves the hour.
    Budget {
        per_hour: u32,
        retry_in_s: u64,
    },
    QueueFull {
        capacity: usize,
    },
    /// The worker is gone (the agent is stopping).
    Stopped,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Budget {
                per_hour,
                retry_in_s,
            } => write!(
                f,
                "the snapshot budget ({per_hour} per hour) is used up; the next is possible in {retry_in_s} s"
            ),
            Refusal::QueueFull { capacity } => write!(
                f,
                "{capacity} snapshots are already waiting; try again when they are done"
            ),
            Refusal::Stopped => write!(f, "the snapshot worker has stopped"),
        }
    }
}

/// The state of one request, as `wasp status` and `wasp trigger` report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    Done {
        id: String,
        path: PathBuf,
        took_ms: u64,
        jvms: Vec<String>,
        /// JVMs that were selected but could not be read (attach refused, gone...), with why.
        errors: Vec<String>,
    },
    Failed {
        error: String,
    },
    Refused {
        why: String,
    },
}

/// How a request was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Queued under this sequence number.
    Queued(u64),
    /// Answered by the earlier request `into` (same kind and JVMs, queued, running or within `min_gap`).
    Coalesced { seq: u64, into: u64 },
}

impl Accepted {
    /// The request whose record tells the outcome.
    pub fn outcome_seq(self) -> u64 {
        match self {
            Accepted::Queued(s) | Accepted::Coalesced { into: s, .. } => s,
        }
    }
}

/// The latest accepted request per (kind, JVM selection): its sequence number and, once finished, when.
type Open = HashMap<(Kind, String), (u64, Option<Instant>)>;

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Sequence number of the request in this agent's life.
    pub seq: u64,
    pub kind: Kind,
    pub select: String,
    pub reason: String,
    pub at_ms: i64,
    #[serde(flatten)]
    pub state: State,
    /// Equal requests this one answered (queued, running or within `min_gap`): a storm is one line.
    pub coalesced: u64,
}

#[derive(Default, Debug)]
pub struct Counters {
    pub taken: AtomicU64,
    pub refused_budget: AtomicU64,
    pub refused_queue: AtomicU64,
    /// Requests answered by an equal one queued, running or just taken (a storm).
    pub coalesced: AtomicU64,
    pub failed: AtomicU64,
    /// Documents handed to the shipper, and those cut to fit their size bound.
    pub documents: AtomicU64,
    pub documents_truncated: AtomicU64,
}

impl Counters {
    pub fn add_metrics(&self, m: &mut crate::model::MetricSet) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        m.counter(
            "wasp_snapshots_taken_total",
            "Thread dumps, histograms and bundles written.",
        )
        .set(get(&self.taken));
        m.counter(
            "wasp_snapshots_failed_total",
            "Snapshots that could not be written (no JVM selected, disk full...).",
        )
        .set(get(&self.failed));
        m.counter(
            "wasp_snapshots_refused_total",
            "Snapshot requests refused, by why: the hourly budget or a full queue.",
        )
        .push([("reason", "budget")], get(&self.refused_budget))
        .push([("reason", "queue")], get(&self.refused_queue));
        m.counter(
            "wasp_snapshots_coalesced_total",
            "Snapshot requests answered by an equal one queued, running or taken within [snapshots] min_gap.",
        )
        .set(get(&self.coalesced));
        m.counter(
            "wasp_snapshots_documents_total",
            "Snapshot summaries (thread_dump, class_histogram, incident) handed to the document sinks.",
        )
        .set(get(&self.documents));
        m.counter(
            "wasp_snapshots_documents_truncated_total",
            "Snapshot summaries cut to stay within their size bound (64 KiB).",
        )
        .set(get(&self.documents_truncated));
    }
}

struct Queued {
    seq: u64,
    req: Request,
}

/// The handle the daemon, the control socket and the rules hold. Cheap to clone.
#[derive(Clone)]
pub struct Snapshots {
    tx: SyncSender<Queued>,
    pub counters: Arc<Counters>,
    recent: Arc<Mutex<VecDeque<Record>>>,
    budget: Arc<Mutex<VecDeque<Instant>>>,
    per_hour: u32,
    min_gap: Duration,
    open: Arc<Mutex<Open>>,
    seq: Arc<AtomicU64>,
    pub dir: PathBuf,
}

impl Snapshots {
    /// Starts the worker. `latest` is the daemon's newest collection, put in bundles as the host figures of the
    /// moment; `publish` gets the documents of each snapshot written (`documents`).
    pub fn start(
        cfg: SnapshotConfig,
        jvm: JvmConfig,
        roots: Roots,
        dir: PathBuf,
        latest: Latest,
        publish: Publish,
        blocked: BlockedThreads,
    ) -> std::io::Result<Snapshots> {
        let (tx, rx) = sync_channel(QUEUE);
        let s = Snapshots {
            tx,
            counters: Arc::new(Counters::default()),
            recent: Arc::new(Mutex::new(VecDeque::new())),
            budget: Arc::new(Mutex::new(VecDeque::new())),
            per_hour: cfg.budget_per_hour,
            min_gap: cfg.min_gap.0,
            open: Arc::default(),
            seq: Arc::new(AtomicU64::new(0)),
            dir: dir.clone(),
        };
        let w = Worker {
            cfg,
            jvm,
            roots,
            dir,
            latest,
            publish,
            blocked,
            counters: s.counters.clone(),
            recent: s.recent.clone(),
            open: s.open.clone(),
        };
        std::thread::Builder::new()
            .name("wasp-snapshot".into())
            .spawn(move || w.run(rx))?;
        Ok(s)
    }

    /// Never blocks: queues the request, coalesces it with an equal one, or refuses it (counted and logged).
    /// `submit` says which.
    pub fn request(&self, req: Request) {
        let _ = self.submit(req);
    }

    /// Never blocks (three short mutexes): coalesces the request with an equal one queued, running or taken
    /// within `min_gap`; else checks the budget and queues it. Returns how it was accepted (the sequence
    /// numbers for `record`) or why it was refused. Refusals and coalescing are counted and logged; neither uses
    /// the budget.
    pub fn submit(&self, req: Request) -> Result<Accepted, Refusal> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rec = Record {
            seq,
            kind: req.kind,
            select: req.select.to_string(),
            reason: req.reason.to_string(),
            at_ms: crate::util::clock::now_ms(),
            state: State::Queued,
            coalesced: 0,
        };
        let key = (req.kind, rec.select.clone());
        let mut open = lock(&self.open);
        if let Some(&(into, done)) = open.get(&key)
            && done.is_none_or(|t| t.elapsed() < self.min_gap)
        {
            drop(open);
            let n = self.counters.coalesced.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(seq, into, kind = req.kind.as_str(), select = %req.select, reason = %req.reason,
                coalesced_total = n, "snapshot request answered by an equal one");
            if let Some(r) = lock(&self.recent).iter_mut().find(|r| r.seq == into) {
                r.coalesced += 1;
            }
            return Ok(Accepted::Coalesced { seq, into });
        }
        let refusal = {
            let mut b = lock(&self.budget);
            while b
                .front()
                .is_some_and(|t| t.elapsed() >= Duration::from_secs(3600))
            {
                b.pop_front();
            }
            if b.len() as u32 >= self.per_hour {
                let retry = b
                    .front()
                    .map(|t| 3600u64.saturating_sub(t.elapsed().as_secs()))
                    .unwrap_or(3600);
                self.counters.refused_budget.fetch_add(1, Ordering::Relaxed);
                Some(Refusal::Budget {
                    per_hour: self.per_hour,
                    retry_in_s: retry,
                })
            } else {
                // Recorded before sending, so that the worker always finds it.
                self.push(rec.clone());
                match self.tx.try_send(Queued {
                    seq,
                    req: req.clone(),
                }) {
                    Ok(()) => {
                        b.push_back(Instant::now());
                        open.insert(key, (seq, None));
                        None
                    }
                    Err(TrySendError::Full(_)) => {
                        self.counters.refused_queue.fetch_add(1, Ordering::Relaxed);
                        Some(Refusal::QueueFull { capacity: QUEUE })
                    }
                    Err(TrySendError::Disconnected(_)) => Some(Refusal::Stopped),
                }
            }
        };
        drop(open);
        match refusal {
            None => {
                tracing::info!(seq, kind = req.kind.as_str(), select = %req.select, reason = %req.reason, "snapshot queued");
                Ok(Accepted::Queued(seq))
            }
            Some(r) => {
                tracing::warn!(seq, kind = req.kind.as_str(), select = %req.select, reason = %req.reason,
                    refused_budget = self.counters.refused_budget.load(Ordering::Relaxed),
                    refused_queue = self.counters.refused_queue.load(Ordering::Relaxed),
                    "snapshot refused: {r}");
                rec.state = State::Refused { why: r.to_string() };
                self.push(rec);
                Err(r)
            }
        }
    }

    fn push(&self, rec: Record) {
        let mut r = lock(&self.recent);
        if let Some(x) = r.iter_mut().find(|x| x.seq == rec.seq) {
            *x = rec;
            return;
        }
        if r.len() >= RECENT {
            r.pop_front();
        }
        r.push_back(rec);
    }

    /// The recent requests, oldest first.
    pub fn recent(&self) -> Vec<Record> {
        lock(&self.recent).iter().cloned().collect()
    }

    /// The record of one request, if still in the ring.
    pub fn record(&self, seq: u64) -> Option<Record> {
        lock(&self.recent).iter().find(|r| r.seq == seq).cloned()
    }

    pub fn budget_left(&self) -> u32 {
        let b = lock(&self.budget);
        let used = b
            .iter()
            .filter(|t| t.elapsed() < Duration::from_secs(3600))
            .count() as u32;
        self.per_hour.saturating_sub(used)
    }

    pub fn per_hour(&self) -> u32 {
        self.per_hour
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Worker {
    cfg: SnapshotConfig,
    jvm: JvmConfig,
    roots: Roots,
    dir: PathBuf,
    latest: Latest,
    publish: Publish,
    blocked: BlockedThreads,
    counters: Arc<Counters>,
    recent: Arc<Mutex<VecDeque<Record>>>,
    open: Arc<Mutex<Open>>,
}

impl Worker {
    /// Hands the snapshot's documents on, each fitted to its bound (a cut is counted and logged).
    fn publish(&self, seq: u64, docs: Vec<crate::model::Document>) {
        for mut d in docs {
            if documents::fit(&mut d, documents::MAX_BYTES) {
                let n = self
                    .counters
                    .documents_truncated
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                tracing::warn!(seq, kind = %d.kind, cut = %d.body["truncated"], truncated_total = n,
                    "snapshot document over {} KiB; cut to fit", documents::MAX_BYTES >> 10);
            }
            (self.publish)(d);
            self.counters.documents.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn set(&self, seq: u64, state: State) {
        if let Some(r) = lock(&self.recent).iter_mut().find(|r| r.seq == seq) {
            r.state = state;
        }
    }

    fn run(self, rx: Receiver<Queued>) {
        for Queued { seq, req } in rx {
            self.set(seq, State::Running);
            let started = Instant::now();
            let job = bundle::Job {
                req: &req,
                cfg: &self.cfg,
                jvm: &self.jvm,
                roots: &self.roots,
                dir: &self.dir,
                latest: &self.latest,
                blocked: &self.blocked,
            };
            // A bug met in one snapshot must not end the worker and with it every later snapshot.
            let taken =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bundle::take(&job)))
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!(
                            "internal error (panic) while writing; see the log"
                        ))
                    });
            match taken {
                Ok(Written {
                    id,
                    path,
                    jvms,
                    errors,
                    documents,
                }) => {
                    self.counters.taken.fetch_add(1, Ordering::Relaxed);
                    self.publish(seq, documents);
                    tracing::info!(seq, kind = req.kind.as_str(), reason = %req.reason, path = %path.display(), took = ?started.elapsed(), "snapshot written");
                    self.set(
                        seq,
                        State::Done {
                            id,
                            path,
                            took_ms: started.elapsed().as_millis() as u64,
                            jvms,
                            errors,
                        },
                    );
                }
                Err(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    let error = format!("{e:#}");
                    tracing::warn!(seq, kind = req.kind.as_str(), reason = %req.reason, error = %error, "snapshot failed");
                    self.set(seq, State::Failed { error });
                }
            }
            // Equal requests from now until min_gap has passed are answered by this one.
            if let Some(o) = lock(&self.open).get_mut(&(req.kind, req.select.to_string()))
                && o.0 == seq
            {
                o.1 = Some(Instant::now());
            }
            let p = super::store::prune(&self.dir, self.cfg.keep, self.cfg.max_total_size.0);
            if p.removed > 0 {
                tracing::info!(
                    removed = p.removed,
                    freed_bytes = p.freed,
                    kept = p.kept,
                    "old snapshots pruned"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::request::Select;

    #[test]
    fn budget_and_queue_refuse_without_blocking() {
        // A worker that never runs: the channel's receiver is held by the test.
        let (tx, _rx) = sync_channel(QUEUE);
        let s = Snapshots {
            tx,
            counters: Arc::default(),
            recent: Arc::default(),
            budget: Arc::default(),
            per_hour: 6,
            min_gap: Duration::from_secs(5),
            open: Arc::default(),
            seq: Arc::default(),
            dir: PathBuf::new(),
        };
        // Different JVMs each time: equal requests would be coalesced (the next test).
        let dumps = |pid: u32| Request {
            select: Select::Pid(pid),
            ..Request::Dumps
        };
        let outcomes: Vec<_> = (0..8).map(|p| s.submit(dumps(p))).collect();
        assert!(outcomes[..QUEUE].iter().all(|o| o.is_ok()), "{outcomes:?}");
        assert_eq!(outcomes[QUEUE], Err(Refusal::QueueFull { capacity: QUEUE }));
        // Refused by a full queue does not spend budget; drain and the budget (6) holds.
        assert_eq!(s.budget_left(), 2);
        assert_eq!(s.recent().len(), 8);
        assert!(matches!(s.record(5).unwrap().state, State::Refused { .. }));
        drop(_rx);
        let (tx, rx) = sync_channel(QUEUE);
        let s = Snapshots { tx, ..s };
        let bundle = |pid: u32| Request {
            select: Select::Pid(pid),
            ..Request::Bundle
        };
        assert!(s.submit(bundle(1)).is_ok());
        assert!(s.submit(bundle(2)).is_ok());
        assert!(matches!(
            s.submit(bundle(3)),
            Err(Refusal::Budget { per_hour: 6, .. })
        ));
        assert_eq!(s.counters.refused_budget.load(Ordering::Relaxed), 1);
        drop(rx);
    }

    #[test]
    fn a_storm_is_answered_by_one_snapshot_and_spends_no_budget() {
        let (tx, rx) = sync_channel(QUEUE);
        let s = Snapshots {
            tx,
            counters: Arc::default(),
            recent: Arc::default(),
            budget: Arc::default(),
            per_hour: 20,
            min_gap: Duration::from_millis(300),
            open: Arc::default(),
            seq: Arc::default(),
            dir: PathBuf::new(),
        };
        let first = s.submit(Request::Dumps).unwrap();
        assert_eq!(first, Accepted::Queued(1));
        for i in 2..=50 {
            assert_eq!(
                s.submit(Request::Dumps).unwrap(),
                Accepted::Coalesced { seq: i, into: 1 }
            );
        }
        // Another kind, or other JVMs, is its own request.
        assert!(matches!(s.submit(Request::Bundle), Ok(Accepted::Queued(_))));
        assert_eq!(s.budget_left(), 18);
        assert_eq!(s.counters.coalesced.load(Ordering::Relaxed), 49);
        assert_eq!(s.record(1).unwrap().coalesced, 49);
        assert_eq!(s.recent().len(), 2, "a storm is one line of wasp status");
        // Taken: equal requests within min_gap are still answered by it; after it, a new one is queued.
        let _ = rx.recv().unwrap();
        lock(&s.open)
            .get_mut(&(Kind::Dump, Select::All.to_string()))
            .unwrap()
            .1 = Some(Instant::now());
        assert!(matches!(
            s.submit(Request::Dumps),
            Ok(Accepted::Coalesced { into: 1, .. })
        ));
        std::thread::sleep(Duration::from_millis(350));
        assert!(matches!(s.submit(Request::Dumps), Ok(Accepted::Queued(_))));
        assert_eq!(s.budget_left(), 17);
    }
}

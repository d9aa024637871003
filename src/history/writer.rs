//! The history thread: one more consumer of the collection hand-off. The collection loop only offers each
//! collection's samples to a bounded queue (`try_send`); a full queue (a disk stalled for minutes) drops the
//! collection, counted and logged, and never makes the loop wait.

use super::store::{Limits, Store};
use crate::model::MetricSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

/// Collections waiting at most: a minute at the default interval.
pub const QUEUE: usize = 12;

#[derive(Default)]
pub struct Counters {
    pub stored: AtomicU64,
    pub samples: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    /// Microseconds spent writing, in total.
    pub write_us: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    pub fn add_metrics(&self, m: &mut MetricSet) {
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        m.counter(
            "wasp_history_collections_total",
            "Collections written to the local history.",
        )
        .set(g(&self.stored));
        m.counter(
            "wasp_history_dropped_total",
            "Collections not written to the local history: its queue was full or the write failed.",
        )
        .set(g(&self.dropped) + g(&self.failed));
        m.counter(
            "wasp_history_write_seconds_total",
            "Time the history thread spent writing.",
        )
        .set(g(&self.write_us) / 1e6);
        m.gauge(
            "wasp_history_size_bytes",
            "Bytes the local history's database holds.",
        )
        .set(g(&self.bytes));
    }
}

/// The collection loop's end of the queue.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Arc<MetricSet>>,
    pub counters: Arc<Counters>,
}

impl Writer {
    /// Opens the store and starts the thread; an unusable store is an error for the caller to log (the agent
    /// runs on without history rather than not at all).
    pub fn start(path: &Path, limits: Limits) -> anyhow::Result<Writer> {
        let store = Store::open(path, limits)?;
        let (tx, rx) = sync_channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        std::thread::Builder::new()
            .name("wasp-history".into())
            .spawn(move || run(store, &rx, &c))?;
        Ok(Writer { tx, counters })
    }

    /// Offers one collection; never blocks.
    pub fn submit(&self, m: Arc<MetricSet>) {
        match self.tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.counters.dropped.fetch_add(1, Relaxed) + 1;
                // First and every 100th: a stalled disk must not flood the log.
                if n == 1 || n.is_multiple_of(100) {
                    tracing::warn!(
                        dropped = n,
                        "history queue full (its disk is slow?): collection not kept in the history"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.failed.fetch_add(1, Relaxed);
            }
        }
    }
}

fn run(mut store: Store, rx: &Receiver<Arc<MetricSet>>, c: &Counters) {
    let mut last_error: Option<Instant> = None;
    while let Ok(m) = rx.recv() {
        let t = Instant::now();
        match store.append(&m) {
            Ok(a) if a.out_of_order => {
                tracing::debug!(
                    ts = m.timestamp_ms,
                    "collection not after the last one stored (clock stepped back): not kept in the history"
                );
                c.dropped.fetch_add(1, Relaxed);
            }
            Ok(a) => {
                c.stored.fetch_add(1, Relaxed);
                c.samples.fetch_add(a.samples as u64, Relaxed);
                if a.block_closed
                    && let Ok(b) = super::store::used_bytes(store.connection())
                {
                    c.bytes.store(b, Relaxed);
                }
            }
            Err(e) => {
                c.failed.fetch_add(1, Relaxed);
                // One line a minute at most while the disk keeps failing.
                if last_error.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                    last_error = Some(Instant::now());
                    tracing::warn!(error = %e, "cannot write the history");
                }
            }
        }
        c.write_us
            .fetch_add(t.elapsed().as_micros() as u64, Relaxed);
    }
}

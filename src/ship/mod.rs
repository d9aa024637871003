//! Shipping: collections and documents go to the configured sinks without ever blocking the collection loop.
//!
//! This first version has one sink, the rotated JSON-lines file under the data dir; batching, the on-disk spool
//! and the network sinks come with the shipping work.

pub mod encode;
pub mod file;

use crate::model::{Collection, Document, MetricSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the shipper is handed each interval.
pub enum Item {
    Collection {
        collection: Arc<Collection>,
        metrics: Arc<MetricSet>,
    },
    Document(Document),
}

/// How many items may wait for the writer before new ones are dropped (and counted).
const QUEUE: usize = 256;

pub struct Shipper {
    tx: Option<SyncSender<Item>>,
    worker: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl Shipper {
    /// Starts the writer thread for the JSON-lines file at `path`.
    pub fn start(path: PathBuf, max_bytes: u64, keep: usize) -> anyhow::Result<Shipper> {
        let mut out = file::RotatingFile::open(path, max_bytes, keep)?;
        let (tx, rx) = sync_channel::<Item>(QUEUE);
        let worker = std::thread::Builder::new()
            .name("wasp-ship".into())
            .spawn(move || {
                for item in rx {
                    let line = match &item {
                        Item::Collection { collection, .. } => serde_json::to_string(&**collection),
                        Item::Document(d) => serde_json::to_string(d),
                    };
                    match line {
                        Ok(l) => {
                            if let Err(e) = out.write_line(&l) {
                                tracing::warn!(error = %e, path = %out.path().display(), "cannot write the JSON-lines output");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot encode a collection as JSON"),
                    }
                }
                if let Err(e) = out.flush() {
                    tracing::warn!(error = %e, "cannot flush the JSON-lines output");
                }
            })?;
        Ok(Shipper {
            tx: Some(tx),
            worker: Some(worker),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Hands an item to the writer; never blocks. A full queue drops the item, counts it and logs it.
    pub fn submit(&self, item: Item) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(dropped_total = n, "shipping queue full; item dropped");
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops accepting items and waits up to `deadline` for the writer to flush what it holds.
    pub fn shutdown(mut self, deadline: Duration) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let start = std::time::Instant::now();
            while !w.is_finished() && start.elapsed() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if w.is_finished() {
                let _ = w.join();
            } else {
                tracing::warn!("shipper did not finish within {deadline:?}; leaving it");
            }
        }
    }
}

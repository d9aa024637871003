//! Shipping: collections and documents go to every configured sink without ever blocking the collection loop.
//!
//! Each sink (`[sinks.NAME]`) has its own bounded queue, batcher, on-disk spool and sender (`sink`), so a dead
//! backend never holds up a live one; `encode` makes the request bodies, `spool` keeps them until the backend
//! accepted them, `deliver` sends them and reads the answers, `stats` counts it all.

pub mod config;
pub mod deliver;
pub mod encode;
pub(crate) mod http;
pub(crate) mod retry;
pub mod sink;
pub mod sinks;
pub mod spool;
pub mod stats;

use crate::model::{Collection, Document, MetricSet};
use anyhow::Context;
use config::{SinkConfig, Sinks};
use sink::{Entry, Sink};
use stats::{SinkFigures, SinkStatus};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the shipper is handed.
pub enum Item {
    Collection {
        collection: Arc<Collection>,
        metrics: Arc<MetricSet>,
    },
    Document(Document),
}

pub struct Shipper {
    sinks: Vec<Sink>,
}

/// Reads the sinks' figures without the shipper (which the collection loop owns).
#[derive(Clone)]
pub struct ShippingStatus(Vec<SinkFigures>);

impl ShippingStatus {
    pub fn status(&self) -> Vec<SinkStatus> {
        let now = crate::util::clock::now_ms();
        self.0.iter().map(|f| f.status(now)).collect()
    }
}

impl Shipper {
    /// Starts every configured sink (the JSON-lines file when none is configured). A sink that cannot start
    /// (its spool is locked, a secret file is missing...) is an error naming it.
    pub fn start(
        sinks: &Sinks,
        data_dir: &Path,
        origin: encode::Origin,
    ) -> anyhow::Result<Shipper> {
        let mut started = Vec::new();
        let default;
        let list: Vec<(&str, &SinkConfig)> = if sinks.0.is_empty() {
            default = SinkConfig::default_file();
            vec![("file", &default)]
        } else {
            sinks.0.iter().map(|(k, v)| (k.as_str(), v)).collect()
        };
        for (name, cfg) in list {
            started.push(
                Sink::start(name, cfg, data_dir, origin.clone())
                    .with_context(|| format!("sink {name}"))?,
            );
        }
        Ok(Shipper { sinks: started })
    }

    /// Hands an item to every sink that takes it; never blocks.
    pub fn submit(&self, item: Item) {
        let e = match item {
            Item::Collection {
                collection,
                metrics,
            } => Entry::Metrics(encode::Metrics {
                collection,
                metrics,
            }),
            Item::Document(d) => Entry::Document(Arc::new(d)),
        };
        for s in &self.sinks {
            let wanted = match &e {
                Entry::Metrics(_) => s.backend.takes_metrics(),
                Entry::Document(_) => s.backend.takes_documents(),
            };
            if wanted {
                s.offer(e.clone());
            }
        }
    }

    fn figures(&self) -> impl Iterator<Item = SinkFigures> + '_ {
        self.sinks.iter().map(|s| SinkFigures {
            name: s.name.clone(),
            kind: s.kind.as_str(),
            stats: s.stats.clone(),
            spool: s.spool_stats.clone(),
        })
    }

    /// Adds every sink's `wasp_sink_*` / `wasp_spool_*` samples.
    pub fn add_metrics(&self, m: &mut MetricSet) {
        let now = crate::util::clock::now_ms();
        for f in self.figures() {
            f.add_metrics(m, now);
        }
    }

    /// Every sink's figures for `wasp status`.
    pub fn status(&self) -> Vec<SinkStatus> {
        self.status_handle().status()
    }

    /// A handle that reads every sink's figures from anywhere (the control socket), lock-free.
    pub fn status_handle(&self) -> ShippingStatus {
        ShippingStatus(self.figures().collect())
    }

    /// Items dropped because a sink's queue was full (all sinks).
    pub fn dropped(&self) -> u64 {
        self.sinks
            .iter()
            .map(|s| {
                s.stats
                    .dropped_queue_items
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Stops every sink within `deadline` overall: open batches go to the spools, in-flight sends get the rest.
    pub fn shutdown(self, deadline: Duration) {
        let end = Instant::now() + deadline;
        for s in self.sinks {
            s.shutdown(end);
        }
    }
}

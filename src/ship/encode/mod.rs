//! Encoders: turn a batch of collections and documents into the exact request body one sink sends.
//!
//! The body is encoded once, when the batch is cut, and the spool keeps those bytes: a replay after a crash or an
//! outage resends byte-identical requests, which is what makes the duplicates of at-least-once delivery harmless
//! on Prometheus, InfluxDB and Elasticsearch (`create` with a deterministic `_id`).

use crate::model::{Collection, Document, MetricSet};
use std::sync::Arc;

/// One collection as the sinks see it: the model (for JSON) and its metric samples (for the metric sinks).
#[derive(Clone)]
pub struct Metrics {
    pub collection: Arc<Collection>,
    pub metrics: Arc<MetricSet>,
}

/// What a batch holds, in arrival (= time) order.
#[derive(Clone, Default)]
pub struct Batch {
    pub metrics: Vec<Metrics>,
    pub documents: Vec<Arc<Document>>,
}

/// Who the data is from: added to every series or document by the encoders.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The host name (`instance` for remote write, `host` for Influx, `host.name` for OTLP and documents).
    pub hostname: String,
    /// The agent's `[agent] labels`, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Host boot time, the start of every cumulative host counter (OTLP `start_time_unix_nano`).
    pub boot_time_ms: i64,
}

/// An encoded request body and what it carries (kept in the spool record's header).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoded {
    /// Exactly the bytes to POST (compression already applied).
    pub body: Vec<u8>,
    /// Samples (metric sinks) or documents (document sinks) in the body.
    pub items: u64,
    /// Oldest and newest timestamp in the body, in ms.
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.documents.is_empty()
    }
}

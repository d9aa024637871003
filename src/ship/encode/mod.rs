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
    /// Samples the body leaves out because the format cannot carry them (NaN and ±Inf in line protocol) or
    /// because they repeat a series' timestamp; the sink counts and logs them.
    pub skipped: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.documents.is_empty()
    }
}

pub mod es;
pub mod influx;
pub mod jsonl;
pub mod otlp;
pub mod prw;

use std::borrow::Cow;

/// gzip of a whole body. The header carries no time or name, so the same input always gives the same bytes.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

/// A label name as Prometheus allows it (`[a-zA-Z_][a-zA-Z0-9_]*`): other characters become `_`, a leading
/// digit gets a `_` in front. Borrowed when the name is already valid (always, for wasp's own names).
pub fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    sanitize(name, false)
}

/// A metric name as Prometheus allows it (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, true)
}

fn sanitize(name: &str, colon: bool) -> Cow<'_, str> {
    let ok = |i: usize, c: char| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (i > 0 && c.is_ascii_digit())
    };
    if !name.is_empty() && name.chars().enumerate().all(|(i, c)| ok(i, c)) {
        return Cow::Borrowed(name);
    }
    let mut s = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        s.push('_');
    }
    for c in name.chars() {
        s.push(if ok(1, c) { c } else { '_' });
    }
    if s.is_empty() {
        s.push('_');
    }
    Cow::Owned(s)
}

/// The label set of one series: `base` (the sink's own labels, then the origin's), overridden by the sample's
/// labels of the same name. Names sanitised, sorted and unique (the last one given wins); empty names and empty
/// values dropped.
pub fn merge_labels<'a>(
    base: &'a [(String, String)],
    sample: &'a [(crate::model::metric::Str, crate::model::metric::Str)],
) -> Vec<(Cow<'a, str>, &'a str)> {
    let mut v: Vec<(Cow<'a, str>, &'a str)> = Vec::with_capacity(base.len() + sample.len());
    let all = base
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(sample.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    for (k, val) in all {
        if k.is_empty() {
            continue;
        }
        v.push((sanitize_label_name(k), val));
    }
    // Stable: among equal names the order given is kept, so keeping the last of each run is "sample wins".
    v.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Cow<'a, str>, &'a str)> = Vec::with_capacity(v.len());
    for item in v {
        match out.last_mut() {
            Some(last) if last.0 == item.0 => *last = item,
            _ => out.push(item),
        }
    }
    out.retain(|(_, val)| !val.is_empty());
    out
}

/// The oldest and newest collection time of a batch's metrics, or (0, 0) when it has none.
pub(crate) fn metrics_range(batch: &Batch) -> (i64, i64) {
    let mut r: Option<(i64, i64)> = None;
    for m in &batch.metrics {
        let t = m.metrics.timestamp_ms;
        r = Some(match r {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }
    r.unwrap_or((0, 0))
}

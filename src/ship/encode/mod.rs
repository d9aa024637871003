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

pub mod jsonl;

use std::borrow::Cow;

/// gzip of a whole body. The header carries no time or name, so the same input always gives the same bytes.
/// Level 1: about a third of the CPU of the default level 6 for bodies 20-50% larger (docs/shipping.md);
/// the agent's core is scarcer than a few KB/s of network.
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

/// Bodies of several spooled batches as one: the formats that are a sequence of lines or of repeated protobuf
/// fields (a message's encoding concatenated with another's is the message with both lists) join end to end,
/// under one gzip stream when the sink gzips. Fails only on a body that is not what we wrote.
pub(crate) fn join(bodies: &[&[u8]], gzipped: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    for b in bodies {
        if gzipped {
            flate2::read::GzDecoder::new(*b).read_to_end(&mut raw)?;
        } else {
            raw.extend_from_slice(b);
        }
    }
    Ok(if gzipped { gzip(&raw) } else { raw })
}

/// A label name as Prometheus allows it (`[a-zA-Z_][a-zA-Z0-9_]*`): other characters become `_`, a leading
/// digit gets a `_` in front. Borrowed when the name is already valid (always, for wasp's own names).
pub(crate) fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    sanitize(name, false)
}

/// A metric name as Prometheus allows it (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub(crate) fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    sanitize(name, true)
}

fn sanitize(name: &str, colon: bool) -> Cow<'_, str> {
    let ok = |i: usize, c: u8| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (colon && c == b':')
            || (i > 0 && c.is_ascii_digit())
    };
    if !name.is_empty() && name.bytes().enumerate().all(|(i, c)| ok(i, c)) {
        return Cow::Borrowed(name);
    }
    let ok = |i: usize, c: char| c.is_ascii() && ok(i, c as u8);
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

/// The labels every series of a sink gets, names sanitised: `own` (e.g. `instance`, `job`), then the origin's.
pub(crate) fn base_labels(own: &[(&str, &str)], origin: &Origin) -> Vec<(String, String)> {
    own.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(origin.labels.iter().cloned())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (sanitize_label_name(&k).into_owned(), v))
        .collect()
}

/// The label set of one series: `base` (from [`base_labels`]), overridden by the sample's labels of the same name.
/// Names sanitised, sorted and unique (the last one given wins); empty names and empty values dropped.
pub(crate) fn merge_labels<'a>(
    base: &'a [(String, String)],
    sample: &'a [(crate::model::metric::Str, crate::model::metric::Str)],
) -> Vec<(Cow<'a, str>, &'a str)> {
    let mut v: Vec<(Cow<'a, str>, &'a str)> = Vec::with_capacity(base.len() + sample.len());
    v.extend(
        base.iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), v.as_str())),
    );
    for (k, val) in sample {
        if !k.is_empty() {
            v.push((sanitize_label_name(k), val.as_ref()));
        }
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

/// A merged label set with a histogram bucket's `le` put in its sorted place (it wins over a sample label `le`).
pub(crate) fn with_le<'a>(
    mut v: Vec<(Cow<'a, str>, &'a str)>,
    le: Option<&'a str>,
) -> Vec<(Cow<'a, str>, &'a str)> {
    if let Some(le) = le {
        match v.binary_search_by(|(k, _)| k.as_ref().cmp("le")) {
            Ok(i) => v[i].1 = le,
            Err(i) => v.insert(i, (Cow::Borrowed("le"), le)),
        }
    }
    v
}

/// A fast hasher for the encoders' own maps (keys are wasp's label sets, not attacker-chosen input).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ (rest.len() as u64) << 59);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // A final mix so that the low bits hashbrown uses depend on every input bit.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl FastHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// A sample's family name and labels as the collector gave them: the cheap key of a series within a batch.
pub(crate) type Given<'a> = (
    &'a str,
    &'a [(crate::model::metric::Str, crate::model::metric::Str)],
);

pub(crate) type FastMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metric::Str;

    #[test]
    fn names_are_sanitised_only_when_needed() {
        assert!(matches!(sanitize_label_name("node_cpu"), Cow::Borrowed(_)));
        assert_eq!(sanitize_label_name("bad-name.x"), "bad_name_x");
        assert_eq!(sanitize_label_name("1st"), "_1st");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_metric_name("a:b"), "a:b");
        assert_eq!(sanitize_label_name("é"), "_");
        assert_eq!(sanitize_label_name(""), "_");
    }

    #[test]
    fn sample_labels_override_and_empty_values_drop() {
        let origin = Origin {
            hostname: "h".into(),
            labels: vec![("env".into(), "prod".into()), ("zone".into(), "a".into())],
            boot_time_ms: 0,
        };
        let base = base_labels(&[("instance", "h")], &origin);
        let sample: Vec<(Str, Str)> = vec![
            ("env".into(), "test".into()),
            ("zone".into(), "".into()),
            ("b-x".into(), "1".into()),
            ("b_x".into(), "2".into()),
        ];
        let got: Vec<(String, String)> = merge_labels(&base, &sample)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.to_string()))
            .collect();
        let want = [("b_x", "2"), ("env", "test"), ("instance", "h")];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
    }
}

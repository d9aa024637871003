//! Prometheus remote write 1.0: a protobuf `WriteRequest` compressed with snappy's block format.
//!
//! Labels are what receivers check (sorted, unique, no empty value, valid names): Prometheus answers a duplicate
//! label name with a 500, which a sender would retry forever, so the encoder never produces one.

use super::Backend;
use crate::ship::encode::{
    Batch, Encoded, FastMap, Given, Origin, base_labels, merge_labels, metrics_range,
    sanitize_metric_name, with_le,
};
use prost::Message;
use std::borrow::Cow;

/// `type = "prometheus_remote_write"`: always snappy (the protocol's), never gzip.
pub(crate) struct RemoteWrite;

impl Backend for RemoteWrite {
    /// Snappy's block format does not concatenate: each body is expanded, the protobuf joined, compressed again.
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        for b in bodies {
            raw.extend(snap::raw::Decoder::new().decompress_vec(b)?);
        }
        Ok(snap::raw::Encoder::new().compress_vec(&raw)?)
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        encode(batch, origin)
    }

    fn headers(&self) -> Vec<(reqwest::header::HeaderName, &'static str)> {
        use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderName};
        vec![
            (CONTENT_TYPE, "application/x-protobuf"),
            (CONTENT_ENCODING, "snappy"),
            (
                HeaderName::from_static("x-prometheus-remote-write-version"),
                "0.1.0",
            ),
        ]
    }
}

/// `prometheus.WriteRequest` (field 2 is reserved and field 3, metadata, is not part of protocol 1.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The body for `POST /api/v1/write`: every sample of the batch, one `TimeSeries` per label set with its samples
/// in time order. `items` counts the samples sent.
pub fn encode(batch: &Batch, origin: &Origin) -> Encoded {
    let (req, skipped) = write_request(batch, origin);
    let items = req.timeseries.iter().map(|t| t.samples.len() as u64).sum();
    let raw = req.encode_to_vec();
    // Block format (framed snappy is rejected). It fails only for inputs over ~4 GiB; the batcher caps bodies
    // far below that.
    let body = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("remote-write body under snappy's 4 GiB limit");
    let (min_ts_ms, max_ts_ms) = metrics_range(batch);
    Encoded {
        body,
        items,
        min_ts_ms,
        max_ts_ms,
        skipped,
    }
}

/// Decodes a body made by [`encode`] (snappy block, then protobuf): for tests and `wasp` tooling.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

type Key<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, &'a str)>);

/// The request before encoding, and how many samples were left out (a repeated timestamp within one series:
/// Prometheus would keep the first one anyway).
pub(crate) fn write_request(batch: &Batch, origin: &Origin) -> (WriteRequest, u64) {
    let base = base_labels(&[("instance", &origin.hostname), ("job", "wasp")], origin);

    // Series in order of first appearance, keyed by their final label set. The same sample labels come back
    // in every collection, so a first map from the family and the sample's labels as given skips merging and
    // hashing the whole set again (two given sets can still merge into one series: "a-b" and "a_b").
    let mut all: Vec<(Key<'_>, Vec<Sample>)> = Vec::new();
    let mut by_key: FastMap<Key<'_>, usize> = FastMap::default();
    // A summary's sample is two series (`_count`, `_sum`): the suffix is part of the cheap key.
    let mut by_given: FastMap<(&'static str, Option<&str>, Given<'_>), usize> = FastMap::default();
    for m in &batch.metrics {
        let ts = m.metrics.timestamp_ms;
        for fam in &m.metrics.families {
            for (suffix, s, le, value) in fam.series() {
                let i = *by_given
                    .entry((suffix, le, (fam.name.as_ref(), s.labels.as_slice())))
                    .or_insert_with(|| {
                        let mut labels = with_le(merge_labels(&base, &s.labels), le);
                        labels.retain(|(k, _)| k != "__name__");
                        let name = match suffix {
                            "" => sanitize_metric_name(&fam.name),
                            _ => Cow::Owned(
                                sanitize_metric_name(&format!("{}{suffix}", fam.name)).into_owned(),
                            ),
                        };
                        let key = (name, labels);
                        let n = all.len();
                        *by_key.entry(key.clone()).or_insert_with(|| {
                            all.push((key, Vec::new()));
                            n
                        })
                    });
                all[i].1.push(Sample {
                    value,
                    timestamp: ts,
                });
            }
        }
    }
    let mut skipped = 0u64;
    let mut timeseries = Vec::with_capacity(all.len());
    for ((name, labels), mut samples) in all {
        samples.sort_by_key(|s| s.timestamp);
        let before = samples.len();
        samples.dedup_by_key(|s| s.timestamp);
        skipped += (before - samples.len()) as u64;
        let mut out: Vec<Label> = Vec::with_capacity(labels.len() + 1);
        let at = labels.partition_point(|(k, _)| k.as_ref() < "__name__");
        for (k, v) in &labels[..at] {
            out.push(Label {
                name: k.to_string(),
                value: v.to_string(),
            });
        }
        out.push(Label {
            name: "__name__".into(),
            value: name.into_owned(),
        });
        for (k, v) in &labels[at..] {
            out.push(Label {
                name: k.to_string(),
                value: v.to_string(),
            });
        }
        timeseries.push(TimeSeries {
            labels: out,
            samples,
        });
    }
    (WriteRequest { timeseries }, skipped)
}

//! The backends, one file each: what a sink of that type sends (the encoder, pure and tested on bytes), with which
//! protocol headers, to which URL, and what each answer means. The machinery that batches, spools, sends and
//! counts (`ship::sink`, `ship::deliver`, `ship::spool`, `ship::stats`) is shared and asks only this trait.

pub mod elasticsearch;
pub mod file;
pub mod http_json;
pub mod influx;
pub mod otlp;
pub mod prometheus_remote_write;

use super::answer::Outcome;
use super::config::{SinkConfig, SinkError, SinkKind};
use super::encode::{Batch, Encoded, Origin};
use reqwest::header::HeaderName;
use std::sync::Arc;
use std::time::Duration;

/// What the shared machinery needs to know about one backend.
pub(crate) trait Backend: Send + Sync {
    /// Does it take collections (metric samples) / documents?
    fn takes_metrics(&self) -> bool {
        true
    }
    fn takes_documents(&self) -> bool {
        false
    }
    /// The exact body of one batch.
    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded;
    /// Several spooled bodies as one request (batching from disk after an outage or across a batch's delay).
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>>;
    /// The protocol's own headers; the user's `headers` cannot override them.
    fn headers(&self) -> Vec<(HeaderName, &'static str)> {
        Vec::new()
    }
    /// Where to POST, from the configured URL.
    fn url(&self, configured: &str) -> String {
        configured.to_string()
    }
    /// What an answer means for this protocol (docs/shipping.md has the table).
    fn classify(&self, status: u16, body: &[u8], after: Option<Duration>) -> Outcome {
        super::answer::classify_http(status, body, after)
    }
    /// Configuration checks only this backend knows.
    fn check(&self, _cfg: &SinkConfig) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The backend a sink's configuration names.
/// Every check of a sink's configuration: the shared keys (`SinkConfig::check`), then its backend's own.
pub fn check(cfg: &SinkConfig) -> Result<(), SinkError> {
    cfg.check()?;
    backend(cfg).check(cfg)
}

pub(crate) fn backend(cfg: &SinkConfig) -> Arc<dyn Backend> {
    match cfg.kind {
        SinkKind::PrometheusRemoteWrite => Arc::new(prometheus_remote_write::RemoteWrite),
        SinkKind::OtlpHttp => Arc::new(otlp::Otlp { gzip: cfg.gzip }),
        SinkKind::InfluxLine => Arc::new(influx::Influx { gzip: cfg.gzip }),
        SinkKind::HttpJson => Arc::new(http_json::HttpJson { gzip: cfg.gzip }),
        SinkKind::Elasticsearch => Arc::new(elasticsearch::Elasticsearch {
            index: cfg.index.clone(),
            gzip: cfg.gzip,
        }),
        SinkKind::File => Arc::new(file::JsonLinesFile),
    }
}

/// `Content-Encoding: gzip` when asked.
pub(crate) fn gzip_header(gzip: bool) -> Option<(HeaderName, &'static str)> {
    gzip.then_some((reqwest::header::CONTENT_ENCODING, "gzip"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(toml: &str) -> Arc<dyn Backend> {
        backend(&toml::from_str(toml).unwrap())
    }

    #[test]
    fn classifies_like_each_protocol_says() {
        let rw = kind("type = \"prometheus_remote_write\"\nurl = \"http://x\"");
        assert!(matches!(rw.classify(204, b"", None), Outcome::Done { .. }));
        assert!(matches!(
            rw.classify(500, b"label name not unique", None),
            Outcome::Retry { counts: true, .. }
        ));
        assert!(matches!(
            rw.classify(503, b"", None),
            Outcome::Retry { counts: false, .. }
        ));
        assert!(matches!(
            rw.classify(400, b"out of order sample", None),
            Outcome::Refused { status: 400, .. }
        ));
        let o = kind("type = \"otlp_http\"\nurl = \"http://x\"");
        assert!(matches!(
            o.classify(500, b"", None),
            Outcome::Refused { .. }
        ));
        assert!(matches!(o.classify(502, b"", None), Outcome::Retry { .. }));
    }

    #[test]
    fn protocol_headers_are_each_backends_own() {
        use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
        let h = |t: &str| kind(t).headers();
        let rw = h("type = \"prometheus_remote_write\"\nurl = \"http://x\"\ngzip = true");
        assert!(rw.contains(&(CONTENT_ENCODING, "snappy")));
        assert!(!rw.contains(&(CONTENT_ENCODING, "gzip")));
        let es = h("type = \"elasticsearch\"\nurl = \"http://x\"");
        assert!(es.contains(&(CONTENT_TYPE, "application/x-ndjson")));
        assert!(es.contains(&(CONTENT_ENCODING, "gzip")));
        let j = h("type = \"http_json\"\nurl = \"http://x\"\ngzip = false");
        assert_eq!(j, vec![(CONTENT_TYPE, "application/x-ndjson")]);
        assert!(h("type = \"file\"").is_empty());
    }

    /// Batching from disk: two spooled bodies joined are, once expanded, the two expanded bodies end to end, and
    /// a remote-write join decodes to both requests' series.
    #[test]
    fn spooled_bodies_join_into_one_request_for_every_backend() {
        use crate::model::{Collection, MetricSet};
        use crate::ship::encode::Metrics;
        use std::io::Read;
        let batch = |ts: i64| {
            let mut m = MetricSet::new(ts);
            m.gauge("node_load1", "load").set(ts as f64);
            Batch {
                metrics: vec![Metrics {
                    collection: Arc::new(Collection {
                        timestamp_ms: ts,
                        ..Default::default()
                    }),
                    metrics: Arc::new(m),
                }],
                documents: Vec::new(),
            }
        };
        for (toml, codec) in [
            (
                "type = \"prometheus_remote_write\"\nurl = \"http://x\"",
                "snappy",
            ),
            ("type = \"otlp_http\"\nurl = \"http://x\"", "gzip"),
            ("type = \"otlp_http\"\nurl = \"http://x\"\ngzip = false", ""),
            ("type = \"influx_line\"\nurl = \"http://x\"", "gzip"),
            ("type = \"http_json\"\nurl = \"http://x\"", "gzip"),
            ("type = \"elasticsearch\"\nurl = \"http://x\"", "gzip"),
            ("type = \"file\"", ""),
        ] {
            let b = kind(toml);
            let o = Origin::default();
            let (x, y) = (
                b.encode(&batch(1000), &o).body,
                b.encode(&batch(2000), &o).body,
            );
            let j = b.join(&[&x, &y]).unwrap();
            let raw = |body: &[u8]| -> Vec<u8> {
                match codec {
                    "snappy" => snap::raw::Decoder::new().decompress_vec(body).unwrap(),
                    "gzip" => {
                        let mut v = Vec::new();
                        flate2::read::GzDecoder::new(body)
                            .read_to_end(&mut v)
                            .unwrap();
                        v
                    }
                    _ => body.to_vec(),
                }
            };
            assert_eq!(raw(&j), [raw(&x), raw(&y)].concat(), "{toml}");
            if codec == "snappy" {
                let w = prometheus_remote_write::decode(&j).unwrap();
                let ts: Vec<i64> = w
                    .timeseries
                    .iter()
                    .flat_map(|t| t.samples.iter().map(|s| s.timestamp))
                    .collect();
                assert_eq!(ts, [1000, 2000]);
            }
            assert!(
                b.join(&[b"not a body", &x]).is_err() || codec.is_empty(),
                "{toml}"
            );
        }
    }

    #[test]
    fn influx_asks_for_milliseconds_unless_the_url_says() {
        let i = kind("type = \"influx_line\"\nurl = \"http://x\"");
        assert_eq!(
            i.url("http://x/write?db=w"),
            "http://x/write?db=w&precision=ms"
        );
        assert_eq!(
            i.url("http://x/api/v2/write"),
            "http://x/api/v2/write?precision=ms"
        );
        assert_eq!(
            i.url("http://x/write?precision=s"),
            "http://x/write?precision=s"
        );
    }
}

//! The backends, one file each: what a sink of that type sends (the encoder, pure and tested on bytes), with which
//! protocol headers, to which URL, and what each answer means. The machinery that batches, spools, sends and
//! counts (`ship::sink`, `ship::deliver`, `ship::spool`, `ship::stats`) is shared and asks only this trait.

pub mod elasticsearch;
pub mod file;
pub mod http_json;
pub mod influx;
pub mod otlp;
pub mod prometheus_remote_write;

use super::config::{SinkConfig, SinkError, SinkKind};
use super::deliver::Outcome;
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
        super::deliver::classify_http(status, body, after)
    }
    /// Configuration checks only this backend knows.
    fn check(&self, _cfg: &SinkConfig) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The backend a sink's configuration names.
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

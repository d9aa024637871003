//! `[sinks.NAME]`: where the data goes. Several sinks may be configured at once; each has its own queue, spool
//! and sender, so a dead sink never holds up a live one.

use crate::config::units::{ByteSize, Interval};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Prometheus remote write 1.0 (Prometheus, VictoriaMetrics, Mimir, Thanos...).
    PrometheusRemoteWrite,
    /// OTLP metrics over HTTP, protobuf.
    OtlpHttp,
    /// InfluxDB line protocol (1.x `/write`, 2.x `/api/v2/write`, VictoriaMetrics).
    InfluxLine,
    /// NDJSON batches (collections and documents) to any URL.
    HttpJson,
    /// Elasticsearch/OpenSearch `_bulk` for documents (dump analyses, incidents, events).
    Elasticsearch,
    /// The local JSON-lines file.
    File,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::PrometheusRemoteWrite => "prometheus_remote_write",
            SinkKind::OtlpHttp => "otlp_http",
            SinkKind::InfluxLine => "influx_line",
            SinkKind::HttpJson => "http_json",
            SinkKind::Elasticsearch => "elasticsearch",
            SinkKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// Where to POST (every sink but `file`): the whole endpoint, e.g. "http://127.0.0.1:9090/api/v1/write".
    #[serde(default)]
    pub url: Option<String>,
    /// `file` only: the JSON-lines file (default: data_dir/wasp.jsonl), rotated at `rotate_bytes`, `keep` old files.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default = "default_rotate")]
    pub rotate_bytes: ByteSize,
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Compress request bodies with gzip (otlp_http, influx_line, http_json, elasticsearch; remote write always
    /// uses snappy).
    #[serde(default = "yes")]
    pub gzip: bool,
    /// `elasticsearch` only: the index of each document: %Y %m %d %H of the document's UTC date, {kind} its kind.
    #[serde(default = "default_index")]
    pub index: String,
    /// Extra request headers (the protocol's own headers cannot be overridden).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Collections or documents waiting for the batcher; beyond this they are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
}

fn default_rotate() -> ByteSize {
    ByteSize(50_000_000)
}
fn default_keep() -> usize {
    3
}
fn yes() -> bool {
    true
}
fn default_index() -> String {
    "wasp-%Y.%m.%d".into()
}
fn default_queue() -> usize {
    64
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A batch is cut when it holds this many samples (a collection is never split, so one can go over)...
    pub max_samples: usize,
    /// ...or this many documents...
    pub max_documents: usize,
    /// ...or its encoded body would pass this size (it is then split in halves)...
    pub max_bytes: ByteSize,
    /// ...or its first item has waited this long.
    pub max_delay: Interval,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_samples: 10_000,
            max_documents: 100,
            max_bytes: ByteSize(4 << 20),
            max_delay: Interval::secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Upper bound of the sink's spool on disk; when full, the oldest batches are dropped and counted.
    pub max_bytes: ByteSize,
    /// Batches older than this are dropped (and counted), sent or not: most backends refuse such old samples.
    pub max_age: Interval,
    /// fdatasync every batch before it is sent. Off trades the last batches before a power loss for less I/O.
    pub sync: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: ByteSize(256 << 20),
            max_age: Interval::secs(24 * 3600),
            sync: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait after a failed send; doubles up to `max_backoff`, with full jitter. Retry-After wins if longer.
    pub initial_backoff: Interval,
    pub max_backoff: Interval,
    /// A batch answered this many times with a 5xx that may be permanent (500, 501, 505...) is set aside:
    /// Prometheus answers 500 to batches that can never succeed. Outages (connection errors, timeouts, 429,
    /// 502, 503, 504) do not count: those batches wait, bounded by the spool's size and age limits.
    pub max_attempts: u32,
    /// Deadline to connect, and for the whole request.
    pub connect_timeout: Interval,
    pub timeout: Interval,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: Interval::secs(1),
            max_backoff: Interval::secs(60),
            max_attempts: 10,
            connect_timeout: Interval::secs(5),
            timeout: Interval::secs(30),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// A PEM CA bundle trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) and its PEM key, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Basic auth: the user, and the password from a file or an environment variable (never in this file).
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// Token auth: "Authorization: <scheme> <token>", the token from a file or an environment variable.
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    /// "Bearer" (default) or "Token" (InfluxDB 2.x).
    pub scheme: Option<String>,
    /// Send these credentials over plain http:// to a host beyond the loopback (refused unless set).
    pub allow_plain_http: bool,
}

/// All configured sinks by name. None configured means the local JSON-lines file only.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Sinks(pub BTreeMap<String, SinkConfig>);

impl SinkConfig {
    /// The embedded default: the JSON-lines file under the data dir.
    pub fn default_file() -> SinkConfig {
        toml::from_str("type = \"file\"").expect("default file sink")
    }

    /// Checks that need more than one key; the error names the key (path inside `[sinks.NAME]`) it is about,
    /// which the configuration turns into a file position with the parser's spans.
    pub fn check(&self) -> Result<(), SinkError> {
        let err = |key: &'static [&'static str], message: String| Err(SinkError { key, message });
        match (self.kind, &self.url) {
            (SinkKind::File, Some(_)) => {
                return err(&["url"], "a file sink has a path, not a url".into());
            }
            (SinkKind::File, None) => {}
            (k, None) => {
                return err(
                    &["type"],
                    format!("a {} sink needs a url to send to", k.as_str()),
                );
            }
            (_, Some(u)) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return err(
                        &["url"],
                        format!("\"{u}\" is not an http:// or https:// URL"),
                    );
                }
                if self.path.is_some() {
                    return err(&["path"], "path is for file sinks only".into());
                }
            }
        }
        super::sinks::backend(self).check(self)?;
        let a = &self.auth;
        if a.password_file.is_some() && a.password_env.is_some() {
            return err(
                &["auth", "password_env"],
                "give the password in a file or in the environment, not both".into(),
            );
        }
        if (a.password_file.is_some() || a.password_env.is_some()) && a.username.is_none() {
            let key: &'static [&'static str] = if a.password_file.is_some() {
                &["auth", "password_file"]
            } else {
                &["auth", "password_env"]
            };
            return err(key, "a password needs a username".into());
        }
        if a.token_file.is_some() && a.token_env.is_some() {
            return err(
                &["auth", "token_env"],
                "give the token in a file or in the environment, not both".into(),
            );
        }
        if a.username.is_some() && (a.token_file.is_some() || a.token_env.is_some()) {
            let key: &'static [&'static str] = if a.token_file.is_some() {
                &["auth", "token_file"]
            } else {
                &["auth", "token_env"]
            };
            return err(key, "use basic auth or a token, not both".into());
        }
        if let Some(u) = &self.url {
            use crate::util::redact;
            let creds = a.username.is_some()
                || a.token_file.is_some()
                || a.token_env.is_some()
                || redact::has_userinfo(u);
            if creds && u.starts_with("http://") && !redact::is_loopback(u) && !a.allow_plain_http {
                return err(
                    &["url"],
                    "credentials would cross the network in clear over http://: use https://, or set \
                     auth.allow_plain_http = true"
                        .into(),
                );
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            let key: &'static [&'static str] = if self.tls.cert_file.is_some() {
                &["tls", "cert_file"]
            } else {
                &["tls", "key_file"]
            };
            return err(
                key,
                "a client certificate needs both cert_file and key_file".into(),
            );
        }
        if self.retry.initial_backoff > self.retry.max_backoff {
            return err(
                &["retry", "initial_backoff"],
                "initial_backoff must not be above max_backoff".into(),
            );
        }
        if self.spool.max_bytes.0 < 64 << 10 {
            return err(
                &["spool", "max_bytes"],
                "a spool needs at least 64KiB".into(),
            );
        }
        if self.queue == 0 {
            return err(
                &["queue"],
                "queue and batch sizes must be at least 1".into(),
            );
        }
        if self.batch.max_samples == 0 {
            return err(
                &["batch", "max_samples"],
                "queue and batch sizes must be at least 1".into(),
            );
        }
        if self.batch.max_documents == 0 {
            return err(
                &["batch", "max_documents"],
                "queue and batch sizes must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// A sink configuration that cannot work, and the key it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkError {
    /// The key's path inside `[sinks.NAME]`, e.g. `["auth", "token_file"]`. When the key was left at its default
    /// the error points at the deepest part of the path that the file does have.
    pub key: &'static [&'static str],
    pub message: String,
}

//! Sending one spooled batch over HTTP: the client a sink's config asks for (timeouts, TLS, auth, headers), the
//! protocol's own headers, and what each answer means (done, retry later, or refused for good).

use super::config::SinkConfig;
use super::sinks::Backend;
use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Accepted; `rejected` items were refused inside the accepted request (counted, not retried).
    Done { status: u16, rejected: u64 },
    /// Retry later. `counts` = the answer may be permanent (a 500 to a batch that can never succeed), so it
    /// counts toward the attempt limit; outages (no answer, 429, 502-504) do not. `after` = Retry-After.
    Retry {
        status: u16,
        counts: bool,
        after: Option<Duration>,
        why: String,
    },
    /// Refused for good: set the batch aside.
    Refused { status: u16, why: String },
}

pub(crate) struct Sender {
    client: reqwest::Client,
    rt: tokio::runtime::Handle,
    url: String,
    /// The protocol's, the user's and the auth headers, sent with every request (the client is shared).
    headers: HeaderMap,
    timeout: Duration,
    backend: Arc<dyn Backend>,
}

fn read_secret(
    file: &Option<std::path::PathBuf>,
    env: &Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the secret file {}", f.display()))?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    if let Some(v) = env {
        let s =
            std::env::var(v).with_context(|| format!("the environment variable {v} is not set"))?;
        return Ok(Some(s));
    }
    Ok(None)
}

fn header(v: &str) -> anyhow::Result<HeaderValue> {
    let mut h = HeaderValue::from_str(v).context("invalid header value")?;
    h.set_sensitive(true);
    Ok(h)
}

/// What makes two sinks' clients interchangeable: their TLS files and connect timeout (proxies come from the
/// environment, the same for every sink). Everything else a sink sets goes on its requests.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    connect_timeout: Duration,
}

impl ClientKey {
    fn of(cfg: &SinkConfig) -> ClientKey {
        ClientKey {
            ca_file: cfg.tls.ca_file.clone(),
            cert_file: cfg.tls.cert_file.clone(),
            key_file: cfg.tls.key_file.clone(),
            connect_timeout: cfg.retry.connect_timeout.0,
        }
    }

    fn build(&self) -> anyhow::Result<reqwest::Client> {
        let mut b = super::http::client_builder()
            .connect_timeout(self.connect_timeout)
            // Two sinks to one server may share a client: keep a connection for each.
            .pool_max_idle_per_host(2);
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read ca_file {}", ca.display()))?;
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("ca_file {}", ca.display()))?
            {
                b = b.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            let mut pem = std::fs::read(cert)
                .with_context(|| format!("cannot read cert_file {}", cert.display()))?;
            pem.extend(
                std::fs::read(key)
                    .with_context(|| format!("cannot read key_file {}", key.display()))?,
            );
            b = b.identity(reqwest::Identity::from_pem(&pem).context("client certificate")?);
        }
        b.build().context("cannot build the HTTP client")
    }
}

/// The HTTP side a shipper's sinks share: one runtime, driven by its own thread (so a connection opened for one
/// sender thread keeps working while that thread sleeps, and a client can serve several), and one client, with one
/// copy of the TLS roots, per distinct TLS setting.
pub(crate) struct Http {
    rt: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    clients: HashMap<ClientKey, reqwest::Client>,
}

impl Http {
    pub(crate) fn new() -> anyhow::Result<Http> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the sinks' HTTP runtime")?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("wasp-http".into())
            .spawn(move || {
                // Drives IO, timers and connection tasks for the senders' `Handle::block_on`, until stopped.
                let _ = rt.block_on(stopped);
            })
            .context("cannot start the sinks' HTTP thread")?;
        Ok(Http {
            rt: handle,
            stop,
            clients: HashMap::new(),
        })
    }

    fn client(&mut self, cfg: &SinkConfig) -> anyhow::Result<reqwest::Client> {
        let key = ClientKey::of(cfg);
        if let Some(c) = self.clients.get(&key) {
            return Ok(c.clone());
        }
        let c = key.build()?;
        self.clients.insert(key, c.clone());
        Ok(c)
    }

    /// Stops the runtime without waiting (a send still in flight fails; its batch stays spooled).
    pub(crate) fn shutdown(self) {
        let _ = self.stop.send(());
    }
}

impl Sender {
    pub(crate) fn new(
        cfg: &SinkConfig,
        backend: Arc<dyn Backend>,
        http: &mut Http,
    ) -> anyhow::Result<Sender> {
        let url = backend.url(cfg.url.as_deref().unwrap_or_default());
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .with_context(|| format!("invalid header name \"{k}\""))?;
            headers.insert(name, header(v)?);
        }
        for (k, v) in backend.headers() {
            headers.insert(k, HeaderValue::from_static(v));
        }
        let a = &cfg.auth;
        if let Some(user) = &a.username {
            let pass = read_secret(&a.password_file, &a.password_env)?.unwrap_or_default();
            use std::io::Write;
            let mut raw = Vec::new();
            let _ = write!(raw, "{user}:{pass}");
            headers.insert(
                reqwest::header::AUTHORIZATION,
                header(&format!("Basic {}", base64(&raw)))?,
            );
        } else if let Some(tok) = read_secret(&a.token_file, &a.token_env)? {
            let scheme = a.scheme.as_deref().unwrap_or("Bearer");
            headers.insert(
                reqwest::header::AUTHORIZATION,
                header(&format!("{scheme} {tok}"))?,
            );
        }
        Ok(Sender {
            client: http.client(cfg)?,
            rt: http.rt.clone(),
            url,
            headers,
            timeout: cfg.retry.timeout.0,
            backend,
        })
    }

    /// One POST of `body`, classified; the calling (sender) thread waits for it.
    pub(crate) fn send_blocking(&self, body: Vec<u8>) -> Outcome {
        self.rt.block_on(self.send(body))
    }

    /// One POST of `body`, classified.
    async fn send(&self, body: Vec<u8>) -> Outcome {
        let req = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .timeout(self.timeout)
            .body(body);
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    status: 0,
                    counts: false,
                    after: None,
                    why: error_chain(&e),
                };
            }
        };
        let status = r.status().as_u16();
        let after = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        // Bodies are read (bounded) to free the connection and for the log.
        let text = match r.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Retry {
                    status,
                    counts: false,
                    after,
                    why: error_chain(&e),
                };
            }
        };
        self.backend.classify(status, &text, after)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// The first 300 characters of an answer, on one line, for the log.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(600)]);
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
}

/// Retry-After: whole seconds or an HTTP date.
pub(crate) fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s.min(3600)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(Duration::from_secs(3600)),
    )
}

/// An answer's status and the start of its body, for the log and the set-aside note.
pub(crate) fn why(status: u16, body: &[u8]) -> String {
    format!("HTTP {status}: {}", excerpt(body))
}

/// What an answer means to a plain HTTP backend: 2xx done; outages (429, 502-504) and 408 retried without
/// counting; other 5xx retried and counted (they may be permanent); the rest refused. Backends with their own rules
/// (OTLP, Elasticsearch) override [`Backend::classify`](super::sinks::Backend::classify).
pub(crate) fn classify_http(status: u16, body: &[u8], after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Done {
            status,
            rejected: 0,
        },
        429 | 502 | 503 | 504 | 408 => Outcome::Retry {
            status,
            counts: false,
            after,
            why: why(status, body),
        },
        500..=599 => Outcome::Retry {
            status,
            counts: true,
            after,
            why: why(status, body),
        },
        _ => Outcome::Refused {
            status,
            why: why(status, body),
        },
    }
}

/// Standard base64 (basic auth only; not worth a crate).
fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        let soon = SystemTime::now() + Duration::from_secs(30);
        let d = retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}

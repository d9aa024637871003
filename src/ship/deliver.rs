//! Sending one spooled batch over HTTP: the client a sink's config asks for (timeouts, TLS, auth, headers), the
//! protocol's own headers, and what each answer means (done, retry later, or refused for good).

use super::config::SinkConfig;
use super::sinks::Backend;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
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
    url: String,
    backend: Arc<dyn Backend>,
}

fn read_secret(
    file: &Option<std::path::PathBuf>,
    env: &Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the secret file {}: {e}", f.display()))?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    if let Some(v) = env {
        let s = std::env::var(v)
            .map_err(|_| anyhow::anyhow!("the environment variable {v} is not set"))?;
        return Ok(Some(s));
    }
    Ok(None)
}

fn header(v: &str) -> anyhow::Result<HeaderValue> {
    let mut h = HeaderValue::from_str(v).map_err(|_| anyhow::anyhow!("invalid header value"))?;
    h.set_sensitive(true);
    Ok(h)
}

impl Sender {
    pub(crate) fn new(cfg: &SinkConfig, backend: Arc<dyn Backend>) -> anyhow::Result<Sender> {
        let url = backend.url(cfg.url.as_deref().unwrap_or_default());
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| anyhow::anyhow!("invalid header name \"{k}\""))?;
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
        let mut b = super::http::client_builder()
            .default_headers(headers)
            .connect_timeout(cfg.retry.connect_timeout.0)
            .timeout(cfg.retry.timeout.0)
            .pool_max_idle_per_host(1);
        if let Some(ca) = &cfg.tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| anyhow::anyhow!("cannot read ca_file {}: {e}", ca.display()))?;
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", ca.display()))?
            {
                b = b.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&cfg.tls.cert_file, &cfg.tls.key_file) {
            let mut pem = std::fs::read(cert)
                .map_err(|e| anyhow::anyhow!("cannot read cert_file {}: {e}", cert.display()))?;
            pem.extend(
                std::fs::read(key)
                    .map_err(|e| anyhow::anyhow!("cannot read key_file {}: {e}", key.display()))?,
            );
            b = b.identity(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| anyhow::anyhow!("client certificate: {e}"))?,
            );
        }
        Ok(Sender {
            client: b.build()?,
            url,
            backend,
        })
    }

    /// One POST of `body`, classified.
    pub(crate) async fn send(&self, body: Vec<u8>) -> Outcome {
        let r = match self.client.post(&self.url).body(body).send().await {
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

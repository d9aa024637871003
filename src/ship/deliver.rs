//! Sending one spooled batch over HTTP: the client a sink's config asks for (timeouts, TLS, auth, headers), the
//! protocol's own headers, and what each answer means (done, retry later, or refused for good).

use super::answer::{Outcome, retry_after};
use super::config::SinkConfig;
use super::sinks::Backend;
use base64::prelude::{BASE64_STANDARD, Engine};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;

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
                header(&format!("Basic {}", BASE64_STANDARD.encode(&raw)))?,
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

    /// The backend this sender speaks for.
    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
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

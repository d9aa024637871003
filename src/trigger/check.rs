//! Service checks: what an L4/L7 health check sees of the local WAS ports and the databases they depend on.
//! A TCP connect or an HTTP GET every interval, each bounded by its timeout, on the daemon's tokio runtime;
//! results are published for the rules and the metrics, never waited for by the collection loop.

use crate::config::units::Interval;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Names the check in figures (`check.NAME.up`) and metrics.
    pub name: String,
    /// "host:port": up when a TCP connection is established within the timeout.
    #[serde(default)]
    pub tcp: Option<String>,
    /// "http://host:port/path": up when the GET answers within the timeout with `status` (default: any
    /// 2xx or 3xx; redirects are not followed).
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default = "default_interval")]
    pub interval: Interval,
    #[serde(default = "default_timeout")]
    pub timeout: Interval,
}

fn default_interval() -> Interval {
    Interval::secs(10)
}
fn default_timeout() -> Interval {
    Interval::secs(2)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckState {
    /// None until the first result.
    pub up: Option<bool>,
    /// Seconds to connect (TCP) or to the response headers (HTTP); of the last check that got an answer.
    pub latency: Option<f64>,
    /// The last HTTP status, None for TCP checks or when no answer came.
    pub status: Option<u16>,
    pub total: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

/// The running checks, in config order.
#[derive(Clone, Default)]
pub struct Checks {
    pub checks: Vec<(CheckConfig, Arc<Mutex<CheckState>>)>,
}

pub fn lock(s: &Mutex<CheckState>) -> std::sync::MutexGuard<'_, CheckState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl Checks {
    /// Spawns one task per check on `rt`.
    pub fn start(cfgs: &[CheckConfig], rt: &tokio::runtime::Handle) -> Checks {
        let mut checks = Vec::new();
        for c in cfgs {
            let state = Arc::new(Mutex::new(CheckState::default()));
            rt.spawn(run(c.clone(), state.clone()));
            checks.push((c.clone(), state));
        }
        Checks { checks }
    }
}

async fn run(cfg: CheckConfig, state: Arc<Mutex<CheckState>>) {
    let client = crate::ship::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.timeout.0)
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(check = %cfg.name, error = %e, "cannot build the HTTP client; check not run");
            return;
        }
    };
    let mut tick = tokio::time::interval(cfg.interval.0);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = None;
    loop {
        tick.tick().await;
        let r = once(&cfg, &client).await;
        let up = r.up;
        if was_up.is_some() && was_up != Some(up) {
            if up {
                tracing::info!(check = %cfg.name, "service check up again");
            } else {
                tracing::warn!(check = %cfg.name, error = ?r.error, status = ?r.status, "service check down");
            }
        }
        was_up = Some(up);
        let mut s = lock(&state);
        s.total += 1;
        if !up {
            s.failures += 1;
        }
        s.up = Some(up);
        if r.latency.is_some() {
            s.latency = r.latency;
        }
        s.status = r.status;
        s.last_error = r.error;
    }
}

pub struct Outcome {
    pub up: bool,
    pub latency: Option<f64>,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// One check, bounded by its timeout.
pub async fn once(cfg: &CheckConfig, client: &reqwest::Client) -> Outcome {
    let t = Instant::now();
    let timeout = cfg.timeout.0;
    if let Some(addr) = &cfg.tcp {
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr.as_str()))
            .await
        {
            Ok(Ok(_)) => Outcome {
                up: true,
                latency: Some(t.elapsed().as_secs_f64()),
                status: None,
                error: None,
            },
            Ok(Err(e)) => fail(e.to_string()),
            Err(_) => fail(format!("no connection within {}", cfg.timeout)),
        };
    }
    let Some(url) = &cfg.http else {
        return fail("neither tcp nor http is set".into());
    };
    // reqwest's own timeout covers the whole request; this one also bounds name resolution.
    match tokio::time::timeout(timeout + Duration::from_millis(100), client.get(url).send()).await {
        Ok(Ok(resp)) => {
            let code = resp.status().as_u16();
            let up = match cfg.status {
                Some(s) => code == s,
                None => (200..400).contains(&code),
            };
            Outcome {
                up,
                latency: Some(t.elapsed().as_secs_f64()),
                status: Some(code),
                error: (!up).then(|| format!("HTTP status {code}")),
            }
        }
        Ok(Err(e)) => fail(format!("{e:#}")),
        Err(_) => fail(format!("no answer within {}", cfg.timeout)),
    }
}

fn fail(error: String) -> Outcome {
    Outcome {
        up: false,
        latency: None,
        status: None,
        error: Some(error),
    }
}

/// Checks of a config that cannot run; the message names the problem.
pub fn validate(c: &CheckConfig) -> Result<(), String> {
    match (&c.tcp, &c.http) {
        (Some(_), Some(_)) | (None, None) => Err(format!(
            "check \"{}\": set exactly one of tcp or http",
            c.name
        )),
        (Some(a), None) => {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "check \"{}\": tcp = \"{a}\" must be host:port, e.g. \"127.0.0.1:8080\"",
                    c.name
                ))
            }
        }
        (None, Some(u)) => match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
            _ => Err(format!(
                "check \"{}\": http = \"{u}\" must be an http:// or https:// URL",
                c.name
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tcp: Option<String>, http: Option<String>) -> CheckConfig {
        CheckConfig {
            name: "t".into(),
            tcp,
            http,
            status: None,
            interval: Interval::secs(1),
            timeout: Interval::millis(500),
        }
    }

    #[test]
    fn validation() {
        assert!(validate(&cfg(Some("127.0.0.1:80".into()), None)).is_ok());
        assert!(validate(&cfg(Some("127.0.0.1".into()), None)).is_err());
        assert!(validate(&cfg(None, Some("ftp://x".into()))).is_err());
        assert!(validate(&cfg(None, None)).is_err());
    }

    /// A real listener and a real closed port on loopback.
    #[test]
    fn tcp_and_http_against_real_sockets() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                loop {
                    let (mut s, _) = l.accept().await.unwrap();
                    let mut b = [0u8; 1024];
                    let _ = s.read(&mut b).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                }
            });
            let client = reqwest::Client::new();
            let up = once(&cfg(Some(format!("127.0.0.1:{port}")), None), &client).await;
            assert!(up.up && up.latency.is_some());
            let h = once(&cfg(None, Some(format!("http://127.0.0.1:{port}/"))), &client).await;
            assert_eq!(h.status, Some(503));
            assert!(!h.up);
            let mut want = cfg(None, Some(format!("http://127.0.0.1:{port}/")));
            want.status = Some(503);
            assert!(once(&want, &client).await.up);
            // A port nobody listens on: refused at once.
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let cp = closed.local_addr().unwrap().port();
            drop(closed);
            let down = once(&cfg(Some(format!("127.0.0.1:{cp}")), None), &client).await;
            assert!(!down.up && down.error.is_some());
        });
    }
}

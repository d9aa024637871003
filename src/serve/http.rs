//! `GET /metrics` serves the exposition rendered after the last collection (never collecting on the request
//! path); `GET /healthz` says when the last collection succeeded, and 503 once collection has stalled.

use axum::Router;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the collection loop publishes for the endpoints.
pub struct Published {
    pub exposition: Arc<str>,
    pub last_ok_wall: Option<SystemTime>,
    pub last_ok: Option<Instant>,
    pub started: Instant,
    pub interval: Duration,
    /// The local history's database, for `GET /api/v1/history` (None: history off).
    pub history: Option<std::path::PathBuf>,
}

pub type Shared = Arc<RwLock<Published>>;

pub fn shared(interval: Duration) -> Shared {
    Arc::new(RwLock::new(Published {
        exposition: Arc::from(""),
        last_ok_wall: None,
        last_ok: None,
        started: Instant::now(),
        interval,
        history: None,
    }))
}

pub fn router(state: Shared, bearer_token: Option<String>) -> Router {
    router_with(state, bearer_token, Router::new())
}

/// The endpoints plus `extra` (the console and its API), all behind the same token when one is configured.
/// A browser cannot send an Authorization header from a link, so the token is also taken from the
/// `wasp_token` cookie that the console's login page sets (SameSite=Strict: never sent by another site).
pub fn router_with(state: Shared, bearer_token: Option<String>, extra: Router) -> Router {
    let r = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/v1/history", get(history))
        .with_state(state)
        .merge(extra);
    match bearer_token {
        Some(token) => {
            let expected: Arc<str> = Arc::from(format!("Bearer {token}"));
            let bare: Arc<str> = Arc::from(token);
            r.layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let (expected, bare) = (expected.clone(), bare.clone());
                    async move {
                        let h = req.headers();
                        let by_header = h
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()));
                        let by_cookie = || {
                            h.get_all(header::COOKIE)
                                .iter()
                                .filter_map(|v| v.to_str().ok())
                                .filter_map(super::console::cookie_token)
                                .any(|t| constant_time_eq(t.as_bytes(), bare.as_bytes()))
                        };
                        if by_header || by_cookie() {
                            next.run(req).await
                        } else if wants_page(&req) {
                            super::console::login()
                        } else {
                            (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response()
                        }
                    }
                },
            ))
        }
        None => r,
    }
}

/// A browser asking for a page (not the API, not a scraper): it gets the login form with its 401.
fn wants_page(req: &Request) -> bool {
    let p = req.uri().path();
    req.method() == axum::http::Method::GET
        && !p.starts_with("/api/")
        && !p.starts_with("/assets/")
        && p != "/metrics"
        && p != "/healthz"
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// Reads the token file; the token itself is never logged.
/// Checked like the configuration (owner, not writable by others, on the descriptor read); a token every user
/// may read is named in a warning (refusing it would stop agents that worked).
pub fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let what = "[server] bearer_token_file";
    let t = crate::util::safe_open::read_protected(path, what, 64 << 10)
        .map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))?;
    if let Ok(m) = std::fs::symlink_metadata(path)
        && m.mode() & 0o004 != 0
    {
        tracing::warn!(path = %path.display(), "{what} is readable by every user: chmod o-r it");
    }
    let t = String::from_utf8_lossy(&t).trim().to_string();
    anyhow::ensure!(
        !t.is_empty(),
        "[server] bearer_token_file {} is empty",
        path.display()
    );
    Ok(t)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Binds first, so that a port in use is a start-up error and not a silent background failure.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (set [server] listen)"))
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let body = s
        .read()
        .map(|p| p.exposition.clone())
        .unwrap_or_else(|e| e.into_inner().exposition.clone());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body.to_string(),
    )
}

async fn history(
    State(s): State<Shared>,
    axum::extract::Query(params): axum::extract::Query<Vec<(String, String)>>,
) -> axum::response::Response {
    let path = s.read().unwrap_or_else(|e| e.into_inner()).history.clone();
    super::history::answer(path, params).await
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    let p = s.read().unwrap_or_else(|e| e.into_inner());
    let stall = p.interval * 3;
    let since = p.last_ok.unwrap_or(p.started).elapsed();
    let last = p
        .last_ok_wall
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    let body = serde_json::json!({
        "status": if since > stall { "stalled" } else { "ok" },
        "last_collection_unix": last,
        "seconds_since_last_collection": since.as_secs_f64(),
        "interval_seconds": p.interval.as_secs_f64(),
    });
    let code = if since > stall {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Limits of the HTTP server: every peer on the network may connect, before any token is checked.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; at the cap the longest-idle one is closed for a new one (or, when all are
    /// busy, the new one is). Far below LimitNOFILE, so collection always has descriptors.
    pub connections: usize,
    /// A request's headers must arrive within this, and an idle keep-alive connection is closed after it.
    pub header_timeout: Duration,
    /// Read buffer per connection, which bounds the request head (larger: 431 and closed).
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 256,
            header_timeout: Duration::from_secs(10),
            max_head: 16 << 10,
        }
    }
}

/// One connection's registry entry.
struct Conn {
    busy: std::sync::atomic::AtomicUsize,
    /// Milliseconds since the server started at which it last became idle.
    idle_since: std::sync::atomic::AtomicU64,
    close: tokio::sync::Notify,
}

/// Serves `app` on `listener` within `limits`; returns only on a fatal listener error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    use std::sync::atomic::Ordering::Relaxed;
    let t0 = Instant::now();
    let conns: Arc<std::sync::Mutex<BTreeMap<u64, Arc<Conn>>>> = Arc::default();
    let mut next_id = 0u64;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of descriptors or a peer gone before accept: retry shortly, never spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        {
            let mut map = conns.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= limits.connections {
                let victim = map
                    .iter()
                    .filter(|(_, c)| c.busy.load(Relaxed) == 0)
                    .min_by_key(|(_, c)| c.idle_since.load(Relaxed))
                    .map(|(id, _)| *id);
                // Out of the registry at once, so the next accept picks another one.
                match victim.and_then(|id| map.remove(&id)) {
                    Some(v) => v.close.notify_one(),
                    None => continue, // all busy: the new one is dropped
                }
            }
        }
        let id = next_id;
        next_id += 1;
        let c = Arc::new(Conn {
            busy: 0.into(),
            idle_since: (t0.elapsed().as_millis() as u64).into(),
            close: tokio::sync::Notify::new(),
        });
        conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, c.clone());
        let (app, conns) = (app.clone(), conns.clone());
        tokio::spawn(async move {
            let cc = c.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = app.clone();
                let c = cc.clone();
                c.busy.fetch_add(1, Relaxed);
                async move {
                    let r = tower::ServiceExt::oneshot(app, req).await;
                    c.idle_since.store(t0.elapsed().as_millis() as u64, Relaxed);
                    c.busy.fetch_sub(1, Relaxed);
                    r
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_head.max(8192))
                .max_headers(64)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = c.close.notified() => {}
            }
            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }
}

//! The JSON API under `/api/v1/` (docs/api.md): the agent's status (the sections of `wasp status`), the
//! newest collection, the JVMs, their latest thread dump's analysis and histograms, the incidents, and the
//! console's buttons, which queue snapshots through the same worker, limits and budget as `wasp trigger`.
//! Every answer is built from copies of state or the snapshot files: nothing here waits on a JVM.

use super::console::percent_decode;
use super::evidence;
use crate::control::StatusProviders;
use crate::model::Latest;
use crate::snapshot::request::{Kind, Reason, Request, Select};
use crate::snapshot::worker::{Accepted, Snapshots};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the API reads.
#[derive(Clone)]
pub struct Api {
    pub latest: Latest,
    pub snapshots: Snapshots,
    pub providers: StatusProviders,
    /// The access logs' response-time points.
    pub scatter: crate::access::scatter::Scatter,
}

/// The header a console button sends with its POST: a page of another site cannot send it without a CORS
/// preflight, which this server never grants, so a loopback agent without a token is not a CSRF target.
pub const ACTION_HEADER: &str = "x-wasp-action";

/// The GET endpoints, all answered by `read` (one handler dispatching on the path costs the binary far less
/// than one generic handler per endpoint).
const READS: &[&str] = &[
    "/api/v1/status",
    "/api/v1/latest",
    "/api/v1/jvms",
    "/api/v1/jvms/{pid}",
    "/api/v1/jvms/{pid}/dump/latest",
    "/api/v1/jvms/{pid}/histograms",
    "/api/v1/incidents",
    "/api/v1/incidents/{id}",
    "/api/v1/access/scatter",
];

pub fn routes(api: Api) -> Router {
    let mut r = Router::new();
    for p in READS {
        r = r.route(p, get(read));
    }
    r.route("/api/v1/jvms/{pid}/actions/{action}", post(action))
        .with_state(api)
}

/// The path below /api/v1/, split, each part percent-decoded.
fn parts(uri: &Uri) -> Vec<String> {
    uri.path()
        .trim_start_matches("/api/v1/")
        .split('/')
        .map(|p| percent_decode(p).unwrap_or_default())
        .collect()
}

/// `a=1&b=x%2Fy` -> {a: "1", b: "x/y"}; a pair that does not decode is left out.
fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn pid_of(s: &str) -> Option<u32> {
    s.parse().ok()
}

async fn read(State(a): State<Api>, uri: Uri) -> Response {
    let p = parts(&uri);
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let bad_pid = |s: &str| err(StatusCode::BAD_REQUEST, format!("not a pid: {s:?}"));
    match p.as_slice() {
        ["status"] => status(&a),
        ["latest"] => latest(&a),
        ["jvms"] => jvms(&a),
        ["jvms", pid] => pid_of(pid).map_or_else(|| bad_pid(pid), |n| jvm(&a, n)),
        ["jvms", pid, "dump", "latest"] => match pid_of(pid) {
            Some(n) => dump_latest(&a, n).await,
            None => bad_pid(pid),
        },
        ["jvms", pid, "histograms"] => match pid_of(pid) {
            Some(n) => histograms(&a, n, query(&uri)).await,
            None => bad_pid(pid),
        },
        ["incidents"] => incidents(&a).await,
        ["incidents", id] => incident(&a, id.to_string()).await,
        ["access", "scatter"] => scatter(&a, &query(&uri)),
        _ => err(StatusCode::NOT_FOUND, "no such endpoint (docs/api.md)"),
    }
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        v.to_string(),
    )
        .into_response()
}

fn err(code: StatusCode, msg: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": msg.into()}).to_string(),
    )
        .into_response()
}

/// Snapshot files are read on a blocking thread (a slow disk must not hold the runtime), two at a time: a
/// dump can be tens of MB to parse, and a page reloaded in a loop must not parse them by the hundred.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _permit = READS.acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

fn status(a: &Api) -> Response {
    let sections: Vec<Value> = a
        .providers
        .collect()
        .into_iter()
        .map(|(k, v)| json!([k, v]))
        .collect();
    ok(json!({"sections": sections}))
}

fn newest(a: &Api) -> Option<std::sync::Arc<crate::model::LatestCollection>> {
    a.latest.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A JSON text as the answer. The model is written straight to text, as the JSON-lines output writes it:
/// serialising it into a `serde_json::Value` first would compile every model type's serialiser a second time.
fn ok_text(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn latest(a: &Api) -> Response {
    match newest(a) {
        Some(l) => ok_text(crate::present::json::to_line(&l.collection)),
        None => err(StatusCode::SERVICE_UNAVAILABLE, "no collection yet"),
    }
}

fn jvms(a: &Api) -> Response {
    let (ts, jvms) = newest(a)
        .map(|l| {
            let c = &l.collection;
            (
                c.timestamp_ms,
                serde_json::to_string(&c.jvms).unwrap_or_default(),
            )
        })
        .unwrap_or_else(|| (0, "[]".into()));
    ok_text(format!(r#"{{"timestamp_ms":{ts},"jvms":{jvms}}}"#))
}

fn jvm(a: &Api, pid: u32) -> Response {
    let Some(l) = newest(a) else {
        return err(StatusCode::SERVICE_UNAVAILABLE, "no collection yet");
    };
    match l.collection.jvms.iter().find(|j| j.pid == pid) {
        Some(j) => ok_text(format!(
            r#"{{"timestamp_ms":{},"jvm":{}}}"#,
            l.collection.timestamp_ms,
            serde_json::to_string(j).unwrap_or_default()
        )),
        None => err(
            StatusCode::NOT_FOUND,
            format!("no JVM with pid {pid} in the last collection"),
        ),
    }
}

async fn dump_latest(a: &Api, pid: u32) -> Response {
    let dir = a.snapshots.dir.clone();
    match blocking(move || evidence::latest_dump(&dir, pid))
        .await
        .flatten()
    {
        Some(v) => ok_text(v),
        None => err(
            StatusCode::NOT_FOUND,
            format!("no thread dump of pid {pid} yet (take one: wasp trigger dump --pid {pid})"),
        ),
    }
}

/// The list of histograms of a JVM with the newest one; with `a` and `b` (snapshot ids), their comparison.
async fn histograms(a: &Api, pid: u32, q: HashMap<String, String>) -> Response {
    let dir = a.snapshots.dir.clone();
    let r = blocking(move || {
        if let (Some(x), Some(y)) = (q.get("a"), q.get("b")) {
            return evidence::compare(&dir, pid, x, y).map_err(|e| (StatusCode::NOT_FOUND, e));
        }
        let list = evidence::histograms(&dir, pid);
        let shown = q.get("id").cloned().or_else(|| {
            list.first()
                .and_then(|h| h["id"].as_str().map(String::from))
        });
        let h = shown
            .as_deref()
            .and_then(|id| evidence::histogram(&dir, pid, id))
            .map(evidence::histogram_view);
        let mut v = json!({"histograms": list, "shown": shown}).to_string();
        v.pop();
        Ok(format!(
            r#"{v},"latest":{}}}"#,
            h.as_deref().unwrap_or("null")
        ))
    })
    .await;
    match r {
        Some(Ok(v)) => ok_text(v),
        Some(Err((c, e))) => err(c, e),
        None => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the histograms failed",
        ),
    }
}

/// Most points in one answer of the scatter (the store holds at most 11 minutes x the bound per app).
const SCATTER_MAX: usize = 20_000;

/// The response-time scatter's points of one app (`app=`) or all, read after `since=` (ms since the epoch),
/// at most `max=` (20,000): one array per point, oldest first.
fn scatter(a: &Api, q: &HashMap<String, String>) -> Response {
    let since = match q.get("since").map(|s| s.parse::<i64>()) {
        None => 0,
        Some(Ok(v)) => v,
        Some(Err(_)) => {
            return err(
                StatusCode::BAD_REQUEST,
                "since: milliseconds since the epoch",
            );
        }
    };
    let max = match q.get("max").map(|s| s.parse::<usize>()) {
        None => SCATTER_MAX,
        Some(Ok(v)) => v.min(SCATTER_MAX),
        Some(Err(_)) => return err(StatusCode::BAD_REQUEST, "max: a number of points"),
    };
    let now = crate::util::clock::now_ms();
    let (apps, truncated) = a
        .scatter
        .points(q.get("app").map(String::as_str), since, now, max);
    type Row = (i64, f64, u16, &'static str, String, Option<String>);
    let apps: Vec<Value> = apps
        .into_iter()
        .map(|x| {
            let points: Vec<Row> = x
                .points
                .iter()
                .map(|p| {
                    let ms = f64::from(p.duration_us) / 1000.0;
                    (p.end_ms, ms, p.status, p.method(), p.path(), p.thread())
                })
                .collect();
            json!({"app": x.app, "seen": x.seen, "sampled_out": x.sampled_out,
                   "slow_above_ms": x.threshold_us.map(|us| f64::from(us) / 1000.0), "points": points})
        })
        .collect();
    ok(json!({
        "now_ms": now,
        "window_ms": crate::access::scatter::WINDOW_MS,
        "fields": ["end_ms", "duration_ms", "status", "method", "path", "thread"],
        "truncated": truncated,
        "apps": apps,
    }))
}

async fn incidents(a: &Api) -> Response {
    let dir = a.snapshots.dir.clone();
    match blocking(move || crate::snapshot::store::list(&dir)).await {
        Some(Ok(v)) => ok_text(format!(r#"{{"incidents":{}}}"#, evidence::pretty(&v))),
        Some(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
        None => err(StatusCode::INTERNAL_SERVER_ERROR, "listing failed"),
    }
}

async fn incident(a: &Api, id: String) -> Response {
    let dir = a.snapshots.dir.clone();
    let want = id.clone();
    match blocking(move || evidence::incident(&dir, &want))
        .await
        .flatten()
    {
        Some(v) => ok_text(v),
        None => err(StatusCode::NOT_FOUND, format!("no incident {id:?}")),
    }
}

/// Queues a dump, histogram or bundle of one JVM, as `wasp trigger KIND --pid PID` does: same worker, same
/// coalescing, same hourly budget; answers at once with the request's sequence number (its outcome is in
/// `/api/v1/status`, section snapshots).
async fn action(State(a): State<Api>, uri: Uri, headers: HeaderMap) -> Response {
    let p = parts(&uri);
    let (Some(pid), Some(action)) = (p.get(1).and_then(|s| pid_of(s)), p.get(3)) else {
        return err(
            StatusCode::BAD_REQUEST,
            "POST /api/v1/jvms/PID/actions/ACTION",
        );
    };
    if !headers.contains_key(ACTION_HEADER) {
        return err(
            StatusCode::FORBIDDEN,
            format!("send the header {ACTION_HEADER}: 1 (the console does)"),
        );
    }
    let kind = match action.as_str() {
        "dump" => Kind::Dump,
        "histogram" => Kind::Histo,
        "bundle" => Kind::Bundle,
        _ => {
            return err(
                StatusCode::NOT_FOUND,
                format!("no action {action:?} (dump, histogram, bundle)"),
            );
        }
    };
    tracing::info!(
        pid,
        kind = kind.as_str(),
        "console: snapshot requested over HTTP"
    );
    match a
        .snapshots
        .submit(Request::new(kind, Select::Pid(pid), Reason::Console))
    {
        Err(r) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"ok": false, "refused": r, "error": r.to_string()}).to_string(),
        )
            .into_response(),
        Ok(acc) => {
            let into = match acc {
                Accepted::Coalesced { into, .. } => Some(into),
                Accepted::Queued(_) => None,
            };
            let seq = acc.outcome_seq();
            ok(
                json!({"ok": true, "seq": seq, "coalesced_into": into, "record": a.snapshots.record(seq)}),
            )
        }
    }
}

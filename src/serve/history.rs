//! `GET /api/v1/history?metric=NAME` — the stored series of one /metrics name, as the console draws them:
//! `{"series": [{"labels": {...}, "points": [[unix_ms, value], ...]}]}`. docs/api.md has the parameters.
//!
//! The database is opened read-only per request, on the blocking pool: a slow disk delays this answer only.

use crate::history::query::{Matcher, Query, Reader};
use crate::history::range::{parse_instant, parse_span};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Points one answer holds at most (~4 MB of JSON): more needs a `step` or matchers.
pub const MAX_POINTS: usize = 250_000;

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": msg.into() }).to_string();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The query the parameters ask for.
pub fn parse(params: &[(String, String)], now_ms: i64) -> Result<Query, String> {
    let mut q = Query {
        metric: String::new(),
        matchers: Vec::new(),
        start: now_ms - 3_600_000,
        end: now_ms,
        step_ms: None,
    };
    let (mut since, mut start) = (None, None);
    for (k, v) in params {
        match k.as_str() {
            "metric" => q.metric = v.clone(),
            "since" => since = Some(parse_span(v).map_err(|e| format!("since: {e}"))?),
            "start" => start = Some(parse_instant(v, now_ms).map_err(|e| format!("start: {e}"))?),
            "end" => q.end = parse_instant(v, now_ms).map_err(|e| format!("end: {e}"))?,
            "step" => {
                q.step_ms =
                    Some(parse_span(v).map_err(|e| format!("step: {e}"))?).filter(|s| *s > 0)
            }
            "match[]" => q.matchers.push(Matcher::parse(v)?),
            k if k.starts_with("label.") => q.matchers.push(Matcher {
                label: k["label.".len()..].to_string(),
                value: v.clone(),
                negate: false,
            }),
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    if !crate::config::units::is_name(&q.metric) {
        return Err("metric=NAME is required: a /metrics name such as node_load1".into());
    }
    q.start = match (start, since) {
        (Some(s), _) => s,
        (None, Some(d)) => q.end - d,
        (None, None) => q.start.min(q.end - 3_600_000),
    };
    if q.start > q.end {
        return Err("start is after end".into());
    }
    Ok(q)
}

/// The answer for the query string `params` over the store at `path` (None: history off).
pub async fn answer(path: Option<std::path::PathBuf>, params: Vec<(String, String)>) -> Response {
    let Some(path) = path else {
        return error(
            StatusCode::NOT_FOUND,
            "the history is off ([history] enabled = false)",
        );
    };
    let q = match parse(&params, crate::util::clock::now_ms()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let answer = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<_>> {
        Reader::open(&path)?.query(&q)
    })
    .await;
    match answer {
        Ok(Ok(series)) => {
            let points: usize = series.iter().map(|s| s.points.len()).sum();
            if points > MAX_POINTS {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "{points} points: ask for a step (step=1m) or fewer series (match[]=...)"
                    ),
                );
            }
            // Straight to text: a `serde_json::Value` of 17,280 points would hold each as a tree of its own.
            let body = format!(
                r#"{{"series":{}}}"#,
                serde_json::to_string(&series).unwrap_or_else(|_| "[]".into())
            );
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, format!("history: {e:#}")),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "history query failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &[(&str, &str)]) -> Result<Query, String> {
        let v: Vec<(String, String)> = q
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse(&v, 10_000_000)
    }

    #[test]
    fn parameters() {
        let q = p(&[("metric", "node_load1"), ("since", "10m")]).unwrap();
        assert_eq!((q.start, q.end), (10_000_000 - 600_000, 10_000_000));
        let q = p(&[
            ("metric", "node_disk_io_time_seconds_total"),
            ("match[]", r#"device="sda""#),
            ("label.mode", "idle"),
            ("start", "9000"),
            ("end", "9500"),
            ("step", "30s"),
        ])
        .unwrap();
        assert_eq!(q.matchers.len(), 2);
        assert_eq!(
            (q.start, q.end, q.step_ms),
            (9_000_000, 9_500_000, Some(30_000))
        );
        assert!(p(&[("since", "1h")]).is_err());
        assert!(p(&[("metric", "x"), ("bogus", "1")]).is_err());
        assert!(p(&[("metric", "x"), ("start", "9500"), ("end", "9000")]).is_err());
    }
}

//! What an answer from a backend means: done, retry later (counting toward the attempt limit or not), or
//! refused for good. Shared by the delivery loop and the backends that have rules of their own.

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
/// (OTLP, Elasticsearch) override `Backend::classify` (ship::sinks).
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
}

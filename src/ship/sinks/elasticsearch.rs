//! Elasticsearch / OpenSearch `_bulk`: a `create` action with a deterministic `_id` and the document as its source,
//! so a replayed batch answers 409 per item ("already there") instead of storing duplicates.
//!
//! The index is named by a pattern with the document's UTC date: `%Y` `%m` `%d` `%H` `%%`, and `{kind}` for the
//! document kind (thread dumps, histograms and events have different shapes, so separate indices keep their
//! mappings from conflicting).

use super::Backend;
use crate::model::Document;
use crate::ship::answer::{Outcome, excerpt};
use crate::ship::config::{SinkConfig, SinkError};
use crate::ship::encode::{Batch, Encoded, Origin, gzip as gz, jsonl::document_json};
use std::fmt::Write;

/// `type = "elasticsearch"`: documents only.
pub(crate) struct Elasticsearch {
    pub(crate) index: String,
    pub(crate) gzip: bool,
}

impl Backend for Elasticsearch {
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        crate::ship::encode::join(bodies, self.gzip)
    }

    fn takes_metrics(&self) -> bool {
        false
    }

    fn takes_documents(&self) -> bool {
        true
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        encode(batch, origin, &self.index, self.gzip)
    }

    fn headers(&self) -> Vec<(reqwest::header::HeaderName, &'static str)> {
        let mut h = vec![(reqwest::header::CONTENT_TYPE, "application/x-ndjson")];
        h.extend(super::gzip_header(self.gzip));
        h
    }

    fn classify(&self, status: u16, body: &[u8], after: Option<std::time::Duration>) -> Outcome {
        if !(200..=299).contains(&status) {
            return crate::ship::answer::classify_http(status, body, after);
        }
        let o = match parse_response(body) {
            Ok(o) => o,
            Err(e) => {
                return Outcome::Refused {
                    status,
                    why: format!("{e}: {}", excerpt(body)),
                };
            }
        };
        if !o.retry.is_empty() {
            // Items the cluster was too busy for: resend the whole request; `create` with a stable _id turns
            // the items already stored into 409s, which count as done.
            Outcome::Retry {
                status: 429,
                counts: false,
                after,
                why: format!("{} bulk items rejected with 429", o.retry.len()),
            }
        } else {
            if let Some((s, r)) = o.rejected.first() {
                tracing::warn!(status = s, reason = %r, rejected = o.rejected.len(), "bulk items refused");
            }
            Outcome::Done {
                status,
                rejected: o.rejected.len() as u64,
            }
        }
    }

    fn check(&self, cfg: &SinkConfig) -> Result<(), SinkError> {
        check_index_pattern(&cfg.index).map_err(|message| SinkError {
            key: &["index"],
            message,
        })
    }
}

/// The `_bulk` body of the batch's documents (collections are not sent here). `items` counts documents.
pub fn encode(batch: &Batch, origin: &Origin, index: &str, gzip: bool) -> Encoded {
    let mut out = String::with_capacity(16 * 1024);
    let (mut items, mut skipped) = (0u64, 0u64);
    let mut range: Option<(i64, i64)> = None;
    for d in &batch.documents {
        let ts = iso8601(d.timestamp_ms);
        let Some(source) = document_json(d, origin, Some(&ts)) else {
            skipped += 1;
            continue;
        };
        out.push_str("{\"create\":{\"_index\":");
        out.push_str(&serde_json::to_string(&index_name(index, d)).unwrap_or_default());
        let _ = writeln!(out, ",\"_id\":\"{}\"}}}}", doc_id(&origin.hostname, d));
        out.push_str(&source);
        out.push('\n');
        items += 1;
        let t = d.timestamp_ms;
        range = Some(range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
    }
    let (min_ts_ms, max_ts_ms) = range.unwrap_or((0, 0));
    Encoded {
        body: if gzip {
            gz(out.as_bytes())
        } else {
            out.into_bytes()
        },
        items,
        min_ts_ms,
        max_ts_ms,
        skipped,
    }
}

/// The index for `d`: the pattern with its UTC date and kind filled in.
pub fn index_name(pattern: &str, d: &Document) -> String {
    let c = crate::util::clock::civil_utc(d.timestamp_ms);
    let (y, mo, da, h) = (c.year, c.month, c.day, c.hour);
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("{kind}") {
            for c in d.kind.chars() {
                out.push(if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                });
            }
            rest = r;
            continue;
        }
        if c == '%' {
            let mut it = rest[1..].chars();
            let done = match it.next() {
                Some('Y') => write!(out, "{y:04}").is_ok(),
                Some('m') => write!(out, "{mo:02}").is_ok(),
                Some('d') => write!(out, "{da:02}").is_ok(),
                Some('H') => write!(out, "{h:02}").is_ok(),
                Some('%') => {
                    out.push('%');
                    true
                }
                _ => false,
            };
            if done {
                rest = &rest[2..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Checks an index pattern against Elasticsearch's index-name rules (for the configuration, before any send).
pub fn check_index_pattern(pattern: &str) -> Result<(), String> {
    let sample = Document {
        kind: "event".into(),
        timestamp_ms: 0,
        labels: Default::default(),
        body: serde_json::Value::Null,
    };
    let name = index_name(pattern, &sample);
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("index {pattern:?} is empty or a dot"));
    }
    if name.len() > 255 {
        return Err(format!("index {pattern:?} is longer than 255 bytes"));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!("index {pattern:?} starts with -, _ or +"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_uppercase() || r#"\/*?"<>| ,#:"#.contains(*c))
    {
        return Err(format!(
            "index {pattern:?} contains {c:?} (lowercase, no \\ / * ? \" < > | space , # :)"
        ));
    }
    Ok(())
}

/// A 128-bit FNV-1a of host, kind, time, labels and body, as 32 hex digits: the same document always gets the
/// same `_id`, on every replay and every agent version.
pub fn doc_id(host: &str, d: &Document) -> String {
    let mut h = Fnv128::new();
    h.field(host.as_bytes());
    h.field(d.kind.as_bytes());
    h.field(&d.timestamp_ms.to_le_bytes());
    for (k, v) in &d.labels {
        h.field(k.as_bytes());
        h.field(v.as_bytes());
    }
    // serde_json's Value keeps object keys sorted, so the body's text is canonical.
    h.field(d.body.to_string().as_bytes());
    format!("{:032x}", h.0)
}

struct Fnv128(u128);

impl Fnv128 {
    fn new() -> Self {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }

    /// A length prefix keeps ("ab", "c") and ("a", "bc") apart.
    fn field(&mut self, bytes: &[u8]) {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= *b as u128;
            self.0 = self
                .0
                .wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
    }
}

/// `2026-11-24T18:56:56.123Z`.
pub fn iso8601(ms: i64) -> String {
    crate::util::clock::utc(ms)
}

/// What a `_bulk` answer (HTTP 200) says about each item.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BulkOutcome {
    /// Stored (200, 201).
    pub ok: u64,
    /// 409 on `create`: the same `_id` is already there, from an earlier send of this batch. Success.
    pub conflicts: u64,
    /// Positions (0-based, in request order) of the items answered 429: resend just these (see [`select`]).
    pub retry: Vec<usize>,
    /// Every other failure: (status, "type: reason" cut to 300 bytes). Not retried.
    pub rejected: Vec<(u16, String)>,
}

/// Reads a `_bulk` response body. Err when it is not a bulk answer at all.
pub fn parse_response(body: &[u8]) -> Result<BulkOutcome, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("bulk response is not JSON: {e}"))?;
    let items = v
        .get("items")
        .and_then(|i| i.as_array())
        .ok_or("bulk response without items")?;
    let mut out = BulkOutcome::default();
    for (i, item) in items.iter().enumerate() {
        // Each item is {"<action>": {...}}.
        let r = item
            .as_object()
            .and_then(|o| o.values().next())
            .ok_or_else(|| format!("bulk item {i} is not an object"))?;
        let status = r.get("status").and_then(|s| s.as_u64()).unwrap_or(0) as u16;
        match status {
            200..=299 => out.ok += 1,
            409 => out.conflicts += 1,
            429 => out.retry.push(i),
            _ => {
                let e = r.get("error");
                let text = |k: &str| {
                    e.and_then(|e| e.get(k))
                        .and_then(|t| t.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                let mut reason = match e {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    _ => format!("{}: {}", text("type"), text("reason")),
                };
                if reason.len() > 300 {
                    let mut cut = 300;
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    reason.truncate(cut);
                }
                out.rejected.push((status, reason));
            }
        }
    }
    Ok(out)
}

/// The items at `positions` of a body made by [`encode`] (gzip or not, kept as it was): the request that
/// resends what a bulk answer asked to retry.
pub fn select(body: &[u8], gzip: bool, positions: &[usize]) -> Result<Vec<u8>, String> {
    let plain;
    let text: &[u8] = if gzip {
        use std::io::Read;
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut v)
            .map_err(|e| format!("gzip: {e}"))?;
        plain = v;
        &plain
    } else {
        body
    };
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    for &p in positions {
        let (Some(action), Some(source)) = (lines.get(2 * p), lines.get(2 * p + 1)) else {
            return Err(format!("no bulk item {p}"));
        };
        out.extend_from_slice(action);
        out.push(b'\n');
        out.extend_from_slice(source);
        out.push(b'\n');
    }
    Ok(if gzip { gz(&out) } else { out })
}

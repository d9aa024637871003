//! NDJSON: one line per collection (the model as JSON, exactly as the local file output has always written it) and
//! one per document (the document plus `"host"`). The `file` sink (plain) and `http_json` (often gzip) send it.

use super::{Batch, Encoded, Origin, gzip as gz};
use crate::model::Document;

/// Collections first, in batch order, then documents. `items` counts lines.
pub fn encode(batch: &Batch, origin: &Origin, gzip: bool) -> Encoded {
    let mut out = String::with_capacity(64 * 1024);
    let (mut items, mut skipped) = (0u64, 0u64);
    let mut range: Option<(i64, i64)> = None;
    let mut seen = |t: i64| {
        range = Some(range.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
    };
    for m in &batch.metrics {
        // The model holds only strings, numbers and string-keyed maps: serde_json cannot fail on it, but a
        // failure would be counted rather than written as a broken line.
        match serde_json::to_string(&*m.collection) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                items += 1;
                seen(m.collection.timestamp_ms);
            }
            Err(_) => skipped += 1,
        }
    }
    for d in &batch.documents {
        match document_json(d, origin, None) {
            Some(line) => {
                out.push_str(&line);
                out.push('\n');
                items += 1;
                seen(d.timestamp_ms);
            }
            None => skipped += 1,
        }
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

/// A document as one JSON object with `"host"` (and `"@timestamp"` when given) added after its own fields.
pub(crate) fn document_json(
    d: &Document,
    origin: &Origin,
    timestamp: Option<&str>,
) -> Option<String> {
    let mut s = serde_json::to_string(d).ok()?;
    // A struct always serialises as an object; splice the extra fields in before its closing brace.
    if !s.ends_with('}') {
        return None;
    }
    s.pop();
    s.push_str(",\"host\":");
    s.push_str(&serde_json::to_string(&origin.hostname).ok()?);
    // The agent's own labels (env, role...), so documents can be filtered like the metrics.
    if !origin.labels.is_empty() {
        let labels: serde_json::Map<String, serde_json::Value> = origin
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        s.push_str(",\"agent_labels\":");
        s.push_str(&serde_json::to_string(&labels).ok()?);
    }
    if let Some(t) = timestamp {
        s.push_str(",\"@timestamp\":");
        s.push_str(&serde_json::to_string(t).ok()?);
    }
    s.push('}');
    Some(s)
}

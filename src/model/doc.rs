//! Documents: things that are not time series (thread-dump analyses, histograms, incident reports, events).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    /// "thread_dump", "class_histogram", "incident", "event", ...
    pub kind: String,
    pub timestamp_ms: i64,
    /// What the document is about: host, pid, app, rule...
    pub labels: BTreeMap<String, String>,
    pub body: serde_json::Value,
}

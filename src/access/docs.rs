//! The slowest and most failing URL templates of each minute, as documents for the sinks: one per log and
//! minute, sent once the minute has closed, at most MAX_PER_COLLECTION per collection (the rest at the next
//! ones): never a flood, whatever the number of logs.

use crate::model::Document;
use crate::model::access::AccessTop;
use std::collections::{BTreeMap, HashMap};

/// Documents at most per collection.
pub const MAX_PER_COLLECTION: usize = 50;

/// Which minute of each log was sent last.
#[derive(Default)]
pub struct TopDocuments {
    sent: HashMap<(String, String, String), i64>,
}

impl TopDocuments {
    /// Documents for the minutes closed since the previous call.
    pub fn fresh(&mut self, tops: &[AccessTop]) -> Vec<Document> {
        let mut out = Vec::new();
        let mut next = HashMap::with_capacity(tops.len());
        for t in tops {
            let key = (t.app.clone(), t.instance.clone(), t.log.clone());
            let Some(minute) = t.top.get("minute_ms").and_then(|m| m.as_i64()) else {
                continue;
            };
            let last = self.sent.get(&key).copied();
            if last.is_some_and(|l| l >= minute) || out.len() >= MAX_PER_COLLECTION {
                // Not sent yet when over the cap: the next collection's turn.
                if let Some(l) = last {
                    next.insert(key, l);
                }
                continue;
            }
            out.push(document(t, minute));
            next.insert(key, minute);
        }
        // Only the logs there are now: the map stays as small as the list.
        self.sent = next;
        out
    }
}

fn document(t: &AccessTop, minute: i64) -> Document {
    // The host is added by every document sink, as to the events.
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), t.app.clone());
    labels.insert("log".to_string(), t.log.clone());
    if !t.instance.is_empty() {
        labels.insert("pid".to_string(), t.instance.clone());
    }
    let mut body = t.top.clone();
    if let Some(o) = body.as_object_mut() {
        // Only the minute's own: the incident view keeps several minutes, and each goes out once.
        let own = |s: &&serde_json::Value| {
            s.get("timestamp_ms")
                .and_then(|t| t.as_i64())
                .is_some_and(|t| (minute..minute + 60_000).contains(&t))
        };
        let slow: Vec<serde_json::Value> = t
            .slow
            .as_array()
            .map(|a| a.iter().filter(own).cloned().collect())
            .unwrap_or_default();
        o.insert("slow_requests".into(), slow.into());
    }
    Document {
        kind: "access_top".into(),
        timestamp_ms: minute,
        labels,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(log: &str, minute: i64) -> AccessTop {
        AccessTop {
            app: "shop".into(),
            instance: String::new(),
            log: log.into(),
            top: serde_json::json!({"minute_ms": minute, "templates": 1,
                "slowest": [{"template": "/orders/{n}", "count": 3, "errors": 1}], "failing": []}),
            // This minute's, an earlier minute's and the current (not closed) minute's.
            slow: serde_json::json!([
                {"timestamp_ms": minute - 1, "template": "/before", "duration_ms": 9000.0},
                {"timestamp_ms": minute + 59_999, "template": "/orders/{n}", "duration_ms": 2300.0,
                    "thread": "http-nio-8080-exec-7"},
                {"timestamp_ms": minute + 60_000, "template": "/after", "duration_ms": 5000.0}]),
        }
    }

    #[test]
    fn once_per_minute_and_capped() {
        let mut d = TopDocuments::default();
        let docs = d.fresh(&[top("a", 60_000)]);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].kind, "access_top");
        assert_eq!(docs[0].timestamp_ms, 60_000);
        assert_eq!(docs[0].labels["log"], "a");
        assert_eq!(
            docs[0].body["slow_requests"][0]["thread"],
            "http-nio-8080-exec-7"
        );
        // Only the minute's own slow requests: each goes out in one document.
        assert_eq!(docs[0].body["slow_requests"].as_array().unwrap().len(), 1);
        // The same minute again: nothing; the next one: sent.
        assert!(d.fresh(&[top("a", 60_000)]).is_empty());
        assert_eq!(d.fresh(&[top("a", 120_000)]).len(), 1);
        // Many logs: at most the cap now, the rest at the next collection, none twice.
        let many: Vec<AccessTop> = (0..MAX_PER_COLLECTION + 7)
            .map(|i| top(&format!("l{i}"), 60_000))
            .collect();
        assert_eq!(d.fresh(&many).len(), MAX_PER_COLLECTION);
        assert_eq!(d.fresh(&many).len(), 7);
        assert!(d.fresh(&many).is_empty());
    }
}

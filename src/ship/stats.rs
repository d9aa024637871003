//! Per-sink figures: what was queued, sent, retried, set aside and dropped, the spool and the send latency. Plain
//! atomics, so the collection loop and `wasp status` read them without a lock.

use super::spool::SpoolStats;
use crate::model::MetricSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SinkStats {
    /// Collections/documents waiting for the batcher.
    pub queued: AtomicU64,
    pub dropped_queue_items: AtomicU64,
    pub dropped_queue_samples: AtomicU64,
    /// Batches encoded and spooled.
    pub batches: AtomicU64,
    pub encode_errors: AtomicU64,
    /// Samples an encoder left out (NaN/Inf for Influx, a repeated timestamp in one series).
    pub skipped_items: AtomicU64,
    pub sent_batches: AtomicU64,
    pub sent_items: AtomicU64,
    pub sent_bytes: AtomicU64,
    /// Failed send attempts that will be retried.
    pub retries: AtomicU64,
    /// Batches the backend refused for good (4xx, or the attempt limit), set aside under `rejected/`.
    pub failed_batches: AtomicU64,
    pub failed_items: AtomicU64,
    pub failed_bytes: AtomicU64,
    /// Items the backend refused inside an accepted request (OTLP partial success, bulk item errors).
    pub rejected_items: AtomicU64,
    pub send_micros: AtomicU64,
    pub sends: AtomicU64,
    pub last_status: AtomicU64,
    pub last_success_ms: AtomicU64,
    /// 0 while healthy, else when the current run of failures began.
    pub failing_since_ms: AtomicU64,
}

/// One sink's figures, as `wasp status` and the metrics show them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SinkStatus {
    pub name: String,
    pub kind: String,
    pub queued: u64,
    pub sent_batches: u64,
    pub sent_items: u64,
    pub sent_bytes: u64,
    pub retries: u64,
    pub failed_batches: u64,
    pub dropped_items: u64,
    pub spool_bytes: u64,
    pub spool_batches: u64,
    pub oldest_unsent_age_s: f64,
    pub last_status: u64,
    pub failing_for_s: f64,
}

#[derive(Clone)]
pub struct SinkFigures {
    pub name: String,
    pub kind: &'static str,
    pub stats: Arc<SinkStats>,
    pub spool: Option<Arc<SpoolStats>>,
}

fn g(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

impl SinkFigures {
    pub fn status(&self, now_ms: i64) -> SinkStatus {
        let s = &self.stats;
        let sp = self.spool.as_deref();
        let oldest = sp.map_or(0, |x| x.oldest_ms.load(Ordering::Relaxed));
        let failing = s.failing_since_ms.load(Ordering::Relaxed);
        let dropped = s.dropped_queue_items.load(Ordering::Relaxed)
            + sp.map_or(0, |x| {
                x.dropped_full_records.load(Ordering::Relaxed)
                    + x.dropped_age_records.load(Ordering::Relaxed)
            });
        SinkStatus {
            name: self.name.clone(),
            kind: self.kind.into(),
            queued: s.queued.load(Ordering::Relaxed),
            sent_batches: s.sent_batches.load(Ordering::Relaxed),
            sent_items: s.sent_items.load(Ordering::Relaxed),
            sent_bytes: s.sent_bytes.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            failed_batches: s.failed_batches.load(Ordering::Relaxed),
            dropped_items: dropped,
            spool_bytes: sp.map_or(0, |x| x.bytes.load(Ordering::Relaxed)),
            spool_batches: sp.map_or(0, |x| x.records.load(Ordering::Relaxed)),
            oldest_unsent_age_s: if oldest == 0 {
                0.0
            } else {
                (now_ms - oldest as i64).max(0) as f64 / 1000.0
            },
            last_status: s.last_status.load(Ordering::Relaxed),
            failing_for_s: if failing == 0 {
                0.0
            } else {
                (now_ms - failing as i64).max(0) as f64 / 1000.0
            },
        }
    }

    /// The sink's `wasp_sink_*` and `wasp_spool_*` samples.
    pub fn add_metrics(&self, m: &mut MetricSet, now_ms: i64) {
        let s = &self.stats;
        let id = || vec![("sink", self.name.clone()), ("type", self.kind.to_string())];
        let with = |k: &'static str, v: &'static str| {
            let mut l = id();
            l.push((k, v.to_string()));
            l
        };
        m.gauge(
            "wasp_sink_queue_items",
            "Collections and documents waiting for the sink's batcher.",
        )
        .push(id(), g(&s.queued));
        m.counter(
            "wasp_sink_batches_total",
            "Batches encoded and written to the sink's spool.",
        )
        .push(id(), g(&s.batches));
        m.counter(
            "wasp_sink_sent_batches_total",
            "Batches the backend accepted.",
        )
        .push(id(), g(&s.sent_batches));
        m.counter(
            "wasp_sink_sent_items_total",
            "Samples (metric sinks) or documents (document sinks) the backend accepted.",
        )
        .push(id(), g(&s.sent_items));
        m.counter(
            "wasp_sink_sent_bytes_total",
            "Request body bytes the backend accepted.",
        )
        .push(id(), g(&s.sent_bytes));
        m.counter(
            "wasp_sink_retries_total",
            "Send attempts that failed and will be retried.",
        )
        .push(id(), g(&s.retries));
        m.counter(
            "wasp_sink_failed_batches_total",
            "Batches refused for good (4xx or the attempt limit), set aside under the spool's rejected/.",
        )
        .push(id(), g(&s.failed_batches));
        m.counter(
            "wasp_sink_failed_items_total",
            "Samples or documents in batches refused for good.",
        )
        .push(id(), g(&s.failed_items));
        m.counter(
            "wasp_sink_rejected_items_total",
            "Items refused inside an accepted request (OTLP partial success, bulk item errors).",
        )
        .push(id(), g(&s.rejected_items));
        m.counter(
            "wasp_sink_encode_errors_total",
            "Batches that could not be encoded or spooled.",
        )
        .push(id(), g(&s.encode_errors));
        m.counter(
            "wasp_sink_send_seconds_total",
            "Time spent in send requests.",
        )
        .push(id(), g(&s.send_micros) / 1e6);
        m.counter(
            "wasp_sink_sends_total",
            "Send requests made (successful or not).",
        )
        .push(id(), g(&s.sends));
        m.gauge(
            "wasp_sink_last_http_status",
            "HTTP status of the last answer (0: no answer).",
        )
        .push(id(), g(&s.last_status));
        let failing = s.failing_since_ms.load(Ordering::Relaxed);
        m.gauge(
            "wasp_sink_failing_seconds",
            "How long the sink has been failing (0 when healthy).",
        )
        .push(
            id(),
            if failing == 0 {
                0.0
            } else {
                (now_ms - failing as i64).max(0) as f64 / 1000.0
            },
        );
        let dropped = m.counter(
            "wasp_sink_dropped_items_total",
            "Samples or documents dropped before delivery, by reason (queue full, spool full, too old).",
        );
        dropped.push(with("reason", "queue_full"), g(&s.dropped_queue_samples));
        if let Some(sp) = &self.spool {
            dropped.push(with("reason", "spool_full"), g(&sp.dropped_full_items));
            dropped.push(with("reason", "age"), g(&sp.dropped_age_items));
            let dbt = m.counter(
                "wasp_sink_dropped_batches_total",
                "Spooled batches dropped before delivery, by reason.",
            );
            dbt.push(with("reason", "spool_full"), g(&sp.dropped_full_records));
            dbt.push(with("reason", "age"), g(&sp.dropped_age_records));
            let db = m.counter(
                "wasp_sink_dropped_bytes_total",
                "Spooled bytes dropped before delivery, by reason.",
            );
            db.push(with("reason", "spool_full"), g(&sp.dropped_full_bytes));
            db.push(with("reason", "age"), g(&sp.dropped_age_bytes));
            m.gauge("wasp_spool_bytes", "Bytes in the sink's on-disk spool.")
                .push(id(), g(&sp.bytes));
            m.gauge("wasp_spool_batches", "Unsent batches in the sink's spool.")
                .push(id(), g(&sp.records));
            let oldest = sp.oldest_ms.load(Ordering::Relaxed);
            m.gauge(
                "wasp_spool_oldest_age_seconds",
                "Age of the oldest unsent batch (0 when none).",
            )
            .push(
                id(),
                if oldest == 0 {
                    0.0
                } else {
                    (now_ms - oldest as i64).max(0) as f64 / 1000.0
                },
            );
            m.counter(
                "wasp_spool_corrupt_records_total",
                "Damaged spool records found on start (cut off and counted, never replayed).",
            )
            .push(id(), g(&sp.corrupt_records));
        }
    }
}

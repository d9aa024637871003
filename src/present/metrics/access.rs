//! Requests from access logs: counts by status class and method, a latency histogram, bytes, unmatched lines.
//! One series set per log of each app (instance); never a series per URL.
//!
//! The latency is a histogram family: `_bucket` with `le`, `_sum` and `_count` in the exposition and remote
//! write, a Histogram data point in OTLP.

use crate::model::access::{AppRequests, METHODS, STATUS_CLASSES};
use crate::model::{Collection, MetricSet};

type Labels = Vec<(&'static str, String)>;

fn labels(a: &AppRequests) -> Labels {
    let mut l = vec![("app", a.app.clone())];
    if !a.instance.is_empty() {
        // `pid`, as the JVM series have it (joins work); `instance` is the scrape target's label in Prometheus.
        l.push(("pid", a.instance.clone()));
    }
    l.push(("log", a.log.clone()));
    l
}

fn with(mut l: Labels, more: impl IntoIterator<Item = (&'static str, String)>) -> Labels {
    l.extend(more);
    l
}

pub fn add(c: &Collection, m: &mut MetricSet) {
    for s in &c.access_scatter {
        let l = vec![("app", s.app.clone())];
        m.counter(
            "wasp_access_scatter_sampled_out_total",
            "Requests the console's response-time scatter did not keep (its bound per app and minute).",
        )
        .push(l.clone(), s.sampled_out as f64);
        m.gauge(
            "wasp_access_scatter_points",
            "Requests the response-time scatter holds (the last 10 minutes, sampled).",
        )
        .push(l, s.points as f64);
    }
    for a in &c.access {
        let base = labels(a);
        let f = m.counter(
            "wasp_http_requests_total",
            "Requests an access log recorded since wasp began following it, by status class and method.",
        );
        for (ci, row) in a.requests.iter().enumerate() {
            for (mi, &n) in row.iter().enumerate() {
                if n > 0 {
                    f.push(
                        with(
                            base.clone(),
                            [
                                ("status_class", STATUS_CLASSES[ci].to_string()),
                                ("method", METHODS[mi].to_string()),
                            ],
                        ),
                        n as f64,
                    );
                }
            }
        }
        if let Some(h) = &a.duration {
            let mut cum = 0u64;
            let buckets: Vec<(f64, f64)> = h
                .counts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cum += c;
                    (
                        h.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                        cum as f64,
                    )
                })
                .collect();
            m.histogram(
                "wasp_http_request_duration_seconds",
                "Requests by the time they took, as the access log gives it (seconds).",
            )
            .observe_buckets(base.clone(), &buckets, h.sum_seconds);
        }
        m.counter(
            "wasp_http_response_bytes_total",
            "Response body bytes the access log recorded.",
        )
        .push(base.clone(), a.bytes as f64);
        m.counter(
            "wasp_access_log_lines_total",
            "Lines read from the access log (requests, directives and unmatched).",
        )
        .push(base.clone(), a.lines as f64);
        m.counter(
            "wasp_access_log_unmatched_lines_total",
            "Access-log lines that did not fit the log's format (or were longer than 64 KiB).",
        )
        .push(base.clone(), a.unmatched as f64);
        m.gauge(
            "wasp_access_log_files",
            "Files of the access log being followed.",
        )
        .push(base, a.files as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::Histogram;

    #[test]
    fn exposition() {
        let mut a = AppRequests {
            app: "shop".into(),
            log: "localhost_access_log".into(),
            duration: Some(Histogram::new(vec![0.1, 1.0])),
            bytes: 30,
            ..Default::default()
        };
        a.requests[1][0] = 3;
        a.requests[4][1] = 1;
        for s in [0.05, 0.5, 0.5, 2.0] {
            a.duration.as_mut().unwrap().observe(s);
        }
        let c = Collection {
            access: vec![a],
            access_scatter: vec![crate::model::access::ScatterCount {
                app: "shop".into(),
                points: 600,
                seen: 1000,
                sampled_out: 400,
            }],
            ..Default::default()
        };
        let mut m = MetricSet::new(0);
        add(&c, &mut m);
        let mut out = String::new();
        crate::present::prom::render(&m, &[], &mut out);
        for want in [
            "wasp_http_requests_total{app=\"shop\",log=\"localhost_access_log\",status_class=\"2xx\",method=\"GET\"} 3\n",
            "wasp_http_requests_total{app=\"shop\",log=\"localhost_access_log\",status_class=\"5xx\",method=\"POST\"} 1\n",
            "wasp_http_request_duration_seconds_bucket{app=\"shop\",log=\"localhost_access_log\",le=\"0.1\"} 1\n",
            "wasp_http_request_duration_seconds_bucket{app=\"shop\",log=\"localhost_access_log\",le=\"1\"} 3\n",
            "wasp_http_request_duration_seconds_bucket{app=\"shop\",log=\"localhost_access_log\",le=\"+Inf\"} 4\n",
            "wasp_http_request_duration_seconds_count{app=\"shop\",log=\"localhost_access_log\"} 4\n",
            "wasp_http_request_duration_seconds_sum{app=\"shop\",log=\"localhost_access_log\"} 3.05\n",
            "# TYPE wasp_http_request_duration_seconds histogram\n",
            "wasp_http_response_bytes_total{app=\"shop\",log=\"localhost_access_log\"} 30\n",
            "wasp_access_scatter_sampled_out_total{app=\"shop\"} 400\n",
            "wasp_access_scatter_points{app=\"shop\"} 600\n",
        ] {
            assert!(out.contains(want), "{want} not in\n{out}");
        }
    }
}

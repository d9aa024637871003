//! OTLP/HTTP metrics in protobuf: an `ExportMetricsServiceRequest` with one resource for the host and one per JVM.
//!
//! JVM samples (families `jvm_*`, `wasp_jvm_*` and `process_*` with a `pid` label) go to the JVM's resource: `process.pid`,
//! `service.name` = its `app` label (or "jvm"), `host.name`; `pid` and `app` are then not repeated on the points.
//! Counters are cumulative monotonic sums starting at the host's boot (host series) or the JVM's start (JVM
//! series); gauges are gauges. Names are wasp's Prometheus names, unchanged, so the same query works on every
//! backend. Only the ~12 messages needed are declared here; field numbers follow opentelemetry-proto (the tests
//! decode with the official generated types).

use super::Backend;
use crate::model::metric::Str;
use crate::model::{Family, MetricKind};
use crate::ship::answer::Outcome;
use crate::ship::encode::{Batch, Encoded, FastMap, Given, Origin, gzip as gz, metrics_range};
use prost::Message;
use std::collections::HashMap;

/// `type = "otlp_http"`.
pub(crate) struct Otlp {
    pub(crate) gzip: bool,
}

impl Backend for Otlp {
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        crate::ship::encode::join(bodies, self.gzip)
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        encode(batch, origin, self.gzip)
    }

    fn headers(&self) -> Vec<(reqwest::header::HeaderName, &'static str)> {
        let mut h = vec![(reqwest::header::CONTENT_TYPE, "application/x-protobuf")];
        h.extend(super::gzip_header(self.gzip));
        h
    }

    fn classify(&self, status: u16, body: &[u8], after: Option<std::time::Duration>) -> Outcome {
        match status {
            // A 200 may carry a partial success: the rejected points are counted, never retried.
            200..=299 => Outcome::Done {
                status,
                rejected: parse_response(body).unwrap_or(0),
            },
            // OTLP/HTTP: only these are retryable; everything else is refused for good.
            429 | 502 | 503 | 504 => Outcome::Retry {
                status,
                counts: false,
                after,
                why: crate::ship::answer::why(status, body),
            },
            _ => Outcome::Refused {
                status,
                why: crate::ship::answer::why(status, body),
            },
        }
    }
}

/// The OTLP messages wasp sends and the response it reads (opentelemetry-proto v1).
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_metrics: Vec<ResourceMetrics>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceResponse {
        #[prost(message, optional, tag = "1")]
        pub partial_success: Option<ExportMetricsPartialSuccess>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsPartialSuccess {
        #[prost(int64, tag = "1")]
        pub rejected_data_points: i64,
        #[prost(string, tag = "2")]
        pub error_message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceMetrics {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_metrics: Vec<ScopeMetrics>,
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "2")]
        pub dropped_attributes_count: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeMetrics {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub metrics: Vec<Metric>,
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 3, 4")]
        pub value: Option<any_value::Value>,
    }

    pub mod any_value {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub description: String,
        #[prost(string, tag = "3")]
        pub unit: String,
        #[prost(oneof = "metric::Data", tags = "5, 7, 9, 11")]
        pub data: Option<metric::Data>,
    }

    pub mod metric {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Data {
            #[prost(message, tag = "5")]
            Gauge(super::Gauge),
            #[prost(message, tag = "7")]
            Sum(super::Sum),
            #[prost(message, tag = "9")]
            Histogram(super::Histogram),
            #[prost(message, tag = "11")]
            Summary(super::Summary),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sum {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
        /// 1 = DELTA, 2 = CUMULATIVE.
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
        #[prost(bool, tag = "3")]
        pub is_monotonic: bool,
    }

    pub const CUMULATIVE: i32 = 2;

    /// Cumulative by definition; wasp's summaries have no quantiles (client_java's GC summary has none either).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<SummaryDataPoint>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SummaryDataPoint {
        #[prost(message, repeated, tag = "7")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(fixed64, tag = "4")]
        pub count: u64,
        #[prost(double, tag = "5")]
        pub sum: f64,
        #[prost(uint32, tag = "8")]
        pub flags: u32,
    }

    /// Explicit buckets, cumulative temporality (the access logs' latency).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<HistogramDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HistogramDataPoint {
        #[prost(message, repeated, tag = "9")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(fixed64, tag = "4")]
        pub count: u64,
        #[prost(double, optional, tag = "5")]
        pub sum: Option<f64>,
        /// Per bucket (not cumulative), one more than the bounds.
        #[prost(fixed64, repeated, tag = "6")]
        pub bucket_counts: Vec<u64>,
        #[prost(double, repeated, tag = "7")]
        pub explicit_bounds: Vec<f64>,
        #[prost(uint32, tag = "10")]
        pub flags: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NumberDataPoint {
        #[prost(message, repeated, tag = "7")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(uint32, tag = "8")]
        pub flags: u32,
        #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
        pub value: Option<number_data_point::Value>,
    }

    pub mod number_data_point {
        #[derive(Clone, Copy, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(double, tag = "4")]
            AsDouble(f64),
            #[prost(sfixed64, tag = "6")]
            AsInt(i64),
        }
    }

    pub fn string(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.to_string())),
            }),
        }
    }

    pub fn int(key: &str, v: i64) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(v)),
            }),
        }
    }
}

use proto::*;

/// The body for `POST <base>/v1/metrics` (`Content-Type: application/x-protobuf`, `Content-Encoding: gzip` when
/// `gzip`). `items` counts data points.
pub fn encode(batch: &Batch, origin: &Origin, gzip: bool) -> Encoded {
    let req = request(batch, origin);
    let items = req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len() as u64,
            Some(metric::Data::Sum(s)) => s.data_points.len() as u64,
            Some(metric::Data::Summary(s)) => s.data_points.len() as u64,
            Some(metric::Data::Histogram(h)) => h.data_points.len() as u64,
            None => 0,
        })
        .sum();
    let raw = req.encode_to_vec();
    let (min_ts_ms, max_ts_ms) = metrics_range(batch);
    Encoded {
        body: if gzip { gz(&raw) } else { raw },
        items,
        min_ts_ms,
        max_ts_ms,
        skipped: 0,
    }
}

/// A JVM's series: jvm_*, wasp_jvm_*, and process_* (wasp exports that family only for JVMs, as client_java).
fn is_jvm_family(name: &str) -> bool {
    name.starts_with("jvm_") || name.starts_with("wasp_jvm_") || name.starts_with("process_")
}

fn nanos_from_ms(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

/// A resource being filled: its metrics by family name.
struct Res {
    attributes: Vec<KeyValue>,
    metrics: Vec<Metric>,
    index: HashMap<String, usize>,
}

impl Res {
    fn new(attributes: Vec<KeyValue>) -> Res {
        Res {
            attributes,
            metrics: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The position of the metric `name` in this resource, created on first use with the family's kind.
    fn metric(&mut self, name: &str, help: &str, kind: MetricKind) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let data = match kind {
            MetricKind::Gauge | MetricKind::Untyped => metric::Data::Gauge(Gauge::default()),
            MetricKind::Counter => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: CUMULATIVE,
                is_monotonic: true,
            }),
            MetricKind::Summary => metric::Data::Summary(Summary::default()),
            MetricKind::Histogram => metric::Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: CUMULATIVE,
            }),
        };
        self.metrics.push(Metric {
            name: name.to_string(),
            description: help.to_string(),
            unit: String::new(),
            data: Some(data),
        });
        self.index.insert(name.to_string(), self.metrics.len() - 1);
        self.metrics.len() - 1
    }

    fn points(&mut self, metric: usize) -> Option<&mut Vec<NumberDataPoint>> {
        match &mut self.metrics[metric].data {
            Some(metric::Data::Gauge(g)) => Some(&mut g.data_points),
            Some(metric::Data::Sum(s)) => Some(&mut s.data_points),
            _ => None,
        }
    }

    fn histogram_points(&mut self, metric: usize) -> Option<&mut Vec<HistogramDataPoint>> {
        match &mut self.metrics[metric].data {
            Some(metric::Data::Histogram(h)) => Some(&mut h.data_points),
            _ => None,
        }
    }

    fn summary_points(&mut self, metric: usize) -> Option<&mut Vec<SummaryDataPoint>> {
        match &mut self.metrics[metric].data {
            Some(metric::Data::Summary(s)) => Some(&mut s.data_points),
            _ => None,
        }
    }
}

/// Where one series' points go.
struct Target {
    resource: usize,
    metric: usize,
    attributes: Vec<KeyValue>,
    /// The JVM's pid, for its start time (the start of its counters).
    pid: Option<u32>,
}

fn target(
    fam: &Family,
    labels: &[(Str, Str)],
    resources: &mut Vec<Res>,
    jvm_index: &mut HashMap<(String, String), usize>,
    resource_attrs: &dyn Fn(&str) -> Vec<KeyValue>,
) -> Target {
    let label = |n: &str| {
        labels
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_ref())
    };
    let pid = label("pid").filter(|p| is_jvm_family(&fam.name) && !p.is_empty());
    let resource = match pid {
        None => 0,
        Some(pid) => {
            let app = label("app").unwrap_or("");
            *jvm_index
                .entry((pid.to_string(), app.to_string()))
                .or_insert_with(|| {
                    let mut attrs = resource_attrs(if app.is_empty() { "jvm" } else { app });
                    // An int when it reads as one, as the semantic conventions want.
                    attrs.insert(
                        2,
                        match pid.parse::<i64>() {
                            Ok(n) => int("process.pid", n),
                            Err(_) => string("process.pid", pid),
                        },
                    );
                    resources.push(Res::new(attrs));
                    resources.len() - 1
                })
        }
    };
    let mut attrs: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, v)| {
            !k.is_empty() && !v.is_empty() && (pid.is_none() || (*k != "pid" && *k != "app"))
        })
        .collect();
    // Sorted and unique; the last of equal keys wins, as for the other sinks.
    attrs.reverse();
    attrs.sort_by(|a, b| a.0.cmp(b.0));
    attrs.dedup_by(|a, b| a.0 == b.0);
    Target {
        resource,
        metric: resources[resource].metric(&fam.name, &fam.help, fam.kind),
        attributes: attrs.into_iter().map(|(k, v)| string(k, v)).collect(),
        pid: pid.and_then(|p| p.parse().ok()),
    }
}

/// The request before encoding.
pub(crate) fn request(batch: &Batch, origin: &Origin) -> ExportMetricsServiceRequest {
    let ours = ["service.name", "host.name", "process.pid"];
    let origin_attrs: Vec<KeyValue> = origin
        .labels
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !ours.contains(&k.as_str()))
        .map(|(k, v)| string(k, v))
        .collect();
    let resource_attrs = |service: &str| {
        let mut a = vec![
            string("service.name", service),
            string("host.name", &origin.hostname),
        ];
        a.extend(origin_attrs.iter().cloned());
        a
    };
    // Resources in order of first appearance: the host's first, then one per JVM, keyed by (pid, app).
    let mut resources = vec![Res::new(resource_attrs("wasp"))];
    let mut jvm_index: HashMap<(String, String), usize> = HashMap::new();
    let host_start = nanos_from_ms(origin.boot_time_ms);
    // Where each series goes and its point attributes, worked out once per batch (labels repeat in every
    // collection).
    let mut targets: FastMap<Given<'_>, Target> = FastMap::default();

    for m in &batch.metrics {
        let time = nanos_from_ms(m.metrics.timestamp_ms);
        let started: HashMap<u32, u64> = m
            .collection
            .jvms
            .iter()
            .map(|j| (j.pid, j.start_time.saturating_mul(1_000_000_000)))
            .collect();
        for fam in &m.metrics.families {
            for s in &fam.samples {
                let t = targets
                    .entry((fam.name.as_ref(), s.labels.as_slice()))
                    .or_insert_with(|| {
                        target(
                            fam,
                            &s.labels,
                            &mut resources,
                            &mut jvm_index,
                            &resource_attrs,
                        )
                    });
                let start = match (fam.kind, t.pid) {
                    (MetricKind::Gauge | MetricKind::Untyped, _) => 0,
                    (MetricKind::Counter | MetricKind::Summary | MetricKind::Histogram, None) => {
                        host_start
                    }
                    (
                        MetricKind::Counter | MetricKind::Summary | MetricKind::Histogram,
                        Some(pid),
                    ) => started.get(&pid).copied().unwrap_or(0),
                };
                if fam.kind == MetricKind::Histogram {
                    if let Some(points) = resources[t.resource].histogram_points(t.metric) {
                        points.push(histogram_point(s, t.attributes.clone(), start, time));
                    }
                    continue;
                }
                if fam.kind == MetricKind::Summary {
                    // Two families of one name but different kinds would share a metric: skip, never panic.
                    if let Some(points) = resources[t.resource].summary_points(t.metric) {
                        points.push(SummaryDataPoint {
                            attributes: t.attributes.clone(),
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                            count: s.value.max(0.0) as u64,
                            sum: s.sum.unwrap_or(0.0),
                            flags: 0,
                        });
                    }
                    continue;
                }
                if let Some(points) = resources[t.resource].points(t.metric) {
                    points.push(NumberDataPoint {
                        attributes: t.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        flags: 0,
                        value: Some(number_data_point::Value::AsDouble(s.value)),
                    });
                }
            }
        }
    }

    let scope = InstrumentationScope {
        name: "wasp".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let resource_metrics = resources
        .into_iter()
        .filter(|r| !r.metrics.is_empty())
        .map(|mut r| {
            for m in &mut r.metrics {
                let points = match &mut m.data {
                    Some(metric::Data::Gauge(g)) => &mut g.data_points,
                    Some(metric::Data::Sum(s)) => &mut s.data_points,
                    Some(metric::Data::Summary(s)) => {
                        s.data_points.sort_by_key(|p| p.time_unix_nano);
                        continue;
                    }
                    Some(metric::Data::Histogram(h)) => {
                        h.data_points.sort_by_key(|p| p.time_unix_nano);
                        continue;
                    }
                    None => continue,
                };
                // Collections arrive in time order; a stable sort keeps it so when they did not.
                points.sort_by_key(|p| p.time_unix_nano);
            }
            ResourceMetrics {
                resource: Some(Resource {
                    attributes: r.attributes,
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope.clone()),
                    metrics: r.metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// A histogram sample as OTLP has it: per-bucket counts from the cumulative ones, the finite bounds.
fn histogram_point(
    s: &crate::model::metric::Sample,
    attributes: Vec<KeyValue>,
    start: u64,
    time: u64,
) -> HistogramDataPoint {
    let buckets = s.buckets.as_deref().unwrap_or_default();
    let mut below = 0.0;
    let bucket_counts = buckets
        .iter()
        .map(|b| {
            let n = (b.count - below).max(0.0) as u64;
            below = b.count;
            n
        })
        .collect();
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: s.value.max(0.0) as u64,
        sum: s.sum,
        bucket_counts,
        explicit_bounds: buckets
            .iter()
            .map(|b| b.upper)
            .filter(|u| u.is_finite())
            .collect(),
        flags: 0,
    }
}

/// Data points a 200 answer says were rejected (partial success; must not be retried, only counted and logged).
/// An empty body is full success.
pub fn parse_response(body: &[u8]) -> Result<u64, String> {
    partial_success(body).map(|(n, _)| n)
}

/// Rejected data points and the server's message, from an `ExportMetricsServiceResponse`.
pub fn partial_success(body: &[u8]) -> Result<(u64, String), String> {
    let r = ExportMetricsServiceResponse::decode(body)
        .map_err(|e| format!("not an ExportMetricsServiceResponse: {e}"))?;
    Ok(r.partial_success
        .map(|p| (p.rejected_data_points.max(0) as u64, p.error_message))
        .unwrap_or_default())
}

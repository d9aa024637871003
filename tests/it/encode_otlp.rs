//! OTLP bodies decoded with the official generated types (opentelemetry-proto) and checked for names, resource
//! and point attributes, values, timestamps and kinds.

use crate::common::encode::*;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value as AV};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, metric::Data,
    number_data_point::Value,
};
use proptest::prelude::*;
use prost::Message;
use std::io::Read;
use std::sync::Arc;
use wasp::model::MetricSet;
use wasp::ship::encode::{Batch, Metrics};
use wasp::ship::sinks::otlp;

fn decode(body: &[u8], gzip: bool) -> ExportMetricsServiceRequest {
    let mut raw = Vec::new();
    if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut raw)
            .unwrap();
    } else {
        raw = body.to_vec();
    }
    ExportMetricsServiceRequest::decode(raw.as_slice()).expect("official schema decodes it")
}

fn attr<'a>(kv: &'a [KeyValue], key: &str) -> Option<&'a AV> {
    kv.iter()
        .find(|k| k.key == key)
        .and_then(|k| k.value.as_ref()?.value.as_ref())
}

fn s(v: &str) -> AV {
    AV::StringValue(v.into())
}

fn metric<'a>(r: &'a ResourceMetrics, name: &str) -> &'a Metric {
    assert_eq!(r.scope_metrics.len(), 1);
    assert_eq!(r.scope_metrics[0].scope.as_ref().unwrap().name, "wasp");
    r.scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn points(m: &Metric) -> &[NumberDataPoint] {
    match m.data.as_ref().unwrap() {
        Data::Gauge(g) => &g.data_points,
        Data::Sum(s) => &s.data_points,
        other => panic!("unexpected kind {other:?}"),
    }
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value.unwrap() {
        Value::AsDouble(v) => v,
        Value::AsInt(_) => panic!("wasp sends doubles"),
    }
}

fn keys(p: &NumberDataPoint) -> Vec<&str> {
    p.attributes.iter().map(|k| k.key.as_str()).collect()
}

const MS: u64 = 1_000_000;

#[test]
fn host_and_jvm_resources_with_sums_and_gauges() {
    let _floor = crate::common::beside();
    let b = batch(3);
    let o = origin();
    for gzip in [false, true] {
        let enc = otlp::encode(&b, &o, gzip);
        let req = decode(&enc.body, gzip);
        assert_eq!(enc.items as usize, sample_count(&b));
        assert_eq!((enc.min_ts_ms, enc.max_ts_ms), (T0, T0 + 2000));
        assert_eq!(req.resource_metrics.len(), 2, "the host and one JVM");

        let host = &req.resource_metrics[0];
        let ra = &host.resource.as_ref().unwrap().attributes;
        assert_eq!(attr(ra, "service.name"), Some(&s("wasp")));
        assert_eq!(attr(ra, "host.name"), Some(&s("was01")));
        assert_eq!(attr(ra, "dc"), Some(&s("par 1")));
        assert_eq!(attr(ra, "env"), Some(&s("prod")));
        assert_eq!(attr(ra, "process.pid"), None);

        let cpu = metric(host, "node_cpu_seconds_total");
        let Some(Data::Sum(sum)) = &cpu.data else {
            panic!("a counter is a Sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(sum.data_points.len(), 6 * 3);
        assert_eq!(cpu.description, "CPU seconds.");
        for p in &sum.data_points {
            assert_eq!(
                p.start_time_unix_nano,
                o.boot_time_ms as u64 * MS,
                "host counters start at boot"
            );
            assert_eq!(keys(p), vec!["cpu", "mode"]);
        }
        assert!(
            sum.data_points
                .windows(2)
                .all(|w| w[0].time_unix_nano <= w[1].time_unix_nano)
        );
        let last = sum.data_points.iter().rev().find(|p| {
            attr(&p.attributes, "cpu") == Some(&s("1"))
                && attr(&p.attributes, "mode") == Some(&s("idle"))
        });
        let last = last.unwrap();
        assert_eq!(
            (last.time_unix_nano, value(last)),
            ((T0 as u64 + 2000) * MS, 301.0)
        );

        let load = metric(host, "node_load1");
        let Some(Data::Gauge(g)) = &load.data else {
            panic!("a gauge is a Gauge")
        };
        let got: Vec<(u64, f64, u64)> = g
            .data_points
            .iter()
            .map(|p| (p.time_unix_nano, value(p), p.start_time_unix_nano))
            .collect();
        let t = T0 as u64 * MS;
        assert_eq!(
            got,
            vec![
                (t, 0.5, 0),
                (t + 1000 * MS, 1.0, 0),
                (t + 2000 * MS, 1.5, 0)
            ]
        );
        // Point attributes are the sample's own; empty values dropped.
        let odd = &points(metric(host, "wasp_odd"))[0];
        assert_eq!(keys(odd), vec!["bad-name", "path"]);
        assert_eq!(attr(&odd.attributes, "path"), Some(&s(r"C:\dir\ x,y=z")));
        let fs = &points(metric(host, "node_filesystem_avail_bytes"))[0];
        assert_eq!(attr(&fs.attributes, "env"), Some(&s("test")));
        assert!(
            host.scope_metrics[0]
                .metrics
                .iter()
                .all(|m| !m.name.starts_with("jvm_"))
        );

        let jvm = &req.resource_metrics[1];
        let ra = &jvm.resource.as_ref().unwrap().attributes;
        assert_eq!(attr(ra, "process.pid"), Some(&AV::IntValue(4242)));
        assert_eq!(attr(ra, "service.name"), Some(&s("shop")));
        assert_eq!(attr(ra, "host.name"), Some(&s("was01")));
        assert_eq!(attr(ra, "env"), Some(&s("prod")));
        let used = points(metric(jvm, "jvm_memory_bytes_used"));
        assert_eq!(used.len(), 6);
        assert!(
            used.iter()
                .all(|p| keys(p) == vec!["area"] && p.start_time_unix_nano == 0)
        );
        let gc = metric(jvm, "jvm_gc_collection_seconds_count");
        let Some(Data::Sum(sum)) = &gc.data else {
            panic!("a counter is a Sum")
        };
        let jvm_start = (T0 as u64 - 3_600_000) * MS;
        assert!(
            sum.data_points
                .iter()
                .all(|p| p.start_time_unix_nano == jvm_start),
            "JVM counters start with it"
        );
        assert_eq!(value(&sum.data_points[2]), 9.0);
        assert_eq!(keys(&sum.data_points[0]), vec!["gc"]);
    }
}

#[test]
fn jvm_without_app_is_service_jvm_and_unknown_start_is_unset() {
    let _floor = crate::common::beside();
    let mut m = MetricSet::new(T0);
    m.counter("jvm_classes_loaded_total", "")
        .push([("pid", "77")], 5.0);
    m.gauge("wasp_jvm_up", "")
        .push([("pid", "77"), ("app", "")], 1.0);
    // A non-JVM family with a pid label stays on the host.
    m.gauge("wasp_process_x", "").push([("pid", "77")], 2.0);
    m.gauge("nan", "").set(f64::NAN);
    let b = Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(T0)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    };
    let req = decode(&otlp::encode(&b, &origin(), false).body, false);
    assert_eq!(req.resource_metrics.len(), 2);
    let host = &req.resource_metrics[0];
    assert_eq!(
        keys(&points(metric(host, "wasp_process_x"))[0]),
        vec!["pid"]
    );
    assert!(value(&points(metric(host, "nan"))[0]).is_nan());
    let jvm = &req.resource_metrics[1];
    let ra = &jvm.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(ra, "service.name"), Some(&s("jvm")));
    assert_eq!(attr(ra, "process.pid"), Some(&AV::IntValue(77)));
    assert_eq!(
        points(metric(jvm, "jvm_classes_loaded_total"))[0].start_time_unix_nano,
        0
    );
    assert!(keys(&points(metric(jvm, "wasp_jvm_up"))[0]).is_empty());
}

#[test]
fn partial_success_is_read_from_the_official_response() {
    let _floor = crate::common::beside();
    let resp = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 12,
            error_message: "bad names".into(),
        }),
    };
    let body = resp.encode_to_vec();
    assert_eq!(otlp::parse_response(&body), Ok(12));
    assert_eq!(otlp::partial_success(&body), Ok((12, "bad names".into())));
    assert_eq!(otlp::parse_response(b""), Ok(0));
    assert_eq!(
        otlp::parse_response(&ExportMetricsServiceResponse::default().encode_to_vec()),
        Ok(0)
    );
    assert!(otlp::parse_response(b"{\"partialSuccess\":{}}").is_err());
}

#[test]
fn real_collections_keep_every_sample() {
    let _floor = crate::common::beside();
    let b = real_batch();
    let enc = otlp::encode(&b, &origin(), true);
    let req = decode(&enc.body, true);
    let n: usize = req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match m.data.as_ref().unwrap() {
            Data::Summary(s) => s.data_points.len(),
            Data::Histogram(h) => h.data_points.len(),
            _ => points(m).len(),
        })
        .sum();
    assert_eq!(n as u64, enc.items);
    assert_eq!(n, sample_count(&b));
    // Every JVM found has at least wasp_jvm_info, so one resource each, after the host's.
    let jvms: std::collections::HashSet<(u32, &str)> = b
        .metrics
        .iter()
        .flat_map(|m| m.collection.jvms.iter().map(|j| (j.pid, j.app.as_str())))
        .collect();
    assert_eq!(req.resource_metrics.len(), 1 + jvms.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_names_and_values_decode(
        fams in prop::collection::vec(
            ("\\PC{0,12}", any::<bool>(), prop::collection::vec(
                (prop::collection::vec(("(pid|app|\\PC{0,6})", "\\PC{0,8}"), 0..4), any::<f64>()), 0..4)),
            0..5),
        host in "\\PC{0,10}",
        resp in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut m = MetricSet::new(T0);
        for (name, counter, samples) in &fams {
            let f = if *counter { m.counter(name.clone(), "") } else { m.gauge(name.clone(), "") };
            for (l, v) in samples {
                f.push(l.clone(), *v);
            }
        }
        let b = Batch {
            metrics: vec![Metrics { collection: Arc::new(collection(T0)), metrics: Arc::new(m) }],
            documents: vec![],
        };
        let mut o = origin();
        o.hostname = host;
        let enc = otlp::encode(&b, &o, false);
        let req = decode(&enc.body, false);
        let n: usize = req.resource_metrics.iter().flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics).map(|m| points(m).len()).sum();
        prop_assert_eq!(n as u64, enc.items);
        prop_assert_eq!(n, sample_count(&b));
        // Any bytes as a response: an answer or an error, never a panic.
        let _ = otlp::parse_response(&resp);
    }
}

#[test]
fn a_summary_is_one_summary_point_starting_with_the_jvm() {
    let _floor = crate::common::beside();
    let enc = otlp::encode(&summary_batch(), &origin(), false);
    let req = decode(&enc.body, false);
    assert_eq!(enc.items, 2);
    assert_eq!(req.resource_metrics.len(), 1, "the JVM's only");
    let jvm = &req.resource_metrics[0];
    assert_eq!(
        attr(&jvm.resource.as_ref().unwrap().attributes, "process.pid"),
        Some(&AV::IntValue(4242))
    );
    let Some(Data::Summary(sum)) = &metric(jvm, "jvm_gc_collection_seconds").data else {
        panic!("a summary is a Summary")
    };
    let p = &sum.data_points[0];
    assert_eq!((p.count, p.sum), (3, 0.25));
    // process_* of a JVM goes to the JVM's resource too.
    assert_eq!(
        points(metric(jvm, "process_open_fds"))[0].attributes,
        vec![]
    );
    assert!(p.quantile_values.is_empty());
    assert_eq!(p.time_unix_nano, T0 as u64 * MS);
    assert_eq!(p.start_time_unix_nano, (T0 as u64 - 3_600_000) * MS);
    assert_eq!(attr(&p.attributes, "gc"), Some(&s("G1 Young Generation")));
}

#[test]
fn an_access_log_latency_is_one_histogram_point() {
    let _floor = crate::common::beside();
    let enc = otlp::encode(&histogram_batch(), &origin(), false);
    let req = decode(&enc.body, false);
    let host = &req.resource_metrics[0];
    let Some(Data::Histogram(h)) = &metric(host, "wasp_http_request_duration_seconds").data else {
        panic!("the latency is a Histogram")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (4, Some(3.05)));
    assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
    assert_eq!(p.bucket_counts, vec![1, 2, 1], "per bucket, not cumulative");
    assert_eq!(attr(&p.attributes, "app"), Some(&s("shop")));
    assert_eq!(attr(&p.attributes, "log"), Some(&s("localhost_access_log")));
    assert_eq!(p.time_unix_nano, T0 as u64 * MS);
    // No gauge or series of its buckets besides.
    let names: Vec<&str> = host.scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| n.starts_with("wasp_http_request_duration"))
        .collect();
    assert_eq!(names, vec!["wasp_http_request_duration_seconds"]);
}

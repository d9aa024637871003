//! The sinks without a real server here (no OpenTelemetry Collector, no Elasticsearch in Debian 12) go through
//! the real pipeline to a strict test server: it decodes each request with the official schema
//! (opentelemetry-proto's generated types; the Elasticsearch `_bulk` rules; NDJSON), answers 400 to anything off
//! the spec, and keeps what it accepted. Every sample and document wasp sent must be found there again, with its
//! name, attributes, value and timestamp.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value as AV};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, metric::Data, number_data_point::Value,
};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasp::model::{Document, MetricKind};
use wasp::ship::{Item, Shipper, config::Sinks, encode::Origin};

type Key = (String, BTreeMap<String, String>, i64);

#[derive(Default)]
struct Store {
    points: HashMap<Key, (f64, MetricKind)>,
    docs: HashMap<String, serde_json::Value>,
    json_lines: Vec<serde_json::Value>,
    refused: Vec<String>,
    /// A summary point's sum, by the key of its count in `points`.
    sums: BTreeMap<(String, BTreeMap<String, String>, i64), f64>,
    /// Answer the first bulk request's items with 429 (es_rejected_execution) to exercise the resend.
    bulk_429_once: bool,
}

type S = Arc<Mutex<Store>>;

fn refuse(s: &S, why: String) -> (StatusCode, Vec<u8>) {
    s.lock().unwrap().refused.push(why.clone());
    (StatusCode::BAD_REQUEST, why.into_bytes())
}

/// The body as sent: gunzipped when the request says gzip (and then it must be gzip).
fn body(h: &HeaderMap, b: &[u8]) -> Result<Vec<u8>, String> {
    match h.get("content-encoding").and_then(|v| v.to_str().ok()) {
        None => Ok(b.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(b)
                .read_to_end(&mut out)
                .map_err(|e| format!("Content-Encoding: gzip but not gzip: {e}"))?;
            Ok(out)
        }
        Some(other) => Err(format!("unsupported Content-Encoding {other}")),
    }
}

fn content_type(h: &HeaderMap, want: &str) -> Result<(), String> {
    match h.get("content-type").and_then(|v| v.to_str().ok()) {
        Some(ct) if ct.split(';').next() == Some(want) => Ok(()),
        other => Err(format!("Content-Type {other:?}, want {want}")),
    }
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|a| a.value.as_ref()) {
        Some(AV::StringValue(s)) => s.clone(),
        Some(AV::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

async fn otlp(st: axum::extract::State<S>, h: HeaderMap, b: Bytes) -> (StatusCode, Vec<u8>) {
    let s = st.0;
    if let Err(e) = content_type(&h, "application/x-protobuf") {
        return refuse(&s, e);
    }
    let raw = match body(&h, &b) {
        Ok(r) => r,
        Err(e) => return refuse(&s, e),
    };
    let req = match ExportMetricsServiceRequest::decode(raw.as_slice()) {
        Ok(r) => r,
        Err(e) => return refuse(&s, format!("not an ExportMetricsServiceRequest: {e}")),
    };
    let mut accepted = Vec::new();
    let mut sums = Vec::new();
    for rm in &req.resource_metrics {
        let ra: BTreeMap<String, String> = rm
            .resource
            .as_ref()
            .map(|r| {
                r.attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), text(&kv.value)))
                    .collect()
            })
            .unwrap_or_default();
        let Some(service) = ra.get("service.name") else {
            return refuse(&s, "resource without service.name".into());
        };
        if !ra.contains_key("host.name") {
            return refuse(&s, "resource without host.name".into());
        }
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if m.name.is_empty() {
                    return refuse(&s, "metric without a name".into());
                }
                let (pts, kind) = match &m.data {
                    // A summary (GC pauses: count and sum, no quantiles) is cumulative like a counter.
                    Some(Data::Summary(sum)) => {
                        for p in &sum.data_points {
                            if p.time_unix_nano == 0
                                || p.time_unix_nano % 1_000_000 != 0
                                || p.start_time_unix_nano > p.time_unix_nano
                                || !p.sum.is_finite()
                            {
                                return refuse(&s, format!("{}: summary point {p:?}", m.name));
                            }
                            let mut attrs: BTreeMap<String, String> = p
                                .attributes
                                .iter()
                                .map(|kv| (kv.key.clone(), text(&kv.value)))
                                .collect();
                            if let Some(pid) = ra.get("process.pid") {
                                attrs.insert("pid".into(), pid.clone());
                                if service != "jvm" {
                                    attrs.insert("app".into(), service.clone());
                                }
                            }
                            let key =
                                (m.name.clone(), attrs, (p.time_unix_nano / 1_000_000) as i64);
                            sums.push((key.clone(), p.sum));
                            accepted.push((key, (p.count as f64, MetricKind::Summary)));
                        }
                        continue;
                    }
                    Some(Data::Gauge(g)) => (&g.data_points, MetricKind::Gauge),
                    Some(Data::Sum(sum)) => {
                        if sum.aggregation_temporality != AggregationTemporality::Cumulative as i32
                            || !sum.is_monotonic
                        {
                            return refuse(
                                &s,
                                format!("{}: a counter must be a cumulative monotonic sum", m.name),
                            );
                        }
                        (&sum.data_points, MetricKind::Counter)
                    }
                    other => return refuse(&s, format!("{}: unexpected data {other:?}", m.name)),
                };
                for p in pts {
                    if p.time_unix_nano == 0 || p.time_unix_nano % 1_000_000 != 0 {
                        return refuse(
                            &s,
                            format!("{}: time_unix_nano {}", m.name, p.time_unix_nano),
                        );
                    }
                    if kind == MetricKind::Counter && p.start_time_unix_nano > p.time_unix_nano {
                        return refuse(&s, format!("{}: start after time", m.name));
                    }
                    let v = match p.value {
                        Some(Value::AsDouble(d)) => d,
                        Some(Value::AsInt(i)) => i as f64,
                        None => return refuse(&s, format!("{}: point without a value", m.name)),
                    };
                    let mut attrs: BTreeMap<String, String> = p
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(&kv.value)))
                        .collect();
                    // A JVM's resource carries its pid and app: put them back to compare with wasp's labels.
                    if let Some(pid) = ra.get("process.pid") {
                        attrs.insert("pid".into(), pid.clone());
                        if service != "jvm" {
                            attrs.insert("app".into(), service.clone());
                        }
                    }
                    accepted.push((
                        (m.name.clone(), attrs, (p.time_unix_nano / 1_000_000) as i64),
                        (v, kind),
                    ));
                }
            }
        }
    }
    let mut st = s.lock().unwrap();
    for (k, v) in accepted {
        if st.points.insert(k.clone(), v).is_some() {
            st.refused.push(format!("duplicate point {k:?}"));
        }
    }
    st.sums.extend(sums);
    (
        StatusCode::OK,
        ExportMetricsServiceResponse::default().encode_to_vec(),
    )
}

async fn bulk(st: axum::extract::State<S>, h: HeaderMap, b: Bytes) -> (StatusCode, Vec<u8>) {
    let s = st.0;
    if let Err(e) = content_type(&h, "application/x-ndjson") {
        return refuse(&s, e);
    }
    let raw = match body(&h, &b) {
        Ok(r) => r,
        Err(e) => return refuse(&s, e),
    };
    let Ok(text) = String::from_utf8(raw) else {
        return refuse(&s, "bulk body is not UTF-8".into());
    };
    if !text.ends_with('\n') {
        return refuse(&s, "bulk body must end with a newline".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(2) {
        return refuse(&s, "bulk body: action and source lines do not pair".into());
    }
    let mut items = Vec::new();
    let mut st = s.lock().unwrap();
    let reject_all = std::mem::take(&mut st.bulk_429_once);
    for pair in lines.chunks(2) {
        let action: serde_json::Value = match serde_json::from_str(pair[0]) {
            Ok(v) => v,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("action: {e}").into_bytes()),
        };
        let Some(meta) = action.get("create") else {
            return (
                StatusCode::BAD_REQUEST,
                b"only create actions expected".to_vec(),
            );
        };
        let (Some(index), Some(id)) = (meta["_index"].as_str(), meta["_id"].as_str()) else {
            return (
                StatusCode::BAD_REQUEST,
                b"create without _index/_id".to_vec(),
            );
        };
        let src: serde_json::Value = match serde_json::from_str::<serde_json::Value>(pair[1]) {
            Ok(v) if v.is_object() && v.get("@timestamp").is_some() => v,
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    b"source must be an object with @timestamp".to_vec(),
                );
            }
        };
        let status = if reject_all {
            429
        } else if st.docs.contains_key(id) {
            409
        } else {
            st.docs.insert(
                id.to_string(),
                serde_json::json!({"_index": index, "_source": src}),
            );
            201
        };
        items.push(serde_json::json!({"create": {"_index": index, "_id": id, "status": status}}));
    }
    let errors = items.iter().any(|i| i["create"]["status"] != 201);
    let answer = serde_json::json!({"took": 1, "errors": errors, "items": items});
    (StatusCode::OK, answer.to_string().into_bytes())
}

async fn ndjson(st: axum::extract::State<S>, h: HeaderMap, b: Bytes) -> (StatusCode, Vec<u8>) {
    let s = st.0;
    if let Err(e) = content_type(&h, "application/x-ndjson") {
        return refuse(&s, e);
    }
    let raw = match body(&h, &b) {
        Ok(r) => r,
        Err(e) => return refuse(&s, e),
    };
    let mut got = Vec::new();
    for l in String::from_utf8_lossy(&raw).lines() {
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) if v.is_object() => got.push(v),
            _ => {
                return refuse(
                    &s,
                    format!("not a JSON object line: {}", &l[..l.len().min(80)]),
                );
            }
        }
    }
    s.lock().unwrap().json_lines.extend(got);
    (StatusCode::NO_CONTENT, Vec::new())
}

fn serve(store: S) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/v1/metrics", post(otlp))
                .route("/_bulk", post(bulk))
                .route("/ingest", post(ndjson))
                .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
                .with_state(store);
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    port
}

#[test]
fn otlp_bulk_and_ndjson_sinks_deliver_everything_to_strict_servers() {
    let _floor = crate::common::beside();
    let store: S = Arc::new(Mutex::new(Store {
        bulk_429_once: true,
        ..Default::default()
    }));
    let port = serve(store.clone());
    let sinks: Sinks = toml::from_str(&format!(
        r#"
[otlp]
type = "otlp_http"
url = "http://127.0.0.1:{port}/v1/metrics"
batch = {{ max_delay = "100ms" }}
[es]
type = "elasticsearch"
url = "http://127.0.0.1:{port}/_bulk"
batch = {{ max_delay = "100ms" }}
retry = {{ initial_backoff = "100ms", max_backoff = "200ms" }}
[json]
type = "http_json"
url = "http://127.0.0.1:{port}/ingest"
batch = {{ max_delay = "100ms" }}
"#
    ))
    .unwrap();
    let origin = Origin {
        hostname: "strict-host".into(),
        labels: vec![("env".into(), "strict".into())],
        boot_time_ms: 1_000,
    };
    let data = tempfile::tempdir().unwrap();
    let shipper = Shipper::start(&sinks, data.path(), origin).unwrap();
    let cfg = wasp::config::Config::parse(
        &format!("[agent]\ndata_dir = \"{}\"\n", data.path().display()),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let mut c = wasp::collect::Collector::new(&cfg);
    let mut sets = Vec::new();
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let col = Arc::new(c.collect());
        let m = Arc::new(wasp::present::metrics::from_collection(&col));
        sets.push(m.clone());
        shipper.submit(Item::Collection {
            collection: col,
            metrics: m,
        });
    }
    let mut docs = Vec::new();
    for i in 0..5 {
        let d = Document {
            kind: if i % 2 == 0 {
                "thread_dump".into()
            } else {
                "event".into()
            },
            timestamp_ms: sets[0].timestamp_ms + i,
            labels: BTreeMap::from([
                ("pid".into(), format!("{}", 4000 + i)),
                ("app".into(), "ÄÖ \"quoted\"".into()),
            ]),
            body: serde_json::json!({"threads": i * 10, "note": "line\nbreak"}),
        };
        docs.push(d.clone());
        shipper.submit(Item::Document(d));
    }
    let total: u64 = sets.iter().map(|m| m.sample_count() as u64).sum();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let st = shipper.status();
        let sent = |n: &str| st.iter().find(|s| s.name == n).map_or(0, |s| s.sent_items);
        if sent("otlp") >= total && sent("es") >= 5 && sent("json") >= 8 {
            break;
        }
        assert!(
            Instant::now() < end,
            "not delivered: {st:#?}; refused: {:?}",
            store.lock().unwrap().refused
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = shipper.status();
    shipper.shutdown(Duration::from_secs(2));
    let st = store.lock().unwrap();
    assert!(
        st.refused.is_empty(),
        "the strict server refused: {:?}",
        st.refused
    );

    // OTLP: every sample, by name, labels (pid/app back from the JVM resource), timestamp, value and kind.
    let mut missing = Vec::new();
    let mut n = 0;
    for m in &sets {
        for f in &m.families {
            for s in &f.samples {
                let labels: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                n += 1;
                // OTLP has no untyped metric: an untyped family (node_netstat_*) goes as a gauge.
                let sent_as = match f.kind {
                    MetricKind::Untyped => MetricKind::Gauge,
                    k => k,
                };
                let key = (f.name.to_string(), labels.clone(), m.timestamp_ms);
                match st.points.get(&key) {
                    Some(&(v, kind))
                        if (v == s.value || (v.is_nan() && s.value.is_nan()))
                            && kind == sent_as
                            && st.sums.get(&key).copied() == s.sum => {}
                    other => missing.push(format!(
                        "{}{labels:?}@{}: {} vs {other:?}",
                        f.name, m.timestamp_ms, s.value
                    )),
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {n} samples not found as sent: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(st.points.len(), n, "the server holds exactly what was sent");

    // Elasticsearch: each document once (the first request's 429s were resent; nothing twice), dated index.
    assert_eq!(st.docs.len(), 5, "{:?}", st.docs.keys());
    let es = status.iter().find(|s| s.name == "es").unwrap();
    assert!(es.retries >= 1, "the 429 answer was retried: {es:?}");
    let mut seen = HashSet::new();
    for d in &docs {
        let hit = st.docs.values().find(|v| {
            v["_source"]["kind"] == d.kind.as_str()
                && v["_source"]["timestamp_ms"] == d.timestamp_ms
                && v["_source"]["labels"]["pid"] == d.labels["pid"].as_str()
        });
        let hit = hit.unwrap_or_else(|| panic!("document {d:?} not in the server"));
        assert_eq!(hit["_source"]["body"], d.body);
        assert_eq!(hit["_source"]["labels"]["app"], "ÄÖ \"quoted\"");
        assert_eq!(hit["_source"]["host"], "strict-host");
        assert_eq!(hit["_source"]["agent_labels"]["env"], "strict");
        assert!(
            hit["_index"].as_str().unwrap().starts_with("wasp-"),
            "{hit}"
        );
        seen.insert(d.timestamp_ms);
    }
    assert_eq!(seen.len(), 5);

    // NDJSON: the three collections and the five documents, each once.
    let cols: Vec<i64> = st
        .json_lines
        .iter()
        .filter_map(|v| v.get("cpu").and(v["timestamp_ms"].as_i64()))
        .collect();
    assert_eq!(
        cols,
        sets.iter().map(|m| m.timestamp_ms).collect::<Vec<_>>()
    );
    let dcount = st
        .json_lines
        .iter()
        .filter(|v| v.get("kind").is_some() && v.get("body").is_some())
        .count();
    assert_eq!(dcount, 5);
}

//! Round trips through real backends started on loopback: real collections of this host go through the real
//! pipeline (queue, batcher, spool, sender) to Debian's Prometheus (remote-write receiver), VictoriaMetrics and
//! InfluxDB 1.x, and every sample is found again by querying each server, with its name, labels, value and
//! timestamp.

use crate::common::backends::*;
use crate::common::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use wasp::model::MetricSet;
use wasp::ship::{Item, Shipper, config::Sinks, encode::Origin};

type Labels = BTreeMap<String, String>;

/// The label set a sample must have in Prometheus/VictoriaMetrics, built independently of the encoder: the
/// sample's labels over `job`, `instance` and the agent's labels; empty values are not stored by either server.
fn expected(
    name: &str,
    labels: &[(
        std::borrow::Cow<'static, str>,
        std::borrow::Cow<'static, str>,
    )],
    o: &Origin,
) -> Labels {
    let mut l = Labels::new();
    l.insert("instance".into(), o.hostname.clone());
    l.insert("job".into(), "wasp".into());
    for (k, v) in &o.labels {
        l.insert(k.clone(), v.clone());
    }
    for (k, v) in labels {
        l.insert(k.to_string(), v.to_string());
    }
    l.retain(|_, v| !v.is_empty());
    l.insert("__name__".into(), name.into());
    l
}

fn collections(n: usize) -> Vec<MetricSet> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = wasp::config::Config::parse(
        &format!("[agent]\ndata_dir = \"{}\"\n", dir.path().display()),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let mut c = wasp::collect::Collector::new(&cfg);
    let mut out = Vec::new();
    for i in 0..n {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        out.push(wasp::present::metrics::from_collection(&c.collect()));
    }
    out
}

fn wait_sent(shipper: &Shipper, want: &HashMap<&str, u64>) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let st = shipper.status();
        let done = st.iter().all(|s| {
            want.get(s.name.as_str())
                .is_none_or(|&w| s.sent_items >= w && s.spool_batches == 0)
        });
        if done {
            return;
        }
        assert!(Instant::now() < end, "not all sent within 60 s: {st:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn real_collections_round_trip_through_prometheus_victoriametrics_and_influxdb() {
    let _floor = crate::common::beside();
    if !(require("prometheus")
        && require("victoria-metrics")
        && require("influxd")
        && require("curl"))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prom = prometheus(dir.path());
    let vm = victoria(dir.path());
    let influx = influxdb(dir.path());
    // InfluxDB 2.x's write API, as VictoriaMetrics serves it (it ignores the token; the header is sent).
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let sinks: Sinks = toml::from_str(&format!(
        r#"
[prom]
type = "prometheus_remote_write"
url = "{}/api/v1/write"
batch = {{ max_delay = "100ms" }}
[vm]
type = "prometheus_remote_write"
url = "{}/api/v1/write"
batch = {{ max_delay = "100ms" }}
[influx]
type = "influx_line"
url = "{}/write?db=wasp"
batch = {{ max_delay = "100ms" }}
[influx2]
type = "influx_line"
url = "{}/api/v2/write?org=ops&bucket=wasp"
batch = {{ max_delay = "100ms" }}
auth = {{ token_file = "{}", scheme = "Token" }}
"#,
        prom.base(),
        vm.base(),
        influx.base(),
        vm.base(),
        token.display()
    ))
    .unwrap();
    let origin = Origin {
        hostname: "rt-host".into(),
        labels: vec![("env".into(), "round-trip".into())],
        boot_time_ms: 0,
    };
    let sets = collections(3);
    let data = tempfile::tempdir().unwrap();
    let shipper = Shipper::start(&sinks, data.path(), origin.clone()).unwrap();
    let mut collection = wasp::collect::Collector::new(&wasp::config::Config::default());
    let model = std::sync::Arc::new(collection.collect());
    for m in &sets {
        shipper.submit(Item::Collection {
            collection: model.clone(),
            metrics: std::sync::Arc::new(m.clone()),
        });
    }
    let total: u64 = sets
        .iter()
        .flat_map(|m| m.families.iter().map(|f| f.series().count() as u64))
        .sum();
    let finite: u64 = sets
        .iter()
        .flat_map(|m| m.families.iter().flat_map(|f| f.series()))
        .filter(|(_, _, _, v)| v.is_finite())
        .count() as u64;
    wait_sent(
        &shipper,
        &HashMap::from([("prom", total), ("vm", total), ("influx", finite)]),
    );
    shipper.shutdown(Duration::from_secs(5));

    // What was sent, keyed by (labels, timestamp).
    let mut want: HashMap<(Labels, i64), f64> = HashMap::new();
    for m in &sets {
        for f in &m.families {
            // A summary (GC pauses) is two series, `_count` and `_sum`, as Prometheus names them.
            for (suffix, s, le, value) in f.series() {
                let mut labels = expected(&format!("{}{suffix}", f.name), &s.labels, &origin);
                if let Some(le) = le {
                    labels.insert("le".into(), le.into());
                }
                let prev = want.insert((labels, m.timestamp_ms), value);
                assert!(
                    prev.is_none(),
                    "the collection itself repeats a series: {} {:?}",
                    f.name,
                    s.labels
                );
            }
        }
    }
    assert_eq!(want.len() as u64, total);
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());

    // Prometheus: the raw samples of every series of this host.
    let mut got = 0;
    let mut wrong = Vec::new();
    for (labels, pts) in prom_series(prom.port, r#"{instance="rt-host"}"#, "10m") {
        let l: Labels = labels
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
            .collect();
        for (t, v) in pts {
            let v: f64 = v.parse().unwrap();
            match want.get(&(l.clone(), t)) {
                Some(&w) if same(w, v) => got += 1,
                other => wrong.push(format!("{l:?}@{t}: {v} vs {other:?}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "Prometheus holds samples wasp did not send that way: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(
        got,
        want.len(),
        "Prometheus has {got} of the {} samples sent",
        want.len()
    );

    // VictoriaMetrics: the raw export. It keeps values as decimal mantissas of 12 significant digits (its
    // documented precision), so a value matches when equal to 12 digits.
    let close12 = |a: f64, b: f64| same(a, b) || (a - b).abs() <= 1e-11 * a.abs().max(b.abs());
    // New series become searchable in VictoriaMetrics a moment after they are stored: read until complete.
    let end = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let mut got = 0;
        wrong.clear();
        for (labels, pts) in vm_series(vm.port, r#"{instance="rt-host"}"#) {
            let l: Labels = labels
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
                .collect();
            for (t, v) in pts {
                match want.get(&(l.clone(), t)) {
                    Some(&w) if close12(w, v) => got += 1,
                    other => wrong.push(format!("{l:?}@{t}: {v} vs {other:?}")),
                }
            }
        }
        if got == want.len() || Instant::now() > end {
            break got;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        wrong.is_empty(),
        "VictoriaMetrics holds samples wasp did not send that way: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(
        got,
        want.len(),
        "VictoriaMetrics has {got} of the {} samples sent",
        want.len()
    );

    // The 2.x path into VictoriaMetrics: measurement `node_load1`, field `value` -> `node_load1_value`, tag host.
    let end = Instant::now() + Duration::from_secs(20);
    let mut load: Vec<i64> = Vec::new();
    while load.len() < sets.len() && Instant::now() < end {
        load = vm_series(vm.port, r#"node_load1_value{host="rt-host"}"#)
            .into_iter()
            .flat_map(|(_, p)| p.into_iter().map(|x| x.0))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
    }
    load.sort_unstable();
    assert_eq!(
        load,
        sets.iter().map(|m| m.timestamp_ms).collect::<Vec<_>>(),
        "node_load1 through /api/v2/write"
    );

    // InfluxDB: measurement = metric name, tags = labels with `host` for the instance, field `value`. NaN and
    // infinities cannot be written in line protocol, so those are not expected there.
    let mut want_influx: HashMap<(Labels, i64), f64> = HashMap::new();
    for ((l, t), v) in &want {
        if !v.is_finite() {
            continue;
        }
        let mut l = l.clone();
        l.remove("job");
        l.remove("instance");
        l.insert("host".into(), origin.hostname.clone());
        want_influx.insert((l, *t), *v);
    }
    let mut got = 0;
    for (name, row) in influx_all(influx.port) {
        let mut l = Labels::new();
        let mut t = 0;
        let mut v = f64::NAN;
        for (k, x) in row {
            match (k.as_str(), x) {
                ("time", x) => t = x.as_i64().unwrap(),
                ("value", x) => v = x.as_f64().unwrap(),
                (_, serde_json::Value::String(s)) if !s.is_empty() => {
                    l.insert(k, s);
                }
                _ => {}
            }
        }
        l.insert("__name__".into(), name);
        match want_influx.get(&(l.clone(), t)) {
            // wasp writes the shortest exact decimal; InfluxDB 1.6's own line-protocol float parser can land one
            // ulp off (seen: ...728 for ...729), so a value matches within 2 ulps.
            Some(&w) if (w - v).abs() <= 2.0 * f64::EPSILON * w.abs().max(v.abs()) => got += 1,
            other => wrong.push(format!("{l:?}@{t}: {v} vs {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "InfluxDB holds points wasp did not send that way: {:?}",
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(
        got,
        want_influx.len(),
        "InfluxDB has {got} of the {} points sent",
        want_influx.len()
    );
}

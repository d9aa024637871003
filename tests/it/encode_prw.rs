//! Remote write bodies decoded again (snappy block + the protobuf messages) and held to the 1.0 spec's rules.

use crate::common::encode::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasp::model::MetricSet;
use wasp::ship::encode::{Batch, Metrics};
use wasp::ship::sinks::prometheus_remote_write as prw;

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// The spec's invariants on a decoded request; returns (label set -> [(ts, value)]).
type Series = BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>;

fn check(req: &prw::WriteRequest) -> Series {
    let mut out = BTreeMap::new();
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "labels sorted and unique: {names:?}"
        );
        for l in &ts.labels {
            assert!(valid_label_name(&l.name), "label name {:?}", l.name);
            assert!(!l.value.is_empty(), "empty value for {}", l.name);
        }
        assert!(
            names.contains(&"__name__") && names.contains(&"instance") && names.contains(&"job")
        );
        assert!(!ts.samples.is_empty());
        assert!(
            ts.samples
                .windows(2)
                .all(|w| w[0].timestamp < w[1].timestamp),
            "time order"
        );
        let key: Vec<(String, String)> = ts
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let prev = out.insert(
            key,
            ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
        );
        assert!(prev.is_none(), "one TimeSeries per label set");
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn batch_of_three_collections_round_trips() {
    let _floor = crate::common::beside();
    let b = batch(3);
    let enc = prw::encode(&b, &origin());
    // Block format: a framed stream would start with the stream identifier chunk 0xff 06 00 00 "sNaPpY".
    assert_ne!(enc.body.first(), Some(&0xff));
    let req = prw::decode(&enc.body).unwrap();
    let series = check(&req);
    assert_eq!(enc.items as usize, sample_count(&b));
    assert_eq!(enc.skipped, 0);
    assert_eq!((enc.min_ts_ms, enc.max_ts_ms), (T0, T0 + 2000));
    // One series per sample of a collection, each with the three collections' samples.
    assert_eq!(series.len(), b.metrics[0].metrics.sample_count());
    assert!(series.values().all(|s| s.len() == 3));

    let load = &series[&labels(&[
        ("__name__", "node_load1"),
        ("instance", "was01"),
        ("job", "wasp"),
        ("dc", "par 1"),
        ("env", "prod"),
    ])];
    assert_eq!(load, &vec![(T0, 0.5), (T0 + 1000, 1.0), (T0 + 2000, 1.5)]);
    // A sample label overrides the origin label of the same name.
    let fs = &series[&labels(&[
        ("__name__", "node_filesystem_avail_bytes"),
        ("instance", "was01"),
        ("job", "wasp"),
        ("dc", "par 1"),
        ("env", "test"),
        ("mountpoint", "/var/log"),
        ("device", "/dev/sda1"),
    ])];
    assert_eq!(fs[2], (T0 + 2000, 1e9 + 3.0));
    // Empty values dropped, names sanitised, values (backslashes, commas) untouched.
    let odd = &series[&labels(&[
        ("__name__", "wasp_odd"),
        ("instance", "was01"),
        ("job", "wasp"),
        ("dc", "par 1"),
        ("env", "prod"),
        ("path", r"C:\dir\ x,y=z"),
        ("bad_name", "v"),
    ])];
    assert_eq!(odd[0], (T0, -2.5));
}

#[test]
fn collections_out_of_order_come_out_in_time_order_and_repeats_are_skipped() {
    let _floor = crate::common::beside();
    let mut b = batch(3);
    b.metrics.swap(0, 2);
    let again = b.metrics[1].clone();
    b.metrics.push(again);
    let enc = prw::encode(&b, &origin());
    let series = check(&prw::decode(&enc.body).unwrap());
    let per = b.metrics[0].metrics.sample_count() as u64;
    assert_eq!(enc.skipped, per, "the repeated collection's samples");
    assert_eq!(enc.items, 3 * per);
    assert!(series.values().all(|s| s.len() == 3));
}

#[test]
fn nan_and_the_stale_marker_keep_their_bits() {
    let _floor = crate::common::beside();
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let mut m = MetricSet::new(T0);
    m.gauge("a", "").set(stale);
    m.gauge("b", "").set(f64::NAN);
    m.gauge("c", "").set(f64::INFINITY);
    let b = Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(T0)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    };
    let req = prw::decode(&prw::encode(&b, &origin()).body).unwrap();
    let v: Vec<u64> = req
        .timeseries
        .iter()
        .map(|t| t.samples[0].value.to_bits())
        .collect();
    assert_eq!(
        v,
        vec![stale.to_bits(), f64::NAN.to_bits(), f64::INFINITY.to_bits()]
    );
}

#[test]
fn empty_batch_is_an_empty_request() {
    let _floor = crate::common::beside();
    let enc = prw::encode(&Batch::default(), &origin());
    assert_eq!(enc.items, 0);
    assert!(prw::decode(&enc.body).unwrap().timeseries.is_empty());
}

#[test]
fn real_collections_keep_every_sample() {
    let _floor = crate::common::beside();
    let b = real_batch();
    let enc = prw::encode(&b, &origin());
    let series = check(&prw::decode(&enc.body).unwrap());
    let n: usize = series.values().map(|s| s.len()).sum();
    assert_eq!(n as u64, enc.items);
    assert_eq!(n as u64 + enc.skipped, series_count(&b) as u64);
    assert!(
        n > 100,
        "a real collection has hundreds of samples, got {n}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_names_and_values_encode_to_valid_requests(
        fams in prop::collection::vec(
            ("\\PC{0,12}", prop::collection::vec(
                (prop::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..4), any::<f64>()), 0..4)),
            0..5),
        olabels in prop::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..3),
        host in "\\PC{0,10}",
        n in 1usize..3,
    ) {
        let mut b = Batch::default();
        for i in 0..n {
            let mut m = MetricSet::new(T0 + i as i64);
            for (name, samples) in &fams {
                let f = m.gauge(name.clone(), "");
                for (l, v) in samples {
                    f.push(l.clone(), *v);
                }
            }
            b.metrics.push(Metrics { collection: Arc::new(collection(T0)), metrics: Arc::new(m) });
        }
        let mut o = origin();
        o.hostname = host;
        o.labels = olabels;
        let enc = prw::encode(&b, &o);
        let req = prw::decode(&enc.body).unwrap();
        let mut n_out = 0;
        for ts in &req.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(ts.labels.iter().all(|l| valid_label_name(&l.name) && !l.value.is_empty()));
            prop_assert!(ts.samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
            n_out += ts.samples.len() as u64;
        }
        prop_assert_eq!(n_out, enc.items);
        prop_assert_eq!(enc.items + enc.skipped, sample_count(&b) as u64);
    }
}

#[test]
fn a_summary_is_its_count_and_sum_series() {
    let _floor = crate::common::beside();
    let enc = prw::encode(&summary_batch(), &origin());
    let series = check(&prw::decode(&enc.body).unwrap());
    assert_eq!(enc.items, 3);
    let value = |name: &str| {
        series
            .iter()
            .find(|(k, _)| k.contains(&("__name__".to_string(), name.to_string())))
            .map(|(k, v)| {
                assert!(k.contains(&("gc".to_string(), "G1 Young Generation".to_string())));
                v[0]
            })
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(value("jvm_gc_collection_seconds_count"), (T0, 3.0));
    assert_eq!(value("jvm_gc_collection_seconds_sum"), (T0, 0.25));
}

#[test]
fn a_histogram_is_its_bucket_sum_and_count_series() {
    let _floor = crate::common::beside();
    let enc = prw::encode(&histogram_batch(), &origin());
    let series = check(&prw::decode(&enc.body).unwrap());
    let value = |name: &str, le: Option<&str>| {
        series
            .iter()
            .find(|(k, _)| {
                k.contains(&("__name__".to_string(), name.to_string()))
                    && le.is_none_or(|le| k.contains(&("le".to_string(), le.to_string())))
            })
            .map(|(k, v)| {
                assert!(
                    k.contains(&("app".to_string(), "shop".to_string())),
                    "{k:?}"
                );
                assert_eq!(le.is_some(), k.iter().any(|(n, _)| n == "le"), "{k:?}");
                v[0].1
            })
            .unwrap_or_else(|| panic!("no {name} {le:?}"))
    };
    let b = "wasp_http_request_duration_seconds_bucket";
    assert_eq!(value(b, Some("0.1")), 1.0);
    assert_eq!(value(b, Some("1")), 3.0);
    assert_eq!(value(b, Some("+Inf")), 4.0);
    assert_eq!(value("wasp_http_request_duration_seconds_sum", None), 3.05);
    assert_eq!(value("wasp_http_request_duration_seconds_count", None), 4.0);
}

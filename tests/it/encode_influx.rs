//! Line-protocol bodies read back by two small, independent parsers written from the receivers' rules:
//! InfluxDB 1.x (a character preceded by a backslash is escaped; unescaping only removes the backslash before
//! `,` `=` space) and VictoriaMetrics (a backslash before `,` `=` space or another backslash is removed).

use crate::common::encode::*;
use proptest::prelude::*;
use std::io::Read;
use std::sync::Arc;
use wasp::model::MetricSet;
use wasp::ship::encode::{Batch, Metrics};
use wasp::ship::sinks::influx;

#[derive(Debug, PartialEq)]
struct Point {
    measurement: String,
    tags: Vec<(String, String)>,
    value: f64,
    ts: i64,
}

/// Splits at the first `stop` byte not preceded by a backslash (InfluxDB 1.x's scanner).
fn scan<'a>(s: &'a str, stops: &[u8]) -> (&'a str, &'a str) {
    let b = s.as_bytes();
    for i in 0..b.len() {
        if stops.contains(&b[i]) && (i == 0 || b[i - 1] != b'\\') {
            return (&s[..i], &s[i..]);
        }
    }
    (s, "")
}

fn unescape_influx(s: &str) -> String {
    s.replace("\\,", ",")
        .replace("\\=", "=")
        .replace("\\ ", " ")
}

fn unescape_vm(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' && matches!(it.peek(), Some(',' | '=' | ' ' | '\\')) {
            out.push(it.next().unwrap());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses one line the InfluxDB 1.x way; also checks that VictoriaMetrics' unescaping reads the same tags.
fn parse(line: &str) -> Point {
    let (m, mut rest) = scan(line, b", ");
    let mut tags = Vec::new();
    while let Some(r) = rest.strip_prefix(',') {
        let (k, r) = scan(r, b"=");
        let r = r.strip_prefix('=').expect("tag without =");
        let (v, r) = scan(r, b", ");
        assert!(!v.is_empty(), "empty tag value in {line:?}");
        assert!(
            !v.ends_with('\\'),
            "InfluxDB 1.6 rejects a tag value ending in a backslash: {line:?}"
        );
        assert_eq!(
            unescape_influx(v),
            unescape_vm(v),
            "parsers disagree on {v:?}"
        );
        tags.push((unescape_influx(k), unescape_influx(v)));
        rest = r;
    }
    let rest = rest
        .strip_prefix(" value=")
        .expect("one float field `value`");
    let (v, ts) = rest.split_once(' ').expect("a timestamp");
    Point {
        measurement: unescape_influx(m),
        tags,
        value: v.parse().expect("a float"),
        ts: ts.parse().expect("integer ms"),
    }
}

fn parse_body(body: &[u8]) -> Vec<Point> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines().map(parse).collect()
}

/// What a tag value reads back as: control characters become spaces, and a backslash before `\` `,` `=`
/// space or at the end is dropped (neither receiver can carry it).
fn expected(v: &str) -> String {
    let v: Vec<char> = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::new();
    for (i, &c) in v.iter().enumerate() {
        if c == '\\' && matches!(v.get(i + 1), None | Some('\\' | ',' | '=' | ' ')) {
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn batch_of_three_collections_round_trips() {
    let _floor = crate::common::beside();
    let b = batch(3);
    let enc = influx::encode(&b, &origin(), false);
    let points = parse_body(&enc.body);
    assert_eq!(points.len() as u64, enc.items);
    assert_eq!(enc.items as usize, sample_count(&b));
    assert_eq!(
        (enc.min_ts_ms, enc.max_ts_ms, enc.skipped),
        (T0, T0 + 2000, 0)
    );
    for p in &points {
        let keys: Vec<&str> = p.tags.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique: {keys:?}"
        );
        assert!(p.tags.contains(&("host".into(), "was01".into())));
        assert!(p.tags.contains(&("dc".into(), "par 1".into())));
    }
    let load: Vec<(i64, f64)> = points
        .iter()
        .filter(|p| p.measurement == "node_load1")
        .map(|p| (p.ts, p.value))
        .collect();
    assert_eq!(load, vec![(T0, 0.5), (T0 + 1000, 1.0), (T0 + 2000, 1.5)]);
    let fs = points
        .iter()
        .find(|p| p.measurement == "node_filesystem_avail_bytes")
        .unwrap();
    assert!(
        fs.tags.contains(&("env".into(), "test".into())),
        "the sample's label wins"
    );
    let odd = points.iter().find(|p| p.measurement == "wasp_odd").unwrap();
    assert_eq!(
        odd.tags,
        vec![
            ("bad_name".to_string(), "v".to_string()),
            ("dc".into(), "par 1".into()),
            ("env".into(), "prod".into()),
            ("host".into(), "was01".into()),
            ("path".into(), r"C:\dir x,y=z".into()),
        ]
    );
    let gc = points
        .iter()
        .find(|p| p.measurement == "jvm_gc_collection_seconds_count")
        .unwrap();
    assert!(
        gc.tags
            .contains(&("gc".into(), "G1 Young Generation".into()))
    );
}

#[test]
fn gzip_is_the_same_body_compressed() {
    let _floor = crate::common::beside();
    let b = batch(2);
    let plain = influx::encode(&b, &origin(), false);
    let gz = influx::encode(&b, &origin(), true);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.body.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.body);
    assert_eq!(gz.items, plain.items);
    assert!(gz.body.len() < plain.body.len() / 3);
}

#[test]
fn non_finite_values_are_skipped_and_counted() {
    let _floor = crate::common::beside();
    let mut m = MetricSet::new(T0);
    m.gauge("a", "")
        .set(f64::NAN)
        .set(1.0)
        .set(f64::INFINITY)
        .set(f64::NEG_INFINITY);
    m.gauge("b", "").set(1e300).set(-1e-7).set(-0.0).set(42.0);
    let b = Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(T0)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    };
    let enc = influx::encode(&b, &origin(), false);
    assert_eq!((enc.items, enc.skipped), (5, 3));
    let v: Vec<f64> = parse_body(&enc.body).iter().map(|p| p.value).collect();
    assert_eq!(v, vec![1.0, 1e300, -1e-7, -0.0, 42.0]);
}

#[test]
fn time_is_not_used_as_a_tag_key() {
    let _floor = crate::common::beside();
    let mut m = MetricSet::new(T0);
    m.gauge("a", "").push([("time", "now")], 1.0);
    let b = Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(T0)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    };
    let p = parse_body(&influx::encode(&b, &origin(), false).body);
    assert!(p[0].tags.iter().all(|(k, _)| k != "time"));
    assert!(p[0].tags.contains(&("time_".into(), "now".into())));
}

#[test]
fn real_collections_keep_every_finite_sample() {
    let _floor = crate::common::beside();
    let b = real_batch();
    let enc = influx::encode(&b, &origin(), false);
    let points = parse_body(&enc.body);
    assert_eq!(points.len() as u64, enc.items);
    assert_eq!(enc.items + enc.skipped, sample_count(&b) as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_tag_value_reads_back(v in "(\\PC|[\\\\,= \n\t]){0,16}", name in "\\PC{0,10}", key in "\\PC{0,6}") {
        let mut m = MetricSet::new(T0);
        m.gauge(name, "").push([(key.clone(), v.clone())], 1.5);
        let b = Batch {
            metrics: vec![Metrics { collection: Arc::new(collection(T0)), metrics: Arc::new(m) }],
            documents: vec![],
        };
        let mut o = origin();
        o.labels.clear();
        let points = parse_body(&influx::encode(&b, &o, false).body);
        prop_assert_eq!(points.len(), 1);
        let want = expected(&v);
        let got = points[0].tags.iter().find(|(k, _)| k != "host").map(|(_, v)| v.clone());
        if key.is_empty() || key == "host" {
            return Ok(());
        }
        if want.is_empty() {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some(want));
        }
        if !v.contains('\\') && !v.chars().any(char::is_control) && !v.is_empty() {
            prop_assert_eq!(expected(&v), v);
        }
    }
}

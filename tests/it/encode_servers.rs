//! The encoders' bodies posted to real receivers started on loopback (Debian's prometheus 2.42, victoria-metrics
//! 1.79, influxdb 1.6), then read back: the receivers' own parsers are the judges of escaping, label rules and
//! values. (The lead's pipeline tests cover delivery; these cover the wire format alone.)

use crate::common::encode::{collection, origin};
use crate::common::{Reaped, free_port, require};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasp::model::MetricSet;
use wasp::ship::encode::{Batch, Metrics};
use wasp::ship::sinks::{influx, prometheus_remote_write as prw};

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn post(url: &str, body: &[u8], headers: &[&str]) -> (u16, String) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), body).unwrap();
    let data = format!("@{}", f.path().display());
    let mut args = vec!["-XPOST", url, "--data-binary", data.as_str()];
    for h in headers {
        args.extend(["-H", h]);
    }
    curl(&args)
}

fn get(url: &str, params: &[&str]) -> Value {
    let mut args = vec!["-G", url];
    for p in params {
        args.extend(["--data-urlencode", p]);
    }
    let (code, body) = curl(&args);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

fn wait_up(url: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if matches!(curl(&[url]).0, 200 | 204) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not up after 20 s: {url}");
}

fn spawn(cmd: &mut Command) -> Reaped {
    Reaped(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    )
}

fn influxdb(dir: &std::path::Path) -> (Reaped, String) {
    let (port, rpc) = (free_port(), free_port());
    let conf = Command::new("influxd")
        .arg("config")
        .output()
        .unwrap()
        .stdout;
    let conf = String::from_utf8_lossy(&conf)
        .replace("/var/lib/influxdb", &dir.display().to_string())
        .replace(
            "bind-address = \":8086\"",
            &format!("bind-address = \"127.0.0.1:{port}\""),
        )
        .replace("store-enabled = true", "store-enabled = false")
        .lines()
        .map(|l| {
            if l.starts_with("bind-address = ") {
                format!("bind-address = \"127.0.0.1:{rpc}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join("influx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = spawn(Command::new("influxd").arg("-config").arg(&path));
    let url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{url}/ping"));
    let (code, body) = curl(&[
        "-XPOST",
        &format!("{url}/query"),
        "--data-urlencode",
        "q=CREATE DATABASE wasp",
    ]);
    assert_eq!(code, 200, "{body}");
    (child, url)
}

fn victoria(dir: &std::path::Path) -> (Reaped, String) {
    let port = free_port();
    let child = spawn(Command::new("victoria-metrics").args([
        format!("-storageDataPath={}", dir.join("vm").display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        "-retentionPeriod=1d".into(),
        "-search.latencyOffset=0s".into(),
    ]));
    let url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{url}/health"));
    (child, url)
}

fn prometheus(dir: &std::path::Path) -> (Reaped, String) {
    let port = free_port();
    let conf = dir.join("prom.yml");
    std::fs::write(&conf, "global:\n  scrape_interval: 15s\n").unwrap();
    let child = spawn(Command::new("prometheus").args([
        format!("--config.file={}", conf.display()),
        format!("--storage.tsdb.path={}", dir.join("prom").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
    ]));
    let url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{url}/-/ready"));
    (child, url)
}

/// Tag values that exercise every escaping rule, with what a reader must get back.
const AWKWARD: &[(&str, &str)] = &[
    ("a b,c=d", "a b,c=d"),
    (r"C:\Program Files\x", r"C:\Program Files\x"),
    (r"C:\dir\", r"C:\dir"),
    (r"\\srv\share", r"\srv\share"),
    (r"tail\ ", "tail "),
    ("line\nbreak", "line break"),
    ("quote\"d 'x'", "quote\"d 'x'"),
    ("ünï cödé ☃", "ünï cödé ☃"),
    ("=,= ", "=,= "),
];

fn awkward_batch(ts: i64) -> Batch {
    let mut m = MetricSet::new(ts);
    let f = m.gauge("wasp_enc_awkward", "");
    for (i, (v, _)) in AWKWARD.iter().enumerate() {
        f.push(
            [("i", i.to_string()), ("v", v.to_string())],
            i as f64 + 0.25,
        );
    }
    m.gauge("wasp_enc_nan", "").set(f64::NAN);
    Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(ts)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    }
}

/// VictoriaMetrics buffers new rows for up to a second before a search can see them.
fn flush(vurl: &str) {
    assert_eq!(curl(&[&format!("{vurl}/internal/force_flush")]).0, 200);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 5000
}

#[test]
fn line_protocol_reads_back_from_influxdb_and_victoriametrics() {
    let _floor = crate::common::beside();
    if !require("influxd") || !require("victoria-metrics") || !require("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_influx, iurl) = influxdb(dir.path());
    let (_vm, vurl) = victoria(dir.path());
    let ts = now_ms();
    let b = awkward_batch(ts);
    let enc = influx::encode(&b, &origin(), true);
    assert_eq!((enc.items, enc.skipped), (AWKWARD.len() as u64, 1));
    for url in [
        format!("{iurl}/write?db=wasp&precision=ms"),
        format!("{vurl}/write?db=wasp&precision=ms"),
    ] {
        let (code, body) = post(&url, &enc.body, &["Content-Encoding: gzip"]);
        assert_eq!(code, 204, "{url}: {body}");
    }

    // InfluxDB: one row per value, tags as columns.
    let r = get(
        &format!("{iurl}/query"),
        &["db=wasp", "epoch=ms", "q=SELECT * FROM wasp_enc_awkward"],
    );
    let s = &r["results"][0]["series"][0];
    let cols: Vec<&str> = s["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let col = |n: &str| cols.iter().position(|c| *c == n).unwrap();
    let rows = s["values"].as_array().unwrap();
    assert_eq!(rows.len(), AWKWARD.len());
    for row in rows {
        let i: usize = row[col("i")].as_str().unwrap().parse().unwrap();
        assert_eq!(
            row[col("v")].as_str().unwrap(),
            AWKWARD[i].1,
            "influxdb, value {i}"
        );
        assert_eq!(row[col("host")].as_str().unwrap(), "was01");
        assert_eq!(row[col("dc")].as_str().unwrap(), "par 1");
        assert_eq!(row[col("time")].as_i64().unwrap(), ts);
        assert_eq!(row[col("value")].as_f64().unwrap(), i as f64 + 0.25);
    }

    // VictoriaMetrics: `<measurement>_<field>` series with the tags as labels (plus db).
    flush(&vurl);
    let (code, text) = curl(&[
        "-G",
        &format!("{vurl}/api/v1/export"),
        "--data-urlencode",
        "match[]={__name__=\"wasp_enc_awkward_value\"}",
    ]);
    assert_eq!(code, 200);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), AWKWARD.len(), "{text}");
    for l in &lines {
        let i: usize = l["metric"]["i"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            l["metric"]["v"].as_str().unwrap(),
            AWKWARD[i].1,
            "victoria-metrics, value {i}"
        );
        assert_eq!(l["timestamps"][0].as_i64().unwrap(), ts);
        assert_eq!(l["values"][0].as_f64().unwrap(), i as f64 + 0.25);
    }
}

/// What a tag value must read back as (docs/shipping.md): control characters become spaces, and a backslash
/// before `\` `,` `=` space or at the end is dropped. Written from the rules, apart from the encoder.
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

/// 400 random tag values over the characters that matter, each read back from both servers exactly as the
/// rules say (an empty result means the tag is left out).
#[test]
fn random_tag_values_read_back_as_the_rules_say() {
    let _floor = crate::common::beside();
    if !require("influxd") || !require("victoria-metrics") || !require("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_influx, iurl) = influxdb(dir.path());
    let (_vm, vurl) = victoria(dir.path());
    let alphabet: Vec<char> = "ab \\,=\"'#é☃\t\n".chars().collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as usize
    };
    let values: Vec<String> = (0..400)
        .map(|_| {
            (0..next(9))
                .map(|_| alphabet[next(alphabet.len() as u64)])
                .collect()
        })
        .collect();
    let ts = now_ms();
    let mut m = MetricSet::new(ts);
    let f = m.gauge("wasp_enc_random", "");
    for (i, v) in values.iter().enumerate() {
        f.push([("i", i.to_string()), ("v", v.clone())], i as f64);
    }
    let b = Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(ts)),
            metrics: Arc::new(m),
        }],
        documents: vec![],
    };
    let enc = influx::encode(&b, &origin(), false);
    for url in [
        format!("{iurl}/write?db=wasp&precision=ms"),
        format!("{vurl}/write?db=wasp&precision=ms"),
    ] {
        let (code, body) = post(&url, &enc.body, &[]);
        assert_eq!(code, 204, "{url}: {body}");
    }
    let want = |i: usize| Some(expected(&values[i])).filter(|e| !e.is_empty());

    let r = get(
        &format!("{iurl}/query"),
        &["db=wasp", "q=SELECT * FROM wasp_enc_random"],
    );
    let s = &r["results"][0]["series"][0];
    let cols: Vec<&str> = s["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let col = |n: &str| cols.iter().position(|c| *c == n).unwrap();
    let rows = s["values"].as_array().unwrap();
    assert_eq!(rows.len(), values.len());
    for row in rows {
        let i: usize = row[col("i")].as_str().unwrap().parse().unwrap();
        let got = row[col("v")].as_str().map(String::from);
        assert_eq!(got, want(i), "influxdb, value {:?}", values[i]);
    }

    flush(&vurl);
    let (code, text) = curl(&[
        "-G",
        &format!("{vurl}/api/v1/export"),
        "--data-urlencode",
        "match[]={__name__=\"wasp_enc_random_value\"}",
    ]);
    assert_eq!(code, 200);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), values.len());
    for l in &lines {
        let i: usize = l["metric"]["i"].as_str().unwrap().parse().unwrap();
        let got = l["metric"]["v"].as_str().map(String::from);
        assert_eq!(got, want(i), "victoria-metrics, value {:?}", values[i]);
    }
}

#[test]
fn remote_write_reads_back_from_prometheus_and_victoriametrics() {
    let _floor = crate::common::beside();
    if !require("prometheus") || !require("victoria-metrics") || !require("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_prom, purl) = prometheus(dir.path());
    let (_vm, vurl) = victoria(dir.path());
    let ts = now_ms();
    let mut b = awkward_batch(ts);
    // A second collection a second later: two samples per series, in one request.
    let mut later = awkward_batch(ts + 1000);
    b.metrics.append(&mut later.metrics);
    let enc = prw::encode(&b, &origin());
    let headers = [
        "Content-Encoding: snappy",
        "Content-Type: application/x-protobuf",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    ];
    for url in [
        format!("{purl}/api/v1/write"),
        format!("{vurl}/api/v1/write"),
    ] {
        let (code, body) = post(&url, &enc.body, &headers);
        assert_eq!(code, 204, "{url}: {body}");
    }
    flush(&vurl);
    // VictoriaMetrics stores NaN as a staleness marker, which queries never return.
    for (url, with_nan) in [(purl, 1), (vurl, 0)] {
        let r = get(
            &format!("{url}/api/v1/query"),
            &[
                "query={__name__=~\"wasp_enc_.*\"}[1h]",
                &format!("time={}", (ts + 2000) as f64 / 1000.0),
            ],
        );
        let result = r["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), AWKWARD.len() + with_nan, "{url}: {r}");
        for s in result {
            let m = &s["metric"];
            assert_eq!(m["instance"], "was01");
            assert_eq!(m["job"], "wasp");
            assert_eq!(m["env"], "prod");
            let v = s["values"].as_array().unwrap();
            assert_eq!(v.len(), 2, "{url}: {s}");
            assert_eq!(v[0][0].as_f64().unwrap(), ts as f64 / 1000.0);
            if m["__name__"] == "wasp_enc_nan" {
                assert_eq!(v[0][1], "NaN");
                continue;
            }
            let i: usize = m["i"].as_str().unwrap().parse().unwrap();
            // Remote write carries any UTF-8 value unchanged.
            assert_eq!(m["v"].as_str().unwrap(), AWKWARD[i].0, "{url}, value {i}");
            assert_eq!(v[1][1].as_str().unwrap(), (i as f64 + 0.25).to_string());
        }
    }
}

/// Two real collections of this host: every sample sent is stored, counted back on each receiver.
#[test]
fn real_collections_are_stored_whole() {
    let _floor = crate::common::beside();
    if !require("prometheus") || !require("influxd") || !require("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_prom, purl) = prometheus(dir.path());
    let (_influx, iurl) = influxdb(dir.path());
    let b = crate::common::encode::real_batch();
    let last = b.metrics[1].metrics.timestamp_ms;

    let enc = prw::encode(&b, &origin());
    let (code, body) = post(
        &format!("{purl}/api/v1/write"),
        &enc.body,
        &[
            "Content-Encoding: snappy",
            "Content-Type: application/x-protobuf",
        ],
    );
    assert_eq!(code, 204, "{body}");
    let r = get(
        &format!("{purl}/api/v1/query"),
        &[
            "query={job=\"wasp\"}[1h]",
            &format!("time={}", (last + 1000) as f64 / 1000.0),
        ],
    );
    let n: usize = r["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n as u64, enc.items, "prometheus");

    let enc = influx::encode(&b, &origin(), false);
    let (code, body) = post(
        &format!("{iurl}/write?db=wasp&precision=ms"),
        &enc.body,
        &[],
    );
    assert_eq!(code, 204, "{body}");
    let r = get(
        &format!("{iurl}/query"),
        &["db=wasp", "q=SELECT count(value) FROM /.*/"],
    );
    let n: u64 = r["results"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"][0][1].as_u64().unwrap())
        .sum();
    // A line repeating another's series and time overwrites it (a filesystem mounted twice gives such repeats
    // in a collection; remote write skips them and counts them in `skipped`).
    let distinct: std::collections::HashSet<(&str, &str)> = std::str::from_utf8(&enc.body)
        .unwrap()
        .lines()
        .map(|l| {
            let (series, rest) = l.split_once(" value=").unwrap();
            (series, rest.split_once(' ').unwrap().1)
        })
        .collect();
    assert_eq!(n, distinct.len() as u64, "influxdb");
}

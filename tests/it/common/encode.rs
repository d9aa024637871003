//! Batches for the encoder tests: hand-built ones with known values, and real collections of this host.

use std::sync::Arc;
use wasp::model::{Collection, Document, MetricSet, jvm::Jvm};
use wasp::ship::encode::{Batch, Metrics, Origin};

pub const T0: i64 = 1_795_000_000_000;

pub fn origin() -> Origin {
    Origin {
        hostname: "was01".into(),
        labels: vec![("dc".into(), "par 1".into()), ("env".into(), "prod".into())],
        boot_time_ms: T0 - 86_400_000,
    }
}

/// One collection's samples at `ts`: host counters and gauges, one JVM (pid 4242, app "shop"), awkward labels.
pub fn metric_set(ts: i64, k: f64) -> MetricSet {
    let mut m = MetricSet::new(ts);
    let cpu = m.counter("node_cpu_seconds_total", "CPU seconds.");
    for c in 0..2 {
        for mode in ["user", "system", "idle"] {
            cpu.push(
                [("cpu", c.to_string()), ("mode", mode.to_string())],
                100.0 * k + c as f64,
            );
        }
    }
    m.gauge("node_load1", "Load.").set(0.5 * k);
    m.gauge("node_filesystem_avail_bytes", "Free.").push(
        [
            ("mountpoint", "/var/log"),
            ("device", "/dev/sda1"),
            ("env", "test"),
        ],
        1e9 + k,
    );
    m.gauge("jvm_memory_bytes_used", "Used.")
        .push(
            [("pid", "4242"), ("app", "shop"), ("area", "heap")],
            1024.0 * k,
        )
        .push(
            [("pid", "4242"), ("app", "shop"), ("area", "nonheap")],
            512.0 * k,
        );
    m.counter("jvm_gc_collection_seconds_count", "GCs.").push(
        [
            ("pid", "4242"),
            ("app", "shop"),
            ("gc", "G1 Young Generation"),
        ],
        3.0 * k,
    );
    m.gauge("wasp_odd", "Awkward labels.").push(
        [("path", r"C:\dir\ x,y=z"), ("empty", ""), ("bad-name", "v")],
        -2.5,
    );
    m
}

pub fn collection(ts: i64) -> Collection {
    Collection {
        timestamp_ms: ts,
        hostname: "was01".into(),
        jvms: vec![Jvm {
            pid: 4242,
            app: "shop".into(),
            start_time: ((T0 - 3_600_000) / 1000) as u64,
            measurable: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `n` collections one second apart.
pub fn batch(n: usize) -> Batch {
    let mut b = Batch::default();
    for i in 0..n {
        let ts = T0 + 1000 * i as i64;
        b.metrics.push(Metrics {
            collection: Arc::new(collection(ts)),
            metrics: Arc::new(metric_set(ts, 1.0 + i as f64)),
        });
    }
    b
}

pub fn document(kind: &str, ts: i64, pid: &str) -> Document {
    Document {
        kind: kind.into(),
        timestamp_ms: ts,
        labels: [
            ("pid".to_string(), pid.to_string()),
            ("app".into(), "shop".into()),
        ]
        .into_iter()
        .collect(),
        body: serde_json::json!({"threads": 42, "top": ["a \"quoted\"\nline", "é"]}),
    }
}

/// Every (family, labels, value) of a batch's collections, for checking that an encoder lost nothing.
pub fn sample_count(b: &Batch) -> usize {
    b.metrics.iter().map(|m| m.metrics.sample_count()).sum()
}

/// Every series of a batch's collections (a summary's sample is two: `_count`, `_sum`; a histogram's its
/// buckets too), for the encoders of plain series (remote write, Influx).
pub fn series_count(b: &Batch) -> usize {
    b.metrics
        .iter()
        .flat_map(|m| &m.metrics.families)
        .map(|f| f.series().count())
        .sum()
}

/// One collection holding one GC summary point: 3 collections taking 0.25 s, of JVM 4242 "shop".
pub fn summary_batch() -> Batch {
    let mut m = MetricSet::new(T0);
    m.summary("jvm_gc_collection_seconds", "GC time.").observe(
        [
            ("pid", "4242"),
            ("app", "shop"),
            ("gc", "G1 Young Generation"),
        ],
        3.0,
        0.25,
    );
    m.gauge("process_open_fds", "Open fds.")
        .push([("pid", "4242"), ("app", "shop")], 9.0);
    Batch {
        metrics: vec![Metrics {
            collection: Arc::new(collection(T0)),
            metrics: Arc::new(m),
        }],
        ..Default::default()
    }
}

/// An access log's latency as the collection gives it: 4 requests of 0.05, 0.5, 0.5 and 2 s over the
/// buckets 0.1 and 1 s.
pub fn histogram_batch() -> Batch {
    use wasp::model::access::{AppRequests, Histogram};
    let mut a = AppRequests {
        app: "shop".into(),
        log: "localhost_access_log".into(),
        duration: Some(Histogram::new(vec![0.1, 1.0])),
        ..Default::default()
    };
    a.requests[1][0] = 4;
    for s in [0.05, 0.5, 0.5, 2.0] {
        a.duration.as_mut().unwrap().observe(s);
    }
    let mut c = collection(T0);
    c.access = vec![a];
    let m = wasp::present::metrics::from_collection(&c);
    Batch {
        metrics: vec![Metrics {
            collection: Arc::new(c),
            metrics: Arc::new(m),
        }],
        ..Default::default()
    }
}

/// Real collections of this host (two, a second apart, so rates and JVMs are filled in).
pub fn real_batch() -> Batch {
    let cfg = wasp::config::Config::default();
    let mut col = wasp::collect::Collector::new(&cfg);
    let mut b = Batch::default();
    for i in 0..2 {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let c = col.collect();
        let m = wasp::present::metrics::from_collection(&c);
        b.metrics.push(Metrics {
            collection: Arc::new(c),
            metrics: Arc::new(m),
        });
    }
    b
}

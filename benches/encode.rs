//! Encoding throughput per sink, one core: a batch of ten real collections of this host (the batch a sink cuts
//! after ten 1-s intervals), and thread-dump reports for the `_bulk` encoder. Figures in docs/shipping.md.
//!
//! Measured in the thread's CPU time, not wall time: the build machines are shared, and an encoder's cost is
//! what it takes from the agent's core.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasp::model::Document;
use wasp::ship::encode::{Batch, Metrics, Origin, jsonl};
use wasp::ship::sinks::{elasticsearch as es, influx, otlp, prometheus_remote_write as prw};

/// CLOCK_THREAD_CPUTIME_ID, in ns.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; this clock exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (f, unit) = if ns < 1e3 {
            (1.0, "ns cpu")
        } else if ns < 1e6 {
            (1e-3, "µs cpu")
        } else {
            (1e-6, "ms cpu")
        };
        values.iter_mut().for_each(|v| *v *= f);
        unit
    }
    fn scale_throughputs(&self, ns: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Elements(n) => n as f64,
            _ => 1.0,
        };
        let per_s = n * 1e9 / ns;
        let (f, unit) = if per_s < 1e6 {
            (1e-3, "K/cpu-s")
        } else {
            (1e-6, "M/cpu-s")
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v * f);
        unit
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn origin() -> Origin {
    Origin {
        hostname: "was01.example.com".into(),
        labels: vec![("dc".into(), "par1".into()), ("env".into(), "prod".into())],
        boot_time_ms: 1_795_000_000_000,
    }
}

fn real_batch(n: usize) -> Batch {
    let cfg = wasp::config::Config::default();
    let mut col = wasp::collect::Collector::new(&cfg);
    let _ = col.collect();
    let mut b = Batch::default();
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(100));
        let c = col.collect();
        let m = wasp::present::metrics::from_collection(&c);
        b.metrics.push(Metrics {
            collection: Arc::new(c),
            metrics: Arc::new(m),
        });
    }
    b
}

fn metric_sinks(c: &mut Criterion<ThreadCpu>) {
    let b = real_batch(10);
    let o = origin();
    let samples: u64 = b
        .metrics
        .iter()
        .map(|m| m.metrics.sample_count() as u64)
        .sum();
    eprintln!(
        "batch: {} collections, {samples} samples, {} JVMs",
        b.metrics.len(),
        b.metrics[0].collection.jvms.len()
    );
    for (name, size) in [
        ("prw", prw::encode(&b, &o).body.len()),
        ("otlp", otlp::encode(&b, &o, false).body.len()),
        ("otlp gzip", otlp::encode(&b, &o, true).body.len()),
        ("influx", influx::encode(&b, &o, false).body.len()),
        ("influx gzip", influx::encode(&b, &o, true).body.len()),
        ("jsonl", jsonl::encode(&b, &o, false).body.len()),
        ("jsonl gzip", jsonl::encode(&b, &o, true).body.len()),
    ] {
        eprintln!(
            "body {name}: {size} bytes, {:.1} bytes/sample",
            size as f64 / samples as f64
        );
    }
    let mut g = c.benchmark_group("encode 10 collections");
    g.throughput(Throughput::Elements(samples));
    g.bench_function("prometheus remote write (snappy)", |x| {
        x.iter(|| prw::encode(&b, &o))
    });
    g.bench_function("otlp protobuf", |x| x.iter(|| otlp::encode(&b, &o, false)));
    g.bench_function("otlp protobuf gzip", |x| {
        x.iter(|| otlp::encode(&b, &o, true))
    });
    g.bench_function("influx line", |x| x.iter(|| influx::encode(&b, &o, false)));
    g.bench_function("influx line gzip", |x| {
        x.iter(|| influx::encode(&b, &o, true))
    });
    g.bench_function("jsonl", |x| x.iter(|| jsonl::encode(&b, &o, false)));
    g.bench_function("jsonl gzip", |x| x.iter(|| jsonl::encode(&b, &o, true)));
    g.finish();
}

/// Ten thread-dump reports of the JDK 17 fixture, as the snapshot trigger files them.
fn bulk(c: &mut Criterion<ThreadCpu>) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
    )
    .unwrap();
    let report = wasp::jvm::analysis::analyze(&[wasp::jvm::threaddump::parse(&text)], None);
    let body = serde_json::to_value(&report).unwrap();
    let mut b = Batch::default();
    for i in 0..10 {
        b.documents.push(Arc::new(Document {
            kind: "thread_dump".into(),
            timestamp_ms: 1_795_000_000_000 + i * 1000,
            labels: [
                ("pid".to_string(), "4242".to_string()),
                ("app".into(), "shop".into()),
            ]
            .into_iter()
            .collect(),
            body: body.clone(),
        }));
    }
    let o = origin();
    let size = es::encode(&b, &o, "wasp-{kind}-%Y.%m.%d", false).body.len();
    eprintln!("bulk body: {size} bytes for 10 documents");
    let mut g = c.benchmark_group("encode 10 thread-dump reports");
    g.throughput(Throughput::Elements(10));
    g.bench_function("elasticsearch _bulk", |x| {
        x.iter(|| es::encode(&b, &o, "wasp-{kind}-%Y.%m.%d", false))
    });
    g.bench_function("elasticsearch _bulk gzip", |x| {
        x.iter(|| es::encode(&b, &o, "wasp-{kind}-%Y.%m.%d", true))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(ThreadCpu)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = metric_sinks, bulk
}
criterion_main!(benches);

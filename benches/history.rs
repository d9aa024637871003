//! The local history's cost: appending one real collection of this host (one SQLite transaction, fsync'd, as the
//! agent does), and reading 24 h of one series at 5 s back (what the console's chart of a day asks for). Figures
//! and their meaning: docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use wasp::history::query::{Query, Reader};
use wasp::history::store::{BLOCK_LEN, Limits, Store};
use wasp::model::MetricSet;

fn limits(durable: bool) -> Limits {
    Limits {
        raw_retention_ms: 2 * 86_400_000,
        rollup_retention_ms: 35 * 86_400_000,
        max_bytes: 1 << 30,
        block_len: BLOCK_LEN,
        durable,
    }
}

fn history(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut g = c.benchmark_group("history");
    g.sample_size(20);

    // A real collection of this host, as the agent stores it.
    let mut collector = wasp::collect::Collector::new(&wasp::config::Config::default());
    let _ = collector.collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let real = wasp::present::metrics::from_collection(&collector.collect());
    eprintln!(
        "one collection: {} series",
        wasp::history::store::series_of(&real).count()
    );
    let mut s = Store::open(&dir.path().join("append.sqlite"), limits(true)).unwrap();
    let mut ts = 1_700_000_000_000i64;
    g.bench_function("append one collection (fsync'd)", |b| {
        b.iter(|| {
            let mut m = real.clone();
            ts += 5000;
            m.timestamp_ms = ts;
            s.append(&m).unwrap()
        })
    });

    // The same without the fsync: the CPU part of it.
    let mut s = Store::open(&dir.path().join("append-nosync.sqlite"), limits(false)).unwrap();
    g.bench_function("append one collection (no fsync)", |b| {
        b.iter(|| {
            let mut m = real.clone();
            ts += 5000;
            m.timestamp_ms = ts;
            s.append(&m).unwrap()
        })
    });

    // 24 h at 5 s of 64 series: a counter in 1/100 s ticks, gauges that move.
    let path = dir.path().join("day.sqlite");
    let mut s = Store::open(&path, limits(false)).unwrap();
    let t0 = 1_700_000_000_000i64;
    for i in 0..17_280i64 {
        let mut m = MetricSet::new(t0 + i * 5000);
        let f = m.counter("node_cpu_seconds_total", "");
        for k in 0..32 {
            f.push(
                [("cpu", k.to_string()), ("mode", "user".to_string())],
                (i * 3 + (i * k) % 7) as f64 / 100.0,
            );
        }
        let f = m.gauge("node_load1", "");
        f.set((i % 300) as f64 / 100.0);
        let f = m.gauge("node_memory_MemFree_bytes", "");
        for k in 0..31 {
            f.push(
                [("k", k.to_string())],
                (1 << 30) as f64 - ((i * 4096 * k) % (1 << 24)) as f64,
            );
        }
        s.append(&m).unwrap();
    }
    drop(s);
    let r = Reader::open(&path).unwrap();
    let st = r.stats().unwrap();
    eprintln!(
        "24 h store: {} samples in blocks, {} bytes: {:.3} bytes per sample",
        st.raw_samples,
        st.raw_bytes,
        st.raw_bytes as f64 / st.raw_samples as f64
    );
    let q = Query {
        metric: "node_load1".into(),
        matchers: vec![],
        start: t0,
        end: t0 + 86_400_000,
        step_ms: None,
    };
    assert_eq!(r.query(&q).unwrap()[0].points.len(), 17_280);
    g.bench_function("query 24 h of one series at 5 s", |b| {
        b.iter(|| r.query(&q).unwrap())
    });
    g.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);

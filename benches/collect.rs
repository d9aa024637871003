//! Hot paths: one full host collection cycle on this machine, reading one JVM's hsperfdata, and rendering the
//! exposition. Ratios against the peers are measured by scripts/overhead.sh (whole process, same run).

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use wasp::config::Config;

fn collection_cycle(c: &mut Criterion) {
    let cfg = Config::default();
    let mut col = wasp::collect::Collector::new(&cfg);
    let _ = col.collect();
    c.bench_function("collection cycle (host + JVM discovery)", |b| {
        b.iter(|| col.collect())
    });
    let coll = col.collect();
    c.bench_function("metrics + exposition of one collection", |b| {
        b.iter(|| {
            let m = wasp::present::metrics::from_collection(&coll);
            let mut s = String::with_capacity(64 * 1024);
            wasp::present::prom::render(&m, &[], &mut s);
            s
        })
    });
}

fn perfdata(c: &mut Criterion) {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/jdk17-G1.hsperf"),
    )
    .unwrap();
    c.bench_function("hsperfdata: parse all counters of one JVM (32 KiB)", |b| {
        b.iter(|| wasp::jvm::perfdata::PerfData::parse(&bytes).unwrap())
    });
    let pd = wasp::jvm::perfdata::PerfData::parse(&bytes).unwrap();
    c.bench_function("hsperfdata: jstat columns + hotspot figures", |b| {
        b.iter(|| {
            (
                wasp::jvm::metrics::jstat(&pd),
                wasp::jvm::metrics::figures(&pd, None),
            )
        })
    });
}

criterion_group!(benches, collection_cycle, perfdata);
criterion_main!(benches);

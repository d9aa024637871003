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

/// A 10,000-thread dump built from the JDK 17 fixture's threads (names made unique), parsed and analysed.
fn dump_parse(c: &mut Criterion) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
    )
    .unwrap();
    let blocks: Vec<&str> = text.split("\n\n").filter(|b| b.starts_with('"')).collect();
    let mut big = String::from(
        "Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing):\n\n",
    );
    let mut n = 0;
    while n < 10_000 {
        for b in &blocks {
            big.push_str(&b.replacen('"', &format!("\"t{n}-"), 1));
            big.push_str("\n\n");
            n += 1;
        }
    }
    c.bench_function("parse + analyse a 10,000-thread dump", |b| {
        b.iter(|| {
            let d = wasp::jvm::threaddump::parse(&big);
            wasp::jvm::analysis::analyze(&[d], None)
        })
    });
}

/// TCP states by local port over netlink: what the host's socket count costs each collection
/// (`scripts/tcp-states-cost.sh` runs it with thousands of connections open).
fn tcp_states(c: &mut Criterion) {
    let n: u64 = wasp::host::sockdiag::tcp_counts()
        .map(|m| m.values().sum())
        .unwrap_or(0);
    println!("TCP sockets on this host: {n}");
    c.bench_function("sockdiag: TCP states by port (this host)", |b| {
        b.iter(wasp::host::sockdiag::tcp_counts)
    });
}

criterion_group!(benches, collection_cycle, perfdata, dump_parse, tcp_states);
criterion_main!(benches);

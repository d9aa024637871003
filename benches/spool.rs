//! Spool throughput: appending one collection (with the timed sync of the default, and with an fdatasync after every
//! append, what a per-collection sync would cost),
//! and reading + acknowledging them back, on the disk of the data dir (run from the repo: target/ is on the same
//! file system as /var/lib/wasp on most hosts). Figures and their meaning: docs/shipping.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasp::ship::spool::{Record, Spool};

fn record(size: usize) -> Record {
    Record {
        kind: 0,
        items: 1000,
        min_ts_ms: 1,
        max_ts_ms: 2,
        created_ms: 1,
        body: (0..size).map(|i| (i * 31 % 251) as u8).collect(),
    }
}

fn spool(c: &mut Criterion) {
    // 20 KB is about one collection's remote-write body (1,000 samples, snappy) on this host.
    let rec = record(20_000);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut g = c.benchmark_group("spool");
    g.throughput(Throughput::Bytes(rec.body.len() as u64));
    for sync in [true, false] {
        let d = dir.path().join(format!("s{sync}"));
        let (mut s, _) = Spool::open(&d, 64 << 20, 0, sync).unwrap();
        // Drop-oldest keeps the spool at its 64 MB bound however long criterion runs.
        if sync {
            g.bench_function("append 20 KB + fdatasync each", |b| {
                b.iter(|| {
                    s.append(&rec).unwrap();
                    s.sync().unwrap()
                })
            });
        } else {
            g.bench_function("append 20 KB (default: sync every 5 s)", |b| {
                b.iter(|| s.append(&rec).unwrap())
            });
        }
    }
    let d = dir.path().join("read");
    let s = std::cell::RefCell::new(Spool::open(&d, 1 << 30, 0, false).unwrap().0);
    g.bench_function("read + ack 20 KB", |b| {
        b.iter_batched(
            || s.borrow_mut().append(&rec).unwrap(),
            |_| {
                let mut s = s.borrow_mut();
                let (next, r) = s.peek().unwrap().unwrap();
                s.ack(next, 1).unwrap();
                r.items
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, spool);
criterion_main!(benches);

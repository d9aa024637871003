//! Access-log parsing speed: lines per second on Tomcat's combined pattern with %D, one core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasp::access::follow::Tail;
use wasp::access::format::{Dialect, LineFormat};
use wasp::access::stats::Tally;
use wasp::model::access::{AppRequests, DEFAULT_BUCKETS, Histogram};
use wasp::util::safe_open::Owner;

fn lines() -> Vec<String> {
    let paths = [
        "/shop/cart",
        "/api/orders/12345",
        "/static/app.v2.js",
        "/api/users/9f86d081884c7d65/profile",
    ];
    (0..10_000)
        .map(|i| {
            format!(
                "10.1.{}.{} - - [29/Nov/2026:23:{:02}:07 +0000] \"GET {}?page={} HTTP/1.1\" {} {} \"https://shop.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\" {}",
                i % 250, i % 200, i % 60, paths[i % 4], i, if i % 50 == 0 { 500 } else { 200 }, 100 + i * 7, 800 + i * 13
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let f = LineFormat::compile(
        "%h %l %u %t \"%r\" %s %b \"%{Referer}i\" \"%{User-Agent}i\" %D",
        Dialect::Tomcat(10),
    );
    let ls = lines();
    let mut g = c.benchmark_group("access");
    g.throughput(Throughput::Elements(ls.len() as u64));
    g.bench_function("parse_combined_D", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for l in &ls {
                n += f.parse(l.as_bytes()).map(|r| r.status as u64).unwrap_or(0);
            }
            n
        })
    });
    // Parse and count, templates included: what the access thread does per line.
    g.bench_function("parse_and_count_combined_D", |b| {
        let mut t = Tally::new(
            AppRequests {
                duration: Some(Histogram::new(DEFAULT_BUCKETS.to_vec())),
                ..Default::default()
            },
            DEFAULT_BUCKETS.to_vec(),
        );
        b.iter(|| {
            for l in &ls {
                if let Ok(r) = f.parse(l.as_bytes()) {
                    t.add(&r, 1_800_000_000_000);
                }
            }
        })
    });
    // The whole path from a file: follow, cut lines, parse, count (what mtail --one_shot does to a file).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut text = String::new();
    for l in &ls {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    g.bench_function("file_follow_parse_count_combined_D", |b| {
        b.iter(|| {
            let mut tail = Tail::new(Owner::Any);
            let _ = tail.poll(Vec::new(), 1, &mut |_, _| {});
            let mut t = Tally::new(
                AppRequests {
                    duration: Some(Histogram::new(DEFAULT_BUCKETS.to_vec())),
                    ..Default::default()
                },
                DEFAULT_BUCKETS.to_vec(),
            );
            let mut n = 0u64;
            tail.poll(vec![path.clone()], 1 << 30, &mut |line, _| {
                if let Ok(r) = f.parse(line) {
                    t.add(&r, 1_800_000_000_000);
                    n += 1;
                }
            });
            assert_eq!(n, 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The cost of triggers on the collection loop (rule evaluation, once per collection) and of a log watch's
//! thread (lines per second through the follower).

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::Write;
use std::time::Instant;
use wasp::config::Config;
use wasp::model::Collection;
use wasp::model::jvm::{Area, Jvm, JvmFigures};

fn rules(c: &mut Criterion) {
    // 50 rules: 25 host rules and 25 per-JVM rules, over a collection of this host plus 20 JVMs.
    let mut toml = String::new();
    for i in 0..25 {
        toml.push_str(&format!(
            "[[rules]]\nname = \"h{i}\"\nwhen = \"host.cpu_busy_pct > 90% and host.mem_available_pct < 10% or host.close_wait[8080] > {i}\"\nfor = \"1m\"\ndo = [\"log\"]\n\
             [[rules]]\nname = \"j{i}\"\nwhen = \"jvm.heap_pct > 90% and (jvm.gc_overhead_pct > 10 or jvm.threads > {i})\"\nfor = \"1m\"\ndo = [\"log\"]\n"
        ));
    }
    let cfg = Config::parse(&toml, std::path::Path::new("bench.toml")).unwrap();
    let cat = wasp::trigger::figures::Catalogue {
        logs: &cfg.logs,
        checks: &cfg.checks,
    };
    let mut engine =
        wasp::trigger::rules::Engine::new(wasp::trigger::rules::compile(&cfg.rules, &cat).unwrap());
    let mut col = wasp::collect::Collector::new(&Config::default());
    let _ = col.collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut coll: Collection = col.collect();
    coll.jvms = (0..20)
        .map(|i| Jvm {
            pid: 100_000 + i,
            app: format!("app{i}"),
            start_time: 1,
            measurable: true,
            figures: Some(JvmFigures {
                heap: Area {
                    used: 500 << 20,
                    committed: 1 << 30,
                    max: Some(1 << 30),
                    init: None,
                },
                gc_overhead_pct: Some(1.0),
                threads_live: 200,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let mut sources = wasp::trigger::figures::Sources::default();
    c.bench_function(
        "rules: 50 rules (25 per JVM x 20 JVMs) on one collection",
        |b| {
            b.iter(|| {
                let view = sources.view();
                engine.evaluate(&coll, &[], &view, Instant::now(), &|_| Vec::new())
            })
        },
    );
}

fn logwatch(c: &mut Criterion) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("catalina.out");
    std::fs::write(&p, "").unwrap();
    let toml = format!(
        "[[logs]]\nname = \"cat\"\npath = \"{}\"\nmax_read = \"64MB\"\n\
         patterns = {{ oom = \"OutOfMemoryError\", exhausted = \"All threads .* are currently busy\", link = \"Communications link failure\" }}\n",
        p.display()
    );
    let cfg = Config::parse(&toml, std::path::Path::new("bench.toml")).unwrap();
    let state = std::sync::Arc::new(std::sync::Mutex::new(
        wasp::trigger::logwatch::WatchState::new(3),
    ));
    let mut f = wasp::trigger::logwatch::Follower::new(cfg.logs[0].clone(), state);
    f.poll();
    // 10,000 Tomcat-like lines (~130 bytes), one in a thousand matching.
    let mut chunk = String::new();
    for i in 0..10_000 {
        if i % 1000 == 0 {
            chunk.push_str("24-Nov-2026 18:54:17.123 SEVERE [http-nio-8080-exec-7] org.apache.catalina.core.StandardWrapperValve.invoke java.lang.OutOfMemoryError: Java heap space\n");
        } else {
            chunk.push_str(&format!("24-Nov-2026 18:54:17.123 INFO [http-nio-8080-exec-{}] org.apache.catalina.startup.Catalina.start Server startup in [{i}] milliseconds\n", i % 200));
        }
    }
    let mut file = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    c.bench_function(
        "log watch: 10,000 lines (1.3 MB), 3 patterns, one poll",
        |b| {
            b.iter(|| {
                file.write_all(chunk.as_bytes()).unwrap();
                f.poll();
            })
        },
    );
}

criterion_group!(benches, rules, logwatch);
criterion_main!(benches);

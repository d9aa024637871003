//! wasp's JVM figures next to the JVM's own management beans (MemoryPoolMXBean, GarbageCollectorMXBean, threads,
//! classes) on OpenJDK 17 and Temurin 25, G1 and Parallel. The program allocates only at start and prints the
//! beans on request; wasp reads hsperfdata just before and after, and a pair that moved is read again.
//! Tolerances: G1 capacities carry up to 16 bytes of hsperfdata padding per pool; GC time is whole ms in the
//! bean (truncated), nanosecond ticks in hsperfdata: within 1 ms. Figures hsperfdata lacks or holds
//! differently (Metaspace moves only at a GC, PS Eden/Survivor max) are not compared: docs/jvm-metrics.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wasp::jvm::{metrics, perfdata::PerfData};
use wasp::model::jvm::JvmFigures;

fn classes() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jvm-beans");
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/src/Beans.java");
        // --release 8: string concatenation without invokedynamic, so printing loads no classes.
        let ok = Command::new("javac")
            .args(["--release", "8", "-nowarn", "-d"])
            .arg(&dir)
            .arg(&src)
            .status()
            .unwrap();
        assert!(ok.success());
        dir
    })
    .clone()
}

struct Beans {
    pools: HashMap<String, [i64; 3]>,
    gcs: HashMap<String, [i64; 2]>,
    threads: [i64; 4],
    classes: i64,
}

fn read_beans(out: &mut impl BufRead) -> Beans {
    let mut b = Beans {
        pools: HashMap::new(),
        gcs: HashMap::new(),
        threads: [0; 4],
        classes: 0,
    };
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the JVM ended");
        let f: Vec<&str> = line.trim_end().split('\t').collect();
        let n = |i: usize| f[i].parse::<i64>().unwrap();
        match f[0] {
            "end" | "ready" => return b,
            "pool" => {
                b.pools.insert(f[1].into(), [n(2), n(3), n(4)]);
            }
            "gc" => {
                b.gcs.insert(f[1].into(), [n(2), n(3)]);
            }
            "threads" => b.threads = [n(1), n(2), n(3), n(4)],
            "classes" => b.classes = n(1),
            _ => panic!("unexpected line {line:?}"),
        }
    }
}

fn differences(w: &JvmFigures, b: &Beans, g1: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let pad = if g1 { 16 } else { 0 };
    for p in &w.pools {
        if p.name == "Metaspace" || p.name == "Compressed Class Space" {
            continue;
        }
        let Some([used, committed, max]) = b.pools.get(&p.name) else {
            bad.push(format!("{}: no such bean", p.name));
            continue;
        };
        if p.used as i64 != *used {
            bad.push(format!("{} used {} vs {used}", p.name, p.used));
        }
        if (p.committed as i64 - committed).abs() > pad {
            bad.push(format!(
                "{} committed {} vs {committed}",
                p.name, p.committed
            ));
        }
        let wmax = p.max.map(|v| v as i64).unwrap_or(-1);
        let comparable = g1 || p.name.ends_with("Old Gen");
        if comparable && (wmax - max).abs() > pad {
            bad.push(format!("{} max {wmax} vs {max}", p.name));
        }
    }
    let heap: Vec<&String> = b
        .pools
        .keys()
        .filter(|k| !k.contains("Code") && !k.contains("Meta") && !k.contains("Class"))
        .collect();
    if heap.len() != w.pools.len() - 2 {
        bad.push(format!("heap pools {heap:?} vs {:?}", w.pools));
    }
    let names: Vec<&str> = w.collectors.iter().map(|c| c.name.as_str()).collect();
    let mut beans: Vec<&str> = b.gcs.keys().map(|s| s.as_str()).collect();
    let mut ours = names.clone();
    beans.sort();
    ours.sort();
    if beans != ours {
        bad.push(format!("collectors {ours:?} vs {beans:?}"));
    }
    for c in &w.collectors {
        if let Some([count, ms]) = b.gcs.get(&c.name) {
            if c.count != *count {
                bad.push(format!("{} count {} vs {count}", c.name, c.count));
            }
            if (c.seconds * 1000.0 - *ms as f64).abs() > 1.0 {
                bad.push(format!("{} time {} s vs {ms} ms", c.name, c.seconds));
            }
        }
    }
    let t = [
        w.threads_live,
        w.threads_daemon,
        w.threads_peak,
        w.threads_started,
    ];
    if t != b.threads {
        bad.push(format!("threads {t:?} vs {:?}", b.threads));
    }
    if w.classes_loaded - w.classes_unloaded != b.classes {
        bad.push(format!(
            "classes {} vs {}",
            w.classes_loaded - w.classes_unloaded,
            b.classes
        ));
    }
    bad
}

fn compare(java: &Path, gc: &str) {
    let mut child = Command::new(java)
        .args([gc, "-Xmx256m", "-XX:+UsePerfData", "-cp"])
        .arg(classes())
        .arg("Beans")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut inp = child.stdin.take().unwrap();
    read_beans(&mut out);
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let path = PathBuf::from(format!("/tmp/hsperfdata_{}/{}", user.trim(), child.id()));
    let wasp = || metrics::figures(&PerfData::read(&path).unwrap(), None).0;
    // hsperfdata's used figures are samples the JVM takes every 50 ms (PerfDataSamplingInterval), the beans are
    // live: "after" is read only once a sample has been taken since the beans were, else an allocation between
    // the last sample and the bean read goes unseen (a CI run: PS Eden used 17826992 vs 18571504).
    let settle = || std::thread::sleep(std::time::Duration::from_millis(150));
    let mut last = Vec::new();
    for _ in 0..10 {
        settle();
        let before = wasp();
        inp.write_all(b"\n").unwrap();
        let beans = read_beans(&mut out);
        settle();
        let after = wasp();
        if before != after {
            continue;
        }
        last = differences(&after, &beans, gc.contains("G1"));
        if last.is_empty() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(last.is_empty(), "{} {gc}: {last:#?}", java.display());
}

#[test]
fn figures_equal_the_beans_on_jdk17_and_25_g1_and_parallel() {
    let _floor = crate::common::beside();
    let mut javas = vec![PathBuf::from("/usr/bin/java")];
    let t25 = PathBuf::from("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java");
    if t25.exists() {
        javas.push(t25);
    }
    for java in &javas {
        for gc in ["-XX:+UseG1GC", "-XX:+UseParallelGC"] {
            compare(java, gc);
        }
    }
}

//! Real JVMs (OpenJDK 17, and the JDK 25 under /usr/lib/jvm when the machine has one) with G1 and Parallel GC:
//! `wasp jvm stat` against `jstat -gc`/`-gcutil` read back to back; JVMs of another user and with a private
//! /tmp found and measured.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn classes() -> PathBuf {
    // Once per test process: the tests of this file run in parallel, and a JVM started while another test's
    // javac is still writing Alloc.class dies on the half-written class.
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(compile).clone()
}

fn compile() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jvm-classes");
    if !dir.join("Alloc.class").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/src/Alloc.java");
        let ok = Command::new("javac")
            .args(["--release", "11", "-d"])
            .arg(&dir)
            .arg(&src)
            .status()
            .unwrap();
        assert!(ok.success());
        // Readable by the other users the tests run JVMs as.
        let _ = Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&dir)
            .status();
    }
    dir
}

fn java25() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java");
    p.exists().then_some(p)
}

fn start(java: &Path, gc: &str, prefix: &[&str]) -> Reaped {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or(java.to_str().unwrap()));
    if !prefix.is_empty() {
        cmd.args(&prefix[1..]).arg(java);
    }
    let child = cmd
        .args(["-Xmx64m", "-Xshare:auto", gc, "-cp"])
        .arg(classes())
        .arg("Alloc")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Reaped(child)
}

fn wasp(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr)),
    )
}

/// The java process started under a wrapper (setpriv, unshare) is a child of it: find it by its parent chain.
fn java_pid(root: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("pgrep")
            .args(["-f", "Alloc$"])
            .output()
            .unwrap();
        for p in stdout(&out)
            .split_whitespace()
            .filter_map(|s| s.parse::<u32>().ok())
        {
            let mut q = p;
            for _ in 0..4 {
                if q == root {
                    return p;
                }
                let stat = std::fs::read_to_string(format!("/proc/{q}/stat")).unwrap_or_default();
                q = stat
                    .rsplit(") ")
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
        }
        assert!(Instant::now() < deadline, "no java child of {root}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_measurable(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if wasp(&["jvm", "stat", &pid.to_string(), "--format", "json"]).0 {
            // Let the JVM finish start-up (first GCs, class loading) so counts are steadier.
            std::thread::sleep(Duration::from_millis(700));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "pid {pid} never became measurable: {:?}\ncmdline {:?}\nits /tmp: {:?}",
        wasp(&["jvm", "list"]),
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " ")),
        std::fs::read_dir(format!("/proc/{pid}/root/tmp"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
}

fn jstat_line(jstat: &Path, opt: &str, pid: u32) -> Vec<String> {
    let o = Command::new(jstat)
        .args([opt, &pid.to_string()])
        .output()
        .unwrap();
    let t = stdout(&o);
    t.lines()
        .nth(1)
        .unwrap_or_else(|| panic!("jstat {opt}: {t}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Compares one JVM: capacities exactly, counts exactly when no GC ran between the two reads (retried until
/// none did), usage within what allocation explains: the test program allocates ~13 MB/s and the two reads are
/// ~100 ms apart (jstat boots a JVM), so eden use may differ by what the program allocates meanwhile
/// (64 KiB every 20 ms = 3.2 MB/s; the bound below doubles it); survivor/old only move at a GC.
fn compare(pid: u32, jstat: &Path) {
    for attempt in 0..5 {
        let t0 = Instant::now();
        let (ok, out) = wasp(&["jvm", "stat", &pid.to_string(), "--format", "json"]);
        assert!(ok, "{out}");
        let w: serde_json::Value = serde_json::from_str(&out).unwrap();
        let gc = jstat_line(jstat, "-gc", pid);
        let util = jstat_line(jstat, "-gcutil", pid);
        let elapsed = t0.elapsed().as_secs_f64();
        let eden_kb_moved = 2.0 * 3200.0 * elapsed;
        let cols = [
            "S0C", "S1C", "S0U", "S1U", "EC", "EU", "OC", "OU", "MC", "MU", "CCSC", "CCSU", "YGC",
            "YGCT", "FGC", "FGCT", "CGC", "CGCT", "GCT",
        ];
        let get = |c: &str| match &w[c] {
            serde_json::Value::Null => "-".to_string(),
            v => v.to_string(),
        };
        let counts_same = ["YGC", "FGC", "CGC"].iter().all(|c| {
            let i = cols.iter().position(|x| x == c).unwrap();
            get(c) == gc[i] && get(c) == util[i - 6]
        });
        if !counts_same {
            eprintln!("attempt {attempt}: a GC ran between the reads; again");
            continue;
        }
        let mut failures = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            let (a, b) = (get(c), gc[i].clone());
            if a == "-" || b == "-" {
                if a != b {
                    failures.push(format!("{c}: wasp {a} jstat {b}"));
                }
                continue;
            }
            let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            let tol = match *c {
                "EU" => eden_kb_moved + 1024.0, // KB; G1 counts eden in whole 1 MB regions
                "YGCT" | "FGCT" | "CGCT" | "GCT" => 0.0005, // same counters, printed to 3 decimals
                _ => 0.05,                      // capacities, counts, survivor/old/metaspace: exact
            };
            if (x - y).abs() > tol {
                failures.push(format!("{c}: wasp {x} jstat {y}"));
            }
        }
        let ucols = ["S0", "S1", "E", "O", "M", "CCS"];
        for (i, c) in ucols.iter().enumerate() {
            let a = get(c);
            let b = util[i].clone();
            if a == "-" || b == "-" {
                if a != b {
                    failures.push(format!("-gcutil {c}: wasp {a} jstat {b}"));
                }
                continue;
            }
            let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            let ec: f64 = w["EC"].as_f64().unwrap_or(1.0).max(1.0);
            let tol = if *c == "E" {
                (eden_kb_moved + 1024.0) / ec * 100.0
            } else {
                0.01
            };
            if (x - y).abs() > tol {
                failures.push(format!("-gcutil {c}: wasp {x} jstat {y}"));
            }
        }
        assert!(failures.is_empty(), "pid {pid}:\n{}", failures.join("\n"));
        return;
    }
    panic!("pid {pid}: a GC ran between every pair of reads");
}

#[test]
fn jvm_stat_agrees_with_jstat_on_g1_and_parallel_jdk17_and_25() {
    // A GC between wasp's read and jstat's voids a comparison: other tests' load makes the reads slow.
    let _floor = crate::common::alone();
    if !require("java") || !require("jstat") || !require("javac") {
        return;
    }
    let j17 = PathBuf::from("/usr/bin/java");
    let jstat17 = PathBuf::from("/usr/bin/jstat");
    let mut jvms = vec![
        (start(&j17, "-XX:+UseG1GC", &[]), jstat17.clone()),
        (start(&j17, "-XX:+UseParallelGC", &[]), jstat17.clone()),
    ];
    if let Some(j25) = java25() {
        let jstat25 = j25.with_file_name("jstat");
        jvms.push((start(&j25, "-XX:+UseG1GC", &[]), jstat25.clone()));
        jvms.push((start(&j25, "-XX:+UseParallelGC", &[]), jstat25));
    } else if std::env::var("CI").as_deref() == Ok("true") {
        eprintln!("no JDK 25 under /usr/lib/jvm on this machine: only JDK 17 is compared");
    }
    for (j, jstat) in &jvms {
        let pid = j.0.id();
        wait_measurable(pid);
        compare(pid, jstat);
    }
    // They are all listed, with version and collector.
    let (ok, list) = wasp(&["jvm", "list"]);
    assert!(ok, "{list}");
    for (j, _) in &jvms {
        let line = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&j.0.id().to_string()));
        let line = line.unwrap_or_else(|| panic!("pid {} not listed:\n{list}", j.0.id()));
        assert!(
            line.contains("Alloc") && (line.contains("G1") || line.contains("Parallel")),
            "{line}"
        );
    }
}

#[test]
fn jvm_of_another_user_and_jvm_with_private_tmp_are_found_and_measured() {
    let _floor = crate::common::beside();
    if !require("java") || !require("setpriv") || !require("unshare") || !require("javac") {
        return;
    }
    let _ = Command::new("useradd")
        .args(["--system", "--no-create-home", "wasptest"])
        .status();
    let uid = stdout(
        &Command::new("id")
            .args(["-u", "wasptest"])
            .output()
            .unwrap(),
    )
    .trim()
    .to_string();
    assert!(!uid.is_empty(), "could not create the test user");
    let j17 = PathBuf::from("/usr/bin/java");
    let other = start(
        &j17,
        "-XX:+UseSerialGC",
        &[
            "setpriv",
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ],
    );
    // Its own mount namespace with a tmpfs on /tmp: the file exists only inside. Its classes must live
    // outside /tmp, which the tmpfs hides (a checkout may itself be under /tmp).
    let outside = PathBuf::from("/var/tmp/wasp-test-classes");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(classes().join("Alloc.class"), outside.join("Alloc.class")).unwrap();
    let private = Reaped(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /tmp && exec /usr/bin/java -Xmx64m -XX:+UseG1GC -cp {} Alloc",
                outside.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let other_pid = java_pid(other.0.id());
    let private_pid = java_pid(private.0.id());
    for pid in [other_pid, private_pid] {
        wait_measurable(pid);
    }
    assert!(
        !Path::new(&format!("/tmp/hsperfdata_root/{private_pid}")).exists(),
        "the private-tmp JVM's file is visible in our /tmp: the test does not test what it says"
    );
    let (ok, list) = wasp(&["jvm", "list"]);
    assert!(ok, "{list}");
    let row = |pid: u32| {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
            .map(String::from)
    };
    let o = row(other_pid).unwrap_or_else(|| panic!("{list}"));
    assert!(o.contains("wasptest") && o.contains("Serial"), "{o}");
    let p = row(private_pid).unwrap_or_else(|| panic!("{list}"));
    assert!(p.contains("G1"), "{p}");
    // Measured: jstat -gc columns present.
    for pid in [other_pid, private_pid] {
        let (ok, out) = wasp(&["jvm", "stat", &pid.to_string(), "--format", "json"]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["EC"].as_f64().unwrap() > 0.0, "{out}");
    }
}

#[test]
fn jvm_without_perfdata_is_listed_as_not_measurable() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") {
        return;
    }
    let j = Reaped(
        Command::new("/usr/bin/java")
            .args(["-Xmx32m", "-XX:-UsePerfData", "-cp"])
            .arg(classes())
            .arg("Alloc")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(800));
    let (ok, list) = wasp(&["jvm", "list"]);
    assert!(ok);
    let row = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&j.0.id().to_string()));
    let row = row.unwrap_or_else(|| panic!("not listed:\n{list}"));
    assert!(row.contains("-XX:-UsePerfData"), "{row}");
    let (ok, out) = wasp(&["jvm", "stat", &j.0.id().to_string()]);
    assert!(!ok && out.contains("UsePerfData"), "{out}");
}

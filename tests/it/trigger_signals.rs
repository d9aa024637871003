//! Snapshots on signals: SIGUSR1 gives one thread dump per JVM within 2 s; a storm of 50 SIGUSR1 in a second
//! stays within the hourly budget and the agent stays healthy; SIGUSR2 gives a bundle whose report names the
//! busiest thread first.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn lab() -> Reaped {
    run_lab(&[])
}

fn agent(dir: &Path, port: u16, budget: u32) -> Reaped {
    let cfg = dir.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"1s\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[snapshots]\nbudget_per_hour = {budget}\nbundle_dumps = 3\nbundle_every = \"500ms\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let p = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Signals are for the handlers, which are in place once the first collection is written.
    crate::common::agent::wait_first_collection(dir);
    p
}

fn signal(p: &Reaped, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.0.id() as i32), s).unwrap();
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("data/snapshots"))
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn sigusr1_dumps_every_jvm_within_2s_and_a_storm_stays_within_budget() {
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") {
        return;
    }
    let (j1, j2) = (lab(), lab());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let a = agent(dir.path(), port, 5);
    let t = Instant::now();
    signal(&a, nix::sys::signal::Signal::SIGUSR1);
    let snap = loop {
        if let Some(s) = snapshots(dir.path()).first() {
            break s.clone();
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "no snapshot within 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let files: Vec<String> = std::fs::read_dir(&snap)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for j in [&j1, &j2] {
        let f = files
            .iter()
            .find(|f| f.starts_with(&format!("{}-", j.0.id())) && f.contains("threads"));
        let f = f.unwrap_or_else(|| panic!("no dump of {} in {files:?}", j.0.id()));
        assert!(
            std::fs::read_to_string(snap.join(f))
                .unwrap()
                .contains("Full thread dump")
        );
    }
    // 50 signals in one second: they are answered by the dump just taken ([snapshots] min_gap), at most one
    // more once the gap has passed, and never more than the budget (5, one already used).
    for _ in 0..50 {
        signal(&a, nix::sys::signal::Signal::SIGUSR1);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(3));
    let n = snapshots(dir.path()).len();
    assert!(
        (1..=2).contains(&n),
        "{n} snapshots for 51 signals with a budget of 5"
    );
    assert_eq!(crate::common::http::get(port, "/healthz").unwrap().0, 200);
    assert!(a.0.id() > 0);
}

/// The storm: 50 SIGUSR1 in a second with two JVMs cost at most two dumps per JVM and leave at least
/// 15 of the hourly budget of 20; `wasp status` counts the coalesced requests.
#[test]
fn a_signal_storm_costs_one_dump_per_jvm_and_keeps_the_budget() {
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") {
        return;
    }
    let (j1, j2) = (lab(), lab());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let a = agent(dir.path(), port, 20);
    for _ in 0..50 {
        signal(&a, nix::sys::signal::Signal::SIGUSR1);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Long enough for a second dump to be taken if the gap (5 s) allowed one.
    std::thread::sleep(Duration::from_secs(4));
    let mut per_jvm = std::collections::BTreeMap::new();
    for snap in snapshots(dir.path()) {
        for f in std::fs::read_dir(&snap).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            for j in [&j1, &j2] {
                if name.starts_with(&format!("{}-", j.0.id())) && name.contains("threads") {
                    *per_jvm.entry(j.0.id()).or_insert(0) += 1;
                }
            }
        }
    }
    assert_eq!(per_jvm.len(), 2, "both JVMs dumped: {per_jvm:?}");
    assert!(
        per_jvm.values().all(|&n| n <= 2),
        "dumps per JVM: {per_jvm:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["status", "--format", "json", "--config"])
        .arg(dir.path().join("wasp.toml"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let snap = v
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s[0] == "snapshots")
        .map(|s| s[1].clone())
        .unwrap_or_else(|| panic!("no snapshots section in {v}"));
    let left = snap["budget_left"].as_u64().unwrap();
    assert!(left >= 15, "budget left {left} of 20: {snap}");
    // The kernel itself merges a signal sent while the same one is pending, so fewer than 49 may arrive.
    assert!(snap["coalesced"].as_u64().unwrap() >= 10, "{snap}");
    assert_eq!(crate::common::http::get(port, "/healthz").unwrap().0, 200);
}

#[test]
fn sigusr2_bundle_names_the_busiest_thread_first() {
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") {
        return;
    }
    let j = lab();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let a = agent(dir.path(), port, 5);
    signal(&a, nix::sys::signal::Signal::SIGUSR2);
    let t = Instant::now();
    let snap = loop {
        if let Some(s) = snapshots(dir.path()).first() {
            break s.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(15), "no bundle");
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = std::fs::read_dir(&snap)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}-", j.0.id()))
                && e.file_name().to_string_lossy().ends_with("report.txt")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("report");
    assert!(
        report.contains("busiest thread: \"busy-spinner\""),
        "{report}"
    );
    assert!(report.contains("DEADLOCK"), "{report}");
    let mine = format!("{}-", j.0.id());
    let dumps = std::fs::read_dir(&snap)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&mine) && n.contains("-threads-")
        })
        .count();
    assert_eq!(dumps, 3);
    assert!(
        std::fs::read_dir(&snap)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with("histogram.txt"))
    );
    assert_eq!(crate::common::http::get(port, "/healthz").unwrap().0, 200);
}

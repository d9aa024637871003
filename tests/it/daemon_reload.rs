//! Live reconfiguration and self-protection of a running agent: SIGHUP applies a new log level and interval
//! without a restart (same pid, no gap in collection), an invalid file changes nothing, and a collection that
//! overruns its interval is skipped and counted, not stacked.

use crate::common::http::first_metric as metric;
use crate::common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn write_cfg(path: &Path, data: &Path, port: u16, interval: &str, level: &str, extra: &str) {
    std::fs::write(
        path,
        format!(
            "[agent]\ninterval = \"{interval}\"\ndata_dir = \"{}\"\n{extra}\n[server]\nlisten = \"127.0.0.1:{port}\"\n[log]\nlevel = \"{level}\"\n",
            data.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Collects the agent's stderr lines in the background.
fn capture(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let err = child.stderr.take().unwrap();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    lines
}

fn timestamps(jsonl: &Path) -> Vec<i64> {
    std::fs::read_to_string(jsonl)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["timestamp_ms"].as_i64())
        .collect()
}

fn hup(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
}

#[test]
fn sighup_changes_level_and_interval_without_restart_and_bad_file_changes_nothing() {
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data, port) = (
        dir.path().join("wasp.toml"),
        dir.path().join("data"),
        free_port(),
    );
    write_cfg(&cfg, &data, port, "1s", "info", "");
    let mut agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = agent.0.id();
    let log = capture(&mut agent.0);
    let jsonl = data.join("wasp.jsonl");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !log.lock().unwrap().iter().any(|l| l.contains("DEBUG")),
        "debug lines at level info"
    );
    let before = timestamps(&jsonl);
    assert!(before.len() >= 2, "{before:?}");

    // Reload: debug level, 250 ms interval.
    write_cfg(&cfg, &data, port, "250ms", "debug", "");
    let reload_at = wasp::util::clock::now_ms();
    hup(&agent.0);
    std::thread::sleep(Duration::from_millis(2000));
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("configuration reloaded")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains("collection done")),
        "{lines:#?}"
    );
    let after: Vec<i64> = timestamps(&jsonl)
        .into_iter()
        .filter(|&t| t > reload_at + 300)
        .collect();
    assert!(after.len() >= 5, "interval did not shrink: {after:?}");
    for w in after.windows(2) {
        let gap = w[1] - w[0];
        // 250 ms +- scheduling noise of a loaded 2-core machine.
        assert!(
            (150..=450).contains(&gap),
            "gap {gap} ms after reload: {after:?}"
        );
    }
    // No gap across the reload: every step of the whole series is at most the old interval plus noise.
    let all = timestamps(&jsonl);
    for w in all.windows(2) {
        assert!(w[1] - w[0] <= 1300, "gap in collection: {all:?}");
    }
    assert_eq!(agent.0.id(), pid);
    assert!(agent.0.try_wait().unwrap().is_none(), "agent exited");

    // An invalid file: refused with its place, the agent keeps its 250 ms interval.
    std::fs::write(&cfg, "[agent]\ninterval = \"0s\"\n").unwrap();
    hup(&agent.0);
    std::thread::sleep(Duration::from_millis(1200));
    let lines = log.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("reload refused") && l.contains("wasp.toml:2:")),
        "{lines:#?}"
    );
    let last: Vec<i64> = timestamps(&jsonl).into_iter().rev().take(4).collect();
    for w in last.windows(2) {
        assert!(
            w[0] - w[1] <= 450,
            "interval changed by an invalid file: {last:?}"
        );
    }
    assert!(agent.0.try_wait().unwrap().is_none());
    let _ = metric(port, "wasp_collections_total").expect("still serving");
}

#[test]
fn overrunning_collection_is_skipped_and_counted_not_stacked() {
    let _floor = crate::common::alone();
    // /proc/stat is a FIFO that this test answers 700 ms after each open: with a 300 ms interval every
    // collection overruns by two ticks or more.
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    std::fs::create_dir(&proc_root).unwrap();
    // /proc/uptime is read before /proc/stat; give it a real one so the read reaches the FIFO.
    std::fs::copy("/proc/uptime", proc_root.join("uptime")).unwrap();
    let fifo = proc_root.join("stat");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let stat = std::fs::read("/proc/stat").unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let f2 = fifo.clone();
    let writer = std::thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            // Opening for write blocks until the agent opens for read.
            let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&f2) else {
                break;
            };
            std::thread::sleep(Duration::from_millis(700));
            let _ = w.write_all(&stat);
            drop(w);
            // Let the agent see EOF and close its end; reopening at once would find its reader still there and
            // the agent would never see EOF.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (cfg, data, port) = (
        dir.path().join("wasp.toml"),
        dir.path().join("data"),
        free_port(),
    );
    write_cfg(
        &cfg,
        &data,
        port,
        "300ms",
        "info",
        &format!("proc_root = \"{}\"", proc_root.display()),
    );
    let agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(4000));
    let skipped = metric(port, "wasp_collections_skipped_total").unwrap_or_else(|| {
        panic!(
            "no metric; jsonl: {:?}",
            timestamps(&data.join("wasp.jsonl"))
        )
    });
    let ts = timestamps(&data.join("wasp.jsonl"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(agent);
    // Unblock the writer if it waits in open().
    let _ = std::fs::File::open(&fifo);
    let _ = writer.join();
    assert!(skipped >= 2.0, "skipped {skipped}");
    // Not stacked: never two collections back to back to catch up; each one is at least ~700 ms after the last.
    assert!(
        ts.len() >= 3 && ts.len() <= 7,
        "{} collections in {:?}: {ts:?}",
        ts.len(),
        start.elapsed()
    );
    for w in ts.windows(2) {
        assert!(w[1] - w[0] >= 600, "stacked collections: {ts:?}");
    }
}

#[test]
fn over_its_cpu_budget_the_process_scan_backs_off() {
    let _floor = crate::common::alone();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data, port) = (
        dir.path().join("wasp.toml"),
        dir.path().join("data"),
        free_port(),
    );
    // A budget nobody can meet: every 10 collections (2 s) the scan interval doubles.
    write_cfg(
        &cfg,
        &data,
        port,
        "200ms",
        "info",
        "cpu_budget_percent = 0.0001",
    );
    let _agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(metric(port, "wasp_process_scan_every"), Some(1.0));
    std::thread::sleep(Duration::from_millis(4800));
    let every = metric(port, "wasp_process_scan_every").unwrap();
    assert!(every >= 4.0, "scan every {every}");
    // Collections themselves keep their interval: backing off never skips a collection.
    let ts = timestamps(&data.join("wasp.jsonl"));
    assert!(ts.len() >= 25, "{} collections in ~6 s", ts.len());
}

/// The collections written since `since_ms`: (has an interval, has CPU percentages).
fn rates_since(jsonl: &Path, since_ms: i64) -> Vec<(bool, bool)> {
    std::fs::read_to_string(jsonl)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["timestamp_ms"].as_i64().is_some_and(|t| t > since_ms))
        .map(|v| {
            (
                v["interval_s"].as_f64().is_some(),
                v["cpu"]["all"]["%idle"].as_f64().is_some(),
            )
        })
        .collect()
}

#[test]
fn a_reload_keeps_unchanged_collectors_and_rebuilds_changed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data, port) = (
        dir.path().join("wasp.toml"),
        dir.path().join("data"),
        free_port(),
    );
    // A budget nobody can meet: every 10 collections (2 s) the process scan backs off further.
    let budget = "cpu_budget_percent = 0.0001";
    write_cfg(&cfg, &data, port, "200ms", "info", budget);
    let mut agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = capture(&mut agent.0);
    let jsonl = data.join("wasp.jsonl");
    // Backed off twice (every 4th collection) before the reload.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(port, "wasp_process_scan_every").unwrap_or(0.0) < 4.0 {
        assert!(Instant::now() < deadline, "no back-off");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Only the log level changes: the collector is kept, with its previous reading and its back-off.
    write_cfg(&cfg, &data, port, "200ms", "debug", budget);
    let at = wasp::util::clock::now_ms();
    hup(&agent.0);
    std::thread::sleep(Duration::from_millis(1500));
    let every = metric(port, "wasp_process_scan_every").unwrap();
    assert!(every >= 4.0, "back-off lost by the reload: every {every}");
    let after = rates_since(&jsonl, at);
    assert!(after.len() >= 4, "{after:?}");
    assert!(
        after.iter().all(|&(interval, cpu)| interval && cpu),
        "a collection without rates after a log-level reload: {after:?}"
    );
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("collectors kept")),
        "{lines:#?}"
    );

    // A host setting changes: the collector is rebuilt (one first reading without rates), the back-off stays.
    write_cfg(
        &cfg,
        &data,
        port,
        "200ms",
        "debug",
        &format!("{budget}\n[host.process]\ntop = 5"),
    );
    let at = wasp::util::clock::now_ms();
    hup(&agent.0);
    std::thread::sleep(Duration::from_millis(1500));
    let after = rates_since(&jsonl, at);
    let fresh: Vec<usize> = (0..after.len()).filter(|&i| !after[i].0).collect();
    assert!(
        fresh.len() == 1 && fresh[0] <= 1 && after.len() >= 4,
        "expected one first reading right after the reload: {after:?}"
    );
    let every = metric(port, "wasp_process_scan_every").unwrap();
    assert!(every >= 4.0, "back-off lost by the rebuild: every {every}");
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("collectors rebuilt")),
        "{lines:#?}"
    );
    assert!(agent.0.try_wait().unwrap().is_none(), "agent exited");
}

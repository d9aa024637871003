//! `wasp run` as an operator starts it: it serves /metrics and /healthz, writes the JSON-lines file within one
//! interval, and stops cleanly within a second of SIGTERM.

use crate::common::http::get as http_get;
use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(dir: &Path, port: u16, interval: &str) -> Child {
    let cfg = dir.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"{interval}\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn run_serves_metrics_writes_jsonl_and_stops_on_sigterm() {
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let mut agent = Reaped(start(dir.path(), port, "1s"));
    let child = &mut agent.0;

    // Within one interval (plus start-up) the exposition has a collection in it.
    let metrics = wait_until(Duration::from_secs(3), || {
        http_get(port, "/metrics")
            .filter(|(c, b)| *c == 200 && b.contains("wasp_collection_duration_seconds"))
    })
    .expect("/metrics never served a collection");
    assert!(
        metrics
            .1
            .contains("# TYPE wasp_collection_duration_seconds gauge")
    );

    let (code, body) = http_get(port, "/healthz").expect("/healthz");
    assert_eq!(code, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "ok");
    assert!(h["last_collection_unix"].as_f64().unwrap() > 1.6e9);

    let jsonl = dir.path().join("data/wasp.jsonl");
    let first = wait_until(Duration::from_secs(3), || {
        std::fs::read_to_string(&jsonl)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .expect("no JSON line written");
    assert!(started.elapsed() < Duration::from_secs(4));
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    for key in [
        "cpu",
        "vmstat",
        "paging",
        "memory",
        "load",
        "disks",
        "filesystems",
        "net",
        "tcp",
        "sockets",
        "processes",
        "cgroup",
        "pressure",
        "jvms",
    ] {
        assert!(
            line.get(key).is_some(),
            "JSON line lacks top-level key {key}"
        );
    }

    // SIGTERM: gone within a second, exit status 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    let status =
        wait_until(Duration::from_secs(2), || child.try_wait().unwrap()).expect("did not stop");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?} to stop",
        t.elapsed()
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn healthz_is_503_when_collection_stalls_and_sigterm_still_stops() {
    let _floor = crate::common::beside();
    // A proc_root whose /proc/stat is a FIFO nobody writes: the first read blocks forever, like a collector
    // stuck on a hung file system. /metrics and /healthz must keep answering, and say the collection stalled.
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    std::fs::create_dir(&proc_root).unwrap();
    // /proc/uptime is read before /proc/stat; give it a real one so the read reaches the FIFO.
    std::fs::copy("/proc/uptime", proc_root.join("uptime")).unwrap();
    nix::unistd::mkfifo(
        &proc_root.join("stat"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let port = free_port();
    let cfg = dir.path().join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"500ms\"\ndata_dir = \"{}\"\nproc_root = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display(),
            proc_root.display()
        ),
    )
    .unwrap();
    let mut agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut agent.0;
    // 3 intervals = 1.5 s without a collection.
    let (code, body) = wait_until(Duration::from_secs(5), || {
        http_get(port, "/healthz").filter(|(c, _)| *c == 503)
    })
    .expect("/healthz never reported the stall");
    assert_eq!(code, 503);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "stalled");
    assert!(h["last_collection_unix"].is_null(), "{body}");
    assert!(
        h["seconds_since_last_collection"].as_f64().unwrap() >= 1.5,
        "{body}"
    );

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let t = Instant::now();
    let status = wait_until(Duration::from_secs(3), || child.try_wait().unwrap());
    assert!(
        status.is_some(),
        "a stuck collector kept the agent from stopping"
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?} to stop",
        t.elapsed()
    );
}

#[test]
fn port_in_use_is_a_clear_startup_error() {
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let out = start(dir.path(), port, "1s").wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn bearer_token_is_required_when_configured() {
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = crate::common::agent::token_config(dir.path(), port, "1s");
    let agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (code, _) =
        wait_until(Duration::from_secs(3), || http_get(port, "/metrics")).expect("no answer");
    assert_eq!(code, 401);
    let authed = |token: &str| {
        crate::common::http::get_as(port, "/metrics", Some(token))
            .expect("no answer")
            .0
    };
    assert_eq!(authed("wrong"), 401);
    assert_eq!(authed("s3cret-token"), 200);
    drop(agent);
}

//! The control socket and the commands on it, against a running agent and a real JVM: another user is refused
//! (by the socket's mode, and by the peer-credential check when the mode is opened up), root is served;
//! `wasp status` shows the JVM; `wasp trigger dump --pid` writes its dump; a bundle holds every piece its
//! manifest lists; `wasp incidents` lists and shows them, report first; pruning by count; the budget refuses.

use crate::common::*;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lab(app: &str) -> Reaped {
    run_lab(&[&format!("-Dwasp.app={app}")])
}

struct Agent {
    _p: Reaped,
    port: u16,
    cfg: PathBuf,
    data: PathBuf,
    log: PathBuf,
}

/// An agent whose data dir others may traverse (so that another user reaches the socket's own mode).
fn agent(dir: &Path, extra: &str) -> Agent {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("data");
    let cfg = dir.join("wasp.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"1s\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{}\"\n{extra}",
            data.display(),
            port
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.join("agent.log");
    let p = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !data.join("wasp.sock").exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    Agent {
        _p: p,
        port,
        cfg,
        data,
        log,
    }
}

fn wasp(a: &Agent, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .arg("--config")
        .arg(&a.cfg)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The snapshot directory a `wasp trigger` printed.
fn written(o: &Output) -> PathBuf {
    let t = text(o);
    assert!(o.status.success(), "{t}");
    let p = t
        .lines()
        .find_map(|l| l.split_once(" s: ").map(|(_, p)| p.trim().to_string()))
        .unwrap_or_else(|| panic!("no path in {t}"));
    PathBuf::from(p)
}

/// Waits (collections are 1 s apart) until /metrics has `line`.
fn metrics_show(a: &Agent, line: &str) {
    use std::io::Write;
    let t = Instant::now();
    loop {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", a.port)).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut b = String::new();
        s.read_to_string(&mut b).unwrap();
        if b.lines().any(|l| l == line) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no {line:?} in /metrics:\n{}",
            b.lines()
                .filter(|l| l.starts_with("wasp_snap") || l.starts_with("wasp_control"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn incident_ids(a: &Agent) -> Vec<String> {
    std::fs::read_dir(a.data.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn another_user_is_refused_and_root_is_served() {
    let _floor = crate::common::beside();
    if !require("setpriv") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "this test runs as root (scripts/test.sh)"
        );
        eprintln!("skipping: needs root to run the client as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = agent(dir.path(), "");
    let sock = a.data.join("wasp.sock");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&sock).unwrap().mode() & 0o777, 0o600);
    let as_nobody = || {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--reset-env",
            ])
            .arg(env!("CARGO_BIN_EXE_wasp"))
            .args(["status", "--config"])
            .arg(&a.cfg)
            .output()
            .unwrap()
    };
    // The mode keeps another user out...
    let o = as_nobody();
    assert!(!o.status.success());
    assert!(text(&o).contains("permission denied"), "{}", text(&o));
    // ...and with the mode opened up, the peer-credential check still does, and is logged.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("uid 65534 may not use the wasp control socket"),
        "{}",
        text(&o)
    );
    let o = wasp(&a, &["status"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("refused peers 1"), "{}", text(&o));
    metrics_show(&a, "wasp_control_refused_total{reason=\"peer\"} 1");
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(
        log.contains("peer refused") && log.contains("peer_uid=65534"),
        "{log}"
    );
}

#[test]
fn not_running_names_the_socket() {
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!("[agent]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["trigger", "dump", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let want = format!(
        "no wasp agent is running on {}",
        dir.path().join("wasp.sock").display()
    );
    assert!(text(&o).contains(&want), "{}", text(&o));
}

#[test]
fn trigger_status_bundle_incidents_prune_and_budget() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") {
        return;
    }
    let j = lab("control-lab");
    let pid = j.0.id();
    let other = lab("other-lab");
    let dir = tempfile::tempdir().unwrap();
    let a = agent(
        dir.path(),
        // min_gap 0: this test spends the budget on equal requests one after the other.
        "[snapshots]\nbudget_per_hour = 6\nmin_gap = \"0s\"\nkeep = 3\nbundle_dumps = 3\nbundle_every = \"300ms\"\n\
         signal_apps = [\"control-lab\"]\n",
    );
    // Status shows the JVM once a collection has seen it.
    let t = Instant::now();
    loop {
        let o = wasp(&a, &["status"]);
        let s = text(&o);
        if o.status.success()
            && s.lines()
                .any(|l| l.contains(&pid.to_string()) && l.contains("control-lab"))
        {
            assert!(s.contains("collection: every 1 s"), "{s}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{s}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 1: a dump of that pid.
    let o = wasp(&a, &["trigger", "dump", "--pid", &pid.to_string()]);
    let d = written(&o);
    let dump = std::fs::read_to_string(d.join(format!("{pid}-control-lab-threads-1.txt"))).unwrap();
    assert!(dump.contains("Full thread dump"), "{dump}");
    assert!(dump.contains("\"busy-spinner\""));

    // 2: a bundle: every piece, listed by its manifest with its size, the report first.
    let o = wasp(
        &a,
        &[
            "trigger",
            "bundle",
            "--app",
            "control-lab",
            "--note",
            "checkout slow since 14:02",
        ],
    );
    let b = written(&o);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["kind"], "bundle");
    assert_eq!(m["reason"]["source"], "cli");
    assert_eq!(m["reason"]["uid"], 0);
    assert_eq!(m["jvms"][0]["pid"], pid);
    let files = m["files"].as_array().unwrap();
    assert_eq!(files[0]["file"], "report.txt");
    let listed: Vec<String> = files
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f != "manifest.json")
        .collect();
    on_disk.sort();
    let mut l = listed.clone();
    l.sort();
    assert_eq!(l, on_disk);
    for f in files {
        let n = f["file"].as_str().unwrap();
        assert_eq!(
            f["bytes"].as_u64().unwrap(),
            std::fs::metadata(b.join(n)).unwrap().len(),
            "{n}"
        );
    }
    let p = format!("{pid}-control-lab");
    for want in [
        format!("{p}-threads-1.txt"),
        format!("{p}-threads-2.txt"),
        format!("{p}-threads-3.txt"),
        format!("{p}-histogram.txt"),
        format!("{p}-report.txt"),
        format!("{p}-netstat.txt"),
        format!("{p}-files.txt"),
        format!("{p}-process.txt"),
        format!("{p}-figures.json"),
        "host.txt".into(),
        "host.json".into(),
        "context.txt".into(),
    ] {
        assert!(listed.contains(&want), "{want} not in {listed:?}");
    }
    let report = std::fs::read_to_string(b.join("report.txt")).unwrap();
    assert!(report.contains("reason: wasp trigger (uid 0)"), "{report}");
    assert!(
        report.contains("  | note (uid 0): checkout slow since 14:02"),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(b.join("context.txt")).unwrap(),
        "note (uid 0): checkout slow since 14:02\n"
    );
    assert_eq!(m["context_lines"], 1);
    assert!(report.contains("DEADLOCK between deadlock-A, deadlock-B"));
    // The hottest thread with its stack, in the report itself.
    let hot = report.find("hottest threads:").expect(&report);
    assert!(
        report[hot..]
            .lines()
            .nth(1)
            .unwrap()
            .contains("\"busy-spinner\""),
        "{report}"
    );
    assert!(report.contains("== host at "), "{report}");
    // Lab listens on a loopback port: the netstat of its pid has that socket, the process file its threads.
    let ns = std::fs::read_to_string(b.join(format!("{p}-netstat.txt"))).unwrap();
    assert!(ns.contains("LISTEN 1"), "{ns}");
    let pr = std::fs::read_to_string(b.join(format!("{p}-process.txt"))).unwrap();
    assert!(
        pr.contains(&format!("Pid:\t{pid}")) && pr.contains("busy-spinner"),
        "{pr}"
    );
    let fi = std::fs::read_to_string(b.join(format!("{p}-files.txt"))).unwrap();
    assert!(fi.contains("sockets ") && fi.contains("allowed"), "{fi}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(a.data.join("snapshots")).unwrap().mode() & 0o777,
        0o700
    );

    // `wasp incidents` lists both; `show` prints the report first, then the rest.
    let o = wasp(&a, &["incidents"]);
    let s = text(&o);
    let bid = b.file_name().unwrap().to_str().unwrap();
    let did = d.file_name().unwrap().to_str().unwrap();
    assert!(s.contains(bid) && s.contains(did), "{s}");
    assert!(
        s.lines().any(|l| l.starts_with(bid)
            && l.contains("wasp trigger (uid 0)")
            && l.contains(&format!("{pid} control-lab"))),
        "{s}"
    );
    let o = wasp(&a, &["incidents", "show", bid]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.starts_with(&format!("wasp bundle {bid}\n")),
        "{}",
        &s[..200.min(s.len())]
    );
    assert!(s.contains(&format!("==> {p}-threads-1.txt <==")));
    assert!(s.contains("==> manifest.json <=="));

    // 3, 4: histogram, then a dump of every JVM; keep = 3 prunes the oldest (the first dump).
    let h = written(&wasp(&a, &["trigger", "histo", "--pid", &pid.to_string()]));
    assert!(
        std::fs::read_to_string(h.join(format!("{p}-histogram.txt")))
            .unwrap()
            .contains("java.lang.String")
    );
    written(&wasp(&a, &["trigger", "dump"]));
    let t = Instant::now();
    while d.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} not pruned",
            d.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = std::fs::read_dir(a.data.join("snapshots")).unwrap().count();
    assert_eq!(n, 3);

    // 5: SIGUSR1 dumps only the JVMs signal_apps names.
    let before: Vec<String> = incident_ids(&a);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a._p.0.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let t = Instant::now();
    let sig = loop {
        if let Some(n) = incident_ids(&a).into_iter().find(|i| !before.contains(i)) {
            break a.data.join("snapshots").join(n);
        }
        assert!(t.elapsed() < Duration::from_secs(5), "no SIGUSR1 dump");
        std::thread::sleep(Duration::from_millis(20));
    };
    let files: Vec<String> = std::fs::read_dir(&sig)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.contains(&format!("{p}-threads-1.txt")), "{files:?}");
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with(&format!("{}-", other.0.id()))),
        "{files:?}"
    );
    let m = std::fs::read_to_string(sig.join("manifest.json")).unwrap();
    assert!(m.contains("\"reason_text\": \"signal SIGUSR1\""), "{m}");

    // 6 is the last of the budget; the 7th is refused and says why.
    written(&wasp(&a, &["trigger", "dump"]));
    let o = wasp(&a, &["trigger", "dump"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("budget (6 per hour) is used up"),
        "{}",
        text(&o)
    );
    let s = text(&wasp(&a, &["status"]));
    assert!(s.contains("refused: the snapshot budget"), "{s}");
    assert!(s.contains("0 of 6 left this hour"), "{s}");
    metrics_show(&a, "wasp_snapshots_refused_total{reason=\"budget\"} 1");
    metrics_show(&a, "wasp_snapshots_taken_total 6");
}

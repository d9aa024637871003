//! Events: real kernel lines replayed through the /dev/kmsg parser, and a real OOM kill read from /dev/kmsg.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wasp::host::kmsg::Kmsg;
use wasp::host::kmsg_parse::{Parser, parse_record};
use wasp::model::event::{Event, EventKind};

/// A published line (syslog or dmesg prefix) as the /dev/kmsg record it came from.
fn as_record(line: &str, seq: usize) -> String {
    let mut t = line.split_once("kernel: ").map_or(line, |(_, r)| r);
    let mut usec = 0u64;
    if let Some(rest) = t.strip_prefix('[')
        && let Some((ts, after)) = rest.split_once(']')
    {
        let secs: f64 = ts.trim().parse().unwrap();
        usec = (secs * 1e6) as u64;
        t = after.trim_start();
        // printk's caller id ("[T23028]") on newer kernels.
        if t.starts_with("[T") || t.starts_with("[C") {
            t = t.split_once(']').unwrap().1.trim_start();
        }
    }
    format!("3,{seq},{usec},-;{t}\n")
}

fn replay(name: &str) -> Vec<Event> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kmsg");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let mut p = Parser::default();
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| p.feed(&parse_record(as_record(l, i).as_bytes()).unwrap(), 0))
        .collect()
}

fn kinds(ev: &[Event]) -> Vec<EventKind> {
    ev.iter().map(|e| e.kind).collect()
}

#[test]
fn rhel7_lines_parse() {
    let ev = replay("rhel7.log");
    use EventKind::*;
    assert_eq!(
        kinds(&ev),
        [OomKill, OomKill, Segfault, HungTask, HungTask],
        "{ev:#?}"
    );
    assert_eq!(ev[0].pid, Some(18177));
    assert_eq!(ev[0].comm.as_deref(), Some("palo_be"));
    assert_eq!(ev[0].fields["anon_rss_kb"], "45563572");
    assert_eq!(ev[0].fields["uid"], "0");
    assert!(ev[0].message.contains("memory cgroup"), "{}", ev[0].message);
    assert_eq!(ev[2].comm.as_deref(), Some("ldmd"));
    assert_eq!(ev[2].fields["object"], "libc-2.17.so");
    assert_eq!(ev[3].comm.as_deref(), Some("java"));
    assert_eq!(ev[3].pid, Some(9935));
    assert_eq!(ev[4].comm.as_deref(), Some("jbd2/vda1-8"));
    assert_eq!(ev[3].timestamp_ms, 1_013_871_769);
}

#[test]
fn rhel8_lines_parse() {
    let ev = replay("rhel8.log");
    use EventKind::*;
    assert_eq!(kinds(&ev), [OomKill, HungTask], "{ev:#?}");
    assert_eq!(ev[0].pid, Some(1284158));
    assert_eq!(ev[0].comm.as_deref(), Some("stress-ng-vm"));
    assert_eq!(ev[0].cgroup.as_deref(), Some("/user.slice/hello-cg"));
    assert_eq!(ev[0].fields["constraint"], "CONSTRAINT_MEMCG");
    assert_eq!(ev[0].fields["oom_score_adj"], "1000");
    assert_eq!(ev[1].pid, Some(22486));
}

#[test]
fn current_kernel_lines_parse() {
    let ev = replay("current.log");
    use EventKind::*;
    assert_eq!(
        kinds(&ev),
        [
            OomKill, OomKill, OomKill, OomKill, HungTask, LinkDown, LinkDown, LinkUp, LinkDown
        ],
        "{ev:#?}"
    );
    assert!(ev[0].message.contains("host ran out of memory"));
    assert_eq!(ev[1].comm.as_deref(), Some("(resolved)"));
    assert_eq!(ev[2].cgroup.as_deref(), Some("/syz1"));
    assert_eq!(ev[3].cgroup.as_deref(), Some("/mydocker"));
    assert_eq!(ev[3].fields["uid"], "1000");
    assert_eq!(ev[4].comm.as_deref(), Some("kworker/2:1"));
    let devs: Vec<_> = ev[5..].iter().map(|e| e.device.clone().unwrap()).collect();
    assert_eq!(devs, ["enp3s0", "eth1", "enp0s31f6", "eth0"]);
}

/// Reads until the kernel has nothing more.
fn drain(k: &mut Kmsg) {
    loop {
        let before = k.stats.records;
        k.poll(100_000).unwrap();
        if k.stats.records == before {
            return;
        }
    }
}

use crate::common::cgroup::{limited_to_64m, memory_cgroups};

/// The kernel's OOM killer kills a process in a 64 MiB memory cgroup; the event read from /dev/kmsg names
/// its pid, command and cgroup within 10 s.
#[test]
fn real_oom_kill_in_a_memory_cgroup() {
    // Alone: every agent other tests run would read this OOM kill from /dev/kmsg into its sinks.
    let _floor = crate::common::alone();
    let found = memory_cgroups();
    assert!(
        !found.is_empty(),
        "no memory cgroup controller on this machine"
    );
    for (version, root) in found {
        let name = format!("wasp-oom-{}-{version}", std::process::id());
        let cg = limited_to_64m(version, &root, &name);
        let state = tempfile::tempdir().unwrap();
        let boot = wasp::host::kmsg::boot_id(Path::new("/proc"));
        let mut k = Kmsg::open(
            Path::new("/dev/kmsg"),
            &state.path().join("kmsg.state"),
            boot,
            1000,
        )
        .unwrap();
        // What the ring buffer holds already is not this test's.
        drain(&mut k);
        // `tail /dev/zero` keeps one ever-growing line in memory: the classic way to meet the OOM killer.
        let procs = cg.join("cgroup.procs");
        let mut child = Command::new("sh")
            .args([
                "-c",
                &format!("echo $$ > {} && exec tail /dev/zero", procs.display()),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let t = Instant::now();
        let mut hit = None;
        while t.elapsed() < Duration::from_secs(10) && hit.is_none() {
            k.wait(Duration::from_millis(200));
            hit = k
                .poll(10_000)
                .unwrap()
                .into_iter()
                .find(|e| e.kind == EventKind::OomKill && e.pid == Some(pid));
        }
        let took = t.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir(&cg);
        let e = hit.unwrap_or_else(|| panic!("{version}: no oom_kill event for pid {pid} in 10 s"));
        eprintln!("{version}: {} after {took:?}", e.message);
        assert_eq!(e.comm.as_deref(), Some("tail"));
        let g = e.cgroup.clone().unwrap_or_default();
        assert!(g.ends_with(&name), "{version}: cgroup {g:?} is not {name}");
        let age = wasp::util::clock::now_ms() - e.timestamp_ms;
        assert!(
            (-2_000..15_000).contains(&age),
            "kernel time to wall time: {age} ms off"
        );
    }
}

/// A second reader with the first one's saved position sees nothing again, and sees what came after.
#[test]
fn resumes_without_duplicates() {
    let _floor = crate::common::beside();
    let state = tempfile::tempdir().unwrap();
    let st = state.path().join("kmsg.state");
    let boot = wasp::host::kmsg::boot_id(Path::new("/proc"));
    let mut a = Kmsg::open(Path::new("/dev/kmsg"), &st, boot.clone(), 1000).unwrap();
    drain(&mut a);
    let seen = a
        .stats
        .last_seq
        .expect("the ring buffer is never empty after boot");
    drop(a);
    // A kernel line written while "the agent was down" (root may write /dev/kmsg; facility 0 needs <0>-free
    // text, so a user-facility line: it advances the sequence without forging an event).
    std::fs::write("/dev/kmsg", "wasp test: while the agent was down\n").unwrap();
    let mut b = Kmsg::open(Path::new("/dev/kmsg"), &st, boot, 1000).unwrap();
    b.poll(100_000).unwrap();
    assert!(
        b.stats.records >= 1,
        "the record written while down was missed"
    );
    assert!(b.stats.last_seq.unwrap() > seen);
    assert_eq!(
        b.stats.records,
        b.stats.last_seq.unwrap() - seen,
        "records re-read"
    );
}

/// Polls `wasp events --kind KIND` of the agent whose config is DIR/wasp.toml until `want` holds (30 s).
fn wait_event(dir: &Path, kind: &str, want: impl Fn(&Event) -> bool) -> Event {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["events", "--format", "json", "--kind", kind, "--config"])
            .arg(dir.join("wasp.toml"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let found = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Event>(l).ok())
            .find(|e| want(e));
        if let Some(e) = found {
            return e;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "no {kind} event in 30 s; agent log:\n{}",
        crate::common::agent::log(dir)
    );
}

/// Real JVMs: a crash on OutOfMemoryError leaves an hs_err file the event names with its error; an OOM with
/// a heap dump and exit gives an OOM event with the .hprof path; the same app again is a restart, counted.
#[test]
fn jvm_crash_oom_and_restart_events() {
    let _floor = crate::common::alone();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let _agent = crate::common::agent::start(dir.path(), port, "1s", "[events]\nkmsg = false\n");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let mut c = crate::common::eat(&work, "crashy", &["-XX:+CrashOnOutOfMemoryError"]);
    let pid = c.0.id();
    let _ = c.0.wait();
    let e = wait_event(dir.path(), "jvm_crash", |e| e.pid == Some(pid));
    eprintln!("{}", e.message);
    assert_eq!(e.app.as_deref(), Some("crashy"));
    let hs = work.join(format!("hs_err_pid{pid}.log"));
    assert_eq!(e.fields["hs_err"], hs.display().to_string());
    assert!(e.fields["error"].contains("OutOfMemory"), "{:?}", e.fields);

    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    let hdp = format!("-XX:HeapDumpPath={}", dumps.display());
    let oom_flags = [
        "-XX:+HeapDumpOnOutOfMemoryError",
        "-XX:+ExitOnOutOfMemoryError",
        hdp.as_str(),
    ];
    let mut o = crate::common::eat(&work, "oomy", &oom_flags);
    let pid1 = o.0.id();
    let _ = o.0.wait();
    let e = wait_event(dir.path(), "jvm_oom", |e| e.pid == Some(pid1));
    eprintln!("{}", e.message);
    let hprof = dumps.join(format!("java_pid{pid1}.hprof"));
    assert_eq!(e.fields["heap_dump"], hprof.display().to_string());

    let o2 = crate::common::eat(&work, "oomy", &oom_flags);
    let pid2 = o2.0.id();
    let e = wait_event(dir.path(), "jvm_restart", |e| e.pid == Some(pid2));
    eprintln!("{}", e.message);
    assert_eq!(e.fields["old_pid"], pid1.to_string());
    assert!(e.fields.contains_key("downtime_s"));
    // `wasp status` lists it, and the default sink (the local JSON-lines file) has it as a document.
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["status", "--config"])
        .arg(dir.path().join("wasp.toml"))
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&o.stdout);
    eprintln!("{status}");
    assert!(status.contains("jvm_restart 1"), "{status}");
    assert!(status.contains("JVM oomy restarted"), "{status}");
    let t = Instant::now();
    let shipped = loop {
        let text = std::fs::read_to_string(dir.path().join("data/wasp.jsonl")).unwrap_or_default();
        if text.contains("\"jvm_crash\"") || t.elapsed() > Duration::from_secs(15) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        shipped.contains("\"jvm_crash\""),
        "no event document in wasp.jsonl"
    );
    let (_, body) = crate::common::http::get(port, "/metrics").unwrap();
    assert!(
        body.contains("wasp_jvm_restarts_total{app=\"oomy\"} 1"),
        "{}",
        body.lines()
            .filter(|l| l.contains("restart"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

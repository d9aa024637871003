//! Rules on events with real parts: a JVM that crashes on OutOfMemoryError fires a rule on
//! `event.kind == "jvm_crash"`, whose bundle holds its sibling's thread dump (and not an unrelated JVM's) and
//! the crash's hs_err summary; bad event conditions are configuration errors at their line and column.

use crate::common::http::metric;
use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn wait_for(what: &str, dir: &Path, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < limit,
            "timed out waiting for {what}; agent log:\n{}",
            agent::log(dir)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("data/snapshots"))
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_crash_fires_its_event_rule_and_bundles_the_siblings_with_the_hs_err_summary() {
    // Alone: a bundle of "every other JVM of the app" must not meet other tests' JVMs, and the crash is timed.
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let app = format!("shop-{port}");
    let sibling = run_lab(&[&format!("-Dwasp.app={app}")]);
    let other = run_lab(&[&format!("-Dwasp.app=orders-{port}")]);
    let _agent = agent::start(
        dir.path(),
        port,
        "1s",
        &format!(
            "[events]\nkmsg = false\n[snapshots]\nbundle_dumps = 1\n\
             [[rules]]\nname = \"shop-crash\"\nwhen = 'event.kind == \"jvm_crash\" && event.app == \"{app}\"'\n\
             do = [\"bundle\", \"log\"]\n"
        ),
    );
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // Alive for 3 s (the agent learns its cwd), then out of heap: the crash leaves hs_err_pid<pid>.log there.
    let mut c = eat(&work, &app, &["-XX:+CrashOnOutOfMemoryError"]);
    let crashed = c.0.id();
    let status = c.0.wait().unwrap();
    assert!(!status.success(), "the JVM did not crash: {status}");
    wait_for("the rule", dir.path(), Duration::from_secs(30), || {
        metric(port, "wasp_rule_fired_total{rule=\"shop-crash\"}") == Some(1.0)
    });
    wait_for("the bundle", dir.path(), Duration::from_secs(60), || {
        snapshots(dir.path())
            .iter()
            .any(|s| s.join("manifest.json").exists())
    });
    let snap = &snapshots(dir.path())[0];
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snap.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["reason"]["name"], "shop-crash", "{manifest}");
    let pids: Vec<u64> = manifest["jvms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        pids,
        [u64::from(sibling.0.id())],
        "the sibling only: not the crashed {crashed}, not the other app's {}",
        other.0.id()
    );
    let names: Vec<String> = std::fs::read_dir(snap)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("{}-", sibling.0.id())) && n.contains("-threads-")),
        "no thread dump of the sibling in {names:?}"
    );
    let hs_err = work.join(format!("hs_err_pid{crashed}.log"));
    let report = std::fs::read_to_string(snap.join("report.txt")).unwrap();
    eprintln!("{report}");
    assert!(report.contains("== event: jvm_crash =="), "{report}");
    assert!(
        report.contains(&format!("hs_err file: {}", hs_err.display())),
        "{report}"
    );
    let error = report
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {report}"));
    assert!(error.contains("OutOfMemory"), "{error}");
    let ev: wasp::model::event::Event =
        serde_json::from_str(&std::fs::read_to_string(snap.join("event.json")).unwrap()).unwrap();
    assert_eq!(ev.pid, Some(crashed));
    assert_eq!(ev.fields["hs_err"], hs_err.display().to_string());
    // The incident document carries the crash too.
    wait_for(
        "the incident document",
        dir.path(),
        Duration::from_secs(15),
        || {
            std::fs::read_to_string(dir.path().join("data/wasp.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|d| {
                    d["kind"] == "incident"
                        && d["body"]["event"]["hs_err"] == hs_err.display().to_string().as_str()
                })
        },
    );
}

#[test]
fn bad_event_conditions_are_config_errors_at_their_line_and_column() {
    let _floor = crate::common::beside();
    let parse = |t: &str| wasp::config::Config::parse(t, Path::new("t.toml"));
    let rule = |when: &str, extra: &str| {
        format!("[[rules]]\nname = \"a\"\nwhen = {when}\n{extra}do = [\"log\"]\n")
    };
    // A literal string: the kind's typo at its column (`when = '` is 8 characters, the string at 15).
    let e = parse(&rule(r#"'event.kind == "oom_kil"'"#, "")).unwrap_err();
    assert_eq!((e.line, e.column), (3, 23), "{e}");
    assert!(
        e.message.contains("no event kind is named \"oom_kil\""),
        "{e}"
    );
    // A basic string with escaped quotes: the column still is the string's in the file.
    let e = parse(&rule(r#""event.app == \"x\" and event.pid == \"1\"""#, "")).unwrap_err();
    assert_eq!((e.line, e.column), (3, 45), "{e}");
    assert!(e.message.contains("event.pid is a number"), "{e}");
    let e = parse(&rule(r#"'event.kind > "oom_kill"'"#, "")).unwrap_err();
    assert_eq!((e.line, e.column), (3, 20), "{e}");
    let e = parse(&rule(r#"'event.kind == "oom_kill"'"#, "for = \"1m\"\n")).unwrap_err();
    assert_eq!((e.line, e.column), (4, 1), "{e}");
    assert!(e.message.contains("`for` does not apply"), "{e}");
    let e = parse(&rule(
        r#"'event.kind == "jvm_oom" or jvm.heap_pct > 90'"#,
        "",
    ))
    .unwrap_err();
    assert_eq!((e.line, e.column), (3, 36), "{e}");
    assert!(
        parse(&rule(
            r#"'event.kind == "oom_kill" && event.app == "shop"'"#,
            "cooldown = \"1m\"\n"
        ))
        .is_ok()
    );
}

/// A rule on the kernel's OOM killer: a process in a 64 MiB memory cgroup is killed by the kernel, the agent
/// reads it from /dev/kmsg, and `event.kind == "oom_kill" && event.command == "tail"` fires with the cgroup.
#[test]
fn a_kernel_oom_kill_fires_its_event_rule() {
    // Alone: every other agent would read this OOM kill too, and the kernel's log is the machine's.
    let _floor = crate::common::alone();
    let (version, root) = crate::common::cgroup::memory_cgroups()
        .into_iter()
        .next()
        .expect("no memory cgroup controller on this machine");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _agent = agent::start(
        dir.path(),
        port,
        "1s",
        "[[rules]]\nname = \"oom\"\nwhen = 'event.kind == \"oom_kill\" && event.command == \"tail\"'\ndo = [\"log\"]\n",
    );
    agent::wait_first_collection(dir.path());
    let name = format!("wasp-rule-oom-{port}");
    let cg = crate::common::cgroup::limited_to_64m(version, &root, &name);
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "echo $$ > {} && exec tail /dev/zero",
                cg.join("cgroup.procs").display()
            ),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let fired = Instant::now();
    let mut doc = None;
    while fired.elapsed() < Duration::from_secs(30) && doc.is_none() {
        doc = std::fs::read_to_string(dir.path().join("data/wasp.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|d| d["kind"] == "event" && d["body"]["rule"] == "oom");
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir(&cg);
    let doc = doc.unwrap_or_else(|| {
        panic!(
            "{version}: the rule did not fire in 30 s; agent log:\n{}",
            agent::log(dir.path())
        )
    });
    let ev = &doc["body"]["event"];
    assert_eq!(ev["pid"], pid, "{doc}");
    assert!(
        ev["cgroup"].as_str().unwrap_or_default().ends_with(&name),
        "{doc}"
    );
    assert_eq!(
        metric(port, "wasp_rule_fired_total{rule=\"oom\"}"),
        Some(1.0)
    );
}

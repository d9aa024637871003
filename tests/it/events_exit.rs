//! Exit codes of JVMs that are systemd services: a transient unit's JVM exits with code 3
//! (`-XX:+ExitOnOutOfMemoryError`), and its `jvm_exit` event says so. Needs systemd as PID 1; where it is not
//! (a container), the parser tests in `host::systemd` are what runs, and this test says it was skipped.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wasp::model::event::Event;

#[test]
fn a_service_jvm_exit_carries_its_exit_code() {
    let _floor = crate::common::alone();
    // Not a missing tool scripts/test.sh could install: the machine's init. Skipped (and said) even under CI.
    if !Path::new("/run/systemd/system").is_dir() {
        eprintln!("skipped: systemd is not PID 1 here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let _agent = crate::common::agent::start(dir.path(), port, "1s", "[events]\nkmsg = false\n");
    let unit = format!("wasp-test-exit-{port}");
    let app = format!("exit-{port}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/Eat.java");
    // Not --collect: a failed transient unit stays loaded (and its status readable) until reset-failed.
    let ok = Command::new("systemd-run")
        .arg(format!("--unit={unit}"))
        .arg(format!(
            "--property=WorkingDirectory={}",
            dir.path().display()
        ))
        .args(["/usr/bin/java", &format!("-Dwasp.app={app}"), "-Xmx32m"])
        .arg("-XX:+ExitOnOutOfMemoryError")
        .arg(&src)
        .arg("3000")
        .status()
        .unwrap();
    assert!(ok.success(), "systemd-run failed");
    let t = Instant::now();
    let found = loop {
        let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args([
                "events", "--format", "json", "--kind", "jvm_exit", "--config",
            ])
            .arg(dir.path().join("wasp.toml"))
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Event>(l).ok())
            .find(|e| e.app.as_deref() == Some(app.as_str()));
        if e.is_some() || t.elapsed() > Duration::from_secs(40) {
            break e;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = Command::new("systemctl")
        .args(["reset-failed", &unit])
        .status();
    let e = found.unwrap_or_else(|| {
        panic!(
            "no jvm_exit event of {app}; agent log:\n{}",
            crate::common::agent::log(dir.path())
        )
    });
    eprintln!("{}", e.message);
    assert_eq!(
        e.fields.get("unit"),
        Some(&format!("{unit}.service")),
        "{e:?}"
    );
    assert_eq!(
        e.fields.get("exit_code").map(String::as_str),
        Some("3"),
        "{e:?}"
    );
    assert!(e.message.contains("exited with code 3"), "{}", e.message);
}

//! The agent under the systemd unit's capability set (CapabilityBoundingSet of systemd/wasp.service, applied
//! with setpriv, as root, no new privileges) still attaches to a JVM of another user, and its dump has the
//! threads, states and lock owners jstack -l shows; with no capabilities it cannot, so the set is what makes
//! it work.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn unit_caps() -> String {
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/wasp.service"))
            .unwrap();
    let line = unit
        .lines()
        .find(|l| l.starts_with("CapabilityBoundingSet="))
        .expect("unit has a bounding set");
    let caps: Vec<String> = line["CapabilityBoundingSet=".len()..]
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    format!("-all,{}", caps.join(","))
}

#[test]
fn hardened_agent_attaches_to_another_users_jvm() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") || !require("jstack") || !require("setpriv") {
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
    let classes = PathBuf::from("/var/tmp/wasp-test-classes-hardened");
    std::fs::create_dir_all(&classes).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/Lab.java");
    assert!(
        Command::new("javac")
            .args(["--release", "17", "-d"])
            .arg(&classes)
            .arg(src)
            .status()
            .unwrap()
            .success()
    );
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&classes)
        .status();
    let mut jvm = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "/usr/bin/java",
            "-Xmx64m",
            "-cp",
        ])
        .arg(&classes)
        .arg("Lab")
        .current_dir(&classes)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(jvm.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 && !line.starts_with("ready") {
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = jvm.id().to_string();
    let caps = unit_caps();
    let run = |bounding: &str| {
        Command::new("setpriv")
            .args([
                "--bounding-set",
                bounding,
                "--inh-caps=-all",
                "--no-new-privs",
                env!("CARGO_BIN_EXE_wasp"),
                "dump",
                "threads",
                &pid,
                "--timeout",
                "5s",
            ])
            .output()
            .unwrap()
    };
    let hardened = run(&caps);
    let none = run("-all");
    let jstack = Command::new("jstack").args(["-l", &pid]).output().unwrap();
    let _ = jvm.kill();
    let _ = jvm.wait();
    assert!(
        hardened.status.success() && stdout(&hardened).contains("Full thread dump"),
        "with {caps}: {}",
        String::from_utf8_lossy(&hardened.stderr)
    );
    let (ours, theirs) = (
        rows(&wasp::jvm::threaddump::parse(&stdout(&hardened))),
        rows(&wasp::jvm::threaddump::parse(&stdout(&jstack))),
    );
    assert!(ours.iter().any(|(n, _, _)| n == "deadlock-A"), "{ours:?}");
    assert_eq!(
        ours,
        theirs,
        "only wasp: {:?}\nonly jstack: {:?}",
        ours.difference(&theirs),
        theirs.difference(&ours)
    );
    assert!(
        !none.status.success(),
        "attach worked without any capability: the test proves nothing"
    );
}

//! Thread dumps through wasp's own attach client, against jstack on the same JVM (OpenJDK 17, and the JDK 25
//! under /usr/lib/jvm when present, each with 2,000 idle threads): the same threads, states and lock owners;
//! every deadlock found (two 2-cycles and a 3-cycle); the busiest thread first; a JVM with attach disabled
//! refused without a signal; a non-JVM a clear error.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wasp::jvm::threaddump;

fn lab(java: &Path, extra: &[&str], args: &[&str]) -> (Reaped, Option<std::process::ChildStdout>) {
    let (j, out) = start_lab(java, extra, args, None);
    (j, Some(out.into_inner()))
}

fn wasp(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        stdout(&o),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn check_jvm(java: &Path) {
    let jstack = java.with_file_name("jstack");
    let (j, _out) = lab(java, &[], &["idle=2000"]);
    let pid = j.0.id().to_string();
    let (ok, json, err) = wasp(&["dump", "threads", &pid, "--format", "json"]);
    assert!(ok, "{err}");
    // The JSON is the model itself: compared as it is printed.
    let ours: threaddump::ThreadDump = serde_json::from_str(&json).unwrap();
    let theirs = threaddump::parse(&stdout(
        &Command::new(&jstack).args(["-l", &pid]).output().unwrap(),
    ));
    assert!(
        ours.unparsed.is_empty() && theirs.unparsed.is_empty(),
        "{:?} {:?}",
        ours.unparsed,
        theirs.unparsed
    );
    let (a, b) = (rows(&ours), rows(&theirs));
    // busy-spinner's frames move, its state does not; everything else is parked, blocked or waiting for good.
    assert_eq!(
        a,
        b,
        "wasp vs jstack:\nonly wasp: {:?}\nonly jstack: {:?}",
        a.difference(&b),
        b.difference(&a)
    );
    assert!(
        a.iter()
            .any(|(n, _, _)| n.contains("한글") && n.contains("\"quoted\"")),
        "{a:?}"
    );
    let idle = a.iter().filter(|(n, _, _)| n.starts_with("idle-")).count();
    assert_eq!(idle, 2000, "idle threads in both dumps");
    // Every deadlock: the JVM's own report and wasp's cycle search agree, and hold all three.
    let cycles = |v: &[Vec<String>]| {
        v.iter()
            .map(|c| {
                let mut c = c.clone();
                c.sort();
                c.join(",")
            })
            .collect::<BTreeSet<_>>()
    };
    let expected: BTreeSet<String> = [
        "cycle-1,cycle-2,cycle-3",
        "deadlock-A,deadlock-B",
        "rl-deadlock-1,rl-deadlock-2",
    ]
    .map(String::from)
    .into();
    assert_eq!(cycles(&ours.jvm_deadlocks), expected);
    assert_eq!(cycles(&theirs.jvm_deadlocks), expected);
    assert_eq!(
        cycles(&wasp::jvm::analysis::analyze(std::slice::from_ref(&ours), None).deadlocks),
        expected
    );
    assert!(
        a.contains(&(
            "sync-blocked-1".into(),
            "BLOCKED".into(),
            Some("monitor-holder".into())
        )),
        "{a:?}"
    );
    // The report: both deadlocks, the busiest thread first.
    let (ok, report, err) = wasp(&[
        "dump",
        "threads",
        &pid,
        "--format",
        "report",
        "--cpu-window",
        "1s",
    ]);
    assert!(ok, "{err}");
    assert!(
        report.contains("DEADLOCK between deadlock-A, deadlock-B"),
        "{report}"
    );
    assert!(
        report.contains("DEADLOCK between rl-deadlock-1, rl-deadlock-2"),
        "{report}"
    );
    assert!(
        report.contains("DEADLOCK between cycle-1, cycle-2, cycle-3"),
        "{report}"
    );
    assert!(
        report.contains("busiest thread: \"busy-spinner\""),
        "{report}"
    );
    // Histogram and jcmd.
    // Histogram against jmap -histo: the same classes, and the same instance count for the 20,000 objects the
    // program keeps (the rest of the heap churns between the two reads).
    let (ok, histo, err) = wasp(&["dump", "histo", &pid]);
    assert!(ok && histo.contains("java.lang.String"), "{err}");
    let jmap = java.with_file_name("jmap");
    let theirs = wasp::jvm::histogram::parse(&stdout(
        &Command::new(&jmap).args(["-histo", &pid]).output().unwrap(),
    ));
    let ours = wasp::jvm::histogram::parse(&histo);
    assert_eq!(ours.unparsed, 0);
    let find = |h: &wasp::jvm::histogram::Histogram, c: &str| {
        h.entries.iter().find(|e| e.class == c).map(|e| e.instances)
    };
    assert_eq!(find(&ours, "Lab$Payload"), Some(20000));
    assert_eq!(find(&theirs, "Lab$Payload"), Some(20000));
    let names = |h: &wasp::jvm::histogram::Histogram| {
        h.entries
            .iter()
            .take(20)
            .map(|e| e.class.clone())
            .collect::<BTreeSet<_>>()
    };
    let common = names(&ours).intersection(&names(&theirs)).count();
    assert!(
        common >= 15,
        "top-20 classes differ too much: {common} in common"
    );
    let (ok, up, err) = wasp(&["dump", "jcmd", &pid, "VM.uptime"]);
    assert!(ok && up.trim().ends_with(" s"), "{up} {err}");
}

#[test]
fn dumps_agree_with_jstack_on_jdk17_and_25() {
    let _floor = crate::common::beside();
    if !require("java") || !require("jstack") || !require("javac") {
        return;
    }
    check_jvm(Path::new("/usr/lib/jvm/java-17-openjdk-amd64/bin/java"));
    let j25 = PathBuf::from("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java");
    if j25.exists() {
        check_jvm(&j25);
    }
}

#[test]
fn attach_disabled_jvm_is_refused_without_a_signal_and_non_jvm_is_an_error() {
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") {
        return;
    }
    let (j, out) = lab(
        Path::new("/usr/bin/java"),
        &["-XX:+DisableAttachMechanism"],
        &[],
    );
    let pid = j.0.id().to_string();
    let t = Instant::now();
    let (ok, _, err) = wasp(&["dump", "threads", &pid]);
    assert!(!ok && err.contains("attach is disabled"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(j);
    // Had it been sent SIGQUIT, the JVM would have printed a thread dump on its stdout.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out.unwrap(), &mut rest).unwrap();
    assert!(
        !rest.contains("Full thread dump"),
        "the JVM was signalled:\n{rest}"
    );

    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let (ok, _, err) = wasp(&[
        "dump",
        "threads",
        &sleeper.id().to_string(),
        "--timeout",
        "2s",
    ]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(!ok && err.contains("not a Java process"), "{err}");
    assert!(
        std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".attach_pid"))
    );
}

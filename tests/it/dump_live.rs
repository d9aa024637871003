//! `wasp dump threads PID --virtual` of a live JDK 25 JVM with virtual threads (tests/fixtures/dumps/LabVT.java,
//! on the Temurin 25 under /usr/lib/jvm when present): wasp's own attach client asks the JVM for
//! Thread.dump_to_file -format=json, reads the file the JVM wrote as its user, and removes it. The virtual
//! threads Thread.print leaves out (unmounted ones) are there, and so is the owner of the lock a platform thread
//! waits for: a virtual thread.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wasp::jvm::dump::ThreadDump;

const JDK25: &str = "/usr/lib/jvm/temurin-25-jdk-amd64/bin";

struct Jvm(std::process::Child);

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let pid = self.0.id();
        let _ = std::fs::remove_file(format!("/tmp/.java_pid{pid}"));
        let _ = std::fs::remove_file(format!("/tmp/hsperfdata_root/{pid}"));
    }
}

fn start() -> Option<Jvm> {
    let bin = Path::new(JDK25);
    if !bin.join("java").exists() {
        eprintln!("no JDK 25 at {JDK25}: not tested here");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("labvt-classes");
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/LabVT.java");
    assert!(
        Command::new(bin.join("javac"))
            .arg("-d")
            .arg(&dir)
            .arg(&src)
            .status()
            .unwrap()
            .success()
    );
    let mut j = Jvm(Command::new(bin.join("java"))
        .args(["-Xmx64m", "-cp"])
        .arg(&dir)
        .arg("LabVT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let mut out = std::io::BufReader::new(j.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    Some(j)
}

fn wasp(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn virtual_threads_through_the_json_dump() {
    let _floor = crate::common::beside();
    let Some(j) = start() else { return };
    let pid = j.0.id().to_string();
    let d: ThreadDump = serde_json::from_str(&wasp(&[
        "dump",
        "threads",
        &pid,
        "--virtual",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!((d.format.as_str(), d.pid), ("json", Some(j.0.id() as u64)));
    let find = |n: &str| {
        d.threads
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("{n}: {d:#?}"))
    };
    let sleeper = find("vt-holds-monitor-sleeping");
    assert!(sleeper.virtual_thread);
    assert!(find("vt-busy").virtual_thread);
    let blocked = find("platform-blocked-on-vthread-lock");
    assert_eq!(blocked.state, "BLOCKED");
    assert!(!blocked.virtual_thread);
    let lock = blocked.waiting_for().unwrap();
    assert!(
        sleeper.locks_held().any(|l| l.address == lock.address),
        "{sleeper:?}"
    );
    // Thread.print leaves the unmounted sleeper out: only the JSON form shows who holds the lock.
    let plain = wasp::jvm::dump::parse(&wasp(&["dump", "threads", &pid]));
    assert!(
        !plain
            .threads
            .iter()
            .any(|t| t.name == "vt-holds-monitor-sleeping")
    );
    let report = wasp(&["dump", "threads", &pid, "--virtual", "--format", "report"]);
    assert!(
        report.contains("\"platform-blocked-on-vthread-lock\" waits for")
            && report.contains("held by \"vt-holds-monitor-sleeping\""),
        "{report}"
    );
    // The JVM's file is gone afterwards; as text, the JSON as the JVM wrote it.
    let text = wasp(&["dump", "threads", &pid, "--virtual"]);
    assert!(text.trim_start().starts_with('{') && text.contains("\"threadDump\""));
    let left: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("wasp-threads-"))
        .filter(|e| e.file_name().to_string_lossy().contains(".json"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

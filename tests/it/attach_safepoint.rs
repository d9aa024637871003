//! JDK 25: a slow reader of a 3,000-thread dump adds no safepoint time, because wasp asks for the reply
//! unstreamed and drains it at once; jstack, which streams, is the control that shows the measurement sees a
//! stall. Its own test binary, so that no other test's JVMs compete for the CPU while it measures.

use crate::common::*;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const JDK25: &str = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java";

use crate::common::wasp_cmd as wasp;

/// Seconds the JVM spent at safepoints, from its hsperfdata, read with wasp's own reader.
fn safepoint_seconds(pid: u32) -> f64 {
    let jvm = wasp::jvm::discover::find(&wasp::host::Roots::default(), pid).unwrap();
    let pd = wasp::jvm::perfdata::PerfData::read(jvm.hsperfdata.as_deref().unwrap()).unwrap();
    pd.long("sun.rt.safepointTime").unwrap() as f64
        / pd.long("sun.os.hrt.frequency").unwrap() as f64
}

/// Runs `cmd` with its stdout in a pipe nobody reads for 3 s, then drains it; the JVM's added safepoint time.
fn slow_reader(pid: u32, cmd: &mut Command) -> (f64, usize) {
    let before = safepoint_seconds(pid);
    let mut c = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(c.wait().unwrap().success());
    (
        safepoint_seconds(pid) - before,
        out.matches("\"idle-").count(),
    )
}

#[test]
fn jdk25_slow_reader_of_a_3000_thread_dump_adds_no_safepoint_time() {
    let _floor = crate::common::alone();
    if !require("java") || !require("javac") || !Path::new(JDK25).exists() {
        eprintln!("skipping: no JDK 25");
        return;
    }
    let (j, _out) = start_lab(Path::new(JDK25), &["-Xmx128m"], &["idle=3000"], None);
    let pid = j.0.id();
    // Listener up first, so only the dumps are measured.
    let up = wasp()
        .args(["dump", "jcmd", &pid.to_string(), "VM.uptime"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let (ours, n) = slow_reader(pid, wasp().args(["dump", "threads", &pid.to_string()]));
    assert_eq!(n, 3000);
    // The control: jstack on JDK 25 streams the dump from inside the safepoint, so its stalled reader holds
    // the JVM there for the whole 3 s. It shows the measurement sees such a stall.
    let jstack = Path::new(JDK25).with_file_name("jstack");
    let (theirs, n) = slow_reader(pid, Command::new(jstack).args(["-l", &pid.to_string()]));
    assert_eq!(n, 3000);
    eprintln!(
        "safepoint time added by a reader stalled 3 s: wasp {ours:.3} s, jstack {theirs:.3} s"
    );
    // The dump itself takes ~0.1-0.2 s at a safepoint for 3,000 threads here; 0.5 s is the bound.
    assert!(ours < 0.5, "wasp added {ours:.3} s of safepoint time");
    assert!(
        theirs > 2.0,
        "jstack added only {theirs:.3} s: the control did not stall"
    );
}

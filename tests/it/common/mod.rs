//! Shared helpers for tests that run the real tools next to wasp.
#![allow(dead_code)]

pub mod agent;
pub mod backends;
pub mod cgroup;
pub mod encode;
pub mod http;
pub mod prometheus;
pub mod tomcat;
pub mod webdriver;

use std::collections::HashMap;
use std::process::{Command, Output};

/// Fails in CI when a tool is missing (a missing part is a failure there); skips with a note elsewhere.
pub fn require(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is not installed; scripts/test.sh installs it");
        }
        eprintln!("skipping: {tool} not installed (run scripts/test.sh)");
    }
    found
}

/// `wasp` as the tests run it: the binary under test, never a configuration from the environment.
pub fn wasp_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasp"));
    c.env_remove("WASP_CONFIG");
    c
}

/// What a command wrote to stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command with the C locale and ISO times, so numbers and headers parse the same everywhere.
pub fn tool(cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    c.env("LC_ALL", "C")
        .env("S_TIME_FORMAT", "ISO")
        .env("POSIXLY_CORRECT", "")
        .env_remove("POSIXLY_CORRECT");
    c
}

pub fn is_num(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

/// sar's "Average:" block, as (header columns, rows of values), one entry per report section.
pub fn sar_sections(text: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut out: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("Average:") else {
            continue;
        };
        let toks: Vec<String> = rest.split_whitespace().map(String::from).collect();
        if toks.is_empty() {
            continue;
        }
        if toks.iter().all(|t| !is_num(t)) {
            out.push((toks, Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(toks);
        }
    }
    out
}

/// The row of the section that has column `col`, whose first value is `key` (or the only row when key is None).
pub fn sar_row(
    sections: &[(Vec<String>, Vec<Vec<String>>)],
    col: &str,
    key: Option<&str>,
) -> Option<HashMap<String, f64>> {
    let (hdr, rows) = sections.iter().find(|(h, _)| h.iter().any(|c| c == col))?;
    let row = match key {
        Some(k) => rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(k))?,
        None => rows.first()?,
    };
    Some(
        hdr.iter()
            .zip(row.iter())
            .filter_map(|(h, v)| Some((h.clone(), v.parse().ok()?)))
            .collect(),
    )
}

/// |a - b| within abs, or within rel of the larger.
pub fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    (a - b).abs() <= abs || (a - b).abs() <= rel * a.abs().max(b.abs())
}

#[track_caller]
pub fn check(what: &str, wasp: f64, tool: f64, abs: f64, rel: f64, failures: &mut Vec<String>) {
    if !close(wasp, tool, abs, rel) {
        failures.push(format!(
            "{what}: wasp {wasp:.3} vs tool {tool:.3} (abs {abs}, rel {rel})"
        ));
    }
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps a child when the test ends, also when it panics, so nothing outlives its test.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // A JVM killed leaves its attach socket and counters; a later JVM with this pid would find them.
        let pid = self.0.id();
        let _ = std::fs::remove_file(format!("/tmp/.java_pid{pid}"));
        let _ = std::fs::remove_file(format!("/tmp/hsperfdata_root/{pid}"));
    }
}

/// tests/fixtures/dumps/Lab.java compiled into `dir` (again whenever the source is newer than the class).
pub fn lab_classes(dir: &std::path::Path) -> std::path::PathBuf {
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/Lab.java");
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // The tests of one file run in parallel: one compiles at a time, or a JVM may load a half-written class.
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    if mtime(&dir.join("Lab.class")) < mtime(&src) {
        std::fs::create_dir_all(dir).unwrap();
        assert!(
            Command::new("javac")
                .args(["--release", "17", "-d"])
                .arg(dir)
                .arg(&src)
                .status()
                .unwrap()
                .success()
        );
    }
    dir.to_path_buf()
}

/// Starts Lab (`java [jvm_args] -cp CLASSES Lab [args]`, in `cwd` when given) and waits for its "ready" line; all
/// its threads, deadlocks included, are in place 800 ms later. Its stdout is returned for checks that the JVM
/// printed no thread dump (what a stray SIGQUIT does).
pub fn start_lab(
    java: &std::path::Path,
    jvm_args: &[&str],
    args: &[&str],
    cwd: Option<&std::path::Path>,
) -> (Reaped, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    let classes =
        lab_classes(&std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-classes"));
    let mut cmd = Command::new(java);
    cmd.arg("-Xmx64m")
        .args(jvm_args)
        .arg("-cp")
        .arg(classes)
        .arg("Lab")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut j = Reaped(cmd.spawn().unwrap());
    let mut out = std::io::BufReader::new(j.0.stdout.take().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut line = String::new();
    while std::time::Instant::now() < deadline {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("ready") {
            std::thread::sleep(std::time::Duration::from_millis(800));
            return (j, out);
        }
    }
    panic!("Lab did not start");
}

/// Lab on JDK 17 with `jvm_args` (e.g. `-Dwasp.app=NAME`), ready, its output drained in the background.
pub fn run_lab(jvm_args: &[&str]) -> Reaped {
    let (j, mut out) = start_lab(std::path::Path::new("/usr/bin/java"), jvm_args, &[], None);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    j
}

pub type Row = (String, String, Option<String>);

/// (name, state, name of the owner of the lock it waits for) of the Java threads that exist in both dumps'
/// stable part (the Lab's own threads, whose states do not change).
pub fn rows(d: &wasp::jvm::threaddump::ThreadDump) -> std::collections::BTreeSet<Row> {
    let owners: std::collections::HashMap<String, String> = d
        .threads
        .iter()
        .flat_map(|t| {
            t.locks_held()
                .map(move |l| (l.address.clone(), t.name.clone()))
        })
        .collect();
    d.threads
        .iter()
        .filter(|t| {
            t.is_java()
                && !t.name.starts_with("Attach Listener")
                && !t.name.starts_with("Common-Cleaner")
        })
        .map(|t| {
            (
                t.name.clone(),
                t.state.clone(),
                t.waiting_for()
                    .and_then(|l| owners.get(&l.address).cloned()),
            )
        })
        .collect()
}

/// One process runs every test now, two at a time on a 2-core machine. A test whose figures another test's
/// load would move (CPU, timing, the machine-wide /tmp it scans, the system it installs into) holds `alone()`;
/// every other test holds `beside()`, so it waits while such a test runs and runs freely next to its peers.
static FLOOR: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    FLOOR.write().unwrap_or_else(|e| e.into_inner())
}

pub fn beside() -> std::sync::RwLockReadGuard<'static, ()> {
    FLOOR.read().unwrap_or_else(|e| e.into_inner())
}

/// Eat (tests/fixtures/jvm/Eat.java, run from source) in `cwd`: alive for 3 s, then out of heap.
pub fn eat(cwd: &std::path::Path, app: &str, flags: &[&str]) -> Reaped {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/Eat.java");
    Reaped(
        Command::new("/usr/bin/java")
            .arg(format!("-Dwasp.app={app}"))
            .arg("-Xmx32m")
            .args(flags)
            .arg(src)
            .arg("3000")
            .current_dir(cwd)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

//! The attach client when things go wrong, on real JVMs: a JVM that never answers (SIGSTOP) times out at the
//! configured timeout, also when its listener queue is full; a JVM killed while it holds our request, or while
//! its listener starts, is a clear error; a fake socket of another user, or a symlink, is refused before any
//! connection; nothing is left behind (no trigger file, the JVM's listener still serves). Heap dumps: a real
//! HPROF written, refused on a file system without the space. The jcmd fallback only when configured. A JVM
//! in its own pid and mount namespace, with a private /tmp, is dumped; a heap dump there is space-checked
//! where the JVM writes, not in our /tmp.

use crate::common::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const JDK17: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
const JDK25: &str = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java";

use crate::common::wasp_cmd as wasp;

use crate::common::stderr as err;

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
    if sig == nix::sys::signal::Signal::SIGKILL {
        // A killed JVM leaves its socket; a later JVM with the same pid would find it.
        let _ = std::fs::remove_file(format!("/tmp/.java_pid{pid}"));
    }
}

fn triggers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".attach_pid"))
                .collect()
        })
        .unwrap_or_default()
}

/// A scratch directory (the JVM's working directory, where wasp puts its trigger file first).
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn no_dump_printed(out: std::io::BufReader<std::process::ChildStdout>) -> bool {
    // The JVM is dead by now: its stdout ends.
    let mut rest = String::new();
    let _ = out.into_inner().read_to_string(&mut rest);
    !rest.contains("Full thread dump")
}

fn ready() -> bool {
    require("java") && require("javac")
}

#[test]
fn a_jvm_that_never_answers_times_out_at_the_configured_timeout() {
    let _floor = crate::common::alone();
    if !ready() {
        return;
    }
    use nix::sys::signal::Signal::{SIGCONT, SIGKILL, SIGSTOP};
    // No listener yet: wasp creates the trigger, signals, and waits for a socket that never comes.
    let cwd = scratch("never-answers");
    let (j, out) = start_lab(Path::new(JDK17), &[], &[], Some(&cwd));
    let pid = j.0.id();
    signal(pid, SIGSTOP);
    let t = Instant::now();
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "2s"])
        .output()
        .unwrap();
    let took = t.elapsed();
    eprintln!("stopped JVM, no listener: ended after {took:?} (timeout 2s)");
    assert!(
        !o.status.success() && err(&o).contains("no answer within 2s"),
        "{}",
        err(&o)
    );
    // The deadline is the configured one; the margin is process start-up and one poll interval on a busy
    // 2-core machine.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(3000),
        "{took:?}"
    );
    assert!(triggers(&cwd).is_empty() && triggers(Path::new("/tmp")).is_empty());
    signal(pid, SIGKILL);
    drop(j);
    // The SIGQUIT it got while stopped, delivered after the kill: nothing was printed.
    assert!(no_dump_printed(out));

    // Listener up, then stopped: eight clients at once. The listener's queue holds a few; the others would
    // block in connect() for ever without a bound on it. Every one ends at the timeout.
    let (j, _out) = start_lab(Path::new(JDK17), &[], &[], None);
    let pid = j.0.id().to_string();
    let up = wasp()
        .args(["dump", "jcmd", &pid, "VM.uptime"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", err(&up));
    signal(j.0.id(), SIGSTOP);
    let t = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            wasp()
                .args(["dump", "threads", &pid, "--timeout", "2s"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<Output> = clients
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let took = t.elapsed();
    eprintln!("stopped JVM, eight clients: all ended after {took:?} (timeout 2s)");
    let errs: Vec<String> = results.iter().map(err).collect();
    assert!(results.iter().all(|o| !o.status.success()), "{errs:?}");
    assert!(
        errs.iter().all(|e| e.contains("no answer within 2s")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("accepts no connection")),
        "the listener queue never filled: {errs:?}"
    );
    // Eight processes started at once on 2 cores: a wider margin than above.
    assert!(took < Duration::from_millis(4000), "{took:?}");
    // Resumed, the JVM drains the abandoned requests and serves again: nothing is stuck.
    signal(j.0.id(), SIGCONT);
    let again = wasp()
        .args(["dump", "jcmd", &pid, "--timeout", "20s", "VM.uptime"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", err(&again));
}

#[test]
fn a_jvm_killed_during_the_request_is_a_clear_error() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    use nix::sys::signal::Signal::{SIGKILL, SIGSTOP};
    // Killed while it holds our request (stopped, so the kill lands before any reply byte).
    let (j, _out) = start_lab(Path::new(JDK17), &[], &["idle=1000"], None);
    let pid = j.0.id();
    let up = wasp()
        .args(["dump", "jcmd", &pid.to_string(), "VM.uptime"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", err(&up));
    signal(pid, SIGSTOP);
    let client = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let t = Instant::now();
    signal(pid, SIGKILL); // not reaped yet: a zombie, which wasp must treat as gone
    let o = client.wait_with_output().unwrap();
    assert!(
        !o.status.success() && err(&o).contains("the JVM exited"),
        "{}",
        err(&o)
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(j);

    // Killed while its listener starts: the trigger file is removed although /proc/<pid>/cwd is gone.
    let cwd = scratch("killed-starting");
    let (j, _out) = start_lab(Path::new(JDK17), &[], &[], Some(&cwd));
    let pid = j.0.id();
    signal(pid, SIGSTOP);
    let client = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "20s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The trigger goes in the JVM's own tmp (#12: never in a working directory of the JVM user's choosing).
    let mine = || -> Vec<String> {
        triggers(Path::new("/tmp"))
            .into_iter()
            .filter(|n| *n == format!(".attach_pid{pid}"))
            .collect()
    };
    let seen = Instant::now() + Duration::from_secs(5);
    while mine().is_empty() && Instant::now() < seen {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!mine().is_empty(), "wasp never created its trigger");
    assert!(triggers(&cwd).is_empty(), "{:?}", triggers(&cwd));
    let t = Instant::now();
    signal(pid, SIGKILL);
    let o = client.wait_with_output().unwrap();
    assert!(
        !o.status.success() && err(&o).contains("exited while its attach listener was starting"),
        "{}",
        err(&o)
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(mine().is_empty(), "{:?}", mine());
    drop(j);
}

fn test_user() -> u32 {
    // Already there after the first run (hardened_attach makes the same user).
    let _ = Command::new("useradd")
        .args(["--system", "--no-create-home", "wasptest"])
        .stderr(Stdio::null())
        .status();
    stdout(
        &Command::new("id")
            .args(["-u", "wasptest"])
            .output()
            .unwrap(),
    )
    .trim()
    .parse()
    .expect("user wasptest")
}

#[test]
fn a_fake_socket_of_another_user_or_a_symlink_is_refused_before_connecting() {
    let _floor = crate::common::beside();
    if !ready() || !require("useradd") {
        return;
    }
    let uid = test_user();
    let (j, out) = start_lab(Path::new(JDK17), &[], &[], None);
    let pid = j.0.id();
    let sock = PathBuf::from(format!("/tmp/.java_pid{pid}"));
    // One left by a killed JVM that had this pid before.
    let _ = std::fs::remove_file(&sock);
    let check_refused = |what: &str, listener: &std::os::unix::net::UnixListener, want: &str| {
        let t = Instant::now();
        let o = wasp()
            .args(["dump", "threads", &pid.to_string(), "--timeout", "5s"])
            .output()
            .unwrap();
        assert!(
            !o.status.success() && err(&o).contains(want),
            "{what}: {}",
            err(&o)
        );
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{what}: {:?}",
            t.elapsed()
        );
        listener.set_nonblocking(true).unwrap();
        assert!(
            listener
                .accept()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "{what}: wasp connected to the fake socket"
        );
    };
    // A socket in the JVM's /tmp under its name, owned by another user.
    let fake = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(uid), Some(uid)).unwrap();
    check_refused("other user's socket", &fake, "not trusted");
    std::fs::remove_file(&sock).unwrap();
    // A symlink there to a root-owned socket elsewhere (what a /tmp squatter could point at).
    let dir = scratch("fake-socket");
    let target = dir.join("root.sock");
    let rooted = std::os::unix::net::UnixListener::bind(&target).unwrap();
    std::os::unix::fs::symlink(&target, &sock).unwrap();
    check_refused("symlink", &rooted, "not a socket (a symlink?)");
    std::fs::remove_file(&sock).unwrap();
    // The same JVM, without the fakes, attaches: the refusals were the fakes' doing.
    let o = wasp()
        .args(["dump", "threads", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        o.status.success() && stdout(&o).contains("deadlock-A"),
        "{}",
        err(&o)
    );
    drop(j);
    assert!(no_dump_printed(out));
}

/// Unmounts when dropped, also when the test fails.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn heap_dump_is_written_or_refused_for_space() {
    let _floor = crate::common::beside();
    if !ready() || !require("mount") {
        return;
    }
    for java in [JDK17, JDK25] {
        if !Path::new(java).exists() {
            continue;
        }
        let (j, _out) = start_lab(Path::new(java), &[], &[], None);
        let pid = j.0.id().to_string();
        let file = PathBuf::from(format!("/var/tmp/wasp-test-heap-{pid}.hprof"));
        let _ = std::fs::remove_file(&file);
        let o = wasp()
            .args(["dump", "heap", &pid, "--live", "--out"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{java}: {}", err(&o));
        let mut head = [0u8; 19];
        std::fs::File::open(&file)
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        let size = std::fs::metadata(&file).unwrap().len();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(&head, b"JAVA PROFILE 1.0.2\0", "{java}");
        // 20,000 Payload objects alone are > 1 MB.
        assert!(size > 1 << 20, "{java}: {size} bytes");
        assert!(stdout(&o).contains(&size.to_string()), "{}", stdout(&o));

        // A 2 MiB tmpfs: refused before the JVM is asked, nothing written.
        let dir = scratch(&format!("tiny-{pid}"));
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(mounted, "mount -t tmpfs needs root");
        let _m = Mount(dir.clone());
        let o = wasp()
            .args(["dump", "heap", &pid, "--out"])
            .arg(dir.join("h.hprof"))
            .output()
            .unwrap();
        assert!(
            !o.status.success() && err(&o).contains("a dump of this heap needs about"),
            "{java}: {}",
            err(&o)
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{java}");
        let o = wasp()
            .args(["dump", "heap", &pid, "--out", "relative.hprof"])
            .output()
            .unwrap();
        assert!(err(&o).contains("absolute path"), "{}", err(&o));
    }
}

#[test]
fn jcmd_fallback_only_when_configured_and_only_where_attach_is_impossible() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    let dir = scratch("fallback");
    let config = |name: &str, tool: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("[jvm]\nattach_fallback = \"{tool}\"\n")).unwrap();
        p
    };
    let jcmd = Path::new(JDK17).with_file_name("jcmd");
    // Without hsperfdata wasp cannot see whether attach is enabled, so it does not signal; jcmd does.
    let (j, out) = start_lab(Path::new(JDK17), &["-XX:-UsePerfData"], &[], None);
    let pid = j.0.id().to_string();
    let o = wasp().args(["dump", "threads", &pid]).output().unwrap();
    assert!(
        !o.status.success()
            && err(&o).contains("-XX:-UsePerfData")
            && err(&o).contains("attach_fallback"),
        "{}",
        err(&o)
    );
    let missing = config("missing.toml", "/nonexistent/jcmd");
    let o = wasp()
        .arg("-c")
        .arg(&missing)
        .args(["dump", "threads", &pid])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && err(&o).contains("/nonexistent/jcmd: not found"),
        "{}",
        err(&o)
    );
    let good = config("jcmd.toml", jcmd.to_str().unwrap());
    let o = wasp()
        .arg("-c")
        .arg(&good)
        .args(["dump", "threads", &pid])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let d = wasp::jvm::threaddump::parse(&stdout(&o));
    assert!(d.unparsed.is_empty(), "{:?}", d.unparsed);
    assert!(d.threads.iter().any(|t| t.name == "deadlock-A"));
    assert_eq!(d.jvm_deadlocks.len(), 3, "{:?}", d.jvm_deadlocks);
    // jcmd ran as the JVM's user and left no hsperfdata of its own behind.
    drop(j);
    assert!(
        no_dump_printed(out),
        "jcmd's attach printed a dump in the JVM's log"
    );

    // Attach disabled: jcmd would fare no better; the fallback is not tried, and nothing is signalled.
    let (j, out) = start_lab(
        Path::new(JDK17),
        &["-XX:+DisableAttachMechanism"],
        &[],
        None,
    );
    let o = wasp()
        .arg("-c")
        .arg(&good)
        .args(["dump", "threads", &j.0.id().to_string()])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && err(&o).contains("attach is disabled"),
        "{}",
        err(&o)
    );
    drop(j);
    assert!(no_dump_printed(out));
}

#[test]
fn a_jvm_in_its_own_pid_and_mount_namespace_is_dumped() {
    let _floor = crate::common::beside();
    if !ready() || !require("unshare") || !require("pgrep") {
        return;
    }
    use std::io::BufRead;
    // Its classes outside /tmp, which its private tmpfs hides; its working directory a scratch one, to see
    // the trigger file come and go.
    let classes = PathBuf::from("/var/tmp/wasp-test-classes-pidns");
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes).unwrap();
    let built = lab_classes(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-classes"));
    for e in std::fs::read_dir(built).unwrap().flatten() {
        std::fs::copy(e.path(), classes.join(e.file_name())).unwrap();
    }
    let cwd = scratch("pidns");
    let mut ns = Reaped(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--propagation", "private"])
            .args(["sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size=2m tmpfs /tmp && exec {JDK17} -Xmx64m -cp {} Lab",
                classes.display()
            ))
            .current_dir(&cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = std::io::BufReader::new(ns.0.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 && !line.starts_with("ready") {
        line.clear();
    }
    assert_eq!(
        line.trim(),
        "ready pid=1",
        "the JVM is not pid 1 of its own namespace"
    );
    std::thread::sleep(Duration::from_millis(800));
    // The JVM is unshare's child; SIGKILL to unshare's child kills the namespace, and Reaped reaps unshare.
    let pid: u32 = stdout(
        &Command::new("pgrep")
            .args(["-P", &ns.0.id().to_string()])
            .output()
            .unwrap(),
    )
    .trim()
    .parse()
    .unwrap();
    assert!(
        !Path::new("/tmp/hsperfdata_root/1").exists() && !Path::new("/tmp/.java_pid1").exists(),
        "the JVM's /tmp is visible here: the test does not test what it says"
    );
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--format", "json"])
        .output()
        .unwrap();
    let kill = || signal(pid, nix::sys::signal::Signal::SIGKILL);
    if !o.status.success() {
        kill();
        panic!("{}", err(&o));
    }
    let d: wasp::jvm::threaddump::ThreadDump = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(d.jvm_deadlocks.len(), 3, "{:?}", d.jvm_deadlocks);
    assert!(triggers(&cwd).is_empty(), "{:?}", triggers(&cwd));
    // Its /tmp is a 2 MiB tmpfs; ours has room. Only a space check made where the JVM writes refuses.
    let st = nix::sys::statvfs::statvfs("/tmp").unwrap();
    #[allow(clippy::unnecessary_cast)]
    let ours = st.blocks_available() as u64 * st.fragment_size() as u64;
    let o = wasp()
        .args(["dump", "heap", &pid.to_string(), "--out", "/tmp/h.hprof"])
        .output()
        .unwrap();
    let inside = PathBuf::from(format!("/proc/{pid}/root/tmp/h.hprof"));
    let written = inside.exists();
    kill();
    drop(ns);
    assert!(
        ours > 256 << 20,
        "our /tmp has only {ours} bytes: the check proves nothing"
    );
    assert!(
        !o.status.success() && err(&o).contains("a dump of this heap needs about"),
        "{}",
        err(&o)
    );
    assert!(!written);
}

#[test]
fn a_jvm_killed_while_it_dumps_never_yields_a_partial_dump() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    // 3,000 threads: a 1.5 MB dump that takes the JVM ~0.1 s. Killed at several moments of it: either the
    // whole dump (the kill came late) or "the JVM exited", never a cut dump, never a hang.
    let mut outcomes = Vec::new();
    for delay_ms in [20u64, 70, 400] {
        let (j, _out) = start_lab(Path::new(JDK17), &["-Xmx128m"], &["idle=3000"], None);
        let pid = j.0.id();
        let up = wasp()
            .args(["dump", "jcmd", &pid.to_string(), "VM.uptime"])
            .output()
            .unwrap();
        assert!(up.status.success(), "{}", err(&up));
        let client = wasp()
            .args(["dump", "threads", &pid.to_string(), "--timeout", "20s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let t = Instant::now();
        signal(pid, nix::sys::signal::Signal::SIGKILL);
        let o = client.wait_with_output().unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(j);
        if o.status.success() {
            let d = wasp::jvm::threaddump::parse(&stdout(&o));
            let idle = d
                .threads
                .iter()
                .filter(|t| t.name.starts_with("idle-"))
                .count();
            assert!(
                idle == 3000 && d.unparsed.is_empty(),
                "a cut dump: {idle} idle threads"
            );
            outcomes.push(format!("{delay_ms} ms: whole dump"));
        } else {
            assert!(err(&o).contains("the JVM exited"), "{}", err(&o));
            assert!(o.stdout.is_empty());
            outcomes.push(format!("{delay_ms} ms: {}", err(&o).trim()));
        }
    }
    eprintln!("{outcomes:#?}");
}

/// A socket file nobody listens on, at `path` (what a killed JVM leaves).
fn stale_socket(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let _ = std::fs::remove_file(path);
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_stale_socket_is_waited_out_but_never_a_reason_to_signal_a_running_listener() {
    let _floor = crate::common::alone();
    if !ready() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    // A JVM whose pid a killed JVM had: its socket is still there. The listener started on our signal
    // renames its own over it.
    let (j, out) = start_lab(Path::new(JDK17), &[], &[], None);
    let pid = j.0.id();
    let sock = PathBuf::from(format!("/tmp/.java_pid{pid}"));
    let old = stale_socket(&sock);
    let o = wasp()
        .args(["dump", "threads", &pid.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(stdout(&o).contains("deadlock-A"));
    assert_ne!(std::fs::metadata(&sock).unwrap().ino(), old);
    // Its listener running, its socket file replaced by a dead one: a SIGQUIT now would print a dump into the
    // JVM's log, so none is sent and the error says why.
    std::fs::remove_file(&sock).unwrap();
    stale_socket(&sock);
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "3s"])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && err(&o).contains("refuses connections: the JVM's listener runs"),
        "{}",
        err(&o)
    );
    let _ = std::fs::remove_file(&sock);
    drop(j);
    assert!(no_dump_printed(out));
}

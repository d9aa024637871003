//! Issue #12's findings, each replayed as the review did it: the attacker is `nobody` (setpriv), in a user, pid
//! and mount namespace of its own (unshare) where the finding needs one; the victim is the root agent binary.
//! Each attack now fails with a clear error, and the agent still dumps a real JVM afterwards.

use crate::common::*;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;
const JDK25: &str = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java";

use crate::common::wasp_cmd as wasp;

use crate::common::stderr as err;

fn as_nobody(prog: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(prog);
    c
}

fn ready() -> bool {
    require("setpriv") && require("unshare")
}

/// A scratch directory in /tmp that nobody may use.
fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/wasp-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// A script named `java`: its process's comm is `java`, so discovery takes it for a JVM (what a user can make).
fn java_script(dir: &Path) -> PathBuf {
    let p = dir.join("java");
    std::fs::write(&p, "#!/bin/sh\nwhile :; do sleep 1; done\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The host pid of the first `java` among `pid` and its descendants, waited for.
fn java_below(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut todo = vec![pid];
        while let Some(p) = todo.pop() {
            if comm(p) == "java" {
                return p;
            }
            let kids =
                std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
            todo.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no java process below {pid}");
}

/// A fake `java` of nobody's, outside any namespace.
fn fake_java(dir: &Path, args: &[&str]) -> (Reaped, u32) {
    let script = java_script(dir);
    let child = as_nobody(&script)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Reaped(child);
    let pid = java_below(r.0.id());
    (r, pid)
}

/// A JDK 17 hsperfdata file whose attach capability says enabled and whose VM began now: what an attacker
/// copies and adjusts to pass every check the file itself can pass.
fn crafted_hsperfdata() -> Vec<u8> {
    let mut b = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jvm/jdk17-G1.hsperf"),
    )
    .unwrap();
    let rd = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let used = rd(&b, 8);
    let mut off = rd(&b, 24);
    while off + 20 <= used {
        let len = rd(&b, off);
        let (name_off, data_off) = (rd(&b, off + 4), rd(&b, off + 16));
        if b[off + name_off..].starts_with(b"sun.rt.createVmBeginTime\0") {
            b[off + data_off..off + data_off + 8].copy_from_slice(&now_ms.to_le_bytes());
            return b;
        }
        off += len;
    }
    panic!("no createVmBeginTime in the fixture");
}

fn chown_nobody(p: &Path) {
    std::os::unix::fs::lchown(p, Some(NOBODY), Some(NOBODY)).unwrap();
}

/// A root (or any) socket that counts the connections made to it and what they sent.
struct Victim {
    listener: std::os::unix::net::UnixListener,
}

impl Victim {
    fn bind(path: &Path) -> Victim {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Victim { listener }
    }

    /// Bytes received on each connection made so far.
    fn received(&self) -> Vec<usize> {
        let mut out = Vec::new();
        while let Ok((mut s, _)) = self.listener.accept() {
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            out.push(b.len());
        }
        out
    }
}

/// Runs `sh -c script` as nobody in new user, pid and mount namespaces; the script chroots into `root` and runs
/// the `java` script there as the namespace's pid 1. Returns the host pid of that `java`.
fn namespaced_java(root: &Path) -> (Killed, u32) {
    java_script(root);
    let script = r#"set -e
R="$1"
for d in usr bin sbin lib lib32 lib64; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"
    elif [ -d "/$d" ]; then mkdir -p "$R/$d"; mount --rbind "/$d" "$R/$d"; fi
done
exec chroot "$R" /java
"#;
    let child = as_nobody("unshare")
        .args(["-Urmp", "--fork", "sh", "-c", script, "sh"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let r = Reaped(child);
    let pid = java_below(r.0.id());
    (Killed(pid, r), pid)
}

/// The namespace's init killed (which ends everything in it), then its unshare reaped.
struct Killed(u32, #[allow(dead_code)] Reaped);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn ns_pid(pid: u32) -> String {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    st.lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|v| v.split_whitespace().last())
        .unwrap()
        .to_string()
}

/// Finding 1: a container root whose `tmp` is an absolute symlink to a host directory, holding a crafted
/// hsperfdata file and, next to it, a root-owned 0600 socket of another process. The old agent resolved `tmp` on
/// the host, trusted the root-owned socket and printed its answer as the attacker's thread dump.
#[test]
fn a_container_tmp_symlink_to_a_host_socket_is_not_followed() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    let host = scratch("host-dir");
    let victim = Victim::bind(&host.join(".java_pid1"));
    let perf = host.join("hsperfdata_nobody");
    std::fs::create_dir(&perf).unwrap();
    std::fs::write(perf.join("1"), crafted_hsperfdata()).unwrap();
    chown_nobody(&perf);
    chown_nobody(&perf.join("1"));
    let root = scratch("ns-root");
    std::os::unix::fs::symlink(&host, root.join("tmp")).unwrap();
    let (_ns, pid) = namespaced_java(&root);
    assert_eq!(ns_pid(pid), "1");
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "3s"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(err(&o).contains("no hsperfdata file"), "{}", err(&o));
    assert!(
        victim.received().is_empty(),
        "wasp connected to the host socket"
    );
    let _ = std::fs::remove_dir_all(&host);
}

/// Finding 1, the proof: a socket file in the JVM's tmp that passes every check a path allows (the JVM user's
/// own file, in its own tmp, next to its own hsperfdata) but is listened on by another process. SO_PEERCRED tells;
/// nothing is sent.
#[test]
fn a_socket_answered_by_another_process_is_refused_before_sending() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    let root = scratch("ns-root-peer");
    let tmp = root.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let perf = tmp.join("hsperfdata_nobody");
    std::fs::create_dir(&perf).unwrap();
    std::fs::write(perf.join("1"), crafted_hsperfdata()).unwrap();
    chown_nobody(&perf);
    chown_nobody(&perf.join("1"));
    // Listened on by this test process, the socket file handed to nobody.
    let sock = tmp.join(".java_pid1");
    let victim = Victim::bind(&sock);
    chown_nobody(&sock);
    let (_ns, pid) = namespaced_java(&root);
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "3s"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        err(&o).contains(&format!("answered by pid {}", std::process::id()))
            && err(&o).contains("nothing was sent"),
        "{}",
        err(&o)
    );
    assert_eq!(victim.received(), vec![0], "connected once, sent nothing");
}

/// Finding 2: a FIFO (or a link to a file only root may read) at the server.xml a JVM's command line names. The
/// old agent blocked for good in the snapshot worker and in `dump --format report`.
#[test]
fn server_xml_that_is_a_fifo_or_a_foreign_file_is_skipped_at_once() {
    let _floor = crate::common::beside();
    if !ready() || !require("mkfifo") {
        return;
    }
    let d = scratch("catalina");
    let (fifo_base, link_base, own_base) = (d.join("fifo"), d.join("link"), d.join("own"));
    let xml = r#"<Server><Service><Connector port="8080" maxThreads="7"/></Service></Server>"#;
    for b in [&fifo_base, &link_base, &own_base] {
        std::fs::create_dir_all(b.join("conf")).unwrap();
    }
    assert!(
        Command::new("mkfifo")
            .arg(fifo_base.join("conf/server.xml"))
            .status()
            .unwrap()
            .success()
    );
    let secret = d.join("root-only.xml");
    std::fs::write(&secret, xml).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, link_base.join("conf/server.xml")).unwrap();
    std::fs::write(own_base.join("conf/server.xml"), xml).unwrap();
    chown_nobody(&own_base.join("conf/server.xml"));
    for (base, want) in [(&fifo_base, 0), (&link_base, 0), (&own_base, 1)] {
        let arg = format!("-Dcatalina.base={}", base.display());
        let (_j, pid) = fake_java(&d, &[&arg]);
        let cmdline: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let t = Instant::now();
        let limits = wasp::jvm::tomcat::pool_limits(Path::new("/proc"), pid, &cmdline);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(limits.len(), want, "{}: {limits:?}", base.display());
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Finding 2 end to end: a real JVM of nobody's whose catalina.base holds a FIFO; the report still comes.
#[test]
fn a_dump_report_of_a_jvm_with_a_fifo_server_xml_finishes() {
    let _floor = crate::common::beside();
    if !ready() || !require("mkfifo") || !Path::new(JDK25).exists() {
        return;
    }
    let d = scratch("catalina-jvm");
    std::fs::create_dir_all(d.join("conf")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(d.join("conf/server.xml"))
            .status()
            .unwrap()
            .success()
    );
    let classes = lab_classes(Path::new("/var/tmp/wasp-sec-lab-classes"));
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", "/var/tmp/wasp-sec-lab-classes"])
        .status();
    let mut jvm = as_nobody(JDK25)
        .arg("-Xmx64m")
        .arg(format!("-Dcatalina.base={}", d.display()))
        .arg("-cp")
        .arg(&classes)
        .arg("Lab")
        .current_dir(&d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(jvm.stdout.take().unwrap());
    let j = Reaped(jvm);
    use std::io::BufRead;
    assert!(
        out.lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("ready")),
        "Lab did not start"
    );
    std::thread::sleep(Duration::from_millis(800));
    let pid = j.0.id();
    let mut child = wasp()
        .args(["dump", "threads", &pid.to_string(), "--format", "report"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wasp dump --format report hangs on a FIFO server.xml");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    // Dumped as the JVM's own user (JDK 25, another user): the trigger file was nobody's, no fchown needed.
    assert!(o.status.success(), "{}", err(&o));
    assert!(stdout(&o).contains("deadlock"), "{}", stdout(&o));
    drop(j);
    let _ = std::fs::remove_dir_all(&d);
}

/// Finding 3: a 512 MiB sparse "hsperfdata" file (32 KB on disk), and then a FIFO in its place. The old agent
/// read the whole file (530 MB peak) and blocked on the FIFO.
#[test]
fn a_huge_or_fifo_hsperfdata_file_costs_no_memory_and_never_blocks() {
    let _floor = crate::common::alone();
    if !ready() || !require("truncate") || !require("mkfifo") {
        return;
    }
    let d = scratch("perf-bomb");
    let (_j, pid) = fake_java(&d, &[]);
    // Not hsperfdata_nobody: a JDK 21+ JVM of nobody's starting meanwhile (another test's) deletes every file
    // there it can flock, ours included (CI saw it once). Any hsperfdata_* directory of the JVM's uid counts.
    let user_dir = PathBuf::from(format!("/tmp/hsperfdata_waspbomb{pid}"));
    let file = user_dir.join(pid.to_string());
    let make = |cmd: &str, args: &[&str]| {
        assert!(
            as_nobody("sh")
                .arg("-c")
                .arg(format!(
                    "mkdir -p {0} && rm -f {1} && {cmd} {2} {1}",
                    user_dir.display(),
                    file.display(),
                    args.join(" ")
                ))
                .status()
                .unwrap()
                .success()
        )
    };
    make("truncate", &["-s", "512M"]);
    let o = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M"])
        .arg(env!("CARGO_BIN_EXE_wasp"))
        .args(["jvm", "list"])
        .env_remove("WASP_CONFIG")
        .output()
        .unwrap();
    let rss: u64 = err(&o)
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB reading a sparse file");
    let line = stdout(&o)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
        .map(String::from)
        .unwrap_or_default();
    assert!(
        line.contains("refused") && line.contains("more than"),
        "{}\n{}: {:?}",
        stdout(&o),
        user_dir.display(),
        std::fs::read_dir(&user_dir)
            .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    // A FIFO swapped in: never opened for a blocking read.
    make("mkfifo", &[]);
    let t = Instant::now();
    let o = wasp().args(["jvm", "list"]).output().unwrap();
    assert!(o.status.success() && t.elapsed() < Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&user_dir);
    let _ = std::fs::remove_dir_all(&d);
}

/// Finding 5: nobody's `/tmp/hsperfdata_*/<pid>` copies of a root JVM's file, one saying "attach enabled" where
/// the JVM's own says disabled, one a symlink to a root-only file. The old agent took the first in directory order:
/// it signalled a JVM that had disabled attach, and printed the secret file's first bytes in an error.
#[test]
fn another_users_hsperfdata_neither_shadows_a_jvm_nor_reads_a_root_file() {
    let _floor = crate::common::beside();
    if !ready() || !require("java") || !require("javac") {
        return;
    }
    let (j, out) = start_lab(
        Path::new("/usr/bin/java"),
        &["-XX:+DisableAttachMechanism"],
        &[],
        None,
    );
    let pid = j.0.id();
    let secret = scratch("root-secret").join("shadow");
    std::fs::write(&secret, "root:$6$SECRETHASH:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let crafted = scratch("crafted").join("perf");
    std::fs::write(&crafted, crafted_hsperfdata()).unwrap();
    std::fs::set_permissions(&crafted, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Names that sort (and usually list) before hsperfdata_root.
    let shadow_dirs = ["/tmp/hsperfdata_0shadow", "/tmp/hsperfdata_0link"];
    let script = format!(
        "mkdir -p {a} {b} && cp {c} {a}/{pid} && ln -sf {s} {b}/{pid}",
        a = shadow_dirs[0],
        b = shadow_dirs[1],
        c = crafted.display(),
        s = secret.display()
    );
    assert!(
        as_nobody("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success()
    );
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "3s"])
        .output()
        .unwrap();
    let stat = wasp()
        .args(["jvm", "stat", &pid.to_string(), "--format", "json"])
        .output()
        .unwrap();
    for d in shadow_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    assert!(
        !o.status.success() && err(&o).contains("attach is disabled"),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("SECRET") && !stdout(&o).contains("SECRET"));
    assert!(stat.status.success(), "{}", err(&stat));
    drop(j);
    let mut rest = String::new();
    let _ = out.into_inner().read_to_string(&mut rest);
    assert!(!rest.contains("Full thread dump"), "the JVM was signalled");
}

/// Finding 7: a symlink planted in a watched log directory (`zz.log -> a root-only file`). The old agent read
/// the root-only file's lines into events.
#[test]
fn a_symlink_planted_in_a_watched_log_directory_is_not_read() {
    let _floor = crate::common::beside();
    use wasp::trigger::logwatch::{Follower, LogWatchConfig, WatchState};
    if !ready() {
        return;
    }
    let logs = scratch("logs");
    std::os::unix::fs::chown(&logs, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = scratch("log-secret").join("shadow");
    std::fs::write(&secret, "root:$6$SECRETHASH ERROR\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut patterns = std::collections::BTreeMap::new();
    patterns.insert("err".into(), wasp::config::Pattern::new("ERROR").unwrap());
    let cfg = LogWatchConfig {
        name: "app".into(),
        path: logs.join("*.log"),
        patterns,
        alive: None,
        silence: None,
        poll: wasp::config::Interval::secs(1),
        max_read: wasp::config::ByteSize(1 << 20),
        keep_lines: 10,
    };
    let st = std::sync::Arc::new(std::sync::Mutex::new(WatchState::new(1)));
    let mut f = Follower::new(cfg, st.clone());
    f.poll();
    let script = format!(
        "echo 'app ERROR real' > {l}/app.log && ln -s {s} {l}/zz.log && mkfifo {l}/fifo.log",
        l = logs.display(),
        s = secret.display()
    );
    assert!(
        as_nobody("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    f.poll();
    assert!(t.elapsed() < Duration::from_secs(2));
    let s = wasp::trigger::logwatch::lock(&st).clone();
    let lines: Vec<&str> = s.recent.iter().map(|m| m.line.as_str()).collect();
    assert_eq!(lines, vec!["app ERROR real"], "{lines:?}");
    assert_eq!(s.counts, vec![1]);
    let _ = std::fs::remove_dir_all(&logs);
}

/// Finding 8: a configuration file owned by another user (who could add a script action run as root), or in a
/// directory another user may write, is refused; root's own in a root directory is read.
#[test]
fn a_config_file_of_another_user_is_refused() {
    let _floor = crate::common::beside();
    if !ready() {
        return;
    }
    let d = scratch("config");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = d.join("wasp.toml");
    std::fs::write(&p, "").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = || wasp().args(["check-config"]).arg(&p).output().unwrap();
    let o = check();
    assert!(o.status.success(), "{}", err(&o));
    std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = check();
    assert!(
        !o.status.success() && err(&o).contains("owned by uid 65534"),
        "{}",
        err(&o)
    );
    std::os::unix::fs::chown(&p, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&d, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = check();
    assert!(
        !o.status.success() && err(&o).contains("its directory"),
        "{}",
        err(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Finding 9 (our side): an attach reply larger than [jvm] max_attach_reply is refused with a message naming the
/// key, never cut, whatever the output format; the same JVM's dump comes whole under the default.
#[test]
fn an_attach_reply_over_the_cap_is_refused_not_cut() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") {
        return;
    }
    let (j, _out) = start_lab(
        Path::new("/usr/bin/java"),
        &["-Xmx128m"],
        &["idle=3000"],
        None,
    );
    let pid = j.0.id().to_string();
    let d = scratch("cap-config");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = d.join("wasp.toml");
    std::fs::write(&cfg, "[jvm]\nmax_attach_reply = \"256KiB\"\n").unwrap();
    let o = wasp()
        .args(["--config"])
        .arg(&cfg)
        .args(["dump", "threads", &pid])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && err(&o).contains("max_attach_reply (256 KiB): refused, not cut"),
        "{}",
        err(&o)
    );
    assert!(o.stdout.is_empty());
    let o = wasp().args(["dump", "threads", &pid]).output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let dump = wasp::jvm::threaddump::parse(&stdout(&o));
    assert_eq!(
        dump.threads
            .iter()
            .filter(|t| t.name.starts_with("idle-"))
            .count(),
        3000
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Finding 6: a network peer holds 1,100 idle connections to an agent limited to 1,024 descriptors, then 200
/// connections sending 380 KB of unfinished headers. The old agent stopped answering /metrics, its collection
/// failed with "Too many open files", and it grew to 88 MB before any token was checked.
#[test]
fn idle_and_slow_http_peers_exhaust_neither_descriptors_nor_memory() {
    let _floor = crate::common::alone();
    if !require("prlimit") {
        return;
    }
    // The attacker side needs its own descriptors.
    let lim = libc::rlimit {
        rlim_cur: 8192,
        rlim_max: 8192,
    };
    // SAFETY: a plain struct; raising our own limit (as root) or failing harmlessly when it is already higher.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    let d = scratch("http");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let cfg = d.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"500ms\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n",
            d.join("data").display()
        ),
    )
    .unwrap();
    let agent = Reaped(
        Command::new("prlimit")
            .arg("--nofile=1024:1024")
            .arg(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let up = Instant::now() + Duration::from_secs(20);
    while http_get(port, "/healthz").is_none_or(|(c, _)| c != 200) {
        assert!(Instant::now() < up, "the agent did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() >= 1000, "only {} connected", idle.len());
    for path in ["/metrics", "/healthz", "/metrics"] {
        let t = Instant::now();
        let r = http_get(port, path);
        assert!(
            r.as_ref().is_some_and(|(c, b)| *c == 200 && !b.is_empty()),
            "{path} under 1,100 idle connections: {r:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
    // Collections went on: still healthy several intervals later, the connections still held by the peer.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    drop(idle);
    // Slow headers: each peer sends 380 KB of a header that never ends.
    let junk = format!("GET /metrics HTTP/1.1\r\nX-Pad: {}", "a".repeat(380 << 10));
    let slow: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_write_timeout(Some(Duration::from_millis(200))).ok()?;
            let _ = s.write_all(junk.as_bytes());
            Some(s)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(agent.0.id());
    assert!(rss < 48 * 1024, "agent RSS {rss} KiB under slow headers");
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    drop(slow);
    drop(agent);
    let _ = std::fs::remove_dir_all(&d);
}

/// Low findings: credentials are refused over plain http:// beyond the loopback unless allowed, `wasp reload`
/// signals only a wasp, and `wasp run` keeps its state private whatever umask it was started with.
#[test]
fn plain_http_credentials_reload_pid_and_state_permissions() {
    let _floor = crate::common::beside();
    let d = scratch("low");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = d.join("wasp.toml");
    let check = |sink: &str| {
        std::fs::write(&cfg, format!("[sinks.s]\ntype = \"http_json\"\n{sink}")).unwrap();
        wasp().arg("check-config").arg(&cfg).output().unwrap()
    };
    let o = check("url = \"http://10.1.2.3/x\"\n[sinks.s.auth]\ntoken_env = \"T\"\n");
    assert!(
        !o.status.success() && err(&o).contains("in clear over http://"),
        "{}",
        err(&o)
    );
    let o = check("url = \"http://u:p@10.1.2.3/x\"\n");
    assert!(!o.status.success(), "userinfo is a credential too");
    for ok in [
        "url = \"http://10.1.2.3/x\"\n[sinks.s.auth]\ntoken_env = \"T\"\nallow_plain_http = true\n",
        "url = \"http://127.0.0.1:9/x\"\n[sinks.s.auth]\ntoken_env = \"T\"\n",
        "url = \"https://10.1.2.3/x\"\n[sinks.s.auth]\ntoken_env = \"T\"\n",
    ] {
        let o = check(ok);
        assert!(o.status.success(), "{ok}: {}", err(&o));
    }

    // A stale pid file naming some other process: not signalled.
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"500ms\"\ndata_dir = \"{}\"\n[server]\nenabled = false\n",
            data.display()
        ),
    )
    .unwrap();
    let other = Reaped(Command::new("sleep").arg("30").spawn().unwrap());
    std::fs::write(data.join("wasp.pid"), format!("{}\n", other.0.id())).unwrap();
    let o = wasp()
        .args(["--config"])
        .arg(&cfg)
        .arg("reload")
        .output()
        .unwrap();
    assert!(
        !o.status.success() && err(&o).contains("not a running wasp"),
        "{}",
        err(&o)
    );
    assert!(
        comm(other.0.id()) == "sleep",
        "the other process was signalled"
    );
    drop(other);

    // Started with umask 0022 on a data dir made 0755 before: private after.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(data.join("wasp.pid")).unwrap();
    let agent = Reaped(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec {} run --config {}",
                env!("CARGO_BIN_EXE_wasp"),
                cfg.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let jsonl = data.join("wasp.jsonl");
    let t = Instant::now() + Duration::from_secs(15);
    while !jsonl.exists() {
        assert!(Instant::now() < t, "no wasp.jsonl");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&jsonl), 0o600);
    // The real agent is told to reload.
    let o = wasp()
        .args(["--config"])
        .arg(&cfg)
        .arg("reload")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    drop(agent);
    let _ = std::fs::remove_dir_all(&d);
}

/// The acceptance's last line: a real JVM of another user (nobody), in its own user, pid and mount namespace with
/// a private /tmp, on JDK 25, is still dumped — through its own root, its own tmp, its peer credentials.
#[test]
fn a_jvm_of_another_user_in_its_own_namespaces_is_still_dumped() {
    let _floor = crate::common::beside();
    if !ready() || !Path::new(JDK25).exists() || !require("javac") {
        return;
    }
    let classes = lab_classes(Path::new("/var/tmp/wasp-sec-lab-classes"));
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", "/var/tmp/wasp-sec-lab-classes"])
        .status();
    let script = format!(
        "mount -t tmpfs tmpfs /tmp && cd /tmp && exec {JDK25} -Xmx64m -cp {} Lab",
        classes.display()
    );
    let mut child = as_nobody("unshare")
        .args(["-Urmp", "--fork", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (_ns, pid) = {
        let r = Reaped(child);
        let pid = java_below(r.0.id());
        (Killed(pid, r), pid)
    };
    use std::io::BufRead;
    assert!(
        out.lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("ready")),
        "Lab did not start"
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(ns_pid(pid), "1");
    let o = wasp()
        .args(["dump", "threads", &pid.to_string(), "--timeout", "10s"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(stdout(&o).contains("deadlock-A"), "{}", stdout(&o));
}

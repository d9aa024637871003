//! The HotSpot dynamic-attach client (Linux), spoken by wasp itself: no jstack/jcmd process, no JDK on the host.
//!
//! Steps (docs/thread-dumps.md has the why of each): find the JVM and its namespace pid; refuse unless its
//! hsperfdata says attach is enabled (`sun.rt.jvmCapabilities`) — a JVM started with
//! -XX:+DisableAttachMechanism, or one that does not catch SIGQUIT, is never signalled, or the "dump" would
//! land in the application's own log; reach its socket through /proc/<pid>/root (no setns, impossible in a
//! threaded process); if absent, create the trigger file, SIGQUIT, poll with a deadline, always remove the
//! trigger; trust the socket only if the target's user (or root) owns it; connect as root (JDK 11+ accept it)
//! and only when the JVM silently closes (JDK 8 wants its own uid) connect again from a short-lived thread that
//! switched its own credentials with per-thread syscalls; JDK 24+: protocol 2 with streaming off, so the JVM
//! never writes to our socket from inside a safepoint; read the whole reply at once; one request per JVM at a
//! time; a timeout on every step.

use crate::host::Roots;
use crate::jvm::discover;
use crate::jvm::perfdata::PerfData;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The deadline of the whole operation: start the listener, connect, send, read the reply.
    pub timeout: Duration,
    /// Where /proc is (tests, containers).
    pub proc_root: PathBuf,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            timeout: Duration::from_secs(10),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("pid {pid}: {msg}")]
    NotJvm { pid: u32, msg: String },
    #[error("pid {pid}: attach is disabled in this JVM ({why}); it was not signalled")]
    Disabled { pid: u32, why: String },
    #[error("pid {pid}: {step}: {msg}")]
    Step {
        pid: u32,
        step: &'static str,
        msg: String,
    },
    #[error(
        "pid {pid}: the attach socket {path} is owned by uid {owner}, not by the JVM's user {expected}: not trusted"
    )]
    Untrusted {
        pid: u32,
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error("pid {pid}: no answer within {0:?} ({1})", .timeout, .step)]
    Timeout {
        pid: u32,
        step: &'static str,
        timeout: Duration,
    },
    #[error("pid {pid}: the JVM refused the command (code {code}): {msg}")]
    Refused { pid: u32, code: i32, msg: String },
}

fn step(pid: u32, step: &'static str) -> impl Fn(std::io::Error) -> AttachError {
    move |e| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            AttachError::Step {
                pid,
                step,
                msg: "timed out".into(),
            }
        } else {
            AttachError::Step {
                pid,
                step,
                msg: e.to_string(),
            }
        }
    }
}

/// One request at a time per JVM: its listener is single-threaded.
fn lock_for(pid: u32) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<u32, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    m.entry(pid).or_default().clone()
}

/// A thread dump with locked monitors and synchronizers (jstack -l).
pub fn thread_dump(pid: u32, opts: &AttachOptions) -> Result<String, AttachError> {
    execute(pid, "threaddump", &["-l"], opts)
}

/// A class histogram (jmap -histo[:live]).
pub fn class_histogram(pid: u32, live: bool, opts: &AttachOptions) -> Result<String, AttachError> {
    execute(
        pid,
        "inspectheap",
        &[if live { "-live" } else { "-all" }],
        opts,
    )
}

/// Any diagnostic command, as jcmd sends it (the whole command line in one argument).
pub fn jcmd(pid: u32, command: &str, opts: &AttachOptions) -> Result<String, AttachError> {
    execute(pid, "jcmd", &[command], opts)
}

/// Signals a process catches: SIGQUIT (bit 2) must be caught and not ignored.
fn catches_sigquit(status: &str) -> bool {
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    mask("SigCgt:") & 0x4 != 0 && mask("SigIgn:") & 0x4 == 0
}

pub fn execute(
    pid: u32,
    cmd: &str,
    args: &[&str],
    opts: &AttachOptions,
) -> Result<String, AttachError> {
    let deadline = Instant::now() + opts.timeout;
    let roots = Roots {
        proc: opts.proc_root.clone(),
        sys: PathBuf::from("/sys"),
    };
    let jvm = discover::find(&roots, pid).map_err(|e| AttachError::NotJvm {
        pid,
        msg: format!("{e:#}"),
    })?;
    let pd = jvm
        .hsperfdata
        .as_deref()
        .and_then(|p| PerfData::read(p).ok())
        .ok_or_else(|| AttachError::Disabled {
            pid,
            why: jvm
                .not_measurable
                .clone()
                .unwrap_or_else(|| "no hsperfdata to confirm that attach is enabled".into()),
        })?;
    let caps = pd.string("sun.rt.jvmCapabilities").unwrap_or("");
    if !caps.starts_with('1') {
        return Err(AttachError::Disabled {
            pid,
            why: format!(
                "sun.rt.jvmCapabilities={caps:?}: -XX:+DisableAttachMechanism or not HotSpot"
            ),
        });
    }
    let v2 = spec_version(&pd) >= 24;
    let lock = lock_for(pid);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());

    let proc_dir = opts.proc_root.join(pid.to_string());
    let sock = proc_dir
        .join("root/tmp")
        .join(format!(".java_pid{}", jvm.ns_pid));
    if !is_socket(&sock) {
        let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
        if !catches_sigquit(&status) {
            return Err(AttachError::Disabled {
                pid,
                why: "it does not catch SIGQUIT (-Xrs?): signalling it could kill it or dump into its log".into(),
            });
        }
        start_listener(pid, &jvm, &proc_dir, &sock, deadline)?;
    }
    let meta = std::fs::metadata(&sock).map_err(step(pid, "stat socket"))?;
    if meta.uid() != jvm.uid && meta.uid() != 0 {
        return Err(AttachError::Untrusted {
            pid,
            path: sock,
            owner: meta.uid(),
            expected: jvm.uid,
        });
    }
    let request = encode(cmd, args, v2);
    let reply = match talk(pid, &sock, &request, deadline, None)? {
        Some(r) => r,
        // Closed without a byte: the JVM wants its own uid as peer (JDK 8). Retry as that user.
        None => talk(pid, &sock, &request, deadline, Some((jvm.uid, jvm.gid)))?.ok_or(
            AttachError::Step {
                pid,
                step: "read reply",
                msg: "the JVM closed the connection without answering (credentials refused)".into(),
            },
        )?,
    };
    decode(pid, &reply)
}

fn spec_version(pd: &PerfData) -> u32 {
    pd.string("java.property.java.vm.specification.version")
        .and_then(|v| v.trim_start_matches("1.").split('.').next()?.parse().ok())
        .unwrap_or(8)
}

fn is_socket(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

/// Creates the trigger file, sends SIGQUIT and waits for the socket; the trigger is always removed.
fn start_listener(
    pid: u32,
    jvm: &discover::JvmProcess,
    proc_dir: &Path,
    sock: &Path,
    deadline: Instant,
) -> Result<(), AttachError> {
    let name = format!(".attach_pid{}", jvm.ns_pid);
    let mut trigger = None;
    for dir in [proc_dir.join("cwd"), proc_dir.join("root/tmp")] {
        let p = dir.join(&name);
        if std::fs::File::create(&p).is_ok() {
            // JDK 8 accepts only a trigger owned by its own user; 11+ also root.
            let _ = std::os::unix::fs::chown(&p, Some(jvm.uid), Some(jvm.gid));
            trigger = Some(p);
            break;
        }
    }
    struct Remove(Option<PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            if let Some(p) = &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let _cleanup = Remove(trigger.clone());
    if trigger.is_none() {
        return Err(AttachError::Step {
            pid,
            step: "create trigger file",
            msg: "neither cwd nor tmp is writable".into(),
        });
    }
    let quit = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGQUIT,
        )
    };
    quit().map_err(|e| AttachError::Step {
        pid,
        step: "send SIGQUIT",
        msg: e.to_string(),
    })?;
    let start = Instant::now();
    let half = deadline.saturating_duration_since(start) / 2;
    let mut sent_again = false;
    let mut nap = Duration::from_millis(10);
    while Instant::now() < deadline {
        if is_socket(sock) {
            return Ok(());
        }
        if !proc_dir.exists() {
            return Err(AttachError::Step {
                pid,
                step: "wait for listener",
                msg: "the JVM exited".into(),
            });
        }
        // Halfway to the deadline, one more signal, as the JDK client does.
        if !sent_again && start.elapsed() > half {
            let _ = quit();
            sent_again = true;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(200));
    }
    Err(AttachError::Timeout {
        pid,
        step: "wait for the attach listener",
        timeout: deadline - start,
    })
}

/// Protocol 1: "1\0cmd\0a0\0a1\0a2\0". Protocol 2 (JDK 24+): "2\0<size>\0cmd streaming=0\0args...\0".
pub fn encode(cmd: &str, args: &[&str], v2: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if v2 {
        let mut body = Vec::new();
        body.extend_from_slice(format!("{cmd} streaming=0").as_bytes());
        body.push(0);
        for a in args {
            body.extend_from_slice(a.as_bytes());
            body.push(0);
        }
        out.extend_from_slice(b"2\0");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.push(0);
        out.extend_from_slice(&body);
    } else {
        out.extend_from_slice(b"1\0");
        out.extend_from_slice(cmd.as_bytes());
        out.push(0);
        for i in 0..3 {
            out.extend_from_slice(args.get(i).copied().unwrap_or("").as_bytes());
            out.push(0);
        }
    }
    out
}

/// The reply: a decimal result code line, then the payload. Never panics.
pub fn decode(pid: u32, reply: &[u8]) -> Result<String, AttachError> {
    let text = String::from_utf8_lossy(reply);
    let (code, payload) = text.split_once('\n').unwrap_or((&text, ""));
    match code.trim().parse::<i32>() {
        Ok(0) => Ok(payload.to_string()),
        Ok(code) => Err(AttachError::Refused {
            pid,
            code,
            msg: payload.trim().chars().take(500).collect(),
        }),
        Err(_) => Err(AttachError::Step {
            pid,
            step: "read reply",
            msg: format!(
                "not an attach reply: {:?}",
                text.chars().take(80).collect::<String>()
            ),
        }),
    }
}

/// Connects (as root, or as `creds` from a dedicated thread), sends, reads to EOF. `None` = closed silently.
fn talk(
    pid: u32,
    sock: &Path,
    request: &[u8],
    deadline: Instant,
    creds: Option<(u32, u32)>,
) -> Result<Option<Vec<u8>>, AttachError> {
    let stream = match creds {
        None => UnixStream::connect(sock).map_err(step(pid, "connect"))?,
        Some((uid, gid)) => {
            let path = sock.to_path_buf();
            // setresuid through libc would switch every thread of the process (glibc's setxid broadcast); the
            // raw syscalls change only this short-lived thread, which exits right after connecting.
            std::thread::spawn(move || -> std::io::Result<UnixStream> {
                // SAFETY: raw credential syscalls on this thread only; results are checked.
                unsafe {
                    if libc::syscall(libc::SYS_setresgid, gid, gid, -1i32) != 0
                        || libc::syscall(libc::SYS_setresuid, uid, uid, -1i32) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                UnixStream::connect(&path)
            })
            .join()
            .map_err(|_| AttachError::Step {
                pid,
                step: "connect as the JVM's user",
                msg: "thread panicked".into(),
            })?
            .map_err(step(pid, "connect as the JVM's user"))?
        }
    };
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut stream = stream;
    stream
        .set_write_timeout(Some(left()))
        .map_err(step(pid, "socket options"))?;
    stream
        .write_all(request)
        .map_err(step(pid, "send request"))?;
    // Large reads drain the JVM quickly (its own client reads 128 bytes per call, part of why jstack is slow).
    let mut reply = Vec::with_capacity(64 * 1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(AttachError::Timeout {
                pid,
                step: "read reply",
                timeout: Duration::ZERO,
            });
        }
        stream
            .set_read_timeout(Some(left()))
            .map_err(step(pid, "socket options"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(AttachError::Timeout {
                    pid,
                    step: "read reply",
                    timeout: Duration::ZERO,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && reply.is_empty() => {
                return Ok(None);
            }
            Err(e) => return Err(step(pid, "read reply")(e)),
        }
    }
    Ok(if reply.is_empty() { None } else { Some(reply) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_formats() {
        assert_eq!(
            encode("jcmd", &["VM.uptime"], false),
            b"1\0jcmd\0VM.uptime\0\0\0"
        );
        let v2 = encode("threaddump", &["-l"], true);
        assert_eq!(v2, b"2\x0026\0threaddump streaming=0\0-l\0");
        assert_eq!(decode(1, b"0\nhello").unwrap(), "hello");
        assert!(matches!(
            decode(1, b"-1\nbad"),
            Err(AttachError::Refused { code: -1, .. })
        ));
        assert!(decode(1, b"").is_err());
        assert!(decode(1, b"\xff\xfe").is_err());
        assert!(catches_sigquit(
            "SigIgn:\t0000000000000000\nSigCgt:\t2000000181005ccc\n"
        ));
        assert!(!catches_sigquit(
            "SigIgn:\t0000000000000004\nSigCgt:\t2000000181005ccc\n"
        ));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = decode(1, &b);
        }
    }
}

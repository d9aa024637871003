//! The HotSpot dynamic-attach client (Linux), spoken by wasp itself: no jstack/jcmd process, no JDK on the host.
//!
//! Steps (docs/thread-dumps.md has the why of each): find the JVM and its namespace pid; refuse unless its
//! hsperfdata says attach is enabled (`sun.rt.jvmCapabilities`) — a JVM started with
//! -XX:+DisableAttachMechanism, or one that does not catch SIGQUIT, is never signalled, or the "dump" would
//! land in the application's own log; reach its socket through /proc/<pid>/root (no setns, impossible in a
//! threaded process); if absent, create the trigger file, SIGQUIT, poll with a deadline, always remove the
//! trigger (through its directory's fd, so also after the JVM died); trust the socket only if it is one (lstat)
//! and the target's user (or root) owns it; a stale socket (refusing connections) is waited out after a
//! trigger, unless the JVM's listener runs; connect as root (JDK 11+ accept it) and only when the JVM silently
//! closes (JDK 8 wants its own uid) connect again from a short-lived thread that switched its own credentials
//! with per-thread syscalls; JDK 24+: protocol 2 with streaming off, so the JVM never writes to our socket from
//! inside a safepoint; read the reply in large reads, kept whole and bounded (the command line keeps it in an
//! unnamed temporary file, so a dump's size is not its memory); a
//! JVM that exits is noticed (PF_EXITING) and a partial reply discarded; one request per JVM at a time; a timeout on every step, connect() included. Heap
//! dumps only on request, space-checked where the JVM writes; a configured jcmd only where this is impossible.

pub use super::attach_error::AttachError;
use super::proc_state::{catches_sigquit, gone, listener_runs};
pub use super::reply::decode;
use super::trigger_file::{as_user, create_trigger, sigquit};
use crate::host::Roots;
use crate::jvm::discover;
use crate::jvm::perfdata::PerfData;
use crate::util::safe_open::{self, Owner, Spec};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The default bound on one reply ([jvm] max_attach_reply): a 10,000-thread dump is ~10 MB, a histogram of
/// 50,000 classes ~5 MB; the unit's MemoryMax is 64 MB and the agent holds a reply once (decoded in place).
pub const DEFAULT_MAX_REPLY: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The deadline of the whole operation: start the listener, connect, send, read the reply.
    pub timeout: Duration,
    /// Where /proc is (tests, containers).
    pub proc_root: PathBuf,
    /// A jcmd to run instead, as the JVM's user, when wasp's own attach is impossible ([jvm] attach_fallback).
    pub fallback: Option<PathBuf>,
    /// Replies larger than this are refused ([jvm] max_attach_reply).
    pub max_reply: usize,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            timeout: Duration::from_secs(10),
            proc_root: PathBuf::from("/proc"),
            fallback: None,
            max_reply: DEFAULT_MAX_REPLY,
        }
    }
}

fn step(pid: u32, step: &'static str) -> impl Fn(std::io::Error) -> AttachError {
    move |e| AttachError::Step {
        pid,
        step,
        msg: e.to_string(),
    }
}

/// One request at a time per JVM: its listener is single-threaded.
fn lock_for(pid: u32) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<u32, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Pids of JVMs long gone would pile up in an agent that runs for months.
    if m.len() > 1024 {
        m.retain(|_, l| Arc::strong_count(l) > 1);
    }
    m.entry(pid).or_default().clone()
}

/// A reply as the command line prints it: in an unnamed temporary file (its status line checked and passed), so
/// a dump's size never adds to the process's memory; in memory where no such file can be made, or from jcmd.
pub enum Spooled {
    File(std::fs::File),
    Text(String),
}

/// `thread_dump`, the reply spooled (`Spooled`).
pub fn thread_dump_spooled(pid: u32, opts: &AttachOptions) -> Result<Spooled, AttachError> {
    spooled_with_fallback(pid, opts, "threaddump", &["-l"], "Thread.print -l")
}

/// `class_histogram`, the reply spooled (`Spooled`).
pub fn class_histogram_spooled(
    pid: u32,
    live: bool,
    opts: &AttachOptions,
) -> Result<Spooled, AttachError> {
    let (arg, line) = histogram_args(live);
    spooled_with_fallback(pid, opts, "inspectheap", &[arg], line)
}

fn spooled_with_fallback(
    pid: u32,
    opts: &AttachOptions,
    cmd: &str,
    args: &[&str],
    jcmd_line: &str,
) -> Result<Spooled, AttachError> {
    // O_TMPFILE: no name, so nothing in the directory to race for; gone with the descriptor.
    let file = nix::fcntl::open(
        &std::env::temp_dir(),
        nix::fcntl::OFlag::O_TMPFILE | nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    );
    let Ok(file) = file else {
        return with_fallback(pid, opts, cmd, args, jcmd_line).map(Spooled::Text);
    };
    let mut file = std::fs::File::from(file);
    match open(pid, opts).and_then(|t| {
        request_into(&t, cmd, args, &mut file)?;
        status_checked(pid, &mut file).map_err(|e| protocol(pid, e))
    }) {
        Ok(()) => Ok(Spooled::File(file)),
        // Not attached again: the jcmd straight away, as `with_fallback` would after the same refusal.
        Err(AttachError::Impossible { why, .. }) if opts.fallback.is_some() => {
            fallback(pid, opts, jcmd_line, &why).map(Spooled::Text)
        }
        Err(e) => Err(e),
    }
}

/// Checks a spooled reply's status line (as `decode` does) and leaves the file at the output's first byte.
fn status_checked(pid: u32, file: &mut std::fs::File) -> Result<(), AttachError> {
    use std::io::Seek;
    let io = step(pid, "read the spooled reply");
    file.rewind().map_err(&io)?;
    let mut head = Vec::with_capacity(4096);
    (&mut *file)
        .take(4096)
        .read_to_end(&mut head)
        .map_err(&io)?;
    let ok = |line: &[u8]| std::str::from_utf8(line).is_ok_and(|l| l.trim().parse() == Ok(0));
    match memchr::memchr(b'\n', &head) {
        Some(nl) if ok(&head[..nl]) => {
            file.seek(std::io::SeekFrom::Start(nl as u64 + 1))
                .map_err(&io)?;
            Ok(())
        }
        // A whole reply of a status alone ("0", no output) leaves the file at its end; anything else, decode
        // says what it is: refused (with the JVM's message), or not a reply (also a status line past 4 KiB).
        _ if head.len() < 4096 => decode(pid, head).map(|_| ()),
        _ => decode(pid, Vec::from(&head[..80])).and(Err(AttachError::Step {
            pid,
            step: "read reply",
            msg: "no status line in the reply's first 4 KiB".into(),
        })),
    }
}

/// A thread dump with locked monitors and synchronizers (jstack -l).
pub fn thread_dump(pid: u32, opts: &AttachOptions) -> Result<String, AttachError> {
    with_fallback(pid, opts, "threaddump", &["-l"], "Thread.print -l")
}

/// A class histogram (jmap -histo[:live]).
pub fn class_histogram(pid: u32, live: bool, opts: &AttachOptions) -> Result<String, AttachError> {
    let (arg, line) = histogram_args(live);
    with_fallback(pid, opts, "inspectheap", &[arg], line)
}

fn histogram_args(live: bool) -> (&'static str, &'static str) {
    if live {
        ("-live", "GC.class_histogram")
    } else {
        ("-all", "GC.class_histogram -all")
    }
}

/// Any diagnostic command, as jcmd sends it (the whole command line in one argument).
pub fn jcmd(pid: u32, command: &str, opts: &AttachOptions) -> Result<String, AttachError> {
    with_fallback(pid, opts, "jcmd", &[command], command)
}

/// Our own attach; the configured jcmd only where ours is impossible (never for a JVM that disabled attach,
/// refused the command, did not answer, or offered an untrusted socket: jcmd would fare no better).
fn with_fallback(
    pid: u32,
    opts: &AttachOptions,
    cmd: &str,
    args: &[&str],
    jcmd_line: &str,
) -> Result<String, AttachError> {
    match execute(pid, cmd, args, opts) {
        Err(AttachError::Impossible { why, .. }) if opts.fallback.is_some() => {
            fallback(pid, opts, jcmd_line, &why)
        }
        r => r,
    }
}

/// The configured jcmd, run because our own attach is impossible (`why`).
fn fallback(
    pid: u32,
    opts: &AttachOptions,
    jcmd_line: &str,
    why: &str,
) -> Result<String, AttachError> {
    let tool = opts.fallback.as_deref().unwrap_or(Path::new("jcmd"));
    super::fallback::run(pid, tool, jcmd_line, opts.timeout, &opts.proc_root).map_err(|msg| {
        AttachError::Fallback {
            pid,
            tool: tool.to_path_buf(),
            msg: format!("{msg} (used because wasp cannot attach: {why})"),
        }
    })
}

/// A JVM that passed the checks that need no signal and no connection.
pub(super) struct Target {
    pid: u32,
    jvm: discover::JvmProcess,
    pub(super) pd: PerfData,
    v2: bool,
    pub(super) proc_dir: PathBuf,
    timeout: Duration,
    deadline: Instant,
    max_reply: usize,
}

pub(super) fn open(pid: u32, opts: &AttachOptions) -> Result<Target, AttachError> {
    let deadline = Instant::now() + opts.timeout;
    let roots = Roots {
        proc: opts.proc_root.clone(),
        sys: PathBuf::from("/sys"),
    };
    let jvm = discover::find(&roots, pid).map_err(|e| AttachError::NotJvm {
        pid,
        msg: format!("{e:#}"),
    })?;
    let proc_dir = opts.proc_root.join(pid.to_string());
    let Some(pd) = jvm
        .perf_source
        .as_ref()
        .and_then(|s| PerfData::read_source(s).ok())
    else {
        // Dead or dying (a zombie has no root to look in): say so, not "no hsperfdata".
        if gone(&proc_dir, jvm.start_ticks) {
            return Err(AttachError::Exited {
                pid,
                when: "before it answered",
            });
        }
        let openj9 = proc_dir.join("root/tmp/.com_ibm_tools_attach").is_dir()
            || std::fs::read_to_string(proc_dir.join("maps"))
                .map(|m| m.contains("libj9vm"))
                .unwrap_or(false);
        return Err(AttachError::Impossible {
            pid,
            why: if openj9 {
                "OpenJ9: its attach mechanism is not HotSpot's".into()
            } else {
                jvm.not_measurable
                    .clone()
                    .unwrap_or_else(|| "no hsperfdata".into())
                    + "; without it wasp cannot confirm that attach is enabled"
            },
        });
    };
    // Another JVM's file (pid reused) speaks for that JVM, not this one: never signal on its word.
    if let Some(why) = super::stale(&pd, super::start_time_secs(jvm.start_ticks)) {
        return Err(AttachError::Impossible { pid, why });
    }
    let caps = pd.string("sun.rt.jvmCapabilities").unwrap_or("");
    if !caps.starts_with('1') {
        return Err(AttachError::Disabled {
            pid,
            why: format!(
                "sun.rt.jvmCapabilities={caps:?}: -XX:+DisableAttachMechanism or not HotSpot"
            ),
        });
    }
    Ok(Target {
        pid,
        v2: spec_version(&pd) >= 24,
        jvm,
        pd,
        proc_dir,
        timeout: opts.timeout,
        deadline,
        max_reply: opts.max_reply,
    })
}

pub fn execute(
    pid: u32,
    cmd: &str,
    args: &[&str],
    opts: &AttachOptions,
) -> Result<String, AttachError> {
    let t = open(pid, opts)?;
    request(&t, cmd, args)
}

/// Starts the listener if needed, checks the socket, sends one request, reads the whole reply (at most
/// `max_reply` bytes).
pub(super) fn request(t: &Target, cmd: &str, args: &[&str]) -> Result<String, AttachError> {
    let mut reply = Vec::new();
    request_into(t, cmd, args, &mut reply)?;
    decode(t.pid, reply).map_err(|e| protocol(t.pid, e))
}

/// A JVM that does not speak this protocol version says so with code 101.
fn protocol(pid: u32, e: AttachError) -> AttachError {
    match e {
        AttachError::Refused { code: 101, msg, .. } => AttachError::Impossible {
            pid,
            why: format!("it does not speak this attach protocol version: {msg}"),
        },
        e => e,
    }
}

/// The request, its reply written to `reply` (at most `max_reply` bytes).
fn request_into(
    t: &Target,
    cmd: &str,
    args: &[&str],
    reply: &mut dyn Write,
) -> Result<(), AttachError> {
    let pid = t.pid;
    let lock = lock_for(pid);
    let _serial = lock.lock().unwrap_or_else(|e| e.into_inner());

    // The JVM's /tmp, resolved inside its root (a container's `tmp -> /elsewhere` stays in the container) and
    // held open: every later look at the socket goes through this descriptor, never through the path again.
    let name = format!(".java_pid{}", t.jvm.ns_pid);
    let shown = t.proc_dir.join("root/tmp").join(&name);
    let tmp = safe_open::open_in_root(
        &t.proc_dir.join("root"),
        Path::new("tmp"),
        &Spec::dir(Owner::Any),
    )
    .map_err(|e| AttachError::Step {
        pid,
        step: "open the JVM's tmp directory",
        msg: e.to_string(),
    })?;
    let tmp = OwnedFd::from(tmp);
    let sock = PathBuf::from(format!("/proc/self/fd/{}/{name}", tmp.as_raw_fd()));
    // A socket that refuses connections is stale: left by a killed JVM whose pid this one reuses (no JVM
    // removes it at start). The listener started on our signal renames its new socket over it, so the stale
    // one is waited out by its inode; nothing of another process is unlinked.
    let mut stale: Option<u64> = None;
    loop {
        let present = std::fs::symlink_metadata(&sock).ok();
        if present.is_none() || stale.is_some() {
            let status = std::fs::read_to_string(t.proc_dir.join("status")).unwrap_or_default();
            if !catches_sigquit(&status) {
                return Err(AttachError::Disabled {
                    pid,
                    why: "it does not catch SIGQUIT (-Xrs?): signalling it could kill it or dump into its log".into(),
                });
            }
            start_listener(t, &tmp, &sock, stale)?;
        }
        // lstat: a symlink planted in a shared /tmp could point at any root-owned socket.
        let meta = std::fs::symlink_metadata(&sock).map_err(step(pid, "stat socket"))?;
        if !meta.file_type().is_socket() {
            return Err(AttachError::Step {
                pid,
                step: "check socket",
                msg: format!(
                    "{} is not a socket (a symlink?): not trusted",
                    shown.display()
                ),
            });
        }
        // Only the JVM's own user: a root-owned socket is some other root process's unless the JVM is root's.
        if meta.uid() != t.jvm.uid {
            return Err(AttachError::Untrusted {
                pid,
                path: shown,
                owner: meta.uid(),
                expected: t.jvm.uid,
            });
        }
        let request = encode(cmd, args, t.v2);
        match talk(t, &sock, &shown, &request, None, reply) {
            Ok(true) => return Ok(()),
            // Closed without a byte: the JVM wants its own uid as peer (JDK 8). Retry as that user.
            Ok(false) => {
                let own = Some((t.jvm.uid, t.jvm.gid));
                if talk(t, &sock, &shown, &request, own, reply)? {
                    return Ok(());
                }
                return Err(AttachError::Impossible {
                    pid,
                    why: "the JVM closed the connection without answering, also to its own user"
                        .into(),
                });
            }
            // Signalled while its listener runs (on another file), the JVM would print a dump into its log.
            Err(AttachError::Stale { path, .. }) if listener_runs(&t.proc_dir) => {
                return Err(AttachError::Stale {
                    pid,
                    path,
                    why: "the JVM's listener runs, on another file; not signalled (it would print a dump into its log)",
                });
            }
            Err(AttachError::Stale { .. }) if stale.is_none() => stale = Some(meta.ino()),
            Err(AttachError::Stale { path, .. }) => {
                return Err(AttachError::Stale {
                    pid,
                    path,
                    why: "also after the JVM was asked to start its listener",
                });
            }
            Err(e) => return Err(e),
        }
    }
}

fn spec_version(pd: &PerfData) -> u32 {
    pd.string("java.property.java.vm.specification.version")
        .and_then(|v| v.trim_start_matches("1.").split('.').next()?.parse().ok())
        .unwrap_or(8)
}

fn socket_ino(p: &Path) -> Option<u64> {
    std::fs::symlink_metadata(p)
        .ok()
        .filter(|m| m.file_type().is_socket())
        .map(|m| m.ino())
}

/// Creates the trigger file, sends SIGQUIT and waits for the socket; the trigger is always removed.
fn start_listener(
    t: &Target,
    tmp: &OwnedFd,
    sock: &Path,
    stale: Option<u64>,
) -> Result<(), AttachError> {
    let pid = t.pid;
    let _trigger = create_trigger(t.jvm.ns_pid, (t.jvm.uid, t.jvm.gid), tmp).map_err(|msg| {
        AttachError::Step {
            pid,
            step: "create trigger file",
            msg,
        }
    })?;
    let quit = || sigquit(pid, (t.jvm.uid, t.jvm.gid));
    quit().map_err(|msg| AttachError::Step {
        pid,
        step: "send SIGQUIT",
        msg,
    })?;
    let start = Instant::now();
    let half = t.deadline.saturating_duration_since(start) / 2;
    let mut sent_again = false;
    let mut nap = Duration::from_millis(10);
    loop {
        if socket_ino(sock).is_some_and(|i| Some(i) != stale) {
            return Ok(());
        }
        if gone(&t.proc_dir, t.jvm.start_ticks) {
            return Err(AttachError::Exited {
                pid,
                when: "while its attach listener was starting",
            });
        }
        let left = t.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(AttachError::Timeout {
                pid,
                step: "waiting for the attach listener to start",
                timeout: t.timeout,
            });
        }
        // Halfway to the deadline, one more signal, as the JDK client does.
        if !sent_again && start.elapsed() > half {
            let _ = quit();
            sent_again = true;
        }
        std::thread::sleep(nap.min(left));
        nap = (nap * 2).min(Duration::from_millis(200));
    }
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

/// A connection whose connect() is bounded too: a stopped JVM's listener queue fills up after a few
/// clients, and a plain connect() would then block for ever (SO_SNDTIMEO bounds it for AF_UNIX).
fn connect(sock: &Path, left: Duration) -> std::io::Result<UnixStream> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, UnixAddr, setsockopt, socket, sockopt,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let tv = nix::sys::time::TimeVal::new(
        left.as_secs() as _,
        left.subsec_micros()
            .max(if left.as_secs() == 0 { 1 } else { 0 }) as _,
    );
    setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    nix::sys::socket::connect(fd.as_raw_fd(), &UnixAddr::new(sock)?)?;
    Ok(UnixStream::from(fd))
}

/// Connects (as root, or as `creds` from a dedicated thread), sends, reads to EOF into `reply` (at most
/// `max_reply` bytes). `false` = closed silently.
fn talk(
    t: &Target,
    sock: &Path,
    shown: &Path,
    request: &[u8],
    creds: Option<(u32, u32)>,
    reply: &mut dyn Write,
) -> Result<bool, AttachError> {
    let pid = t.pid;
    let left = || {
        t.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let timeout = |step| AttachError::Timeout {
        pid,
        step,
        timeout: t.timeout,
    };
    let connected = match creds {
        None => connect(sock, left()),
        Some((uid, gid)) => {
            let path = sock.to_path_buf();
            let left = left();
            as_user(uid, gid, move || connect(&path, left))
        }
    };
    let mut stream = match connected {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            return Err(timeout("connect: the listener accepts no connection"));
        }
        Err(_) if gone(&t.proc_dir, t.jvm.start_ticks) => {
            return Err(AttachError::Exited {
                pid,
                when: "before it answered",
            });
        }
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) && creds.is_none() => {
            return Err(AttachError::Stale {
                pid,
                path: shown.to_path_buf(),
                why: "left by a JVM that was killed?",
            });
        }
        Err(e) => {
            return Err(step(
                pid,
                if creds.is_some() {
                    "connect as the JVM's user"
                } else {
                    "connect"
                },
            )(e));
        }
    };
    // Whatever the path looked like, the process that listens is what counts: the target JVM itself, as its
    // own user (pid as seen from our namespace). Checked before a byte is sent.
    let cred = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| step(pid, "peer credentials")(e.into()))?;
    if cred.pid() != pid as i32 || cred.uid() != t.jvm.uid {
        return Err(AttachError::Impostor {
            pid,
            path: shown.to_path_buf(),
            peer_pid: cred.pid(),
            peer_uid: cred.uid(),
            expected: t.jvm.uid,
        });
    }
    stream
        .set_write_timeout(Some(left()))
        .map_err(step(pid, "socket options"))?;
    match stream.write_all(request) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(timeout("sending the request"));
        }
        // Closed on us before the request was in: a JVM that refuses root as its peer (JDK 8; a JVM in a user
        // namespace, where root is nobody) does that. As a silent close: the caller retries as its user.
        Err(e)
            if creds.is_none()
                && matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                )
                && !gone(&t.proc_dir, t.jvm.start_ticks) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(step(pid, "send request")(e)),
    }
    // Large reads drain the JVM quickly (its own client reads 128 bytes per call, part of why jstack is slow).
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    loop {
        if Instant::now() >= t.deadline {
            return Err(timeout("reading the reply"));
        }
        stream
            .set_read_timeout(Some(left()))
            .map_err(step(pid, "socket options"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got > t.max_reply {
                    return Err(AttachError::Step {
                        pid,
                        step: "read reply",
                        msg: format!(
                            "larger than [jvm] max_attach_reply ({} KiB): refused, not cut; raise it to take this one",
                            t.max_reply >> 10
                        ),
                    });
                }
                reply
                    .write_all(&buf[..n])
                    .map_err(step(pid, "keep the reply"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timeout("reading the reply"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got == 0 => break,
            Err(e) => return Err(step(pid, "read reply")(e)),
        }
    }
    // EOF: a complete reply, unless the JVM died (then what we have may be cut short, and is not used).
    if gone(&t.proc_dir, t.jvm.start_ticks) {
        return Err(AttachError::Exited {
            pid,
            when: if got == 0 {
                "before it answered"
            } else {
                "while it was answering (the partial reply is discarded)"
            },
        });
    }
    Ok(got > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_reply_is_checked_like_one_in_memory() {
        let spooled = |bytes: &[u8]| {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(bytes).unwrap();
            status_checked(7, &mut f).map(|()| {
                let mut rest = String::new();
                f.read_to_string(&mut rest).unwrap();
                rest
            })
        };
        assert_eq!(spooled(b"0\nhello\n").unwrap(), "hello\n");
        assert_eq!(spooled(b" 0 \n").unwrap(), "");
        assert!(matches!(
            spooled(b"-1\njava.lang.IllegalArgumentException: no"),
            Err(AttachError::Refused { code: -1, ref msg, .. }) if msg.contains("IllegalArgument")
        ));
        assert!(matches!(
            spooled(b"Full thread dump"),
            Err(AttachError::Step { .. })
        ));
        assert!(matches!(spooled(b""), Err(AttachError::Step { .. })));
        let mut spaces = b"0".to_vec();
        spaces.resize(5000, b' ');
        spaces.extend_from_slice(b"\nout");
        assert!(matches!(spooled(&spaces), Err(AttachError::Step { .. })));
        let mut big = b"0\n".to_vec();
        big.resize(100_000, b'x');
        assert_eq!(spooled(&big).unwrap().len(), 100_000 - 2);
    }

    #[test]
    fn wire_formats() {
        assert_eq!(
            encode("jcmd", &["VM.uptime"], false),
            b"1\0jcmd\0VM.uptime\0\0\0"
        );
        let v2 = encode("threaddump", &["-l"], true);
        assert_eq!(v2, b"2\x0026\0threaddump streaming=0\0-l\0");
        assert_eq!(decode(1, b"0\nhello".to_vec()).unwrap(), "hello");
        assert!(matches!(
            decode(1, b"-1\nbad".to_vec()),
            Err(AttachError::Refused { code: -1, .. })
        ));
        assert!(decode(1, b"".to_vec()).is_err());
        assert!(decode(1, b"\xff\xfe".to_vec()).is_err());
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
            let _ = decode(1, b);
        }
    }
}

//! JVM lifecycle from one collection to the next: a JVM appears, goes, crashed (its hs_err file), ran out of
//! memory (its heap dump), or came back as a new pid of the same app (a restart).
//!
//! What a JVM's death leaves is found where its flags put it, read while it was alive (-XX:ErrorFile,
//! -XX:HeapDumpPath, its cwd): once it is gone /proc no longer tells. They are looked up inside the JVM's own
//! root, whose descriptor is held while it lives (the unit's private /tmp is not the JVM's). The files are the JVM user's, in
//! directories that user controls: they are opened only through `util::safe_open`, as that user's files, and
//! only their first 64 KiB are read.

use crate::host::systemd::{self, Ended};
use crate::model::event::{Event, EventKind};
use crate::model::jvm::Jvm;
use crate::util::safe_open::{self, Owner, Spec};
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const HS_ERR_HEAD: u64 = 64 * 1024;
/// A JVM of the same app that comes back within this long is a restart.
const RESTART_WINDOW_MS: i64 = 3_600_000;
/// How long the collection loop waits for `systemctl show` about an exited service JVM.
const SYSTEMCTL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Watched {
    app: String,
    version: Option<String>,
    uid: u32,
    cwd: Option<PathBuf>,
    error_file: Option<String>,
    heap_dump_path: Option<String>,
    heap_dump_on_oom: bool,
    /// The system service it runs as (from its cgroup): whom to ask for its exit status.
    unit: Option<String>,
    /// Its root directory, held from while it was alive: the files it leaves are where *it* saw them — its
    /// /tmp is not ours under the unit's PrivateTmp, a container's paths mean something only in its root.
    root: Option<Arc<std::fs::File>>,
}

impl Watched {
    /// Opens a file the JVM wrote, at `path` as the JVM saw it: inside its own root, else (a chrooted JVM,
    /// whose cwd reads as a host path) inside ours; always as the JVM user's file.
    fn open(&self, path: &Path) -> Option<std::fs::File> {
        let spec = Spec::file(Owner::Uid(self.uid), u64::MAX);
        self.root
            .as_ref()
            .and_then(|r| safe_open::open_beneath(r.as_fd(), path, &spec).ok())
            .or_else(|| open_theirs(path, self.uid))
    }
}

#[derive(Debug, Default)]
pub struct Lifecycle {
    alive: HashMap<u32, Watched>,
    /// app -> (pid, when it went): what a new pid of the app is a restart of.
    gone: HashMap<String, (u32, i64)>,
    started: bool,
}

/// What an hs_err file says, in the lines an operator acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HsErr {
    /// "SIGSEGV (0xb) at pc=..." or "Internal Error (...)" / "fatal error: OutOfMemory encountered: ...".
    pub error: String,
    pub frame: Option<String>,
    pub thread: Option<String>,
    pub stack: Vec<String>,
}

/// Parses the head of an hs_err file; `None` when it is not one. Never panics.
pub fn parse_hs_err(text: &str) -> Option<HsErr> {
    let mut h = HsErr::default();
    let mut lines = text.lines().take(2000).peekable();
    let mut seen_header = false;
    while let Some(l) = lines.next() {
        let t = l.trim_start_matches('#').trim();
        if l.contains("A fatal error has been detected by the Java Runtime Environment")
            || l.contains("There is insufficient memory for the Java Runtime Environment")
        {
            seen_header = true;
            if l.contains("insufficient memory") {
                h.error = "insufficient native memory for the Java Runtime Environment".into();
            }
        } else if seen_header
            && l.starts_with('#')
            && (t.starts_with("SIG")
                || t.starts_with("Internal Error")
                || t.starts_with("EXCEPTION_"))
            && h.error.is_empty()
        {
            h.error = t.chars().take(200).collect();
        } else if seen_header && l.starts_with('#') && t.starts_with("fatal error:") {
            h.error = format!("{}: {}", h.error, t).chars().take(300).collect();
        } else if t == "Problematic frame:" {
            if let Some(n) = lines.next() {
                h.frame = Some(n.trim_start_matches('#').trim().chars().take(300).collect());
            }
        } else if l.starts_with("Current thread (") {
            h.thread = Some(l.chars().take(300).collect());
        } else if (l.starts_with("Native frames:") || l.starts_with("Java frames:"))
            && h.stack.is_empty()
        {
            while let Some(n) = lines.next_if(|n| !n.trim().is_empty()) {
                if h.stack.len() < 8 {
                    h.stack.push(n.chars().take(300).collect());
                }
            }
        }
    }
    (seen_header && !h.error.is_empty()).then_some(h)
}

/// `-XX:Name=value` from a command line.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let p = format!("-XX:{name}=");
    args.iter().rev().find_map(|a| a.strip_prefix(p.as_str()))
}

/// The first `max` bytes of a kernel file, as text ("" when unreadable).
fn head(path: &Path, max: u64) -> String {
    let mut b = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(max).read_to_end(&mut b);
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn cmdline(proc: &Path, pid: u32) -> Vec<String> {
    let mut b = Vec::new();
    if let Ok(f) = std::fs::File::open(proc.join(pid.to_string()).join("cmdline")) {
        let _ = f.take(64 * 1024).read_to_end(&mut b);
    }
    b.split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// A path the JVM wrote to, made absolute against its cwd, with `%p` its pid (as HotSpot expands it).
fn resolve(p: &str, cwd: Option<&Path>, pid: u32) -> Option<PathBuf> {
    let p = PathBuf::from(p.replace("%p", &pid.to_string()));
    if p.is_absolute() {
        Some(p)
    } else {
        cwd.map(|c| c.join(p))
    }
}

/// Opens another user's file as that user's, never following it out of `/`; None when absent or refused.
fn open_theirs(path: &Path, uid: u32) -> Option<std::fs::File> {
    safe_open::open_in_root(Path::new("/"), path, &Spec::file(Owner::Uid(uid), u64::MAX)).ok()
}

impl Lifecycle {
    /// Compares this collection's JVMs with the last one's and returns what happened in between.
    pub fn observe(&mut self, jvms: &[Jvm], proc: &Path, now_ms: i64) -> Vec<Event> {
        let mut out = Vec::new();
        let first = !self.started;
        self.started = true;
        for j in jvms {
            if self.alive.contains_key(&j.pid) {
                continue;
            }
            let dir = proc.join(j.pid.to_string());
            let args = cmdline(proc, j.pid);
            let w = Watched {
                app: j.app.clone(),
                version: j.version.clone(),
                uid: std::fs::metadata(&dir).map_or(u32::MAX, |m| m.uid()),
                cwd: std::fs::read_link(dir.join("cwd")).ok(),
                error_file: flag(&args, "ErrorFile").map(String::from),
                heap_dump_path: flag(&args, "HeapDumpPath").map(String::from),
                heap_dump_on_oom: args.iter().any(|a| a == "-XX:+HeapDumpOnOutOfMemoryError"),
                unit: systemd::service_of(&head(&dir.join("cgroup"), 64 * 1024)),
                root: safe_open::open_trusted_path(&dir.join("root"), &Spec::dir(Owner::Any))
                    .ok()
                    .map(Arc::new),
            };
            if !first {
                out.extend(self.appeared(j, &w, &args, now_ms));
            }
            self.alive.insert(j.pid, w);
        }
        let now: std::collections::HashSet<u32> = jvms.iter().map(|j| j.pid).collect();
        let gone: Vec<u32> = self
            .alive
            .keys()
            .filter(|p| !now.contains(p))
            .copied()
            .collect();
        for pid in gone {
            if let Some(w) = self.alive.remove(&pid) {
                out.push(self.went(pid, &w, now_ms));
            }
        }
        self.gone
            .retain(|_, (_, t)| now_ms - *t < RESTART_WINDOW_MS);
        out
    }

    /// Gives events about a pid that is (or recently was) a watched JVM that JVM's app: the kernel's OOM
    /// killer names a pid and a command, and `event.app == "shop"` is what rules ask.
    pub fn name_apps(&self, events: &mut [Event]) {
        for e in events.iter_mut().filter(|e| e.app.is_none()) {
            let Some(pid) = e.pid else { continue };
            e.app = self.alive.get(&pid).map(|w| w.app.clone()).or_else(|| {
                self.gone
                    .iter()
                    .find(|(_, (p, _))| *p == pid)
                    .map(|(a, _)| a.clone())
            });
        }
    }

    fn appeared(&mut self, j: &Jvm, w: &Watched, args: &[String], now_ms: i64) -> Vec<Event> {
        let mut e = Event::new(
            EventKind::JvmStart,
            "jvm",
            now_ms,
            format!(
                "JVM {} started: pid {}, {}",
                w.app,
                j.pid,
                w.version.as_deref().unwrap_or("version unknown")
            ),
        );
        e.pid = Some(j.pid);
        e.app = Some(w.app.clone());
        let flags: Vec<&str> = args
            .iter()
            .filter(|a| a.starts_with("-X"))
            .map(String::as_str)
            .take(40)
            .collect();
        e.fields.insert("flags".into(), flags.join(" "));
        let mut out = vec![e];
        if let Some((old, at)) = self.gone.remove(&w.app) {
            let down_s = (now_ms - at).max(0) / 1000;
            let mut r = Event::new(
                EventKind::JvmRestart,
                "jvm",
                now_ms,
                format!(
                    "JVM {} restarted: pid {old} -> {} after ~{down_s} s down",
                    w.app, j.pid
                ),
            );
            r.pid = Some(j.pid);
            r.app = Some(w.app.clone());
            r.fields.insert("old_pid".into(), old.to_string());
            r.fields.insert("downtime_s".into(), down_s.to_string());
            out.push(r);
        }
        out
    }

    fn went(&mut self, pid: u32, w: &Watched, now_ms: i64) -> Event {
        self.gone.insert(w.app.clone(), (pid, now_ms));
        let cwd = w.cwd.as_deref();
        let hs_err = w
            .error_file
            .as_deref()
            .and_then(|p| resolve(p, cwd, pid))
            .into_iter()
            .chain(cwd.map(|c| c.join(format!("hs_err_pid{pid}.log"))))
            .chain(std::iter::once(PathBuf::from(format!(
                "/tmp/hs_err_pid{pid}.log"
            ))))
            .find_map(|p| w.open(&p).map(|f| (p, f)));
        let default_dump = format!("java_pid{pid}.hprof");
        let hprof = w.heap_dump_on_oom.then(|| {
            let base = match w.heap_dump_path.as_deref() {
                Some(p) => resolve(p, cwd, pid)?,
                None => cwd?.join(&default_dump),
            };
            [base.join(&default_dump), base]
                .into_iter()
                .find_map(|p| w.open(&p).map(|f| (p, f)))
        });
        let hprof = hprof.flatten();
        let mut e = Event::new(EventKind::JvmExit, "jvm", now_ms, String::new());
        e.pid = Some(pid);
        e.app = Some(w.app.clone());
        if let Some((path, mut f)) = hs_err {
            let mut b = Vec::new();
            let _ = (&mut f).take(HS_ERR_HEAD).read_to_end(&mut b);
            let h = parse_hs_err(&String::from_utf8_lossy(&b)).unwrap_or_default();
            e.kind = EventKind::JvmCrash;
            e.message = format!(
                "JVM {} (pid {pid}) crashed: {}{}; see {}",
                w.app,
                if h.error.is_empty() {
                    "unknown error"
                } else {
                    &h.error
                },
                h.frame
                    .as_ref()
                    .map(|f| format!(" in {f}"))
                    .unwrap_or_default(),
                path.display()
            );
            e.fields.insert("hs_err".into(), path.display().to_string());
            e.fields.insert("error".into(), h.error);
            if let Some(f) = h.frame {
                e.fields.insert("frame".into(), f);
            }
            if let Some(t) = h.thread {
                e.fields.insert("thread".into(), t);
            }
            if !h.stack.is_empty() {
                e.fields.insert("stack".into(), h.stack.join("\n"));
            }
        }
        if let Some((path, f)) = hprof {
            let size = f.metadata().map_or(0, |m| m.len());
            e.fields
                .insert("heap_dump".into(), path.display().to_string());
            e.fields.insert("heap_dump_bytes".into(), size.to_string());
            if e.kind == EventKind::JvmExit {
                e.kind = EventKind::JvmOom;
                e.message = format!(
                    "JVM {} (pid {pid}) ran out of memory (OutOfMemoryError) and exited; heap dump {} ({} MiB)",
                    w.app,
                    path.display(),
                    size >> 20
                );
            }
        }
        // A service's main process: systemd reaped it and says how it ended (a short, bounded question).
        let ended = w
            .unit
            .as_deref()
            .and_then(|u| systemd::main_exit(u, pid, SYSTEMCTL_DEADLINE))
            .map(|m| m.ended);
        if let Some(u) = &w.unit {
            e.fields.insert("unit".into(), u.clone());
        }
        let how = match ended {
            Some(Ended::Exited(c)) => {
                e.fields.insert("exit_code".into(), c.to_string());
                Some(format!("exited with code {c}"))
            }
            Some(Ended::Killed(n) | Ended::Dumped(n)) => {
                let sig = systemd::signal_name(n);
                e.fields.insert("signal".into(), sig.clone());
                Some(format!("was killed by {sig}"))
            }
            None => None,
        };
        if e.kind == EventKind::JvmExit {
            e.message = match (&how, &w.unit) {
                (Some(h), Some(u)) => format!("JVM {} (pid {pid}) {h} ({u})", w.app),
                _ => format!("JVM {} (pid {pid}) is gone (exit code not knowable)", w.app),
            };
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn flags_and_paths() {
        let a: Vec<String> = ["java", "-XX:ErrorFile=/var/log/hs_err_%p.log", "-Xmx1g"]
            .map(String::from)
            .into();
        assert_eq!(flag(&a, "ErrorFile"), Some("/var/log/hs_err_%p.log"));
        assert_eq!(
            resolve("/var/log/hs_err_%p.log", None, 42),
            Some(PathBuf::from("/var/log/hs_err_42.log"))
        );
        assert_eq!(
            resolve("d/x.hprof", Some(Path::new("/srv")), 1),
            Some(PathBuf::from("/srv/d/x.hprof"))
        );
    }

    proptest! {
        #[test]
        fn hs_err_parser_never_panics(t in "(#.{0,40}\n|Native frames:\n|.{0,40}\n){0,30}") {
            let _ = parse_hs_err(&t);
        }
    }
}

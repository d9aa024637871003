//! Finding every HotSpot JVM on the host, containers included, and its hsperfdata file.
//!
//! Candidates are processes whose command is java (or jsvc, Tomcat's daemon launcher). The file is
//! `hsperfdata_<user>/<nspid>` in the JVM's own /tmp, reached through /proc/<pid>/root so that a JVM in another
//! mount namespace (a container, PrivateTmp) is found too; when a /tmp cleaner deleted it, the JVM's shared
//! mapping is still readable through /proc/<pid>/map_files.

use crate::host::Roots;
use crate::jvm::JvmConfig;
use crate::jvm::perfdata::{self, Source};
use crate::util::safe_open::{self, Owner, Spec};
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct JvmProcess {
    pub pid: u32,
    pub ns_pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    /// Process start time in clock ticks since boot (identity together with pid).
    pub start_ticks: u64,
    pub cmdline: Vec<String>,
    pub app: String,
    pub main: String,
    pub container_id: Option<String>,
    /// Where its hsperfdata file was found, for messages; read it through `perf_source`.
    pub hsperfdata: Option<PathBuf>,
    pub perf_source: Option<Source>,
    /// Why the JVM cannot be measured, when it cannot.
    pub not_measurable: Option<String>,
}

fn is_java(comm: &str, cmdline: &[String]) -> bool {
    let exe = cmdline
        .first()
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .unwrap_or("");
    matches!(comm, "java" | "jsvc") || exe == "java" || exe == "jsvc"
}

/// The main class or jar: the first argument after the options (skipping option values that take one).
pub fn main_of(cmdline: &[String]) -> String {
    let mut it = cmdline.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-cp" | "-classpath" | "--class-path" | "-p" | "--module-path" | "--add-opens"
            | "--add-exports" | "--add-modules" => {
                it.next();
            }
            "-jar" => return it.next().cloned().unwrap_or_default(),
            "-m" | "--module" => return it.next().cloned().unwrap_or_default(),
            s if s.starts_with('-') => {}
            s => return s.to_string(),
        }
    }
    String::new()
}

/// The short name an operator knows the JVM by.
pub fn app_of(cmdline: &[String], cfg: &JvmConfig) -> String {
    let joined = cmdline.join(" ");
    for a in &cfg.apps {
        if a.pattern.is_match(&joined) {
            return a.name.clone();
        }
    }
    let prop = |key: &str| {
        cmdline
            .iter()
            .find_map(|a| a.strip_prefix(&format!("-D{key}=")).map(String::from))
    };
    if let Some(a) = prop("wasp.app") {
        return a;
    }
    if let Some(base) = prop("catalina.base") {
        let name = Path::new(base.trim_end_matches('/'))
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(base);
        return format!("tomcat:{name}");
    }
    if let Some(s) = prop("jboss.server.name") {
        return format!("jboss:{s}");
    }
    if let Some(s) = prop("weblogic.Name") {
        return format!("weblogic:{s}");
    }
    let main = main_of(cmdline);
    let short = match main.strip_suffix(".jar") {
        Some(jar) => jar.rsplit('/').next().unwrap_or(jar),
        None => main.rsplit(['.', '/']).next().unwrap_or(&main),
    };
    if short.is_empty() {
        "java".into()
    } else {
        short.to_string()
    }
}

/// A 64-hex container id in the cgroup path (docker, containerd, cri-o, podman).
pub fn container_id(cgroup: &str) -> Option<String> {
    for part in cgroup.split(['/', '-', '.', ':']) {
        if part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(part[..12].to_string());
        }
    }
    None
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

/// The hsperfdata file of a JVM: its own /tmp first, then the deleted-but-mapped copy. Only a
/// `hsperfdata_*` directory and file owned by the JVM's uid count, resolved inside the JVM's root without
/// following links: another user's copy (or a symlink to /etc/shadow) can neither shadow nor stand in for it.
/// Err: why the JVM's own candidate was refused (a FIFO, too large), when there was one.
fn find_hsperfdata(
    roots: &Roots,
    pid: u32,
    ns_pid: u32,
    uid: u32,
) -> Result<Source, Option<String>> {
    use std::os::fd::AsFd;
    let root = roots.proc.join(pid.to_string()).join("root");
    let name = ns_pid.to_string();
    let mut refused = None;
    if let Ok(tmp) = safe_open::open_in_root(&root, Path::new("tmp"), &Spec::dir(Owner::Any))
        && let Ok(mut dir) = tmp.try_clone().map(|f| nix::dir::Dir::from_fd(f.into()))
        && let Ok(dir) = dir.as_mut()
    {
        // Bounded: a /tmp with millions of entries is not read to its end.
        for e in dir.iter().take(100_000).flatten() {
            let Ok(d) = e.file_name().to_str() else {
                continue;
            };
            if !d.starts_with("hsperfdata_") {
                continue;
            }
            let spec = Spec::dir(Owner::Uid(uid)).no_links();
            let Ok(user_dir) = safe_open::open_beneath(tmp.as_fd(), Path::new(d), &spec) else {
                continue;
            };
            let file = Spec::file(Owner::Uid(uid), perfdata::MAX_FILE).no_links();
            match safe_open::open_beneath(user_dir.as_fd(), Path::new(&name), &file) {
                Ok(_) => {
                    return Ok(Source::InRoot {
                        root: root.clone(),
                        rel: Path::new("tmp").join(d).join(&name),
                        uid,
                    });
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    refused = Some(format!("/tmp/{d}/{name} refused: {e}"));
                }
                Err(_) => {}
            }
        }
    }
    // Deleted by a /tmp cleaner while the JVM runs: its rw-s mapping is still there.
    let mapped = || {
        let maps = std::fs::read_to_string(roots.proc.join(pid.to_string()).join("maps")).ok()?;
        let line = maps.lines().find(|l| l.contains("/hsperfdata_"))?;
        let range = line.split_whitespace().next()?;
        let path = roots
            .proc
            .join(pid.to_string())
            .join("map_files")
            .join(range);
        let src = Source::Mapped { path, uid };
        perfdata::PerfData::read_source(&src).is_ok().then_some(src)
    };
    mapped().ok_or(refused)
}

/// One pid; a clear error if it is not a JVM. For attach: the user is left as the uid (no passwd lookup, which
/// would load NSS code into a short `wasp dump`).
pub fn find(roots: &Roots, pid: u32) -> anyhow::Result<JvmProcess> {
    find_inner(roots, pid, &JvmConfig::default(), false)
}

pub fn find_with(roots: &Roots, pid: u32, cfg: &JvmConfig) -> anyhow::Result<JvmProcess> {
    find_inner(roots, pid, cfg, true)
}

/// /proc/<pid>/stat: the comm and the fields after it (field 3, the state, first). The comm may hold spaces
/// and parentheses, so it ends at the last ')'.
pub(crate) fn stat_fields(stat: &str) -> Option<(&str, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    Some((comm, stat[close + 1..].split_whitespace().collect()))
}

/// The value of a "Key:\tv1\tv2..." line of /proc/<pid>/status, as fields.
fn status_fields<'a>(status: &'a str, key: &str) -> Option<Vec<&'a str>> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.split_whitespace().collect())
}

fn find_inner(roots: &Roots, pid: u32, cfg: &JvmConfig, names: bool) -> anyhow::Result<JvmProcess> {
    let dir = roots.proc.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat"))
        .with_context(|| format!("pid {pid}: no such process"))?;
    let (comm, f) =
        stat_fields(&stat).with_context(|| format!("pid {pid}: cannot parse its stat"))?;
    // starttime is field 22 (1-based), the 20th after the comm.
    let start_ticks = f
        .get(19)
        .and_then(|s| s.parse::<u64>().ok())
        .with_context(|| format!("pid {pid}: cannot parse its stat"))?;
    let mut raw = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    if raw.last() == Some(&0) {
        raw.pop();
    }
    let cmdline: Vec<String> = if raw.is_empty() {
        Vec::new()
    } else {
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    if !is_java(comm, &cmdline) {
        anyhow::bail!("pid {pid} ({comm}) is not a Java process");
    }
    let status = std::fs::read_to_string(dir.join("status"))
        .with_context(|| format!("pid {pid}: cannot read its status"))?;
    // The innermost pid namespace's number is the last; kernels before 4.1 have no NSpid line.
    let ns_pid = status_fields(&status, "NSpid")
        .and_then(|v| v.last()?.parse().ok())
        .unwrap_or(pid);
    // Real, effective, saved, fs: the JVM names its files after the effective ids.
    let id = |key| {
        status_fields(&status, key)
            .and_then(|v| v.get(1)?.parse::<u32>().ok())
            .with_context(|| format!("pid {pid}: no {key} in its status"))
    };
    let (uid, gid) = (id("Uid")?, id("Gid")?);
    let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
    let (perf_source, refused) = match find_hsperfdata(roots, pid, ns_pid, uid) {
        Ok(s) => (Some(s), None),
        Err(why) => (None, why),
    };
    let not_measurable = if perf_source.is_some() {
        None
    } else if let Some(why) = refused {
        Some(why)
    } else if cmdline.iter().any(|a| a == "-XX:-UsePerfData") {
        Some("started with -XX:-UsePerfData: no counters".to_string())
    } else if cmdline.iter().any(|a| a == "-XX:+PerfDisableSharedMem") {
        Some("started with -XX:+PerfDisableSharedMem: no counters".to_string())
    } else {
        Some(
            "no hsperfdata file (not HotSpot, still starting, or its /tmp is unreachable)"
                .to_string(),
        )
    };
    Ok(JvmProcess {
        pid,
        ns_pid,
        uid,
        gid,
        user: if names {
            user_name(uid)
        } else {
            uid.to_string()
        },
        start_ticks,
        app: app_of(&cmdline, cfg),
        main: main_of(&cmdline),
        cmdline,
        container_id: container_id(&cgroup),
        hsperfdata: perf_source.as_ref().map(Source::display_path),
        perf_source,
        not_measurable,
    })
}

/// Every JVM on the host.
pub fn discover(roots: &Roots, cfg: &JvmConfig) -> Vec<JvmProcess> {
    Scanner::default().scan(roots, cfg)
}

/// Discovery across collections: pids already known not to be Java are not re-read every interval (their
/// comm would be read again for nothing), and a JVM found with its hsperfdata is not looked for again (its
/// command line, ids, cgroup and the walk of its /tmp were most of a collection's JVM cost) while its start
/// time holds — except on a full rescan every 30 s, which also catches a Java process that reused a pid, and
/// after the reader could not use its file ([`Scanner::forget`]).
#[derive(Default)]
pub struct Scanner {
    not_java: std::collections::HashSet<u32>,
    found: std::collections::HashMap<u32, JvmProcess>,
    last_full: Option<std::time::Instant>,
}

impl Scanner {
    pub fn scan(&mut self, roots: &Roots, cfg: &JvmConfig) -> Vec<JvmProcess> {
        let Ok(dir) = std::fs::read_dir(&roots.proc) else {
            return Vec::new();
        };
        let full = self
            .last_full
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(30));
        if full {
            self.not_java.clear();
            self.last_full = Some(std::time::Instant::now());
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            seen.insert(pid);
            if self.not_java.contains(&pid) {
                continue;
            }
            // Cheap filter first: the comm, from the one stat line that also says when the process started.
            let stat = crate::util::procfile::read_attr(&e.path().join("stat")).unwrap_or_default();
            let stat = String::from_utf8_lossy(&stat);
            let Some((comm, f)) = stat_fields(&stat) else {
                continue;
            };
            if !matches!(comm, "java" | "jsvc") {
                self.not_java.insert(pid);
                continue;
            }
            let start = f.get(19).and_then(|s| s.parse::<u64>().ok());
            if !full
                && let Some(j) = self.found.get(&pid)
                && Some(j.start_ticks) == start
            {
                out.push(j.clone());
                continue;
            }
            self.found.remove(&pid);
            if let Ok(j) = find_with(roots, pid, cfg) {
                if j.perf_source.is_some() {
                    self.found.insert(pid, j.clone());
                }
                out.push(j);
            }
        }
        self.not_java.retain(|p| seen.contains(p));
        self.found.retain(|p, _| seen.contains(p));
        out.sort_by_key(|j| j.pid);
        out
    }

    /// The JVM's file could not be used: look for it again at the next scan.
    pub fn forget(&mut self, pid: u32) {
        self.found.remove(&pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn app_names() {
        let c = JvmConfig::default();
        assert_eq!(
            app_of(
                &v(
                    "java -Dcatalina.base=/var/lib/tomcat10 -cp x org.apache.catalina.startup.Bootstrap start"
                ),
                &c
            ),
            "tomcat:tomcat10"
        );
        assert_eq!(
            app_of(&v("java -Dwasp.app=billing -jar x.jar"), &c),
            "billing"
        );
        assert_eq!(
            app_of(&v("java -Djboss.server.name=node1 org.jboss.Main"), &c),
            "jboss:node1"
        );
        assert_eq!(app_of(&v("java -Xmx1g -cp a:b com.example.Lab"), &c), "Lab");
        assert_eq!(app_of(&v("java -jar /opt/app/orders.jar"), &c), "orders");
        assert_eq!(
            main_of(&v("java -Xmx1g -cp a:b com.example.Lab arg")),
            "com.example.Lab"
        );
    }

    #[test]
    fn stat_and_status() {
        let (comm, f) =
            stat_fields("42 (a (b) c) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 9 0 777 0")
                .unwrap();
        assert_eq!((comm, f[0], f[19]), ("a (b) c", "S", "777"));
        let st = "Name:\tjava\nUid:\t1000\t1001\t1001\t1001\nNSpid:\t4242\t7\n";
        assert_eq!(status_fields(st, "Uid").unwrap()[1], "1001");
        assert_eq!(status_fields(st, "NSpid").unwrap().last(), Some(&"7"));
        assert!(status_fields(st, "Gid").is_none());
        assert!(stat_fields("garbage").is_none());
    }

    proptest::proptest! {
        #[test]
        fn stat_parser_never_panics(s in "\\PC*") {
            let _ = stat_fields(&s);
            let _ = status_fields(&s, "Uid");
        }
    }

    #[test]
    fn container_ids() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            container_id(&format!("0::/system.slice/docker-{id}.scope")).as_deref(),
            Some("0123456789ab")
        );
        assert_eq!(container_id("0::/user.slice"), None);
    }
}

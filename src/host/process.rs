//! Processes as top/pidstat see them. Per-process scanning is where agents burn CPU, so every pid costs one
//! read of /proc/<pid>/stat (procfs); the command line is read once per process lifetime (cached by pid and
//! start time) and only when groups need it; user, fd count and command line for the top N only.

use super::Roots;
use crate::config::units::{Dur, Pattern};
use crate::model::Collection;
use crate::model::derive;
use crate::model::process::{Group, ProcInfo, Processes};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// How many processes the top-CPU and top-RSS lists hold.
    pub top: usize,
    /// Named process groups, aggregated as metrics with the group as label (never one series per pid).
    pub groups: Vec<GroupConfig>,
    /// The daemon scans the process table at most this often (0s: every collection); in between the last scan
    /// is reported again with its age. `wasp once` scans at every reading.
    pub scan_every: Dur,
}

/// top's own default refresh. The scan reads /proc/<pid>/stat of every process, the agent's most expensive
/// collector (a quarter of a 1-s agent's CPU on a quiet host; see docs/performance.md); at the default 5-s
/// interval it still runs every collection.
pub const SCAN_EVERY: Dur = Dur::secs(3);

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            top: 10,
            groups: Vec::new(),
            scan_every: SCAN_EVERY,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    /// Matched against the full command line (arguments joined by spaces).
    #[serde(rename = "match")]
    pub pattern: Pattern,
}

struct Seen {
    start: u64,
    ticks: u64,
    /// Index into the configured groups, decided once per process lifetime.
    group: Option<Option<usize>>,
}

pub struct ProcessCollector {
    cfg: Config,
    prev: HashMap<i32, Seen>,
    prev_up: Option<u64>,
    hz: f64,
    page: u64,
    boot: u64,
    users: HashMap<u32, String>,
    /// User and command line per (pid, start time): they do not change, so they are read once.
    idents: HashMap<(i32, u64), (String, String)>,
}

struct Row {
    pid: i32,
    state: char,
    ticks: u64,
    cpu: f64,
    rss: u64,
    vsz: u64,
    threads: u64,
    start: u64,
    group: Option<usize>,
}

impl ProcessCollector {
    pub fn new(cfg: &Config) -> Self {
        ProcessCollector {
            cfg: cfg.clone(),
            prev: HashMap::new(),
            prev_up: None,
            hz: procfs::ticks_per_second().max(1) as f64,
            page: procfs::page_size(),
            boot: procfs::boot_time_secs().unwrap_or(0),
            users: HashMap::new(),
            idents: HashMap::new(),
        }
    }

    fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| uid.to_string())
            })
            .clone()
    }

    pub fn collect(
        &mut self,
        roots: &Roots,
        uptime_cs: u64,
        out: &mut Collection,
    ) -> anyhow::Result<()> {
        let et = self
            .prev_up
            .map(|p| (uptime_cs.saturating_sub(p) as f64 / 100.0).max(0.005));
        let mut rows = Vec::new();
        let mut next = HashMap::new();
        let mut res = Processes::default();
        let dir = std::fs::read_dir(&roots.proc)?;
        let mut buf = vec![0u8; 4096];
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            // Hot path: open + one read of /proc/<pid>/stat into a reused buffer, no size probe and no extra
            // read for EOF (a stat line is far below 4 KiB; procfs's Process would first open a directory fd
            // per pid); procfs parses the bytes. A process that exits meanwhile is simply gone.
            let Ok(mut f) = std::fs::File::open(roots.proc.join(pid).join("stat")) else {
                continue;
            };
            let n = match std::io::Read::read(&mut f, &mut buf) {
                Ok(n) if n < buf.len() => n,
                _ => continue,
            };
            let Some(st) = super::pidstat::parse_stat(&buf[..n]) else {
                continue;
            };
            let ticks = st.utime.saturating_add(st.stime);
            *res.states.entry(st.state.to_string()).or_default() += 1;
            res.total += 1;
            res.threads += st.num_threads.max(0) as u64;
            let prev = self
                .prev
                .remove(&st.pid)
                .filter(|s| s.start == st.starttime);
            let group = match prev.as_ref().and_then(|s| s.group) {
                Some(g) => g,
                None if self.cfg.groups.is_empty() => None,
                None => {
                    let cmd = command_line(&roots.proc.join(pid));
                    let cmd = if cmd.is_empty() { st.comm.clone() } else { cmd };
                    self.cfg
                        .groups
                        .iter()
                        .position(|g| g.pattern.is_match(&cmd))
                }
            };
            // top: a task not seen last time counts its whole life as this interval's delta.
            let cpu = match et {
                Some(et) => {
                    let d = derive::ticks(ticks, prev.as_ref().map(|s| s.ticks).unwrap_or(0));
                    d as f64 * 100.0 / (self.hz * et)
                }
                None => 0.0,
            };
            rows.push(Row {
                pid: st.pid,
                state: st.state,
                ticks,
                cpu,
                rss: st.rss.saturating_mul(self.page),
                vsz: st.vsize,
                threads: st.num_threads.max(0) as u64,
                start: st.starttime,
                group,
            });
            next.insert(
                st.pid,
                Seen {
                    start: st.starttime,
                    ticks,
                    group: Some(group),
                },
            );
        }
        self.prev = next;
        self.prev_up = Some(uptime_cs);

        let mut groups: Vec<Group> = self
            .cfg
            .groups
            .iter()
            .map(|g| Group {
                name: g.name.clone(),
                ..Default::default()
            })
            .collect();
        for r in &rows {
            if let Some(g) = r.group.and_then(|i| groups.get_mut(i)) {
                g.processes += 1;
                g.threads += r.threads;
                g.cpu_pct += r.cpu;
                g.cpu_seconds += r.ticks as f64 / self.hz;
                g.rss += r.rss;
                g.fds += fd_count(roots, r.pid).unwrap_or(0);
            }
        }
        res.groups = groups;
        let n = self.cfg.top;
        rows.sort_by(|a, b| b.cpu.total_cmp(&a.cpu).then(b.rss.cmp(&a.rss)));
        let top_cpu: Vec<i32> = rows.iter().take(n).map(|r| r.pid).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.rss));
        let top_rss: Vec<i32> = rows.iter().take(n).map(|r| r.pid).collect();
        let by_pid: BTreeMap<i32, &Row> = rows.iter().map(|r| (r.pid, r)).collect();
        let mut idents = std::mem::take(&mut self.idents);
        idents.retain(|k, _| self.prev.get(&k.0).is_some_and(|s| s.start == k.1));
        let mut detail = |pid: i32| -> Option<ProcInfo> {
            let r = by_pid.get(&pid)?;
            let (user, command) = match idents.get(&(pid, r.start)) {
                Some(i) => i.clone(),
                None => {
                    let dir = roots.proc.join(pid.to_string());
                    // The owner of /proc/<pid> is the process's effective uid: no status parse needed.
                    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir).ok()?);
                    let cmd = command_line(&dir);
                    let cmd = if cmd.is_empty() {
                        std::fs::read_to_string(dir.join("comm"))
                            .map(|c| format!("[{}]", c.trim()))
                            .unwrap_or_default()
                    } else {
                        cmd
                    };
                    let v = (self.user(uid), cmd);
                    idents.insert((pid, r.start), v.clone());
                    v
                }
            };
            Some(ProcInfo {
                pid: pid as u32,
                user,
                state: r.state.to_string(),
                cpu_pct: r.cpu,
                rss: r.rss,
                vsz: r.vsz,
                threads: r.threads,
                fds: fd_count(roots, pid),
                start_time: self.boot + r.start / self.hz as u64,
                command,
            })
        };
        // Most of the top-CPU processes are in the top-RSS list too: their details (an fd count each) once.
        let mut done: HashMap<i32, Option<ProcInfo>> = HashMap::new();
        let mut once = |pid: i32| done.entry(pid).or_insert_with(|| detail(pid)).clone();
        res.top_cpu = top_cpu.into_iter().filter_map(&mut once).collect();
        res.top_rss = top_rss.into_iter().filter_map(&mut once).collect();
        self.idents = idents;
        out.processes = Some(res);
        Ok(())
    }
}

/// /proc/<pid>/cmdline with its NUL separators as spaces; empty for kernel threads and vanished processes.
fn command_line(pid_dir: &std::path::Path) -> String {
    std::fs::read(pid_dir.join("cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn fd_count(roots: &Roots, pid: i32) -> Option<u64> {
    let dir = roots.proc.join(pid.to_string()).join("fd");
    // Linux >= 6.2 reports the number of open descriptors as the size of /proc/<pid>/fd: one stat instead of
    // listing hundreds of entries. Older kernels say 0 there; count the entries.
    match std::fs::metadata(&dir) {
        Ok(m) if m.len() > 0 => Some(m.len()),
        Ok(_) => std::fs::read_dir(&dir).ok().map(|d| d.count() as u64),
        Err(_) => None,
    }
}

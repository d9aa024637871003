//! cgroup limits and usage, v1 and v2: the agent's own cgroup and the configured ones (e.g. the Tomcat
//! service's), so "killed at 4 GB" and "throttled at 2 cores" are visible. The files are hand-parsed: procfs
//! has no cgroupfs readers.

use super::Roots;
use crate::model::Collection;
use crate::model::cgroup::{Cgroup, CgroupStats};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Cgroup paths relative to the hierarchy root, e.g. "system.slice/tomcat10.service".
    pub paths: Vec<String>,
    /// Also report the agent's own cgroup.
    pub own: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            paths: Vec::new(),
            own: true,
        }
    }
}

pub struct CgroupCollector {
    cfg: Config,
}

fn read(p: &Path) -> Option<String> {
    crate::util::procfile::read_attr_string(p).ok()
}

fn num(s: Option<String>) -> Option<u64> {
    s?.trim().parse().ok()
}

/// "key value" lines (cpu.stat, memory.events).
pub fn kv(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// cgroup v2: cpu.max, cpu.stat, memory.max, memory.current, memory.events.
pub fn read_v2(dir: &Path, path: &str) -> CgroupStats {
    let cpu_max = read(&dir.join("cpu.max"));
    let cpu_limit_cores = cpu_max.as_deref().and_then(|s| {
        let mut it = s.split_whitespace();
        let q: f64 = it.next()?.parse().ok()?;
        let p: f64 = it.next()?.parse().ok()?;
        (p > 0.0).then_some(q / p)
    });
    let stat = read(&dir.join("cpu.stat")).unwrap_or_default();
    let events = read(&dir.join("memory.events")).unwrap_or_default();
    CgroupStats {
        path: path.to_string(),
        cpu_limit_cores,
        cpu_usage_seconds: kv(&stat, "usage_usec").map(|u| u as f64 / 1e6),
        nr_periods: kv(&stat, "nr_periods"),
        nr_throttled: kv(&stat, "nr_throttled"),
        throttled_seconds: kv(&stat, "throttled_usec").map(|u| u as f64 / 1e6),
        memory_limit: num(read(&dir.join("memory.max"))),
        memory_usage: num(read(&dir.join("memory.current"))),
        oom_kills: kv(&events, "oom_kill"),
    }
}

/// cgroup v1: the cpu, cpuacct and memory controllers' files.
pub fn read_v1(root: &Path, path: &str) -> CgroupStats {
    let rel = path.trim_start_matches('/');
    let cpu = [
        root.join("cpu,cpuacct").join(rel),
        root.join("cpu").join(rel),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .unwrap_or_else(|| root.join("cpu").join(rel));
    let acct = [
        root.join("cpu,cpuacct").join(rel),
        root.join("cpuacct").join(rel),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .unwrap_or_else(|| root.join("cpuacct").join(rel));
    let mem = root.join("memory").join(rel);
    let quota: Option<i64> =
        read(&cpu.join("cpu.cfs_quota_us")).and_then(|s| s.trim().parse().ok());
    let period: Option<f64> =
        read(&cpu.join("cpu.cfs_period_us")).and_then(|s| s.trim().parse().ok());
    let stat = read(&cpu.join("cpu.stat")).unwrap_or_default();
    // The kernel reports "no limit" as a huge page-aligned number.
    let limit = num(read(&mem.join("memory.limit_in_bytes"))).filter(|&l| l < (1u64 << 62));
    CgroupStats {
        path: path.to_string(),
        cpu_limit_cores: match (quota, period) {
            (Some(q), Some(p)) if q > 0 && p > 0.0 => Some(q as f64 / p),
            _ => None,
        },
        cpu_usage_seconds: num(read(&acct.join("cpuacct.usage"))).map(|n| n as f64 / 1e9),
        nr_periods: kv(&stat, "nr_periods"),
        nr_throttled: kv(&stat, "nr_throttled"),
        throttled_seconds: kv(&stat, "throttled_time").map(|n| n as f64 / 1e9),
        memory_limit: limit,
        memory_usage: num(read(&mem.join("memory.usage_in_bytes"))),
        oom_kills: read(&mem.join("memory.oom_control")).and_then(|t| kv(&t, "oom_kill")),
    }
}

impl CgroupCollector {
    pub fn new(cfg: &Config) -> Self {
        CgroupCollector { cfg: cfg.clone() }
    }

    pub fn collect(&mut self, roots: &Roots, out: &mut Collection) -> anyhow::Result<()> {
        let root: PathBuf = roots.sys.join("fs/cgroup");
        let v2 = root.join("cgroup.controllers").exists();
        let mut paths: Vec<String> = self
            .cfg
            .paths
            .iter()
            .map(|p| format!("/{}", p.trim_start_matches('/')))
            .collect();
        if self.cfg.own {
            // /proc/self/cgroup: "0::/path" on v2, "N:cpu,cpuacct:/path" lines on v1.
            let own = read(&roots.proc.join("self/cgroup")).unwrap_or_default();
            let mine = own.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                (if v2 {
                    ctrl.is_empty()
                } else {
                    ctrl.split(',').any(|c| c == "memory")
                })
                .then(|| path.to_string())
            });
            if let Some(p) = mine
                && !paths.contains(&p)
            {
                paths.push(p);
            }
        }
        let groups = paths
            .iter()
            .map(|p| {
                if v2 {
                    read_v2(&root.join(p.trim_start_matches('/')), p)
                } else {
                    read_v1(&root, p)
                }
            })
            .collect();
        out.cgroup = Some(Cgroup {
            version: if v2 { 2 } else { 1 },
            groups,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cpu.max"), "200000 100000\n").unwrap();
        std::fs::write(d.path().join("cpu.stat"), "usage_usec 5000000\nuser_usec 1\nsystem_usec 2\nnr_periods 10\nnr_throttled 3\nthrottled_usec 250000\n").unwrap();
        std::fs::write(d.path().join("memory.max"), "4294967296\n").unwrap();
        std::fs::write(d.path().join("memory.current"), "1048576\n").unwrap();
        std::fs::write(
            d.path().join("memory.events"),
            "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let s = read_v2(d.path(), "/x");
        assert_eq!(s.cpu_limit_cores, Some(2.0));
        assert_eq!(s.nr_throttled, Some(3));
        assert_eq!(s.throttled_seconds, Some(0.25));
        assert_eq!(s.memory_limit, Some(4294967296));
        assert_eq!(s.oom_kills, Some(1));
        std::fs::write(d.path().join("cpu.max"), "max 100000\n").unwrap();
        std::fs::write(d.path().join("memory.max"), "max\n").unwrap();
        let s = read_v2(d.path(), "/x");
        assert_eq!((s.cpu_limit_cores, s.memory_limit), (None, None));
    }

    #[test]
    fn v1_files() {
        let d = tempfile::tempdir().unwrap();
        let cpu = d.path().join("cpu,cpuacct/system.slice/tomcat.service");
        let mem = d.path().join("memory/system.slice/tomcat.service");
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "150000\n").unwrap();
        std::fs::write(cpu.join("cpu.cfs_period_us"), "100000\n").unwrap();
        std::fs::write(
            cpu.join("cpu.stat"),
            "nr_periods 7\nnr_throttled 2\nthrottled_time 3000000000\n",
        )
        .unwrap();
        std::fs::write(cpu.join("cpuacct.usage"), "2000000000\n").unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
        )
        .unwrap();
        let s = read_v1(d.path(), "/system.slice/tomcat.service");
        assert_eq!(s.cpu_limit_cores, Some(1.5));
        assert_eq!(s.throttled_seconds, Some(3.0));
        assert_eq!(s.cpu_usage_seconds, Some(2.0));
        assert_eq!(s.memory_limit, None, "the v1 'unlimited' value");
        assert_eq!(s.oom_kills, Some(4));
    }

    proptest::proptest! {
        #[test]
        fn kv_never_panics(s in "\\PC{0,200}") {
            let _ = kv(&s, "nr_throttled");
        }
    }
}

//! Host collectors: read /proc and /sys (through procfs, and nix for statvfs), compute rates over the real elapsed
//! time, and fill the host sections of a [`Collection`]. No network, no JVMs.

pub mod cgroup;
pub mod disk;
pub mod fs;
pub mod kernel;
pub mod kmsg;
pub mod kmsg_parse;
pub mod net;
pub mod netclass;
pub mod netlink;
pub mod pidinfo;
pub mod pidstat;
pub mod process;
pub mod rtnl;
pub mod sockdiag;
pub mod system;
pub mod systemd;

#[cfg(test)]
mod hostile_input;

use crate::model::{Collection, CollectorError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where /proc and /sys are: the real ones, a host's mounted into a container, or a test's captured copy.
#[derive(Debug, Clone)]
pub struct Roots {
    pub proc: PathBuf,
    pub sys: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    pub cpu: system::Toggle,
    pub vmstat: system::Toggle,
    pub memory: system::Toggle,
    pub load: system::Toggle,
    pub pressure: system::Toggle,
    pub kernel: system::Toggle,
    pub disk: disk::Config,
    pub filesystem: fs::Config,
    pub net: net::Config,
    pub process: process::Config,
    pub cgroup: cgroup::Config,
}

/// Runs every enabled host collector. A collector that fails is recorded in `Collection::errors`, logged once
/// until it recovers, and never stops the others.
pub struct HostCollector {
    roots: Roots,
    cfg: HostConfig,
    system: system::SystemCollector,
    disk: disk::DiskCollector,
    fs: fs::FsCollector,
    net: net::NetCollector,
    process: process::ProcessCollector,
    cgroup: cgroup::CgroupCollector,
    /// Collectors whose failure has been logged and not yet recovered, so a missing file is one warning, not one
    /// per interval.
    failing: std::collections::BTreeSet<&'static str>,
    started: Instant,
    /// The per-process scan (the expensive collector) runs on every n-th collection only, when the agent is
    /// over its CPU budget; in between, its last reading is reported again.
    process_every: u32,
    tick: u64,
    last_processes: Option<crate::model::process::Processes>,
    /// `[host.process] scan_every` (None: every reading) and when the last scan was taken.
    process_gap: Option<std::time::Duration>,
    process_taken: Option<Instant>,
}

/// /proc/uptime in centiseconds (procfs parses it as a float; sysstat's unit is the centisecond).
pub fn uptime_cs(roots: &Roots) -> Option<u64> {
    use procfs::FromRead;
    let b = crate::util::procfile::read_attr(&roots.proc.join("uptime")).ok()?;
    let u = procfs::Uptime::from_read(&b[..]).ok()?;
    Some((u.uptime * 100.0).round() as u64)
}

impl HostCollector {
    pub fn new(cfg: &HostConfig, roots: Roots) -> Self {
        HostCollector {
            system: system::SystemCollector::new(),
            disk: disk::DiskCollector::new(&cfg.disk),
            fs: fs::FsCollector::new(&cfg.filesystem),
            net: net::NetCollector::new(&cfg.net),
            process: process::ProcessCollector::new(&cfg.process),
            cgroup: cgroup::CgroupCollector::new(&cfg.cgroup),
            roots,
            cfg: cfg.clone(),
            started: Instant::now(),
            process_every: 1,
            tick: 0,
            last_processes: None,
            process_gap: Some(cfg.process.scan_every.0).filter(|g| !g.is_zero()),
            process_taken: None,
            failing: Default::default(),
        }
    }

    /// TCP states counted and the process table scanned at every reading, as a one-shot reading wants (see
    /// net::TCP_STATES_MIN_GAP, process::SCAN_EVERY).
    pub fn every_reading_fresh(&mut self) {
        self.net.count_tcp_states_every_time();
        self.process_gap = None;
    }

    /// Runs the per-process scan only every `n`-th collection (1 = always): the CPU-budget back-off.
    pub fn set_process_every(&mut self, n: u32) {
        self.process_every = n.max(1);
    }

    pub fn process_every(&self) -> u32 {
        self.process_every
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Fills the host sections of `out`; rates are over the time since the previous call.
    pub fn collect(&mut self, out: &mut Collection) {
        let r = &self.roots;
        // One clock for every rate of this cycle: /proc/uptime in centiseconds, as sysstat measures intervals.
        let up = uptime_cs(r).unwrap_or_else(|| self.started.elapsed().as_millis() as u64 / 10);
        let c = &self.cfg;
        let want = system::Wanted {
            cpu: c.cpu.enabled,
            vmstat: c.vmstat.enabled,
            memory: c.memory.enabled,
            load: c.load.enabled,
        };
        let system_on = want.cpu || want.vmstat || want.memory || want.load;
        if c.pressure.enabled {
            out.pressure = system::read_pressure(r);
        }
        if c.kernel.enabled {
            let t = Instant::now();
            out.kernel = Some(kernel::read(r));
            out.timings
                .push(("kernel".into(), t.elapsed().as_secs_f64()));
        }
        let results: [(&'static str, (anyhow::Result<()>, f64)); 6] = [
            (
                "system",
                gated(system_on, || self.system.collect(r, up, out, &want)),
            ),
            (
                "disk",
                gated(c.disk.enabled, || self.disk.collect(r, up, out)),
            ),
            (
                "filesystem",
                gated(c.filesystem.enabled, || self.fs.collect(r, out)),
            ),
            ("net", gated(c.net.enabled, || self.net.collect(r, up, out))),
            ("process", {
                // A scan due within a quarter second is due now: collections a second apart are not exactly so.
                let gap_passed = match (self.process_gap, self.process_taken) {
                    (Some(gap), Some(at)) => at.elapsed() + Duration::from_millis(250) >= gap,
                    _ => true,
                };
                let run_now = gap_passed && self.tick.is_multiple_of(self.process_every as u64);
                let last = &mut self.last_processes;
                let res = gated(c.process.enabled && run_now, || {
                    self.process.collect(r, up, out)
                });
                if run_now {
                    self.process_taken = Some(Instant::now());
                    *last = out.processes.clone();
                } else {
                    out.processes = last.clone();
                    if let (Some(p), Some(at)) = (out.processes.as_mut(), self.process_taken) {
                        p.age_s = at.elapsed().as_secs_f64();
                    }
                }
                res
            }),
            (
                "cgroup",
                gated(c.cgroup.enabled, || self.cgroup.collect(r, out)),
            ),
        ];
        self.tick += 1;
        for (name, (res, took)) in results {
            out.timings.push((name.to_string(), took));
            match res {
                Ok(()) => {
                    if self.failing.remove(name) {
                        tracing::info!(collector = name, "collector recovered");
                    }
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    if self.failing.insert(name) {
                        tracing::warn!(collector = name, error = %message, "collector failed; reporting what the others read");
                    }
                    out.errors.push(CollectorError {
                        collector: name.to_string(),
                        message,
                    });
                }
            }
        }
    }
}

fn gated(enabled: bool, f: impl FnOnce() -> anyhow::Result<()>) -> (anyhow::Result<()>, f64) {
    let t = Instant::now();
    let r = if enabled { f() } else { Ok(()) };
    (r, t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod scan_gap {
    use super::*;

    fn collect(h: &mut HostCollector) -> crate::model::process::Processes {
        let mut c = Collection::default();
        h.collect(&mut c);
        c.processes.expect("the process table")
    }

    #[test]
    fn the_daemon_scans_processes_at_most_every_scan_every_and_says_how_old() {
        let mut h = HostCollector::new(&HostConfig::default(), Roots::default());
        let first = collect(&mut h);
        assert_eq!(first.age_s, 0.0);
        std::thread::sleep(Duration::from_millis(300));
        let again = collect(&mut h);
        assert!(again.age_s >= 0.3, "reported again, {} s old", again.age_s);
        assert_eq!((again.total, again.threads), (first.total, first.threads));
        // A one-shot reading (wasp once) scans every time.
        h.every_reading_fresh();
        assert_eq!(collect(&mut h).age_s, 0.0);
        assert_eq!(collect(&mut h).age_s, 0.0);
    }

    #[test]
    fn scan_every_zero_scans_every_collection() {
        let mut cfg = HostConfig::default();
        cfg.process.scan_every = crate::config::Dur::secs(0);
        let mut h = HostCollector::new(&cfg, Roots::default());
        collect(&mut h);
        assert_eq!(collect(&mut h).age_s, 0.0);
    }
}

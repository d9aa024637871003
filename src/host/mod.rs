//! Host collectors: read /proc and /sys (through procfs, and nix for statvfs), compute rates over the real elapsed
//! time, and fill the host sections of a [`Collection`]. No network, no JVMs.

pub mod cgroup;
pub mod cpu;
pub mod disk;
pub mod fs;
pub mod load;
pub mod memory;
pub mod net;
pub mod pressure;
pub mod process;
pub mod rate;
pub mod vmstat;

use crate::model::{Collection, CollectorError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    pub cpu: cpu::Config,
    pub vmstat: vmstat::Config,
    pub memory: memory::Config,
    pub load: load::Config,
    pub pressure: pressure::Config,
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
    cpu: cpu::CpuCollector,
    vmstat: vmstat::VmstatCollector,
    memory: memory::MemoryCollector,
    load: load::LoadCollector,
    pressure: pressure::PressureCollector,
    disk: disk::DiskCollector,
    fs: fs::FsCollector,
    net: net::NetCollector,
    process: process::ProcessCollector,
    cgroup: cgroup::CgroupCollector,
    /// Collectors whose failure has been logged and not yet recovered, so a missing file is one warning, not one
    /// per interval.
    failing: std::collections::BTreeSet<&'static str>,
}

impl HostCollector {
    pub fn new(cfg: &HostConfig, roots: Roots) -> Self {
        HostCollector {
            cpu: cpu::CpuCollector::new(&cfg.cpu),
            vmstat: vmstat::VmstatCollector::new(&cfg.vmstat),
            memory: memory::MemoryCollector::new(&cfg.memory),
            load: load::LoadCollector::new(&cfg.load),
            pressure: pressure::PressureCollector::new(&cfg.pressure),
            disk: disk::DiskCollector::new(&cfg.disk),
            fs: fs::FsCollector::new(&cfg.filesystem),
            net: net::NetCollector::new(&cfg.net),
            process: process::ProcessCollector::new(&cfg.process),
            cgroup: cgroup::CgroupCollector::new(&cfg.cgroup),
            roots,
            cfg: cfg.clone(),
            failing: Default::default(),
        }
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Fills the host sections of `out`. `now` is the monotonic time of this reading, for rates.
    pub fn collect(&mut self, now: Instant, out: &mut Collection) {
        let r = &self.roots;
        let c = &self.cfg;
        let results: [(&'static str, bool, anyhow::Result<()>); 10] = [
            (
                "cpu",
                c.cpu.enabled,
                gated(c.cpu.enabled, || self.cpu.collect(r, now, out)),
            ),
            (
                "vmstat",
                c.vmstat.enabled,
                gated(c.vmstat.enabled, || self.vmstat.collect(r, now, out)),
            ),
            (
                "memory",
                c.memory.enabled,
                gated(c.memory.enabled, || self.memory.collect(r, now, out)),
            ),
            (
                "load",
                c.load.enabled,
                gated(c.load.enabled, || self.load.collect(r, now, out)),
            ),
            (
                "pressure",
                c.pressure.enabled,
                gated(c.pressure.enabled, || self.pressure.collect(r, now, out)),
            ),
            (
                "disk",
                c.disk.enabled,
                gated(c.disk.enabled, || self.disk.collect(r, now, out)),
            ),
            (
                "filesystem",
                c.filesystem.enabled,
                gated(c.filesystem.enabled, || self.fs.collect(r, now, out)),
            ),
            (
                "net",
                c.net.enabled,
                gated(c.net.enabled, || self.net.collect(r, now, out)),
            ),
            (
                "process",
                c.process.enabled,
                gated(c.process.enabled, || self.process.collect(r, now, out)),
            ),
            (
                "cgroup",
                c.cgroup.enabled,
                gated(c.cgroup.enabled, || self.cgroup.collect(r, now, out)),
            ),
        ];
        for (name, _, res) in results {
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

fn gated(enabled: bool, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    if enabled { f() } else { Ok(()) }
}

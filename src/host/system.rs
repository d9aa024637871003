//! The system-wide figures: CPU (sar -u ALL), vmstat, sar -w/-B/-W, free -w, sar -q and PSI.
//!
//! These share their sources (/proc/stat feeds cpu and vmstat, /proc/meminfo feeds free and vmstat,
//! /proc/vmstat feeds vmstat and paging), so one collector reads each file once per cycle and derives every
//! section from two readings. The interval is the /proc/uptime delta in centiseconds, as sysstat measures it,
//! so that rates agree with sar to the printed digit.

use super::Roots;
use crate::model::Collection;
use crate::model::cpu::{Cpu, CpuTicks, CpuUtil};
use crate::model::derive::{counter, interval_s, pct, per_sec, ticks as dc};
use crate::model::load::Load;
use crate::model::memory::{Memory, Swap};
use crate::model::pressure::{Pressure, Resource, Stall};
use crate::model::vmstat::{Paging, VmTotals, Vmstat};
use anyhow::Context;
use procfs::{FromBufRead, FromBufReadSI, FromRead};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One section's switch.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

/// What one cycle read, exactly as read.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// /proc/uptime in centiseconds (sysstat's itv unit).
    pub uptime_cs: u64,
    pub total: CpuTicks,
    pub cpus: Vec<(String, CpuTicks)>,
    pub intr: u64,
    pub ctxt: u64,
    pub forks: u64,
    pub btime: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
    /// KiB values of /proc/meminfo by key.
    pub meminfo: Vec<(String, u64)>,
    pub vmstat: HashMap<String, i64>,
    pub load: Option<(f64, f64, f64, u64, u64)>,
}

pub struct SystemCollector {
    prev: Option<Raw>,
    hz: u64,
    page_kib: u64,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::util::procfile::read(path).with_context(|| format!("reading {}", path.display()))
}

impl Default for SystemCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemCollector {
    pub fn new() -> Self {
        SystemCollector {
            prev: None,
            hz: procfs::ticks_per_second().max(1),
            page_kib: (procfs::page_size() / 1024).max(1),
        }
    }

    /// Reads every source once. /proc/stat, /proc/meminfo and /proc/vmstat are required; loadavg is not.
    pub fn read(&self, roots: &Roots, uptime_cs: u64) -> anyhow::Result<Raw> {
        let p = &roots.proc;
        let stat_bytes = read(&p.join("stat"))?;
        let si = procfs::ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: self.hz,
            page_size: self.page_kib * 1024,
            is_little_endian: cfg!(target_endian = "little"),
        };
        let ks = procfs::KernelStats::from_buf_read(&stat_bytes[..], &si)
            .with_context(|| format!("parsing {}", p.join("stat").display()))?;
        let meminfo = parse_meminfo(&read(&p.join("meminfo"))?);
        let vm = procfs::VmStat::from_buf_read(&read(&p.join("vmstat"))?[..])
            .with_context(|| format!("parsing {}", p.join("vmstat").display()))?;
        let load = crate::util::procfile::read_attr(&p.join("loadavg"))
            .ok()
            .and_then(|b| procfs::LoadAverage::from_read(&b[..]).ok())
            .map(|l| {
                (
                    round2(l.one),
                    round2(l.five),
                    round2(l.fifteen),
                    l.cur as u64,
                    l.max as u64,
                )
            });
        Ok(Raw {
            uptime_cs,
            total: ticks(&ks.total),
            cpus: ks
                .cpu_time
                .iter()
                .enumerate()
                .map(|(i, c)| (i.to_string(), ticks(c)))
                .collect(),
            intr: parse_intr(&stat_bytes),
            ctxt: ks.ctxt,
            forks: ks.processes,
            btime: ks.btime,
            procs_running: ks.procs_running.unwrap_or(0) as u64,
            procs_blocked: ks.procs_blocked.unwrap_or(0) as u64,
            meminfo,
            vmstat: vm.0,
            load,
        })
    }

    /// Fills cpu, vmstat, paging, memory and load from this reading and the previous one.
    pub fn collect(
        &mut self,
        roots: &Roots,
        uptime_cs: u64,
        out: &mut Collection,
        want: &Wanted,
    ) -> anyhow::Result<()> {
        let cur = self.read(roots, uptime_cs)?;
        let sections = derive(self.prev.as_ref(), &cur, self.hz, self.page_kib);
        if want.cpu {
            out.cpu = Some(sections.cpu);
        }
        if want.vmstat {
            out.vmstat = Some(sections.vmstat);
            out.paging = sections.paging;
        }
        if want.memory {
            out.memory = Some(sections.memory);
        }
        if want.load {
            out.load = sections.load;
        }
        self.prev = Some(cur);
        Ok(())
    }
}

/// Which sections the configuration asks for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub cpu: bool,
    pub vmstat: bool,
    pub memory: bool,
    pub load: bool,
}

pub struct Sections {
    pub cpu: Cpu,
    pub vmstat: Vmstat,
    pub paging: Option<Paging>,
    pub memory: Memory,
    pub load: Option<Load>,
}

fn round2(v: f32) -> f64 {
    // The kernel prints two decimals; f32 -> f64 would show 0.15000000596.
    (v as f64 * 100.0).round() / 100.0
}

fn ticks(c: &procfs::CpuTime) -> CpuTicks {
    CpuTicks {
        user: c.user,
        nice: c.nice,
        system: c.system,
        idle: c.idle,
        iowait: c.iowait.unwrap_or(0),
        irq: c.irq.unwrap_or(0),
        softirq: c.softirq.unwrap_or(0),
        steal: c.steal.unwrap_or(0),
        guest: c.guest.unwrap_or(0),
        guest_nice: c.guest_nice.unwrap_or(0),
    }
}

/// The total of the `intr` line, which procfs's KernelStats does not keep.
pub fn parse_intr(stat: &[u8]) -> u64 {
    stat.split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"intr "))
        .and_then(|rest| rest.split(|&b| b == b' ').next())
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Every /proc/meminfo line as (key, KiB). Hand-parsed: procfs's Meminfo is a fixed struct, and node_exporter
/// exports every key the kernel has, including ones procfs does not know.
pub fn parse_meminfo(bytes: &[u8]) -> Vec<(String, u64)> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let mut it = v.split_whitespace();
            let n: u64 = it.next()?.parse().ok()?;
            // Lines without "kB" (HugePages_Total...) are counts; they keep their value.
            Some((k.trim().to_string(), n))
        })
        .collect()
}

/// Hand-parsed PSI: procfs requires a `full` line for cpu, which kernels before 5.13 lack.
pub fn parse_pressure(bytes: &[u8]) -> Option<Resource> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let kind = it.next()?;
        let mut s = Stall::default();
        for f in it {
            let (k, v) = f.split_once('=')?;
            match k {
                "avg10" => s.avg10 = v.parse().ok()?,
                "avg60" => s.avg60 = v.parse().ok()?,
                "avg300" => s.avg300 = v.parse().ok()?,
                "total" => s.total = v.parse().ok()?,
                _ => {}
            }
        }
        match kind {
            "some" => some = Some(s),
            "full" => full = Some(s),
            _ => {}
        }
    }
    Some(Resource { some: some?, full })
}

pub fn read_pressure(roots: &Roots) -> Option<Pressure> {
    let dir = roots.proc.join("pressure");
    if !dir.is_dir() {
        return None;
    }
    let get = |n: &str| {
        crate::util::procfile::read_attr(&dir.join(n))
            .ok()
            .and_then(|b| parse_pressure(&b))
    };
    Some(Pressure {
        cpu: get("cpu"),
        memory: get("memory"),
        io: get("io"),
    })
}

/// The meminfo lines that are counts, not KiB.
pub fn is_count(key: &str) -> bool {
    key.starts_with("HugePages_")
}

fn kib(meminfo: &[(String, u64)], key: &str) -> Option<u64> {
    meminfo.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn vm(v: &HashMap<String, i64>, key: &str) -> u64 {
    v.get(key).copied().unwrap_or(0).max(0) as u64
}

/// Sum of every key with this prefix (sysstat 12.6's rule for pgscank/pgscand: per-zone names on old kernels).
fn vm_prefix(v: &HashMap<String, i64>, prefix: &str) -> u64 {
    v.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, &n)| n.max(0) as u64)
        .sum()
}

/// Reclaimed pages: the reclaimer family only (kswapd + direct + khugepaged + proactive, or per-zone names on
/// old kernels), never the anon/file breakdown of the same pages that sysstat 12.6 adds on top (double count).
fn pgsteal(v: &HashMap<String, i64>) -> u64 {
    v.iter()
        .filter(|(k, _)| {
            k.starts_with("pgsteal_") && !matches!(k.as_str(), "pgsteal_anon" | "pgsteal_file")
        })
        .map(|(_, &n)| n.max(0) as u64)
        .sum()
}

/// sar's per-CPU figures over one interval (sysstat rd_stats.c get_per_cpu_interval, pr_stats.c).
pub fn cpu_util(name: &str, c: &CpuTicks, p: &CpuTicks) -> (CpuUtil, u64) {
    let usr_c = c.user.saturating_sub(c.guest);
    let usr_p = p.user.saturating_sub(p.guest);
    let nic_c = c.nice.saturating_sub(c.guest_nice);
    let nic_p = p.nice.saturating_sub(p.guest_nice);
    // Σjiff without guest (already inside user/nice); shifts when guest is accounted ahead of user.
    let sum = |t: &CpuTicks| {
        t.user.saturating_sub(t.guest)
            + t.nice.saturating_sub(t.guest_nice)
            + t.system
            + t.idle
            + t.iowait
            + t.irq
            + t.softirq
            + t.steal
            + t.guest
            + t.guest_nice
    };
    let den = sum(c).wrapping_sub(sum(p)) as i64;
    let mut u = CpuUtil {
        cpu: name.to_string(),
        ..Default::default()
    };
    if den <= 0 {
        u.idle = 100.0;
        return (u, 0);
    }
    let den_u = den as u64;
    let f = |x: u64| pct(x as f64, den as f64);
    u.usr = f(dc(usr_c, usr_p));
    u.nice = f(dc(nic_c, nic_p));
    u.sys = f(dc(c.system, p.system));
    u.iowait = f(dc(c.iowait, p.iowait));
    u.steal = f(dc(c.steal, p.steal));
    u.irq = f(dc(c.irq, p.irq));
    u.soft = f(dc(c.softirq, p.softirq));
    u.guest = f(dc(c.guest, p.guest));
    u.gnice = f(dc(c.guest_nice, p.guest_nice));
    u.idle = f(dc(c.idle, p.idle));
    u.user = f(dc(c.user, p.user));
    // Saturating: a hostile or broken /proc/stat must not overflow (a debug build panics on it).
    let sys = |t: &CpuTicks| t.system.saturating_add(t.irq).saturating_add(t.softirq);
    u.system = f(dc(sys(c), sys(p)));
    (u, den_u)
}

/// Derives every section. `prev` is None on the first reading: gauges are filled, rates are not.
pub fn derive(prev: Option<&Raw>, cur: &Raw, hz: u64, page_kib: u64) -> Sections {
    let mi = &cur.meminfo;
    let g = |k: &str| kib(mi, k).unwrap_or(0);
    let (total, free, buffers, cached, srecl, shmem) = (
        g("MemTotal"),
        g("MemFree"),
        g("Buffers"),
        g("Cached"),
        g("SReclaimable"),
        g("Shmem"),
    );
    // procps-ng 4: MemAvailable, or MemFree when it is missing or larger than MemTotal (containers).
    let available = match kib(mi, "MemAvailable") {
        Some(a) if a > 0 && a <= total => a,
        _ => free,
    };
    let cache = cached.saturating_add(srecl);
    // KiB to bytes; a value past u64 (a hostile or broken meminfo) saturates rather than wraps.
    let b = |v: u64| v.saturating_mul(1024);
    let used = if total >= available {
        total - available
    } else {
        total.saturating_sub(free)
    };
    let (st, sf) = (g("SwapTotal"), g("SwapFree"));
    let swap_used = st.saturating_sub(sf);
    let memory = Memory {
        total: b(total),
        used: b(used),
        free: b(free),
        shared: b(shmem),
        buffers: b(buffers),
        cache: b(cache),
        available: b(available),
        swap: Swap {
            total: b(st),
            used: b(swap_used),
            free: b(sf),
        },
        meminfo: mi
            .iter()
            .map(|(k, v)| (k.clone(), if is_count(k) { *v } else { b(*v) }))
            .collect(),
    };

    let totals = VmTotals {
        intr: cur.intr,
        ctxt: cur.ctxt,
        forks: cur.forks,
        boot_time: cur.btime,
        procs_running: cur.procs_running,
        procs_blocked: cur.procs_blocked,
    };
    let mut vmstat = Vmstat {
        // procs_running counts the reader itself; procps >= 4.0.4 and sar -q subtract it.
        r: cur.procs_running.saturating_sub(1),
        b: cur.procs_blocked,
        swpd: swap_used,
        free,
        buff: buffers,
        cache,
        totals,
        ..Default::default()
    };
    let load = cur.load.map(|(l1, l5, l15, running, threads)| Load {
        runq_sz: running.saturating_sub(1),
        plist_sz: threads,
        ldavg_1: l1,
        ldavg_5: l5,
        ldavg_15: l15,
        blocked: cur.procs_blocked,
        cpus: cur.cpus.len() as u64,
    });
    let mut cpu = Cpu {
        all: None,
        cpus: Vec::new(),
        ticks: std::iter::once(("all".to_string(), cur.total))
            .chain(cur.cpus.iter().cloned())
            .collect(),
        hz,
    };
    let Some(p) = prev else {
        return Sections {
            cpu,
            vmstat,
            paging: None,
            memory,
            load,
        };
    };

    // sysstat's interval: the uptime delta in centiseconds (0 -> 1).
    let itv = interval_s(cur.uptime_cs, p.uptime_cs);
    let rate = |c: u64, pv: u64| per_sec(counter(c, pv), itv);

    // CPU "all" as sar rebuilds it: the sum of the per-CPU lines present in both readings (the aggregate line
    // on a single CPU).
    let mut sum_c = CpuTicks::default();
    let mut sum_p = CpuTicks::default();
    for (name, c) in &cur.cpus {
        let Some((_, pt)) = p.cpus.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let (u, _) = cpu_util(name, c, pt);
        cpu.cpus.push(u);
        add(&mut sum_c, c);
        add(&mut sum_p, pt);
    }
    let (all, _) = if cur.cpus.len() > 1 {
        cpu_util("all", &sum_c, &sum_p)
    } else {
        cpu_util("all", &cur.total, &p.total)
    };
    cpu.all = Some(all);

    // vmstat's CPU columns from the aggregate line (procps: Div without guest).
    let (c, pt) = (&cur.total, &p.total);
    let div = (dc(c.user, pt.user)
        + dc(c.nice, pt.nice)
        + dc(c.system, pt.system)
        + dc(c.irq, pt.irq)
        + dc(c.softirq, pt.softirq)
        + dc(c.idle, pt.idle)
        + dc(c.iowait, pt.iowait)
        + dc(c.steal, pt.steal))
    .max(1) as f64;
    let us_ticks = (dc(c.user, pt.user) + dc(c.nice, pt.nice))
        .saturating_sub(dc(c.guest, pt.guest) + dc(c.guest_nice, pt.guest_nice));
    vmstat.us = us_ticks as f64 * 100.0 / div;
    vmstat.sy = (dc(c.system, pt.system) + dc(c.irq, pt.irq) + dc(c.softirq, pt.softirq)) as f64
        * 100.0
        / div;
    vmstat.id = dc(c.idle, pt.idle) as f64 * 100.0 / div;
    vmstat.wa = dc(c.iowait, pt.iowait) as f64 * 100.0 / div;
    vmstat.st = dc(c.steal, pt.steal) as f64 * 100.0 / div;
    let (v, pv) = (&cur.vmstat, &p.vmstat);
    vmstat.si = rate(vm(v, "pswpin"), vm(pv, "pswpin")) * page_kib as f64;
    vmstat.so = rate(vm(v, "pswpout"), vm(pv, "pswpout")) * page_kib as f64;
    vmstat.bi = rate(vm(v, "pgpgin"), vm(pv, "pgpgin"));
    vmstat.bo = rate(vm(v, "pgpgout"), vm(pv, "pgpgout"));
    vmstat.intr = rate(cur.intr, p.intr);
    vmstat.cs = rate(cur.ctxt, p.ctxt);
    vmstat.forks_per_s = rate(cur.forks, p.forks);
    vmstat.cswch_per_s = vmstat.cs;

    let scank = rate(
        vm_prefix(v, "pgscan_kswapd"),
        vm_prefix(pv, "pgscan_kswapd"),
    );
    let scand = rate(
        vm_prefix(v, "pgscan_direct"),
        vm_prefix(pv, "pgscan_direct"),
    );
    let steal = rate(pgsteal(v), pgsteal(pv));
    let paging = Paging {
        pgpgin: vmstat.bi,
        pgpgout: vmstat.bo,
        fault: rate(vm(v, "pgfault"), vm(pv, "pgfault")),
        majflt: rate(vm(v, "pgmajfault"), vm(pv, "pgmajfault")),
        pgfree: rate(vm(v, "pgfree"), vm(pv, "pgfree")),
        pgscank: scank,
        pgscand: scand,
        pgsteal: steal,
        vmeff: if scank + scand > 0.0 {
            steal / (scank + scand) * 100.0
        } else {
            0.0
        },
        pswpin: rate(vm(v, "pswpin"), vm(pv, "pswpin")),
        pswpout: rate(vm(v, "pswpout"), vm(pv, "pswpout")),
        raw: {
            let mut r: Vec<(String, i64)> = v.iter().map(|(k, n)| (k.clone(), *n)).collect();
            r.sort();
            r
        },
    };
    Sections {
        cpu,
        vmstat,
        paging: Some(paging),
        memory,
        load,
    }
}

fn add(a: &mut CpuTicks, b: &CpuTicks) {
    a.user += b.user;
    a.nice += b.nice;
    a.system += b.system;
    a.idle += b.idle;
    a.iowait += b.iowait;
    a.irq += b.irq;
    a.softirq += b.softirq;
    a.steal += b.steal;
    a.guest += b.guest;
    a.guest_nice += b.guest_nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intr_total_and_meminfo() {
        assert_eq!(parse_intr(b"cpu 1 2 3\nintr 12345 0 1 2\nctxt 9\n"), 12345);
        assert_eq!(parse_intr(b"garbage"), 0);
        let m = parse_meminfo(b"MemTotal:       16 kB\nHugePages_Total:       3\nbad line\n");
        assert_eq!(
            m,
            vec![("MemTotal".into(), 16), ("HugePages_Total".into(), 3)]
        );
    }

    #[test]
    fn pressure_with_and_without_full() {
        let r = parse_pressure(b"some avg10=1.50 avg60=0.20 avg300=0.00 total=1234\n").unwrap();
        assert_eq!(r.some.avg10, 1.5);
        assert_eq!(r.some.total, 1234);
        assert!(r.full.is_none());
        let r = parse_pressure(
            b"some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2\n",
        )
        .unwrap();
        assert_eq!(r.full.unwrap().total, 2);
    }

    #[test]
    fn stat_without_guest_columns_parses() {
        // A 2.6.18-era /proc/stat: 8 CPU fields, no guest.
        let stat = b"cpu  100 0 50 1000 10 1 2 0\ncpu0 100 0 50 1000 10 1 2 0\nintr 500\nctxt 77\nbtime 1\nprocesses 9\nprocs_running 2\nprocs_blocked 0\n";
        let si = procfs::ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: 100,
            page_size: 4096,
            is_little_endian: true,
        };
        let ks = procfs::KernelStats::from_buf_read(&stat[..], &si).unwrap();
        let t = ticks(&ks.total);
        assert_eq!((t.user, t.steal, t.guest), (100, 0, 0));
    }

    #[test]
    fn cpu_percentages_follow_sar() {
        let p = CpuTicks {
            user: 100,
            system: 50,
            idle: 800,
            guest: 10,
            ..Default::default()
        };
        let c = CpuTicks {
            user: 160,
            system: 70,
            idle: 900,
            guest: 20,
            ..Default::default()
        };
        let (u, den) = cpu_util("0", &c, &p);
        assert_eq!(den, 180);
        assert!((u.usr - 50.0 / 180.0 * 100.0).abs() < 1e-9);
        assert!((u.guest - 10.0 / 180.0 * 100.0).abs() < 1e-9);
        assert!((u.user - 60.0 / 180.0 * 100.0).abs() < 1e-9);
        let (idle, _) = cpu_util("0", &p, &p);
        assert_eq!(idle.idle, 100.0);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = parse_intr(&b);
            let _ = parse_meminfo(&b);
            let _ = parse_pressure(&b);
            let si = procfs::ExplicitSystemInfo { boot_time_secs: 0, ticks_per_second: 100, page_size: 4096, is_little_endian: true };
            let _ = procfs::KernelStats::from_buf_read(&b[..], &si);
            let _ = procfs::VmStat::from_buf_read(&b[..]);
        }
    }
}

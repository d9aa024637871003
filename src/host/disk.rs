//! Disks as `iostat -x` shows them, from /proc/diskstats (14, 18 or 20 fields: kernels 3.10, 4.18+, 5.5+).

use super::Roots;
use crate::config::units::Pattern;
use crate::model::Collection;
use crate::model::derive::{counter, counter32, interval_s};
use crate::model::disk::{Disk, DiskTotals};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Only devices whose name matches (default: all whole devices, as iostat lists them).
    pub include: Option<Pattern>,
    /// Devices to leave out.
    pub exclude: Option<Pattern>,
    /// Also list partitions (iostat -p).
    pub partitions: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            include: None,
            exclude: None,
            partitions: false,
        }
    }
}

pub struct DiskCollector {
    cfg: Config,
    prev: HashMap<String, DiskTotals>,
    prev_up: Option<u64>,
}

/// One line of /proc/diskstats. Hand-parsed: procfs's DiskStat keeps the u32 millisecond fields as u64 and
/// fails the whole file on one odd line; we need per-line tolerance and u32 wrap semantics.
pub fn parse_line(line: &str) -> Option<(String, DiskTotals)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 14 {
        return None;
    }
    let n = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    let o = |i: usize| if f.len() > i { n(i) } else { None };
    Some((
        f[2].to_string(),
        DiskTotals {
            reads: n(3)?,
            reads_merged: n(4)?,
            sectors_read: n(5)?,
            read_ms: n(6)?,
            writes: n(7)?,
            writes_merged: n(8)?,
            sectors_written: n(9)?,
            write_ms: n(10)?,
            in_flight: n(11)?,
            io_ms: n(12)?,
            weighted_ms: n(13)?,
            discards: o(14),
            discards_merged: o(15),
            sectors_discarded: o(16),
            discard_ms: o(17),
            flushes: o(18),
            flush_ms: o(19),
        },
    ))
}

/// Counter increase (model::derive's rule); the kernel prints the millisecond fields as u32, so those wrap.
fn dl(c: u64, p: u64) -> f64 {
    counter(c, p) as f64
}
fn dms(c: u64, p: u64) -> f64 {
    counter32(c, p) as f64
}
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// iostat -x over one interval of `itv` seconds (sysstat rd_stats.c compute_ext_disk_stats).
pub fn compute(name: &str, c: &DiskTotals, p: &DiskTotals, itv: f64) -> Disk {
    let reads = dl(c.reads, p.reads);
    let writes = dl(c.writes, p.writes);
    let od = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(a), Some(b)) => dl(a, b),
        _ => 0.0,
    };
    let odm = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(a), Some(b)) => dms(a, b),
        _ => 0.0,
    };
    let discards = od(c.discards, p.discards);
    let flushes = od(c.flushes, p.flushes);
    let rmerge = dl(c.reads_merged, p.reads_merged);
    let wmerge = dl(c.writes_merged, p.writes_merged);
    let dmerge = od(c.discards_merged, p.discards_merged);
    let rsec = dl(c.sectors_read, p.sectors_read);
    let wsec = dl(c.sectors_written, p.sectors_written);
    let dsec = od(c.sectors_discarded, p.sectors_discarded);
    Disk {
        device: name.to_string(),
        r_s: reads / itv,
        w_s: writes / itv,
        d_s: discards / itv,
        f_s: flushes / itv,
        rkb_s: rsec / itv / 2.0,
        wkb_s: wsec / itv / 2.0,
        dkb_s: dsec / itv / 2.0,
        rrqm_s: rmerge / itv,
        wrqm_s: wmerge / itv,
        drqm_s: dmerge / itv,
        rrqm_pct: ratio(rmerge, rmerge + reads) * 100.0,
        wrqm_pct: ratio(wmerge, wmerge + writes) * 100.0,
        drqm_pct: ratio(dmerge, dmerge + discards) * 100.0,
        r_await: ratio(dms(c.read_ms, p.read_ms), reads),
        w_await: ratio(dms(c.write_ms, p.write_ms), writes),
        d_await: ratio(odm(c.discard_ms, p.discard_ms), discards),
        f_await: ratio(odm(c.flush_ms, p.flush_ms), flushes),
        aqu_sz: dms(c.weighted_ms, p.weighted_ms) / itv / 1000.0,
        rareq_sz: ratio(rsec, reads) / 2.0,
        wareq_sz: ratio(wsec, writes) / 2.0,
        dareq_sz: ratio(dsec, discards) / 2.0,
        util: dms(c.io_ms, p.io_ms) / itv / 10.0,
        totals: c.clone(),
    }
}

impl DiskCollector {
    pub fn new(cfg: &Config) -> Self {
        DiskCollector {
            cfg: cfg.clone(),
            prev: HashMap::new(),
            prev_up: None,
        }
    }

    fn wanted(&self, roots: &Roots, name: &str, t: &DiskTotals) -> bool {
        if let Some(p) = &self.cfg.include
            && !p.is_match(name)
        {
            return false;
        }
        if let Some(p) = &self.cfg.exclude
            && p.is_match(name)
        {
            return false;
        }
        // iostat: whole devices are those in /sys/block; devices that never did I/O are not listed.
        let whole = roots
            .sys
            .join("block")
            .join(name.replace('/', "!"))
            .exists();
        let used = t.reads + t.writes + t.discards.unwrap_or(0) + t.flushes.unwrap_or(0) > 0;
        (whole || self.cfg.partitions) && used
    }

    pub fn collect(
        &mut self,
        roots: &Roots,
        uptime_cs: u64,
        out: &mut Collection,
    ) -> anyhow::Result<()> {
        let path = roots.proc.join("diskstats");
        let text = crate::util::procfile::read_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let itv = self.prev_up.map(|p| interval_s(uptime_cs, p));
        let mut now = HashMap::new();
        for line in text.lines() {
            let Some((name, t)) = parse_line(line) else {
                continue;
            };
            if !self.wanted(roots, &name, &t) {
                continue;
            }
            match (itv, self.prev.get(&name)) {
                (Some(itv), Some(p)) => out.disks.push(compute(&name, &t, p, itv)),
                _ => out.disks.push(Disk {
                    device: name.clone(),
                    totals: t.clone(),
                    ..Default::default()
                }),
            }
            now.insert(name, t);
        }
        self.prev = now;
        self.prev_up = Some(uptime_cs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_14_18_and_20_field_lines() {
        let l14 = "   8       0 sda 100 5 800 40 200 10 1600 90 0 120 130";
        let l18 = "   8       0 sda 100 5 800 40 200 10 1600 90 0 120 130 7 1 56 3";
        let l20 = "   8       0 sda 100 5 800 40 200 10 1600 90 0 120 130 7 1 56 3 9 4";
        let (_, a) = parse_line(l14).unwrap();
        assert_eq!(
            (a.reads, a.weighted_ms, a.discards, a.flushes),
            (100, 130, None, None)
        );
        let (_, b) = parse_line(l18).unwrap();
        assert_eq!(
            (b.discards, b.discard_ms, b.flushes),
            (Some(7), Some(3), None)
        );
        let (_, c) = parse_line(l20).unwrap();
        assert_eq!((c.flushes, c.flush_ms), (Some(9), Some(4)));
        assert!(parse_line("   7 0 loop0 1 2").is_none());
    }

    #[test]
    fn iostat_formulas_and_u32_wrap() {
        let p = parse_line("8 0 sda 100 0 800 1000 0 0 0 0 0 4294967000 4294967000")
            .unwrap()
            .1;
        let c = parse_line("8 0 sda 200 100 2400 1500 0 0 0 0 1 704 704")
            .unwrap()
            .1;
        let d = compute("sda", &c, &p, 1.0);
        assert_eq!(d.r_s, 100.0);
        assert_eq!(d.rkb_s, 800.0);
        assert_eq!(d.r_await, 5.0);
        assert_eq!(d.rareq_sz, 8.0);
        assert_eq!(d.rrqm_pct, 50.0);
        // io_ms wrapped from 4294967000 to 704: 1000 ms busy in 1 s.
        assert_eq!(d.util, 100.0);
        assert_eq!(d.aqu_sz, 1.0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = parse_line(&s);
        }
    }
}

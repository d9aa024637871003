//! Kernel-wide figures node_exporter's default collectors export (uname, time, timex, filefd, conntrack,
//! entropy, softnet, arp): small files and one syscall each, read every collection as node_exporter does per
//! scrape. A file a kernel lacks (no conntrack module, an old kernel) leaves its figure out.

use super::Roots;
use crate::model::kernel::{Conntrack, Entropy, FileFd, Kernel, Softnet, Timex, Uname};
use std::collections::BTreeMap;

/// Reads every kernel-wide figure; never fails as a whole.
pub fn read(roots: &Roots) -> Kernel {
    let p = &roots.proc;
    // arp and softnet_stat are many records: read to the end; the sysctl values are single.
    let text = |rel: &str| crate::util::procfile::read_string(&p.join(rel)).ok();
    let num = |rel: &str| text(rel).and_then(|t| t.trim().parse::<u64>().ok());
    Kernel {
        uname: uname(),
        time_s: crate::util::clock::now_ms() as f64 / 1000.0,
        timex: timex(),
        filefd: text("sys/fs/file-nr").and_then(|t| parse_file_nr(&t)),
        conntrack: match (
            num("sys/net/netfilter/nf_conntrack_count"),
            num("sys/net/netfilter/nf_conntrack_max"),
        ) {
            (Some(entries), Some(limit)) => Some(Conntrack { entries, limit }),
            _ => None,
        },
        entropy: match (
            num("sys/kernel/random/entropy_avail"),
            num("sys/kernel/random/poolsize"),
        ) {
            (Some(available_bits), Some(pool_size_bits)) => Some(Entropy {
                available_bits,
                pool_size_bits,
            }),
            _ => None,
        },
        softnet: text("net/softnet_stat")
            .map(|t| parse_softnet(&t))
            .unwrap_or_default(),
        arp: text("net/arp").map(|t| parse_arp(&t)).unwrap_or_default(),
    }
}

fn uname() -> Option<Uname> {
    let u = nix::sys::utsname::uname().ok()?;
    let s = |o: &std::ffi::OsStr| o.to_string_lossy().into_owned();
    Some(Uname {
        sysname: s(u.sysname()),
        release: s(u.release()),
        version: s(u.version()),
        machine: s(u.machine()),
        nodename: s(u.nodename()),
        domainname: s(u.domainname()),
    })
}

/// adjtimex(2) with no mode bits only reads; node_exporter's timex collector converts the same way.
fn timex() -> Option<Timex> {
    // SAFETY: a zeroed timex is valid input; modes = 0 asks for no change.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    let nano = tx.status & libc::STA_NANO != 0;
    let sub = if nano { 1e9 } else { 1e6 };
    Some(Timex {
        offset_s: tx.offset as f64 / sub,
        frequency_adjustment_ratio: 1.0 + tx.freq as f64 / 65536.0 / 1e6,
        maxerror_s: tx.maxerror as f64 / 1e6,
        esterror_s: tx.esterror as f64 / 1e6,
        status: i64::from(tx.status),
        loop_time_constant: tx.constant as i64,
        tick_s: tx.tick as f64 / 1e6,
        pps_frequency_hz: tx.ppsfreq as f64 / 65536.0,
        pps_jitter_s: tx.jitter as f64 / sub,
        pps_shift_s: f64::from(tx.shift),
        pps_stability_hz: tx.stabil as f64 / 65536.0,
        pps_jitter_total: tx.jitcnt as i64,
        pps_calibration_total: tx.calcnt as i64,
        pps_error_total: tx.errcnt as i64,
        pps_stability_exceeded_total: tx.stbcnt as i64,
        tai_offset_s: i64::from(tx.tai),
        sync_status: u8::from(state != libc::TIME_ERROR),
    })
}

/// /proc/sys/fs/file-nr: "allocated  unused  maximum".
pub fn parse_file_nr(t: &str) -> Option<FileFd> {
    let mut f = t.split_whitespace().map(|v| v.parse::<u64>().ok());
    let allocated = f.next()??;
    let _unused = f.next()??;
    let maximum = f.next()??;
    Some(FileFd { allocated, maximum })
}

/// /proc/net/softnet_stat: one line per CPU of hex counters; the 13th column (5.10+) is the CPU number, else
/// the line's position.
pub fn parse_softnet(t: &str) -> Vec<Softnet> {
    t.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let v: Vec<u64> = line
                .split_whitespace()
                .map(|h| u64::from_str_radix(h, 16).ok())
                .collect::<Option<_>>()?;
            if v.len() < 3 {
                return None;
            }
            let at = |k: usize| v.get(k).copied().unwrap_or(0);
            Some(Softnet {
                cpu: v.get(12).map_or(i as u32, |&c| c as u32),
                processed: at(0),
                dropped: at(1),
                times_squeezed: at(2),
                received_rps: at(9),
                flow_limit_count: at(10),
                backlog_len: at(11),
            })
        })
        .collect()
}

/// /proc/net/arp: entries counted per device (the last column).
pub fn parse_arp(t: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in t.lines().skip(1) {
        if let Some(dev) = line.split_whitespace().nth(5) {
            *m.entry(dev.to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files() {
        assert_eq!(
            parse_file_nr("2272\t0\t9223372036854775807\n"),
            Some(FileFd {
                allocated: 2272,
                maximum: 9223372036854775807
            })
        );
        assert_eq!(parse_file_nr("12 0\n"), None);
        let s = parse_softnet(
            "00000a3c 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n\
             0001e240 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000000 00000003 00000001\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].cpu, s[0].processed, s[0].times_squeezed),
            (0, 2620, 1)
        );
        assert_eq!(
            (
                s[1].cpu,
                s[1].processed,
                s[1].dropped,
                s[1].received_rps,
                s[1].backlog_len
            ),
            (1, 123456, 2, 5, 3)
        );
        let a = parse_arp(
            "IP address       HW type     Flags       HW address            Mask     Device\n\
             10.0.2.2         0x1         0x2         52:55:0a:00:02:02     *        eth0\n\
             10.0.2.3         0x1         0x2         52:55:0a:00:02:03     *        eth0\n",
        );
        assert_eq!(a.get("eth0"), Some(&2));
    }

    #[test]
    fn live_kernel_is_read() {
        let k = read(&Roots::default());
        assert!(k.uname.is_some_and(|u| u.sysname == "Linux"));
        assert!(
            k.filefd
                .is_some_and(|f| f.allocated > 0 && f.maximum >= f.allocated)
        );
        assert!(k.timex.is_some());
        assert!(!k.softnet.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_file_nr(&s);
            let _ = parse_softnet(&s);
            let _ = parse_arp(&s);
        }
    }
}

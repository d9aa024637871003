//! Every /proc and /sys reader fed what a broken kernel file, a wrong mount or a test copy could hold: arbitrary
//! bytes, NULs, very long lines, numbers beyond u64, negatives, missing fields. The readers run end to end on a
//! fake tree (the collectors, procfs's parsers, ours) twice (rates need a previous reading): no panic, and what
//! comes out is bounded by what went in.

use super::*;
use crate::model::Collection;
use proptest::prelude::*;
use std::path::Path;

const PID: u32 = 4242;

/// Every file the host readers open, relative to the fake root (`proc/...`, `sys/...`).
const FILES: &[&str] = &[
    "proc/stat",
    "proc/meminfo",
    "proc/vmstat",
    "proc/loadavg",
    "proc/uptime",
    "proc/diskstats",
    "proc/pressure/cpu",
    "proc/pressure/memory",
    "proc/pressure/io",
    "proc/net/dev",
    "proc/net/snmp",
    "proc/net/snmp6",
    "proc/net/netstat",
    "proc/net/sockstat",
    "proc/net/sockstat6",
    "proc/net/tcp",
    "proc/net/tcp6",
    "proc/net/udp",
    "proc/net/udp6",
    "proc/net/arp",
    "proc/net/softnet_stat",
    "proc/sys/fs/file-nr",
    "proc/sys/net/netfilter/nf_conntrack_count",
    "proc/sys/net/netfilter/nf_conntrack_max",
    "proc/sys/kernel/random/entropy_avail",
    "proc/sys/kernel/random/poolsize",
    "proc/self/cgroup",
    "proc/self/mountinfo",
    "proc/4242/stat",
    "proc/4242/status",
    "proc/4242/io",
    "proc/4242/cmdline",
    "proc/4242/comm",
    "proc/4242/limits",
    "proc/4242/cgroup",
    "proc/4242/net/tcp",
    "proc/4242/net/tcp6",
    "proc/4242/task/4242/stat",
    "proc/4242/task/4243/stat",
    "sys/class/net/eth0/operstate",
    "sys/class/net/eth0/mtu",
    "sys/class/net/eth0/speed",
    "sys/class/net/eth0/duplex",
    "sys/class/net/eth0/carrier",
    "sys/class/net/eth0/flags",
    "sys/class/net/eth0/address",
    "sys/class/net/eth0/statistics/rx_bytes",
    "sys/class/net/eth0/statistics/rx_nohandler",
    "sys/block/sda/queue/rotational",
    "sys/fs/cgroup/cgroup.controllers",
    "sys/fs/cgroup/cpu.max",
    "sys/fs/cgroup/cpu.stat",
    "sys/fs/cgroup/memory.max",
    "sys/fs/cgroup/memory.current",
    "sys/fs/cgroup/memory.events",
    "sys/fs/cgroup/memory/memory.limit_in_bytes",
    "sys/fs/cgroup/memory/memory.oom_control",
    "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
    "sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
];

/// Words the parsers look for, so that generated files get past their first checks.
const KEYS: &[&str] = &[
    "cpu",
    "cpu0",
    "intr",
    "ctxt",
    "btime",
    "processes",
    "procs_running",
    "procs_blocked",
    "MemTotal:",
    "MemAvailable:",
    "HugePages_Total:",
    "kB",
    "pgpgin",
    "pswpout",
    "some",
    "full",
    "avg10=",
    "avg60=",
    "avg300=",
    "total=",
    "Tcp:",
    "TcpExt:",
    "Udp:",
    "Ip:",
    "IpExt:",
    "Udp6InDatagrams",
    "sockets:",
    "TCP:",
    "UDP:",
    "inuse",
    "orphan",
    "tw",
    "alloc",
    "mem",
    "used",
    "Inter-|",
    "face |bytes",
    "eth0:",
    "lo:",
    "sda",
    "nvme0n1",
    "8",
    "nr_periods",
    "nr_throttled",
    "throttled_time",
    "usage_usec",
    "max",
    "oom_kill",
    "0::/",
    "4:memory:/",
    "Name:",
    "State:",
    "Pid:",
    "PPid:",
    "Uid:",
    "Gid:",
    "NSpid:",
    "Threads:",
    "VmRSS:",
    "SigCgt:",
    "rchar:",
    "read_bytes:",
    "Max open files",
    "unlimited",
    "sl",
    "local_address",
    "00000000:1F90",
    "0100007F:0050",
    "0A",
    "01",
    "IP address",
    "0x1003",
    "up",
    "down",
    "(java)",
    "(a) b)",
    "R",
    "Z",
    "ext4",
    "nfs",
    "-",
    "/",
    "rw,relatime",
    "shared:1",
];

/// Numbers at and past every edge a parser could trip on.
const NUMS: &[&str] = &[
    "0",
    "1",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "-9223372036854775808",
    "9223372036854775808",
    "4294967296",
    "1e308",
    "1e309",
    "NaN",
    "inf",
    "-0.0",
    "0.5",
    "00",
    "0x",
    "0xffffffffffffffff",
    "0x10000000000000000",
];

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(|k| k.as_bytes().to_vec()),
        3 => prop::sample::select(NUMS).prop_map(|k| k.as_bytes().to_vec()),
        2 => any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        5 => prop::sample::select(&[" ", " ", "\t", ":", "=", "\n", "\n", "\0", ",", "(", ")", "|"][..])
            .prop_map(|k| k.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// One file: tokens, sometimes one of them repeated into a line of up to 256 KiB.
fn file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(token(), 0..48),
        prop::option::weighted(0.1, (token(), 1usize..256 * 1024)),
    )
        .prop_map(|(ts, long)| {
            let mut b: Vec<u8> = ts.concat();
            if let Some((t, len)) = long
                && !t.is_empty()
            {
                b.extend(t.iter().cycle().take(len));
            }
            b
        })
}

fn write_tree(root: &Path, files: &[Vec<u8>]) {
    for (rel, content) in FILES.iter().zip(files) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
}

/// Every reader over the fake tree; the collectors twice. The filesystem collector is left out: it would
/// statvfs whatever mount points the fake mountinfo names (procfs's parser of it is called directly).
fn read_all(root: &Path, input_len: usize) {
    let roots = Roots {
        proc: root.join("proc"),
        sys: root.join("sys"),
    };
    let mut cfg = HostConfig::default();
    cfg.filesystem.enabled = false;
    cfg.disk.partitions = true;
    let mut host = HostCollector::new(&cfg, roots.clone());
    for _ in 0..2 {
        let mut out = Collection::default();
        host.collect(&mut out);
        // Bounded by the input: a reader may not make more entries than the bytes it was given.
        let entries = out.disks.len()
            + out
                .net
                .as_ref()
                .map_or(0, |n| n.interfaces.len() + n.classes.len())
            + out
                .kernel
                .as_ref()
                .map_or(0, |k| k.softnet.len() + k.arp.len());
        assert!(
            entries <= input_len + 16,
            "{entries} entries from {input_len} bytes"
        );
    }
    let _ = uptime_cs(&roots);
    let _ = pidstat::read(&roots.proc, PID, 0, 100);
    let _ = pidinfo::netstat(&roots.proc, PID);
    let _ = pidinfo::open_files(&roots.proc, PID);
    let _ = pidinfo::task_ticks(&roots.proc, PID);
    let _ = pidinfo::process_figures(&roots.proc, PID, None).map(|f| f.to_text());
    let mut nc = netclass::NetClassReader::default();
    let _ = nc.read(&roots.sys, None, |_| true);
    let _ = cgroup::read_v2(&roots.sys.join("fs/cgroup"), "/");
    let _ = cgroup::read_v1(&roots.sys.join("fs/cgroup"), "/");
    use procfs::FromBufRead;
    let mi = std::fs::read(roots.proc.join("self/mountinfo")).unwrap_or_default();
    if let Ok(m) = procfs::process::MountInfos::from_buf_read(&mi[..]) {
        assert!(m.0.len() <= mi.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_reader_survives_hostile_files(files in prop::collection::vec(file(), FILES.len())) {
        let d = tempfile::tempdir().unwrap();
        write_tree(d.path(), &files);
        read_all(d.path(), files.iter().map(Vec::len).sum());
    }

    /// The text parsers alone, on raw bytes (NULs and invalid UTF-8 included), many more cases.
    #[test]
    fn text_parsers_survive_raw_bytes(b in prop::collection::vec(any::<u8>(), 0..4096), t in file()) {
        for b in [&b[..], &t[..]] {
            let s = String::from_utf8_lossy(b);
            assert!(system::parse_meminfo(b).len() <= b.len());
            let _ = system::parse_intr(b);
            let _ = system::parse_pressure(b);
            let _ = disk::parse_line(&s);
            let _ = kernel::parse_file_nr(&s);
            assert!(kernel::parse_softnet(&s).len() <= b.len());
            assert!(kernel::parse_arp(&s).len() <= b.len());
            let _ = net::parse_snmp_tcp(&s);
            let _ = net::parse_netstat_others(&s, &s, &s);
            let _ = net::parse_pairs(&s, "TcpExt:");
            let _ = net::parse_sockstat(&s, &s);
            let mut m = std::collections::HashMap::new();
            net::count_tcp(&s, &mut m);
            assert!(m.len() <= b.len());
            let _ = net::udp_queues(&s);
            let _ = cgroup::kv(&s, "nr_throttled");
            let _ = systemd::parse_show(&s);
            let _ = systemd::service_of(&s);
            let mut counts = std::collections::HashMap::new();
            let _ = sockdiag::parse(b, &mut counts);
            let si = procfs::ExplicitSystemInfo { boot_time_secs: 0, ticks_per_second: 100, page_size: 4096, is_little_endian: true };
            use procfs::{FromBufRead, FromBufReadSI, FromRead};
            let _ = procfs::KernelStats::from_buf_read(b, &si);
            let _ = procfs::VmStat::from_buf_read(b);
            let _ = procfs::LoadAverage::from_read(b);
            let _ = procfs::Uptime::from_read(b);
            let _ = pidstat::parse_stat(b);
            let _ = procfs::process::Status::from_read(b);
            let _ = procfs::process::Io::from_read(b);
            let _ = pidstat::parse_max_open_files(&s);
            let _ = procfs::process::MountInfos::from_buf_read(b);
            let _ = procfs::net::InterfaceDeviceStatus::from_buf_read(b);
            let _ = procfs::net::TcpNetEntries::from_buf_read(b, &si);
            let _ = procfs::net::UdpNetEntries::from_buf_read(b, &si);
        }
    }
}

/// Huge lengths, once each: 4 MiB without a newline, 128 Ki short lines, a number of a million digits (one
/// file, hard-linked at every path). Every reader finishes: a quadratic one would take hours on 4 MiB, so two
/// minutes in a debug build under a loaded machine is a bound that can only fail for that.
#[test]
fn every_reader_survives_huge_files() {
    let t = std::time::Instant::now();
    let shapes: [Vec<u8>; 3] = [
        vec![b'9'; 4 << 20],
        b"cpu0 1 2 3\nMemTotal: 1 kB\n".repeat(1 << 16),
        [b"intr ".as_slice(), &vec![b'7'; 1 << 20], b"\n"].concat(),
    ];
    for s in shapes {
        let d = tempfile::tempdir().unwrap();
        let one = d.path().join("one");
        std::fs::write(&one, &s).unwrap();
        for rel in FILES {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::hard_link(&one, &p).unwrap();
        }
        read_all(d.path(), s.len() * FILES.len());
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "{:?}",
        t.elapsed()
    );
}

//! Network as `sar -n DEV,EDEV,TCP,ETCP,SOCK` shows it, and TCP sockets per state as `ss -tan` counts them,
//! overall and per local listening port (a Tomcat on 8080 piling up CLOSE_WAIT shows on port 8080).

use super::Roots;
use crate::config::units::Pattern;
use crate::model::Collection;
use crate::model::derive::{counter, interval_s, per_sec};
use crate::model::net::{Interface, Net, PortStates, Sockets, Tcp};
use anyhow::Context;
use procfs::FromBufRead;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Only interfaces whose name matches.
    pub include: Option<Pattern>,
    /// Interfaces to leave out.
    pub exclude: Option<Pattern>,
    /// Count TCP sockets per state by reading /proc/net/tcp and tcp6.
    pub tcp_states: bool,
    /// At most this many listening ports get per-port state counts (bounded series).
    pub max_ports: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            include: None,
            exclude: None,
            tcp_states: true,
            max_ports: 64,
        }
    }
}

/// ss's state names, indexed by the kernel's state number.
pub const STATES: [&str; 13] = [
    "UNKNOWN",
    "ESTAB",
    "SYN-SENT",
    "SYN-RECV",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
    "UNCONN",
    "CLOSE-WAIT",
    "LAST-ACK",
    "LISTEN",
    "CLOSING",
    "NEW-SYN-RECV",
];

#[derive(Default, Clone)]
struct RawNet {
    dev: Vec<(String, [u64; 16])>,
    tcp: HashMap<String, i64>,
    up: u64,
}

pub struct NetCollector {
    cfg: Config,
    prev: Option<RawNet>,
    class: super::netclass::NetClassReader,
    /// The last TCP state counts, when they were taken and what taking them cost.
    tcp_taken: Option<TcpTaken>,
    /// The least time between two TCP-state counts; None: every reading.
    tcp_states_gap: Option<std::time::Duration>,
}

/// When TCP states were last counted, what it cost, and the counts (overall, per listening port).
type TcpTaken = (
    std::time::Instant,
    std::time::Duration,
    BTreeMap<String, u64>,
    Vec<PortStates>,
);

/// TCP states by port cost in proportion to the host's sockets (the kernel walks its whole connection hash,
/// sized by RAM, on each of the two netlink dumps: ~0.6-1.5 ms on a small host, 20 ms at ~19,000 sockets).
/// The daemon counts them no more often than every [`TCP_STATES_MIN_GAP`], and no more often than keeps the
/// counting at 0.1 % of one core (a count that took 20 ms is taken again 20 s later); in between the last count
/// is kept and its age exposed (`wasp_tcp_states_age_seconds`). `wasp once` counts at every reading. The TCP
/// counters of sar -n TCP/ETCP and the socket totals of sockstat are read every collection.
const TCP_STATES_COST_SHARE: u32 = 1000;

/// Dashboards scrape every 15 s or more and states move slowly next to the rates: a 5-s-old count costs no
/// view, and counting every fifth second instead of every second is ~7 % of a 1-s agent's CPU.
pub const TCP_STATES_MIN_GAP: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether TCP states are counted again, `since` the last count that took `cost`; `min_gap` None: always.
fn tcp_states_due(
    since: std::time::Duration,
    cost: std::time::Duration,
    min_gap: Option<std::time::Duration>,
) -> bool {
    min_gap.is_none_or(|g| since >= g.max(cost * TCP_STATES_COST_SHARE))
}

fn dev_counters(d: &procfs::net::DeviceStatus) -> [u64; 16] {
    [
        d.recv_bytes,
        d.recv_packets,
        d.recv_errs,
        d.recv_drop,
        d.recv_fifo,
        d.recv_frame,
        d.recv_compressed,
        d.recv_multicast,
        d.sent_bytes,
        d.sent_packets,
        d.sent_errs,
        d.sent_drop,
        d.sent_fifo,
        d.sent_colls,
        d.sent_carrier,
        d.sent_compressed,
    ]
}

/// The `Tcp:` name/value line pair of /proc/net/snmp, by name. Hand-parsed: procfs's Snmp requires fields
/// (InCsumErrors, Ip's newer ones) that older kernels lack.
pub fn parse_snmp_tcp(text: &str) -> HashMap<String, i64> {
    parse_pairs(text, "Tcp:")
}

/// TcpExt counters of /proc/net/netstat that node_exporter exports by default (listen queue overflows and
/// drops, SYN cookies, SYN retransmits, timeouts, out-of-order queueing): what a WAS under a connection storm
/// shows first.
pub const TCPEXT: &[&str] = &[
    "ListenOverflows",
    "ListenDrops",
    "SyncookiesSent",
    "SyncookiesRecv",
    "SyncookiesFailed",
    "TCPSynRetrans",
    "TCPTimeouts",
    "TCPOFOQueue",
];

/// node_exporter's default `--collector.netstat.fields`, less the Tcp and TcpExt fields exported above.
const NETSTAT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// Counters of the protocols other than Tcp in /proc/net/snmp, netstat (pairs of lines) and snmp6 (one
/// "Ip6InOctets 123" line each), named "Proto_Field" and filtered as node_exporter does by default.
pub fn parse_netstat_others(snmp: &str, netstat: &str, snmp6: &str) -> Vec<(String, i64)> {
    static FIELDS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(NETSTAT_FIELDS).expect("a valid pattern"));
    let mut out = Vec::new();
    for text in [snmp, netstat] {
        let mut lines = text.lines();
        while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
            let (Some((proto, names)), Some((_, values))) =
                (names.split_once(':'), values.split_once(':'))
            else {
                break;
            };
            if proto.starts_with("Tcp") {
                continue;
            }
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse::<i64>() {
                    out.push((format!("{proto}_{n}"), v));
                }
            }
        }
    }
    for line in snmp6.lines() {
        let mut f = line.split_whitespace();
        let (Some(key), Some(Ok(v))) = (f.next(), f.next().map(str::parse::<i64>)) else {
            continue;
        };
        let split = ["UdpLite6", "Icmp6", "Udp6", "Ip6"]
            .iter()
            .find_map(|p| key.strip_prefix(p).map(|rest| (*p, rest)));
        if let Some((proto, field)) = split
            && !field.is_empty()
            && !field.starts_with(|c: char| c.is_ascii_digit() || c == '_')
        {
            out.push((format!("{proto}_{field}"), v));
        }
    }
    out.retain(|(k, _)| FIELDS.is_match(k));
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// A "Proto: names" / "Proto: values" line pair (snmp and netstat files), by name; kernels add fields anywhere.
pub fn parse_pairs(text: &str, proto: &str) -> HashMap<String, i64> {
    let mut lines = text.lines().filter(|l| l.starts_with(proto));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return HashMap::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
        .collect()
}

/// /proc/net/sockstat and sockstat6 (procfs does not parse them).
pub fn parse_sockstat(v4: &str, v6: &str) -> Sockets {
    let mut kv: HashMap<String, u64> = HashMap::new();
    let mut fields = Vec::new();
    for line in v4.lines().chain(v6.lines()) {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        for pair in f.chunks(2) {
            if let [k, v] = pair
                && let Ok(n) = v.parse()
            {
                kv.insert(format!("{proto}:{k}"), n);
                fields.push((proto.to_string(), k.to_string(), n));
            }
        }
    }
    let g = |k: &str| kv.get(k).copied().unwrap_or(0);
    Sockets {
        totsck: g("sockets:used"),
        tcpsck: g("TCP:inuse"),
        udpsck: g("UDP:inuse"),
        rawsck: g("RAW:inuse"),
        ip_frag: g("FRAG:inuse"),
        tcp_tw: g("TCP:tw"),
        tcp_alloc: g("TCP:alloc"),
        tcp_orphan: g("TCP:orphan"),
        tcp6sck: g("TCP6:inuse"),
        fields,
        page_bytes: nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096, |p| p as u64),
    }
}

/// Counts of /proc/net/tcp{,6} lines by (local port, state), the fallback to sock_diag. Hand-parsed on
/// purpose: procfs decodes both addresses of every socket into allocations, and we need two fields.
pub fn count_tcp(text: &str, by_port: &mut HashMap<(u16, u8), u64>) {
    for line in text.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_rem), Some(st)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Some(port) = local
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(st, 16) else {
            continue;
        };
        *by_port.entry((port, state)).or_default() += 1;
    }
}

/// (tx, rx) bytes queued on every UDP socket of /proc/net/udp or udp6 (its `tx_queue:rx_queue` hex column),
/// as node_exporter's udp_queues collector sums them; None for a file without the header (absent, no IPv6).
pub fn udp_queues(text: &str) -> Option<(u64, u64)> {
    let mut lines = text.lines();
    if !lines.next()?.contains("tx_queue") {
        return None;
    }
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in lines {
        let Some((t, r)) = line
            .split_whitespace()
            .nth(4)
            .and_then(|q| q.split_once(':'))
        else {
            continue;
        };
        if let (Ok(t), Ok(r)) = (u64::from_str_radix(t, 16), u64::from_str_radix(r, 16)) {
            tx = tx.saturating_add(t);
            rx = rx.saturating_add(r);
        }
    }
    Some((tx, rx))
}

/// sar %ifutil: full duplex max(rx, tx), half duplex rx + tx, over the link speed in Mb/s (0 when unknown).
pub fn ifutil(rx_bytes_s: f64, tx_bytes_s: f64, speed_mbps: Option<u64>, full_duplex: bool) -> f64 {
    match speed_mbps {
        Some(s) if s > 0 => {
            let bits = if full_duplex {
                rx_bytes_s.max(tx_bytes_s)
            } else {
                rx_bytes_s + tx_bytes_s
            } * 8.0;
            bits / (s as f64 * 1e6) * 100.0
        }
        _ => 0.0,
    }
}

fn wanted(cfg: &Config, name: &str) -> bool {
    !(cfg.include.as_ref().is_some_and(|p| !p.is_match(name))
        || cfg.exclude.as_ref().is_some_and(|p| p.is_match(name)))
}

impl NetCollector {
    pub fn new(cfg: &Config) -> Self {
        NetCollector {
            cfg: cfg.clone(),
            prev: None,
            class: Default::default(),
            tcp_taken: None,
            tcp_states_gap: Some(TCP_STATES_MIN_GAP),
        }
    }

    /// Counts TCP states at every reading (`wasp once`: two readings a second apart, each must be of its moment).
    pub fn count_tcp_states_every_time(&mut self) {
        self.tcp_states_gap = None;
    }

    fn wanted(&self, name: &str) -> bool {
        wanted(&self.cfg, name)
    }

    pub fn collect(
        &mut self,
        roots: &Roots,
        uptime_cs: u64,
        out: &mut Collection,
    ) -> anyhow::Result<()> {
        let p = roots.proc.join("net");
        // The live host's links in one rtnetlink dump (the counters /proc/net/dev prints, and the link state
        // sysfs gives file by file); the files for a captured /proc or /sys, or when netlink is refused.
        let live = roots.proc == std::path::Path::new("/proc")
            && roots.sys == std::path::Path::new("/sys");
        let links = live.then(super::rtnl::links).and_then(Result::ok);
        let from_links: Option<Vec<(String, [u64; 16])>> = links.as_ref().and_then(|ls| {
            ls.iter()
                .filter(|l| self.wanted(&l.name))
                .map(|l| Some((l.name.clone(), l.dev_counters()?)))
                .collect()
        });
        let mut dev = match from_links {
            Some(d) => d,
            None => {
                let dev_path = p.join("dev");
                let bytes = crate::util::procfile::read(&dev_path)
                    .with_context(|| format!("reading {}", dev_path.display()))?;
                let devs = procfs::net::InterfaceDeviceStatus::from_buf_read(&bytes[..])
                    .with_context(|| format!("parsing {}", dev_path.display()))?;
                devs.0
                    .values()
                    .filter(|d| self.wanted(&d.name))
                    .map(|d| (d.name.clone(), dev_counters(d)))
                    .collect::<Vec<_>>()
            }
        };
        dev.sort_by(|a, b| a.0.cmp(&b.0));
        let snmp = crate::util::procfile::read_attr_string(&p.join("snmp")).unwrap_or_default();
        let netstat =
            crate::util::procfile::read_attr_string(&p.join("netstat")).unwrap_or_default();
        let ext = parse_pairs(&netstat, "TcpExt:");
        let snmp6 = crate::util::procfile::read_attr_string(&p.join("snmp6")).unwrap_or_default();
        let netstat_others = parse_netstat_others(&snmp, &netstat, &snmp6);
        let cur = RawNet {
            dev,
            tcp: parse_snmp_tcp(&snmp),
            up: uptime_cs,
        };
        let itv = self.prev.as_ref().map(|pr| interval_s(uptime_cs, pr.up));

        let cfg = &self.cfg;
        let mut net = Net {
            classes: self
                .class
                .read(&roots.sys, links.as_deref(), |n| wanted(cfg, n)),
            ..Default::default()
        };
        for (name, c) in &cur.dev {
            let prev = self
                .prev
                .as_ref()
                .and_then(|pr| pr.dev.iter().find(|(n, _)| n == name))
                .map(|(_, v)| v);
            let mut i = Interface {
                iface: name.clone(),
                totals: *c,
                ..Default::default()
            };
            // sar: a counter that went down means the interface was re-registered; start it from zero.
            if let (Some(itv), Some(pv)) = (itv, prev) {
                // An interface restarted: every counter from zero (sysstat), whichever went back.
                let pv = if (0..16).any(|k| c[k] < pv[k]) {
                    &[0u64; 16]
                } else {
                    pv
                };
                let r = |k: usize| per_sec(counter(c[k], pv[k]), itv);
                i.rxkb = r(0) / 1024.0;
                i.rxpck = r(1);
                i.rxerr = r(2);
                i.rxdrop = r(3);
                i.rxfifo = r(4);
                i.rxfram = r(5);
                i.rxcmp = r(6);
                i.rxmcst = r(7);
                i.txkb = r(8) / 1024.0;
                i.txpck = r(9);
                i.txerr = r(10);
                i.txdrop = r(11);
                i.txfifo = r(12);
                i.coll = r(13);
                i.txcarr = r(14);
                i.txcmp = r(15);
                let class = net.classes.iter().find(|c| &c.device == name);
                let speed = class
                    .and_then(|c| c.numbers.iter().find(|(k, _)| *k == "speed_bytes"))
                    .map(|(_, b)| b / 125_000)
                    .filter(|&s| s > 0)
                    .map(|s| s as u64);
                let full = class.is_some_and(|c| c.duplex == "full");
                i.ifutil = ifutil(r(0), r(8), speed, full);
            }
            net.interfaces.push(i);
        }
        out.net = Some(net);

        let mut tcp = Tcp {
            ext: TCPEXT
                .iter()
                .filter_map(|k| Some((k.to_string(), *ext.get(*k)?)))
                .collect(),
            netstat: netstat_others,
            udp_queues: [("v4", "udp"), ("v6", "udp6")]
                .into_iter()
                .filter_map(|(ip, f)| {
                    let text = crate::util::procfile::read_string(&p.join(f)).ok()?;
                    let (tx, rx) = udp_queues(&text)?;
                    Some((ip, tx, rx))
                })
                .collect(),
            snmp: {
                let mut v: Vec<(String, i64)> =
                    cur.tcp.iter().map(|(k, v)| (k.clone(), *v)).collect();
                v.sort();
                v
            },
            ..Default::default()
        };
        if let (Some(itv), Some(pr)) = (itv, &self.prev) {
            let r = |k: &str| {
                let (c, p) = (
                    cur.tcp.get(k).copied().unwrap_or(0),
                    pr.tcp.get(k).copied().unwrap_or(0),
                );
                per_sec(counter(c.max(0) as u64, p.max(0) as u64), itv)
            };
            tcp.active = r("ActiveOpens");
            tcp.passive = r("PassiveOpens");
            tcp.iseg = r("InSegs");
            tcp.oseg = r("OutSegs");
            tcp.atmptf = r("AttemptFails");
            tcp.estres = r("EstabResets");
            tcp.retrans = r("RetransSegs");
            tcp.isegerr = r("InErrs");
            tcp.orsts = r("OutRsts");
        }
        let due = self.tcp_taken.as_ref().is_none_or(|(at, cost, _, _)| {
            tcp_states_due(at.elapsed(), *cost, self.tcp_states_gap)
        });
        if self.cfg.tcp_states && !due {
            let (at, _, states, ports) = self.tcp_taken.as_ref().expect("not due: taken");
            tcp.states = states.clone();
            tcp.ports = ports.clone();
            tcp.states_age_s = at.elapsed().as_secs_f64();
        } else if self.cfg.tcp_states {
            let started = std::time::Instant::now();
            // Netlink for the live host; the files when replaying a captured /proc (or when netlink is refused).
            let live = roots.proc == std::path::Path::new("/proc");
            let by_port = match live.then(super::sockdiag::tcp_counts) {
                Some(Ok(c)) => c,
                _ => {
                    let mut by_port = HashMap::new();
                    for f in ["tcp", "tcp6"] {
                        if let Ok(t) = crate::util::procfile::read_string(&p.join(f)) {
                            count_tcp(&t, &mut by_port);
                        }
                    }
                    by_port
                }
            };
            let mut states = [0u64; 13];
            let mut listening: Vec<u16> = Vec::new();
            for (&(port, st), &n) in &by_port {
                if let Some(s) = states.get_mut(st as usize) {
                    *s += n;
                }
                if st == 10 && !listening.contains(&port) {
                    listening.push(port);
                }
            }
            listening.sort_unstable();
            if listening.len() > self.cfg.max_ports {
                tracing::debug!(
                    ports = listening.len(),
                    max = self.cfg.max_ports,
                    "more listening ports than max_ports; the lowest are kept"
                );
                listening.truncate(self.cfg.max_ports);
            }
            tcp.states = STATES
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, _)| *i != 12)
                .map(|(i, n)| (n.to_string(), states[i]))
                .collect::<BTreeMap<_, _>>();
            for port in listening {
                let mut per: BTreeMap<u8, u64> = BTreeMap::new();
                for (&(pt, st), &n) in &by_port {
                    if pt == port && st != 10 {
                        *per.entry(st).or_default() += n;
                    }
                }
                tcp.ports.push(PortStates {
                    port,
                    states: per
                        .into_iter()
                        .filter_map(|(s, n)| Some((STATES.get(s as usize)?.to_string(), n)))
                        .collect(),
                });
            }
            self.tcp_taken = Some((
                started,
                started.elapsed(),
                tcp.states.clone(),
                tcp.ports.clone(),
            ));
        }
        out.tcp = Some(tcp);
        let ss4 = crate::util::procfile::read_attr_string(&p.join("sockstat")).unwrap_or_default();
        let ss6 = crate::util::procfile::read_attr_string(&p.join("sockstat6")).unwrap_or_default();
        if !ss4.is_empty() {
            out.sockets = Some(parse_sockstat(&ss4, &ss6));
        }
        self.prev = Some(cur);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_states_are_counted_every_5s_and_no_more_often_than_costs_a_thousandth_of_a_core() {
        let ms = std::time::Duration::from_millis;
        let gap = Some(TCP_STATES_MIN_GAP);
        // A small host (1 ms to count): every fifth second.
        assert!(!tcp_states_due(ms(4999), ms(1), gap));
        assert!(tcp_states_due(ms(5000), ms(1), gap));
        // 19,000 sockets at 20 ms: kept for 20 s.
        assert!(!tcp_states_due(ms(19_999), ms(20), gap));
        assert!(tcp_states_due(ms(20_000), ms(20), gap));
        // `wasp once`: at every reading, whatever it costs.
        assert!(tcp_states_due(ms(100), ms(20), None));
    }

    #[test]
    fn other_protocols_as_node_exporter_names_them() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives InHdrErrors\nIp: 2 64 100 3\n\
                    Icmp: InMsgs InErrors OutMsgs\nIcmp: 5 1 6\n\
                    Tcp: ActiveOpens\nTcp: 9\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\nUdp: 10 2 0 11 0 0 0\n";
        let netstat = "IpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 1000 2000\n";
        let snmp6 = "Ip6InReceives                   \t7\nIp6InOctets 70\nIcmp6InMsgs 3\nIcmp6OutType133 1\nUdp6InDatagrams 4\nUdpLite6InErrors 0\n";
        let m: HashMap<String, i64> = parse_netstat_others(snmp, netstat, snmp6)
            .into_iter()
            .collect();
        for (k, v) in [
            ("Ip_Forwarding", 2),
            ("Icmp_InMsgs", 5),
            ("Icmp_InErrors", 1),
            ("Udp_InDatagrams", 10),
            ("Udp_InErrors", 0),
            ("IpExt_InOctets", 1000),
            ("Ip6_InOctets", 70),
            ("Icmp6_InMsgs", 3),
            ("Udp6_InDatagrams", 4),
            ("UdpLite6_InErrors", 0),
        ] {
            assert_eq!(m.get(k), Some(&v), "{k} in {m:?}");
        }
        assert!(!m.contains_key("Ip_DefaultTTL") && !m.contains_key("Tcp_ActiveOpens"));
        assert!(!m.keys().any(|k| k.contains("Type133")));
    }

    #[test]
    fn old_kernel_snmp_without_incsumerrors() {
        let t = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts\nTcp: 1 200 120000 -1 10 20 1 2 3 400 500 6 0 7\n";
        let m = parse_snmp_tcp(t);
        assert_eq!(m["MaxConn"], -1);
        assert_eq!(m["RetransSegs"], 6);
        assert!(!m.contains_key("InCsumErrors"));
    }

    #[test]
    fn old_kernel_netstat_lacks_newer_fields() {
        // A 3.10-era TcpExt line: no TCPOFOQueue's newer neighbours, fields in another order than 6.x.
        let t = "TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts ListenOverflows ListenDrops TCPTimeouts\nTcpExt: 1 2 3 4 50 51 9\nIpExt: InNoRoutes\nIpExt: 0\n";
        let m = parse_pairs(t, "TcpExt:");
        assert_eq!(
            (m["ListenOverflows"], m["ListenDrops"], m["TCPTimeouts"]),
            (50, 51, 9)
        );
        assert!(!m.contains_key("TCPSynRetrans"));
        assert_eq!(parse_pairs(t, "IpExt:")["InNoRoutes"], 0);
    }

    #[test]
    fn sockstat_and_tcp_lines() {
        let s = parse_sockstat(
            "sockets: used 120\nTCP: inuse 5 orphan 0 tw 3 alloc 9 mem 1\nUDP: inuse 2 mem 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
            "TCP6: inuse 4\n",
        );
        assert_eq!(
            (s.totsck, s.tcpsck, s.tcp_tw, s.tcp6sck, s.udpsck),
            (120, 5, 3, 4, 2)
        );
        let mut m = HashMap::new();
        count_tcp(
            "  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 0100007F:1F90 0100007F:C350 08 0\n",
            &mut m,
        );
        assert_eq!(m[&(8080, 10)], 1);
        assert_eq!(m[&(8080, 8)], 1);
    }

    #[test]
    fn udp_queues_summed_as_node_exporter_does() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 \x20 1: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 1 2 0 0\n\
                 \x20 2: 0100007F:0035 00000000:0000 07 00000001:00000000 00:00000000 00000000   101        0 2 2 0 0\n\
                 \x20 3: garbage\n";
        assert_eq!(udp_queues(t), Some((0x11, 0x200)));
        assert_eq!(udp_queues(""), None);
    }

    #[test]
    fn ifutil_like_sar() {
        // 39137.89 kB/s on 10 Gb/s full duplex: 3.21 %.
        let v = ifutil(39137.89 * 1024.0, 0.0, Some(10000), true);
        assert_eq!(format!("{v:.2}"), "3.21");
        assert_eq!(ifutil(1.0, 1.0, None, true), 0.0);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,400}") {
            let _ = parse_snmp_tcp(&s);
            let _ = parse_netstat_others(&s, &s, &s);
            let _ = parse_pairs(&s, "TcpExt:");
            let _ = parse_sockstat(&s, &s);
            let mut m = HashMap::new();
            count_tcp(&s, &mut m);
            let _ = udp_queues(&s);
        }
    }
}

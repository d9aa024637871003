//! Links through rtnetlink (RTM_GETLINK), as `ip -s link` reads them: one dump gives each interface's counters
//! (the ones /proc/net/dev prints, from the same `dev_get_stats`), its flags, operational state and carrier
//! change counts, which otherwise cost seven sysfs opens per interface every collection (~12 µs each here).

use super::netlink;
use std::io;

const NETLINK_ROUTE: i32 = 0;
const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
// linux/if_link.h
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_STATS64: u16 = 23;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
/// ifinfomsg: family, pad, type, index, flags, change.
const IFINFOMSG: usize = 16;
/// u64 fields of struct rtnl_link_stats64 read here (rx_nohandler is the 24th; kernels from 4.6 send it).
pub const STATS: usize = 24;

/// The sysfs names of IF_OPER_* (net/core/net-sysfs.c), indexed by the netlink value.
const OPERSTATES: [&str; 7] = [
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub name: String,
    /// dev_get_flags(): IFF_UP, IFF_LOWER_UP (carrier, while up), IFF_DORMANT (while up), ...
    pub flags: u32,
    pub operstate: String,
    pub carrier_changes: Option<u32>,
    pub carrier_up: Option<u32>,
    pub carrier_down: Option<u32>,
    /// rtnl_link_stats64 as the kernel sent it; fields it did not send are 0.
    pub stats: Option<[u64; STATS]>,
}

impl Link {
    fn running(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    /// sysfs `carrier`: only while the interface is up (EINVAL otherwise, and node_exporter leaves it out).
    pub fn carrier(&self) -> Option<i64> {
        self.running()
            .then_some((self.flags & libc::IFF_LOWER_UP as u32 != 0) as i64)
    }

    /// sysfs `dormant`: only while up.
    pub fn dormant(&self) -> Option<i64> {
        self.running()
            .then_some((self.flags & libc::IFF_DORMANT as u32 != 0) as i64)
    }

    /// The 16 columns of /proc/net/dev, summed as net/core/net-procfs.c sums them.
    pub fn dev_counters(&self) -> Option<[u64; 16]> {
        let s = self.stats?;
        let [
            rx_packets,
            tx_packets,
            rx_bytes,
            tx_bytes,
            rx_errors,
            tx_errors,
            rx_dropped,
            tx_dropped,
            multicast,
            collisions,
            rx_length,
            rx_over,
            rx_crc,
            rx_frame,
            rx_fifo,
            rx_missed,
            tx_aborted,
            tx_carrier,
            tx_fifo,
            tx_heartbeat,
            tx_window,
            rx_compressed,
            tx_compressed,
            _rx_nohandler,
        ] = s;
        let sum = |v: &[u64]| v.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        Some([
            rx_bytes,
            rx_packets,
            rx_errors,
            sum(&[rx_dropped, rx_missed]),
            rx_fifo,
            sum(&[rx_length, rx_over, rx_crc, rx_frame]),
            rx_compressed,
            multicast,
            tx_bytes,
            tx_packets,
            tx_errors,
            tx_dropped,
            tx_fifo,
            collisions,
            sum(&[tx_carrier, tx_aborted, tx_window, tx_heartbeat]),
            tx_compressed,
        ])
    }

    pub fn rx_nohandler(&self) -> Option<u64> {
        self.stats.map(|s| s[STATS - 1])
    }
}

/// Every link of the agent's network namespace.
pub fn links() -> io::Result<Vec<Link>> {
    let mut out = Vec::new();
    // ifinfomsg with AF_UNSPEC: every link.
    let req = netlink::request(RTM_GETLINK, &[0u8; IFINFOMSG]);
    netlink::dump(NETLINK_ROUTE, &req, |ty, m| {
        if ty == RTM_NEWLINK
            && let Some(l) = parse_link(m)
        {
            out.push(l);
        }
    })?;
    Ok(out)
}

/// One RTM_NEWLINK body; None when it has no name. Never panics.
pub fn parse_link(m: &[u8]) -> Option<Link> {
    let fixed = m.get(..IFINFOMSG)?;
    let mut l = Link {
        flags: u32::from_ne_bytes(fixed[8..12].try_into().ok()?),
        ..Default::default()
    };
    let u32_of = |p: &[u8]| Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?));
    for (ty, p) in netlink::attributes(&m[IFINFOMSG..]) {
        match ty {
            IFLA_IFNAME => {
                let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                l.name = String::from_utf8_lossy(&p[..end]).into_owned();
            }
            IFLA_OPERSTATE => {
                l.operstate = p
                    .first()
                    .and_then(|&o| OPERSTATES.get(o as usize))
                    .unwrap_or(&"unknown")
                    .to_string();
            }
            IFLA_CARRIER_CHANGES => l.carrier_changes = u32_of(p),
            IFLA_CARRIER_UP_COUNT => l.carrier_up = u32_of(p),
            IFLA_CARRIER_DOWN_COUNT => l.carrier_down = u32_of(p),
            IFLA_STATS64 => {
                let mut s = [0u64; STATS];
                for (i, c) in p.chunks_exact(8).take(STATS).enumerate() {
                    s[i] = u64::from_ne_bytes(c.try_into().ok()?);
                }
                l.stats = Some(s);
            }
            _ => {}
        }
    }
    (!l.name.is_empty()).then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_net_dev() -> std::collections::HashMap<String, Vec<u64>> {
        std::fs::read_to_string("/proc/net/dev")
            .unwrap()
            .lines()
            .filter_map(|x| {
                let (name, cols) = x.split_once(':')?;
                let cols: Vec<u64> = cols
                    .split_whitespace()
                    .map(|v| v.parse().unwrap())
                    .collect();
                (cols.len() == 16).then(|| (name.trim().to_string(), cols))
            })
            .collect()
    }

    /// Every link's figures as sysfs and /proc/net/dev show them: the counters of a link that did not move
    /// between two /proc readings around the dump are equal; until one link has held still, read again.
    #[test]
    fn every_link_agrees_with_sysfs_and_proc_net_dev() {
        let mut compared = 0;
        for _ in 0..50 {
            let before = proc_net_dev();
            let links = links().unwrap();
            let after = proc_net_dev();
            assert!(links.iter().any(|l| l.name == "lo"), "{links:?}");
            assert_eq!(links.len(), after.len(), "{links:?}");
            for l in &links {
                let d = std::path::Path::new("/sys/class/net").join(&l.name);
                let sysfs = |f: &str| {
                    std::fs::read_to_string(d.join(f))
                        .ok()
                        .map(|s| s.trim().to_string())
                };
                assert_eq!(
                    sysfs("operstate").as_deref(),
                    Some(l.operstate.as_str()),
                    "{}",
                    l.name
                );
                assert_eq!(
                    sysfs("carrier"),
                    l.carrier().map(|v| v.to_string()),
                    "{}",
                    l.name
                );
                assert_eq!(
                    sysfs("dormant"),
                    l.dormant().map(|v| v.to_string()),
                    "{}",
                    l.name
                );
                let count = |v: Option<u32>| v.map(|v| v.to_string());
                assert_eq!(
                    sysfs("carrier_changes"),
                    count(l.carrier_changes),
                    "{}",
                    l.name
                );
                assert_eq!(sysfs("carrier_up_count"), count(l.carrier_up), "{}", l.name);
                assert_eq!(
                    sysfs("carrier_down_count"),
                    count(l.carrier_down),
                    "{}",
                    l.name
                );
                if before.get(&l.name) == after.get(&l.name) {
                    let nohandler = sysfs("statistics/rx_nohandler");
                    assert_eq!(
                        nohandler,
                        l.rx_nohandler().map(|v| v.to_string()),
                        "{}",
                        l.name
                    );
                    assert_eq!(
                        l.dev_counters().map(|c| c.to_vec()).as_ref(),
                        after.get(&l.name),
                        "{}",
                        l.name
                    );
                    compared += 1;
                }
            }
            if compared > 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("no link held still for a whole reading");
    }

    proptest::proptest! {
        #[test]
        fn parse_link_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_link(&b);
        }
    }
}

//! /sys/class/net/<device>/*: node_exporter's netclass figures (link up, carrier, speed, MTU, flags...).
//!
//! What changes with the link (operstate, carrier and its change counts) is read every collection; what is set
//! by configuration (speed, MTU, addresses, flags, queue length) every [`STATIC_EVERY`] collections and when an
//! interface appears. A file the driver refuses to answer (speed of a down link: EINVAL) is left out, as
//! node_exporter does.

use crate::model::net::NetClass;
use std::collections::BTreeMap;
use std::path::Path;

/// Collections between two readings of the configuration-set files.
pub const STATIC_EVERY: u64 = 12;

/// Files read every collection: (file, metric suffix).
const VOLATILE: &[(&str, &str)] = &[
    ("carrier", "carrier"),
    ("carrier_changes", "carrier_changes_total"),
    ("carrier_up_count", "carrier_up_changes_total"),
    ("carrier_down_count", "carrier_down_changes_total"),
    ("dormant", "dormant"),
    // node_exporter's netdev has it from netlink; /proc/net/dev does not.
    ("statistics/rx_nohandler", "receive_nohandler_total"),
];

/// Numeric files that only configuration changes: (file, metric suffix).
const STATIC: &[(&str, &str)] = &[
    ("addr_assign_type", "address_assign_type"),
    ("dev_id", "device_id"),
    ("flags", "flags"),
    ("ifindex", "iface_id"),
    ("iflink", "iface_link"),
    ("link_mode", "iface_link_mode"),
    ("mtu", "mtu_bytes"),
    ("name_assign_type", "name_assign_type"),
    ("netdev_group", "net_dev_group"),
    ("type", "protocol_type"),
    ("speed", "speed_bytes"),
    ("tx_queue_len", "transmit_queue_length"),
];

#[derive(Default)]
pub struct NetClassReader {
    tick: u64,
    last: BTreeMap<String, NetClass>,
}

fn read_small(p: &Path) -> Option<String> {
    let s = crate::util::procfile::read_attr_string(p).ok()?;
    Some(s.trim_end_matches('\n').to_string())
}

/// sysfs numbers are decimal, `flags` and `dev_id` hexadecimal (0x...).
fn number(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => s.trim().parse().ok(),
    }
}

impl NetClassReader {
    /// Every device under `sys/class/net` that `wanted` keeps; the volatile figures from `links` (rtnetlink,
    /// the same kernel values) where it has the device, from sysfs otherwise.
    pub fn read(
        &mut self,
        sys: &Path,
        links: Option<&[super::rtnl::Link]>,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<NetClass> {
        let base = sys.join("class/net");
        let refresh_all = self.tick.is_multiple_of(STATIC_EVERY);
        self.tick += 1;
        let Ok(dir) = std::fs::read_dir(&base) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| wanted(n))
            .collect();
        names.sort();
        let mut now = BTreeMap::new();
        for name in names {
            let d = base.join(&name);
            let mut c = match self.last.remove(&name) {
                Some(c) if !refresh_all => c,
                _ => read_static(&d, &name),
            };
            c.numbers
                .retain(|(k, _)| !VOLATILE.iter().any(|(_, m)| m == k));
            match links.and_then(|ls| ls.iter().find(|l| l.name == name)) {
                Some(l) => {
                    let count = |v: Option<u32>| v.map(i64::from);
                    let nohandler = l.rx_nohandler().and_then(|v| i64::try_from(v).ok());
                    for (metric, v) in [
                        ("carrier", l.carrier()),
                        ("carrier_changes_total", count(l.carrier_changes)),
                        ("carrier_up_changes_total", count(l.carrier_up)),
                        ("carrier_down_changes_total", count(l.carrier_down)),
                        ("dormant", l.dormant()),
                        ("receive_nohandler_total", nohandler),
                    ] {
                        if let Some(v) = v {
                            c.numbers.push((metric, v));
                        }
                    }
                    c.operstate = l.operstate.clone();
                }
                None => {
                    for (file, metric) in VOLATILE {
                        if let Some(v) = read_small(&d.join(file)).as_deref().and_then(number) {
                            c.numbers.push((metric, v));
                        }
                    }
                    c.operstate = read_small(&d.join("operstate")).unwrap_or_default();
                }
            }
            now.insert(name, c);
        }
        self.last = now;
        self.last.values().cloned().collect()
    }
}

fn read_static(d: &Path, name: &str) -> NetClass {
    let mut numbers = Vec::new();
    for (file, metric) in STATIC {
        if let Some(v) = read_small(&d.join(file)).as_deref().and_then(number) {
            // speed is in Mbit/s; node_exporter gives bytes per second (a -1 "unknown" stays negative; a speed
            // no link has, past i64 once converted, is left out).
            let v = if *file == "speed" {
                v.checked_mul(125_000)
            } else {
                Some(v)
            };
            if let Some(v) = v {
                numbers.push((*metric, v));
            }
        }
    }
    NetClass {
        device: name.to_string(),
        address: read_small(&d.join("address")).unwrap_or_default(),
        broadcast: read_small(&d.join("broadcast")).unwrap_or_default(),
        duplex: read_small(&d.join("duplex")).unwrap_or_default(),
        ifalias: read_small(&d.join("ifalias")).unwrap_or_default(),
        operstate: String::new(),
        numbers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_sysfs_and_its_refresh() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("class/net/eth0");
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("address", "02:fc:00:00:00:01"),
            ("broadcast", "ff:ff:ff:ff:ff:ff"),
            ("operstate", "up"),
            ("carrier", "1"),
            ("carrier_changes", "2"),
            ("flags", "0x1003"),
            ("mtu", "1400"),
            ("speed", "1000"),
            ("ifindex", "4"),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        std::fs::create_dir_all(d.join("statistics")).unwrap();
        std::fs::write(d.join("statistics/rx_nohandler"), "7\n").unwrap();
        let mut r = NetClassReader::default();
        let c = r.read(t.path(), None, |_| true);
        assert_eq!(c.len(), 1);
        let n: BTreeMap<_, _> = c[0].numbers.iter().cloned().collect();
        assert_eq!(n["flags"], 4099);
        assert_eq!(n["mtu_bytes"], 1400);
        assert_eq!(n["speed_bytes"], 125_000_000);
        assert_eq!(n["carrier"], 1);
        assert_eq!(c[0].operstate, "up");
        std::fs::write(d.join("carrier"), "0\n").unwrap();
        std::fs::write(d.join("mtu"), "9000\n").unwrap();
        let c = r.read(t.path(), None, |_| true);
        let n: BTreeMap<_, _> = c[0].numbers.iter().cloned().collect();
        assert_eq!(n["carrier"], 0, "the link is read every time");
        assert_eq!(n["receive_nohandler_total"], 7);
        assert_eq!(
            n["mtu_bytes"], 1400,
            "configuration is read every STATIC_EVERY"
        );
        assert!(r.read(t.path(), None, |d| d != "eth0").is_empty());
        // A speed no link has (CI's hostile-input run found the conversion overflowing): left out, no panic.
        std::fs::write(d.join("speed"), "9223372036854775807\n").unwrap();
        let n: BTreeMap<_, _> = read_static(&d, "eth0").numbers.into_iter().collect();
        assert!(!n.contains_key("speed_bytes"));
        assert_eq!(n["mtu_bytes"], 9000);
    }
}

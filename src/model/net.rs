//! Network as `sar -n DEV,EDEV,TCP,ETCP,SOCK` shows it, and TCP sockets by state as `ss -tan` counts them.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    pub iface: String,
    #[serde(rename = "rxpck/s")]
    pub rxpck: f64,
    #[serde(rename = "txpck/s")]
    pub txpck: f64,
    #[serde(rename = "rxkB/s")]
    pub rxkb: f64,
    #[serde(rename = "txkB/s")]
    pub txkb: f64,
    #[serde(rename = "rxcmp/s")]
    pub rxcmp: f64,
    #[serde(rename = "txcmp/s")]
    pub txcmp: f64,
    #[serde(rename = "rxmcst/s")]
    pub rxmcst: f64,
    #[serde(rename = "%ifutil")]
    pub ifutil: f64,
    #[serde(rename = "rxerr/s")]
    pub rxerr: f64,
    #[serde(rename = "txerr/s")]
    pub txerr: f64,
    #[serde(rename = "coll/s")]
    pub coll: f64,
    #[serde(rename = "rxdrop/s")]
    pub rxdrop: f64,
    #[serde(rename = "txdrop/s")]
    pub txdrop: f64,
    #[serde(rename = "txcarr/s")]
    pub txcarr: f64,
    #[serde(rename = "rxfram/s")]
    pub rxfram: f64,
    #[serde(rename = "rxfifo/s")]
    pub rxfifo: f64,
    #[serde(rename = "txfifo/s")]
    pub txfifo: f64,
    /// The 16 /proc/net/dev counters since boot, for node_network_*.
    #[serde(skip)]
    pub totals: [u64; 16],
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Net {
    pub interfaces: Vec<Interface>,
    /// /sys/class/net per device, for node_network_info, _up, _carrier, _speed_bytes...
    #[serde(skip)]
    pub classes: Vec<NetClass>,
}

/// One device of /sys/class/net: the labels of node_network_info and its numeric files by metric suffix.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetClass {
    pub device: String,
    pub address: String,
    pub broadcast: String,
    pub duplex: String,
    pub ifalias: String,
    pub operstate: String,
    pub numbers: Vec<(&'static str, i64)>,
}

/// sar -n TCP and ETCP, and socket counts per state (ss -tan) overall and per local listening port.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tcp {
    #[serde(rename = "active/s")]
    pub active: f64,
    #[serde(rename = "passive/s")]
    pub passive: f64,
    #[serde(rename = "iseg/s")]
    pub iseg: f64,
    #[serde(rename = "oseg/s")]
    pub oseg: f64,
    #[serde(rename = "atmptf/s")]
    pub atmptf: f64,
    #[serde(rename = "estres/s")]
    pub estres: f64,
    #[serde(rename = "retrans/s")]
    pub retrans: f64,
    #[serde(rename = "isegerr/s")]
    pub isegerr: f64,
    #[serde(rename = "orsts/s")]
    pub orsts: f64,
    /// Sockets per state, named as ss names them (ESTAB, TIME-WAIT, CLOSE-WAIT, LISTEN, ...).
    pub states: std::collections::BTreeMap<String, u64>,
    /// Per local listening port: sockets on that port by state (LISTEN itself excluded).
    pub ports: Vec<PortStates>,
    /// How old `states` and `ports` are: 0 when counted in this collection; on a host with very many sockets
    /// they are counted less often (host/net.rs says when).
    pub states_age_s: f64,
    /// The Tcp: line of /proc/net/snmp since boot, for node_netstat_Tcp_*.
    #[serde(skip)]
    pub snmp: Vec<(String, i64)>,
    /// Selected TcpExt counters of /proc/net/netstat since boot (listen overflows and drops...).
    pub ext: Vec<(String, i64)>,
    /// The other protocols' counters node_exporter's netstat collector exports by default (Udp, Icmp, Ip, IpExt
    /// and their v6 forms), as ("Proto_Field", value) since boot.
    #[serde(skip)]
    pub netstat: Vec<(String, i64)>,
    /// Bytes queued on all UDP sockets, ("v4" | "v6", tx, rx), for node_udp_queues.
    #[serde(skip)]
    pub udp_queues: Vec<(&'static str, u64, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PortStates {
    pub port: u16,
    pub states: std::collections::BTreeMap<String, u64>,
}

/// sar -n SOCK.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sockets {
    pub totsck: u64,
    pub tcpsck: u64,
    pub udpsck: u64,
    pub rawsck: u64,
    #[serde(rename = "ip-frag")]
    pub ip_frag: u64,
    #[serde(rename = "tcp-tw")]
    pub tcp_tw: u64,
    /// TCP: alloc and orphan, for ss -s and node_sockstat_TCP_*.
    pub tcp_alloc: u64,
    pub tcp_orphan: u64,
    pub tcp6sck: u64,
    /// Every (protocol, field, value) of sockstat and sockstat6 as the kernel prints them, for node_sockstat_*.
    #[serde(skip)]
    pub fields: Vec<(String, String, u64)>,
    /// The page size: sockstat's `mem` fields count pages.
    #[serde(skip)]
    pub page_bytes: u64,
}

//! node_exporter's names for disks (diskstats), filesystems, network (netdev, netstat, sockstat, tcpstat), and
//! `wasp_` names for the derived iostat/sar figures and per-port socket states.

use crate::model::{Collection, MetricSet};

/// The Tcp fields of node_exporter's default `--collector.netstat.fields`.
const NODE_TCP_FIELDS: &[&str] = &[
    "ActiveOpens",
    "PassiveOpens",
    "InSegs",
    "OutSegs",
    "OutRsts",
    "RetransSegs",
    "CurrEstab",
    "InErrs",
];

pub(super) fn add(c: &Collection, m: &mut MetricSet) {
    for d in &c.disks {
        let t = &d.totals;
        let dev = || [("device", d.device.clone())];
        let ms = |v: u64| v as f64 / 1000.0;
        m.counter(
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
        )
        .push(dev(), t.reads as f64);
        m.counter(
            "node_disk_reads_merged_total",
            "The total number of reads merged.",
        )
        .push(dev(), t.reads_merged as f64);
        m.counter(
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
        )
        .push(dev(), t.sectors_read as f64 * 512.0);
        m.counter(
            "node_disk_read_time_seconds_total",
            "The total number of seconds spent by all reads.",
        )
        .push(dev(), ms(t.read_ms));
        m.counter(
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
        )
        .push(dev(), t.writes as f64);
        m.counter(
            "node_disk_writes_merged_total",
            "The number of writes merged.",
        )
        .push(dev(), t.writes_merged as f64);
        m.counter(
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
        )
        .push(dev(), t.sectors_written as f64 * 512.0);
        m.counter(
            "node_disk_write_time_seconds_total",
            "This is the total number of seconds spent by all writes.",
        )
        .push(dev(), ms(t.write_ms));
        m.gauge(
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
        )
        .push(dev(), t.in_flight as f64);
        m.counter(
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
        )
        .push(dev(), ms(t.io_ms));
        m.counter(
            "node_disk_io_time_weighted_seconds_total",
            "The weighted # of seconds spent doing I/Os.",
        )
        .push(dev(), ms(t.weighted_ms));
        if let (Some(n), Some(mg), Some(s), Some(tm)) = (
            t.discards,
            t.discards_merged,
            t.sectors_discarded,
            t.discard_ms,
        ) {
            m.counter(
                "node_disk_discards_completed_total",
                "The total number of discards completed successfully.",
            )
            .push(dev(), n as f64);
            m.counter(
                "node_disk_discards_merged_total",
                "The total number of discards merged.",
            )
            .push(dev(), mg as f64);
            m.counter(
                "node_disk_discarded_sectors_total",
                "The total number of sectors discarded successfully.",
            )
            .push(dev(), s as f64);
            m.counter(
                "node_disk_discard_time_seconds_total",
                "This is the total number of seconds spent by all discards.",
            )
            .push(dev(), ms(tm));
        }
        if let (Some(n), Some(tm)) = (t.flushes, t.flush_ms) {
            m.counter(
                "node_disk_flush_requests_total",
                "The total number of flush requests completed successfully",
            )
            .push(dev(), n as f64);
            m.counter(
                "node_disk_flush_requests_time_seconds_total",
                "This is the total number of seconds spent by all flush requests.",
            )
            .push(dev(), ms(tm));
        }
        let aw = m.gauge(
            "wasp_disk_await_seconds",
            "Average time per request over the last interval (iostat r_await/w_await).",
        );
        aw.push(
            [("device", d.device.clone()), ("op", "read".into())],
            d.r_await / 1000.0,
        );
        aw.push(
            [("device", d.device.clone()), ("op", "write".into())],
            d.w_await / 1000.0,
        );
        m.gauge(
            "wasp_disk_utilization_percent",
            "Share of the last interval the device was busy (iostat %util).",
        )
        .push(dev(), d.util);
        m.gauge(
            "wasp_disk_queue_size",
            "Average queue length over the last interval (iostat aqu-sz).",
        )
        .push(dev(), d.aqu_sz);
    }
    for f in &c.filesystems {
        let l = || {
            [
                ("device", f.filesystem.clone()),
                ("fstype", f.fstype.clone()),
                ("mountpoint", f.mountpoint.clone()),
            ]
        };
        m.gauge("node_filesystem_size_bytes", "Filesystem size in bytes.")
            .push(l(), f.size as f64);
        m.gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
        )
        .push(l(), f.free as f64);
        m.gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        )
        .push(l(), f.avail as f64);
        m.gauge("node_filesystem_files", "Filesystem total file nodes.")
            .push(l(), f.inodes as f64);
        m.gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
        )
        .push(l(), f.ifree as f64);
        m.gauge("node_filesystem_readonly", "Filesystem read-only status.")
            .push(l(), if f.readonly { 1.0 } else { 0.0 });
    }
    if let Some(n) = &c.net {
        const NAMES: [(&str, &str); 16] = [
            ("node_network_receive_bytes_total", "bytes"),
            ("node_network_receive_packets_total", "packets"),
            ("node_network_receive_errs_total", "errs"),
            ("node_network_receive_drop_total", "drop"),
            ("node_network_receive_fifo_total", "fifo"),
            ("node_network_receive_frame_total", "frame"),
            ("node_network_receive_compressed_total", "compressed"),
            ("node_network_receive_multicast_total", "multicast"),
            ("node_network_transmit_bytes_total", "bytes"),
            ("node_network_transmit_packets_total", "packets"),
            ("node_network_transmit_errs_total", "errs"),
            ("node_network_transmit_drop_total", "drop"),
            ("node_network_transmit_fifo_total", "fifo"),
            ("node_network_transmit_colls_total", "colls"),
            ("node_network_transmit_carrier_total", "carrier"),
            ("node_network_transmit_compressed_total", "compressed"),
        ];
        for (k, (name, what)) in NAMES.iter().enumerate() {
            let f = m.counter(*name, format!("Network device statistic {what}."));
            for i in &n.interfaces {
                f.push([("device", i.iface.clone())], i.totals[k] as f64);
            }
        }
        let u = m.gauge(
            "wasp_network_utilization_percent",
            "Link utilisation over the last interval (sar %ifutil).",
        );
        for i in &n.interfaces {
            u.push([("device", i.iface.clone())], i.ifutil);
        }
    }
    if let Some(n) = &c.net {
        netclass(n, m);
    }
    if let Some(t) = &c.tcp {
        // node_exporter's default Tcp and TcpExt fields, untyped as it leaves them (promtool: no `_total`
        // warning it does not have too); the model keeps every Tcp field for sar -n ETCP.
        for (k, v) in &t.snmp {
            if !NODE_TCP_FIELDS.contains(&k.as_str()) {
                continue;
            }
            m.family(
                format!("node_netstat_Tcp_{k}"),
                format!("Statistic Tcp{k}."),
                crate::model::MetricKind::Untyped,
            )
            .set(*v as f64);
        }
        // sar -n ETCP's atmptf/s and estres/s need two Tcp fields node_exporter leaves out by default: under
        // wasp's names, so that the local history (which keeps /metrics series) has them.
        for (k, name, help) in [
            (
                "AttemptFails",
                "wasp_tcp_attempt_fails_total",
                "Failed TCP connection attempts since boot (Tcp AttemptFails; sar -n ETCP atmptf/s).",
            ),
            (
                "EstabResets",
                "wasp_tcp_estab_resets_total",
                "TCP connections reset from ESTABLISHED or CLOSE-WAIT since boot (Tcp EstabResets; sar estres/s).",
            ),
        ] {
            if let Some((_, v)) = t.snmp.iter().find(|(f, _)| f == k) {
                m.counter(name, help).set(*v as f64);
            }
        }
        for (k, v) in &t.ext {
            m.family(
                format!("node_netstat_TcpExt_{k}"),
                format!("Statistic TcpExt{k}."),
                crate::model::MetricKind::Untyped,
            )
            .set(*v as f64);
        }
        for (k, v) in &t.netstat {
            m.family(
                format!("node_netstat_{k}"),
                format!("Statistic {}.", k.replace('_', "")),
                crate::model::MetricKind::Untyped,
            )
            .set(*v as f64);
        }
        let q = m.gauge(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (ip, tx, rx) in &t.udp_queues {
            q.push([("ip", ip.to_string()), ("queue", "tx".into())], *tx as f64);
            q.push([("ip", ip.to_string()), ("queue", "rx".into())], *rx as f64);
        }
        let f = m.gauge("node_tcp_connection_states", "Number of connection states.");
        for (state, n) in &t.states {
            f.push([("state", node_state(state))], *n as f64);
        }
        m.gauge(
            "wasp_tcp_states_age_seconds",
            "Age of the TCP state counts (node_tcp_connection_states, wasp_tcp_port_connections): counted less often on a host with very many sockets.",
        )
        .set(t.states_age_s);
        let p = m.gauge(
            "wasp_tcp_port_connections",
            "TCP sockets on each local listening port by state (ss -tan sport = :PORT).",
        );
        for port in &t.ports {
            for (state, n) in &port.states {
                p.push(
                    [
                        ("port", port.port.to_string()),
                        ("state", node_state(state)),
                    ],
                    *n as f64,
                );
            }
        }
    }
    if let Some(s) = &c.sockets {
        // Every field of sockstat and sockstat6 under node_exporter's names; `mem` (pages) also in bytes.
        for (proto, key, v) in &s.fields {
            let (name, help) = if proto == "sockets" {
                (
                    "node_sockstat_sockets_used".to_string(),
                    "Number of IPv4 sockets in use.".to_string(),
                )
            } else {
                (
                    format!("node_sockstat_{proto}_{key}"),
                    format!("Number of {proto} sockets in state {key}."),
                )
            };
            m.gauge(name, help).set(*v as f64);
            if key == "mem" {
                m.gauge(
                    format!("node_sockstat_{proto}_mem_bytes"),
                    format!("Number of {proto} sockets in state mem_bytes."),
                )
                .set((*v * s.page_bytes) as f64);
            }
        }
    }
}

/// node_exporter's netclass collector: node_network_info, _up and one gauge per numeric sysfs file.
fn netclass(n: &crate::model::net::Net, m: &mut MetricSet) {
    if n.classes.is_empty() {
        return;
    }
    let info = m.gauge(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    );
    for c in &n.classes {
        info.push(
            [
                ("address", c.address.clone()),
                ("broadcast", c.broadcast.clone()),
                ("device", c.device.clone()),
                ("duplex", c.duplex.clone()),
                ("ifalias", c.ifalias.clone()),
                ("operstate", c.operstate.clone()),
            ],
            1.0,
        );
    }
    let up = m.gauge(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
    );
    for c in &n.classes {
        up.push(
            [("device", c.device.clone())],
            f64::from(u8::from(c.operstate == "up")),
        );
    }
    let mut by_metric: std::collections::BTreeMap<&str, Vec<(&str, i64)>> = Default::default();
    for c in &n.classes {
        for (k, v) in &c.numbers {
            by_metric.entry(k).or_default().push((&c.device, *v));
        }
    }
    for (k, devices) in by_metric {
        let name = format!("node_network_{k}");
        let help = format!("Network device property: {k}");
        let f = if k.ends_with("_total") {
            m.counter(name, help)
        } else {
            m.gauge(name, help)
        };
        for (d, v) in devices {
            f.push([("device", d.to_string())], v as f64);
        }
    }
}

/// node_exporter's tcpstat state label values.
fn node_state(ss: &str) -> String {
    match ss {
        "ESTAB" => "established",
        "SYN-SENT" => "syn_sent",
        "SYN-RECV" => "syn_recv",
        "FIN-WAIT-1" => "fin_wait1",
        "FIN-WAIT-2" => "fin_wait2",
        "TIME-WAIT" => "time_wait",
        "UNCONN" => "close",
        "CLOSE-WAIT" => "close_wait",
        "LAST-ACK" => "last_ack",
        "LISTEN" => "listen",
        "CLOSING" => "closing",
        other => other,
    }
    .to_string()
}

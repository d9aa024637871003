//! Next to Debian's node_exporter on this very host: every metric name its default collectors expose here,
//! wasp exposes too (less a short list, each with why), with the same labels, and the values that cannot move
//! between two reads (uname, MTU, netclass numbers, file-nr maximum, boot time) are equal.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// node_exporter names wasp does not produce, and why. Anything else node_exporter has here, wasp must have.
pub(crate) const NOT_PRODUCED: &[(&str, &str)] = &[
    ("go_", "node_exporter's own Go runtime"),
    (
        "process_",
        "node_exporter's own process (wasp's are wasp_agent_*)",
    ),
    ("promhttp_", "node_exporter's own HTTP handler"),
    (
        "node_scrape_",
        "per-collector scrape figures (wasp_collector_duration_seconds)",
    ),
    (
        "node_textfile_",
        "the textfile collector (no textfile directory)",
    ),
    (
        "node_disk_info",
        "not yet: device major/minor and model from sysfs",
    ),
    (
        "node_filesystem_device_error",
        "not yet: statfs failures per mount",
    ),
    (
        "node_nf_conntrack_stat_",
        "not yet: /proc/net/stat/nf_conntrack",
    ),
    ("node_os_", "not yet: /etc/os-release"),
    ("node_selinux_", "not yet"),
    (
        "node_time_clocksource_",
        "not yet: /sys/devices/system/clocksource",
    ),
    ("node_time_zone_offset_seconds", "not yet"),
];

fn scrape_names(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let labels: BTreeSet<String> = line[name_end..]
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(l, _)| {
                l.split("\",")
                    .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        m.entry(name.to_string()).or_default().extend(labels);
    }
    m
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn wasp_has_every_node_exporter_default_metric_of_this_host() {
    let _floor = crate::common::beside();
    if !require("prometheus-node-exporter") {
        return;
    }
    let (_ne, ne) = crate::common::backends::node_exporter();
    let ne = String::from_utf8(ne).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["once", "--interval", "1s", "--format", "prom"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasp = String::from_utf8(out.stdout).unwrap();
    let (theirs, ours) = (scrape_names(&ne), scrape_names(&wasp));
    let mut missing = Vec::new();
    for (name, labels) in &theirs {
        if NOT_PRODUCED.iter().any(|(p, _)| name.starts_with(p)) {
            continue;
        }
        match ours.get(name) {
            None => missing.push(format!("{name} (absent)")),
            Some(l) if !labels.is_subset(l) => {
                missing.push(format!("{name}: labels {labels:?}, wasp {l:?}"))
            }
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "node_exporter has, wasp lacks:\n{}",
        missing.join("\n")
    );
    // Figures that cannot change between the two reads.
    let mut differ = Vec::new();
    for series in ne
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(s, _)| s)
    {
        let stable = series.starts_with("node_uname_info")
            || series.starts_with("node_network_mtu_bytes")
            || series.starts_with("node_network_speed_bytes")
            || series.starts_with("node_network_flags")
            || series.starts_with("node_network_iface_id")
            || series.starts_with("node_network_protocol_type")
            || series.starts_with("node_network_info")
            || series == "node_filefd_maximum"
            || series == "node_boot_time_seconds"
            || series == "node_nf_conntrack_entries_limit"
            || series == "node_entropy_pool_size_bits"
            || series.starts_with("node_timex_tick_seconds");
        if stable && value(&wasp, series) != value(&ne, series) {
            differ.push(format!(
                "{series}: wasp {:?}, node_exporter {:?}",
                value(&wasp, series),
                value(&ne, series)
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

//! node_exporter's uname, time, timex, filefd, conntrack, entropy, softnet and arp collectors, same names.

use crate::model::kernel::Softnet;
use crate::model::{Collection, MetricSet};

/// name, help, the field, counter (else gauge).
type SoftnetField = (&'static str, &'static str, fn(&Softnet) -> u64, bool);

pub(super) fn add(c: &Collection, m: &mut MetricSet) {
    let Some(k) = &c.kernel else { return };
    if let Some(u) = &k.uname {
        m.gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
        )
        .push(
            [
                ("domainname", u.domainname.clone()),
                ("machine", u.machine.clone()),
                ("nodename", u.nodename.clone()),
                ("release", u.release.clone()),
                ("sysname", u.sysname.clone()),
                ("version", u.version.clone()),
            ],
            1.0,
        );
    }
    m.gauge(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
    )
    .set(k.time_s);
    if let Some(t) = &k.timex {
        let g = |m: &mut MetricSet, name: &'static str, help: &'static str, v: f64| {
            m.gauge(name, help).set(v);
        };
        let n = |m: &mut MetricSet, name: &'static str, help: &'static str, v: f64| {
            m.counter(name, help).set(v);
        };
        g(
            m,
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset_s,
        );
        g(
            m,
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            t.frequency_adjustment_ratio,
        );
        g(
            m,
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror_s,
        );
        g(
            m,
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror_s,
        );
        g(
            m,
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        );
        g(
            m,
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.loop_time_constant as f64,
        );
        g(
            m,
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick_s,
        );
        g(
            m,
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.pps_frequency_hz,
        );
        g(
            m,
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.pps_jitter_s,
        );
        g(
            m,
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.pps_shift_s,
        );
        g(
            m,
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.pps_stability_hz,
        );
        n(
            m,
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.pps_jitter_total as f64,
        );
        n(
            m,
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.pps_calibration_total as f64,
        );
        n(
            m,
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.pps_error_total as f64,
        );
        n(
            m,
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.pps_stability_exceeded_total as f64,
        );
        g(
            m,
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai_offset_s as f64,
        );
        g(
            m,
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            f64::from(t.sync_status),
        );
    }
    if let Some(f) = k.filefd {
        m.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
        )
        .set(f.allocated as f64);
        m.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
        )
        .set(f.maximum as f64);
    }
    if let Some(ct) = k.conntrack {
        m.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
        )
        .set(ct.entries as f64);
        m.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
        )
        .set(ct.limit as f64);
    }
    if let Some(e) = k.entropy {
        m.gauge("node_entropy_available_bits", "Bits of available entropy.")
            .set(e.available_bits as f64);
        m.gauge("node_entropy_pool_size_bits", "Bits of entropy pool.")
            .set(e.pool_size_bits as f64);
    }
    let softnet: [SoftnetField; 6] = [
        (
            "node_softnet_processed_total",
            "Number of processed packets",
            |s| s.processed,
            true,
        ),
        (
            "node_softnet_dropped_total",
            "Number of dropped packets",
            |s| s.dropped,
            true,
        ),
        (
            "node_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
            |s| s.times_squeezed,
            true,
        ),
        (
            "node_softnet_received_rps_total",
            "Number of times cpu woken up received_rps",
            |s| s.received_rps,
            true,
        ),
        (
            "node_softnet_flow_limit_count_total",
            "Number of times flow limit has been reached",
            |s| s.flow_limit_count,
            true,
        ),
        (
            "node_softnet_backlog_len",
            "Softnet backlog status",
            |s| s.backlog_len,
            false,
        ),
    ];
    if !k.softnet.is_empty() {
        for (name, help, get, is_counter) in softnet {
            let f = if is_counter {
                m.counter(name, help)
            } else {
                m.gauge(name, help)
            };
            for s in &k.softnet {
                f.push([("cpu", s.cpu.to_string())], get(s) as f64);
            }
        }
    }
    if !k.arp.is_empty() {
        let f = m.gauge("node_arp_entries", "ARP entries by device");
        for (dev, n) in &k.arp {
            f.push([("device", dev.clone())], *n as f64);
        }
    }
}

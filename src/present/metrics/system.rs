//! node_exporter's names for the system-wide figures (cpu, stat, meminfo, vmstat, loadavg, pressure collectors),
//! and `wasp_` names for what node_exporter does not derive.

use crate::model::{Collection, MetricSet};

pub(super) fn add(c: &Collection, m: &mut MetricSet) {
    if let Some(cpu) = &c.cpu {
        let hz = cpu.hz.max(1) as f64;
        let f = m.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        for (name, t) in cpu.ticks.iter().filter(|(n, _)| n != "all") {
            // node_exporter subtracts guest from user/nice, as the kernel counts guest inside them.
            for (mode, v) in [
                ("user", t.user.saturating_sub(t.guest)),
                ("nice", t.nice.saturating_sub(t.guest_nice)),
                ("system", t.system),
                ("idle", t.idle),
                ("iowait", t.iowait),
                ("irq", t.irq),
                ("softirq", t.softirq),
                ("steal", t.steal),
            ] {
                f.push(
                    [("cpu", name.clone()), ("mode", mode.to_string())],
                    v as f64 / hz,
                );
            }
        }
        let g = m.counter(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
        );
        for (name, t) in cpu.ticks.iter().filter(|(n, _)| n != "all") {
            g.push(
                [("cpu", name.clone()), ("mode", "user".to_string())],
                t.guest as f64 / hz,
            );
            g.push(
                [("cpu", name.clone()), ("mode", "nice".to_string())],
                t.guest_nice as f64 / hz,
            );
        }
        if let Some(all) = &cpu.all {
            let u = m.gauge(
                "wasp_cpu_utilization_percent",
                "CPU use over the last interval by mode, all CPUs (sar -u ALL).",
            );
            for (mode, v) in [
                ("usr", all.usr),
                ("nice", all.nice),
                ("sys", all.sys),
                ("iowait", all.iowait),
                ("steal", all.steal),
                ("irq", all.irq),
                ("soft", all.soft),
                ("guest", all.guest),
                ("gnice", all.gnice),
                ("idle", all.idle),
            ] {
                u.push([("mode", mode)], v);
            }
        }
    }
    if let Some(v) = &c.vmstat {
        let t = &v.totals;
        m.counter("node_intr_total", "Total number of interrupts serviced.")
            .set(t.intr as f64);
        m.counter(
            "node_context_switches_total",
            "Total number of context switches.",
        )
        .set(t.ctxt as f64);
        m.counter("node_forks_total", "Total number of forks.")
            .set(t.forks as f64);
        m.gauge("node_boot_time_seconds", "Node boot time, in unixtime.")
            .set(t.boot_time as f64);
        m.gauge(
            "node_procs_running",
            "Number of processes in runnable state.",
        )
        .set(t.procs_running as f64);
        m.gauge(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
        )
        .set(t.procs_blocked as f64);
    }
    if let Some(p) = &c.paging {
        // node_exporter's default vmstat field set.
        for (k, v) in &p.raw {
            if matches!(
                k.as_str(),
                "pgpgin" | "pgpgout" | "pswpin" | "pswpout" | "pgfault" | "pgmajfault" | "oom_kill"
            ) {
                // Untyped, as node_exporter leaves them.
                m.family(
                    format!("node_vmstat_{k}"),
                    format!("/proc/vmstat information field {k}."),
                    crate::model::MetricKind::Untyped,
                )
                .set(*v as f64);
            }
        }
        m.gauge(
            "wasp_paging_vmeff_percent",
            "Page reclaim efficiency over the last interval (sar -B %vmeff).",
        )
        .set(p.vmeff);
    }
    if let Some(mem) = &c.memory {
        for (k, v) in &mem.meminfo {
            let name = k.replace(['(', ')'], "_").trim_end_matches('_').to_string();
            let is_count = k.starts_with("HugePages_");
            let metric = if is_count {
                format!("node_memory_{name}")
            } else {
                format!("node_memory_{name}_bytes")
            };
            m.gauge(metric, format!("Memory information field {k}."))
                .set(*v as f64);
        }
        let f = m.gauge(
            "wasp_memory_bytes",
            "Memory as free -w shows it (procps-ng 4 definitions).",
        );
        for (col, v) in [
            ("used", mem.used),
            ("free", mem.free),
            ("shared", mem.shared),
            ("buffers", mem.buffers),
            ("cache", mem.cache),
            ("available", mem.available),
        ] {
            f.push([("column", col)], v as f64);
        }
    }
    if let Some(l) = &c.load {
        m.gauge("node_load1", "1m load average.").set(l.ldavg_1);
        m.gauge("node_load5", "5m load average.").set(l.ldavg_5);
        m.gauge("node_load15", "15m load average.").set(l.ldavg_15);
        m.gauge(
            "wasp_runq_size",
            "Runnable tasks excluding the reader (sar -q runq-sz).",
        )
        .set(l.runq_sz as f64);
        m.gauge(
            "wasp_plist_size",
            "Tasks (threads) in the task list (sar -q plist-sz).",
        )
        .set(l.plist_sz as f64);
    }
    if let Some(p) = &c.pressure {
        for (res, r) in [("cpu", &p.cpu), ("memory", &p.memory), ("io", &p.io)] {
            let Some(r) = r else { continue };
            m.counter(
                format!("node_pressure_{res}_waiting_seconds_total"),
                format!("Total time in seconds that processes have waited for {res}."),
            )
            .set(r.some.total as f64 / 1e6);
            if let Some(full) = &r.full
                && res != "cpu"
            {
                m.counter(
                    format!("node_pressure_{res}_stalled_seconds_total"),
                    format!(
                        "Total time in seconds no process could make progress because of {res}."
                    ),
                )
                .set(full.total as f64 / 1e6);
            }
            let a = m.gauge(
                format!("wasp_pressure_{res}_avg10_percent"),
                format!("Share of the last 10 s that tasks stalled on {res} (PSI avg10)."),
            );
            a.push([("kind", "some")], r.some.avg10);
            if let Some(full) = &r.full {
                a.push([("kind", "full")], full.avg10);
            }
        }
    }
    if let Some(p) = &c.processes {
        let st = m.gauge(
            "wasp_processes",
            "Processes by state letter (R, S, D, Z, T, I).",
        );
        for (state, n) in &p.states {
            st.push([("state", state.clone())], *n as f64);
        }
        m.gauge("wasp_threads", "Threads of all processes.")
            .set(p.threads as f64);
        m.gauge(
            "wasp_process_scan_age_seconds",
            "Age of the process table scan (wasp_processes, wasp_threads, wasp_process_group_*, the top lists): the daemon scans at most every [host.process] scan_every.",
        )
        .set(p.age_s);
        for g in &p.groups {
            let l = || [("group", g.name.clone())];
            m.gauge("wasp_process_group_processes", "Processes in the group.")
                .push(l(), g.processes as f64);
            m.gauge(
                "wasp_process_group_threads",
                "Threads of the group's processes.",
            )
            .push(l(), g.threads as f64);
            m.gauge(
                "wasp_process_group_cpu_percent",
                "CPU use of the group over the last interval (top %CPU, summed).",
            )
            .push(l(), g.cpu_pct);
            m.gauge(
                "wasp_process_group_resident_memory_bytes",
                "Resident memory of the group's processes.",
            )
            .push(l(), g.rss as f64);
            m.gauge(
                "wasp_process_group_open_fds",
                "Open file descriptors of the group's processes.",
            )
            .push(l(), g.fds as f64);
        }
    }
    if let Some(cg) = &c.cgroup {
        for g in &cg.groups {
            let l = || [("cgroup", g.path.clone())];
            if let Some(v) = g.cpu_limit_cores {
                m.gauge(
                    "wasp_cgroup_cpu_limit_cores",
                    "CPU quota of the cgroup in cores.",
                )
                .push(l(), v);
            }
            if let Some(v) = g.cpu_usage_seconds {
                m.counter(
                    "wasp_cgroup_cpu_usage_seconds_total",
                    "CPU time used by the cgroup.",
                )
                .push(l(), v);
            }
            if let Some(v) = g.nr_throttled {
                m.counter(
                    "wasp_cgroup_cpu_throttled_periods_total",
                    "Periods in which the cgroup was throttled.",
                )
                .push(l(), v as f64);
            }
            if let Some(v) = g.throttled_seconds {
                m.counter(
                    "wasp_cgroup_cpu_throttled_seconds_total",
                    "Time the cgroup was throttled.",
                )
                .push(l(), v);
            }
            if let Some(v) = g.memory_limit {
                m.gauge(
                    "wasp_cgroup_memory_limit_bytes",
                    "Memory limit of the cgroup.",
                )
                .push(l(), v as f64);
            }
            if let Some(v) = g.memory_usage {
                m.gauge(
                    "wasp_cgroup_memory_usage_bytes",
                    "Memory used by the cgroup.",
                )
                .push(l(), v as f64);
            }
            if let Some(v) = g.oom_kills {
                m.counter(
                    "wasp_cgroup_oom_kills_total",
                    "Processes of the cgroup killed by the OOM killer.",
                )
                .push(l(), v as f64);
            }
        }
    }
}

//! The tables `wasp history` prints, with the columns `wasp once` and the tools print, one row per stored
//! interval (or rollup step) as `sar -f` does, and an `Average:` row computed as sar computes it: rates from the
//! first and last counters of the range, gauges as the mean of the rows.
//!
//! Every figure comes from the stored /metrics series: rates from two counters and their real time apart.

use super::query::{Matcher, Query, Reader, Series};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// A column: a counter's rate per second (times a scale), a gauge (times a scale), or a figure computed from
/// the columns before it in the same row. Names starting with `_` are not printed.
#[derive(Clone, Copy)]
pub enum Col {
    Rate(&'static str, &'static [(&'static str, &'static str)], f64),
    Gauge(&'static str, &'static [(&'static str, &'static str)], f64),
    Derived(fn(&[Option<f64>]) -> Option<f64>),
}

pub struct Spec {
    pub title: &'static str,
    /// Labels that make one row per value (device, interface, pid); none: one row per time.
    pub key: &'static [&'static str],
    pub cols: &'static [(&'static str, Col)],
}

use Col::{Derived, Gauge, Rate};

const KIB: f64 = 1.0 / 1024.0;

fn pct(v: &[Option<f64>], i: usize) -> Option<f64> {
    let total: f64 = v[..10].iter().map(|x| x.unwrap_or(0.0)).sum();
    (total > 0.0).then(|| v[i].unwrap_or(0.0) / total * 100.0)
}

fn div(a: Option<f64>, b: Option<f64>, scale: f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b * scale),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    }
}

const CPU: &str = "node_cpu_seconds_total";
const GUEST: &str = "node_cpu_guest_seconds_total";

pub const SPECS: &[Spec] = &[
    Spec {
        title: "CPU (sar -u ALL)",
        key: &[],
        cols: &[
            ("_user", Rate(CPU, &[("mode", "user")], 1.0)),
            ("_nice", Rate(CPU, &[("mode", "nice")], 1.0)),
            ("_system", Rate(CPU, &[("mode", "system")], 1.0)),
            ("_iowait", Rate(CPU, &[("mode", "iowait")], 1.0)),
            ("_steal", Rate(CPU, &[("mode", "steal")], 1.0)),
            ("_irq", Rate(CPU, &[("mode", "irq")], 1.0)),
            ("_softirq", Rate(CPU, &[("mode", "softirq")], 1.0)),
            ("_guest", Rate(GUEST, &[("mode", "user")], 1.0)),
            ("_gnice", Rate(GUEST, &[("mode", "nice")], 1.0)),
            ("_idle", Rate(CPU, &[("mode", "idle")], 1.0)),
            ("%usr", Derived(|v| pct(v, 0))),
            ("%nice", Derived(|v| pct(v, 1))),
            ("%sys", Derived(|v| pct(v, 2))),
            ("%iowait", Derived(|v| pct(v, 3))),
            ("%steal", Derived(|v| pct(v, 4))),
            ("%irq", Derived(|v| pct(v, 5))),
            ("%soft", Derived(|v| pct(v, 6))),
            ("%guest", Derived(|v| pct(v, 7))),
            ("%gnice", Derived(|v| pct(v, 8))),
            ("%idle", Derived(|v| pct(v, 9))),
        ],
    },
    Spec {
        title: "run queue and load (sar -q)",
        key: &[],
        cols: &[
            ("runq-sz", Gauge("wasp_runq_size", &[], 1.0)),
            ("plist-sz", Gauge("wasp_plist_size", &[], 1.0)),
            ("ldavg-1", Gauge("node_load1", &[], 1.0)),
            ("ldavg-5", Gauge("node_load5", &[], 1.0)),
            ("ldavg-15", Gauge("node_load15", &[], 1.0)),
            ("blocked", Gauge("node_procs_blocked", &[], 1.0)),
        ],
    },
    Spec {
        title: "memory (sar -r)",
        key: &[],
        cols: &[
            ("kbmemfree", Gauge("node_memory_MemFree_bytes", &[], KIB)),
            ("kbavail", Gauge("node_memory_MemAvailable_bytes", &[], KIB)),
            ("_total", Gauge("node_memory_MemTotal_bytes", &[], KIB)),
            ("kbbuffers", Gauge("node_memory_Buffers_bytes", &[], KIB)),
            ("kbcached", Gauge("node_memory_Cached_bytes", &[], KIB)),
            ("_slab", Gauge("node_memory_Slab_bytes", &[], KIB)),
            ("_swap", Gauge("node_memory_SwapTotal_bytes", &[], KIB)),
            (
                "kbcommit",
                Gauge("node_memory_Committed_AS_bytes", &[], KIB),
            ),
            ("kbactive", Gauge("node_memory_Active_bytes", &[], KIB)),
            ("kbinact", Gauge("node_memory_Inactive_bytes", &[], KIB)),
            ("kbdirty", Gauge("node_memory_Dirty_bytes", &[], KIB)),
            // sysstat 12: used = total - free - buffers - cached - Slab (all of it: `free` subtracts only
            // SReclaimable; the sar -f test caught the difference on a host with 110 MB unreclaimable slab).
            (
                "kbmemused",
                Derived(|v| Some(v[2]? - v[0]? - v[3]? - v[4]? - v[5]?)),
            ),
            ("%memused", Derived(|v| div(v[11], v[2], 100.0))),
            (
                "%commit",
                Derived(|v| div(v[7], Some(v[2]? + v[6]?), 100.0)),
            ),
        ],
    },
    Spec {
        title: "disks (iostat -x)",
        key: &["device"],
        cols: &[
            ("r/s", Rate("node_disk_reads_completed_total", &[], 1.0)),
            ("rkB/s", Rate("node_disk_read_bytes_total", &[], KIB)),
            ("w/s", Rate("node_disk_writes_completed_total", &[], 1.0)),
            ("wkB/s", Rate("node_disk_written_bytes_total", &[], KIB)),
            (
                "_rt",
                Rate("node_disk_read_time_seconds_total", &[], 1000.0),
            ),
            (
                "_wt",
                Rate("node_disk_write_time_seconds_total", &[], 1000.0),
            ),
            ("r_await", Derived(|v| div(v[4], v[0], 1.0))),
            ("w_await", Derived(|v| div(v[5], v[2], 1.0))),
            (
                "aqu-sz",
                Rate("node_disk_io_time_weighted_seconds_total", &[], 1.0),
            ),
            ("%util", Rate("node_disk_io_time_seconds_total", &[], 100.0)),
        ],
    },
    Spec {
        title: "network interfaces (sar -n DEV)",
        key: &["device"],
        cols: &[
            (
                "rxpck/s",
                Rate("node_network_receive_packets_total", &[], 1.0),
            ),
            (
                "txpck/s",
                Rate("node_network_transmit_packets_total", &[], 1.0),
            ),
            ("rxkB/s", Rate("node_network_receive_bytes_total", &[], KIB)),
            (
                "txkB/s",
                Rate("node_network_transmit_bytes_total", &[], KIB),
            ),
            (
                "rxcmp/s",
                Rate("node_network_receive_compressed_total", &[], 1.0),
            ),
            (
                "txcmp/s",
                Rate("node_network_transmit_compressed_total", &[], 1.0),
            ),
            (
                "rxmcst/s",
                Rate("node_network_receive_multicast_total", &[], 1.0),
            ),
        ],
    },
    Spec {
        title: "TCP (sar -n TCP,ETCP)",
        key: &[],
        cols: &[
            ("active/s", Rate("node_netstat_Tcp_ActiveOpens", &[], 1.0)),
            ("passive/s", Rate("node_netstat_Tcp_PassiveOpens", &[], 1.0)),
            ("iseg/s", Rate("node_netstat_Tcp_InSegs", &[], 1.0)),
            ("oseg/s", Rate("node_netstat_Tcp_OutSegs", &[], 1.0)),
            ("atmptf/s", Rate("wasp_tcp_attempt_fails_total", &[], 1.0)),
            ("estres/s", Rate("wasp_tcp_estab_resets_total", &[], 1.0)),
            ("retrans/s", Rate("node_netstat_Tcp_RetransSegs", &[], 1.0)),
            ("isegerr/s", Rate("node_netstat_Tcp_InErrs", &[], 1.0)),
            ("orsts/s", Rate("node_netstat_Tcp_OutRsts", &[], 1.0)),
        ],
    },
    Spec {
        title: "TCP sockets by listening port (ss -tan sport = :PORT)",
        key: &["port"],
        cols: &[
            ("ESTAB", Gauge(PORTS, &[("state", "established")], 1.0)),
            ("SYN-RECV", Gauge(PORTS, &[("state", "syn_recv")], 1.0)),
            ("TIME-WAIT", Gauge(PORTS, &[("state", "time_wait")], 1.0)),
            ("CLOSE-WAIT", Gauge(PORTS, &[("state", "close_wait")], 1.0)),
            ("FIN-WAIT-1", Gauge(PORTS, &[("state", "fin_wait1")], 1.0)),
            ("FIN-WAIT-2", Gauge(PORTS, &[("state", "fin_wait2")], 1.0)),
            ("LAST-ACK", Gauge(PORTS, &[("state", "last_ack")], 1.0)),
        ],
    },
    Spec {
        title: "JVMs",
        key: &["pid", "app"],
        cols: &[
            (
                "heap-MB",
                Gauge("jvm_memory_used_bytes", &[("area", "heap")], KIB * KIB),
            ),
            (
                "max-MB",
                Gauge("jvm_memory_max_bytes", &[("area", "heap")], KIB * KIB),
            ),
            ("GC%", Gauge("wasp_jvm_gc_overhead_percent", &[], 1.0)),
            ("%CPU", Rate("process_cpu_seconds_total", &[], 100.0)),
            ("threads", Gauge("jvm_threads_current", &[], 1.0)),
            ("classes", Gauge("jvm_classes_currently_loaded", &[], 1.0)),
        ],
    },
];

const PORTS: &str = "wasp_tcp_port_connections";

/// One row: a time (None: the Average row), the key (device, pid app), a value per column.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub time_ms: Option<i64>,
    pub key: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Table {
    pub title: &'static str,
    pub key: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
}

type Timeline = BTreeMap<i64, f64>;

/// Each column's values per key, summed over the series that share a key at the same time.
fn column_data(
    r: &Reader,
    spec: &Spec,
    start: i64,
    end: i64,
    step_ms: Option<i64>,
) -> anyhow::Result<Vec<BTreeMap<String, Timeline>>> {
    let mut out = Vec::new();
    for (_, c) in spec.cols {
        let (Rate(metric, m, _) | Gauge(metric, m, _)) = c else {
            out.push(BTreeMap::new());
            continue;
        };
        let q = Query {
            metric: metric.to_string(),
            matchers: m
                .iter()
                .map(|(l, v)| Matcher {
                    label: l.to_string(),
                    value: v.to_string(),
                    negate: false,
                })
                .collect(),
            start,
            end,
            step_ms,
        };
        let mut by_key: BTreeMap<String, Timeline> = BTreeMap::new();
        for Series { labels, points, .. } in r.query(&q)? {
            let key: Vec<&str> = spec
                .key
                .iter()
                .map(|k| labels.get(*k).map(String::as_str).unwrap_or("-"))
                .collect();
            let t = by_key.entry(key.join(" ")).or_default();
            for (ts, v) in points {
                *t.entry(ts).or_insert(0.0) += v;
            }
        }
        out.push(by_key);
    }
    Ok(out)
}

fn rate(a: Option<&f64>, b: Option<&f64>, secs: f64, scale: f64) -> Option<f64> {
    let d = b? - a?;
    // A counter that went back (a JVM restarted): no rate for that interval.
    (d >= 0.0 && secs > 0.0).then(|| d / secs * scale)
}

fn row(
    spec: &Spec,
    data: &[BTreeMap<String, Timeline>],
    key: &str,
    prev: Option<i64>,
    t: i64,
) -> Vec<Option<f64>> {
    let mut vals: Vec<Option<f64>> = Vec::with_capacity(spec.cols.len());
    for (i, (_, c)) in spec.cols.iter().enumerate() {
        let tl = data[i].get(key);
        let at = |ts: i64| tl.and_then(|tl| tl.get(&ts));
        let v = match c {
            Rate(_, _, scale) => {
                prev.and_then(|p| rate(at(p), at(t), (t - p) as f64 / 1000.0, *scale))
            }
            Gauge(_, _, scale) => at(t).map(|v| v * scale),
            Derived(f) => f(&vals),
        };
        vals.push(v);
    }
    vals
}

/// The tables of the range; a table without data is left out.
pub fn build(r: &Reader, start: i64, end: i64, step_ms: Option<i64>) -> anyhow::Result<Vec<Table>> {
    let mut tables = Vec::new();
    for spec in SPECS {
        let data = column_data(r, spec, start, end, step_ms)?;
        let has_rate = spec.cols.iter().any(|(_, c)| matches!(c, Rate(..)));
        let keys: BTreeSet<&String> = data.iter().flat_map(|d| d.keys()).collect();
        let mut rows = Vec::new();
        let mut averages = Vec::new();
        for key in keys {
            let times: BTreeSet<i64> = data
                .iter()
                .filter_map(|d| d.get(key))
                .flat_map(|t| t.keys().copied())
                .collect();
            let times: Vec<i64> = times.into_iter().collect();
            let mut mine = Vec::new();
            for (i, &t) in times.iter().enumerate() {
                let prev = if i > 0 { Some(times[i - 1]) } else { None };
                if has_rate && prev.is_none() {
                    continue; // the first reading only starts the rates, as sar's first record
                }
                mine.push(Row {
                    time_ms: Some(t),
                    key: key.clone(),
                    values: row(spec, &data, key, prev, t),
                });
            }
            if mine.is_empty() {
                continue;
            }
            averages.push(average(spec, &data, key, &times, &mine));
            rows.extend(mine);
        }
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|r| r.time_ms);
        rows.extend(averages);
        tables.push(Table {
            title: spec.title,
            key: spec.key.join(" "),
            columns: spec.cols.iter().map(|c| c.0).collect(),
            rows,
        });
    }
    Ok(tables)
}

/// sar's Average: rates over the whole range from its first and last counters; gauges the mean of the rows.
fn average(
    spec: &Spec,
    data: &[BTreeMap<String, Timeline>],
    key: &str,
    times: &[i64],
    rows: &[Row],
) -> Row {
    let (first, last) = (times[0], times[times.len() - 1]);
    let mut vals: Vec<Option<f64>> = Vec::new();
    for (i, (_, c)) in spec.cols.iter().enumerate() {
        let tl = data[i].get(key);
        let v = match c {
            Rate(_, _, scale) => {
                // The first and last readings this counter has (a series may start late).
                let f = tl.and_then(|t| t.range(first..=last).next());
                let l = tl.and_then(|t| t.range(first..=last).next_back());
                f.zip(l).and_then(|(f, l)| {
                    rate(Some(f.1), Some(l.1), (l.0 - f.0) as f64 / 1000.0, *scale)
                })
            }
            Gauge(..) => {
                let xs: Vec<f64> = rows.iter().filter_map(|r| r.values[i]).collect();
                (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
            }
            Derived(f) => f(&vals),
        };
        vals.push(v);
    }
    Row {
        time_ms: None,
        key: key.to_string(),
        values: vals,
    }
}

fn clock(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| "-".into())
}

/// The tables as text, sar's layout: a time column, the key, the printed columns.
pub fn render(tables: &[Table]) -> String {
    let mut out = String::new();
    for t in tables {
        let shown: Vec<usize> = (0..t.columns.len())
            .filter(|i| !t.columns[*i].starts_with('_'))
            .collect();
        let _ = writeln!(out, "# {}", t.title);
        let _ = write!(out, "{:<9}", "");
        if !t.key.is_empty() {
            let _ = write!(out, " {:<14}", t.key.to_uppercase());
        }
        for &i in &shown {
            let _ = write!(out, " {:>10}", t.columns[i]);
        }
        out.push('\n');
        for r in &t.rows {
            let time = r.time_ms.map(clock).unwrap_or_else(|| "Average:".into());
            let _ = write!(out, "{time:<9}");
            if !t.key.is_empty() {
                let _ = write!(out, " {:<14}", r.key);
            }
            for &i in &shown {
                match r.values[i] {
                    Some(v) => {
                        let _ = write!(out, " {v:>10.2}");
                    }
                    None => {
                        let _ = write!(out, " {:>10}", "-");
                    }
                }
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The tables as JSON: `[{"title", "key", "columns", "rows": [{"time_ms", "key", "values"}]}]`, hidden columns
/// left out.
pub fn to_json(tables: &[Table]) -> serde_json::Value {
    let v: Vec<serde_json::Value> = tables
        .iter()
        .map(|t| {
            let shown: Vec<usize> = (0..t.columns.len())
                .filter(|i| !t.columns[*i].starts_with('_'))
                .collect();
            serde_json::json!({
                "title": t.title,
                "key": t.key,
                "columns": shown.iter().map(|i| t.columns[*i]).collect::<Vec<_>>(),
                "rows": t.rows.iter().map(|r| serde_json::json!({
                    "time_ms": r.time_ms,
                    "key": r.key,
                    "values": shown.iter().map(|i| r.values[*i]).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::Value::Array(v)
}

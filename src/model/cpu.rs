//! CPU utilisation as `sar -u ALL` / `mpstat` show it, total and per CPU.

use serde::Serialize;

/// Percentages over the interval, keyed by sar -u ALL's columns; `%user`/`%system` are sar -u's default columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUtil {
    /// "all" or the CPU number.
    pub cpu: String,
    #[serde(rename = "%usr")]
    pub usr: f64,
    #[serde(rename = "%nice")]
    pub nice: f64,
    #[serde(rename = "%sys")]
    pub sys: f64,
    #[serde(rename = "%iowait")]
    pub iowait: f64,
    #[serde(rename = "%steal")]
    pub steal: f64,
    #[serde(rename = "%irq")]
    pub irq: f64,
    #[serde(rename = "%soft")]
    pub soft: f64,
    #[serde(rename = "%guest")]
    pub guest: f64,
    #[serde(rename = "%gnice")]
    pub gnice: f64,
    #[serde(rename = "%idle")]
    pub idle: f64,
    /// sar -u: user including guest time.
    #[serde(rename = "%user")]
    pub user: f64,
    /// sar -u: system + irq + softirq.
    #[serde(rename = "%system")]
    pub system: f64,
}

/// Raw tick counters of one CPU line of /proc/stat (USER_HZ), as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuTicks {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// Over all CPUs (None on the first reading: no interval yet).
    pub all: Option<CpuUtil>,
    pub cpus: Vec<CpuUtil>,
    /// Counters since boot per CPU ("cpu" number as index label), for node_cpu_seconds_total.
    #[serde(skip)]
    pub ticks: Vec<(String, CpuTicks)>,
    /// USER_HZ, to turn ticks into seconds.
    #[serde(skip)]
    pub hz: u64,
}

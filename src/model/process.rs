//! Processes: totals by state, the top N by CPU and by memory as top/pidstat compute them, and per-group
//! aggregates (the only per-process figures that become metrics: groups have bounded cardinality).

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcInfo {
    pub pid: u32,
    pub user: String,
    pub state: String,
    /// top's Irix-mode %CPU over the interval (can exceed 100 for multi-threaded processes).
    #[serde(rename = "%cpu")]
    pub cpu_pct: f64,
    /// Bytes.
    pub rss: u64,
    pub vsz: u64,
    pub threads: u64,
    pub fds: Option<u64>,
    /// Seconds since the epoch.
    pub start_time: u64,
    pub command: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub processes: u64,
    pub threads: u64,
    #[serde(rename = "%cpu")]
    pub cpu_pct: f64,
    /// CPU seconds since start of the current members, for a counter.
    pub cpu_seconds: f64,
    pub rss: u64,
    pub fds: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Processes {
    pub total: u64,
    pub threads: u64,
    /// Processes per state letter as ps shows it (R, S, D, Z, T, t, I, X).
    pub states: std::collections::BTreeMap<String, u64>,
    pub top_cpu: Vec<ProcInfo>,
    pub top_rss: Vec<ProcInfo>,
    pub groups: Vec<Group>,
    /// Seconds since this scan was taken: 0 when taken by this collection, more when the daemon reports its last
    /// scan again (`[host.process] scan_every`, the CPU-budget back-off).
    pub age_s: f64,
}

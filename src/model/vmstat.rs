//! vmstat's line, sar -w and sar -B / sar -W figures.

use serde::Serialize;

/// `vmstat` columns (procps-ng definitions; see docs/host-system.md for the corrected 4.0.2 quirks), plus
/// sar -w's proc/s and cswch/s. Memory columns in KiB as vmstat prints them; rates per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Vmstat {
    pub r: u64,
    pub b: u64,
    pub swpd: u64,
    pub free: u64,
    pub buff: u64,
    pub cache: u64,
    pub si: f64,
    pub so: f64,
    pub bi: f64,
    pub bo: f64,
    #[serde(rename = "in")]
    pub intr: f64,
    pub cs: f64,
    pub us: f64,
    pub sy: f64,
    pub id: f64,
    pub wa: f64,
    pub st: f64,
    #[serde(rename = "proc/s")]
    pub forks_per_s: f64,
    #[serde(rename = "cswch/s")]
    pub cswch_per_s: f64,
    /// Counters since boot, for the exposition.
    #[serde(skip)]
    pub totals: VmTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VmTotals {
    pub intr: u64,
    pub ctxt: u64,
    pub forks: u64,
    pub boot_time: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

/// sar -B and sar -W columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Paging {
    #[serde(rename = "pgpgin/s")]
    pub pgpgin: f64,
    #[serde(rename = "pgpgout/s")]
    pub pgpgout: f64,
    #[serde(rename = "fault/s")]
    pub fault: f64,
    #[serde(rename = "majflt/s")]
    pub majflt: f64,
    #[serde(rename = "pgfree/s")]
    pub pgfree: f64,
    #[serde(rename = "pgscank/s")]
    pub pgscank: f64,
    #[serde(rename = "pgscand/s")]
    pub pgscand: f64,
    #[serde(rename = "pgsteal/s")]
    pub pgsteal: f64,
    #[serde(rename = "%vmeff")]
    pub vmeff: f64,
    #[serde(rename = "pswpin/s")]
    pub pswpin: f64,
    #[serde(rename = "pswpout/s")]
    pub pswpout: f64,
    /// Every /proc/vmstat counter as read, for node_vmstat_*.
    #[serde(skip)]
    pub raw: Vec<(String, i64)>,
}

//! Disks as `iostat -x` shows them (sysstat 12.x column set), one entry per device.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Disk {
    pub device: String,
    #[serde(rename = "r/s")]
    pub r_s: f64,
    #[serde(rename = "w/s")]
    pub w_s: f64,
    #[serde(rename = "d/s")]
    pub d_s: f64,
    #[serde(rename = "f/s")]
    pub f_s: f64,
    #[serde(rename = "rkB/s")]
    pub rkb_s: f64,
    #[serde(rename = "wkB/s")]
    pub wkb_s: f64,
    #[serde(rename = "dkB/s")]
    pub dkb_s: f64,
    #[serde(rename = "rrqm/s")]
    pub rrqm_s: f64,
    #[serde(rename = "wrqm/s")]
    pub wrqm_s: f64,
    #[serde(rename = "drqm/s")]
    pub drqm_s: f64,
    #[serde(rename = "%rrqm")]
    pub rrqm_pct: f64,
    #[serde(rename = "%wrqm")]
    pub wrqm_pct: f64,
    #[serde(rename = "%drqm")]
    pub drqm_pct: f64,
    pub r_await: f64,
    pub w_await: f64,
    pub d_await: f64,
    pub f_await: f64,
    #[serde(rename = "aqu-sz")]
    pub aqu_sz: f64,
    #[serde(rename = "rareq-sz")]
    pub rareq_sz: f64,
    #[serde(rename = "wareq-sz")]
    pub wareq_sz: f64,
    #[serde(rename = "dareq-sz")]
    pub dareq_sz: f64,
    #[serde(rename = "%util")]
    pub util: f64,
    /// Counters since boot, for node_disk_*.
    #[serde(skip)]
    pub totals: DiskTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiskTotals {
    pub reads: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    pub write_ms: u64,
    pub in_flight: u64,
    pub io_ms: u64,
    pub weighted_ms: u64,
    pub discards: Option<u64>,
    pub discards_merged: Option<u64>,
    pub sectors_discarded: Option<u64>,
    pub discard_ms: Option<u64>,
    pub flushes: Option<u64>,
    pub flush_ms: Option<u64>,
}

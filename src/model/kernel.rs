//! The node's kernel-wide figures that node_exporter's default collectors export beside the classic tools'
//! columns: uname, the clock's NTP state, file handles, conntrack, entropy, softnet and ARP.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kernel {
    pub uname: Option<Uname>,
    /// The wall clock when read, seconds since the epoch (node_time_seconds).
    pub time_s: f64,
    pub timex: Option<Timex>,
    pub filefd: Option<FileFd>,
    pub conntrack: Option<Conntrack>,
    pub entropy: Option<Entropy>,
    pub softnet: Vec<Softnet>,
    /// ARP entries per device.
    pub arp: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Uname {
    pub sysname: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub nodename: String,
    pub domainname: String,
}

/// adjtimex(2) read-only, in node_exporter's units.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timex {
    pub offset_s: f64,
    pub frequency_adjustment_ratio: f64,
    pub maxerror_s: f64,
    pub esterror_s: f64,
    pub status: i64,
    pub loop_time_constant: i64,
    pub tick_s: f64,
    pub pps_frequency_hz: f64,
    pub pps_jitter_s: f64,
    pub pps_shift_s: f64,
    pub pps_stability_hz: f64,
    pub pps_jitter_total: i64,
    pub pps_calibration_total: i64,
    pub pps_error_total: i64,
    pub pps_stability_exceeded_total: i64,
    pub tai_offset_s: i64,
    /// 1 when the kernel clock is synchronised (adjtimex did not answer TIME_ERROR).
    pub sync_status: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FileFd {
    pub allocated: u64,
    pub maximum: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Conntrack {
    pub entries: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Entropy {
    pub available_bits: u64,
    pub pool_size_bits: u64,
}

/// One line of /proc/net/softnet_stat: counters since boot of one CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Softnet {
    pub cpu: u32,
    pub processed: u64,
    pub dropped: u64,
    pub times_squeezed: u64,
    pub received_rps: u64,
    pub flow_limit_count: u64,
    pub backlog_len: u64,
}

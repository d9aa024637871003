//! `sar -q`: run queue and load averages.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Load {
    #[serde(rename = "runq-sz")]
    pub runq_sz: u64,
    #[serde(rename = "plist-sz")]
    pub plist_sz: u64,
    #[serde(rename = "ldavg-1")]
    pub ldavg_1: f64,
    #[serde(rename = "ldavg-5")]
    pub ldavg_5: f64,
    #[serde(rename = "ldavg-15")]
    pub ldavg_15: f64,
    pub blocked: u64,
    /// Online CPUs, so a run queue can be read against them.
    pub cpus: u64,
}

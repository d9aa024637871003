//! cgroup limits and usage (v1 and v2): what explains "the container was killed at 4 GB".

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CgroupStats {
    /// Path relative to the cgroup root, e.g. "/system.slice/tomcat.service".
    pub path: String,
    /// CPU limit in cores (quota / period); None when unlimited.
    pub cpu_limit_cores: Option<f64>,
    pub cpu_usage_seconds: Option<f64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_seconds: Option<f64>,
    /// Bytes; None when unlimited.
    pub memory_limit: Option<u64>,
    pub memory_usage: Option<u64>,
    pub oom_kills: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cgroup {
    /// 1 or 2.
    pub version: u8,
    pub groups: Vec<CgroupStats>,
}

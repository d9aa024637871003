//! Memory as `free -w` shows it (procps-ng 4 definitions), in bytes, plus the raw meminfo counters.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    pub shared: u64,
    pub buffers: u64,
    pub cache: u64,
    pub available: u64,
    pub swap: Swap,
    /// /proc/meminfo as read, in bytes (counts such as HugePages_Total as they are), for node_memory_*.
    pub meminfo: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Swap {
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

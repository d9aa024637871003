//! Filesystems as `df -B1` and `df -i` show them.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Filesystem {
    pub filesystem: String,
    pub mountpoint: String,
    pub fstype: String,
    /// Bytes.
    pub size: u64,
    pub used: u64,
    pub avail: u64,
    #[serde(rename = "use%")]
    pub use_pct: u64,
    pub inodes: u64,
    pub iused: u64,
    pub ifree: u64,
    #[serde(rename = "iuse%")]
    pub iuse_pct: u64,
    /// Free bytes including those reserved for root (node_filesystem_free_bytes).
    pub free: u64,
    pub readonly: bool,
}

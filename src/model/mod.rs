//! Plain data: what a collection read and what was derived from it. Imports nothing else of wasp's.
//!
//! Every figure that a classic tool also shows is serialised under that tool's own column name
//! (`"r_await"`, `"%util"`, `"rxkB/s"`, ...), so the JSON view can be held against the tool column by column.
//! Sizes are in bytes and rates per second unless the column name says otherwise.

pub mod access;
pub mod cgroup;
pub mod cpu;
pub mod derive;
pub mod disk;
pub mod doc;
pub mod event;
pub mod fs;
pub mod jvm;
pub mod kernel;
pub mod load;
pub mod memory;
pub mod metric;
pub mod net;
pub mod pressure;
pub mod process;
pub mod vmstat;

pub use doc::Document;
pub use metric::{Family, MetricKind, MetricSet, Sample};

use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One reading of the host and its JVMs. A section is `None` when its collector is off or failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Collection {
    /// Wall-clock time of the reading, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Seconds between this reading and the one the rates were computed from; `None` on the first reading.
    pub interval_s: Option<f64>,
    pub hostname: String,
    pub cpu: Option<cpu::Cpu>,
    pub vmstat: Option<vmstat::Vmstat>,
    pub paging: Option<vmstat::Paging>,
    pub memory: Option<memory::Memory>,
    pub load: Option<load::Load>,
    pub disks: Vec<disk::Disk>,
    pub filesystems: Vec<fs::Filesystem>,
    pub net: Option<net::Net>,
    pub tcp: Option<net::Tcp>,
    pub sockets: Option<net::Sockets>,
    pub processes: Option<process::Processes>,
    pub cgroup: Option<cgroup::Cgroup>,
    pub pressure: Option<pressure::Pressure>,
    pub kernel: Option<kernel::Kernel>,
    pub jvms: Vec<jvm::Jvm>,
    /// Requests from access logs, one entry per log of each app (instance).
    pub access: Vec<access::AppRequests>,
    /// Per log: the last complete minute's top URL templates.
    pub access_top: Vec<access::AccessTop>,
    /// Per app: the response-time scatter's points and what its bound sampled away.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_scatter: Vec<access::ScatterCount>,
    /// Collectors that failed or were incomplete in this reading: (collector, message).
    pub errors: Vec<CollectorError>,
    /// How long each collector took in this reading, seconds.
    pub timings: Vec<(String, f64)>,
}

/// The newest collection with how long it took: published by the daemon's collection loop, read by the
/// snapshot worker (the host figures of the moment in a bundle) and `wasp status`.
#[derive(Debug, Clone)]
pub struct LatestCollection {
    pub collection: Arc<Collection>,
    pub took: Duration,
}

/// A shared handle to the newest collection; `None` before the first.
pub type Latest = Arc<Mutex<Option<Arc<LatestCollection>>>>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectorError {
    pub collector: String,
    pub message: String,
}

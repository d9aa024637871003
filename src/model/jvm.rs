//! One HotSpot JVM as read from its hsperfdata: identity, jstat's columns, and the figures behind the
//! Prometheus Java client's hotspot metrics.

use serde::{Deserialize, Serialize};

/// Which names the JVM figures go out under: the current Prometheus Java client's (1.x), or its 0.x names
/// (jvm_memory_bytes_used, jvm_info) for dashboards built on them, such as Grafana 8563.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JvmMetricNames {
    #[default]
    ClientJava,
    ClientJavaLegacy,
}

/// The JVM's process as client_java's ProcessMetrics reads it, here from /proc/<pid> (same definitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Seconds since the epoch, to the clock tick.
    pub start_time_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// None when /proc/<pid>/fd or limits could not be read (another user's process without privilege).
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Jvm {
    pub pid: u32,
    /// The pid inside the JVM's own pid namespace (containers), from NSpid.
    pub ns_pid: u32,
    pub user: String,
    pub app: String,
    /// Main class or jar, from sun.rt.javaCommand or the command line.
    pub main: String,
    pub version: Option<String>,
    pub vendor: Option<String>,
    /// java.runtime.name as the JVM would give it (hsperfdata has only java.vm.name: see jvm::runtime_name).
    pub runtime: Option<String>,
    pub gc: Option<String>,
    pub container_id: Option<String>,
    /// Seconds since the epoch.
    pub start_time: u64,
    /// False when the JVM has no counters (-XX:-UsePerfData, -XX:+PerfDisableSharedMem, not HotSpot).
    pub measurable: bool,
    pub reason: Option<String>,
    pub jstat: Option<Jstat>,
    pub figures: Option<JvmFigures>,
    /// From /proc/<pid>; None when the process could not be read.
    pub process: Option<ProcessStats>,
}

/// `jstat -gc` and `-gcutil` columns, jstat's own definitions; None prints as "-".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[allow(non_snake_case)]
pub struct Jstat {
    pub S0C: Option<f64>,
    pub S1C: Option<f64>,
    pub S0U: Option<f64>,
    pub S1U: Option<f64>,
    pub EC: Option<f64>,
    pub EU: Option<f64>,
    pub OC: Option<f64>,
    pub OU: Option<f64>,
    pub MC: Option<f64>,
    pub MU: Option<f64>,
    pub CCSC: Option<f64>,
    pub CCSU: Option<f64>,
    pub YGC: Option<i64>,
    pub YGCT: Option<f64>,
    pub FGC: Option<i64>,
    pub FGCT: Option<f64>,
    pub CGC: Option<i64>,
    pub CGCT: Option<f64>,
    pub GCT: f64,
    pub S0: Option<f64>,
    pub S1: Option<f64>,
    pub E: Option<f64>,
    pub O: Option<f64>,
    pub M: Option<f64>,
    pub CCS: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Area {
    pub used: u64,
    pub committed: u64,
    /// None where the JVM says undefined (-1).
    pub max: Option<u64>,
    /// MemoryUsage.getInit(), where hsperfdata holds it.
    pub init: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pool {
    /// As the Java client names it: "G1 Eden Space", "PS Old Gen", "Metaspace", ...
    pub name: String,
    pub used: u64,
    pub committed: u64,
    /// None where the JVM says undefined (-1).
    pub max: Option<u64>,
    /// MemoryUsage.getInit(), where hsperfdata holds it.
    pub init: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcCollector {
    /// As the Java client names it: "G1 Young Generation", "PS MarkSweep", ...
    pub name: String,
    /// young, old or concurrent.
    pub kind: String,
    pub count: i64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JvmFigures {
    pub heap: Area,
    pub nonheap: Area,
    pub pools: Vec<Pool>,
    pub collectors: Vec<GcCollector>,
    pub last_gc_cause: Option<String>,
    /// Share of the last interval spent in GC pauses, percent.
    pub gc_overhead_pct: Option<f64>,
    /// Eden filled per second over the last interval (its growth, plus a whole eden per young GC between the
    /// readings): an estimate of the allocation rate, not a count.
    pub alloc_bytes_per_s: Option<f64>,
    /// Old generation used right after the last full collection or concurrent cycle, and as % of its max.
    pub old_after_gc: Option<u64>,
    pub old_after_gc_pct: Option<f64>,
    pub threads_live: i64,
    pub threads_daemon: i64,
    pub threads_peak: i64,
    pub threads_started: i64,
    pub classes_loaded: i64,
    pub classes_unloaded: i64,
    pub safepoints: i64,
    pub safepoint_seconds: f64,
    pub jit_seconds: f64,
    pub uptime_seconds: f64,
}

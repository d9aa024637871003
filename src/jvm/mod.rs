//! JVM collectors: find every HotSpot JVM on the host, read its hsperfdata counters, and (on request) speak the
//! attach protocol for thread dumps, class histograms and diagnostic commands. Nothing is loaded into the JVM.

pub mod analysis;
pub mod attach;
pub mod attach_error;
pub mod discover;
pub mod dump;
pub mod fallback;
pub mod heap_dump;
pub mod histogram;
pub mod lifecycle;
pub mod metrics;
pub mod perfdata;
mod proc_state;
pub mod reply;
pub mod tomcat;
mod trigger_file;

/// The name the dump model had before it became a module family; tests and other code still use it.
pub use dump as threaddump;

use crate::config::units::Pattern;
use crate::host::Roots;
use crate::model::Collection;
use crate::model::jvm::Jvm;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JvmConfig {
    pub enabled: bool,
    /// Names for JVMs, by a regular expression on the command line; the first match wins.
    pub apps: Vec<AppRule>,
    /// A jcmd to run (as the JVM's user) when wasp's own attach is impossible; empty: never.
    pub attach_fallback: PathBuf,
    /// The largest attach reply (dump, histogram) accepted; a larger one is refused, never cut.
    pub max_attach_reply: crate::config::units::ByteSize,
    /// client_java (1.x names, the default) or client_java_legacy (0.x names, jvm_info).
    pub metric_names: crate::model::jvm::JvmMetricNames,
}

impl JvmConfig {
    /// The fallback tool, when one is configured.
    pub fn fallback(&self) -> Option<PathBuf> {
        (!self.attach_fallback.as_os_str().is_empty()).then(|| self.attach_fallback.clone())
    }
}

impl Default for JvmConfig {
    fn default() -> Self {
        JvmConfig {
            enabled: true,
            apps: Vec::new(),
            attach_fallback: PathBuf::new(),
            max_attach_reply: crate::config::units::ByteSize(attach::DEFAULT_MAX_REPLY as u64),
            metric_names: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppRule {
    #[serde(rename = "match")]
    pub pattern: Pattern,
    pub name: String,
}

struct Known {
    proc_: discover::JvmProcess,
    prev: Option<metrics::Previous>,
}

/// Discovers JVMs and reads their counters on every collection. JVMs are keyed by pid and start time, so a
/// reused pid is a new JVM, and a JVM that is gone is dropped with its state.
pub struct JvmCollector {
    cfg: JvmConfig,
    known: HashMap<(u32, u64), Known>,
    scanner: discover::Scanner,
    boot: u64,
    hz: u64,
}

impl JvmCollector {
    pub fn new(cfg: &JvmConfig) -> Self {
        JvmCollector {
            cfg: cfg.clone(),
            known: HashMap::new(),
            scanner: discover::Scanner::default(),
            boot: procfs::boot_time_secs().unwrap_or(0),
            hz: procfs::ticks_per_second().max(1),
        }
    }

    pub fn collect(&mut self, roots: &Roots, out: &mut Collection) -> anyhow::Result<()> {
        let found = self.scanner.scan(roots, &self.cfg);
        let mut next = HashMap::new();
        for j in found {
            let key = (j.pid, j.start_ticks);
            let mut k = self.known.remove(&key).unwrap_or(Known {
                proc_: j.clone(),
                prev: None,
            });
            // The file may appear after start-up or vanish; identity (app, cmdline) stays cached.
            k.proc_.hsperfdata = j.hsperfdata;
            k.proc_.perf_source = j.perf_source;
            k.proc_.not_measurable = j.not_measurable;
            let jvm = self.read(&mut k, &roots.proc);
            if !jvm.measurable && k.proc_.perf_source.is_some() {
                self.scanner.forget(jvm.pid);
            }
            out.jvms.push(jvm);
            next.insert(key, k);
        }
        self.known = next;
        Ok(())
    }

    fn read(&self, k: &mut Known, proc_root: &std::path::Path) -> Jvm {
        let p = &k.proc_;
        let start_time = self.boot + p.start_ticks / self.hz;
        let mut jvm = Jvm {
            pid: p.pid,
            ns_pid: p.ns_pid,
            user: p.user.clone(),
            app: p.app.clone(),
            main: p.main.clone(),
            container_id: p.container_id.clone(),
            start_time,
            measurable: false,
            reason: p.not_measurable.clone(),
            ..Default::default()
        };
        jvm.process = crate::host::pidstat::read(proc_root, p.pid, self.boot, self.hz);
        let Some(src) = &p.perf_source else {
            return jvm;
        };
        let path = src.display_path();
        match perfdata::PerfData::read_source(src) {
            Ok(pd) => {
                if let Some(why) = stale(&pd, start_time) {
                    jvm.reason = Some(format!("{}: {why}", path.display()));
                    return jvm;
                }
                jvm.measurable = true;
                jvm.reason = None;
                jvm.version = pd.string("java.property.java.vm.version").map(String::from);
                jvm.vendor = pd.string("java.property.java.vm.vendor").map(String::from);
                jvm.runtime = pd
                    .string("java.property.java.vm.name")
                    .map(metrics::runtime_name);
                jvm.gc = metrics::gc_name(&pd);
                if let Some(cmd) = pd.string("sun.rt.javaCommand")
                    && let Some(main) = cmd.split_whitespace().next()
                {
                    jvm.main = main.to_string();
                }
                jvm.jstat = Some(metrics::jstat(&pd));
                let (f, prev) = metrics::figures(&pd, k.prev.as_ref());
                jvm.figures = Some(f);
                k.prev = Some(prev);
            }
            Err(e) => {
                jvm.reason = Some(format!("pid {}: {}: {e}", p.pid, path.display()));
            }
        }
        jvm
    }
}

/// Why a hsperfdata file is not this JVM's, if it is not: a file left by an earlier JVM with this pid began long
/// before this process, and one without its begin time cannot be told apart from such a file (HotSpot always
/// writes it), so it is not trusted either. `start_time`: the process's start, seconds since the epoch.
pub fn stale(pd: &perfdata::PerfData, start_time: u64) -> Option<String> {
    match pd.long("sun.rt.createVmBeginTime") {
        None => Some("no sun.rt.createVmBeginTime: not trusted as this JVM's hsperfdata".into()),
        Some(begin_ms) if (begin_ms / 1000).abs_diff(start_time as i64) > 30 => {
            Some("stale hsperfdata (another JVM's, pid reused)".into())
        }
        Some(_) => None,
    }
}

/// A process's start in seconds since the epoch, from its start time in clock ticks since boot.
pub fn start_time_secs(start_ticks: u64) -> u64 {
    procfs::boot_time_secs().unwrap_or(0) + start_ticks / procfs::ticks_per_second().max(1)
}

//! One reading of everything wasp watches: the host collectors, then the JVMs. Shared by `wasp once` and the
//! daemon so that both print the very same figures.

use crate::config::Config;
use crate::host::{HostCollector, Roots};
use crate::jvm::JvmCollector;
use crate::model::{Collection, CollectorError};
use std::time::Instant;

pub struct Collector {
    hostname: String,
    host: HostCollector,
    jvm: Option<JvmCollector>,
    access: Option<crate::access::AccessCollector>,
    last: Option<Instant>,
}

impl Collector {
    pub fn new(cfg: &Config) -> Self {
        Self::with_scatter(cfg, crate::access::scatter::Scatter::default())
    }

    /// As `new`, the access logs' scatter points going to `scatter` (the daemon's API reads them).
    pub fn with_scatter(cfg: &Config, scatter: crate::access::scatter::Scatter) -> Self {
        let roots = Roots {
            proc: cfg.agent.proc_root.clone(),
            sys: cfg.agent.sys_root.clone(),
        };
        Collector {
            hostname: cfg.hostname(),
            host: HostCollector::new(&cfg.host, roots),
            jvm: cfg.jvm.enabled.then(|| JvmCollector::new(&cfg.jvm)),
            access: (cfg.access.discover_tomcat || !cfg.access_logs.is_empty()).then(|| {
                crate::access::AccessCollector::start(
                    &cfg.access,
                    &cfg.access_logs,
                    cfg.agent.proc_root.clone(),
                    scatter,
                )
            }),
            last: None,
        }
    }

    /// Every reading of its moment, whatever it costs: for `wasp once`, not the daemon.
    pub fn every_reading_fresh(&mut self) {
        self.host.every_reading_fresh();
    }

    /// Takes one reading. Rates are over the real time since the previous call (none on the first).
    /// The CPU-budget back-off of the expensive collectors (see daemon).
    pub fn set_process_every(&mut self, n: u32) {
        self.host.set_process_every(n);
    }

    pub fn process_every(&self) -> u32 {
        self.host.process_every()
    }

    pub fn collect(&mut self) -> Collection {
        let now = Instant::now();
        let mut c = Collection {
            timestamp_ms: crate::util::clock::now_ms(),
            interval_s: self.last.map(|l| now.duration_since(l).as_secs_f64()),
            hostname: self.hostname.clone(),
            ..Default::default()
        };
        self.host.collect(&mut c);
        if let Some(j) = &mut self.jvm {
            let t = Instant::now();
            if let Err(e) = j.collect(self.host.roots(), &mut c) {
                c.errors.push(CollectorError {
                    collector: "jvm".into(),
                    message: format!("{e:#}"),
                });
            }
            c.timings.push(("jvm".into(), t.elapsed().as_secs_f64()));
        }
        if let Some(a) = &mut self.access {
            a.collect(&mut c);
        }
        self.last = Some(now);
        c
    }
}

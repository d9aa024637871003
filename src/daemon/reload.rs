//! SIGHUP / `wasp reload`: re-read and validate the whole file, apply what can change while running, and say
//! which changes wait for a restart. Configs are compared with `PartialEq`.

use crate::config::Config;
use std::path::Path;
use std::time::Instant;

/// Re-reads and validates the whole file; an invalid one changes nothing and says why.
pub(crate) fn reload(current: &Config, path: Option<&Path>) -> Option<Config> {
    let started = Instant::now();
    let new = match Config::load_default_or(path) {
        Ok((c, _)) => c,
        Err(e) => {
            tracing::error!(error = %e, "reload refused: the configuration is invalid; nothing changed");
            return None;
        }
    };
    if new.server != current.server {
        tracing::warn!("[server] changes take effect at the next restart; the rest is applied now");
    }
    if new.sinks != current.sinks {
        tracing::warn!(
            "[sinks] changes take effect at the next restart (spools and senders stay as they are)"
        );
    }
    if new.agent.data_dir != current.agent.data_dir {
        tracing::warn!("[agent] data_dir changes take effect at the next restart");
    }
    if !same_worker(&new, current) || new.control != current.control {
        tracing::warn!(
            "[snapshots] and [control] changes (but signal_apps) take effect at the next restart"
        );
    }
    crate::logging::set_level(new.log.level);
    tracing::info!(
        interval = %new.agent.interval,
        level = new.log.level.as_str(),
        took = ?started.elapsed(),
        "configuration reloaded"
    );
    Some(new)
}

/// signal_apps applies at once (the signal handler reads the current config); the snapshot worker keeps the
/// rest of [snapshots] until a restart.
fn same_worker(a: &Config, b: &Config) -> bool {
    let mut a = a.snapshots.clone();
    a.signal_apps.clone_from(&b.snapshots.signal_apps);
    a == b.snapshots
}

/// Whether the collectors must be rebuilt: only when what `Collector::new` reads changed. Otherwise they keep
/// their previous readings (rates continue), their JVM state and the CPU-budget back-off.
pub(crate) fn collectors_changed(a: &Config, b: &Config) -> bool {
    a.host != b.host
        || a.jvm != b.jvm
        || a.agent.proc_root != b.agent.proc_root
        || a.agent.sys_root != b.agent.sys_root
        || a.agent.hostname != b.agent.hostname
        || a.access != b.access
        || a.access_logs != b.access_logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_collection_config_rebuilds_the_collectors() {
        let a = Config::default();
        let mut b = a.clone();
        b.log.level = crate::config::LogLevel::Debug;
        b.agent.interval = crate::config::units::Interval::secs(1);
        b.agent.labels.insert("env".into(), "prod".into());
        b.agent.cpu_budget_percent = 9.0;
        assert!(!collectors_changed(&a, &b));
        b.host.process.top += 1;
        assert!(collectors_changed(&a, &b));
        let mut c = a.clone();
        c.jvm.enabled = !c.jvm.enabled;
        assert!(collectors_changed(&a, &c));
        let mut d = a.clone();
        d.agent.proc_root = "/host/proc".into();
        assert!(collectors_changed(&a, &d));
        let mut e = a.clone();
        e.access.buckets.push(60.0);
        assert!(collectors_changed(&a, &e));
    }

    #[test]
    fn signal_apps_alone_is_not_a_worker_change() {
        let a = Config::default();
        let mut b = a.clone();
        b.snapshots.signal_apps = vec!["shop".into()];
        assert!(same_worker(&a, &b));
        b.snapshots.keep = 3;
        assert!(!same_worker(&a, &b));
    }
}

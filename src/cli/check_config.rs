//! `wasp check-config FILE`: validate a file and say exactly what is wrong, with line and column.

use crate::config::Config;
use std::path::Path;

pub(crate) fn check_config(path: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(path)?;
    outln!(
        "{}: OK (interval {}, {} process group(s), {} cgroup(s), {} JVM app rule(s))",
        path.display(),
        cfg.agent.interval,
        cfg.host.process.groups.len(),
        cfg.host.cgroup.paths.len(),
        cfg.jvm.apps.len()
    );
    Ok(())
}

//! JVM collectors: find every HotSpot JVM on the host, read its hsperfdata counters, and (on request) speak the
//! attach protocol for thread dumps, class histograms and diagnostic commands. Nothing is loaded into the JVM.

pub mod analysis;
pub mod attach;
pub mod cli;
pub mod discover;
pub mod dump_cli;
pub mod histogram;
pub mod metrics;
pub mod perfdata;
pub mod threaddump;

use crate::host::Roots;
use crate::model::Collection;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JvmConfig {
    pub enabled: bool,
}

impl Default for JvmConfig {
    fn default() -> Self {
        JvmConfig { enabled: true }
    }
}

/// Discovers JVMs and reads their counters on every collection.
pub struct JvmCollector {}

impl JvmCollector {
    pub fn new(_cfg: &JvmConfig) -> Self {
        JvmCollector {}
    }

    pub fn collect(
        &mut self,
        _roots: &Roots,
        _now: Instant,
        _out: &mut Collection,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

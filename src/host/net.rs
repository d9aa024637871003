//! Placeholder: the owning engineer replaces this with the real collector.

use super::Roots;
use crate::model::Collection;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { enabled: true }
    }
}

pub struct NetCollector {}

impl NetCollector {
    pub fn new(_cfg: &Config) -> Self {
        NetCollector {}
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

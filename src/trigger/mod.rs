//! Triggers: decide when to take snapshots. SIGUSR1 (a thread dump of every JVM) and SIGUSR2 (an incident
//! bundle: three dumps a few seconds apart, a class histogram and the analysis), taken on a worker thread
//! behind a bounded queue, within an hourly budget, and written under `data_dir/snapshots`; and rules,
//! schedules, log watches and service checks (see [`engine`]).

pub mod action;
pub mod check;
pub mod engine;
pub mod expr;
pub mod figures;
pub mod logwatch;
pub mod rules;
pub mod schedule;
pub mod snapshot;

use crate::config::Interval;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// At most this many snapshot requests are carried out per hour; more are refused, counted and logged.
    pub budget_per_hour: u32,
    /// Thread dumps in an incident bundle (SIGUSR2), and the time between them.
    pub bundle_dumps: u32,
    pub bundle_every: Interval,
    /// How many snapshot directories to keep; the oldest are removed.
    pub keep: usize,
    /// Deadline of one attach request.
    pub timeout: Interval,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            budget_per_hour: 20,
            bundle_dumps: 3,
            bundle_every: Interval::secs(5),
            keep: 50,
            timeout: Interval::secs(10),
        }
    }
}

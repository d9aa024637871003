//! Triggers: decide when to take snapshots. SIGUSR1 (a thread dump of every JVM), SIGUSR2 (an incident
//! bundle), `wasp trigger` over the control socket, and the rules and schedules (`engine`: rules over the
//! collected figures, schedules, log watches, service checks, actions), all ask the one snapshot worker
//! (`snapshot`), which writes dumps, histograms and bundles (`bundle`) under `data_dir/snapshots`, listed and
//! shown by `wasp incidents` (`incidents`), and hands a compact summary of
//! each to the document sinks (`documents`).

pub mod action;
pub mod bundle;
pub mod check;
pub mod documents;
pub mod engine;
pub mod expr;
pub mod figures;
pub mod incidents;
pub mod logwatch;
pub mod rules;
pub mod schedule;
pub mod snapshot;

use crate::config::units::{ByteSize, Interval};
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
    /// The most all snapshot directories together may take; the oldest are removed (the newest always stays).
    pub max_total_size: ByteSize,
    /// Deadline of one attach request.
    pub timeout: Interval,
    /// The JVMs SIGUSR1 and SIGUSR2 take, by app name; empty: every JVM.
    pub signal_apps: Vec<String>,
}

impl SnapshotConfig {
    /// The request a signal makes: SIGUSR1's dumps or SIGUSR2's bundle, of the JVMs `signal_apps` names.
    pub fn signal_request(&self, bundle: bool) -> snapshot::Request {
        let mut r = if bundle {
            snapshot::Request::Bundle
        } else {
            snapshot::Request::Dumps
        };
        if !self.signal_apps.is_empty() {
            r.select = snapshot::Select::Apps(self.signal_apps.clone());
        }
        r
    }
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            budget_per_hour: 20,
            bundle_dumps: 3,
            bundle_every: Interval::secs(5),
            keep: 50,
            max_total_size: ByteSize(500_000_000),
            timeout: Interval::secs(10),
            signal_apps: Vec::new(),
        }
    }
}

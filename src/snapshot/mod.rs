//! Snapshots: what is captured and kept. SIGUSR1 (a thread dump of every JVM), SIGUSR2 (an incident bundle),
//! `wasp trigger` over the control socket, and the rules and schedules all ask the one snapshot `worker`, which
//! writes dumps, histograms and bundles (`bundle`, with its `report`) under `data_dir/snapshots` (`store`: the
//! typed manifest, pruning, listing for `wasp incidents`), and hands a compact summary of each to the document
//! sinks (`documents`). Dumps it takes feed the BLOCKED-thread figure back to the rules through `blocked`.
//! This layer knows nothing of triggers: they import it, never the reverse.

pub mod blocked;
pub mod bundle;
pub mod documents;
pub mod report;
pub mod request;
pub(crate) mod requests;
pub mod store;
pub mod worker;

use crate::config::units::{ByteSize, Dur, Interval};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    /// A request for what is already queued or running (same kind, same JVMs), or was taken less than this long
    /// ago, is answered by that snapshot instead of taking another (a signal storm costs one dump); it does not
    /// use the budget.
    pub min_gap: Dur,
}

impl SnapshotConfig {
    /// The request a signal makes: SIGUSR1's dumps or SIGUSR2's bundle, of the JVMs `signal_apps` names.
    pub fn signal_request(&self, bundle: bool) -> request::Request {
        let mut r = if bundle {
            request::Request::Bundle
        } else {
            request::Request::Dumps
        };
        if !self.signal_apps.is_empty() {
            r.select = request::Select::Apps(self.signal_apps.clone());
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
            min_gap: Dur::secs(5),
        }
    }
}

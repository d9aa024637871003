//! The local control socket: `wasp trigger`, `wasp status` ask the running agent through a Unix socket under
//! the data dir (mode 0600; each peer's credentials checked: root or the agent's own user). One JSON line in,
//! one JSON line out. The agent side (`server`) runs on the daemon's tokio runtime, never on the collection
//! loop; `client` is the command-line side (the commands themselves are in `crate::cli::agent`).
//!
//! `wasp status` is assembled from status sections ([`StatusProvider`], all in `status`): the agent, the
//! collection, the snapshots, the shippers with their queues and spools, the triggers.

pub mod client;
pub mod server;
pub mod status;

use crate::snapshot::request::{Kind, Select};
use crate::snapshot::worker::Snapshots;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What the daemon hands the control socket.
pub struct Wiring<'a> {
    pub cfg: &'a ControlConfig,
    /// Where the socket goes (`crate::paths::socket_in`).
    pub socket: PathBuf,
    pub cfg_path: Option<&'a Path>,
    pub data_dir: &'a Path,
    pub shared: &'a crate::serve::http::Shared,
    pub latest: &'a crate::model::Latest,
    pub snapshots: &'a Snapshots,
    pub shipping: crate::ship::ShippingStatus,
    pub triggers: crate::trigger::engine::TriggerStatus,
    pub counters: Arc<server::ControlCounters>,
    pub events: crate::events::Recorder,
}

/// The running control socket: its file, removed at the stop.
pub struct Control {
    socket: Option<PathBuf>,
    /// The sections of `wasp status`, also served as `GET /api/v1/status`.
    pub providers: StatusProviders,
}

impl Control {
    /// Removes the socket file (the agent is stopping).
    pub fn stop(&self) {
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Registers the built-in status sections and, unless disabled, binds the socket and serves it on `rt`. A
/// socket that cannot be bound is logged; the agent runs on without it.
pub fn start(rt: &tokio::runtime::Runtime, w: Wiring) -> Control {
    let providers = StatusProviders::default();
    let socket = w.socket.clone();
    providers.register(Arc::new(status::AgentSection {
        started: std::time::Instant::now(),
        config: w.cfg_path.map(Path::to_path_buf),
        data_dir: w.data_dir.to_path_buf(),
        socket: socket.clone(),
        control: w.counters.clone(),
    }));
    providers.register(Arc::new(status::CollectionSection {
        shared: w.shared.clone(),
        latest: w.latest.clone(),
    }));
    providers.register(Arc::new(status::SnapshotSection(w.snapshots.clone())));
    providers.register(Arc::new(status::ShippingSection(w.shipping)));
    providers.register(Arc::new(status::TriggerSection(w.triggers)));
    providers.register(Arc::new(status::EventSection(w.events)));
    if !w.cfg.enabled {
        return Control {
            socket: None,
            providers,
        };
    }
    let bound = {
        let _in_rt = rt.enter();
        server::bind(&socket)
    };
    match bound {
        Ok(l) => {
            rt.spawn(server::serve(
                l,
                socket.clone(),
                providers.clone(),
                w.snapshots.clone(),
                w.counters,
            ));
            Control {
                socket: Some(socket),
                providers,
            }
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "no control socket: `wasp trigger` and `wasp status` will not reach this agent");
            Control {
                socket: None,
                providers,
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Serve the control socket (`wasp trigger`, `wasp status`).
    pub enabled: bool,
    /// Where; default: `<data_dir>/wasp.sock`.
    pub socket: Option<PathBuf>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            enabled: true,
            socket: None,
        }
    }
}

/// A request is one line of at most this many bytes.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What a client asks, one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum ControlRequest {
    /// Queue a snapshot; with `wait_ms` > 0, answer when it is written (or failed), or when the wait is over.
    Trigger {
        kind: Kind,
        #[serde(default)]
        select: Select,
        #[serde(default)]
        wait_ms: u64,
        /// The operator's words on why, kept with the snapshot as a context line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Status {},
}

/// One section of `wasp status`. Implementations must answer at once (read counters and copies of state,
/// never wait on I/O): they are called on the agent's runtime. The convention: every section is a
/// `<Name>Section` in `status.rs` wrapping a handle its subsystem hands out (which knows nothing of this
/// trait), registered by `start`; so the subsystems below never import the control socket.
pub trait StatusProvider: Send + Sync {
    /// The section's name ("collection", "snapshots", "shipping"...).
    fn name(&self) -> &'static str;
    /// The section: a JSON object; the CLI prints its keys and values as they are, unless it knows the
    /// section better.
    fn status(&self) -> serde_json::Value;
}

/// The registered providers, in registration order. Cheap to clone; register from anywhere at start-up.
#[derive(Clone, Default)]
pub struct StatusProviders(Arc<RwLock<Vec<Arc<dyn StatusProvider>>>>);

impl StatusProviders {
    pub fn register(&self, p: Arc<dyn StatusProvider>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(p);
    }

    /// Every section, as `[[name, value], ...]` so the order survives JSON.
    pub fn collect(&self) -> Vec<(String, serde_json::Value)> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|p| (p.name().to_string(), p.status()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_unknown_fields_are_refused() {
        let r = ControlRequest::Trigger {
            kind: Kind::Histo,
            select: Select::App("billing".into()),
            wait_ms: 5,
            note: None,
        };
        let t = serde_json::to_string(&r).unwrap();
        assert_eq!(
            t,
            r#"{"op":"trigger","kind":"histo","select":{"app":"billing"},"wait_ms":5}"#
        );
        assert_eq!(serde_json::from_str::<ControlRequest>(&t).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<ControlRequest>(r#"{"op":"trigger","kind":"dump"}"#).unwrap(),
            ControlRequest::Trigger {
                kind: Kind::Dump,
                select: Select::All,
                wait_ms: 0,
                note: None
            }
        );
        assert!(serde_json::from_str::<ControlRequest>(r#"{"op":"status","x":1}"#).is_err());
        assert!(serde_json::from_str::<ControlRequest>(r#"{"op":"reboot"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn request_parser_never_panics(s in "\\PC{0,200}") {
            let _ = serde_json::from_str::<ControlRequest>(&s);
        }
    }
}

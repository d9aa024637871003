//! Events: the moments the curves cannot show (an OOM kill, a crash, a restart), each one a plain record.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happened. The names are the values of `event.kind` in rules and of the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    OomKill,
    HungTask,
    Segfault,
    FatalSignal,
    IoError,
    FsError,
    LinkUp,
    LinkDown,
    SoftLockup,
    JvmStart,
    JvmExit,
    JvmCrash,
    JvmOom,
    JvmRestart,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::OomKill,
        EventKind::HungTask,
        EventKind::Segfault,
        EventKind::FatalSignal,
        EventKind::IoError,
        EventKind::FsError,
        EventKind::LinkUp,
        EventKind::LinkDown,
        EventKind::SoftLockup,
        EventKind::JvmStart,
        EventKind::JvmExit,
        EventKind::JvmCrash,
        EventKind::JvmOom,
        EventKind::JvmRestart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::OomKill => "oom_kill",
            EventKind::HungTask => "hung_task",
            EventKind::Segfault => "segfault",
            EventKind::FatalSignal => "fatal_signal",
            EventKind::IoError => "io_error",
            EventKind::FsError => "fs_error",
            EventKind::LinkUp => "link_up",
            EventKind::LinkDown => "link_down",
            EventKind::SoftLockup => "soft_lockup",
            EventKind::JvmStart => "jvm_start",
            EventKind::JvmExit => "jvm_exit",
            EventKind::JvmCrash => "jvm_crash",
            EventKind::JvmOom => "jvm_oom",
            EventKind::JvmRestart => "jvm_restart",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One event. `message` is the one line an operator reads; `fields` carry the figures behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Wall-clock time it happened (the kernel's timestamp converted for kernel events), ms since the epoch.
    pub timestamp_ms: i64,
    pub kind: EventKind,
    /// "kmsg" or "jvm".
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// A device or interface (sda, eth0) for disk, file-system and link events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// The kernel's sequence number, for kernel events: what makes a restart resume without duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl Event {
    /// The signal behind the event, where it is known: a `signal` field (an exit's killing signal), SIGSEGV
    /// for a kernel segfault line, the signal an hs_err file names ("SIGSEGV (0xb) at pc=...").
    /// A crash's own signal comes before the SIGABRT the JVM ends itself with after writing hs_err.
    pub fn signal(&self) -> Option<String> {
        let from_hs_err = || {
            let w = self.fields.get("error")?.split_whitespace().next()?;
            w.starts_with("SIG").then(|| w.to_string())
        };
        match self.kind {
            EventKind::JvmCrash => from_hs_err().or_else(|| self.fields.get("signal").cloned()),
            EventKind::Segfault => Some("SIGSEGV".into()),
            _ => self.fields.get("signal").cloned(),
        }
    }

    pub fn new(kind: EventKind, source: &str, timestamp_ms: i64, message: String) -> Event {
        Event {
            timestamp_ms,
            kind,
            source: source.to_string(),
            pid: None,
            comm: None,
            app: None,
            cgroup: None,
            device: None,
            message,
            fields: BTreeMap::new(),
            seq: None,
        }
    }
}

//! The one snapshot request type: what to take (`Kind`), of which JVMs (`Select`), why (`Reason`), and the
//! context lines that explain the moment. Signals, the control socket and the triggers all build these; the
//! worker carries them out.

use crate::model::event::Event;
use serde::Serialize;
use std::fmt;

/// Context lines one request may carry (log lines around the moment); more are cut, and the cut is said.
pub const MAX_CONTEXT_LINES: usize = 200;
const MAX_CONTEXT_LINE: usize = 4096;

/// What to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One thread dump per selected JVM.
    Dump,
    /// One class histogram per selected JVM.
    Histo,
    /// An incident bundle: dumps apart in time, histogram, sockets, open files, process and host figures,
    /// the analysis report.
    Bundle,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dump => "dump",
            Kind::Histo => "histo",
            Kind::Bundle => "bundle",
        }
    }
}

/// Which JVMs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Select {
    #[default]
    All,
    Pid(u32),
    /// The app name wasp gives the JVM (`wasp jvm list`).
    App(String),
    /// Any of these app names.
    Apps(Vec<String>),
    /// The other JVMs of the app of `of` (every other JVM when the app is not known): what an operator needs
    /// when `of` crashed or was OOM-killed. None may be left: a bundle then still holds the host's state.
    Siblings {
        app: Option<String>,
        of: u32,
    },
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Select::All => write!(f, "every JVM"),
            Select::Pid(p) => write!(f, "pid {p}"),
            Select::App(a) => write!(f, "app {a}"),
            Select::Apps(a) => write!(f, "apps {}", a.join(", ")),
            Select::Siblings { app: Some(a), of } => {
                write!(f, "the other JVMs of app {a} (not pid {of})")
            }
            Select::Siblings { app: None, of } => write!(f, "every JVM but pid {of}"),
        }
    }
}

/// Why: shown in the bundle, its manifest (`{"source": "rule", "name": "..."}`), `wasp incidents` and
/// `wasp status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Signal(&'static str),
    /// `wasp trigger`, with the uid of the peer on the control socket.
    Cli(u32),
    /// A rule that fired, by name.
    Rule(String),
    /// A schedule, by name.
    Schedule(String),
    /// A button of the web console (POST /api/v1/jvms/<pid>/actions/...).
    Console,
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match self {
            Reason::Signal(n) => {
                m.serialize_entry("source", "signal")?;
                m.serialize_entry("name", n)?;
            }
            Reason::Cli(uid) => {
                m.serialize_entry("source", "cli")?;
                m.serialize_entry("uid", uid)?;
            }
            Reason::Rule(n) => {
                m.serialize_entry("source", "rule")?;
                m.serialize_entry("name", n)?;
            }
            Reason::Schedule(n) => {
                m.serialize_entry("source", "schedule")?;
                m.serialize_entry("name", n)?;
            }
            Reason::Console => m.serialize_entry("source", "console")?,
        }
        m.end()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signal(s) => write!(f, "signal {s}"),
            Reason::Cli(uid) => write!(f, "wasp trigger (uid {uid})"),
            Reason::Rule(r) => write!(f, "rule {r}"),
            Reason::Schedule(s) => write!(f, "schedule {s}"),
            Reason::Console => write!(f, "web console"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub select: Select,
    pub reason: Reason,
    /// Lines that explain the moment (log lines around a match, the figures a rule saw); kept in the bundle.
    pub context: Vec<String>,
    /// The event a rule fired on (a crash, an OOM kill): kept in the bundle, summarised in its report.
    pub event: Option<Box<Event>>,
}

impl Request {
    /// One thread dump of every JVM (SIGUSR1).
    #[allow(non_upper_case_globals)]
    pub const Dumps: Request = Request {
        kind: Kind::Dump,
        select: Select::All,
        reason: Reason::Signal("SIGUSR1"),
        context: Vec::new(),
        event: None,
    };
    /// A bundle of every JVM (SIGUSR2).
    #[allow(non_upper_case_globals)]
    pub const Bundle: Request = Request {
        kind: Kind::Bundle,
        select: Select::All,
        reason: Reason::Signal("SIGUSR2"),
        context: Vec::new(),
        event: None,
    };

    pub fn new(kind: Kind, select: Select, reason: Reason) -> Request {
        Request {
            kind,
            select,
            reason,
            context: Vec::new(),
            event: None,
        }
    }

    pub fn with_event(mut self, e: Event) -> Request {
        self.event = Some(Box::new(e));
        self
    }

    /// Adds context lines, bounded: at most MAX_CONTEXT_LINES lines of at most 4 KiB each.
    pub fn with_context(mut self, lines: impl IntoIterator<Item = String>) -> Request {
        let mut cut = 0usize;
        for mut l in lines {
            if self.context.len() >= MAX_CONTEXT_LINES {
                cut += 1;
                continue;
            }
            if l.len() > MAX_CONTEXT_LINE {
                let mut end = MAX_CONTEXT_LINE;
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                l.truncate(end);
                l.push_str(" [...]");
            }
            self.context.push(l);
        }
        if cut > 0 {
            self.context.push(format!("[{cut} more line(s) not kept]"));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_bounded() {
        let r = Request::new(Kind::Dump, Select::All, Reason::Rule("x".into()))
            .with_context((0..500).map(|i| format!("line {i} {}", "é".repeat(3000))));
        assert_eq!(r.context.len(), MAX_CONTEXT_LINES + 1);
        assert!(r.context[0].len() <= MAX_CONTEXT_LINE + 6);
        assert_eq!(r.context.last().unwrap(), "[300 more line(s) not kept]");
    }
}

//! A thread dump as wasp models it, whatever the JVM or tool that printed it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// The object's identity as printed: "0x00000000f712a298", or "java.lang.Object@1b6d3586" where the tool
    /// prints class@hash (VisualVM, ThreadInfo, JSON dumps, javacores).
    pub address: String,
    /// Its class, e.g. "java.lang.Object".
    pub class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub frame: String,
    /// Lock lines under this frame: "locked", "waiting to lock", "waiting on", "parking to wait for", ...
    pub locks: Vec<(String, Lock)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub name: String,
    /// The Java thread id (#N, Id=N, id=N, tid of a JSON dump); none for VM threads.
    pub id: Option<u64>,
    pub daemon: bool,
    pub prio: Option<i32>,
    pub os_prio: Option<i32>,
    pub cpu_ms: Option<f64>,
    pub elapsed_s: Option<f64>,
    /// The JVM's thread address (tid=0x..., J9VMThread:0x...).
    pub tid: Option<String>,
    /// OS thread id (decimal), from nid= (hex on JDK ≤ 17, decimal after) or the [tid] of JDK 21+.
    pub nid: Option<u64>,
    /// The OS state text after nid ("runnable", "waiting on condition", ...).
    pub os_state: String,
    /// java.lang.Thread.State without its detail: RUNNABLE, BLOCKED, WAITING, TIMED_WAITING, NEW, TERMINATED;
    /// empty for VM threads, which have none.
    pub state: String,
    /// The detail in parentheses: "on object monitor", "parking", "sleeping".
    pub state_detail: String,
    pub frames: Vec<Frame>,
    pub ownable_synchronizers: Vec<Lock>,
    /// Virtual-thread notes ("Carrying virtual thread #..."), kept verbatim.
    pub notes: Vec<String>,
    /// A virtual thread (JDK 21+).
    #[serde(default)]
    pub virtual_thread: bool,
}

impl Thread {
    pub fn locks_held(&self) -> impl Iterator<Item = &Lock> {
        self.frames
            .iter()
            .flat_map(|f| f.locks.iter())
            .filter(|(k, _)| k == "locked")
            .map(|(_, l)| l)
            .chain(self.ownable_synchronizers.iter())
    }

    /// The lock this thread waits to enter (BLOCKED) or is parked on.
    pub fn waiting_for(&self) -> Option<&Lock> {
        self.frames.first()?.locks.iter().find_map(|(k, l)| {
            (k == "waiting to lock"
                || k == "parking to wait for"
                || k == "waiting to re-lock in wait()")
                .then_some(l)
        })
    }

    pub fn is_java(&self) -> bool {
        self.id.is_some()
    }

    /// What identifies this thread in its JVM, across dumps: the Java id, else the OS id, else the JVM's thread
    /// address; the name only when none was printed (names are labels, and two threads may share one).
    pub fn key(&self) -> String {
        match (self.id, self.nid, &self.tid) {
            (Some(id), _, _) => format!("#{id}"),
            (None, Some(nid), _) => format!("nid {nid}"),
            (None, None, Some(tid)) => format!("tid {tid}"),
            _ => format!("name {}", self.name),
        }
    }

    /// The virtual thread a carrier carries ("Carrying virtual thread #22" -> 22).
    pub fn carrying(&self) -> Option<u64> {
        self.notes.iter().find_map(|n| {
            n.strip_prefix("Carrying virtual thread #")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadDump {
    /// The header line with the VM name and version ("Full thread dump OpenJDK 64-Bit Server VM (...)").
    pub vm: Option<String>,
    pub timestamp: Option<String>,
    /// The process id, when the dump names it (jcmd's "12345:" line, JSON and text dump-to-file, javacores).
    #[serde(default)]
    pub pid: Option<u64>,
    /// Which form this was read as: "hotspot", "jrockit", "threadinfo", "visualvm", "jdk21-text", "json",
    /// "javacore".
    #[serde(default)]
    pub format: String,
    pub threads: Vec<Thread>,
    /// The JVM's own deadlock reports, each the list of thread names in the cycle, in wait order.
    pub jvm_deadlocks: Vec<Vec<String>>,
    /// "Found N deadlocks." as the JVM printed it.
    #[serde(default)]
    pub jvm_deadlock_count: Option<usize>,
    /// Lines not understood, kept verbatim (the first few hundred; `unparsed_count` has them all).
    pub unparsed: Vec<String>,
    #[serde(default)]
    pub unparsed_count: usize,
    /// The dump ends in the middle of a thread, or its closing section never came.
    #[serde(default)]
    pub truncated: bool,
}

/// Unparsed lines kept verbatim per dump; the rest are only counted.
pub const MAX_KEPT_UNPARSED: usize = 200;

impl ThreadDump {
    pub fn unparsed_line(&mut self, l: &str) {
        self.unparsed_count += 1;
        if self.unparsed.len() < MAX_KEPT_UNPARSED {
            self.unparsed.push(l.to_string());
        }
    }

    /// No thread and nothing else that says a dump was here.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty() && self.vm.is_none() && self.jvm_deadlocks.is_empty()
    }
}

/// "<0x00000000f712a298> (a java.lang.Object)", "<java.lang.Thread@3223310e>", "java.lang.Object@1b6d3586",
/// "java/lang/Object@0x00000000F0C25A48".
pub fn lock_of(s: &str) -> Option<Lock> {
    if let Some(a) = s.find('<') {
        let b = s[a..].find('>')? + a;
        let inner = &s[a + 1..b];
        let class = s[b..]
            .find("(a ")
            .map(|i| {
                s[b + i + 3..]
                    .trim_end_matches([')', ','])
                    .trim_end_matches(')')
                    .to_string()
            })
            .or_else(|| inner.split_once('@').map(|(c, _)| c.to_string()))
            .unwrap_or_default();
        return Some(Lock {
            address: inner.to_string(),
            class,
        });
    }
    let tok = s
        .split_whitespace()
        .find(|t| t.contains('@') && !t.starts_with('@'))?;
    let tok = tok.trim_end_matches([',', ')', ']']);
    let (class, _) = tok.split_once('@')?;
    Some(Lock {
        address: tok.replace('/', "."),
        class: class.replace('/', "."),
    })
}

/// How one input was read: what an operator needs to trust (or not) the analysis of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputSummary {
    pub name: String,
    /// The forms read, e.g. ["hotspot"], ["javacore"].
    pub formats: Vec<String>,
    pub encoding: String,
    /// Invalid bytes replaced while decoding.
    pub replaced: usize,
    pub cut_lines: usize,
    pub lines: u64,
    pub threads_per_dump: Vec<usize>,
    /// Dumps (1-based, within this input) that end early.
    pub truncated_dumps: Vec<usize>,
    pub unparsed_lines: usize,
    /// Log lines and other text around the dumps.
    pub outside_lines: usize,
    pub pids: Vec<u64>,
    /// Set when no thread was read: what the input looks like instead.
    pub looks_like: Option<String>,
    /// A javacore's own count of live threads, per javacore.
    pub javacore_live_threads: Vec<usize>,
}

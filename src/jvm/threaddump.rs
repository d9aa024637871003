//! Thread-dump text (jstack, jcmd Thread.print, the attach `threaddump` reply; JDK 8 to 25) as a model.
//! Whatever is not understood is kept as raw lines and counted, never dropped; nothing here can panic.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// The object address, e.g. "0x00000000f712a298".
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
    pub id: Option<u64>,
    pub daemon: bool,
    pub prio: Option<i32>,
    pub os_prio: Option<i32>,
    pub cpu_ms: Option<f64>,
    pub elapsed_s: Option<f64>,
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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadDump {
    /// The header line with the VM name and version ("Full thread dump OpenJDK 64-Bit Server VM (...)").
    pub vm: Option<String>,
    pub timestamp: Option<String>,
    pub threads: Vec<Thread>,
    /// The JVM's own deadlock reports, each the list of thread names in the cycle.
    pub jvm_deadlocks: Vec<Vec<String>>,
    /// Lines not understood, kept verbatim.
    pub unparsed: Vec<String>,
}

fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let i = s.find(key)?;
    let rest = &s[i + key.len()..];
    Some(rest.split_whitespace().next().unwrap_or(""))
}

/// "<0x00000000f712a298> (a java.lang.Object)"
fn lock_of(s: &str) -> Option<Lock> {
    let a = s.find('<')?;
    let b = s[a..].find('>')? + a;
    let class = s[b..]
        .find("(a ")
        .map(|i| {
            s[b + i + 3..]
                .trim_end_matches([')', ','])
                .trim_end_matches(')')
                .to_string()
        })
        .unwrap_or_default();
    Some(Lock {
        address: s[a + 1..b].to_string(),
        class,
    })
}

fn header(line: &str) -> Option<Thread> {
    let first = line.find('"')?;
    let last = line.rfind('"')?;
    if last <= first {
        return None;
    }
    let name = line[first + 1..last].to_string();
    let rest = &line[last + 1..];
    let mut t = Thread {
        name,
        ..Default::default()
    };
    for tok in rest.split_whitespace() {
        if let Some(id) = tok.strip_prefix('#') {
            t.id = id.parse().ok();
        } else if tok == "daemon" {
            t.daemon = true;
        } else if let Some(v) = tok.strip_prefix('[').and_then(|v| v.strip_suffix(']'))
            && !v.starts_with("0x")
            && t.nid.is_none()
        {
            t.nid = v.parse().ok();
        }
    }
    t.prio = field(rest, " prio=").and_then(|v| v.parse().ok());
    t.os_prio = field(rest, "os_prio=").and_then(|v| v.parse().ok());
    t.cpu_ms = field(rest, "cpu=").and_then(|v| v.trim_end_matches("ms").parse().ok());
    t.elapsed_s = field(rest, "elapsed=").and_then(|v| v.trim_end_matches('s').parse().ok());
    t.tid = field(rest, "tid=").map(String::from);
    if let Some(nid) = field(rest, "nid=") {
        t.nid = match nid.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => nid.parse().ok(),
        };
        // The OS state: the words after nid=..., up to the "[0x...]" stack pointer guess.
        if let Some(i) = rest.find("nid=") {
            let after = rest[i..].split_once(' ').map(|x| x.1).unwrap_or("");
            let st = after.split("  [").next().unwrap_or("").trim();
            t.os_state = st.to_string();
        }
    }
    Some(t)
}

pub fn parse(text: &str) -> ThreadDump {
    let mut d = ThreadDump::default();
    let mut cur: Option<Thread> = None;
    let mut in_sync = false;
    let mut lines = text.lines().peekable();
    while let Some(raw) = lines.next() {
        let line = raw.trim_end();
        let t = line.trim_start();
        if t.is_empty() {
            in_sync = false;
            continue;
        }
        // "Found 2 deadlocks." closes the reports.
        if t.starts_with("Found ") && t.ends_with("deadlocks.") || t == "Found 1 deadlock." {
            continue;
        }
        if t.starts_with("Found one Java-level deadlock") {
            if let Some(th) = cur.take() {
                d.threads.push(th);
            }
            // The report: quoted thread names at column 0 until "Java stack information".
            let mut names = Vec::new();
            while let Some(l) = lines.peek() {
                if l.starts_with("Java stack information") {
                    break;
                }
                let l = lines.next().unwrap_or_default();
                if l.starts_with('"') && l.trim_end().ends_with("\":") {
                    names.push(
                        l.trim_end()
                            .trim_end_matches(':')
                            .trim_matches('"')
                            .to_string(),
                    );
                }
            }
            // Skip the repeated stacks of the report, up to the next report or the end.
            while let Some(l) = lines.peek() {
                if l.starts_with("Found ") {
                    break;
                }
                lines.next();
            }
            d.jvm_deadlocks.push(names);
            continue;
        }
        if line.starts_with('"') {
            if let Some(th) = cur.take() {
                d.threads.push(th);
            }
            match header(line) {
                Some(h) => cur = Some(h),
                None => d.unparsed.push(raw.to_string()),
            }
            in_sync = false;
            continue;
        }
        if let Some(th) = cur.as_mut() {
            if let Some(st) = t.strip_prefix("java.lang.Thread.State: ") {
                let (s, detail) = match st.split_once(" (") {
                    Some((s, dt)) => (s, dt.trim_end_matches(')')),
                    None => (st, ""),
                };
                th.state = s.to_string();
                th.state_detail = detail.to_string();
                continue;
            }
            if t.starts_with("Carrying virtual thread") || t.starts_with("Mounted virtual thread") {
                th.notes.push(t.to_string());
                continue;
            }
            if let Some(f) = t.strip_prefix("at ") {
                th.frames.push(Frame {
                    frame: f.to_string(),
                    locks: Vec::new(),
                });
                continue;
            }
            if t == "Locked ownable synchronizers:" {
                in_sync = true;
                continue;
            }
            if let Some(rest) = t.strip_prefix("- ") {
                if in_sync {
                    if rest != "None"
                        && let Some(l) = lock_of(rest)
                    {
                        th.ownable_synchronizers.push(l);
                    }
                    continue;
                }
                let kind = rest.split(" <").next().unwrap_or("").trim().to_string();
                if rest == "None" {
                    continue;
                }
                match (lock_of(rest), th.frames.last_mut()) {
                    (Some(l), Some(f)) => f.locks.push((kind, l)),
                    // "- waiting on the Class initialization monitor for X" has no address: keep the text.
                    (None, Some(_)) => th.notes.push(rest.to_string()),
                    _ => d.unparsed.push(raw.to_string()),
                }
                continue;
            }
            if t.starts_with("No compile task") || t.starts_with("Compiling:") {
                th.notes.push(t.to_string());
                continue;
            }
        }
        // Lines outside threads that every dump has.
        if t.starts_with("Full thread dump") {
            d.vm = Some(t.to_string());
        } else if t.len() == 19
            && t.as_bytes().get(4) == Some(&b'-')
            && t.as_bytes().get(10) == Some(&b' ')
        {
            d.timestamp = Some(t.to_string());
        } else if t.starts_with("JNI global refs")
            || t.starts_with("Threads class SMR info")
            || t.starts_with("_java_thread_list")
            || t.starts_with("0x")
            || t == "}"
            || t.ends_with(':') && t.starts_with(char::is_numeric)
        {
            // Known bookkeeping: SMR lists and JNI counts.
        } else if let Some(th) = cur.as_mut()
            && !th.is_java()
        {
            th.notes.push(t.to_string());
        } else {
            d.unparsed.push(raw.to_string());
        }
    }
    if let Some(th) = cur.take() {
        d.threads.push(th);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(n: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dumps")
                .join(n),
        )
        .unwrap()
    }

    #[test]
    fn jdk17_and_25_dumps_parse_with_no_leftovers() {
        for f in [
            "jdk17-jstack-l.txt",
            "jdk17-jcmd-thread-print-l.txt",
            "jdk17-jstack.txt",
            "jdk25-jstack-l.txt",
            "jdk25-jcmd-thread-print-l.txt",
            "jdk25-jstack.txt",
            "jdk25-vthreads-jcmd-thread-print-l.txt",
            "jdk25-pidns-threaddump.txt",
        ] {
            let d = parse(&fixture(f));
            assert!(d.threads.len() > 10, "{f}: {} threads", d.threads.len());
            assert!(
                d.unparsed.is_empty(),
                "{f}: unparsed {:#?}",
                &d.unparsed[..d.unparsed.len().min(5)]
            );
        }
        let d = parse(&fixture("jdk17-jstack-l.txt"));
        assert_eq!(d.jvm_deadlocks.len(), 2, "{:?}", d.jvm_deadlocks);
        let main = d.threads.iter().find(|t| t.name == "main").unwrap();
        assert_eq!(
            (main.id, main.nid, main.state.as_str()),
            (Some(1), Some(0x4128), "WAITING")
        );
        let a = d.threads.iter().find(|t| t.name == "deadlock-A").unwrap();
        assert_eq!(a.state, "BLOCKED");
        assert!(a.waiting_for().is_some());
        assert!(
            d.threads
                .iter()
                .any(|t| t.name.contains('"') || t.name.chars().any(|c| c > '\u{ac00}'))
        );
        let d = parse(&fixture("jdk25-jstack-l.txt"));
        assert_eq!(
            d.threads.iter().find(|t| t.name == "main").unwrap().nid,
            Some(18286)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,600}") {
            let _ = parse(&s);
        }
        #[test]
        fn never_panics_on_dump_like_lines(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just("\"a\" #1 prio=5 nid=0x1 runnable  [0x0]".to_string()),
                proptest::prelude::Just("   java.lang.Thread.State: BLOCKED (on object monitor)".to_string()),
                proptest::prelude::Just("\t- waiting to lock <0x1> (a X)".to_string()),
                proptest::prelude::Just("Found one Java-level deadlock:".to_string()),
                "\\PC{0,40}",
            ], 0..40)) {
            let _ = parse(&lines.join("\n"));
        }
    }
}

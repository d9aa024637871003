//! The first line of a thread in every HotSpot-family text form: jstack / jcmd (JDK 5 to 26), SAP JVM, JRockit,
//! VisualVM, `ThreadInfo.toString()`, and the `#N "name" STATE` line of JDK 21+ Thread.dump_to_file text.

use super::model::{Lock, Thread, lock_of};

fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let i = s.find(key)?;
    let rest = &s[i + key.len()..];
    Some(rest.split_whitespace().next().unwrap_or(""))
}

fn hex_or_dec(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

const STATES: &[&str] = &[
    "RUNNABLE",
    "BLOCKED",
    "WAITING",
    "TIMED_WAITING",
    "NEW",
    "TERMINATED",
];

/// Where the quoted name ends: the first closing quote that something a header has follows (a name may itself
/// hold quotes; a ThreadInfo line names the lock owner in quotes after it).
fn name_end(line: &str, first: usize) -> Option<usize> {
    const TAILS: &[&str] = &[
        " #",
        " daemon",
        " prio=",
        " Id=",
        " id=",
        " - Thread",
        " tid=",
        " os_prio=",
        " virtual",
        " cpu=",
        " nid=",
        " in ",
        ":",
    ];
    let mut best = None;
    for (i, _) in line.match_indices('"').filter(|(i, _)| *i > first) {
        let rest = &line[i + 1..];
        // JDK 21+: "name" #1 [1234] ...; a name may hold " [x]" itself.
        let os_tid = rest
            .strip_prefix(" [")
            .and_then(|r| r.split_once(']'))
            .is_some_and(|(d, _)| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if rest.trim().is_empty()
            || os_tid
            || TAILS.iter().any(|t| rest.starts_with(t))
            || STATES
                .iter()
                .any(|s| rest.strip_prefix(' ').is_some_and(|r| r.starts_with(s)))
        {
            return Some(i);
        }
        best = Some(i);
    }
    best
}

/// A parsed header: the thread, the lock it waits for when the header says so (ThreadInfo's "BLOCKED on X
/// owned by"), and the form it was read as.
pub type Header = (Thread, Option<(String, Lock)>, &'static str);

pub fn parse(line: &str) -> Option<Header> {
    let t = line.trim_start();
    // JDK 21+ dump-to-file text: #12 "name" [virtual] STATE time
    if let Some(rest) = t.strip_prefix('#')
        && let Some((id, after)) = rest.split_once(' ')
        && let Ok(id) = id.parse::<u64>()
        && after.starts_with('"')
    {
        let end = name_end(after, 0)?;
        let mut th = Thread {
            name: after[1..end].to_string(),
            id: Some(id),
            ..Default::default()
        };
        let mut words = after[end + 1..].split_whitespace();
        let mut w = words.next().unwrap_or("");
        if w == "virtual" {
            th.virtual_thread = true;
            w = words.next().unwrap_or("");
        }
        th.state = w.to_string();
        return Some((th, None, "jdk21-text"));
    }
    let first = t.find('"').filter(|&i| i == 0)?;
    let end = name_end(t, first)?;
    let rest = &t[end + 1..];
    let mut th = Thread {
        name: t[first + 1..end].to_string(),
        ..Default::default()
    };
    // VisualVM: "name" - Thread t@332
    if let Some(id) = rest.trim().strip_prefix("- Thread t@") {
        th.id = id.trim().parse().ok();
        return Some((th, None, "visualvm"));
    }
    // ThreadInfo.toString(): "name" Id=12 BLOCKED on java.lang.Object@1b6d3586 owned by "x" Id=13
    // and the JMX form: "name" id=3149 in RUNNABLE (running in native)
    let r = rest.trim_start();
    if let Some(v) = r.strip_prefix("Id=").or_else(|| {
        r.strip_prefix("id=")
            .filter(|_| rest.contains(" in ") && !rest.contains(" idx="))
    }) {
        let mut words = v.split_whitespace();
        th.id = words.next().and_then(|x| x.parse().ok());
        let mut w = words.next().unwrap_or("");
        if w == "in" {
            w = words.next().unwrap_or("");
        }
        th.state = w.to_string();
        if rest.contains("(running in native)") || rest.contains("(in native)") {
            th.os_state = "in native".into();
        }
        let wait = rest.find(" on ").and_then(|i| {
            let l = lock_of(&rest[i + 4..])?;
            let kind = match th.state.as_str() {
                "BLOCKED" => "waiting to lock",
                _ if rest.contains("AbstractQueuedSynchronizer") || rest.contains("Sync@") => {
                    "parking to wait for"
                }
                _ => "waiting on",
            };
            Some((kind.to_string(), l))
        });
        return Some((th, wait, "threadinfo"));
    }
    // JRockit: "Main Thread" id=1 idx=0x4 tid=1 prio=5 alive, in native, waiting
    if rest.contains(" idx=") {
        th.id = field(rest, "id=").and_then(|v| v.parse().ok());
        th.nid = field(rest, " tid=").and_then(hex_or_dec);
        th.prio = field(rest, "prio=").and_then(|v| v.parse().ok());
        th.daemon = rest.contains(" daemon");
        if let Some(i) = rest.find(" alive") {
            th.os_state = rest[i + 1..].trim().to_string();
        }
        return Some((th, None, "jrockit"));
    }
    for tok in rest.split_whitespace() {
        if let Some(id) = tok.strip_prefix('#') {
            th.id = id.parse().ok();
        } else if tok == "daemon" {
            th.daemon = true;
        } else if tok == "virtual" {
            th.virtual_thread = true;
        } else if let Some(v) = tok.strip_prefix('[').and_then(|v| v.strip_suffix(']'))
            && !v.starts_with("0x")
            && th.nid.is_none()
        {
            th.nid = v.parse().ok();
        }
    }
    th.prio = field(rest, " prio=").and_then(|v| v.parse().ok());
    th.os_prio = field(rest, "os_prio=").and_then(|v| v.parse().ok());
    th.cpu_ms = field(rest, "cpu=").and_then(|v| v.trim_end_matches("ms").parse().ok());
    th.elapsed_s = field(rest, "elapsed=").and_then(|v| v.trim_end_matches('s').parse().ok());
    ids_and_state(&mut th, rest);
    Some((th, None, "hotspot"))
}

/// tid=, nid= and the OS state after nid; SAP JVM prints them on a line of their own.
pub fn ids_and_state(th: &mut Thread, rest: &str) {
    if let Some(tid) = field(rest, "tid=") {
        th.tid = Some(tid.to_string());
    }
    if let Some(nid) = field(rest, "nid=") {
        th.nid = hex_or_dec(nid).or(th.nid);
        // The OS state: the words after nid=..., up to the "[0x...]" stack pointer guess (SAP JVM: after
        // "nid=0x81f4 / 33268").
        if let Some(i) = rest.find("nid=") {
            let mut after = rest[i..].split_once(' ').map(|x| x.1).unwrap_or("");
            if let Some(a) = after.strip_prefix("/ ") {
                after = a.split_once(' ').map(|x| x.1).unwrap_or("");
            }
            let st = after.split(" [").next().unwrap_or("").trim();
            th.os_state = st.to_string();
        }
    }
    // HP-UX JDK 5: nid=1194 lwp_id=9992026 runnable
    if let Some(i) = rest.find("lwp_id=") {
        let after = rest[i..].split_once(' ').map(|x| x.1).unwrap_or("");
        th.os_state = after.split(" [").next().unwrap_or("").trim().to_string();
    }
}

/// A state from what older JVMs print instead of java.lang.Thread.State (JDK 5, JRockit), for threads that
/// run Java code; marked as inferred.
pub fn infer_state(th: &mut Thread) {
    if !th.state.is_empty() || th.frames.is_empty() {
        return;
    }
    let os = th.os_state.as_str();
    let has = |p: &str| th.frames.iter().take(3).any(|f| f.frame.contains(p));
    let s = if os.contains("waiting for monitor entry") || os.contains("blocked") {
        "BLOCKED"
    } else if has("Thread.sleep") || os.contains("sleeping") {
        "TIMED_WAITING"
    } else if os.contains("Object.wait")
        || has("Unsafe.park")
        || has("Object.wait")
        || has("VirtualThread.park")
        || os.contains("waiting on condition")
        || os.contains("waiting")
        || os.contains("parked")
    {
        "WAITING"
    } else {
        "RUNNABLE"
    };
    th.state = s.to_string();
    th.state_detail = "inferred".into();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let (t, _, f) = parse("\"a \"b\" c\" #7 daemon prio=5 os_prio=0 cpu=1.5ms elapsed=2s tid=0x1 nid=0x1f runnable  [0x0]").unwrap();
        assert_eq!(
            (t.name.as_str(), t.id, t.nid, t.os_state.as_str(), f),
            ("a \"b\" c", Some(7), Some(31), "runnable", "hotspot")
        );
        let (t, w, f) =
            parse("\"w\" Id=12 BLOCKED on java.lang.Object@1b6d3586 owned by \"x\" Id=13").unwrap();
        assert_eq!(
            (t.name.as_str(), t.id, t.state.as_str(), f),
            ("w", Some(12), "BLOCKED", "threadinfo")
        );
        assert_eq!(w.unwrap().1.address, "java.lang.Object@1b6d3586");
        let (t, _, f) =
            parse("\"Main Thread\" id=1 idx=0x4 tid=12345 prio=5 alive, in native, waiting")
                .unwrap();
        assert_eq!(
            (t.id, t.nid, t.os_state.as_str(), f),
            (Some(1), Some(12345), "alive, in native, waiting", "jrockit")
        );
        let (t, _, f) = parse("\"Timer-180\" - Thread t@332").unwrap();
        assert_eq!((t.id, f), (Some(332), "visualvm"));
        let (t, _, f) = parse("#24 \"vt\" virtual TIMED_WAITING 2026-11-22T17:16:56Z").unwrap();
        assert_eq!(
            (t.id, t.virtual_thread, t.state.as_str(), f),
            (Some(24), true, "TIMED_WAITING", "jdk21-text")
        );
        let (t, _, _) =
            parse("\"RMI TCP Connection(23)-127.0.1.1\" id=3149 in RUNNABLE (running in native)")
                .unwrap();
        assert_eq!((t.id, t.state.as_str()), (Some(3149), "RUNNABLE"));
        let mut t = parse("\"main\" #1 prio=5 os_prio=0 cpu=62.50 [reset 62.50] ms elapsed=396.66 [reset 396.66] s").unwrap().0;
        ids_and_state(
            &mut t,
            "tid=0x0000019255649000 nid=0x81f4 / 33268 runnable   [_thread_in_native (_at_safepoint)] [0x1]",
        );
        assert_eq!(
            (t.cpu_ms, t.nid, t.os_state.as_str()),
            (Some(62.5), Some(0x81f4), "runnable")
        );
    }

    /// A name holding quotes and " [x]" (not JDK 21's " [tid]") is read whole.
    #[test]
    fn names_with_quotes_and_brackets() {
        let (t, _, _) = parse("\"worker \"quoted\" [x] \u{d55c}\" #22 prio=5 os_prio=0 tid=0x1 nid=0x4145 waiting on condition  [0x0]").unwrap();
        assert_eq!(
            (t.name.as_str(), t.id),
            ("worker \"quoted\" [x] \u{d55c}", Some(22))
        );
        let (t, _, _) = parse("\"main\" #1 [18286] prio=5 os_prio=0 cpu=1.00ms elapsed=2.00s tid=0x1 nid=18286 runnable  [0x0]").unwrap();
        assert_eq!((t.name.as_str(), t.nid), ("main", Some(18286)));
    }
}

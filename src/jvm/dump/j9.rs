//! OpenJ9 / IBM J9 javacores (WebSphere's JVMs): threads with their states, the monitors they entered and the
//! one they wait for with its owner, and the deadlocks the javacore's own LOCKS section reports. Line by line:
//! every javacore line starts with its tag ("3XMTHREADINFO", "4XESTACKTRACE", ...).

use super::model::{Frame, Lock, Thread, ThreadDump, lock_of};
use std::collections::HashSet;

#[derive(Default)]
pub struct Parser {
    d: ThreadDump,
    cur: Option<Thread>,
    /// J9VMThread addresses seen: the current thread is printed twice (current, then among all threads).
    seen: HashSet<String>,
    deadlock: Option<Vec<String>>,
    /// The "END OF DUMP" line came.
    complete: bool,
    /// "2XMPOOLLIVE Current total number of live threads: N"
    pub live_threads: Option<usize>,
    /// Monitors and their owners' J9VMThread as the waiters see them: the owner's stack may not show the
    /// monitor entered (native code, or a frame without the lock line).
    owned: Vec<(String, Lock)>,
}

fn tag(t: &str) -> (&str, &str) {
    match t.split_once(char::is_whitespace) {
        Some((a, b)) => (a, b.trim()),
        None => (t, ""),
    }
}

fn state_of(code: &str) -> (&'static str, &'static str) {
    match code {
        "R" => ("RUNNABLE", ""),
        "B" => ("BLOCKED", "on object monitor"),
        "CW" => ("WAITING", "on condition"),
        "P" => ("WAITING", "parking"),
        "S" => ("WAITING", "suspended"),
        "Z" => ("TERMINATED", ""),
        _ => ("", ""),
    }
}

impl Parser {
    pub fn starts(t: &str) -> bool {
        t.starts_with("0SECTION       TITLE")
    }

    fn close_thread(&mut self) {
        // "Anonymous native thread": not attached to the JVM, not among its live threads.
        if let Some(th) = self
            .cur
            .take_if(|t| t.tid.is_none() && t.name.starts_with("Anonymous native"))
        {
            drop(th);
        }
        if let Some(th) = self.cur.take() {
            let key = th.tid.clone().unwrap_or_else(|| th.name.clone());
            if self.seen.insert(key) {
                self.d.threads.push(th);
            }
        }
    }

    fn take(&mut self) -> Option<ThreadDump> {
        self.close_thread();
        self.seen.clear();
        for (tid, l) in std::mem::take(&mut self.owned) {
            if let Some(t) = self
                .d
                .threads
                .iter_mut()
                .find(|t| t.tid.as_deref() == Some(tid.as_str()))
                && !t.locks_held().any(|h| h.address == l.address)
            {
                t.ownable_synchronizers.push(l);
            }
        }
        if let Some(n) = self.deadlock.take()
            && !n.is_empty()
        {
            self.d.jvm_deadlocks.push(n);
        }
        let mut d = std::mem::take(&mut self.d);
        d.format = "javacore".into();
        d.truncated = !std::mem::take(&mut self.complete);
        d.jvm_deadlock_count = Some(d.jvm_deadlocks.len());
        (!d.is_empty()).then_some(d)
    }

    pub fn finish(mut self) -> Option<ThreadDump> {
        self.take()
    }

    pub fn line(&mut self, raw: &str) -> Option<ThreadDump> {
        let t = raw.trim();
        let (tag, rest) = tag(t);
        let mut done = None;
        match tag {
            "0SECTION" if rest.starts_with("TITLE") => {
                if !self.d.is_empty() {
                    done = self.take();
                }
                self.d.vm = Some("javacore".into());
            }
            "1TIDATETIME" => {
                self.d.timestamp = rest
                    .strip_prefix("Date:")
                    .map(|s| s.trim().to_string())
                    .or(Some(rest.to_string()));
            }
            "1CIJAVAVERSION" => self.d.vm = Some(format!("javacore: {rest}")),
            "1CIPROCESSID" => {
                self.d.pid = rest
                    .strip_prefix("Process ID:")
                    .and_then(|s| s.split_whitespace().next())
                    .and_then(|s| s.parse().ok());
            }
            "2XMPOOLLIVE" => {
                self.live_threads = rest.rsplit(' ').next().and_then(|n| n.parse().ok());
            }
            "3XMTHREADINFO" => {
                self.close_thread();
                let mut th = Thread::default();
                if let Some(a) = rest.find('"')
                    && let Some(b) = rest.rfind("\" J9VMThread:").or_else(|| rest.rfind('"'))
                    && b > a
                {
                    th.name = rest[a + 1..b].to_string();
                } else {
                    // "Anonymous native thread": not a Java thread.
                    th.name = rest.to_string();
                }
                for part in rest.split(", ") {
                    if let Some(v) = part.split("J9VMThread:").nth(1) {
                        th.tid = Some(v.trim().to_string());
                    } else if let Some(v) = part.strip_prefix("state:") {
                        let (s, dt) = state_of(v.trim());
                        th.state = s.into();
                        th.state_detail = dt.into();
                    } else if let Some(v) = part.strip_prefix("prio=") {
                        th.prio = v.trim().parse().ok();
                    }
                }
                self.cur = Some(th);
            }
            "3XMJAVALTHREAD" => {
                if let Some(th) = self.cur.as_mut() {
                    if let Some(v) = rest.split("getId:").nth(1) {
                        let v = v.split([',', ')']).next().unwrap_or("").trim();
                        th.id = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
                    }
                    th.daemon = rest.contains("isDaemon:true");
                }
            }
            "3XMTHREADINFO1" => {
                if let Some(th) = self.cur.as_mut()
                    && let Some(v) = rest.split("native thread ID:").nth(1)
                {
                    let v = v.split(',').next().unwrap_or("").trim();
                    th.nid = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
                }
            }
            "3XMCPUTIME" => {
                if let Some(th) = self.cur.as_mut()
                    && let Some(v) = rest.strip_prefix("CPU usage total:")
                {
                    th.cpu_ms = v
                        .split_whitespace()
                        .next()
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(|s| s * 1000.0);
                }
            }
            "3XMTHREADBLOCK" => {
                if let Some(th) = self.cur.as_mut() {
                    let kind = if rest.starts_with("Blocked on:") {
                        "waiting to lock"
                    } else if rest.starts_with("Parked on:") {
                        "parking to wait for"
                    } else {
                        "waiting on"
                    };
                    let what = rest.split_once(':').map(|x| x.1).unwrap_or("");
                    let (what, owner) = what.split_once(" Owned by:").unwrap_or((what, ""));
                    let owner_tid = owner
                        .split("J9VMThread:")
                        .nth(1)
                        .and_then(|v| v.split([',', ')']).next())
                        .map(|v| v.trim().to_string());
                    if let Some(l) = lock_of(what) {
                        if let Some(o) = owner_tid {
                            self.owned.push((o, l.clone()));
                        }
                        th.notes.push(format!("{kind} {}", l.address));
                        pending_wait(th, kind, l);
                    }
                }
            }
            "4XESTACKTRACE" => {
                if let Some(th) = self.cur.as_mut() {
                    let f = rest.strip_prefix("at ").unwrap_or(rest).replace('/', ".");
                    let locks = th
                        .frames
                        .first()
                        .filter(|f| f.frame.is_empty())
                        .map(|f| f.locks.clone());
                    if let Some(locks) = locks {
                        // The placeholder holding the wait: this is the top frame.
                        th.frames[0] = Frame { frame: f, locks };
                    } else {
                        th.frames.push(Frame {
                            frame: f,
                            locks: Vec::new(),
                        });
                    }
                }
            }
            "5XESTACKTRACE" => {
                if let Some(th) = self.cur.as_mut()
                    && let Some(v) = rest.split("entered lock:").nth(1)
                    && let Some(l) = lock_of(v.split(',').next().unwrap_or(""))
                    && let Some(f) = th.frames.last_mut()
                {
                    f.locks.push(("locked".into(), l));
                }
            }
            "1LKDEADLOCK" => {
                self.close_thread();
                if let Some(n) = self.deadlock.replace(Vec::new())
                    && !n.is_empty()
                {
                    self.d.jvm_deadlocks.push(n);
                }
            }
            "2LKDEADLOCKTHR" => {
                if let Some(names) = self.deadlock.as_mut()
                    && let Some(a) = rest.find('"')
                    && let Some(b) = rest.rfind('"')
                    && b > a
                {
                    let n = rest[a + 1..b].to_string();
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
            "NULL" if rest.contains("END OF DUMP") => {
                self.close_thread();
                self.complete = true;
            }
            "0SECTION" | "1XMTHDINFO" | "1XMCURTHDINFO" | "1LKPOOLINFO" => self.close_thread(),
            _ => {}
        }
        done
    }
}

/// A javacore names the awaited monitor before the stack: held on a placeholder frame until the top frame comes.
fn pending_wait(th: &mut Thread, kind: &str, l: Lock) {
    if th.frames.is_empty() {
        th.frames.push(Frame {
            frame: String::new(),
            locks: vec![(kind.to_string(), l)],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "0SECTION       TITLE subcomponent dump routine
1TIDATETIME    Date:                 2015/09/02 at 13:09:18
1CIPROCESSID   Process ID: 1536 (0x600)
2XMPOOLLIVE    Current total number of live threads: 2
1XMCURTHDINFO  Current thread
3XMTHREADINFO      \"A\" J9VMThread:0x01, omrthread_t:0x2, java/lang/Thread:0x3, state:B, prio=5
3XMJAVALTHREAD            (java/lang/Thread getId:0x11, isDaemon:false)
3XMTHREADINFO1            (native thread ID:0x3D4C, native priority:0x5, native policy:UNKNOWN)
3XMTHREADBLOCK     Blocked on: java/lang/Object@0x00000000F0C25A48 Owned by: \"B\" (J9VMThread:0x02, java/lang/Thread:0x4)
3XMCPUTIME               CPU usage total: 0.765625000 secs
4XESTACKTRACE                at Dl.a(Dl.java:10)
5XESTACKTRACE                   (entered lock: java/lang/Object@0x00000000F0C25A58, entry count: 1)
1XMTHDINFO     Thread Details
3XMTHREADINFO      \"A\" J9VMThread:0x01, omrthread_t:0x2, java/lang/Thread:0x3, state:B, prio=5
3XMTHREADINFO      \"B\" J9VMThread:0x02, omrthread_t:0x2, java/lang/Thread:0x3, state:B, prio=5
3XMJAVALTHREAD            (java/lang/Thread getId:0x12, isDaemon:true)
3XMTHREADBLOCK     Blocked on: java/lang/Object@0x00000000F0C25A58 Owned by: \"A\" (J9VMThread:0x01)
4XESTACKTRACE                at Dl.b(Dl.java:20)
5XESTACKTRACE                   (entered lock: java/lang/Object@0x00000000F0C25A48, entry count: 1)
1LKDEADLOCK    Deadlock detected !!!
2LKDEADLOCKTHR  Thread \"A\" (0x01)
2LKDEADLOCKTHR  Thread \"B\" (0x02)
2LKDEADLOCKTHR  Thread \"A\" (0x01)
NULL           ---------------------- END OF DUMP -------------------------------------
";

    #[test]
    fn javacore_threads_locks_and_deadlock() {
        let mut p = Parser::default();
        for l in CORE.lines() {
            assert!(p.line(l).is_none());
        }
        assert_eq!(p.live_threads, Some(2));
        let d = p.finish().unwrap();
        assert_eq!(d.threads.len(), 2);
        assert_eq!(d.pid, Some(1536));
        assert!(!d.truncated);
        let a = &d.threads[0];
        assert_eq!(
            (a.id, a.nid, a.state.as_str()),
            (Some(0x11), Some(0x3D4C), "BLOCKED")
        );
        assert_eq!(a.frames[0].frame, "Dl.a(Dl.java:10)");
        assert_eq!(
            a.waiting_for().unwrap().address,
            "java.lang.Object@0x00000000F0C25A48"
        );
        assert_eq!(
            d.threads[1].locks_held().next().unwrap().address,
            "java.lang.Object@0x00000000F0C25A48"
        );
        assert_eq!(
            d.jvm_deadlocks,
            vec![vec!["A".to_string(), "B".to_string()]]
        );
    }
}

//! HotSpot-family thread-dump text, line by line: jstack [-l] [-e], jcmd Thread.print, the attach `threaddump`
//! reply, `kill -3` output inside logs (JDK 5 to 26), SAP JVM, JRockit, VisualVM, `ThreadInfo.toString()` and
//! JDK 21+ Thread.dump_to_file text. Several dumps in one input are split at their headers. Whatever is not
//! understood is counted (and the first lines kept), never dropped silently; nothing here can panic.

use super::header;
use super::model::{Frame, Lock, Thread, ThreadDump, lock_of};

#[derive(Debug, Default, PartialEq)]
enum Section {
    #[default]
    Threads,
    /// "Found one Java-level deadlock:" up to "Java stack information ...": the names in wait order.
    DeadlockNames(Vec<String>),
    /// The repeated stacks after a deadlock report.
    DeadlockStacks,
    /// JRockit's "Circular (deadlocked) lock chains".
    JrockitChains(Vec<String>),
    /// Class histograms, heap summaries and the like printed after a dump (kill -3 with -XX:+PrintClassHistogram).
    After,
}

/// Feeds lines; hands out each dump once the next one begins (and the last on `finish`).
#[derive(Default)]
pub struct Parser {
    d: ThreadDump,
    cur: Option<Thread>,
    in_sync: bool,
    /// A wait the header announced (ThreadInfo, VisualVM), for the first frame.
    pending_wait: Option<(String, Lock)>,
    section: Section,
    /// Lines seen outside any thread before the first dump header or thread (log lines around a dump).
    pub outside: usize,
    /// JDK 11+ dumps open with "Threads class SMR info" and always close with "JNI global refs": one without
    /// its closing line was cut short.
    saw_smr: bool,
    saw_end: bool,
    /// The last line looked whole (a frame, a lock line, a header's state): an input that stops without a
    /// line feed after one was not cut short.
    last_whole: bool,
}

/// How a whole line of a thread ends.
fn looks_whole(t: &str) -> bool {
    t.ends_with(')')
        || t.ends_with(']')
        || t == "- None"
        || [
            "runnable",
            "condition",
            "sleeping",
            "entry",
            "waiting",
            "RUNNABLE",
            "WAITING",
            "BLOCKED",
        ]
        .iter()
        .any(|w| t.ends_with(w))
}

fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && !t[19..].contains(' ')
}

fn is_dump_header(t: &str) -> bool {
    t.starts_with("Full thread dump") || t.starts_with("===== FULL THREAD DUMP")
}

impl Parser {
    fn has_threads(&self) -> bool {
        !self.d.threads.is_empty() || self.cur.is_some()
    }

    fn close_thread(&mut self) {
        if let Some(mut th) = self.cur.take() {
            header::infer_state(&mut th);
            self.d.threads.push(th);
        }
        self.in_sync = false;
        self.pending_wait = None;
    }

    /// The dump so far, and a fresh one to fill.
    fn take(&mut self) -> Option<ThreadDump> {
        self.close_thread();
        self.section = Section::Threads;
        let mut d = std::mem::take(&mut self.d);
        // The next dump began before this one's closing line.
        d.truncated |= self.saw_smr && !self.saw_end && !d.threads.is_empty();
        self.saw_smr = false;
        self.saw_end = false;
        (!d.is_empty() || d.unparsed_count > 0).then_some(d)
    }

    pub fn finish(mut self, ended_with_newline: bool) -> Option<ThreadDump> {
        // Cut in the middle of a line inside a thread, inside the deadlock report, or before the closing line.
        let cut = matches!(
            self.section,
            Section::DeadlockNames(_) | Section::DeadlockStacks
        ) || !ended_with_newline && self.cur.is_some() && !self.last_whole
            || self.saw_smr && !self.saw_end;
        let mut d = self.take()?;
        d.truncated |= cut;
        Some(d)
    }

    pub fn line(&mut self, raw: &str) -> Option<ThreadDump> {
        let line = raw.trim_end();
        let t = line.trim_start();
        if t.is_empty() {
            self.in_sync = false;
            return None;
        }
        self.last_whole = looks_whole(t);
        // Where one dump ends and the next begins.
        let pid_line = t.len() < 12
            && t.trim_end_matches(':').bytes().all(|b| b.is_ascii_digit())
            && !t.starts_with(':');
        if is_timestamp(t) || pid_line || is_dump_header(t) {
            let header_after_timestamp =
                is_dump_header(t) && self.d.vm.is_none() && !self.has_threads();
            let ts_after_header =
                is_timestamp(t) && self.d.timestamp.is_none() && !self.has_threads();
            let done =
                if header_after_timestamp || ts_after_header || (pid_line && !self.has_threads()) {
                    None
                } else if self.has_threads() || self.d.vm.is_some() || self.d.timestamp.is_some() {
                    self.take()
                } else {
                    None
                };
            if is_dump_header(t) {
                self.d.vm = Some(t.to_string());
                if self.d.format.is_empty() {
                    self.d.format = if t.starts_with("=====") {
                        "jrockit"
                    } else {
                        "hotspot"
                    }
                    .into();
                }
            } else if pid_line {
                self.d.pid = t.trim_end_matches(':').parse().ok();
            } else {
                self.d.timestamp = Some(t.to_string());
            }
            return done;
        }
        // JRockit's end, and the end marker TDA writes after its JMX dumps.
        if t.starts_with("===== END OF THREAD DUMP") || t == "<EndOfDump>" {
            self.close_thread();
            self.section = Section::After;
            return None;
        }
        match &mut self.section {
            Section::DeadlockNames(names) => {
                if t.starts_with("Java stack information") {
                    let names = std::mem::take(names);
                    self.d.jvm_deadlocks.push(names);
                    self.section = Section::DeadlockStacks;
                } else if line.starts_with('"') && t.ends_with("\":") {
                    names.push(t.trim_end_matches(':').trim_matches('"').to_string());
                }
                return None;
            }
            Section::DeadlockStacks => {
                if !t.starts_with("Found ") {
                    return None;
                }
                self.section = Section::Threads;
            }
            Section::JrockitChains(names) => {
                if t.ends_with("lock chains") {
                    let n = std::mem::take(names);
                    if !n.is_empty() {
                        self.d.jvm_deadlocks.push(n);
                    }
                    self.section = Section::After;
                } else if t.starts_with("Chain ") {
                    if !names.is_empty() {
                        let n = std::mem::take(names);
                        self.d.jvm_deadlocks.push(n);
                    }
                } else if t.starts_with('"') {
                    if let Some((th, _, _)) = header::parse(t)
                        && !names.contains(&th.name)
                    {
                        names.push(th.name);
                    }
                } else if t.starts_with("=====") && !t.starts_with("====================") {
                    let n = std::mem::take(names);
                    if !n.is_empty() {
                        self.d.jvm_deadlocks.push(n);
                    }
                    self.section = Section::Threads;
                }
                return None;
            }
            Section::After | Section::Threads => {}
        }
        if t.starts_with("Found one Java-level deadlock") {
            self.close_thread();
            self.section = Section::DeadlockNames(Vec::new());
            return None;
        }
        if let Some(n) = t.strip_prefix("Found ")
            && (t.ends_with(" deadlocks.") || t.ends_with(" deadlock."))
        {
            let n = n.split_whitespace().next().unwrap_or("");
            self.d.jvm_deadlock_count = if n == "one" { Some(1) } else { n.parse().ok() };
            return None;
        }
        if t.starts_with("Circular (deadlocked) lock chains") {
            self.close_thread();
            self.section = Section::JrockitChains(Vec::new());
            return None;
        }
        // JRockit's other chains repeat threads already listed: not deadlocks, not threads.
        if t == "Open lock chains" || t == "Blocked lock chains" {
            self.close_thread();
            self.section = Section::After;
            return None;
        }
        if self.section == Section::After {
            self.outside += 1;
            return None;
        }
        if (line.starts_with('"') || t.starts_with('#') && t.contains(" \""))
            && let Some((th, wait, form)) = header::parse(line)
        {
            {
                self.close_thread();
                if self.d.format.is_empty() || self.d.format == "hotspot" && form != "hotspot" {
                    self.d.format = form.to_string();
                }
                self.cur = Some(th);
                self.pending_wait = wait;
                return None;
            }
        }
        if self.cur.is_some() {
            self.thread_line(raw, t);
            return None;
        }
        self.outside_line(raw, t);
        None
    }

    fn frame(&mut self, f: &str) {
        let Some(th) = self.cur.as_mut() else { return };
        let mut fr = Frame {
            frame: f.to_string(),
            locks: Vec::new(),
        };
        if th.frames.is_empty()
            && let Some(w) = self.pending_wait.take()
        {
            fr.locks.push(w);
        }
        th.frames.push(fr);
    }

    fn thread_line(&mut self, raw: &str, t: &str) {
        let Some(th) = self.cur.as_mut() else { return };
        if let Some(st) = t.strip_prefix("java.lang.Thread.State: ") {
            let (s, detail) = match st.split_once(' ') {
                Some((s, dt)) => (s, dt.trim().trim_start_matches('(').trim_end_matches(')')),
                None => (st, ""),
            };
            th.state = s.to_string();
            th.state_detail = detail.to_string();
            // VisualVM: "BLOCKED on java.lang.Object@1b6d3586 owned by: Thread-1"
            if let Some(on) = detail.strip_prefix("on ")
                && let Some(l) = lock_of(on)
            {
                let kind = if s == "BLOCKED" {
                    "waiting to lock"
                } else if l.class.contains("Sync") || l.class.contains("AbstractQueuedSynchronizer")
                {
                    "parking to wait for"
                } else {
                    "waiting on"
                };
                th.state_detail = "on object monitor".into();
                if kind == "parking to wait for" {
                    th.state_detail = "parking".into();
                }
                self.pending_wait = Some((kind.to_string(), l));
            }
            return;
        }
        if t.starts_with("Carrying virtual thread") || t.starts_with("Mounted virtual thread") {
            th.notes.push(t.to_string());
            return;
        }
        if let Some(f) = t.strip_prefix("at ") {
            // JRockit writes java/lang/Object.wait(J)V
            let f = if self.d.format == "jrockit" {
                f.replace('/', ".")
            } else {
                f.to_string()
            };
            self.frame(&f);
            return;
        }
        if t == "Locked ownable synchronizers:"
            || t.starts_with("Locked synchronizers:")
            || t.starts_with("Number of locked synchronizers")
        {
            self.in_sync = true;
            return;
        }
        // JRockit lock lines.
        if let Some(rest) = t
            .strip_prefix("-- Blocked trying to get lock: ")
            .or_else(|| t.strip_prefix("-- Waiting for notification on: "))
            .or_else(|| t.strip_prefix("-- Parking to wait for: "))
            .or_else(|| t.strip_prefix("^-- Holding lock: "))
        {
            let kind = if t.starts_with("-- Blocked") {
                "waiting to lock"
            } else if t.starts_with("-- Waiting") {
                "waiting on"
            } else if t.starts_with("-- Parking") {
                "parking to wait for"
            } else {
                "locked"
            };
            let tok = rest.split('[').next().unwrap_or(rest).trim();
            if let Some(l) = lock_of(tok) {
                match th.frames.last_mut() {
                    Some(f) => f.locks.push((kind.to_string(), l)),
                    None => self.pending_wait = Some((kind.to_string(), l)),
                }
            }
            return;
        }
        if t.starts_with("^-- ") || t.starts_with("-- end of trace") {
            return;
        }
        if let Some(rest) = t.strip_prefix("- ").or_else(|| t.strip_prefix("-  ")) {
            let rest = rest.trim_start();
            if rest == "None" {
                return;
            }
            if self.in_sync {
                if let Some(l) = lock_of(rest) {
                    th.ownable_synchronizers.push(l);
                }
                return;
            }
            let kind = match rest.split([' ', '<']).next().unwrap_or("") {
                _ if rest.starts_with("blocked on") => "waiting to lock".to_string(),
                _ if rest.starts_with("waiting to lock") => "waiting to lock".to_string(),
                _ => rest.split(" <").next().unwrap_or("").trim().to_string(),
            };
            // VisualVM / ThreadInfo: "- locked java.lang.Object@1b6d3586", no angle brackets.
            let kind = match kind.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["locked", ..] => "locked".to_string(),
                ["waiting", "on", ..] => "waiting on".to_string(),
                ["parking", "to", "wait", "for", ..] => "parking to wait for".to_string(),
                _ => kind,
            };
            match (lock_of(rest), th.frames.last_mut()) {
                (Some(l), Some(f)) => f.locks.push((kind, l)),
                // "- waiting on the Class initialization monitor for X" has no address: keep the text.
                (None, Some(_)) => th.notes.push(rest.to_string()),
                (Some(l), None) => self.pending_wait = Some((kind, l)),
                (None, None) => self.d.unparsed_line(raw),
            }
            return;
        }
        if t.starts_with("No compile task") || t.starts_with("Compiling:") || t == "..." {
            th.notes.push(t.to_string());
            return;
        }
        // SAP JVM's continuation lines of the header.
        if th.frames.is_empty() && (t.starts_with("tid=") || t.starts_with("io=")) {
            if t.starts_with("tid=") {
                header::ids_and_state(th, t);
            }
            return;
        }
        self.outside_line(raw, t);
    }

    fn outside_line(&mut self, raw: &str, t: &str) {
        // JRockit: the date and the VM follow the dump header.
        if self.d.format == "jrockit" && !self.has_threads() {
            if t.contains("JRockit") {
                self.d.vm = Some(t.to_string());
            } else if self.d.timestamp.is_none() {
                self.d.timestamp = Some(t.to_string());
            } else {
                self.d.unparsed_line(raw);
            }
            return;
        }
        if t.starts_with("JNI global ref") {
            // The last line jstack and jcmd print: what follows is not this dump's.
            self.saw_end = true;
            self.close_thread();
            self.section = Section::After;
        } else if t.starts_with("Threads class SMR info") {
            self.saw_smr = true;
        } else if t.starts_with("_java_thread_list")
            || t.starts_with("0x")
            || t == "}"
            || t.starts_with("=====")
            || t.starts_with("Thread dump triggered at")
        {
            // Known bookkeeping: SMR lists and JNI counts.
        } else if t.starts_with("Heap") || t.starts_with("num ") || t.starts_with("Class Histogram")
        {
            // What kill -3 prints after the threads: not part of the dump.
            self.close_thread();
            self.section = Section::After;
        } else if let Some(th) = self.cur.as_mut()
            && !th.is_java()
        {
            th.notes.push(t.to_string());
        } else if !self.has_threads() && self.d.vm.is_none() {
            self.outside += 1;
        } else {
            self.d.unparsed_line(raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_all;
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
            let all = parse_all(&fixture(f));
            assert_eq!(all.len(), 1, "{f}");
            let d = &all[0];
            assert!(d.threads.len() > 10, "{f}: {} threads", d.threads.len());
            assert!(!d.truncated, "{f}");
            assert!(
                d.unparsed.is_empty(),
                "{f}: unparsed {:#?}",
                &d.unparsed[..d.unparsed.len().min(5)]
            );
        }
        let d = super::super::parse(&fixture("jdk17-jstack-l.txt"));
        assert_eq!(d.jvm_deadlocks.len(), 2, "{:?}", d.jvm_deadlocks);
        assert_eq!(d.jvm_deadlock_count, Some(2));
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
        let d = super::super::parse(&fixture("jdk25-jstack-l.txt"));
        assert_eq!(
            d.threads.iter().find(|t| t.name == "main").unwrap().nid,
            Some(18286)
        );
    }

    #[test]
    fn a_dump_cut_short_says_so() {
        let t = fixture("jdk17-jstack-l.txt");
        // Cut inside a thread, and cut at a line end before the closing line.
        let d = &parse_all(&t[..3000])[0];
        assert!(d.truncated && d.threads.len() > 3);
        let at = t.find("\n\"main\"").unwrap() + 1;
        assert!(parse_all(&t[..at])[0].truncated);
        assert!(!parse_all(&t)[0].truncated);
    }

    #[test]
    fn dumps_in_one_file_are_split() {
        let one = fixture("jdk17-jstack.txt");
        let all = parse_all(&format!("log line before\n{one}\nsome log line\n{one}"));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].threads.len(), all[1].threads.len());
        assert!(all[0].timestamp.is_some() && all[1].timestamp.is_some());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,600}") {
            let _ = parse_all(&s);
        }
        #[test]
        fn never_panics_on_dump_like_lines(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just("\"a\" #1 prio=5 nid=0x1 runnable  [0x0]".to_string()),
                proptest::prelude::Just("   java.lang.Thread.State: BLOCKED (on object monitor)".to_string()),
                proptest::prelude::Just("\t- waiting to lock <0x1> (a X)".to_string()),
                proptest::prelude::Just("Found one Java-level deadlock:".to_string()),
                proptest::prelude::Just("Full thread dump".to_string()),
                proptest::prelude::Just("2024-01-01 10:00:00".to_string()),
                proptest::prelude::Just("\"x\" Id=3 BLOCKED on a.B@1 owned by \"y\" Id=4".to_string()),
                proptest::prelude::Just("    -- Blocked trying to get lock: java/lang/Object@0x1[fat lock]".to_string()),
                "\\PC{0,40}",
            ], 0..40)) {
            let _ = parse_all(&lines.join("\n"));
        }
    }
}

//! What an expert reads out of thread dumps: states, who holds what a BLOCKED thread waits for, deadlock
//! cycles (the JVM's and those it does not report), identical stacks, the threads that burn CPU (sampled, or
//! from `cpu=` growth across dumps), and named diagnoses with their evidence. Verdict first. Pure: dumps in,
//! report out; reading files is the caller's (jvm::dump::inputs).

pub mod across;
pub mod diagnose;
pub mod locks;

pub use crate::host::pidinfo::ThreadCpu;
use crate::jvm::dump::{InputSummary, Thread, ThreadDump};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use locks::MAX_CHAIN;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Blocked {
    pub thread: String,
    pub state: String,
    pub waits_for: String,
    pub owner: Option<String>,
    /// thread -> owner -> owner's owner ... as far as it goes.
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StackGroup {
    pub count: usize,
    pub state: String,
    pub top_frames: Vec<String>,
    pub threads: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HotThread {
    pub thread: String,
    pub nid: u64,
    pub cpu_pct: f64,
    pub state: String,
    pub top_frames: Vec<String>,
    /// "sampled over 0.5 s" or "cpu= growth over 3 dumps".
    pub source: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    pub name: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub verdict: Vec<String>,
    /// Some thread was read: without one there is nothing to clear, and the report says so.
    pub readable: bool,
    /// Dumps read (all inputs), and those analysed as one JVM's dumps apart in time.
    pub dumps: usize,
    pub dumps_analysed: usize,
    pub threads: usize,
    pub states: BTreeMap<String, usize>,
    /// Cycles in wait order: each thread waits for a lock the next one holds.
    pub deadlocks: Vec<Vec<String>>,
    pub blocked: Vec<Blocked>,
    pub groups: Vec<StackGroup>,
    pub hot: Vec<HotThread>,
    pub diagnoses: Vec<Diagnosis>,
    /// Threads RUNNABLE on the same top frame in every dump, not burning CPU (or CPU unknown).
    pub stuck: Vec<String>,
    pub unparsed_lines: usize,
    /// The first lines not understood, to show what they were.
    pub unparsed_sample: Vec<String>,
    pub inputs: Vec<InputSummary>,
}

/// Lines not understood shown in the report.
const UNPARSED_SHOWN: usize = 5;

fn top(t: &Thread, n: usize) -> Vec<String> {
    t.frames.iter().take(n).map(|f| f.frame.clone()).collect()
}

/// Analyses the last dump, using the earlier ones (taken apart in time) for what changes between dumps.
pub fn analyze(dumps: &[ThreadDump], cpu: Option<&ThreadCpu>) -> Report {
    analyze_with(dumps, cpu, &[])
}

/// As `analyze`, knowing the server's request-pool limits (Tomcat's server.xml), when they could be read.
pub fn analyze_with(
    dumps: &[ThreadDump],
    cpu: Option<&ThreadCpu>,
    limits: &[crate::jvm::tomcat::PoolLimit],
) -> Report {
    analyze_inputs(dumps, &[], cpu, limits)
}

/// The dumps of the last JVM: a run of dumps whose pid or VM header differs from the one before is another
/// JVM's (or the same JVM restarted).
fn last_jvm(dumps: &[ThreadDump]) -> (Vec<&ThreadDump>, usize) {
    let with: Vec<&ThreadDump> = dumps.iter().filter(|d| !d.threads.is_empty()).collect();
    let mut start = 0;
    let mut jvms = 1;
    for i in 1..with.len() {
        let (a, b) = (with[i - 1], with[i]);
        // Some headers carry the date ("Full thread dump [Mar 15 14:48:56 KST 2008] (Java HotSpot ...)"):
        // compared without their bracketed parts.
        let bare = |v: &Option<String>| {
            v.as_deref().map(|v| {
                let mut out = String::new();
                let mut depth = 0;
                for c in v.chars() {
                    match c {
                        '[' => depth += 1,
                        ']' => depth = (depth - 1).max(0),
                        _ if depth == 0 => out.push(c),
                        _ => {}
                    }
                }
                out
            })
        };
        let pid = a.pid.is_some() && b.pid.is_some() && a.pid != b.pid;
        let vm = a.vm.is_some() && b.vm.is_some() && bare(&a.vm) != bare(&b.vm);
        if pid || vm {
            start = i;
            jvms += 1;
        }
    }
    (with[start..].to_vec(), jvms)
}

/// `inputs`: how each input was read (none for a dump taken through the attach protocol).
pub fn analyze_inputs(
    dumps: &[ThreadDump],
    inputs: &[InputSummary],
    cpu: Option<&ThreadCpu>,
    limits: &[crate::jvm::tomcat::PoolLimit],
) -> Report {
    let mut r = Report {
        inputs: inputs.to_vec(),
        dumps: dumps.len(),
        unparsed_lines: dumps
            .iter()
            .map(|d| d.unparsed_count.max(d.unparsed.len()))
            .sum(),
        unparsed_sample: dumps
            .iter()
            .flat_map(|d| d.unparsed.iter())
            .take(UNPARSED_SHOWN)
            .map(|l| l.chars().take(160).collect())
            .collect(),
        ..Default::default()
    };
    // Dumps read in all (the inputs say; only the last ones are handed over whole).
    if !inputs.is_empty() {
        r.dumps = inputs.iter().map(|i| i.threads_per_dump.len()).sum();
    }
    let (run, jvms) = last_jvm(dumps);
    let Some(d) = run.last().copied() else {
        r.verdict.push(not_readable(inputs));
        return r;
    };
    r.readable = true;
    r.dumps_analysed = run.len();
    r.threads = d.threads.len();
    for t in &d.threads {
        let s = if t.state.is_empty() {
            "VM".to_string()
        } else {
            t.state.clone()
        };
        *r.states.entry(s).or_default() += 1;
    }
    let labels = locks::labels(d);
    let g = locks::graph(d);
    let (deadlocks, jvm_only) = locks::deadlocks(d, &labels, &g);
    r.deadlocks = deadlocks;
    r.blocked = locks::blocked(d, &labels, &g);
    // Identical stacks.
    let mut groups: HashMap<(String, Vec<String>), Vec<String>> = HashMap::new();
    for (i, t) in d.threads.iter().enumerate() {
        if t.is_java() && !t.frames.is_empty() {
            groups
                .entry((t.state.clone(), top(t, 8)))
                .or_default()
                .push(labels[i].clone());
        }
    }
    let mut groups: Vec<StackGroup> = groups
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|((state, top_frames), threads)| StackGroup {
            count: threads.len(),
            state,
            top_frames,
            threads,
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.threads.cmp(&b.threads)));
    r.groups = groups;
    let ac = across::across(&run, &labels);
    // CPU per Java thread: sampled by wasp when it took the dump, else from cpu= across dumps.
    if let Some(cpu) = cpu {
        let mut hot: Vec<HotThread> = d
            .threads
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let nid = t.nid?;
                let pct = *cpu.by_nid.get(&nid)?;
                (pct > 0.0).then(|| HotThread {
                    thread: labels[i].clone(),
                    nid,
                    cpu_pct: pct,
                    state: t.state.clone(),
                    top_frames: top(t, 10),
                    source: format!("sampled over {:.1} s", cpu.window_s),
                })
            })
            .collect();
        hot.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct));
        hot.truncate(10);
        r.hot = hot;
    } else {
        r.hot = ac.hot;
    }
    let earlier: Vec<ThreadDump> = run[..run.len() - 1].iter().map(|d| (*d).clone()).collect();
    r.diagnoses = diagnose::diagnose(d, &earlier, limits);
    if !ac.carriers_stuck.is_empty() {
        r.diagnoses.push(Diagnosis {
            name: format!(
                "{} carrier thread(s) stuck under one virtual thread",
                ac.carriers_stuck.len()
            ),
            evidence: ac.carriers_stuck,
        });
    }
    r.stuck = ac.stuck;
    verdict(&mut r, d, &ac.busy, jvm_only, jvms, run.len());
    r
}

fn not_readable(inputs: &[InputSummary]) -> String {
    let what: Vec<String> = inputs
        .iter()
        .map(|i| {
            format!(
                "{} looks like {}",
                i.name,
                i.looks_like.as_deref().unwrap_or("something else")
            )
        })
        .collect();
    if what.is_empty() {
        "not a thread dump wasp can read: no thread in it".into()
    } else {
        format!("not a thread dump wasp can read: {}", what.join("; "))
    }
}

fn verdict(
    r: &mut Report,
    d: &ThreadDump,
    busy: &[String],
    jvm_only: usize,
    jvms: usize,
    run: usize,
) {
    let mut v = Vec::new();
    for (k, c) in r.deadlocks.iter().enumerate() {
        let by = if k >= r.deadlocks.len() - jvm_only {
            " (reported by the JVM)"
        } else {
            ""
        };
        v.push(format!("DEADLOCK between {}{by}", c.join(", ")));
    }
    if let Some(n) = d.jvm_deadlock_count
        && n > r.deadlocks.len()
    {
        v.push(format!(
            "the JVM reported {n} deadlocks; {} of them could be read",
            r.deadlocks.len()
        ));
    }
    for b in busy {
        v.push(format!("busy in the same place: {b}"));
    }
    for dg in &r.diagnoses {
        v.push(format!(
            "{}: {}",
            dg.name,
            dg.evidence.first().cloned().unwrap_or_default()
        ));
    }
    if let Some(h) = r.hot.first() {
        v.push(format!(
            "busiest thread: \"{}\" {:.0}% CPU at {} ({})",
            h.thread,
            h.cpu_pct,
            h.top_frames
                .first()
                .cloned()
                .unwrap_or_else(|| "(no Java frame)".into()),
            h.source
        ));
    }
    let blocked = r.states.get("BLOCKED").copied().unwrap_or(0);
    if blocked > 0 {
        v.push(format!("{blocked} thread(s) BLOCKED on monitors"));
    }
    if v.is_empty() {
        v.push("no deadlock, no contention, no known trouble pattern".into());
    }
    // What limits the verdict: said after it, never instead of it.
    if jvms > 1 {
        v.push(format!(
            "note: the dumps are of {jvms} different JVMs (or one restarted): only the last one's {run} dump(s) are analysed"
        ));
    }
    for i in &r.inputs {
        if !i.truncated_dumps.is_empty() {
            v.push(format!(
                "note: {}: dump(s) {:?} truncated",
                i.name, i.truncated_dumps
            ));
        }
        if i.unparsed_lines > 0 {
            v.push(format!(
                "note: {}: partly read, {} of {} lines not understood",
                i.name, i.unparsed_lines, i.lines
            ));
        }
        if i.replaced > 0 {
            v.push(format!(
                "note: {}: {} invalid byte sequence(s) replaced",
                i.name, i.replaced
            ));
        }
        if i.threads_per_dump.iter().all(|&n| n == 0) {
            v.push(format!(
                "note: {}: not a thread dump wasp can read ({})",
                i.name,
                i.looks_like.as_deref().unwrap_or("no thread")
            ));
        }
    }
    if r.inputs.is_empty() && d.truncated {
        v.push("note: the dump is truncated".into());
    }
    r.verdict = v;
}

impl Report {
    /// Verdict first, then the evidence.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for v in &self.verdict {
            let _ = writeln!(s, "* {v}");
        }
        if !self.readable {
            self.inputs_text(&mut s);
            return s;
        }
        let _ = writeln!(s, "\n{} threads: {:?}", self.threads, self.states);
        if self.dumps > 1 {
            let _ = writeln!(
                s,
                "{} dumps read; the last analysed, compared with the {} before it of the same JVM",
                self.dumps,
                self.dumps_analysed.saturating_sub(1)
            );
        }
        for c in &self.deadlocks {
            let _ = writeln!(
                s,
                "\ndeadlock cycle (each waits for the next): {} -> {}",
                c.join(" -> "),
                c.first().map(String::as_str).unwrap_or("")
            );
        }
        if !self.blocked.is_empty() {
            s.push_str("\nwaiting for locks:\n");
            for b in &self.blocked {
                let _ = writeln!(
                    s,
                    "  \"{}\" waits for {} held by {}  (chain: {})",
                    b.thread,
                    b.waits_for,
                    b.owner
                        .as_deref()
                        .map(|o| format!("\"{o}\""))
                        .unwrap_or("nobody visible".into()),
                    b.chain.join(" -> ")
                );
            }
        }
        for h in &self.hot {
            let _ = writeln!(
                s,
                "\nCPU {:.1}% \"{}\" (nid {}) {} [{}]",
                h.cpu_pct, h.thread, h.nid, h.state, h.source
            );
            for f in &h.top_frames {
                let _ = writeln!(s, "    at {f}");
            }
        }
        for dg in &self.diagnoses {
            let _ = writeln!(s, "\n{}:", dg.name);
            for e in dg.evidence.iter().take(10) {
                let _ = writeln!(s, "  {e}");
            }
        }
        if !self.stuck.is_empty() {
            s.push_str("\nRUNNABLE at the same frame in every dump:\n");
            for t in &self.stuck {
                let _ = writeln!(s, "  {t}");
            }
        }
        for g in self.groups.iter().take(10) {
            let _ = writeln!(s, "\n{} threads {} with the same stack:", g.count, g.state);
            for f in &g.top_frames {
                let _ = writeln!(s, "    at {f}");
            }
        }
        if self.unparsed_lines > 0 {
            let _ = writeln!(
                s,
                "\n{} lines not understood, the first:",
                self.unparsed_lines
            );
            for l in &self.unparsed_sample {
                let _ = writeln!(s, "  | {l}");
            }
        }
        self.inputs_text(&mut s);
        s
    }

    fn inputs_text(&self, s: &mut String) {
        use std::fmt::Write as _;
        for i in &self.inputs {
            let _ = write!(
                s,
                "\ninput {}: {} dump(s) {:?} threads, read as {}, {}",
                i.name,
                i.threads_per_dump.len(),
                i.threads_per_dump,
                if i.formats.is_empty() {
                    "-".to_string()
                } else {
                    i.formats.join("+")
                },
                i.encoding
            );
            if i.outside_lines > 0 {
                let _ = write!(s, ", {} lines around the dumps", i.outside_lines);
            }
            s.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    proptest::proptest! {
        // Dumps come from other processes: the analysis of whatever the parser makes of them never panics.
        #[test]
        fn analysis_never_panics(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "\"(http-nio-[0-9]{1,4}-exec-[0-9]|default task-[0-9]|XNIO-1 task-|é task-1)\" #1 prio=5 nid=0x[0-9] waiting  [0x0]",
                proptest::prelude::Just("   java.lang.Thread.State: BLOCKED (on object monitor)".to_string()),
                proptest::prelude::Just("\tat org.apache.tomcat.util.threads.TaskQueue.take(TaskQueue.java:1)".to_string()),
                proptest::prelude::Just("\tat org.apache.coyote.AbstractProtocol.process(A.java:1)".to_string()),
                proptest::prelude::Just("\tat shop.X.y(X.java:1)".to_string()),
                "\t- (waiting to lock|locked) <0x[0-9]> \\(a [a-z.]{0,9}\\)",
                "\\PC{0,30}",
            ], 0..40)) {
            let d = crate::jvm::dump::parse(&lines.join("\n"));
            let _ = analyze(&[d.clone(), d], None).to_text();
        }
    }

    #[test]
    fn finds_both_deadlocks_and_the_blocked_chain_in_the_jdk17_fixture() {
        let t = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
        )
        .unwrap();
        let d = crate::jvm::dump::parse(&t);
        let r = analyze(&[d], None);
        assert!(
            r.deadlocks
                .contains(&vec!["deadlock-A".to_string(), "deadlock-B".to_string()]),
            "{:?}",
            r.deadlocks
        );
        assert!(
            r.deadlocks.contains(&vec![
                "rl-deadlock-1".to_string(),
                "rl-deadlock-2".to_string()
            ]),
            "{:?}",
            r.deadlocks
        );
        let b = r
            .blocked
            .iter()
            .find(|b| b.thread == "sync-blocked-1")
            .unwrap();
        assert_eq!(b.owner.as_deref(), Some("monitor-holder"));
        assert!(r.to_text().starts_with("* DEADLOCK"));
    }

    /// jstack without -l has no owner of a ReentrantLock: the JVM's own report is the only evidence.
    #[test]
    fn the_jvms_deadlock_report_counts_without_owner_information() {
        let t = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack.txt"),
        )
        .unwrap();
        let r = analyze(&[crate::jvm::dump::parse(&t)], None);
        assert!(
            r.verdict.contains(
                &"DEADLOCK between rl-deadlock-1, rl-deadlock-2 (reported by the JVM)".to_string()
            ) || r.verdict.contains(
                &"DEADLOCK between rl-deadlock-2, rl-deadlock-1 (reported by the JVM)".to_string()
            ),
            "{:?}",
            r.verdict
        );
        assert_eq!(r.deadlocks.len(), 2);
    }

    /// Two threads with one name are two threads: a deadlock between same-named pairs is found for each.
    #[test]
    fn threads_are_told_apart_by_id_not_name() {
        let mut s = String::from("Full thread dump OpenJDK 64-Bit Server VM (17 mixed mode):\n\n");
        for (id, name, waits, holds) in [
            (1, "A", 2, 1),
            (2, "B", 1, 2),
            (3, "A", 4, 3),
            (4, "B", 3, 4),
        ] {
            s.push_str(&format!(
                "\"{name}\" #{id} prio=5 os_prio=0 tid=0x1 nid=0x{id:x} waiting for monitor entry  [0x0]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n\tat X.y(X.java:1)\n\t- waiting to lock <0x{waits:x}> (a L)\n\t- locked <0x{holds:x}> (a L)\n\n"
            ));
        }
        let r = analyze(&[crate::jvm::dump::parse(&s)], None);
        assert_eq!(
            r.deadlocks,
            vec![
                vec!["A (#1)".to_string(), "B (#2)".to_string()],
                vec!["A (#3)".to_string(), "B (#4)".to_string()]
            ]
        );
    }

    /// `n` BLOCKED threads, thread i waiting for the monitor thread i+1 holds; the last waits for thread 0's
    /// when `cycle`.
    fn chain_dump(n: usize, cycle: bool) -> crate::jvm::dump::ThreadDump {
        let mut s = String::from("Full thread dump OpenJDK 64-Bit Server VM (17 mixed mode):\n\n");
        for i in 0..n {
            let next = if i + 1 < n {
                i + 1
            } else if cycle {
                0
            } else {
                n + 1
            };
            s.push_str(&format!(
                "\"t{i}\" #{i} prio=5 os_prio=0 tid=0x1 nid=0x{i:x} waiting for monitor entry  [0x0]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n\tat A.b(A.java:1)\n\t- waiting to lock <0x{next:x}> (a L)\n\t- locked <0x{i:x}> (a L)\n\tat A.c(A.java:2)\n\n"
            ));
        }
        crate::jvm::dump::parse(&s)
    }

    #[test]
    fn long_chains_and_cycles_are_walked_in_linear_time_and_chains_are_bounded() {
        // Before: every thread walked the whole chain behind it, checking each step against its path: 2,000
        // threads took ~50 s in a debug build. Now about a second; 20 s is a loaded 2-core machine's margin.
        let t = std::time::Instant::now();
        let r = analyze(&[chain_dump(2000, false)], None);
        assert!(r.deadlocks.is_empty(), "{:?}", r.deadlocks);
        assert_eq!(r.blocked.len(), 2000);
        let c = &r.blocked.iter().find(|b| b.thread == "t0").unwrap().chain;
        assert_eq!(c.len(), MAX_CHAIN + 1);
        assert_eq!((c[0].as_str(), c[1].as_str()), ("t0", "t1"));
        assert_eq!(c.last().unwrap(), "...");
        let c = &r
            .blocked
            .iter()
            .find(|b| b.thread == "t1995")
            .unwrap()
            .chain;
        assert_eq!(c, &["t1995", "t1996", "t1997", "t1998", "t1999"]);
        // One cycle through all 2,000: found once.
        let r = analyze(&[chain_dump(2000, true)], None);
        assert_eq!(r.deadlocks.len(), 1);
        assert_eq!(r.deadlocks[0].len(), 2000);
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    }
}

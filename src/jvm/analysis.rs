//! What an expert reads out of thread dumps: states, who holds what a BLOCKED thread waits for, deadlock
//! cycles (also those the JVM does not report), identical stacks, the threads that burn CPU, and named
//! diagnoses with their evidence. Verdict first.

use super::threaddump::{Thread, ThreadDump};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// CPU per OS thread over a short window: nid -> percent of one core.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadCpu {
    pub window_s: f64,
    pub by_nid: HashMap<u64, f64>,
}

/// Samples /proc/<pid>/task/*/stat twice, `window` apart (what top -H shows).
pub fn sample_thread_cpu(pid: u32, window: Duration) -> anyhow::Result<ThreadCpu> {
    let read = || -> anyhow::Result<HashMap<u64, u64>> {
        let mut m = HashMap::new();
        for e in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let Ok(b) = std::fs::read(e.path().join("stat")) else {
                continue;
            };
            if let Ok(st) = <procfs::process::Stat as procfs::FromRead>::from_read(&b[..]) {
                m.insert(tid, st.utime + st.stime);
            }
        }
        Ok(m)
    };
    let a = read()?;
    let t = std::time::Instant::now();
    std::thread::sleep(window);
    let b = read()?;
    let secs = t.elapsed().as_secs_f64();
    let hz = procfs::ticks_per_second().max(1) as f64;
    let by_nid = b
        .iter()
        .map(|(tid, &v)| {
            (
                *tid,
                v.saturating_sub(*a.get(tid).unwrap_or(&v)) as f64 / hz / secs * 100.0,
            )
        })
        .collect();
    Ok(ThreadCpu {
        window_s: secs,
        by_nid,
    })
}

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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    pub name: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub verdict: Vec<String>,
    pub threads: usize,
    pub states: BTreeMap<String, usize>,
    pub deadlocks: Vec<Vec<String>>,
    pub blocked: Vec<Blocked>,
    pub groups: Vec<StackGroup>,
    pub hot: Vec<HotThread>,
    pub diagnoses: Vec<Diagnosis>,
    /// Threads stuck on the same top frame in every dump (RUNNABLE), when several dumps are given.
    pub stuck: Vec<String>,
    pub unparsed_lines: usize,
}

/// Threads named in one blocked thread's chain; "..." follows when it goes on.
pub const MAX_CHAIN: usize = 32;

fn top(t: &Thread, n: usize) -> Vec<String> {
    t.frames.iter().take(n).map(|f| f.frame.clone()).collect()
}

fn any_frame(t: &Thread, pats: &[&str]) -> Option<String> {
    t.frames
        .iter()
        .find(|f| pats.iter().any(|p| f.frame.contains(p)))
        .map(|f| f.frame.clone())
}

/// Analyses the last dump, using the earlier ones (taken apart in time) for "stuck on the same frame".
pub fn analyze(dumps: &[ThreadDump], cpu: Option<&ThreadCpu>) -> Report {
    analyze_with(dumps, cpu, &[])
}

/// As `analyze`, knowing the server's request-pool limits (Tomcat's server.xml), when they could be read.
pub fn analyze_with(
    dumps: &[ThreadDump],
    cpu: Option<&ThreadCpu>,
    limits: &[super::tomcat::PoolLimit],
) -> Report {
    let Some(d) = dumps.last() else {
        return Report::default();
    };
    let mut r = Report {
        threads: d.threads.len(),
        unparsed_lines: dumps.iter().map(|d| d.unparsed.len()).sum(),
        ..Default::default()
    };
    for t in &d.threads {
        let s = if t.state.is_empty() {
            "VM".to_string()
        } else {
            t.state.clone()
        };
        *r.states.entry(s).or_default() += 1;
    }
    // Lock owners: monitors ("locked") and ownable synchronizers.
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for t in &d.threads {
        for l in t.locks_held() {
            owner.insert(l.address.as_str(), t.name.as_str());
        }
    }
    let waits: HashMap<&str, &str> = d
        .threads
        .iter()
        .filter(|t| t.state == "BLOCKED" || t.state_detail == "parking")
        .filter_map(|t| {
            let l = t.waiting_for()?;
            Some((t.name.as_str(), *owner.get(l.address.as_str())?))
        })
        .collect();
    // Deadlocks: cycles in thread -> owner-of-awaited-lock. Each thread is walked once (a walk stops at a thread
    // an earlier walk went through, whose cycle, if any, is already found): linear, also for a 2,000-thread chain.
    let mut seen_cycles: Vec<Vec<String>> = Vec::new();
    let mut done: HashSet<&str> = HashSet::new();
    for start in waits.keys() {
        if done.contains(start) {
            continue;
        }
        let mut path = vec![*start];
        let mut at: HashMap<&str, usize> = HashMap::from([(*start, 0)]);
        let mut cur = *start;
        while let Some(next) = waits.get(cur) {
            if let Some(&i) = at.get(next) {
                let mut cyc: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
                cyc.sort();
                if !seen_cycles.contains(&cyc) {
                    seen_cycles.push(cyc);
                }
                break;
            }
            if done.contains(next) {
                break;
            }
            at.insert(next, path.len());
            path.push(next);
            cur = next;
        }
        done.extend(path);
    }
    r.deadlocks = seen_cycles;
    for t in d.threads.iter().filter(|t| {
        t.state == "BLOCKED" || t.waiting_for().is_some() && t.state_detail == "parking"
    }) {
        let Some(l) = t.waiting_for() else { continue };
        let mut chain = vec![t.name.clone()];
        let mut cur = t.name.as_str();
        while let Some(o) = waits.get(cur) {
            if chain.iter().any(|c| c == o) {
                break;
            }
            // Every blocked thread has its chain: unbounded, a long one would make them quadratic in size.
            if chain.len() == MAX_CHAIN {
                chain.push("...".into());
                break;
            }
            chain.push(o.to_string());
            cur = o;
        }
        // Parked threads with no owner are idle pool workers, not contention.
        let ow = owner.get(l.address.as_str()).map(|s| s.to_string());
        if t.state != "BLOCKED" && ow.is_none() {
            continue;
        }
        r.blocked.push(Blocked {
            thread: t.name.clone(),
            state: t.state.clone(),
            waits_for: format!("<{}> (a {})", l.address, l.class),
            owner: ow,
            chain,
        });
    }
    // Identical stacks.
    let mut groups: HashMap<(String, Vec<String>), Vec<String>> = HashMap::new();
    for t in d
        .threads
        .iter()
        .filter(|t| t.is_java() && !t.frames.is_empty())
    {
        groups
            .entry((t.state.clone(), top(t, 8)))
            .or_default()
            .push(t.name.clone());
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
    // CPU per Java thread.
    if let Some(cpu) = cpu {
        let mut hot: Vec<HotThread> = d
            .threads
            .iter()
            .filter_map(|t| {
                let nid = t.nid?;
                let pct = *cpu.by_nid.get(&nid)?;
                (pct > 0.0).then(|| HotThread {
                    thread: t.name.clone(),
                    nid,
                    cpu_pct: pct,
                    state: t.state.clone(),
                    top_frames: top(t, 10),
                })
            })
            .collect();
        hot.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct));
        hot.truncate(10);
        r.hot = hot;
    }
    r.diagnoses = diagnose(d, &dumps[..dumps.len() - 1], limits);
    if dumps.len() > 1 {
        for t in d
            .threads
            .iter()
            .filter(|t| t.state == "RUNNABLE" && !t.frames.is_empty())
        {
            let frame = &t.frames[0].frame;
            let same = dumps[..dumps.len() - 1].iter().all(|o| {
                o.threads.iter().any(|x| {
                    x.name == t.name && x.frames.first().is_some_and(|f| &f.frame == frame)
                })
            });
            if same {
                r.stuck.push(format!("{} at {}", t.name, frame));
            }
        }
    }
    // The verdict.
    for c in &r.deadlocks {
        r.verdict.push(format!("DEADLOCK between {}", c.join(", ")));
    }
    for dg in &r.diagnoses {
        r.verdict.push(format!(
            "{}: {}",
            dg.name,
            dg.evidence.first().cloned().unwrap_or_default()
        ));
    }
    if let Some(h) = r.hot.first() {
        r.verdict.push(format!(
            "busiest thread: \"{}\" {:.0}% CPU at {}",
            h.thread,
            h.cpu_pct,
            h.top_frames.first().cloned().unwrap_or_default()
        ));
    }
    let blocked = r.states.get("BLOCKED").copied().unwrap_or(0);
    if blocked > 0 {
        r.verdict
            .push(format!("{blocked} thread(s) BLOCKED on monitors"));
    }
    if r.verdict.is_empty() {
        r.verdict
            .push("no deadlock, no contention, no known trouble pattern".into());
    }
    r
}

/// The request pool a thread belongs to: Tomcat/JBoss Web connectors ("http-nio-8080-exec-3" ->
/// "http-nio-8080"), WildFly/EAP 7 Undertow workers ("default task-12" -> "default task").
fn request_pool(name: &str) -> Option<&str> {
    if (name.starts_with("http-") || name.starts_with("https-") || name.starts_with("ajp-"))
        && let Some(i) = name.rfind("-exec-")
    {
        return Some(&name[..i]);
    }
    // Tomcat's shared <Executor> with its default or the documented namePrefix.
    for p in ["catalina-exec-", "tomcat-exec-"] {
        if let Some(n) = name.strip_prefix(p)
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            return Some(&p[..p.len() - 1]);
        }
    }
    if let Some(i) = name.rfind(" task-")
        && name[i + 6..].chars().all(|c| c.is_ascii_digit())
        && (name.starts_with("default task-") || name.starts_with("XNIO-"))
    {
        return Some(&name[..i + 5]);
    }
    None
}

/// Frames where a pool thread waits for work.
const IDLE_FRAMES: &[&str] = &[
    "TaskQueue.take",
    "TaskQueue.poll",
    "LinkedBlockingQueue.take",
    "LinkedBlockingQueue.poll",
    "ThreadPoolExecutor.getTask",
    "EnhancedQueueExecutor$PoolThreadNode.park",
    "EnhancedQueueExecutor.park",
];

/// Frames only a thread serving a request has.
const REQUEST_FRAMES: &[&str] = &[
    "org.apache.coyote.",
    "io.undertow.server.",
    "jakarta.servlet.",
    "javax.servlet.",
];

fn is_jdk(f: &str) -> bool {
    f.starts_with("java.") || f.starts_with("jdk.") || f.starts_with("sun.")
}

fn is_container(f: &str) -> bool {
    [
        "org.apache.catalina.",
        "org.apache.coyote.",
        "org.apache.tomcat.",
        "jakarta.servlet.",
        "javax.servlet.",
        "io.undertow.",
        "org.jboss.threads.",
        "org.xnio.",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Where a busy request thread is: its first application frame (neither JDK nor the server's own), else
/// its first non-JDK frame, else its top frame.
fn blocking_frame(t: &Thread) -> Option<&str> {
    let f = |p: &dyn Fn(&str) -> bool| t.frames.iter().map(|f| f.frame.as_str()).find(|f| p(f));
    f(&|x| !is_jdk(x) && !is_container(x))
        .or_else(|| f(&|x| !is_jdk(x)))
        .or_else(|| t.frames.first().map(|f| f.frame.as_str()))
}

/// Request pools with every thread busy and none waiting for work, the frames they are held at, and who
/// holds the lock most of them wait for.
/// Idle: waiting for work, and not inside a request (application code may wait on queues too).
fn idle(t: &Thread) -> bool {
    any_frame(t, IDLE_FRAMES).is_some() && any_frame(t, REQUEST_FRAMES).is_none()
}

/// (threads, busy) of one pool in a dump.
fn pool_use(d: &ThreadDump, pool: &str) -> (usize, usize) {
    d.threads
        .iter()
        .filter(|t| request_pool(&t.name) == Some(pool))
        .fold((0, 0), |(n, b), t| (n + 1, b + usize::from(!idle(t))))
}

fn pool_exhaustion(
    d: &ThreadDump,
    earlier: &[ThreadDump],
    limits: &[super::tomcat::PoolLimit],
    owner_of: &HashMap<&str, &Thread>,
) -> Vec<Diagnosis> {
    let mut pools: BTreeMap<&str, Vec<&Thread>> = BTreeMap::new();
    for t in &d.threads {
        if let Some(p) = request_pool(&t.name) {
            pools.entry(p).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    for (pool, threads) in pools {
        if threads.iter().any(|t| idle(t)) {
            continue;
        }
        // Below its configured maximum the pool grows on the next request: busy, not exhausted.
        let limit = super::tomcat::limit_for(limits, pool);
        if limit.is_some_and(|l| threads.len() < l.max_threads as usize) {
            continue;
        }
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        let mut frames: BTreeMap<&str, usize> = BTreeMap::new();
        let mut locks: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for t in &threads {
            *states.entry(t.state.as_str()).or_default() += 1;
            if let Some(f) = blocking_frame(t) {
                *frames.entry(f).or_default() += 1;
            }
            if let Some(l) = t.waiting_for() {
                *locks
                    .entry((l.address.as_str(), l.class.as_str()))
                    .or_default() += 1;
            }
        }
        let mut frames: Vec<(&str, usize)> = frames.into_iter().collect();
        frames.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let mut first = format!(
            "all {} threads of {pool} busy, none waiting for work",
            threads.len()
        );
        if let Some((f, n)) = frames.first() {
            first.push_str(&format!("; {n} at {f}"));
        }
        let mut ev = vec![first, format!("states: {}", states.join(", "))];
        for (f, n) in frames.iter().skip(1).take(4) {
            ev.push(format!("{n} at {f}"));
        }
        if let Some(((addr, class), n)) = locks.into_iter().max_by_key(|(_, n)| *n) {
            let holder = owner_of
                .get(addr)
                .map(|o| {
                    format!(
                        " held by \"{}\" at {}",
                        o.name,
                        blocking_frame(o).unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            ev.push(format!("{n} wait for <{addr}> (a {class}){holder}"));
        }
        // A dump cannot know the pool's maximum: a pool that is still growing is all busy for a moment too.
        // The server's configuration says it; else earlier dumps tell: the same size, all busy, every time.
        if let Some(l) = limit {
            ev.push(format!(
                "at its maximum: maxThreads {} ({})",
                l.max_threads, l.source
            ));
        }
        if earlier.is_empty() {
            if limit.is_none() {
                ev.push(
                    "one dump: a pool still growing towards its maximum looks the same; a bundle's dumps apart in time tell"
                        .into(),
                );
            }
        } else {
            let seen: Vec<String> = earlier
                .iter()
                .map(|e| pool_use(e, pool))
                .chain(std::iter::once((threads.len(), threads.len())))
                .map(|(n, b)| format!("{b}/{n}"))
                .collect();
            ev.push(format!("busy/threads in each dump: {}", seen.join(", ")));
        }
        out.push(Diagnosis {
            name: "request thread pool exhausted".into(),
            evidence: ev,
        });
    }
    out
}

fn diagnose(
    d: &ThreadDump,
    earlier: &[ThreadDump],
    limits: &[super::tomcat::PoolLimit],
) -> Vec<Diagnosis> {
    let mut owner_of: HashMap<&str, &Thread> = HashMap::new();
    for t in &d.threads {
        for l in t.locks_held() {
            owner_of.insert(l.address.as_str(), t);
        }
    }
    let mut out = pool_exhaustion(d, earlier, limits, &owner_of);
    let count = |pats: &[&str]| -> Vec<String> {
        d.threads
            .iter()
            .filter_map(|t| any_frame(t, pats).map(|f| format!("\"{}\" at {f}", t.name)))
            .collect()
    };
    let jdbc = count(&[
        "HikariPool.getConnection",
        "GenericObjectPool.borrowObject",
        "ConnectionPool.borrowConnection",
        "BasicDataSource.getConnection",
        "PooledDataSource.popConnection",
    ]);
    if !jdbc.is_empty() {
        out.push(Diagnosis {
            name: format!(
                "{} thread(s) waiting for a JDBC pool connection",
                jdbc.len()
            ),
            evidence: jdbc,
        });
    }
    let sock: Vec<String> = d
        .threads
        .iter()
        .filter(|t| {
            t.frames.first().is_some_and(|f| {
                [
                    "socketRead",
                    "NioSocketImpl.park",
                    "NioSocketImpl.read",
                    "SocketDispatcher.read",
                ]
                .iter()
                .any(|p| f.frame.contains(p))
            })
        })
        .filter(|t| {
            any_frame(
                t,
                &[
                    "jdbc",
                    "mysql",
                    "oracle",
                    "postgresql",
                    "http",
                    "Http",
                    "rpc",
                ],
            )
            .is_some()
        })
        .map(|t| {
            format!(
                "\"{}\" at {}",
                t.name,
                t.frames.first().map(|f| f.frame.as_str()).unwrap_or("")
            )
        })
        .collect();
    if !sock.is_empty() {
        out.push(Diagnosis {
            name: format!(
                "{} thread(s) in socket reads to a database or remote API",
                sock.len()
            ),
            evidence: sock,
        });
    }
    let log: Vec<String> = d
        .threads
        .iter()
        .filter(|t| t.state == "BLOCKED")
        .filter_map(|t| {
            any_frame(
                t,
                &[
                    "ch.qos.logback",
                    "org.apache.log4j",
                    "org.apache.logging.log4j",
                    "java.util.logging",
                ],
            )
            .map(|f| format!("\"{}\" at {f}", t.name))
        })
        .collect();
    if log.len() > 1 {
        out.push(Diagnosis {
            name: format!("log appender lock contention ({} threads)", log.len()),
            evidence: log,
        });
    }
    out
}

impl Report {
    /// Verdict first, then the evidence.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for v in &self.verdict {
            s.push_str(&format!("* {v}\n"));
        }
        s.push_str(&format!("\n{} threads: {:?}\n", self.threads, self.states));
        for c in &self.deadlocks {
            s.push_str(&format!("\ndeadlock cycle: {}\n", c.join(" -> ")));
        }
        if !self.blocked.is_empty() {
            s.push_str("\nwaiting for locks:\n");
            for b in &self.blocked {
                s.push_str(&format!(
                    "  \"{}\" waits for {} held by {}  (chain: {})\n",
                    b.thread,
                    b.waits_for,
                    b.owner
                        .as_deref()
                        .map(|o| format!("\"{o}\""))
                        .unwrap_or("nobody visible".into()),
                    b.chain.join(" -> ")
                ));
            }
        }
        for h in &self.hot {
            s.push_str(&format!(
                "\nCPU {:.1}% \"{}\" (nid {}) {}\n",
                h.cpu_pct, h.thread, h.nid, h.state
            ));
            for f in &h.top_frames {
                s.push_str(&format!("    at {f}\n"));
            }
        }
        for dg in &self.diagnoses {
            s.push_str(&format!("\n{}:\n", dg.name));
            for e in dg.evidence.iter().take(10) {
                s.push_str(&format!("  {e}\n"));
            }
        }
        if !self.stuck.is_empty() {
            s.push_str("\nsame frame in every dump:\n");
            for t in &self.stuck {
                s.push_str(&format!("  {t}\n"));
            }
        }
        for g in self.groups.iter().take(10) {
            s.push_str(&format!(
                "\n{} threads {} with the same stack:\n",
                g.count, g.state
            ));
            for f in &g.top_frames {
                s.push_str(&format!("    at {f}\n"));
            }
        }
        if self.unparsed_lines > 0 {
            s.push_str(&format!(
                "\n({} lines not understood, kept)\n",
                self.unparsed_lines
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
            let d = super::super::threaddump::parse(&lines.join("\n"));
            let _ = analyze(&[d.clone(), d], None).to_text();
        }
    }

    #[test]
    fn a_busy_pool_below_its_max_threads_is_not_exhausted() {
        let mut t = String::from("Full thread dump OpenJDK 64-Bit Server VM:\n\n");
        for i in 1..=4 {
            t.push_str(&format!(
                "\"http-nio-8080-exec-{i}\" #{i} daemon prio=5 os_prio=0 tid=0x{i} nid=0x{i} waiting for monitor entry  [0x0]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n\tat shop.Dao.query(Dao.java:7)\n\tat org.apache.coyote.AbstractProtocol$ConnectionHandler.process(AbstractProtocol.java:1)\n\n"
            ));
        }
        let d = super::super::threaddump::parse(&t);
        let limit = |n| {
            vec![super::super::tomcat::PoolLimit {
                key: super::super::tomcat::PoolKey::Port(8080),
                max_threads: n,
                source: "test".into(),
            }]
        };
        let named = |r: &Report| {
            r.diagnoses
                .iter()
                .find(|d| d.name == "request thread pool exhausted")
                .cloned()
        };
        // Without a limit: reported, with the single-dump caveat.
        let r = analyze(std::slice::from_ref(&d), None);
        let dg = named(&r).expect("diagnosis");
        assert!(
            dg.evidence[0].ends_with("4 at shop.Dao.query(Dao.java:7)"),
            "{dg:?}"
        );
        assert!(
            dg.evidence.iter().any(|e| e.starts_with("one dump")),
            "{dg:?}"
        );
        // maxThreads 8: the pool grows on the next request.
        assert!(named(&analyze_with(std::slice::from_ref(&d), None, &limit(8))).is_none());
        // maxThreads 4: exhausted, and said so.
        let dg = named(&analyze_with(&[d], None, &limit(4))).expect("diagnosis");
        assert!(
            dg.evidence
                .contains(&"at its maximum: maxThreads 4 (test)".to_string()),
            "{dg:?}"
        );
    }

    #[test]
    fn request_pools_by_thread_name() {
        assert_eq!(
            request_pool("http-nio-127.0.0.1-8080-exec-12"),
            Some("http-nio-127.0.0.1-8080")
        );
        assert_eq!(request_pool("ajp-nio-8009-exec-1"), Some("ajp-nio-8009"));
        assert_eq!(request_pool("default task-7"), Some("default task"));
        assert_eq!(request_pool("XNIO-1 task-3"), Some("XNIO-1 task"));
        assert_eq!(request_pool("http-nio-8080-Acceptor"), None);
        assert_eq!(request_pool("my task-x"), None);
        assert_eq!(request_pool("main"), None);
        assert_eq!(request_pool("catalina-exec-12"), Some("catalina-exec"));
        assert_eq!(request_pool("tomcat-exec-1"), Some("tomcat-exec"));
        assert_eq!(request_pool("tomcat-exec-"), None);
    }

    #[test]
    fn finds_both_deadlocks_and_the_blocked_chain_in_the_jdk17_fixture() {
        let t = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
        )
        .unwrap();
        let d = super::super::threaddump::parse(&t);
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

    /// `n` BLOCKED threads, thread i waiting for the monitor thread i+1 holds; the last waits for thread 0's
    /// when `cycle`.
    fn chain_dump(n: usize, cycle: bool) -> super::super::threaddump::ThreadDump {
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
        super::super::threaddump::parse(&s)
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

//! Named diagnoses with their evidence, from one dump (earlier dumps of the same JVM for the pool sizes): an
//! exhausted request pool, JDBC pool waits, socket reads to a database or remote API, log appender
//! contention, virtual threads pinning their carriers.

use super::Diagnosis;
use crate::jvm::dump::{Thread, ThreadDump};
use std::collections::{BTreeMap, HashMap};

fn any_frame(t: &Thread, pats: &[&str]) -> Option<String> {
    t.frames
        .iter()
        .find(|f| pats.iter().any(|p| f.frame.contains(p)))
        .map(|f| f.frame.clone())
}

/// As `any_frame`, for patterns that all hold one of `hints`: frames without a hint are passed over at the
/// cost of a search per hint instead of one per pattern (a 10,000-thread dump has ~100,000 frames).
fn any_frame_hinted(t: &Thread, hints: &[&str], pats: &[&str]) -> Option<String> {
    t.frames
        .iter()
        .filter(|f| hints.iter().any(|h| f.frame.contains(h)))
        .find(|f| pats.iter().any(|p| f.frame.contains(p)))
        .map(|f| f.frame.clone())
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
    limits: &[crate::jvm::tomcat::PoolLimit],
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
        let limit = crate::jvm::tomcat::limit_for(limits, pool);
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

pub fn diagnose(
    d: &ThreadDump,
    earlier: &[ThreadDump],
    limits: &[crate::jvm::tomcat::PoolLimit],
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
            .filter_map(|t| {
                any_frame_hinted(t, &["Pool", "DataSource"], pats)
                    .map(|f| format!("\"{}\" at {f}", t.name))
            })
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
    // JDK 21-23: a virtual thread that blocks inside `synchronized` (or a native frame) parks its carrier too.
    let pinned: Vec<String> = d
        .threads
        .iter()
        .filter(|t| t.virtual_thread || t.carrying().is_some())
        .filter_map(|t| {
            any_frame(t, &["VirtualThread.parkOnCarrierThread"]).map(|_| {
                let what = t
                    .frames
                    .iter()
                    .find(|f| !is_jdk(&f.frame) && !f.frame.starts_with("java.base/"))
                    .map(|f| f.frame.as_str())
                    .unwrap_or("?");
                format!("\"{}\" parked on its carrier at {what}", t.name)
            })
        })
        .collect();
    if !pinned.is_empty() {
        out.push(Diagnosis {
            name: format!(
                "{} carrier thread(s) pinned by a virtual thread",
                pinned.len()
            ),
            evidence: pinned,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Report, analyze, analyze_with};
    use super::*;

    #[test]
    fn a_busy_pool_below_its_max_threads_is_not_exhausted() {
        let mut t = String::from("Full thread dump OpenJDK 64-Bit Server VM:\n\n");
        for i in 1..=4 {
            t.push_str(&format!(
                "\"http-nio-8080-exec-{i}\" #{i} daemon prio=5 os_prio=0 tid=0x{i} nid=0x{i} waiting for monitor entry  [0x0]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n\tat shop.Dao.query(Dao.java:7)\n\tat org.apache.coyote.AbstractProtocol$ConnectionHandler.process(AbstractProtocol.java:1)\n\n"
            ));
        }
        let d = crate::jvm::dump::parse(&t);
        let limit = |n| {
            vec![crate::jvm::tomcat::PoolLimit {
                key: crate::jvm::tomcat::PoolKey::Port(8080),
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

    /// JDK 21-23: a virtual thread blocking inside `synchronized` parks its carrier.
    #[test]
    fn a_pinned_carrier_is_named() {
        let d = crate::jvm::dump::parse(
            "Full thread dump OpenJDK 64-Bit Server VM (21 mixed mode):\n\n\
\"ForkJoinPool-1-worker-1\" #30 daemon [30] prio=5 os_prio=0 cpu=1.00ms elapsed=1.00s tid=0x1 nid=0x10 waiting on condition  [0x0]\n   java.lang.Thread.State: WAITING (parking)\n   Carrying virtual thread #29\n\tat jdk.internal.misc.Unsafe.park(java.base@21/Native Method)\n\tat java.lang.VirtualThread.parkOnCarrierThread(java.base@21/VirtualThread.java:661)\n\tat java.lang.VirtualThread.park(java.base@21/VirtualThread.java:593)\n\tat shop.Cart.add(Cart.java:12)\n\tat jdk.internal.vm.Continuation.run(java.base@21/Continuation.java:251)\n\n",
        );
        let r = analyze(&[d], None);
        let dg = r
            .diagnoses
            .iter()
            .find(|d| d.name.contains("pinned"))
            .expect("pinned");
        assert_eq!(
            dg.evidence,
            vec![
                "\"ForkJoinPool-1-worker-1\" parked on its carrier at shop.Cart.add(Cart.java:12)"
                    .to_string()
            ]
        );
    }
}

//! What dumps of one JVM taken apart in time show that one dump cannot: CPU per thread from the growth of its
//! `cpu=` (JDK 11+) over the wall time between dumps, threads busy in the same place (CPU growing, stack not
//! changing: the top finding), threads idle in the same frame, and carriers stuck under one virtual thread.

use super::HotThread;
use crate::jvm::dump::{Thread, ThreadDump};
use std::collections::HashMap;

/// Percent of one core from which a thread counts as busy.
pub const BUSY_PCT: f64 = 50.0;
/// Frames compared for "the same place".
const SAME_FRAMES: usize = 5;

#[derive(Debug, Default)]
pub struct Across {
    /// By CPU growth, largest first.
    pub hot: Vec<HotThread>,
    /// "busy in the same place" findings.
    pub busy: Vec<String>,
    /// RUNNABLE on the same top frame in every dump, not busy (or CPU unknown).
    pub stuck: Vec<String>,
    pub carriers_stuck: Vec<String>,
}

fn top(t: &Thread, n: usize) -> Vec<&str> {
    t.frames.iter().take(n).map(|f| f.frame.as_str()).collect()
}

/// `run`: the dumps of one JVM, oldest first; `labels`: those of the last dump. Threads seen in two dumps or
/// more are compared, also those gone by the last dump (a burst of CPU that ended is still the finding).
pub fn across(run: &[&ThreadDump], labels: &[String]) -> Across {
    let mut a = Across::default();
    let Some(last) = run.last() else {
        return a;
    };
    if run.len() < 2 {
        return a;
    }
    let by_key: Vec<HashMap<String, &Thread>> = run
        .iter()
        .map(|d| d.threads.iter().map(|t| (t.key(), t)).collect())
        .collect();
    let last_label: HashMap<String, &str> = last
        .threads
        .iter()
        .zip(labels)
        .map(|(t, l)| (t.key(), l.as_str()))
        .collect();
    // Every thread once, in the order first seen.
    let mut keys: Vec<String> = Vec::new();
    let mut known = std::collections::HashSet::new();
    for d in run {
        for t in &d.threads {
            if known.insert(t.key()) {
                keys.push(t.key());
            }
        }
    }
    for key in keys {
        let seen: Vec<&Thread> = by_key.iter().filter_map(|m| m.get(&key).copied()).collect();
        if seen.len() < 2 {
            continue;
        }
        let (earliest, t) = (seen[0], seen[seen.len() - 1]);
        let in_last = last_label.get(&key).copied();
        let label = in_last.unwrap_or(&t.name).to_string();
        let gone = if in_last.is_some() {
            ""
        } else {
            ", gone by the last dump"
        };
        // The thread's own elapsed= grows with wall time; else the dumps' timestamps would be needed.
        let pct = match (earliest.cpu_ms, t.cpu_ms, earliest.elapsed_s, t.elapsed_s) {
            (Some(c0), Some(c1), Some(e0), Some(e1)) if e1 - e0 > 0.0 => {
                Some(((c1 - c0).max(0.0) / ((e1 - e0) * 1000.0) * 100.0).min(10_000.0))
            }
            _ => None,
        };
        let same_place = !t.frames.is_empty()
            && seen
                .iter()
                .all(|x| top(x, SAME_FRAMES) == top(t, SAME_FRAMES));
        let frame = t.frames.first().map(|f| f.frame.as_str()).unwrap_or("");
        if let Some(p) = pct
            && p > 0.5
        {
            a.hot.push(HotThread {
                thread: label.clone(),
                nid: t.nid.unwrap_or(0),
                cpu_pct: p,
                state: t.state.clone(),
                top_frames: t.frames.iter().take(10).map(|f| f.frame.clone()).collect(),
                source: format!("cpu= growth over {} dumps{gone}", seen.len()),
            });
        }
        let everywhere = seen.len() == run.len();
        match pct {
            Some(p) if p >= BUSY_PCT && same_place => a.busy.push(format!(
                "\"{label}\" {p:.0}% CPU at {frame}, the same stack in {} dumps{gone}",
                seen.len()
            )),
            Some(p) if p < BUSY_PCT && t.state == "RUNNABLE" && same_place && everywhere => {
                a.stuck.push(format!("{label} at {frame} ({p:.0}% CPU)"))
            }
            None if t.state == "RUNNABLE" && same_place && everywhere => {
                a.stuck.push(format!("{label} at {frame}"))
            }
            _ => {}
        }
        if let Some(v) = t.carrying()
            && everywhere
            && seen.iter().all(|x| x.carrying() == Some(v))
        {
            a.carriers_stuck.push(format!(
                "carrier \"{label}\" carried virtual thread #{v} in all {} dumps",
                seen.len()
            ));
        }
    }
    a.hot.sort_by(|x, y| {
        y.cpu_pct
            .total_cmp(&x.cpu_pct)
            .then(x.thread.cmp(&y.thread))
    });
    a.hot.truncate(10);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jvm::dump::parse;

    fn dump(cpu_busy: f64, cpu_idle: f64, elapsed: f64) -> ThreadDump {
        parse(&format!(
            "Full thread dump OpenJDK 64-Bit Server VM (17 mixed mode):\n\n\
\"pool-1-thread-1\" #20 prio=5 os_prio=0 cpu={cpu_busy:.2}ms elapsed={elapsed:.2}s tid=0x1 nid=0x10 runnable  [0x0]\n   java.lang.Thread.State: RUNNABLE\n\tat app.Calc.loop(Calc.java:10)\n\tat app.Calc.run(Calc.java:5)\n\n\
\"acceptor\" #21 prio=5 os_prio=0 cpu={cpu_idle:.2}ms elapsed={elapsed:.2}s tid=0x2 nid=0x11 runnable  [0x0]\n   java.lang.Thread.State: RUNNABLE\n\tat sun.nio.ch.Net.accept(Native Method)\n\n"
        ))
    }

    #[test]
    fn busy_in_the_same_place_is_told_from_idle() {
        let ds = [
            dump(1000.0, 5.0, 100.0),
            dump(5900.0, 5.0, 105.0),
            dump(10900.0, 5.1, 110.0),
        ];
        let run: Vec<&ThreadDump> = ds.iter().collect();
        let labels = crate::jvm::analysis::locks::labels(&ds[2]);
        let a = across(&run, &labels);
        assert_eq!(a.busy.len(), 1, "{a:?}");
        assert!(
            a.busy[0].starts_with("\"pool-1-thread-1\" 99% CPU at app.Calc.loop"),
            "{a:?}"
        );
        assert_eq!(a.hot[0].thread, "pool-1-thread-1");
        assert_eq!(
            a.stuck,
            vec!["acceptor at sun.nio.ch.Net.accept(Native Method) (0% CPU)".to_string()]
        );
    }

    #[test]
    fn a_carrier_under_one_virtual_thread_in_every_dump_is_stuck() {
        let d = |cpu: f64, vt: u32| {
            parse(&format!(
                "Full thread dump OpenJDK 64-Bit Server VM (21 mixed mode):\n\n\
\"ForkJoinPool-1-worker-1\" #11 daemon [11] prio=5 os_prio=0 cpu={cpu:.2}ms elapsed={:.2}s tid=0x1 nid=0x1ac7 runnable  [0x0]\n   java.lang.Thread.State: RUNNABLE\n\tat app.Stuck.heavy(Stuck.java:45)\n\tat java.lang.VirtualThread.run(java.base@21/VirtualThread.java:309)\n   Carrying virtual thread #{vt}\n\n",
                100.0 + cpu / 1000.0
            ))
        };
        let ds = [d(1000.0, 21), d(2000.0, 21), d(3000.0, 21)];
        let run: Vec<&ThreadDump> = ds.iter().collect();
        let a = across(&run, &crate::jvm::analysis::locks::labels(&ds[2]));
        assert_eq!(
            a.carriers_stuck,
            vec![
                "carrier \"ForkJoinPool-1-worker-1\" carried virtual thread #21 in all 3 dumps"
                    .to_string()
            ]
        );
        let ds = [d(1000.0, 21), d(2000.0, 22)];
        let run: Vec<&ThreadDump> = ds.iter().collect();
        assert!(
            across(&run, &crate::jvm::analysis::locks::labels(&ds[1]))
                .carriers_stuck
                .is_empty()
        );
    }
}

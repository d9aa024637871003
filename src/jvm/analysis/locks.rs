//! Who waits for whom in one dump: lock owners, the threads each waits for, deadlock cycles in wait order
//! (also those the JVM does not report, joined with those it does), and every blocked thread's chain.
//! Threads are told apart by index, never by name: two threads may share one.

use super::Blocked;
use crate::jvm::dump::ThreadDump;
use std::collections::HashMap;

/// Threads named in one blocked thread's chain; "..." follows when it goes on.
pub const MAX_CHAIN: usize = 32;

pub struct Graph<'a> {
    /// Lock address -> the index of the thread holding it (monitors and ownable synchronizers).
    pub owner: HashMap<&'a str, usize>,
    /// Thread index -> the index of the thread holding the lock it waits for.
    pub waits: Vec<Option<usize>>,
}

pub fn graph(d: &ThreadDump) -> Graph<'_> {
    let mut owner = HashMap::new();
    for (i, t) in d.threads.iter().enumerate() {
        // A monitor a thread waits on (Object.wait) or waits to re-enter was released by that wait, though
        // the frame that entered it still lists it as locked.
        let released: Vec<&str> = t
            .frames
            .iter()
            .flat_map(|f| f.locks.iter())
            .filter(|(k, _)| k != "locked")
            .map(|(_, l)| l.address.as_str())
            .collect();
        for l in t.locks_held() {
            if !released.contains(&l.address.as_str()) {
                owner.insert(l.address.as_str(), i);
            }
        }
    }
    let waits = d
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let l = t.waiting_for()?;
            owner.get(l.address.as_str()).copied().filter(|&o| o != i)
        })
        .collect();
    Graph { owner, waits }
}

/// Labels for the report: the name, with the thread's id when another thread has the same name.
pub fn labels(d: &ThreadDump) -> Vec<String> {
    let mut n: HashMap<&str, usize> = HashMap::new();
    for t in &d.threads {
        *n.entry(t.name.as_str()).or_default() += 1;
    }
    d.threads
        .iter()
        .map(|t| {
            if n[t.name.as_str()] > 1 {
                format!("{} ({})", t.name, t.key())
            } else {
                t.name.clone()
            }
        })
        .collect()
}

/// Cycles of thread -> owner of the awaited lock, in wait order, each starting at its lowest index. Each
/// thread is walked once (a walk stops at a thread an earlier walk went through, whose cycle, if any, is
/// already found): linear, also for a 2,000-thread chain.
pub fn cycles(g: &Graph) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut done = vec![false; g.waits.len()];
    for start in 0..g.waits.len() {
        if done[start] || g.waits[start].is_none() {
            continue;
        }
        let mut path = vec![start];
        let mut at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
        let mut cur = start;
        while let Some(next) = g.waits[cur] {
            if let Some(&i) = at.get(&next) {
                let mut c = path[i..].to_vec();
                let m = c
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, v)| **v)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                c.rotate_left(m);
                out.push(c);
                break;
            }
            if done[next] {
                break;
            }
            at.insert(next, path.len());
            path.push(next);
            cur = next;
        }
        for p in path {
            done[p] = true;
        }
    }
    out
}

/// Deadlocks: the lock graph's cycles and the JVM's own reports (without -l a ReentrantLock deadlock is only
/// in the JVM's report), each once. The second value: how many only the JVM reported.
pub fn deadlocks(d: &ThreadDump, labels: &[String], g: &Graph) -> (Vec<Vec<String>>, usize) {
    let cyc = cycles(g);
    let mut out: Vec<Vec<String>> = cyc
        .iter()
        .map(|c| c.iter().map(|&i| labels[i].clone()).collect())
        .collect();
    let mut matched = vec![false; cyc.len()];
    let mut jvm_only = 0;
    for names in &d.jvm_deadlocks {
        let mut want = names.clone();
        want.sort();
        let hit = cyc.iter().enumerate().position(|(k, c)| {
            let mut have: Vec<&str> = c.iter().map(|&i| d.threads[i].name.as_str()).collect();
            have.sort();
            !matched[k] && have == want
        });
        match hit {
            Some(k) => matched[k] = true,
            None if !names.is_empty() => {
                out.push(names.clone());
                jvm_only += 1;
            }
            None => {}
        }
    }
    (out, jvm_only)
}

pub fn blocked(d: &ThreadDump, labels: &[String], g: &Graph) -> Vec<Blocked> {
    let mut out = Vec::new();
    for (i, t) in d.threads.iter().enumerate() {
        let Some(l) = t.waiting_for() else { continue };
        if t.state != "BLOCKED" && t.state_detail != "parking" {
            continue;
        }
        let ow = g.waits[i];
        // Parked threads with no owner are idle pool workers, not contention.
        if t.state != "BLOCKED" && ow.is_none() {
            continue;
        }
        let mut chain = vec![labels[i].clone()];
        let mut seen = vec![i];
        let mut cur = i;
        while let Some(o) = g.waits[cur] {
            if seen.contains(&o) {
                break;
            }
            // Every blocked thread has its chain: unbounded, a long one would make them quadratic in size.
            if chain.len() == MAX_CHAIN {
                chain.push("...".into());
                break;
            }
            chain.push(labels[o].clone());
            seen.push(o);
            cur = o;
        }
        out.push(Blocked {
            thread: labels[i].clone(),
            state: t.state.clone(),
            waits_for: format!("<{}> (a {})", l.address, l.class),
            owner: ow.map(|o| labels[o].clone()),
            chain,
        });
    }
    out
}

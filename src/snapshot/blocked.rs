//! The BLOCKED-thread counts of the latest dump wasp took of each JVM: written by the snapshot worker, read by
//! the rules (`jvm.blocked_threads`). An explicit handle the daemon creates and passes to both, so that two
//! agents in one process (tests) never see each other's dumps.

use crate::jvm::threaddump::ThreadDump;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bound: pids remembered.
const MAX_PIDS: usize = 256;

/// Cheap to clone; every clone is the same record.
#[derive(Debug, Clone, Default)]
pub struct BlockedThreads(Arc<Mutex<Vec<(u32, u32)>>>);

impl BlockedThreads {
    /// Records the BLOCKED threads of a dump just taken of `pid`.
    pub fn note(&self, pid: u32, dump: &ThreadDump) {
        let blocked = dump.threads.iter().filter(|t| t.state == "BLOCKED").count() as u32;
        let mut l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        l.retain(|(p, _)| *p != pid);
        if l.len() >= MAX_PIDS {
            l.remove(0);
        }
        l.push((pid, blocked));
    }

    /// BLOCKED threads of the latest dump per pid.
    pub fn latest(&self) -> HashMap<u32, f64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, b)| (*p, f64::from(*b)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_dump_per_pid_counts_and_the_record_is_bounded() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
        )
        .unwrap();
        let dump = crate::jvm::threaddump::parse(&text);
        let want = dump.threads.iter().filter(|t| t.state == "BLOCKED").count() as f64;
        assert!(want >= 2.0);
        let b = BlockedThreads::default();
        for pid in 0..(MAX_PIDS as u32 + 10) {
            b.note(pid, &dump);
        }
        let l = b.latest();
        assert_eq!(l.len(), MAX_PIDS);
        assert!(!l.contains_key(&0), "the oldest pid was dropped");
        assert_eq!(l.get(&(MAX_PIDS as u32 + 9)), Some(&want));
        // Another handle is another record.
        assert!(BlockedThreads::default().latest().is_empty());
    }
}

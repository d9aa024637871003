//! A writer's failure episode: one warning when writing starts to fail, one when it works again (with how many
//! writes failed in between), never one per failed write. A full disk must not fill the journal as well.

use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Episode {
    /// Writes failed since the episode began; `None` while writing works.
    failed: Mutex<Option<u64>>,
}

impl Episode {
    /// Records a failed write of `writer` (e.g. "spool prom"); warns only if this starts an episode.
    /// Returns true when it warned.
    pub fn failed(&self, writer: &str, error: &dyn std::fmt::Display) -> bool {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        match f.as_mut() {
            Some(n) => {
                *n += 1;
                false
            }
            None => {
                *f = Some(1);
                tracing::warn!(writer, error = %error, "cannot write; failed writes are counted, one line when it works again");
                true
            }
        }
    }

    /// Records a successful write; ends an episode (one log line with the count). Returns the count it ended.
    pub fn ok(&self, writer: &str) -> Option<u64> {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.take()?;
        tracing::warn!(writer, failed_writes = n, "writing works again");
        Some(n)
    }

    /// Writes failed in the episode under way (0 when none).
    pub fn failing(&self) -> u64 {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_starts_an_episode_one_ends_it_with_the_count() {
        let e = Episode::default();
        assert_eq!(e.ok("w"), None, "no episode, nothing to end");
        assert!(e.failed("w", &"ENOSPC"));
        for _ in 0..99 {
            assert!(!e.failed("w", &"ENOSPC"));
        }
        assert_eq!(e.failing(), 100);
        assert_eq!(e.ok("w"), Some(100));
        assert_eq!(e.ok("w"), None);
        assert!(e.failed("w", &"ENOSPC"), "a new episode warns again");
    }
}

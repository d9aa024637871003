//! Reads the kernel's log from /dev/kmsg without ever blocking: each read(2) returns one record, EAGAIN ends a
//! poll, EPIPE says the ring buffer overwrote records we had not read yet (counted, then reading goes on).
//!
//! Resuming: the last sequence number handled is kept in the data dir with the boot id. After a restart in the
//! same boot, records up to that number are skipped (no duplicates) and the rest, still in the ring buffer, are
//! read (nothing missed that the kernel still holds). A new boot starts from the ring buffer's oldest record.

use super::kmsg_parse::{Parser, parse_record};
use crate::model::event::{Event, EventKind};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events of one kind beyond this many in a minute are dropped (and counted): a flapping NIC or a disk
/// throwing thousands of I/O errors must not flood the journal and the sinks.
pub const DEFAULT_PER_KIND_PER_MIN: u32 = 30;

/// Counters a status view shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KmsgStats {
    pub records: u64,
    /// Records the ring buffer overwrote before we read them (EPIPE, or a gap in sequence numbers).
    pub lost: u64,
    /// Events dropped by the rate limit, per kind.
    pub rate_limited: BTreeMap<EventKind, u64>,
    pub last_seq: Option<u64>,
}

pub struct Kmsg {
    file: File,
    state: PathBuf,
    boot_id: String,
    parser: Parser,
    /// Records with a sequence number up to this one were handled (by this run or one before it).
    done: Option<u64>,
    per_min: u32,
    window: (Instant, BTreeMap<EventKind, u32>),
    pub stats: KmsgStats,
    /// One record's buffer, kept: the reader wakes twice a second and mostly finds nothing.
    buf: Vec<u8>,
}

/// The kernel's boot id: tells a restart of the agent from a reboot of the host.
pub fn boot_id(proc: &Path) -> String {
    std::fs::read_to_string(proc.join("sys/kernel/random/boot_id"))
        .map(|s| s.trim().chars().take(64).collect())
        .unwrap_or_default()
}

/// Wall-clock milliseconds of the kernel's timestamp zero (printk's clock runs with CLOCK_MONOTONIC).
pub fn boot_wall_ms() -> i64 {
    use nix::time::{ClockId, clock_gettime};
    let ms = |c| clock_gettime(c).map_or(0, |t| t.tv_sec() * 1000 + t.tv_nsec() / 1_000_000);
    ms(ClockId::CLOCK_REALTIME) - ms(ClockId::CLOCK_MONOTONIC)
}

fn read_state(path: &Path, boot_id: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let (b, seq) = s.trim().split_once(' ')?;
    (b == boot_id && !boot_id.is_empty())
        .then(|| seq.parse().ok())
        .flatten()
}

impl Kmsg {
    /// Opens `dev` (normally /dev/kmsg) non-blocking, resuming after the sequence number kept in `state`.
    pub fn open(dev: &Path, state: &Path, boot_id: String, per_min: u32) -> io::Result<Kmsg> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(dev)?;
        let first_run = !state.exists();
        let done = read_state(state, &boot_id);
        let mut k = Kmsg {
            file,
            state: state.to_path_buf(),
            boot_id,
            parser: Parser::default(),
            done,
            per_min: per_min.max(1),
            window: (Instant::now(), BTreeMap::new()),
            stats: KmsgStats {
                last_seq: done,
                ..Default::default()
            },
            buf: vec![0u8; 16 * 1024],
        };
        if first_run {
            k.skip_backlog()?;
        }
        Ok(k)
    }

    /// The first run ever (no saved position) starts at the end: what the kernel logged before the agent was
    /// installed was not missed while it was down. After a reboot (a saved position of another boot) the
    /// whole ring buffer is read: it is what happened since the boot.
    fn skip_backlog(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(r) = parse_record(&buf[..n]) {
                        self.done = Some(r.seq);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.stats.last_seq = self.done;
        self.save();
        Ok(())
    }

    /// Reads what the kernel has now (at most `max_records`), returns the events; never waits.
    pub fn poll(&mut self, max_records: usize) -> io::Result<Vec<Event>> {
        let mut boot_ms = None;
        let mut buf = std::mem::take(&mut self.buf);
        let r = self.poll_into(max_records, &mut buf, &mut boot_ms);
        self.buf = buf;
        r
    }

    fn poll_into(
        &mut self,
        max_records: usize,
        buf: &mut [u8],
        boot_ms: &mut Option<i64>,
    ) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        let before = self.done;
        for _ in 0..max_records {
            let n = match self.file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                    self.stats.lost += 1;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let Some(rec) = parse_record(&buf[..n]) else {
                continue;
            };
            if self.done.is_some_and(|d| rec.seq <= d) {
                continue;
            }
            if let Some(d) = self.done
                && rec.seq > d + 1
                && before.is_some()
            {
                self.stats.lost += rec.seq - d - 1;
            }
            self.done = Some(rec.seq);
            self.stats.records += 1;
            let boot_ms = *boot_ms.get_or_insert_with(boot_wall_ms);
            if let Some(e) = self.parser.feed(&rec, boot_ms)
                && self.admit(e.kind)
            {
                out.push(e);
            }
        }
        if self.done != before {
            self.stats.last_seq = self.done;
            self.save();
        }
        Ok(out)
    }

    fn admit(&mut self, kind: EventKind) -> bool {
        if self.window.0.elapsed() >= Duration::from_secs(60) {
            self.window = (Instant::now(), BTreeMap::new());
        }
        let n = self.window.1.entry(kind).or_default();
        *n += 1;
        if *n > self.per_min {
            *self.stats.rate_limited.entry(kind).or_default() += 1;
            return false;
        }
        true
    }

    /// Keeps the last sequence number: written aside and renamed, so a crash leaves the old or the new one.
    fn save(&self) {
        let Some(seq) = self.done else { return };
        let tmp = self.state.with_extension("tmp");
        let text = format!("{} {seq}\n", self.boot_id);
        if std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.state))
            .is_err()
        {
            tracing::debug!(path = %self.state.display(), "kmsg position not saved");
        }
    }

    /// Waits up to `timeout` for the kernel to have a record (poll(2)), so a reader thread sleeps cheaply.
    pub fn wait(&self, timeout: Duration) {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(60_000) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let _ = unsafe { libc::poll(&mut fd, 1, ms) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_per_boot() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kmsg.state");
        std::fs::write(&p, "abc 42\n").unwrap();
        assert_eq!(read_state(&p, "abc"), Some(42));
        assert_eq!(read_state(&p, "other"), None);
        assert_eq!(read_state(&p, ""), None);
    }
}

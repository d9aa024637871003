//! The on-disk spool of one sink: every batch is appended here (and synced) before it is sent, and acknowledged
//! only after the backend accepted it, so a crash, a `kill -9` or a backend outage loses nothing already collected.
//!
//! Layout under the sink's directory: append-only segment files `<16-digit seq>.seg`, each starting with an 8-byte
//! magic, then framed records `len:u32le | crc32(len bytes ‖ payload):u32le | payload`; and a tiny `ack` file
//! ("<seq> <offset>") saying where the oldest unsent record starts. There is no other index that could disagree
//! with the data: on open every segment is scanned, a torn tail is cut off, a damaged record ends its segment
//! (the lengths after it cannot be trusted) and is counted, an unreadable segment is renamed `.bad` and kept.
//! The size is bounded: when full, whole oldest segments are dropped (sent or not) and counted.

mod segment;

use segment::*;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A length above this is damage, never a record: a corrupt length must not make the reader allocate gigabytes.
pub const MAX_RECORD: u64 = 64 << 20;

/// With `sync` on, appended records reach stable storage at most this long after they were appended (the next
/// append after it syncs; a roll and a shutdown sync too): a power loss costs at most the last 5 s of collections.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// One spooled batch: the exact request body and what it carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Free for the sink (the encoding's kind); the spool does not interpret it.
    pub kind: u8,
    pub items: u64,
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
    pub created_ms: i64,
    pub body: Vec<u8>,
}

/// A place in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub seq: u64,
    pub off: u64,
}

/// Live figures, read by the status and metrics without taking the spool's lock.
#[derive(Debug, Default)]
pub struct SpoolStats {
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub records: AtomicU64,
    /// Creation time (ms) of the oldest unsent record, 0 when empty.
    pub oldest_ms: AtomicU64,
    pub dropped_full_records: AtomicU64,
    pub dropped_full_items: AtomicU64,
    pub dropped_full_bytes: AtomicU64,
    pub dropped_age_records: AtomicU64,
    pub dropped_age_items: AtomicU64,
    pub dropped_age_bytes: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub corrupt_bytes: AtomicU64,
    pub bad_segments: AtomicU64,
    pub appended_records: AtomicU64,
    pub appended_bytes: AtomicU64,
}

#[derive(Debug, Clone)]
struct Segment {
    seq: u64,
    len: u64,
    /// Creation time of the newest record in it (for the age limit).
    newest_ms: i64,
}

/// What opening found (logged by the caller).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    pub segments: usize,
    pub pending_records: u64,
    pub pending_bytes: u64,
    pub torn_bytes: u64,
    pub corrupt_records: u64,
    pub bad_segments: usize,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    max_age_ms: i64,
    sync: bool,
    segments: VecDeque<Segment>,
    head: Option<File>,
    read: Pos,
    stats: Arc<SpoolStats>,
    ack_file: Option<File>,
    /// When the head segment was last made durable (`sync`); appends since then are in the page cache only.
    synced: std::time::Instant,
    _lock: nix::fcntl::Flock<File>,
}

/// Why a record was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Full,
    Age,
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Spool {
    /// Opens (creating) the spool in `dir`, scanning what an earlier run left. Holds an exclusive lock on the
    /// directory so two agents never share one spool.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        max_age_ms: i64,
        sync: bool,
    ) -> io::Result<(Spool, Recovery)> {
        fs::create_dir_all(dir)?;
        let lockf = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        let lock = nix::fcntl::Flock::lock(lockf, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| {
                io::Error::other(format!(
                    "spool {} is in use by another process ({e})",
                    dir.display()
                ))
            })?;
        let stats = Arc::new(SpoolStats::default());
        let mut rec = Recovery::default();
        let ack = read_ack(dir);
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| parse_seg_name(&e.file_name().to_string_lossy()))
            .collect();
        seqs.sort_unstable();
        let mut segments = VecDeque::new();
        let mut read: Option<Pos> = None;
        for seq in seqs {
            let path = dir.join(seg_name(seq));
            // Segments wholly before the acknowledged one were sent: an earlier run died before removing them.
            if ack.is_some_and(|a| seq < a.seq) {
                let _ = fs::remove_file(&path);
                continue;
            }
            let from = match ack {
                Some(a) if a.seq == seq => a.off,
                _ => 0,
            };
            let Some(s) = scan(&path, from)? else {
                let bad = path.with_extension("bad");
                let _ = fs::rename(&path, &bad);
                rec.bad_segments += 1;
                stats.bad_segments.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(segment = %bad.display(), "spool segment without a valid header; kept aside as .bad");
                continue;
            };
            if let Some(BadTail { torn, bytes }) = s.bad_tail {
                if torn {
                    rec.torn_bytes += bytes;
                } else {
                    rec.corrupt_records += 1;
                    stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                    stats.corrupt_bytes.fetch_add(bytes, Ordering::Relaxed);
                }
                tracing::warn!(
                    segment = %path.display(),
                    offset = s.valid,
                    bytes,
                    kind = if torn { "torn tail" } else { "damaged record" },
                    "spool segment cut at its last intact record"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(s.valid)?;
            }
            if read.is_none() && !s.pending.is_empty() {
                read = Some(Pos {
                    seq,
                    off: s.pending[0].start,
                });
            }
            rec.pending_records += s.pending.len() as u64;
            rec.pending_bytes += s.pending.first().map_or(0, |p| s.valid - p.start);
            segments.push_back(Segment {
                seq,
                len: s.valid,
                newest_ms: s.newest_ms,
            });
        }
        rec.segments = segments.len();
        // New segments always come after anything the ack file names, so a stale ack never covers new data.
        let next_seq = segments
            .back()
            .map_or(1, |s| s.seq + 1)
            .max(ack.map_or(1, |a| a.seq + 1));
        let read = read.unwrap_or(Pos {
            seq: next_seq,
            off: MAGIC.len() as u64,
        });
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            // Small segments free space in useful steps under a small limit.
            segment_bytes: (max_bytes / 8).clamp(4 << 10, 8 << 20),
            max_age_ms,
            sync,
            segments,
            head: None,
            read,
            stats,
            ack_file: None,
            synced: std::time::Instant::now(),
            _lock: lock,
        };
        // Segments before the read position are fully sent.
        while spool.segments.front().is_some_and(|s| s.seq < read.seq) {
            let s = spool.segments.pop_front().expect("front");
            let _ = fs::remove_file(spool.dir.join(seg_name(s.seq)));
        }
        spool
            .stats
            .records
            .store(rec.pending_records, Ordering::Relaxed);
        spool.refresh_stats();
        Ok((spool, rec))
    }

    pub fn stats(&self) -> Arc<SpoolStats> {
        self.stats.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    fn refresh_stats(&mut self) {
        self.stats
            .bytes
            .store(self.total_bytes(), Ordering::Relaxed);
        self.stats
            .segments
            .store(self.segments.len() as u64, Ordering::Relaxed);
        let oldest = self
            .peek_header()
            .ok()
            .flatten()
            .map_or(0, |r| r.created_ms.max(0) as u64);
        self.stats.oldest_ms.store(oldest, Ordering::Relaxed);
    }

    /// Appends one record and (unless sync is off) makes it durable before returning. Drops the oldest segments
    /// first when the record would not fit under the size limit; a record larger than the whole limit is refused.
    pub fn append(&mut self, r: &Record) -> io::Result<()> {
        let payload = encode_payload(r);
        let n = FRAME + payload.len() as u64;
        if n > MAX_RECORD || n + MAGIC.len() as u64 > self.max_bytes {
            self.count_drop(DropReason::Full, 1, r.items, n);
            return Err(io::Error::other(format!(
                "a batch of {n} bytes does not fit in a spool of {} bytes",
                self.max_bytes
            )));
        }
        self.expire(r.created_ms);
        let head_len = self.segments.back().map_or(0, |s| s.len);
        if self.head.is_none() || head_len + n > self.segment_bytes {
            self.roll()?;
        }
        while self.total_bytes() + n > self.max_bytes && self.segments.len() > 1 {
            self.drop_oldest(DropReason::Full)?;
        }
        let len = (payload.len() as u32).to_le_bytes();
        let mut buf = Vec::with_capacity(n as usize);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&crc(&len, &payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        let head = self.head.as_mut().expect("rolled");
        if let Err(e) = head.write_all(&buf) {
            // A partial write (full disk) must not stay between records: appends go to the end of the file, so
            // the next record would start where the in-memory offsets do not expect it and the reader would
            // take the segment for damaged. Cut it back; if even that fails, start a new segment next time.
            let len = self.segments.back().map_or(0, |s| s.len);
            if head.set_len(len).is_err() {
                self.head = None;
            }
            return Err(e);
        }
        let head = self.head.as_mut().expect("rolled");
        // Durable against kill -9 now (the page cache survives the process); against power loss at the next
        // timed sync: one fdatasync per SYNC_EVERY, not one per collection.
        if self.sync && self.synced.elapsed() >= SYNC_EVERY {
            head.sync_data()?;
            self.synced = std::time::Instant::now();
        }
        let seg = self.segments.back_mut().expect("head segment");
        seg.len += n;
        seg.newest_ms = seg.newest_ms.max(r.created_ms);
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        self.stats.appended_records.fetch_add(1, Ordering::Relaxed);
        self.stats.appended_bytes.fetch_add(n, Ordering::Relaxed);
        self.refresh_stats();
        Ok(())
    }

    /// Makes every appended record durable (shutdown; the timed sync in `append` otherwise).
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(h) = &self.head {
            h.sync_data()?;
        }
        self.synced = std::time::Instant::now();
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        if let Some(h) = self.head.take() {
            h.sync_all()?;
        }
        let seq = self.segments.back().map_or(self.read.seq, |s| s.seq + 1);
        let path = self.dir.join(seg_name(seq));
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        if let Err(e) = f.write_all(MAGIC) {
            // Full disk: leave no headerless file behind, or the next roll would find its name taken.
            drop(f);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        if self.sync {
            f.sync_all()?;
            sync_dir(&self.dir);
        }
        self.segments.push_back(Segment {
            seq,
            len: MAGIC.len() as u64,
            newest_ms: 0,
        });
        self.head = Some(f);
        Ok(())
    }

    /// Drops segments whose newest record is older than the age limit.
    fn expire(&mut self, now_ms: i64) {
        if self.max_age_ms <= 0 {
            return;
        }
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.newest_ms > 0 && now_ms - s.newest_ms > self.max_age_ms)
        {
            if let Err(e) = self.drop_oldest(DropReason::Age) {
                tracing::warn!(error = %e, "cannot drop an expired spool segment");
                break;
            }
        }
    }

    fn count_drop(&self, why: DropReason, records: u64, items: u64, bytes: u64) {
        let s = &self.stats;
        let (r, i, b) = match why {
            DropReason::Full => (
                &s.dropped_full_records,
                &s.dropped_full_items,
                &s.dropped_full_bytes,
            ),
            DropReason::Age => (
                &s.dropped_age_records,
                &s.dropped_age_items,
                &s.dropped_age_bytes,
            ),
        };
        r.fetch_add(records, Ordering::Relaxed);
        i.fetch_add(items, Ordering::Relaxed);
        b.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records counted as dropped that the sender had in flight and delivered after all (the backend answered
    /// after the spool, full, let them go): taken off the drop counters, so that those count only what was lost.
    /// A full spool drops far more often than an aged one: the full counters are corrected first.
    pub fn delivered_after_drop(&self, records: u64, items: u64, bytes: u64) {
        let s = &self.stats;
        let take = |c: &AtomicU64, n: u64| -> u64 {
            let had = c.load(Ordering::Relaxed);
            c.store(had - had.min(n), Ordering::Relaxed);
            n - had.min(n)
        };
        let r = take(&s.dropped_full_records, records);
        take(&s.dropped_age_records, r);
        let i = take(&s.dropped_full_items, items);
        take(&s.dropped_age_items, i);
        let b = take(&s.dropped_full_bytes, bytes);
        take(&s.dropped_age_bytes, b);
    }

    /// Removes the oldest segment, counting what in it was not yet sent.
    fn drop_oldest(&mut self, why: DropReason) -> io::Result<()> {
        let Some(s) = self.segments.pop_front() else {
            return Ok(());
        };
        let path = self.dir.join(seg_name(s.seq));
        let from = if self.read.seq == s.seq {
            self.read.off
        } else if self.read.seq > s.seq {
            u64::MAX
        } else {
            0
        };
        if from != u64::MAX {
            let (records, items, bytes) = match scan(&path, from)? {
                Some(sc) => (
                    sc.pending.len() as u64,
                    sc.pending.iter().map(|p| p.items).sum(),
                    sc.pending.first().map_or(0, |p| sc.valid - p.start),
                ),
                None => (0, 0, 0),
            };
            self.count_drop(why, records, items, bytes);
            self.stats.records.fetch_sub(
                records.min(self.stats.records.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            tracing::debug!(segment = %path.display(), records, items, ?why, "spool segment dropped");
        }
        fs::remove_file(&path)?;
        sync_dir(&self.dir);
        if self.read.seq <= s.seq {
            let next = self.segments.front().map_or(s.seq + 1, |n| n.seq);
            self.read = Pos {
                seq: next,
                off: MAGIC.len() as u64,
            };
        }
        Ok(())
    }

    fn peek_header(&self) -> io::Result<Option<Record>> {
        Ok(self.read_at(self.read)?.map(|(_, r)| r))
    }

    /// The record at `pos` (or the first one after it, in a later segment) and the position after it.
    fn read_at(&self, mut pos: Pos) -> io::Result<Option<(Pos, Record)>> {
        loop {
            let Some(seg) = self.segments.iter().find(|s| s.seq >= pos.seq) else {
                return Ok(None);
            };
            if seg.seq > pos.seq {
                pos = Pos {
                    seq: seg.seq,
                    off: MAGIC.len() as u64,
                };
            }
            if pos.off >= seg.len {
                pos = Pos {
                    seq: seg.seq + 1,
                    off: MAGIC.len() as u64,
                };
                continue;
            }
            let mut f = File::open(self.dir.join(seg_name(seg.seq)))?;
            f.seek(SeekFrom::Start(pos.off))?;
            return match read_one(&mut f, seg.len - pos.off)? {
                Read1::Record(p) => {
                    let next = Pos {
                        seq: seg.seq,
                        off: pos.off + FRAME + p.len() as u64,
                    };
                    Ok(decode_payload(p).map(|r| (next, r)))
                }
                // Validated on open or written by us: damage here means the disk changed under us.
                _ => Err(io::Error::other(format!(
                    "spool segment {} damaged at offset {}",
                    seg.seq, pos.off
                ))),
            };
        }
    }

    /// The oldest record not yet acknowledged, with the position to acknowledge once it is sent.
    pub fn peek(&mut self) -> io::Result<Option<(Pos, Record)>> {
        match self.read_at(self.read) {
            Ok(v) => Ok(v),
            Err(e) => {
                // Never wedge on a damaged segment: set it aside and go on with the next.
                tracing::warn!(error = %e, "spool segment unreadable; skipping it");
                self.stats.bad_segments.fetch_add(1, Ordering::Relaxed);
                let seq = self.read.seq;
                if let Some(i) = self.segments.iter().position(|s| s.seq >= seq) {
                    let s = self.segments.remove(i).expect("index");
                    let p = self.dir.join(seg_name(s.seq));
                    let _ = fs::rename(&p, p.with_extension("bad"));
                    if self.segments.is_empty() {
                        self.head = None;
                    }
                    self.read = Pos {
                        seq: s.seq + 1,
                        off: MAGIC.len() as u64,
                    };
                }
                self.refresh_stats();
                Ok(None)
            }
        }
    }

    /// The oldest records not yet acknowledged, in order, as many as fit `max_records` and `max_bytes` (at least
    /// one when there is one), each with the position to acknowledge once it and those before it are sent.
    /// Batching from disk: what waited through an outage goes out in few requests, not one per collection.
    pub fn peek_batch(
        &mut self,
        max_records: usize,
        max_bytes: u64,
    ) -> io::Result<Vec<(Pos, Record)>> {
        let Some(first) = self.peek()? else {
            return Ok(Vec::new());
        };
        let mut bytes = first.1.body.len() as u64;
        let mut next = first.0;
        let mut out = vec![first];
        while out.len() < max_records {
            // A record that cannot be read now is left for `peek`, which sets its segment aside when it is first.
            let Ok(Some((after, r))) = self.read_at(next) else {
                break;
            };
            bytes += r.body.len() as u64;
            if bytes > max_bytes {
                break;
            }
            next = after;
            out.push((after, r));
        }
        Ok(out)
    }

    /// Records that everything before `next` (`records` records) was delivered: persists the position and
    /// removes segments left wholly behind it. An ack behind the current position (its segment was dropped
    /// meanwhile) changes nothing.
    pub fn ack(&mut self, next: Pos, records: u64) -> io::Result<()> {
        if next <= self.read {
            return Ok(());
        }
        self.read = next;
        self.stats.records.fetch_sub(
            records.min(self.stats.records.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        // Overwritten in place (one small write within a sector), not renamed: a rename over the old file makes
        // ext4 flush it (auto_da_alloc), milliseconds per batch. A torn or lost ack only means a resend.
        let line = format!("{:020} {:020}\n", next.seq, next.off);
        {
            use std::os::unix::fs::FileExt;
            let f = match &self.ack_file {
                Some(f) => f,
                None => {
                    let f = OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .read(true)
                        .write(true)
                        .open(self.dir.join("ack"))?;
                    self.ack_file.insert(f)
                }
            };
            // Not synced: a lost ack after a power loss only resends batches the backend already holds
            // (identical samples, which Prometheus and VictoriaMetrics take without complaint).
            f.write_all_at(line.as_bytes(), 0)?;
        }
        // A segment is done when the read position has left it and it is not the one being written.
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.seq < next.seq || (s.seq == next.seq && next.off >= s.len))
        {
            let s = self.segments.pop_front().expect("front");
            fs::remove_file(self.dir.join(seg_name(s.seq)))?;
            sync_dir(&self.dir);
            if self.read.seq == s.seq {
                let n = self.segments.front().map_or(s.seq + 1, |n| n.seq);
                self.read = Pos {
                    seq: n,
                    off: MAGIC.len() as u64,
                };
            }
        }
        self.refresh_stats();
        Ok(())
    }

    /// False once the record at `pos` is gone (dropped as the oldest while it was being retried): its sender
    /// must give it up, or the oldest batch would outlive newer ones.
    pub fn still_owed(&self, pos: Pos) -> bool {
        pos >= self.read
    }

    /// Unsent records, for tests and the status.
    pub fn pending(&self) -> u64 {
        self.stats.records.load(Ordering::Relaxed)
    }
}

fn read_ack(dir: &Path) -> Option<Pos> {
    let s = fs::read_to_string(dir.join("ack")).ok()?;
    let mut it = s.split_whitespace();
    let seq = it.next()?.parse().ok()?;
    let off = it.next()?.parse().ok()?;
    Some(Pos { seq, off })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(i: u64, size: usize) -> Record {
        Record {
            kind: 1,
            items: i,
            min_ts_ms: i as i64,
            max_ts_ms: i as i64 + 1,
            created_ms: 1_000_000 + i as i64,
            body: vec![(i % 251) as u8; size],
        }
    }

    #[test]
    fn a_batch_from_disk_takes_records_in_order_within_its_bounds() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
        for i in 0..10 {
            s.append(&rec(i, 100)).unwrap();
        }
        let b = s.peek_batch(4, u64::MAX).unwrap();
        assert_eq!(
            b.iter().map(|(_, r)| r.items).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        s.ack(b[3].0, 4).unwrap();
        assert_eq!(s.pending(), 6);
        // By bytes: 250 bytes hold two 100-byte bodies; one is always taken, whatever its size.
        let b = s.peek_batch(100, 250).unwrap();
        assert_eq!(b.iter().map(|(_, r)| r.items).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(s.peek_batch(100, 1).unwrap().len(), 1);
        s.ack(b[1].0, 2).unwrap();
        let rest = s.peek_batch(100, u64::MAX).unwrap();
        assert_eq!(
            rest.iter().map(|(_, r)| r.items).collect::<Vec<_>>(),
            [6, 7, 8, 9]
        );
        s.ack(rest[3].0, 4).unwrap();
        assert_eq!(s.pending(), 0);
        assert!(s.peek_batch(100, u64::MAX).unwrap().is_empty());
    }

    fn drain(s: &mut Spool) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some((next, r)) = s.peek().unwrap() {
            out.push(r.items);
            s.ack(next, 1).unwrap();
        }
        out
    }

    #[test]
    fn appends_replays_in_order_and_acks_survive_reopen() {
        let d = tempfile::tempdir().unwrap();
        {
            let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, true).unwrap();
            for i in 0..50 {
                s.append(&rec(i, 300)).unwrap();
            }
            for _ in 0..20 {
                let (next, _) = s.peek().unwrap().unwrap();
                s.ack(next, 1).unwrap();
            }
        }
        let (mut s, r) = Spool::open(d.path(), 1 << 20, 0, true).unwrap();
        assert_eq!(r.pending_records, 30);
        assert_eq!(drain(&mut s), (20..50).collect::<Vec<_>>());
        // New appends after a reopen come after the old ones.
        s.append(&rec(99, 10)).unwrap();
        assert_eq!(drain(&mut s), vec![99]);
    }

    #[test]
    fn full_spool_drops_oldest_and_counts_it() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(d.path(), 64 << 10, 0, false).unwrap();
        for i in 0..200 {
            s.append(&rec(i, 1000)).unwrap();
        }
        assert!(s.total_bytes() <= 64 << 10);
        let got = drain(&mut s);
        let dropped = s.stats.dropped_full_records.load(Ordering::Relaxed);
        assert_eq!(got.len() as u64 + dropped, 200);
        // Only the oldest went: what is left is the newest, contiguous, in order.
        assert_eq!(got, ((200 - got.len() as u64)..200).collect::<Vec<_>>());
        let items: u64 = (0..200 - got.len() as u64).sum();
        assert_eq!(s.stats.dropped_full_items.load(Ordering::Relaxed), items);
    }

    #[test]
    fn junk_and_bad_segments_are_set_aside() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("notes.txt"), "junk").unwrap();
        fs::write(d.path().join(seg_name(3)), "not a segment").unwrap();
        fs::write(d.path().join("ack"), "2 9999\n").unwrap();
        let (mut s, r) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
        assert_eq!(r.bad_segments, 1);
        s.append(&rec(1, 5)).unwrap();
        assert_eq!(drain(&mut s), vec![1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// A crash can leave any prefix of the last write: every record wholly before the cut is replayed,
        /// nothing after, and opening never fails.
        #[test]
        fn torn_at_any_offset_keeps_every_whole_record(cut in 0usize..4000, n in 1u64..12) {
            let d = tempfile::tempdir().unwrap();
            let mut ends = Vec::new();
            {
                let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
                for i in 0..n {
                    s.append(&rec(i, 200 + i as usize * 17)).unwrap();
                    ends.push(s.segments.back().unwrap().len);
                }
            }
            let p = d.path().join(seg_name(1));
            let len = fs::metadata(&p).unwrap().len();
            let cut = (cut as u64).min(len);
            OpenOptions::new().write(true).open(&p).unwrap().set_len(cut).unwrap();
            let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count() as u64;
            prop_assert_eq!(drain(&mut s), (0..whole).collect::<Vec<_>>());
        }

        /// A flipped byte anywhere loses at most the records from the damaged one on, never one before it.
        #[test]
        fn bit_flip_never_loses_earlier_records(at in 0usize..3000, bit in 0u8..8) {
            let d = tempfile::tempdir().unwrap();
            let mut ends = vec![MAGIC.len() as u64];
            {
                let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
                for i in 0..10 {
                    s.append(&rec(i, 250)).unwrap();
                    ends.push(s.segments.back().unwrap().len);
                }
            }
            let p = d.path().join(seg_name(1));
            let mut bytes = fs::read(&p).unwrap();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            fs::write(&p, &bytes).unwrap();
            let (mut s, _) = Spool::open(d.path(), 1 << 20, 0, false).unwrap();
            let got = drain(&mut s);
            let intact = ends.iter().skip(1).filter(|&&e| e <= at as u64).count() as u64;
            // Records wholly before the flipped byte all come back, in order.
            prop_assert!(got.len() as u64 >= intact.min(10) || at < MAGIC.len());
            prop_assert_eq!(&got[..intact.min(got.len() as u64) as usize], &(0..intact.min(got.len() as u64)).collect::<Vec<_>>()[..]);
        }
    }
}

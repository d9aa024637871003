//! Log watches: follow application logs (a glob of files), count lines per named pattern, notice silence, and
//! keep the last matched lines as context. Each watch runs on its own thread, never on the collection loop;
//! the loop only reads the published counters.
//!
//! Files are followed by identity (device and inode), not by name, so both rotation styles are seen: a
//! rename rotation leaves the old inode, which is read to its end and closed, and a new file at the name,
//! read from its start; a copytruncate shrinks the file below the read offset, which restarts at 0. Files
//! present when the watch starts are read from their end: old lines are not news.

use crate::config::units::{ByteSize, Interval, Pattern};
/// Moved to util (the access-log collector globs too); kept here for the watch's callers.
pub use crate::util::glob::wildmatch;
use crate::util::safe_open;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogWatchConfig {
    /// Names the watch in figures (`log.NAME.PATTERN`) and metrics.
    pub name: String,
    /// A file, or a glob (`*`, `?`, `[a-z]` in any component): /var/log/tomcat10/catalina.out.
    pub path: PathBuf,
    /// Pattern name -> regular expression; each matching line counts once per pattern.
    #[serde(default)]
    pub patterns: BTreeMap<String, Pattern>,
    /// Lines that show the log is alive (default: any line); see `silence`.
    #[serde(default)]
    pub alive: Option<Pattern>,
    /// The log is "silent" (figure `log.NAME.silent` = 1) when no alive line came for this long.
    #[serde(default)]
    pub silence: Option<Interval>,
    /// How often the files are read.
    #[serde(default = "default_poll")]
    pub poll: Interval,
    /// At most this much is read per poll; the rest waits for the next poll (counted as behind).
    #[serde(default = "default_max_read")]
    pub max_read: ByteSize,
    /// Matched lines kept as context for actions and bundles.
    #[serde(default = "default_keep_lines")]
    pub keep_lines: usize,
}

fn default_poll() -> Interval {
    Interval::secs(1)
}
fn default_max_read() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_keep_lines() -> usize {
    20
}

/// A longer line is cut here (counted); a log line is not a payload.
const MAX_LINE: usize = 64 * 1024;
/// A kept context line is cut here.
const KEEP_LINE: usize = 1024;
/// At most this many files per watch are followed (the most recently modified).
const MAX_FILES: usize = 64;

/// Names the figures use for other things, so no pattern may take them.
pub const RESERVED: &[&str] = &["lines", "silence", "silent"];

/// A matched line kept as context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matched {
    pub timestamp_ms: i64,
    pub pattern: String,
    pub file: String,
    pub line: String,
}

/// What a watch publishes; counters are totals since the watch started.
#[derive(Debug, Clone)]
pub struct WatchState {
    /// Matching lines per pattern, in the order of the config's pattern names.
    pub counts: Vec<u64>,
    pub lines: u64,
    pub bytes: u64,
    pub last_alive: Instant,
    pub files: usize,
    /// Lines cut at MAX_LINE.
    pub long_lines: u64,
    /// Polls that hit max_read and left bytes for the next poll.
    pub behind: u64,
    /// Rotations seen: a followed file replaced (rename) or shrunk (copytruncate).
    pub rotations: u64,
    pub errors: u64,
    pub recent: VecDeque<Matched>,
}

impl WatchState {
    pub fn new(patterns: usize) -> Self {
        WatchState {
            counts: vec![0; patterns],
            lines: 0,
            bytes: 0,
            last_alive: Instant::now(),
            files: 0,
            long_lines: 0,
            behind: 0,
            rotations: 0,
            errors: 0,
            recent: VecDeque::new(),
        }
    }
}

/// The running watches: their configs and published states, in config order.
#[derive(Clone, Default)]
pub struct LogWatches {
    pub watches: Vec<(LogWatchConfig, Arc<Mutex<WatchState>>)>,
    stop: Arc<AtomicBool>,
}

impl LogWatches {
    /// Starts one thread per watch.
    pub fn start(cfgs: &[LogWatchConfig]) -> std::io::Result<LogWatches> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut watches = Vec::new();
        for cfg in cfgs {
            let state = Arc::new(Mutex::new(WatchState::new(cfg.patterns.len())));
            let mut f = Follower::new(cfg.clone(), state.clone());
            let stop = stop.clone();
            let poll = cfg.poll.0;
            std::thread::Builder::new()
                .name(format!("wasp-log-{}", cfg.name))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        f.poll();
                        std::thread::sleep(poll);
                    }
                })?;
            watches.push((cfg.clone(), state));
        }
        Ok(LogWatches { watches, stop })
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The last matched lines of a watch.
    pub fn recent(&self, watch: usize) -> Vec<Matched> {
        self.watches
            .get(watch)
            .map(|(_, s)| lock(s).recent.iter().cloned().collect())
            .unwrap_or_default()
    }
}

pub fn lock(s: &Mutex<WatchState>) -> std::sync::MutexGuard<'_, WatchState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

struct Followed {
    file: File,
    path: PathBuf,
    offset: u64,
    /// A line not yet ended by a newline.
    pending: Vec<u8>,
    /// Discarding the rest of a line cut at MAX_LINE.
    skipping: bool,
}

/// Reads the files of one watch; owned by the watch's thread.
pub struct Follower {
    cfg: LogWatchConfig,
    set: regex::RegexSet,
    names: Vec<String>,
    /// Published at the end of each poll: the collection loop takes the lock once per collection, the
    /// watch once per poll, never once per line.
    state: Arc<Mutex<WatchState>>,
    local: WatchState,
    files: HashMap<(u64, u64), Followed>,
    first: bool,
    warned_many: bool,
}

impl Follower {
    pub fn new(cfg: LogWatchConfig, state: Arc<Mutex<WatchState>>) -> Self {
        let names: Vec<String> = cfg.patterns.keys().cloned().collect();
        // Each pattern compiled alone when the config was read, so the set compiles too.
        let set = regex::RegexSet::new(cfg.patterns.values().map(|p| p.as_str()))
            .unwrap_or_else(|e| {
                tracing::error!(watch = %cfg.name, error = %e, "the watch's patterns do not compile together; it counts lines only");
                regex::RegexSet::empty()
            });
        let local = lock(&state).clone();
        Follower {
            cfg,
            set,
            names,
            state,
            local,
            files: HashMap::new(),
            first: true,
            warned_many: false,
        }
    }

    /// One poll: notice new, rotated and truncated files, then read what was appended, within max_read.
    pub fn poll(&mut self) {
        let mut paths = glob(&self.cfg.path);
        if paths.len() > MAX_FILES {
            if !self.warned_many {
                self.warned_many = true;
                tracing::warn!(watch = %self.cfg.name, matched = paths.len(), followed = MAX_FILES, "log watch matches too many files; following the most recently modified");
            }
            paths.sort_by_key(|p| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
            paths.truncate(MAX_FILES);
        }
        let mut seen = Vec::new();
        for p in paths {
            // lstat, then an O_NOFOLLOW open checked to be that same file: a symlink planted in a watched
            // directory (to /etc/shadow) is never read, nor a FIFO swapped in between.
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = (meta.dev(), meta.ino());
            seen.push(key);
            if let Some(f) = self.files.get_mut(&key) {
                f.path = p;
                continue;
            }
            match safe_open::open_no_follow(&p, (meta.dev(), meta.ino())) {
                Ok(file) => {
                    // Old lines of a file present at start are not news; a file that appears later is read whole.
                    let offset = if self.first { meta.len() } else { 0 };
                    self.files.insert(
                        key,
                        Followed {
                            file,
                            path: p,
                            offset,
                            pending: Vec::new(),
                            skipping: false,
                        },
                    );
                }
                Err(e) => {
                    self.local.errors += 1;
                    tracing::debug!(watch = %self.cfg.name, path = %p.display(), error = %e, "cannot open a watched log");
                }
            }
        }
        self.first = false;
        // Files gone from the glob (renamed away, deleted) first: their last lines came before the new file's.
        let mut order: Vec<(u64, u64)> = self.files.keys().copied().collect();
        order.sort_by_key(|k| (seen.contains(k), *k));
        let mut budget = self.cfg.max_read.0.max(1);
        let mut behind = false;
        for key in order {
            let gone = !seen.contains(&key);
            let Some(mut f) = self.files.remove(&key) else {
                continue;
            };
            let size = f.file.metadata().map(|m| m.len()).unwrap_or(0);
            if size < f.offset {
                // copytruncate: the file was emptied under us and is written again from the start.
                f.offset = 0;
                f.pending.clear();
                f.skipping = false;
                self.local.rotations += 1;
            }
            let want = size - f.offset;
            let take = want.min(budget);
            if take < want {
                behind = true;
            }
            if take > 0 {
                self.read(&mut f, take);
                budget -= take;
            }
            let drained = f.offset >= size;
            if gone && drained {
                // Renamed away or deleted: a rename rotation, once its last lines are read.
                self.local.rotations += 1;
                if !f.pending.is_empty() {
                    let line = std::mem::take(&mut f.pending);
                    self.line(&line, &f.path);
                }
                continue;
            }
            self.files.insert(key, f);
        }
        self.local.files = self.files.len();
        if behind {
            self.local.behind += 1;
        }
        lock(&self.state).clone_from(&self.local);
    }

    fn read(&mut self, f: &mut Followed, mut n: u64) {
        let mut buf = vec![0u8; n.min(64 * 1024) as usize];
        while n > 0 {
            let want = (n as usize).min(buf.len());
            let got = match f.file.read_at(&mut buf[..want], f.offset) {
                Ok(0) => break,
                Ok(g) => g,
                Err(e) => {
                    self.local.errors += 1;
                    tracing::debug!(watch = %self.cfg.name, error = %e, "cannot read a watched log");
                    break;
                }
            };
            f.offset += got as u64;
            n -= got as u64;
            self.local.bytes += got as u64;
            let mut rest = &buf[..got];
            while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let (head, tail) = rest.split_at(nl);
                rest = &tail[1..];
                if f.skipping {
                    f.skipping = false;
                    continue;
                }
                if f.pending.is_empty() {
                    self.line(head, &f.path);
                } else {
                    let room = MAX_LINE.saturating_sub(f.pending.len());
                    f.pending.extend_from_slice(&head[..head.len().min(room)]);
                    let line = std::mem::take(&mut f.pending);
                    self.line(&line, &f.path);
                }
            }
            if !f.skipping && !rest.is_empty() {
                let room = MAX_LINE.saturating_sub(f.pending.len());
                f.pending.extend_from_slice(&rest[..rest.len().min(room)]);
                if f.pending.len() >= MAX_LINE {
                    // Counted as one line, cut; the rest of it up to the newline is skipped.
                    let line = std::mem::take(&mut f.pending);
                    self.line(&line, &f.path);
                    self.local.long_lines += 1;
                    f.skipping = true;
                }
            }
        }
    }

    fn line(&mut self, raw: &[u8], path: &Path) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        let hits = self.set.matches(&text);
        let alive = self.cfg.alive.as_ref().is_none_or(|p| p.is_match(&text));
        let st = &mut self.local;
        st.lines += 1;
        if alive {
            st.last_alive = Instant::now();
        }
        let mut first = None;
        for i in hits.iter() {
            st.counts[i] += 1;
            first.get_or_insert(i);
        }
        if let Some(i) = first
            && self.cfg.keep_lines > 0
        {
            let mut line: String = text.chars().take(KEEP_LINE).collect();
            if line.len() < text.len() {
                line.push('…');
            }
            if st.recent.len() >= self.cfg.keep_lines {
                st.recent.pop_front();
            }
            st.recent.push_back(Matched {
                timestamp_ms: crate::util::clock::now_ms(),
                pattern: self.names[i].clone(),
                file: path.display().to_string(),
                line,
            });
        }
    }
}

/// Files matching a glob: `*`, `?` and `[...]` in any path component (a leading dot is only matched by a dot).
pub fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy();
        let wild = part.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &current {
            if !wild {
                next.push(base.join(comp));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // A name a directory's owner chose is never a link to follow (zz.log -> /etc/shadow).
                if e.file_type().is_ok_and(|t| t.is_symlink()) {
                    continue;
                }
                if wildmatch(&part, &name) {
                    next.push(base.join(&name));
                }
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
        // A glob is bounded work: a directory of a million files is not followed.
        current.truncate(4096);
    }
    current.retain(|p| !p.as_os_str().is_empty() && p.exists());
    current.sort();
    current
}

/// Seconds since the watch's last alive line.
pub fn silence(st: &WatchState) -> f64 {
    st.last_alive.elapsed().as_secs_f64()
}

pub fn silent(cfg: &LogWatchConfig, st: &WatchState) -> Option<bool> {
    cfg.silence
        .map(|s| st.last_alive.elapsed() >= s.0.max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn cfg(path: &Path) -> LogWatchConfig {
        let mut patterns = BTreeMap::new();
        patterns.insert("oom".into(), Pattern::new("OutOfMemoryError").unwrap());
        patterns.insert("err".into(), Pattern::new("ERROR").unwrap());
        LogWatchConfig {
            name: "t".into(),
            path: path.to_path_buf(),
            patterns,
            alive: Some(Pattern::new("INFO").unwrap()),
            silence: Some(Interval::secs(60)),
            poll: Interval::secs(1),
            max_read: ByteSize(1 << 20),
            keep_lines: 3,
        }
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn follower(c: LogWatchConfig) -> (Follower, Arc<Mutex<WatchState>>) {
        let st = Arc::new(Mutex::new(WatchState::new(c.patterns.len())));
        (Follower::new(c, st.clone()), st)
    }

    #[test]
    fn starts_at_end_counts_and_follows_rename_and_copytruncate() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("catalina.out");
        append(&p, "old ERROR before the watch\n");
        let (mut f, st) = follower(cfg(&p));
        f.poll();
        assert_eq!(lock(&st).lines, 0, "existing lines are not read");
        append(
            &p,
            "INFO up\nSEVERE java.lang.OutOfMemoryError: heap\nERROR x\npartial",
        );
        f.poll();
        {
            let s = lock(&st);
            // oom, err in name order: err=1, oom=1.
            assert_eq!(s.counts, vec![1, 1]);
            assert_eq!(s.lines, 3, "the unterminated line waits");
        }
        append(&p, " ERROR end\n");
        f.poll();
        assert_eq!(lock(&st).counts, vec![2, 1]);
        // Rename rotation: the old file gets one more line after the rename, then a new file appears.
        std::fs::rename(&p, d.path().join("catalina.out.1")).unwrap();
        append(&d.path().join("catalina.out.1"), "late ERROR in old\n");
        append(&p, "new OutOfMemoryError\n");
        f.poll();
        {
            let s = lock(&st);
            assert_eq!(
                s.counts,
                vec![3, 2],
                "both the old file's tail and the new file are read"
            );
            assert_eq!(s.files, 1);
            assert!(s.rotations >= 1);
        }
        // copytruncate: emptied, then written from the start.
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        f.poll();
        append(&p, "ERROR after truncate\n");
        f.poll();
        let s = lock(&st);
        assert_eq!(s.counts, vec![4, 2]);
        assert_eq!(s.recent.len(), 3, "bounded context");
        assert_eq!(s.recent.back().unwrap().line, "ERROR after truncate");
    }

    #[test]
    fn bounded_read_per_poll_and_long_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        append(&p, "");
        let mut c = cfg(&p);
        c.max_read = ByteSize(100);
        let (mut f, st) = follower(c);
        f.poll();
        append(&p, &"ERROR 123456789\n".repeat(20)); // 320 bytes
        f.poll();
        assert_eq!(lock(&st).lines, 6);
        assert_eq!(lock(&st).behind, 1);
        for _ in 0..3 {
            f.poll();
        }
        assert_eq!(lock(&st).counts[0], 20);
        let long = format!("ERROR {}\nINFO short\n", "x".repeat(200_000));
        append(&p, &long);
        let mut c = cfg(&p);
        c.max_read = ByteSize(1 << 20);
        f.cfg = c;
        f.poll();
        let s = lock(&st);
        assert_eq!(s.long_lines, 1);
        assert_eq!(s.counts[0], 21, "the long line counts once");
        assert_eq!(s.lines, 22);
    }

    #[test]
    fn glob_follows_several_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/logs")).unwrap();
        std::fs::create_dir_all(d.path().join("b/logs")).unwrap();
        let pat = d.path().join("*/logs/server.log");
        let (mut f, st) = follower(cfg(&pat));
        f.poll();
        append(&d.path().join("a/logs/server.log"), "ERROR a\n");
        append(&d.path().join("b/logs/server.log"), "ERROR b\n");
        append(&d.path().join("b/logs/other.log"), "ERROR c\n");
        f.poll();
        assert_eq!(lock(&st).counts[0], 2);
        assert_eq!(lock(&st).files, 2);
    }

    #[test]
    fn wildmatch_cases() {
        assert!(wildmatch("catalina.*.log", "catalina.2024-01-01.log"));
        assert!(!wildmatch("catalina.*.log", "catalina.out"));
        assert!(wildmatch("*", "x"));
        assert!(!wildmatch("*", ".hidden"));
        assert!(wildmatch("server.log.[0-9]", "server.log.3"));
        assert!(!wildmatch("server.log.[!0-9]", "server.log.3"));
        assert!(wildmatch("a?c", "abc"));
        assert!(wildmatch("a[", "a["));
        assert!(wildmatch("*a*b*", "xxaybzz"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever another process writes, in whatever pieces, with whatever read bound: no panic, and every
        /// complete line is counted exactly once.
        #[test]
        fn any_bytes_in_any_pieces_count_every_line_once(
            chunks in proptest::collection::vec(proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'E'), proptest::num::u8::ANY], 0..300), 1..8),
            max_read in 1u64..200,
        ) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("f.log");
            append(&p, "");
            let mut c = cfg(&p);
            c.max_read = ByteSize(max_read);
            let (mut f, st) = follower(c);
            f.poll();
            let mut all = Vec::new();
            for ch in &chunks {
                let mut h = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                h.write_all(ch).unwrap();
                all.extend_from_slice(ch);
                f.poll();
            }
            // Drain what the read bound left.
            for _ in 0..(all.len() as u64 / max_read + 2) {
                f.poll();
            }
            let newlines = all.iter().filter(|&&b| b == b'\n').count() as u64;
            proptest::prop_assert_eq!(lock(&st).lines, newlines);
            proptest::prop_assert_eq!(lock(&st).bytes, all.len() as u64);
        }

        #[test]
        fn wildmatch_never_panics(p in "[a-c*?\\[\\]!^-]{0,12}", n in "[a-c\\[\\].-]{0,12}") {
            let _ = wildmatch(&p, &n);
        }

        #[test]
        fn star_matches_everything_not_hidden(n in "[a-z0-9._-]{1,20}") {
            proptest::prop_assert_eq!(wildmatch("*", &n), !n.starts_with('.'));
            proptest::prop_assert!(wildmatch(&n.replace(['*', '?', '['], "_"), &n.replace(['*', '?', '['], "_")));
        }
    }
}

//! The writing side of the history: one SQLite database in WAL mode, written only by the agent's history thread.
//!
//! Every collection is one transaction, committed with `synchronous=FULL`: a row of the `head` table holding the
//! collection's (series id, value) pairs. Every `block_len` collections the head becomes one raw block (the
//! timestamps, and one pcodec chunk per series) in the same transaction that empties it, so a crash at any moment
//! leaves either the head or the block, never half of one. Once a 6-hour window is complete its 5-minute rollups
//! are computed from the raw chunks; then retention and the size budget drop the oldest data.

use super::codec;
use crate::model::{MetricKind, MetricSet};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Rollups are computed per window of this width, once it is complete.
pub const WINDOW_MS: i64 = 6 * 3600 * 1000;
/// 5-minute steps per window.
pub const STEPS: usize = (WINDOW_MS / super::ROLLUP_STEP_MS) as usize;
/// Collections per raw block: 10 minutes at the default 5 s. Longer blocks compress better; the head they
/// replace is stored uncompressed (12 bytes a value), so its size bounds them.
pub const BLOCK_LEN: usize = 120;

/// Bounds of the store, from `[history]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub raw_retention_ms: i64,
    pub rollup_retention_ms: i64,
    pub max_bytes: u64,
    pub block_len: usize,
    /// fsync every collection (`synchronous=FULL`); false only to build large stores fast in benchmarks.
    pub durable: bool,
}

impl Limits {
    pub fn from_config(c: &super::HistoryConfig) -> Self {
        Limits {
            raw_retention_ms: c.raw_retention.0.as_millis() as i64,
            rollup_retention_ms: c.rollup_retention.0.as_millis() as i64,
            max_bytes: c.max_size.0,
            block_len: BLOCK_LEN,
            durable: true,
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL,
    counter INTEGER NOT NULL, UNIQUE(name, labels));
CREATE TABLE IF NOT EXISTS head(ts INTEGER PRIMARY KEY, vals BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(start INTEGER PRIMARY KEY, end INTEGER NOT NULL, n INTEGER NOT NULL,
    samples INTEGER NOT NULL, ts BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(block INTEGER NOT NULL, series INTEGER NOT NULL, vals BLOB NOT NULL,
    PRIMARY KEY(block, series)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollups(window INTEGER NOT NULL, series INTEGER NOT NULL, vals BLOB NOT NULL,
    PRIMARY KEY(window, series)) WITHOUT ROWID;
";

/// What one append did, for the writer's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Appended {
    pub samples: usize,
    pub block_closed: bool,
    /// A timestamp not after the last one (the clock went back): nothing stored.
    pub out_of_order: bool,
}

pub struct Store {
    conn: Connection,
    limits: Limits,
    /// Series ids by name, then by labels (looked up with borrowed text: no key is built per sample).
    ids: HashMap<String, HashMap<String, u32>>,
    /// Bytes of the last head row: a full head is kept free under the budget.
    row_bytes: usize,
    /// Head rows stored (they are read back when the block is made, not kept in memory).
    head: usize,
    last_ts: i64,
}

/// The name of each series of a family (a summary gives `_count` and `_sum`, a histogram `_bucket` with `le`
/// too) and its labels as stored.
pub fn series_of(m: &MetricSet) -> impl Iterator<Item = (String, String, bool, f64)> + '_ {
    m.families.iter().flat_map(|f| {
        let counter = is_counter(f.kind);
        f.series().map(move |(suffix, s, le, v)| {
            let mut labels = Vec::new();
            labels_json(&s.labels, le, &mut labels);
            let labels = String::from_utf8(labels).unwrap_or_default();
            (format!("{}{suffix}", f.name), labels, counter, v)
        })
    })
}

fn is_counter(k: MetricKind) -> bool {
    matches!(
        k,
        MetricKind::Counter | MetricKind::Summary | MetricKind::Histogram
    )
}

/// The labels as stored: a JSON object, keys sorted, as `serde_json::to_string` of the map writes it. Written
/// into `out` without an allocation per label (this runs for every series of every collection); UTF-8 always.
fn labels_json(
    labels: &[(Cow<'static, str>, Cow<'static, str>)],
    le: Option<&str>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let mut sorted: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .chain(le.map(|le| ("le", le)))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    out.push(b'{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, v);
    }
    out.push(b'}');
}

/// The (series id, value) pairs of a head row.
pub fn head_pairs(b: &[u8]) -> impl Iterator<Item = (u32, f64)> + '_ {
    b.chunks_exact(12).map(|c| {
        let (id, v) = c.split_at(4);
        (
            u32::from_le_bytes(id.try_into().unwrap_or_default()),
            f64::from_le_bytes(v.try_into().unwrap_or_default()),
        )
    })
}

pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn set_meta(tx: &Transaction, key: &str, v: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
        params![key, v],
    )
    .map(|_| ())
}

/// Bytes the database's pages hold (free pages are given back by incremental vacuum).
pub fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    // Cached statements: this runs after every append.
    let q = |p: &str| {
        conn.prepare_cached(p)?
            .query_row([], |r| r.get::<_, i64>(0))
    };
    let (pages, free, size) = (
        q("PRAGMA page_count")?,
        q("PRAGMA freelist_count")?,
        q("PRAGMA page_size")?,
    );
    Ok(((pages - free).max(0) * size) as u64)
}

impl Store {
    /// Opens (creating) the store. Only the agent calls this; readers use `query::Reader`.
    pub fn open(path: &Path, limits: Limits) -> anyhow::Result<Store> {
        let conn = Connection::open(path)?;
        // auto_vacuum must be set before the first table exists; it is a no-op on an existing file.
        conn.execute_batch(
            "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;
             PRAGMA wal_autocheckpoint = 256; PRAGMA journal_size_limit = 1048576;",
        )?;
        // The writer's page cache: 128 KiB instead of SQLite's 2 MiB (it counts in the agent's memory, and at 512
        // KiB it filled with head rows nothing reads again until the block closes, from the OS's cache then).
        conn.execute_batch("PRAGMA cache_size = -128;")?;
        // FULL: the WAL is synced at every commit, so a power loss keeps every committed collection.
        let sync = if limits.durable { "FULL" } else { "NORMAL" };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))?;
        conn.execute_batch(SCHEMA)?;
        let mut s = Store {
            conn,
            limits,
            ids: HashMap::new(),
            head: 0,
            last_ts: i64::MIN,
            row_bytes: 0,
        };
        s.load()?;
        Ok(s)
    }

    /// The in-memory mirror of what is committed: series ids, head rows, the last timestamp.
    fn load(&mut self) -> rusqlite::Result<()> {
        self.ids.clear();
        let mut st = self.conn.prepare("SELECT id, name, labels FROM series")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get(1)?, r.get(2)?)))?;
        for r in rows {
            let (id, n, l) = r?;
            self.ids.entry(n).or_default().insert(l, id);
        }
        drop(st);
        let (n, last_head): (i64, Option<i64>) =
            self.conn
                .query_row("SELECT count(*), max(ts) FROM head", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        self.head = n as usize;
        let last_block: Option<i64> =
            self.conn
                .query_row("SELECT max(end) FROM blocks", [], |r| r.get(0))?;
        self.last_ts = last_head.or(last_block).unwrap_or(i64::MIN);
        Ok(())
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Stores one collection. On an error nothing of it is kept and the in-memory state is read back.
    pub fn append(&mut self, m: &MetricSet) -> anyhow::Result<Appended> {
        let ts = m.timestamp_ms;
        if ts <= self.last_ts {
            return Ok(Appended {
                out_of_order: true,
                ..Appended::default()
            });
        }
        let r = self.append_tx(m);
        if r.is_err() {
            self.load()?;
        }
        let a = r?;
        if a.block_closed {
            self.maintain(ts)?;
            // The block's columns and SQLite's pages for it are freed now: give the pages back, or the heap
            // keeps its high-water mark for good (one arena, see cli::main).
            // SAFETY: malloc_trim only returns free memory to the kernel.
            unsafe { libc::malloc_trim(0) };
        } else if used_bytes(&self.conn)? > self.limits.max_bytes {
            // More series than the last block had: make room now, not at the next block.
            let rolled = meta(&self.conn, "rolled_until")?.unwrap_or(i64::MIN);
            self.keep_budget(rolled)?;
            self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(a)
    }

    fn append_tx(&mut self, m: &MetricSet) -> anyhow::Result<Appended> {
        let block_closed = self.head >= self.block_len();
        let tx = self.conn.transaction()?;
        let mut row = Vec::with_capacity(12 * 512);
        let mut fresh: Vec<(String, String, u32)> = Vec::new();
        let mut samples = 0;
        let (mut name, mut buf) = (String::new(), Vec::new());
        for f in &m.families {
            for (suffix, sample, le, v) in f.series() {
                name.clear();
                name.push_str(&f.name);
                name.push_str(suffix);
                labels_json(&sample.labels, le, &mut buf);
                let labels = std::str::from_utf8(&buf).unwrap_or_default();
                let known = self.ids.get(&name).and_then(|l| l.get(labels)).copied();
                let id = match known {
                    Some(id) => id,
                    None => {
                        tx.prepare_cached(
                            "INSERT INTO series(name, labels, counter) VALUES (?1, ?2, ?3)
                             ON CONFLICT(name, labels) DO NOTHING",
                        )?
                        .execute(params![
                            name,
                            labels,
                            is_counter(f.kind)
                        ])?;
                        let id: u32 = tx
                            .prepare_cached(
                                "SELECT id FROM series WHERE name = ?1 AND labels = ?2",
                            )?
                            .query_row(params![name, labels], |r| r.get(0))?;
                        fresh.push((name.clone(), labels.to_string(), id));
                        id
                    }
                };
                row.extend_from_slice(&id.to_le_bytes());
                row.extend_from_slice(&v.to_le_bytes());
                samples += 1;
            }
        }
        if block_closed {
            close_block(&tx)?;
        }
        tx.prepare_cached("INSERT INTO head(ts, vals) VALUES (?1, ?2)")?
            .execute(params![m.timestamp_ms, row])?;
        tx.commit()?;
        // Committed: now the mirror may follow.
        for (n, l, id) in fresh {
            self.ids.entry(n).or_default().insert(l, id);
        }
        self.row_bytes = row.len();
        if block_closed {
            self.head = 0;
        }
        self.head += 1;
        self.last_ts = m.timestamp_ms;
        Ok(Appended {
            samples,
            block_closed,
            out_of_order: false,
        })
    }

    /// Collections per block: `block_len`, fewer when a full head would take more than an eighth of the budget
    /// (a tiny budget gets small blocks that compress less, never a head that does not fit).
    fn block_len(&self) -> usize {
        let fit = self.limits.max_bytes as usize / 8 / (2 * self.row_bytes).max(1);
        self.limits.block_len.min(fit).max(4)
    }

    /// Bytes a full head takes: rows of several KB go to overflow pages, up to twice their size.
    fn head_room(&self) -> u64 {
        ((2 * self.row_bytes * self.block_len()) as u64).min(self.limits.max_bytes / 4)
    }

    /// After a block closed: rollups of completed windows, retention, the size budget.
    fn maintain(&mut self, now: i64) -> anyhow::Result<()> {
        self.roll_up()?;
        let rolled = meta(&self.conn, "rolled_until")?.unwrap_or(i64::MIN);
        let tx = self.conn.transaction()?;
        let raw_cut = (now - self.limits.raw_retention_ms).min(rolled);
        tx.execute(
            "DELETE FROM chunks WHERE block IN (SELECT start FROM blocks WHERE end < ?1)",
            [raw_cut],
        )?;
        tx.execute("DELETE FROM blocks WHERE end < ?1", [raw_cut])?;
        tx.execute(
            "DELETE FROM rollups WHERE window + ?2 <= ?1",
            params![now - self.limits.rollup_retention_ms, WINDOW_MS],
        )?;
        tx.commit()?;
        self.keep_budget(rolled)?;
        self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        Ok(())
    }

    /// Drops the oldest data until the pages in use, and room for a full head (stored uncompressed, with SQLite's
    /// page overhead), fit the budget: first raw blocks whose rollups exist (only resolution is lost), then whole
    /// rollup windows, then raw blocks not rolled up yet.
    fn keep_budget(&mut self, rolled: i64) -> anyhow::Result<()> {
        let target = self.limits.max_bytes - self.head_room();
        for _ in 0..10_000 {
            if used_bytes(&self.conn)? <= target {
                break;
            }
            let oldest_block: Option<(i64, i64)> = self
                .conn
                .query_row(
                    "SELECT start, end FROM blocks ORDER BY start LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let oldest_window: Option<i64> =
                self.conn
                    .query_row("SELECT min(window) FROM rollups", [], |r| r.get(0))?;
            let tx = self.conn.transaction()?;
            match (oldest_block, oldest_window) {
                (Some((start, end)), w) if end < rolled || w.is_none() => drop_block(&tx, start)?,
                (_, Some(w)) => {
                    tx.execute("DELETE FROM rollups WHERE window = ?1", [w])?;
                }
                _ => break, // only the head and the series list: nothing older to drop
            }
            tx.commit()?;
            tracing::debug!("history over its size budget; dropped the oldest data");
            self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(())
    }

    /// Computes the rollups of every window that is complete in the raw blocks and not rolled up yet.
    fn roll_up(&mut self) -> anyhow::Result<()> {
        let last_end: Option<i64> =
            self.conn
                .query_row("SELECT max(end) FROM blocks", [], |r| r.get(0))?;
        let Some(last_end) = last_end else {
            return Ok(());
        };
        let mut from = match meta(&self.conn, "rolled_until")? {
            Some(r) => r,
            None => {
                let first: i64 = self
                    .conn
                    .query_row("SELECT min(start) FROM blocks", [], |r| r.get(0))?;
                first.div_euclid(WINDOW_MS) * WINDOW_MS
            }
        };
        // A window is complete once a closed block reaches past its end.
        while from + WINDOW_MS <= last_end {
            // Skip windows with no raw data at all (the agent was stopped).
            let next: Option<i64> = self.conn.query_row(
                "SELECT min(start) FROM blocks WHERE end >= ?1",
                [from],
                |r| r.get(0),
            )?;
            let Some(next) = next else { break };
            from = from.max(next.div_euclid(WINDOW_MS) * WINDOW_MS);
            if from + WINDOW_MS > last_end {
                break;
            }
            let tx = self.conn.transaction()?;
            roll_window(&tx, from)?;
            from += WINDOW_MS;
            set_meta(&tx, "rolled_until", from)?;
            tx.commit()?;
        }
        Ok(())
    }
}

fn drop_block(tx: &Transaction, start: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM chunks WHERE block = ?1", [start])?;
    tx.execute("DELETE FROM blocks WHERE start = ?1", [start])?;
    Ok(())
}

/// Turns the head rows into one block: the timestamps and one chunk per series, and empties the head.
/// A value the head did not have for a series at one collection: a signalling NaN no reading produces (the
/// NaNs of arithmetic and of parsed text are quiet), so a block's columns need no Option (8 bytes, not 16).
const MISSING: u64 = 0x7ff4_0000_dead_beef;

fn close_block(tx: &Transaction) -> rusqlite::Result<()> {
    let n = tx.query_row("SELECT count(*) FROM head", [], |r| r.get::<_, i64>(0))? as usize;
    if n == 0 {
        return Ok(());
    }
    // The head is read row by row into one column per series: the rows themselves are never all held (a
    // block of 120 collections of ~450 series was 1.5 MB of transient heap that way).
    let mut times: Vec<i64> = Vec::with_capacity(n);
    let mut by_series: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    let mut samples = 0i64;
    {
        let mut st = tx.prepare("SELECT ts, vals FROM head ORDER BY ts")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let i = times.len();
            if i == n {
                break;
            }
            times.push(r.get(0)?);
            for (id, v) in head_pairs(r.get_ref(1)?.as_blob()?) {
                by_series
                    .entry(id)
                    .or_insert_with(|| vec![f64::from_bits(MISSING); n])[i] = v;
                samples += 1;
            }
        }
    }
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Ok(());
    };
    let n = times.len();
    tx.execute(
        "INSERT INTO blocks(start, end, n, samples, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![first, last, n as i64, samples, codec::encode_times(&times)],
    )?;
    let mut ins = tx.prepare("INSERT INTO chunks(block, series, vals) VALUES (?1, ?2, ?3)")?;
    let mut vals: Vec<Option<f64>> = Vec::with_capacity(n);
    for (id, col) in by_series {
        vals.clear();
        vals.extend(
            col[..n]
                .iter()
                .map(|v| (v.to_bits() != MISSING).then_some(*v)),
        );
        ins.execute(params![first, id, codec::encode_values(&vals)])?;
    }
    tx.execute("DELETE FROM head", [])?;
    Ok(())
}

/// min, max, sum and count of one step.
type Acc = (f64, f64, f64, u32);

/// min/avg/max per 5-minute step of every series over the window starting at `from`, from the raw chunks.
fn roll_window(tx: &Transaction, from: i64) -> anyhow::Result<()> {
    let to = from + WINDOW_MS;
    let blocks: Vec<(i64, Vec<i64>)> = {
        let mut st = tx.prepare(
            "SELECT start, ts FROM blocks WHERE end >= ?1 AND start < ?2 ORDER BY start",
        )?;
        st.query_map([from, to], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))?
            .filter_map(Result::ok)
            .filter_map(|(s, b)| codec::decode_times(&b).ok().map(|t| (s, t)))
            .collect()
    };
    let ids: Vec<u32> = {
        let mut st = tx.prepare("SELECT id FROM series")?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut get = tx.prepare("SELECT vals FROM chunks WHERE block = ?1 AND series = ?2")?;
    let mut put =
        tx.prepare("INSERT OR REPLACE INTO rollups(window, series, vals) VALUES (?1, ?2, ?3)")?;
    for id in ids {
        let mut acc = vec![(f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0u32); STEPS];
        let mut any = false;
        for (start, times) in &blocks {
            let Some(b) = get
                .query_row(params![start, id], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            else {
                continue;
            };
            let Ok(vals) = codec::decode_values(&b, times.len()) else {
                continue;
            };
            for (t, v) in times.iter().zip(vals) {
                let (Some(v), true) = (v, (from..to).contains(t)) else {
                    continue;
                };
                if !v.is_finite() {
                    continue;
                }
                let a = &mut acc[((t - from) / super::ROLLUP_STEP_MS) as usize];
                *a = (a.0.min(v), a.1.max(v), a.2 + v, a.3 + 1);
                any = true;
            }
        }
        if !any {
            continue;
        }
        let pick = |f: &dyn Fn(&Acc) -> f64| -> Vec<Option<f64>> {
            acc.iter().map(|a| (a.3 > 0).then(|| f(a))).collect()
        };
        let blob = codec::encode_rollup(
            &pick(&|a| a.0),
            &pick(&|a| a.2 / a.3 as f64),
            &pick(&|a| a.1),
        );
        put.execute(params![from, id, blob])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::query::{Query, Reader};

    const T0: i64 = 1_000 * WINDOW_MS;

    /// Stores written before the labels got their own writer keep matching: the same text as serde_json's map.
    #[test]
    fn labels_are_stored_as_serde_json_wrote_them() {
        let labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = vec![
            (
                "thread".into(),
                "http-nio-8080-exec-1 \"q\" \\ \u{1}".into(),
            ),
            ("area".into(), "힙".into()),
            ("id".into(), "G1 Old Gen".into()),
        ];
        let map: BTreeMap<&str, &str> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let mut out = b"stale".to_vec();
        labels_json(&labels, None, &mut out);
        assert_eq!(out, serde_json::to_string(&map).unwrap().into_bytes());
        let mut with_le = map.clone();
        with_le.insert("le", "0.005");
        labels_json(&labels, Some("0.005"), &mut out);
        assert_eq!(out, serde_json::to_string(&with_le).unwrap().into_bytes());
        labels_json(&[], None, &mut out);
        assert_eq!(out, b"{}");
    }

    fn collection(i: i64) -> MetricSet {
        let mut m = MetricSet::new(T0 + i * 60_000);
        m.counter("c_total", "")
            .push([("cpu", "0")], i as f64 * 1.5);
        m.gauge("g", "").set((i % 10) as f64);
        if i % 2 == 1 {
            m.gauge("odd", "").set(i as f64);
        }
        m
    }

    fn q(metric: &str, start: i64, end: i64) -> Query {
        Query {
            metric: metric.into(),
            matchers: vec![],
            start,
            end,
            step_ms: None,
        }
    }

    fn limits() -> Limits {
        Limits {
            raw_retention_ms: 7 * 3600 * 1000,
            rollup_retention_ms: 30 * 86400 * 1000,
            max_bytes: 1 << 30,
            block_len: 50,
            durable: false,
        }
    }

    #[test]
    fn raw_then_rollups_then_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut s = Store::open(&path, limits()).unwrap();
        // 14 h at one a minute: the first 6-hour window is rolled up and its raw data dropped.
        for i in 0..840 {
            assert!(!s.append(&collection(i)).unwrap().out_of_order);
        }
        assert!(s.append(&collection(3)).unwrap().out_of_order);
        let r = Reader::open(&path).unwrap();
        let g = r.query(&q("g", T0, T0 + 900 * 60_000)).unwrap();
        assert_eq!(g.len(), 1);
        let p = &g[0].points;
        // Rollups every 5 minutes for the first window: the mean of 0..4 / 5..9 = 2 and 7.
        assert_eq!(
            &p[..3],
            &[(T0, 2.0), (T0 + 300_000, 7.0), (T0 + 600_000, 2.0)]
        );
        // Raw data is kept from the block that straddles the window's end (collections 350..399) on: rollups
        // only where no raw data is left.
        let raw_from = T0 + 350 * 60_000;
        assert_eq!(p.iter().filter(|(t, _)| *t < raw_from).count(), 70);
        let raw: Vec<_> = p.iter().filter(|(t, _)| *t >= raw_from).collect();
        assert_eq!(raw.len(), 840 - 350);
        assert_eq!(*raw.last().unwrap(), &(T0 + 839 * 60_000, 9.0));
        // A counter's rollup is its highest value in the step; a series present every other time keeps gaps.
        let c = r.query(&q("c_total", T0, T0 + 600_000)).unwrap();
        assert_eq!(c[0].points[0], (T0, 4.0 * 1.5));
        assert!(c[0].counter);
        let odd = r
            .query(&q("odd", T0 + WINDOW_MS, T0 + WINDOW_MS + 10 * 60_000))
            .unwrap();
        assert_eq!(odd[0].points.len(), 5);
        drop(s);
        // Reopened: the head is read back and appends continue where they stopped.
        let mut s = Store::open(&path, limits()).unwrap();
        assert!(s.append(&collection(839)).unwrap().out_of_order);
        assert_eq!(s.append(&collection(841)).unwrap().samples, 3);
        let g = r
            .query(&q("g", T0 + 830 * 60_000, T0 + 900 * 60_000))
            .unwrap();
        assert_eq!(g[0].points.len(), 11);
    }

    #[test]
    fn a_nan_reading_is_kept_and_a_missing_one_is_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut s = Store::open(&path, limits()).unwrap();
        for i in 0..60 {
            let mut m = MetricSet::new(T0 + i * 60_000);
            m.gauge("g", "")
                .set(if i % 3 == 0 { f64::NAN } else { i as f64 });
            if i % 2 == 0 {
                m.gauge("even", "").set(1.0);
            }
            s.append(&m).unwrap();
        }
        // The first 50 are one block now.
        let r = Reader::open(&path).unwrap();
        let g = &r.query(&q("g", T0, T0 + 49 * 60_000)).unwrap()[0].points;
        assert_eq!(g.len(), 50);
        assert!(g[0].1.is_nan() && g[1].1 == 1.0 && g[3].1.is_nan());
        let even = &r.query(&q("even", T0, T0 + 49 * 60_000)).unwrap()[0].points;
        assert_eq!(even.len(), 25);
    }

    #[test]
    fn the_budget_drops_the_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut l = limits();
        l.max_bytes = 256 << 10;
        let mut s = Store::open(&path, l).unwrap();
        let m = |i: i64| {
            let mut m = MetricSet::new(T0 + i * 1000);
            let f = m.gauge("noise", "");
            for k in 0..200 {
                f.push([("k", k.to_string())], fastrand::f64());
            }
            m
        };
        for i in 0..3000 {
            s.append(&m(i)).unwrap();
        }
        // At every moment, the head included.
        let used = used_bytes(s.connection()).unwrap();
        assert!(used <= l.max_bytes, "{used} bytes");
        let r = Reader::open(&path).unwrap();
        let (first, last) = r.span().unwrap().unwrap();
        assert_eq!(last, T0 + 2999 * 1000);
        assert!(first > T0, "the oldest data was dropped");
    }
}

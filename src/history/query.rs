//! The reading side: series by /metrics name and label matchers over a time range, raw where raw data is kept,
//! 5-minute rollups before that, optionally resampled to a step. Opens the database read-only, so it works
//! beside the writing agent (WAL readers never block the writer) and after the agent stopped.

use super::codec;
use super::store::{STEPS, WINDOW_MS, head_pairs};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;

/// A label matcher: `name="value"` or `name!="value"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: String,
    pub value: String,
    pub negate: bool,
}

impl Matcher {
    /// Parses `device="sda"`, `device!="sda"` (quotes optional).
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let (label, value, negate) = if let Some((l, v)) = s.split_once("!=") {
            (l, v, true)
        } else if let Some((l, v)) = s.split_once('=') {
            (l, v, false)
        } else {
            return Err(format!(
                "matcher {s:?}: expected label=\"value\" or label!=\"value\""
            ));
        };
        let label = label.trim();
        if !crate::config::units::is_label_name(label) {
            return Err(format!("matcher {s:?}: {label:?} is not a label name"));
        }
        let v = value.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Ok(Matcher {
            label: label.to_string(),
            value: v.to_string(),
            negate,
        })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.label).map(String::as_str).unwrap_or("");
        (v == self.value) != self.negate
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct Query {
    pub metric: String,
    pub matchers: Vec<Matcher>,
    /// Unix ms, inclusive.
    pub start: i64,
    pub end: i64,
    /// Resample to one point per step (gauges: mean; counters: last); None: as stored.
    pub step_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// Counters are kept as counters: a view computes rates from them.
    #[serde(skip)]
    pub counter: bool,
    pub points: Vec<(i64, f64)>,
}

/// Most series one answer holds; a name with more (a per-thread figure on a huge host) is cut, and said so.
pub const MAX_SERIES: usize = 2000;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub raw_samples: u64,
    pub raw_bytes: u64,
    pub series: u64,
}

pub struct Reader {
    conn: Connection,
}

impl Reader {
    pub fn open(path: &Path) -> anyhow::Result<Reader> {
        if !path.exists() {
            anyhow::bail!(
                "no history at {} (the agent writes it when [history] is enabled)",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        Ok(Reader { conn })
    }

    /// Names of every stored metric.
    pub fn metrics(&self) -> anyhow::Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT name FROM series ORDER BY name")?;
        Ok(st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
    }

    /// The first and last timestamps held, raw or rolled up.
    pub fn span(&self) -> anyhow::Result<Option<(i64, i64)>> {
        let q = |sql: &str| -> rusqlite::Result<Option<i64>> {
            self.conn.query_row(sql, [], |r| r.get(0))
        };
        let first = [
            q("SELECT min(window) FROM rollups")?,
            q("SELECT min(start) FROM blocks")?,
            q("SELECT min(ts) FROM head")?,
        ]
        .into_iter()
        .flatten()
        .min();
        let last = [
            q("SELECT max(end) FROM blocks")?,
            q("SELECT max(ts) FROM head")?,
        ]
        .into_iter()
        .flatten()
        .max();
        Ok(first.zip(last))
    }

    /// Values in raw blocks, the bytes of their chunks and timestamps, and the series known: bytes per sample.
    pub fn stats(&self) -> anyhow::Result<Stats> {
        let (samples, ts_bytes): (i64, i64) = self.conn.query_row(
            "SELECT coalesce(sum(samples), 0), coalesce(sum(length(ts)), 0) FROM blocks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let chunk_bytes: i64 = self.conn.query_row(
            "SELECT coalesce(sum(length(vals)), 0) FROM chunks",
            [],
            |r| r.get(0),
        )?;
        let series: i64 = self
            .conn
            .query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
        Ok(Stats {
            raw_samples: samples as u64,
            raw_bytes: (chunk_bytes + ts_bytes) as u64,
            series: series as u64,
        })
    }

    pub fn query(&self, q: &Query) -> anyhow::Result<Vec<Series>> {
        // One read transaction: the writer may close a block meanwhile, the answer stays consistent.
        let tx = self.conn.unchecked_transaction()?;
        let mut st = tx.prepare("SELECT id, labels, counter FROM series WHERE name = ?1")?;
        let mut wanted: Vec<(u32, Series)> = Vec::new();
        for r in st.query_map([&q.metric], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })? {
            let (id, labels, counter) = r?;
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&labels).unwrap_or_default();
            if q.matchers.iter().all(|m| m.matches(&labels)) && wanted.len() < MAX_SERIES {
                wanted.push((
                    id,
                    Series {
                        labels,
                        counter,
                        points: Vec::new(),
                    },
                ));
            }
        }
        drop(st);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let raw_from: Option<i64> = [
            tx.query_row("SELECT min(start) FROM blocks", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?,
            tx.query_row("SELECT min(ts) FROM head", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?,
        ]
        .into_iter()
        .flatten()
        .min();
        // Rollups where no raw data is kept any more.
        let roll_end = raw_from.unwrap_or(i64::MAX).min(q.end + 1);
        if q.start < roll_end {
            read_rollups(&tx, q.start, roll_end, &mut wanted)?;
        }
        read_blocks(&tx, q.start, q.end, &mut wanted)?;
        let mut st =
            tx.prepare("SELECT ts, vals FROM head WHERE ts >= ?1 AND ts <= ?2 ORDER BY ts")?;
        let index: BTreeMap<u32, usize> =
            wanted.iter().enumerate().map(|(i, w)| (w.0, i)).collect();
        for r in st.query_map([q.start, q.end], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })? {
            let (ts, vals) = r?;
            for (id, v) in head_pairs(&vals) {
                if let Some(&i) = index.get(&id) {
                    wanted[i].1.points.push((ts, v));
                }
            }
        }
        drop(st);
        let mut out: Vec<Series> = wanted.into_iter().map(|w| w.1).collect();
        for s in &mut out {
            if let Some(step) = q.step_ms.filter(|s| *s > 0) {
                s.points = resample(&s.points, step, s.counter);
            }
        }
        out.retain(|s| !s.points.is_empty());
        Ok(out)
    }
}

fn read_blocks(
    tx: &rusqlite::Transaction,
    start: i64,
    end: i64,
    wanted: &mut [(u32, Series)],
) -> anyhow::Result<()> {
    let mut st =
        tx.prepare("SELECT start, ts FROM blocks WHERE end >= ?1 AND start <= ?2 ORDER BY start")?;
    let blocks: Vec<(i64, Vec<u8>)> = st
        .query_map([start, end], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut get = tx.prepare("SELECT vals FROM chunks WHERE block = ?1 AND series = ?2")?;
    for (b, ts) in blocks {
        let Ok(times) = codec::decode_times(&ts) else {
            continue;
        };
        for (id, s) in wanted.iter_mut() {
            let Some(c) = get
                .query_row(params![b, *id], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            else {
                continue;
            };
            let Ok(vals) = codec::decode_values(&c, times.len()) else {
                continue;
            };
            s.points.extend(
                times
                    .iter()
                    .zip(vals)
                    .filter(|(t, _)| (start..=end).contains(*t))
                    .filter_map(|(t, v)| v.map(|v| (*t, v))),
            );
        }
    }
    Ok(())
}

/// One point per 5-minute step, at the step's start: the mean of a gauge, the highest (the last) of a counter.
fn read_rollups(
    tx: &rusqlite::Transaction,
    start: i64,
    end: i64,
    wanted: &mut [(u32, Series)],
) -> anyhow::Result<()> {
    let step = super::ROLLUP_STEP_MS;
    let mut get = tx.prepare("SELECT vals FROM rollups WHERE window = ?1 AND series = ?2")?;
    let mut w = start.div_euclid(WINDOW_MS) * WINDOW_MS;
    while w < end {
        for (id, s) in wanted.iter_mut() {
            let Some(b) = get
                .query_row(params![w, *id], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            else {
                continue;
            };
            let Ok([_, avg, max]) = codec::decode_rollup(&b, STEPS) else {
                continue;
            };
            let pick = if s.counter { max } else { avg };
            for (i, v) in pick.into_iter().enumerate() {
                let t = w + i as i64 * step;
                if let (Some(v), true) = (v, t >= start && t < end) {
                    s.points.push((t, v));
                }
            }
        }
        w += WINDOW_MS;
    }
    Ok(())
}

/// One point per step, at the step's start: the mean of a gauge, the last value of a counter.
pub fn resample(points: &[(i64, f64)], step: i64, counter: bool) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut n = 0u32;
    for &(t, v) in points {
        let b = t.div_euclid(step) * step;
        match out.last_mut() {
            Some(last) if last.0 == b => {
                n += 1;
                last.1 = if counter {
                    v
                } else {
                    last.1 + (v - last.1) / n as f64
                };
            }
            _ => {
                out.push((b, v));
                n = 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_as_promql_writes_them() {
        let m = Matcher::parse(r#"device="sda""#).unwrap();
        assert_eq!(
            (m.label.as_str(), m.value.as_str(), m.negate),
            ("device", "sda", false)
        );
        let m = Matcher::parse("mode!=idle").unwrap();
        assert!(m.negate && m.value == "idle");
        assert!(Matcher::parse("no matcher").is_err());
        assert!(Matcher::parse("1x=y").is_err());
    }

    #[test]
    fn resampling_means_gauges_and_keeps_the_last_counter() {
        let p = [(0, 1.0), (1000, 3.0), (5000, 10.0), (6000, 20.0)];
        assert_eq!(resample(&p, 5000, false), vec![(0, 2.0), (5000, 15.0)]);
        assert_eq!(resample(&p, 5000, true), vec![(0, 3.0), (5000, 20.0)]);
    }
}

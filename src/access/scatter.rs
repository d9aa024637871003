//! The response-time scatter's points: per app, the requests of the last ten minutes, at most `per_minute` of
//! each minute. Slow and failed requests are kept first (above the app's p95, or status >= 500), up to half the
//! room when others compete for it; the rest is a uniform reservoir sample of the minute's other requests. Points are fixed-size (no heap per request): the
//! path and thread are cut to a bound, and a minute's buffer is reused when it expires, so the memory of an app
//! is at most [`MINUTES`] x `per_minute` x [`POINT_BYTES`].

use super::format::Request;
use crate::model::access::{METHODS, ScatterCount, method_index};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How far back points are kept, ms.
pub const WINDOW_MS: i64 = 10 * 60_000;
/// Minute buffers per app: the current one and the ten before.
pub const MINUTES: usize = 11;
/// Path bytes kept (the query is never kept); a longer path ends in `…`.
pub const PATH_MAX: usize = 64;
/// Thread-name bytes kept.
pub const THREAD_MAX: usize = 32;
/// What a point costs (docs/access-logs.md states it; a unit test holds it).
pub const POINT_BYTES: usize = 120;
/// Default points per app per minute.
/// 300: 3,000 dots over the ten minutes, and 0.4 MB per app at most (600 points of 100-byte paths were 1 MB,
/// an eighth of the whole agent's budget).
pub const DEFAULT_PER_MINUTE: usize = 300;
/// Buckets of the duration histogram the p95 comes from: 4 per power of two of microseconds.
const BUCKETS: usize = 4 * 33;
/// The threshold is recomputed after this many requests (amortised O(1)).
const RETHRESHOLD: u32 = 256;

/// One request as drawn: when it was read, how long it took, its status, method, path and thread.
#[derive(Clone, Copy)]
pub struct Point {
    pub end_ms: i64,
    pub duration_us: u32,
    pub status: u16,
    method: u8,
    path_len: u8,
    thread_len: u8,
    cut: bool,
    path: [u8; PATH_MAX],
    thread: [u8; THREAD_MAX],
}

impl Point {
    fn new(r: &Request, duration_us: u32, now_ms: i64) -> Self {
        let mut p = Point {
            end_ms: now_ms,
            duration_us,
            status: r.status,
            method: method_index(r.method) as u8,
            path_len: 0,
            thread_len: 0,
            cut: r.path.len() > PATH_MAX,
            path: [0; PATH_MAX],
            thread: [0; THREAD_MAX],
        };
        p.path_len = copy_cut(r.path, &mut p.path);
        if let Some(t) = r.thread {
            p.thread_len = copy_cut(t, &mut p.thread);
        }
        p
    }

    pub fn method(&self) -> &'static str {
        METHODS[usize::from(self.method).min(METHODS.len() - 1)]
    }

    pub fn path(&self) -> String {
        let s = String::from_utf8_lossy(&self.path[..usize::from(self.path_len)]);
        if self.cut {
            format!("{s}…")
        } else {
            s.into_owned()
        }
    }

    pub fn thread(&self) -> Option<String> {
        (self.thread_len > 0)
            .then(|| String::from_utf8_lossy(&self.thread[..usize::from(self.thread_len)]).into())
    }
}

/// Copies at most `out.len()` bytes of `s`, cut back to a UTF-8 boundary; the length copied.
fn copy_cut(s: &[u8], out: &mut [u8]) -> u8 {
    let mut n = s.len().min(out.len());
    if n < s.len() {
        while n > 0 && (s[n] & 0xC0) == 0x80 {
            n -= 1;
        }
    }
    out[..n].copy_from_slice(&s[..n]);
    n as u8
}

/// Pushes onto a minute's buffer, growing it by doubling but never past `n` (a plain push would round 600 up to
/// 1024 and break the stated bound).
fn push_bounded(v: &mut Vec<Point>, p: Point, n: usize) {
    if v.len() == v.capacity() {
        // Called with len < n only; `max` before `min` so that a bound under 8 holds too.
        let want = (v.capacity() * 2).max(8).min(n.max(v.len() + 1));
        v.reserve_exact(want - v.len());
    }
    v.push(p);
}

/// One minute's points: the kept slow or failed ones first (`[..pri]`), then the uniform sample.
struct Minute {
    start_ms: i64,
    points: Vec<Point>,
    pri: usize,
    seen_pri: u64,
    seen_rest: u64,
}

/// The points of one app; its logs share it (behind a lock taken per request, never across a read).
pub struct Reservoir {
    per_minute: usize,
    minutes: VecDeque<Minute>,
    /// Durations of the current and the previous minute, for the p95.
    hist: [[u32; BUCKETS]; 2],
    /// The longest duration of each of those minutes: the top bucket is interpolated up to it, not past it.
    max_us: [u32; 2],
    threshold_us: u32,
    since_threshold: u32,
    rng: fastrand::Rng,
    seen: u64,
    sampled_out: u64,
}

fn bucket(us: u32) -> usize {
    if us < 4 {
        return us as usize;
    }
    let hi = 31 - us.leading_zeros() as usize; // >= 2
    let sub = ((us >> (hi - 2)) & 3) as usize;
    4 * (hi - 1) + sub
}

/// The largest duration of bucket `b` (inverse of [`bucket`]).
fn bucket_top(b: usize) -> u32 {
    if b < 4 {
        return b as u32;
    }
    let hi = b / 4 + 1;
    let sub = (b % 4) as u64;
    let top = ((4 + sub + 1) << (hi - 2)) - 1;
    top.min(u64::from(u32::MAX)) as u32
}

impl Reservoir {
    pub fn new(per_minute: usize) -> Self {
        Reservoir {
            per_minute: per_minute.max(1),
            minutes: VecDeque::with_capacity(MINUTES),
            hist: [[0; BUCKETS]; 2],
            max_us: [0; 2],
            threshold_us: u32::MAX,
            since_threshold: 0,
            rng: fastrand::Rng::new(),
            seen: 0,
            sampled_out: 0,
        }
    }

    /// The slow-request threshold now, from this and the previous minute (linear within its bucket): their
    /// p95, or a higher quantile when a quarter of the bound is less than 5 % of a minute's requests; none
    /// (u32::MAX) before 100 requests.
    pub fn threshold_us(&self) -> u32 {
        self.threshold_us
    }

    fn rethreshold(&mut self) {
        self.since_threshold = 0;
        let count = |b: usize| u64::from(self.hist[0][b]) + u64::from(self.hist[1][b]);
        let total: u64 = (0..BUCKETS).map(count).sum();
        if total < 100 {
            self.threshold_us = u32::MAX;
            return;
        }
        // Above p95 is 5 % of any traffic: past 20 x a quarter of the bound a minute, that alone would fill the
        // slow ones' room with ordinary requests, so the bar rises to what a quarter of the bound exceeds.
        let minute = |h: &[u32; BUCKETS]| h.iter().map(|&c| u64::from(c)).sum::<u64>();
        let rate = minute(&self.hist[0]).max(minute(&self.hist[1])).max(1);
        let above = (0.05f64).min(self.per_minute as f64 / 4.0 / rate as f64);
        // Linear within the bucket, as PromQL's histogram_quantile.
        let want = total as f64 * (1.0 - above);
        let mut acc = 0;
        for b in 0..BUCKETS {
            let c = count(b);
            if c > 0 && (acc + c) as f64 >= want {
                let lo = if b == 0 {
                    0.0
                } else {
                    f64::from(bucket_top(b - 1)) + 1.0
                };
                let hi = f64::from(bucket_top(b).min(self.max_us[0].max(self.max_us[1])));
                let frac = ((want - acc as f64) / c as f64).clamp(0.0, 1.0);
                self.threshold_us = (lo + frac * (hi - lo)) as u32;
                return;
            }
            acc += c;
        }
    }

    /// The minute of `now_ms`, opened (reusing the oldest buffer) when it is a new one.
    fn minute(&mut self, now_ms: i64) -> usize {
        let start = now_ms - now_ms.rem_euclid(60_000);
        if let Some(last) = self.minutes.back()
            && last.start_ms >= start
        {
            // A clock stepped back lands in the newest minute.
            return self.minutes.len() - 1;
        }
        let gap = self.minutes.back().map(|m| start - m.start_ms);
        self.hist[1] = if gap == Some(60_000) {
            self.hist[0]
        } else {
            [0; BUCKETS]
        };
        self.max_us[1] = if gap == Some(60_000) {
            self.max_us[0]
        } else {
            0
        };
        self.hist[0] = [0; BUCKETS];
        self.max_us[0] = 0;
        self.rethreshold();
        let reuse = match self.minutes.front() {
            Some(m) if self.minutes.len() >= MINUTES || m.start_ms < start - WINDOW_MS => {
                self.minutes.pop_front()
            }
            _ => None,
        };
        let mut points = reuse.map(|m| m.points).unwrap_or_default();
        points.clear();
        self.minutes.push_back(Minute {
            start_ms: start,
            points,
            pri: 0,
            seen_pri: 0,
            seen_rest: 0,
        });
        self.minutes.len() - 1
    }

    /// Records one request read at `now_ms` (ignored without a duration). O(1), no allocation once the
    /// minute buffers have grown to their bound.
    pub fn record(&mut self, r: &Request, now_ms: i64) {
        let Some(us) = r.duration_us else { return };
        let us = u32::try_from(us).unwrap_or(u32::MAX);
        let i = self.minute(now_ms);
        self.hist[0][bucket(us)] = self.hist[0][bucket(us)].saturating_add(1);
        self.max_us[0] = self.max_us[0].max(us);
        self.since_threshold += 1;
        // Until there is a p95 (100 requests), it is looked for sooner.
        let every = if self.threshold_us == u32::MAX {
            16
        } else {
            RETHRESHOLD
        };
        if self.since_threshold >= every {
            self.rethreshold();
        }
        self.seen += 1;
        let (n, threshold) = (self.per_minute, self.threshold_us);
        // Built only for a request kept: at a high rate most are not.
        let p = || Point::new(r, us, now_ms);
        let m = &mut self.minutes[i];
        let kept = if r.status >= 500 || us > threshold {
            m.seen_pri += 1;
            if m.points.len() < n {
                push_bounded(&mut m.points, p(), n);
                let last = m.points.len() - 1;
                m.points.swap(m.pri, last);
                m.pri += 1;
                true
            } else if m.pri < n.div_ceil(2) {
                // A uniform sample minus one random member is still uniform: a sampled request makes room.
                let j = m.pri + self.rng.usize(..m.points.len() - m.pri);
                m.points[j] = m.points[m.pri];
                m.points[m.pri] = p();
                m.pri += 1;
                self.sampled_out += 1; // the one evicted
                true
            } else {
                // Half the room taken: the rest stays the others' sample (the body of the distribution shows
                // whatever the rate), and these are a reservoir among themselves.
                let j = self.rng.u64(..m.seen_pri) as usize;
                if j < m.pri {
                    m.points[j] = p();
                    self.sampled_out += 1;
                    true
                } else {
                    false
                }
            }
        } else {
            m.seen_rest += 1;
            let room = n.saturating_sub(m.pri);
            if m.points.len() < n {
                push_bounded(&mut m.points, p(), n);
                true
            } else if room > 0 {
                let j = self.rng.u64(..m.seen_rest);
                if j < room as u64 {
                    m.points[m.pri + j as usize] = p();
                    self.sampled_out += 1;
                    true
                } else {
                    false
                }
            } else {
                false
            }
        };
        if !kept {
            self.sampled_out += 1;
        }
    }

    /// Points read after `since_ms` and within the window before `now_ms`, oldest minute first.
    pub fn points(&self, since_ms: i64, now_ms: i64) -> impl Iterator<Item = &Point> {
        let from = since_ms.max(now_ms - WINDOW_MS);
        self.minutes
            .iter()
            .filter(move |m| m.start_ms + 60_000 > from)
            .flat_map(|m| m.points.iter())
            .filter(move |p| p.end_ms > from)
    }

    pub fn len(&self) -> usize {
        self.minutes.iter().map(|m| m.points.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_per_minute(&mut self, n: usize) {
        self.per_minute = n.max(1);
        // A lower bound applies now: the sample is cut to it (slow and failed first).
        for m in &mut self.minutes {
            if m.points.len() > self.per_minute {
                self.sampled_out += (m.points.len() - self.per_minute) as u64;
                m.points.truncate(self.per_minute);
                m.pri = m.pri.min(self.per_minute);
            }
            m.points.shrink_to(self.per_minute);
        }
    }
}

/// Every app's reservoir: the access thread records into them, the API reads them. Cloning shares it.
#[derive(Clone, Default)]
pub struct Scatter(Arc<Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    per_minute: usize,
    apps: Vec<(String, Arc<Mutex<Reservoir>>)>,
}

/// One app's points as the API gives them.
pub struct AppPoints {
    pub app: String,
    pub seen: u64,
    pub sampled_out: u64,
    pub threshold_us: Option<u32>,
    pub points: Vec<Point>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scatter {
    pub fn new(per_minute: usize) -> Self {
        let s = Scatter::default();
        s.set_per_minute(per_minute);
        s
    }

    /// The bound, for every app (a configuration reload).
    pub fn set_per_minute(&self, n: usize) {
        let mut g = lock(&self.0);
        g.per_minute = n.max(1);
        for (_, r) in &g.apps {
            lock(r).set_per_minute(n);
        }
    }

    /// The reservoir of `app`, made on first use. Apps no log records into and with nothing left in the
    /// window are forgotten here.
    pub fn reservoir(&self, app: &str) -> Arc<Mutex<Reservoir>> {
        let mut g = lock(&self.0);
        let now = crate::util::clock::now_ms();
        g.apps.retain(|(_, r)| {
            Arc::strong_count(r) > 1 || lock(r).points(i64::MIN, now).next().is_some()
        });
        if let Some((_, r)) = g.apps.iter().find(|(a, _)| a == app) {
            return r.clone();
        }
        let per_minute = if g.per_minute == 0 {
            DEFAULT_PER_MINUTE
        } else {
            g.per_minute
        };
        let r = Arc::new(Mutex::new(Reservoir::new(per_minute)));
        g.apps.push((app.to_string(), r.clone()));
        r
    }

    /// Per app: points held, requests seen, requests sampled away.
    pub fn counts(&self) -> Vec<ScatterCount> {
        lock(&self.0)
            .apps
            .iter()
            .map(|(app, r)| {
                let r = lock(r);
                ScatterCount {
                    app: app.clone(),
                    points: r.len() as u64,
                    seen: r.seen,
                    sampled_out: r.sampled_out,
                }
            })
            .collect()
    }

    /// The points of `app` (every app when None) read after `since_ms`, at most `max` in all (the newest
    /// kept); whether some were left out.
    pub fn points(
        &self,
        app: Option<&str>,
        since_ms: i64,
        now_ms: i64,
        max: usize,
    ) -> (Vec<AppPoints>, bool) {
        let apps: Vec<(String, Arc<Mutex<Reservoir>>)> = lock(&self.0)
            .apps
            .iter()
            .filter(|(a, _)| app.is_none_or(|x| x == a))
            .cloned()
            .collect();
        let mut out = Vec::new();
        let mut left = max;
        let mut truncated = false;
        for (name, r) in apps {
            // Copied under the lock, sorted after it: the access thread waits for the copy only.
            let (mut points, seen, sampled_out, threshold_us) = {
                let r = lock(&r);
                let p: Vec<Point> = r.points(since_ms, now_ms).copied().collect();
                (p, r.seen, r.sampled_out, r.threshold_us)
            };
            if points.len() > left {
                points.sort_by_key(|p| std::cmp::Reverse(p.end_ms));
                points.truncate(left);
                truncated = true;
            }
            left -= points.len();
            points.sort_by_key(|p| p.end_ms);
            out.push(AppPoints {
                app: name,
                seen,
                sampled_out,
                threshold_us: (threshold_us < u32::MAX).then_some(threshold_us),
                points,
            });
        }
        (out, truncated)
    }
}

#[cfg(test)]
mod tests;

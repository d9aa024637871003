//! Requests from the access logs application servers already write: no agent in the JVM. Every Tomcat wasp
//! finds has its AccessLogValves read from server.xml (no configuration), and `[[access_logs]]` entries name
//! anything else (nginx, httpd, WebLogic, JSON). One thread follows every log, parses each line with a
//! pattern compiled once, and counts; the collection only copies the counts (a lock per log).

pub mod discover;
pub mod docs;
pub mod follow;
pub mod format;
pub mod scatter;
pub mod stats;
pub mod structured;
pub mod template;
pub mod weblogic;
pub mod wildfly;

use crate::config::units::{ByteSize, Interval};
use crate::model::Collection;
use crate::model::access::{AppRequests, DEFAULT_BUCKETS, Histogram, Interval as Window};
use crate::util::safe_open::Owner;
use serde::{Deserialize, Serialize};
use stats::{SlowRequest, Tally, TopTemplates};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use structured::{JsonFields, Outcome, Parser};

/// `[access]`: the access-log collector.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Follow the access logs of every Tomcat, WildFly and WebLogic found (server.xml's AccessLogValves,
    /// standalone.xml's Undertow access-log, config.xml's web-server-log).
    pub discover_tomcat: bool,
    /// Latency histogram bucket bounds, seconds, ascending.
    pub buckets: Vec<f64>,
    /// How often the logs are read.
    pub poll: Interval,
    /// At most this much is read per log per poll; the rest waits (a burst is caught up, never skipped).
    pub max_read: ByteSize,
    /// Requests kept per app per minute for the console's response-time scatter (slow and failed first).
    pub scatter_per_minute: usize,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            discover_tomcat: true,
            buckets: DEFAULT_BUCKETS.to_vec(),
            poll: Interval::secs(1),
            max_read: ByteSize(8 << 20),
            scatter_per_minute: scatter::DEFAULT_PER_MINUTE,
        }
    }
}

/// `[[access_logs]]`: an access log named by hand.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// The app its requests count for.
    pub app: String,
    /// Names this log among the app's (label `log`); default: the file name's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// A file or a glob (`*`, `?`, `[a-z]` in the last component): /var/log/nginx/access.log*.
    pub path: PathBuf,
    /// `tomcat:PATTERN`, `tomcat9:PATTERN`, `undertow:PATTERN`, `apache:LOGFORMAT`, `nginx:LOG_FORMAT`, `w3c` or
    /// `json`.
    pub format: String,
    /// Field names of a `json` log.
    #[serde(default)]
    pub json: JsonFields,
}

impl AccessLogConfig {
    pub fn log_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .split(['.', '*'])
                        .next()
                        .unwrap_or("access")
                        .to_string()
                })
                .unwrap_or_else(|| "access".into())
        })
    }
}

/// What a log publishes for the collection.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub totals: AppRequests,
    pub top: Option<TopTemplates>,
    pub slow: Vec<SlowRequest>,
}

/// Where a log's files are.
enum Files {
    Glob(PathBuf),
    Valve(discover::Valve, PathBuf),
}

struct Log {
    files: Files,
    parser: Parser,
    tail: follow::Tail,
    tally: Tally,
    out: Arc<Mutex<Published>>,
    /// The app's scatter points, shared with its other logs.
    scatter: Arc<Mutex<scatter::Reservoir>>,
}

impl Log {
    fn poll(&mut self, max_read: u64) {
        let paths = match &self.files {
            Files::Glob(g) => glob(g),
            Files::Valve(v, dir) => discover::valve_files(v, dir),
        };
        let now = crate::util::clock::now_ms();
        let (parser, tally, scatter) = (&mut self.parser, &mut self.tally, &self.scatter);
        let mut unmatched = 0;
        let mut lines = 0;
        let p = self.tail.poll(paths, max_read, &mut |line, cut| {
            lines += 1;
            let seen = |r: &format::Request| {
                tally.add(r, now);
                // Locked per request, never across the read: the API may be copying the points.
                lock(scatter).record(r, now);
            };
            if cut || parser.parse(line, seen) == Outcome::Unmatched {
                unmatched += 1;
            }
        });
        tally.roll(now);
        let t = &mut tally.totals;
        t.lines += lines;
        t.unmatched += unmatched;
        t.long_lines += p.long_lines;
        t.rotations += p.rotations;
        t.files = self.tail.files();
        if t.duration.is_none() && parser.has_duration() {
            // W3C: the fields are known once the header has been read.
            let b = tally.bounds().to_vec();
            tally.totals.duration = Some(Histogram::new(b));
        }
        let mut out = lock(&self.out);
        out.totals.clone_from(&tally.totals);
        out.top.clone_from(&tally.last_top);
        out.slow.clone_from(&tally.slow);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Files of a glob in its last component (the directory is the operator's); symlinks are never followed.
fn glob(pattern: &std::path::Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    if !name.contains(['*', '?', '[']) {
        return vec![pattern.to_path_buf()];
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .take(100_000)
        .filter(|e| crate::util::glob::wildmatch(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// A log's published counts, and the JVM it belongs to (None: a configured log).
type Shared = (Arc<Mutex<Published>>, Option<u32>);

/// Which JVM is which app, from the latest collection: (pid, app, instance label).
type Targets = Vec<(u32, String, String)>;

/// The collector: owns the thread, and the readings of the previous collection for the interval figures.
pub struct AccessCollector {
    logs: Arc<Mutex<Vec<Shared>>>,
    targets: Arc<Mutex<Targets>>,
    stop: Arc<AtomicBool>,
    prev: HashMap<(String, String, String), AppRequests>,
    scatter: scatter::Scatter,
}

impl Drop for AccessCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl AccessCollector {
    /// Starts the thread that follows the configured logs and, when asked, every Tomcat's.
    /// The scatter's points go to `scatter` (the API reads it).
    pub fn start(
        cfg: &AccessConfig,
        entries: &[AccessLogConfig],
        proc_root: PathBuf,
        scatter: scatter::Scatter,
    ) -> Self {
        scatter.set_per_minute(cfg.scatter_per_minute);
        let stop = Arc::new(AtomicBool::new(false));
        let logs: Arc<Mutex<Vec<Shared>>> = Arc::default();
        let targets: Arc<Mutex<Targets>> = Arc::default();
        let bounds = cfg.buckets.clone();
        let mut fixed = Vec::new();
        for e in entries {
            let Ok(parser) = Parser::from_spec(&e.format, &e.json) else {
                continue; // validated when the configuration was read
            };
            let totals = AppRequests {
                app: e.app.clone(),
                log: e.log_name(),
                duration: parser
                    .has_duration()
                    .then(|| Histogram::new(bounds.clone())),
                ..Default::default()
            };
            let out = Arc::new(Mutex::new(Published {
                totals: totals.clone(),
                ..Default::default()
            }));
            lock(&logs).push((out.clone(), None));
            fixed.push(Log {
                files: Files::Glob(e.path.clone()),
                parser,
                tail: follow::Tail::new(Owner::Any),
                tally: Tally::new(totals, bounds.clone()),
                out,
                scatter: scatter.reservoir(&e.app),
            });
        }
        let (l, t, s, sc) = (logs.clone(), targets.clone(), stop.clone(), scatter.clone());
        let (poll, max_read, discover) = (cfg.poll.0, cfg.max_read.0, cfg.discover_tomcat);
        let spawned = std::thread::Builder::new()
            .name("wasp-access".into())
            .spawn(move || {
                let mut found: HashMap<u32, Vec<Log>> = HashMap::new();
                while !s.load(Ordering::Relaxed) {
                    for log in &mut fixed {
                        log.poll(max_read);
                    }
                    if discover {
                        let now: Targets = lock(&t).clone();
                        found.retain(|pid, _| now.iter().any(|(p, _, _)| p == pid));
                        for (pid, app, instance) in &now {
                            let logs = found.entry(*pid).or_insert_with(|| {
                                let ls =
                                    tomcat_logs(&proc_root, *pid, (app, instance), &bounds, &sc);
                                for x in &ls {
                                    lock(&l).push((x.out.clone(), Some(*pid)));
                                }
                                ls
                            });
                            for log in logs {
                                log.poll(max_read);
                            }
                        }
                        // Logs of JVMs that are gone are no longer published.
                        lock(&l).retain(|(_, pid)| {
                            pid.is_none_or(|p| now.iter().any(|(x, _, _)| *x == p))
                        });
                    }
                    std::thread::sleep(poll);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the access-log thread; no request figures");
        }
        AccessCollector {
            logs,
            targets,
            stop,
            prev: HashMap::new(),
            scatter,
        }
    }

    /// Adds the access logs' figures to `c` (whose JVMs were just collected) and tells the thread which
    /// JVMs there are now.
    pub fn collect(&mut self, c: &mut Collection) {
        let mut per_app: HashMap<&str, usize> = HashMap::new();
        for j in &c.jvms {
            *per_app.entry(j.app.as_str()).or_default() += 1;
        }
        let targets: Targets = c
            .jvms
            .iter()
            .map(|j| {
                let several = per_app.get(j.app.as_str()).copied().unwrap_or(0) > 1;
                (
                    j.pid,
                    j.app.clone(),
                    if several {
                        j.pid.to_string()
                    } else {
                        String::new()
                    },
                )
            })
            .collect();
        *lock(&self.targets) = targets;
        let mut out: Vec<AppRequests> = Vec::new();
        let mut top = Vec::new();
        for (p, _) in lock(&self.logs).iter() {
            let p = lock(p);
            out.push(p.totals.clone());
            top.push((p.top.clone(), p.slow.clone()));
        }
        // The pid names an instance only while its app runs in several JVMs here (decided now, not when the
        // log was found: a second JVM of the app may start later).
        for a in &mut out {
            if let Some(pid) = a.pid {
                let several = per_app.get(a.app.as_str()).copied().unwrap_or(0) > 1;
                a.instance = if several {
                    pid.to_string()
                } else {
                    String::new()
                };
            }
        }
        let mut next = HashMap::new();
        for a in &mut out {
            let key = (a.app.clone(), a.instance.clone(), a.log.clone());
            if let (Some(prev), Some(secs)) = (self.prev.get(&key), c.interval_s) {
                a.interval = Some(Window::between(prev, a, secs));
            }
            let mut keep = a.clone();
            keep.interval = None;
            next.insert(key, keep);
        }
        self.prev = next;
        // Each instance's share of its app's requests (per log name: two valves count the same requests).
        let sums: HashMap<(String, String), u64> = out.iter().fold(HashMap::new(), |mut m, a| {
            *m.entry((a.app.clone(), a.log.clone())).or_default() +=
                a.interval.as_ref().map_or(0, |i| i.requests);
            m
        });
        for a in &mut out {
            let sum = sums
                .get(&(a.app.clone(), a.log.clone()))
                .copied()
                .unwrap_or(0);
            if let Some(i) = a.interval.as_mut() {
                i.tps_share = (sum > 0).then(|| i.requests as f64 / sum as f64 * 100.0);
            }
        }
        c.access = out;
        c.access_scatter = self.scatter.counts();
        c.access_top = top
            .into_iter()
            .zip(&c.access)
            .filter_map(|((t, slow), a)| {
                t.map(|t| crate::model::access::AccessTop {
                    app: a.app.clone(),
                    instance: a.instance.clone(),
                    log: a.log.clone(),
                    top: serde_json::to_value(&t).unwrap_or_default(),
                    slow: serde_json::to_value(&slow).unwrap_or_default(),
                })
            })
            .collect();
    }
}

fn tomcat_logs(
    proc_root: &std::path::Path,
    pid: u32,
    (app, instance): (&str, &str),
    bounds: &[f64],
    scatter: &scatter::Scatter,
) -> Vec<Log> {
    let Some(t) = discover::tomcat_logs(proc_root, pid)
        .or_else(|| wildfly::logs(proc_root, pid))
        .or_else(|| weblogic::logs(proc_root, pid))
    else {
        return Vec::new();
    };
    t.valves
        .into_iter()
        .map(|(v, dir)| {
            let parser = v.parser(t.major);
            let totals = AppRequests {
                app: app.to_string(),
                instance: instance.to_string(),
                pid: Some(pid),
                log: v.name(),
                duration: parser.has_duration().then(|| Histogram::new(bounds.to_vec())),
                ..Default::default()
            };
            tracing::info!(pid, app, log = %v.name(), dir = %dir.display(), "following a Tomcat access log");
            Log {
                out: Arc::new(Mutex::new(Published { totals: totals.clone(), ..Default::default() })),
                files: Files::Valve(v, dir),
                parser,
                tail: follow::Tail::new(t.owner),
                tally: Tally::new(totals, bounds.to_vec()),
                scatter: scatter.reservoir(app),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::jvm::Jvm;

    /// Two JVMs of one app: each log gets its pid as instance, and the interval figures and shares come
    /// from two readings.
    #[test]
    fn intervals_instances_and_shares() {
        let cfg = AccessConfig {
            discover_tomcat: false,
            ..Default::default()
        };
        let mut a = AccessCollector::start(
            &cfg,
            &[],
            PathBuf::from("/nonexistent"),
            scatter::Scatter::default(),
        );
        let logs: Vec<Arc<Mutex<Published>>> = [(1u32, 0u64), (2, 0)]
            .iter()
            .map(|(pid, _)| {
                let p = Arc::new(Mutex::new(Published {
                    totals: AppRequests {
                        app: "shop".into(),
                        pid: Some(*pid),
                        log: "access_log".into(),
                        duration: Some(Histogram::new(vec![0.1, 1.0])),
                        ..Default::default()
                    },
                    ..Default::default()
                }));
                lock(&a.logs).push((p.clone(), Some(*pid)));
                p
            })
            .collect();
        let jvms = vec![
            Jvm {
                pid: 1,
                app: "shop".into(),
                ..Default::default()
            },
            Jvm {
                pid: 2,
                app: "shop".into(),
                ..Default::default()
            },
        ];
        let mut c = Collection {
            jvms: jvms.clone(),
            ..Default::default()
        };
        a.collect(&mut c);
        assert!(c.access.iter().all(|x| x.interval.is_none()));
        for (p, (ok, err)) in logs.iter().zip([(29u64, 1u64), (10, 0)]) {
            let mut p = lock(p);
            p.totals.requests[1][0] = ok;
            p.totals.requests[4][1] = err;
            for _ in 0..ok + err {
                p.totals.duration.as_mut().unwrap().observe(0.05);
            }
        }
        let mut c = Collection {
            jvms,
            interval_s: Some(2.0),
            ..Default::default()
        };
        a.collect(&mut c);
        let (x, y) = (&c.access[0], &c.access[1]);
        assert_eq!((x.instance.as_str(), y.instance.as_str()), ("1", "2"));
        let (ix, iy) = (x.interval.as_ref().unwrap(), y.interval.as_ref().unwrap());
        assert_eq!((ix.requests, ix.tps), (30, 15.0));
        assert_eq!(ix.tps_share, Some(75.0));
        assert_eq!(iy.tps_share, Some(25.0));
        assert!((ix.error_pct.unwrap() - 100.0 / 30.0).abs() < 1e-9);
        assert!((ix.p95_ms.unwrap() - 95.0).abs() < 1e-9);
        // One JVM left: no instance label.
        let mut c = Collection {
            jvms: vec![Jvm {
                pid: 1,
                app: "shop".into(),
                ..Default::default()
            }],
            interval_s: Some(1.0),
            ..Default::default()
        };
        a.collect(&mut c);
        assert_eq!(c.access[0].instance, "");
    }
}

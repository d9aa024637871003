//! The named figures a rule can test: their names, and their values in one collection. Host and JVM figures
//! come from the collected model; log and check figures from what the watches and checks last published.
//! Reading them costs no I/O: the collection loop evaluates rules on what it already holds.

use super::check::{self, CheckConfig, Checks};
use super::logwatch::{self, LogWatchConfig, LogWatches};
use crate::model::Collection;
use crate::model::event::{Event, EventKind};
use crate::model::jvm::Jvm;
use crate::snapshot::blocked::BlockedThreads;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Fig {
    CpuBusy,
    CpuIowait,
    CpuSteal,
    RunqPerCpu,
    Load1PerCpu,
    SwapIn,
    SwapOut,
    MemAvailablePct,
    /// Sockets in a state (as ss names it), on one local port or all.
    Tcp(&'static str, Option<u16>),
    DiskUtilMax,
    FsUsedMax,
    JvmHeapPct,
    JvmOldAfterGcPct,
    JvmGcOverhead,
    JvmThreads,
    JvmBlocked,
    JvmCpu,
    LogPattern(usize, usize),
    /// Matches since the watch started.
    LogPatternTotal(usize, usize),
    LogLines(usize),
    LogSilence(usize),
    LogSilent(usize),
    CheckUp(usize),
    CheckLatency(usize),
    CheckStatus(usize),
    /// A field of the event being evaluated (rules on events: see `rules`).
    Event(EventField),
    /// A request figure of the JVM's access log (see `app_value`).
    App(AppFig),
}

/// Request figures from access logs, per JVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFig {
    Tps,
    P95Ms,
    ErrorPct,
    TpsShare,
}

/// The fields of an event a rule can test.
#[derive(Debug, Clone, PartialEq)]
pub enum EventField {
    Kind,
    Source,
    Pid,
    Command,
    App,
    Cgroup,
    Device,
    Message,
    Signal,
    ExitCode,
    /// Any entry of the event's `fields` (`event.field[hs_err]`).
    Field(String),
}

/// Event figure names, with what they are; the documentation's table comes from the same list.
pub const EVENT_NAMES: &[(&str, &str)] = &[
    (
        "event.kind",
        "what happened: oom_kill, jvm_crash, jvm_exit, ... (text)",
    ),
    ("event.source", "kmsg (the kernel's log) or jvm (text)"),
    ("event.pid", "the process the event is about (number)"),
    (
        "event.command",
        "its command name, as the kernel names it (text)",
    ),
    (
        "event.app",
        "the JVM's app name (text; for kernel events, when the pid was a JVM wasp watched)",
    ),
    (
        "event.cgroup",
        "the victim's memory cgroup, for OOM kills (text)",
    ),
    (
        "event.device",
        "the disk or interface of I/O, file-system and link events (text)",
    ),
    ("event.message", "the one line an operator reads (text)"),
    (
        "event.signal",
        "the signal: SIGSEGV for segfaults, the hs_err error's signal for JVM crashes, the killing signal of an exit (text)",
    ),
    (
        "event.exit_code",
        "a JVM's exit status, when its service manager told (number)",
    ),
    (
        "event.field",
        "[NAME]: any field of the event, e.g. event.field[hs_err] (text)",
    ),
];

impl super::expr::Typed for Fig {
    fn ty(&self) -> super::expr::Type {
        use super::expr::Type;
        match self {
            Fig::Event(EventField::Pid | EventField::ExitCode) => Type::Num,
            Fig::Event(_) => Type::Text,
            _ => Type::Num,
        }
    }

    fn check_text(&self, lit: &str) -> Result<(), String> {
        match self {
            Fig::Event(EventField::Kind) if EventKind::parse(lit).is_none() => Err(format!(
                "no event kind is named \"{lit}\"; kinds: {}",
                EventKind::ALL.map(|k| k.name()).join(", ")
            )),
            Fig::Event(EventField::Source) if !matches!(lit, "kmsg" | "jvm") => Err(format!(
                "event.source is \"kmsg\" or \"jvm\", never \"{lit}\""
            )),
            _ => Ok(()),
        }
    }
}

impl EventField {
    /// The field's value in one event; None when the event does not have it.
    pub fn value(&self, e: &Event) -> Option<super::expr::Value> {
        use super::expr::Value::{Num, Text};
        let t = |s: &Option<String>| s.clone().map(Text);
        match self {
            EventField::Kind => Some(Text(e.kind.name().into())),
            EventField::Source => Some(Text(e.source.clone())),
            EventField::Pid => e.pid.map(|p| Num(p.into())),
            EventField::Command => t(&e.comm),
            EventField::App => t(&e.app),
            EventField::Cgroup => t(&e.cgroup),
            EventField::Device => t(&e.device),
            EventField::Message => Some(Text(e.message.clone())),
            EventField::Signal => e.signal().map(Text),
            EventField::ExitCode => e.fields.get("exit_code")?.parse().ok().map(Num),
            EventField::Field(k) => e.fields.get(k).cloned().map(Text),
        }
    }
}

impl Fig {
    pub fn is_event(&self) -> bool {
        matches!(self, Fig::Event(_))
    }

    pub fn is_jvm(&self) -> bool {
        matches!(
            self,
            Fig::JvmHeapPct
                | Fig::JvmOldAfterGcPct
                | Fig::JvmGcOverhead
                | Fig::JvmThreads
                | Fig::JvmBlocked
                | Fig::JvmCpu
                | Fig::App(_)
        )
    }

    /// The log watch a figure reads, if any (its matched lines are context for actions).
    pub fn log_watch(&self) -> Option<usize> {
        match self {
            Fig::LogPattern(w, _)
            | Fig::LogPatternTotal(w, _)
            | Fig::LogLines(w)
            | Fig::LogSilence(w)
            | Fig::LogSilent(w) => Some(*w),
            _ => None,
        }
    }
}

/// Host and JVM figure names, with what they are; the documentation's table comes from the same list.
pub const NAMES: &[(&str, &str)] = &[
    ("host.cpu_busy_pct", "CPU busy, % (100 - sar %idle)"),
    ("host.cpu_iowait_pct", "CPU iowait, % (sar %iowait)"),
    ("host.cpu_steal_pct", "CPU steal, % (sar %steal)"),
    (
        "host.runq_per_cpu",
        "runnable tasks per online CPU (sar -q runq-sz / CPUs)",
    ),
    ("host.load1_per_cpu", "1-minute load average per online CPU"),
    (
        "host.swap_in_per_s",
        "pages swapped in per second (sar -W pswpin/s)",
    ),
    (
        "host.swap_out_per_s",
        "pages swapped out per second (sar -W pswpout/s)",
    ),
    (
        "host.mem_available_pct",
        "available memory, % of total (free's available)",
    ),
    (
        "host.time_wait",
        "TCP sockets in TIME-WAIT; [PORT] for one local port",
    ),
    (
        "host.close_wait",
        "TCP sockets in CLOSE-WAIT; [PORT] for one local port",
    ),
    (
        "host.established",
        "TCP sockets in ESTAB; [PORT] for one local port",
    ),
    ("host.disk_util_max_pct", "highest iostat %util of any disk"),
    (
        "host.fs_used_max_pct",
        "highest df use% of any writable file system",
    ),
    (
        "jvm.heap_pct",
        "heap used, % of its max (committed when no max)",
    ),
    (
        "jvm.old_after_gc_pct",
        "old generation after the last full/concurrent GC, % of its max",
    ),
    (
        "jvm.gc_overhead_pct",
        "share of the last interval spent in GC pauses, %",
    ),
    ("jvm.threads", "live threads"),
    (
        "jvm.blocked_threads",
        "BLOCKED threads in the latest thread dump wasp took of this JVM",
    ),
    (
        "jvm.cpu_pct",
        "the JVM process's %CPU (top, Irix mode) when it is among the top processes",
    ),
    (
        "app.tps",
        "requests per second in the JVM's access log over the last interval",
    ),
    (
        "app.p95_ms",
        "95th percentile response time of the last interval, ms (from the latency histogram)",
    ),
    (
        "app.error_pct",
        "5xx share of the last interval's requests, %",
    ),
    (
        "app.tps_share",
        "this JVM's share of its app's requests on the host over the last interval, %",
    ),
];

/// What the rules may name: the configured watches and checks.
pub struct Catalogue<'a> {
    pub logs: &'a [LogWatchConfig],
    pub checks: &'a [CheckConfig],
}

impl Catalogue<'_> {
    pub fn resolve(&self, name: &str, arg: Option<&str>) -> Result<Fig, String> {
        let port = |arg: Option<&str>| -> Result<Option<u16>, String> {
            arg.map(|a| {
                a.parse::<u16>()
                    .map_err(|_| format!("\"{a}\" is not a port number"))
            })
            .transpose()
        };
        let no_arg = |f: Fig| -> Result<Fig, String> {
            match arg {
                Some(a) => Err(format!("{name} takes no [argument] (found [{a}])")),
                None => Ok(f),
            }
        };
        let fig = match name {
            "host.cpu_busy_pct" => Fig::CpuBusy,
            "host.cpu_iowait_pct" => Fig::CpuIowait,
            "host.cpu_steal_pct" => Fig::CpuSteal,
            "host.runq_per_cpu" => Fig::RunqPerCpu,
            "host.load1_per_cpu" => Fig::Load1PerCpu,
            "host.swap_in_per_s" => Fig::SwapIn,
            "host.swap_out_per_s" => Fig::SwapOut,
            "host.mem_available_pct" => Fig::MemAvailablePct,
            "host.time_wait" => return Ok(Fig::Tcp("TIME-WAIT", port(arg)?)),
            "host.close_wait" => return Ok(Fig::Tcp("CLOSE-WAIT", port(arg)?)),
            "host.established" => return Ok(Fig::Tcp("ESTAB", port(arg)?)),
            "host.disk_util_max_pct" => Fig::DiskUtilMax,
            "host.fs_used_max_pct" => Fig::FsUsedMax,
            "jvm.heap_pct" => Fig::JvmHeapPct,
            "jvm.old_after_gc_pct" => Fig::JvmOldAfterGcPct,
            "jvm.gc_overhead_pct" => Fig::JvmGcOverhead,
            "jvm.threads" => Fig::JvmThreads,
            "jvm.blocked_threads" => Fig::JvmBlocked,
            "jvm.cpu_pct" => Fig::JvmCpu,
            "event.kind" => Fig::Event(EventField::Kind),
            "event.source" => Fig::Event(EventField::Source),
            "event.pid" => Fig::Event(EventField::Pid),
            "event.command" => Fig::Event(EventField::Command),
            "event.app" => Fig::Event(EventField::App),
            "event.cgroup" => Fig::Event(EventField::Cgroup),
            "event.device" => Fig::Event(EventField::Device),
            "event.message" => Fig::Event(EventField::Message),
            "event.signal" => Fig::Event(EventField::Signal),
            "event.exit_code" => Fig::Event(EventField::ExitCode),
            "event.field" => {
                return match arg {
                    Some(k) if !k.is_empty() => Ok(Fig::Event(EventField::Field(k.to_string()))),
                    _ => Err("event.field needs the field's name: event.field[hs_err]".into()),
                };
            }
            "app.tps" => Fig::App(AppFig::Tps),
            "app.p95_ms" => Fig::App(AppFig::P95Ms),
            "app.error_pct" => Fig::App(AppFig::ErrorPct),
            "app.tps_share" => Fig::App(AppFig::TpsShare),
            _ => return self.resolve_named(name).and_then(no_arg),
        };
        no_arg(fig)
    }

    fn resolve_named(&self, name: &str) -> Result<Fig, String> {
        let unknown = || {
            let host: Vec<&str> = NAMES.iter().chain(EVENT_NAMES).map(|(n, _)| *n).collect();
            format!(
                "unknown figure \"{name}\"; known: {}, log.WATCH.PATTERN|PATTERN.total|lines|silence|silent, check.NAME.up|latency|status",
                host.join(", ")
            )
        };
        if let Some(rest) = name.strip_prefix("log.") {
            // Watch names have no dots: log.WATCH.lines|silence|silent|PATTERN|PATTERN.total
            let (w, what) = rest.split_once('.').ok_or_else(unknown)?;
            let (wi, wc) = self
                .logs
                .iter()
                .enumerate()
                .find(|(_, c)| c.name == w)
                .ok_or_else(|| format!("no [[logs]] watch is named \"{w}\""))?;
            return match what {
                "lines" => Ok(Fig::LogLines(wi)),
                "silence" => Ok(Fig::LogSilence(wi)),
                "silent" if wc.silence.is_some() => Ok(Fig::LogSilent(wi)),
                "silent" => Err(format!(
                    "log.{w}.silent needs `silence = \"10m\"` in the watch \"{w}\""
                )),
                p => {
                    let (p, total) = match p.strip_suffix(".total") {
                        Some(p) => (p, true),
                        None => (p, false),
                    };
                    wc.patterns
                        .keys()
                        .position(|k| k == p)
                        .map(|pi| {
                            if total {
                                Fig::LogPatternTotal(wi, pi)
                            } else {
                                Fig::LogPattern(wi, pi)
                            }
                        })
                        .ok_or_else(|| {
                            format!(
                                "the watch \"{w}\" has no pattern \"{p}\" (it has: {})",
                                wc.patterns.keys().cloned().collect::<Vec<_>>().join(", ")
                            )
                        })
                }
            };
        }
        if let Some(rest) = name.strip_prefix("check.") {
            let (c, what) = rest.rsplit_once('.').ok_or_else(unknown)?;
            let ci = self
                .checks
                .iter()
                .position(|x| x.name == c)
                .ok_or_else(|| format!("no [[checks]] check is named \"{c}\""))?;
            return match what {
                "up" => Ok(Fig::CheckUp(ci)),
                "latency" => Ok(Fig::CheckLatency(ci)),
                "status" => Ok(Fig::CheckStatus(ci)),
                _ => Err(format!(
                    "check.{c}.{what}: a check has up, latency and status"
                )),
            };
        }
        Err(unknown())
    }
}

/// Log and check figures as of one collection: read once, then every rule reads this.
#[derive(Default)]
pub struct View {
    /// Per watch: matches per pattern and lines since the previous collection, silence, silent.
    logs: Vec<(Vec<u64>, u64, f64, Option<bool>)>,
    /// Per watch: matches per pattern since the watch started.
    log_totals: Vec<Vec<u64>>,
    checks: Vec<check::CheckState>,
    /// BLOCKED threads of the latest dump per pid.
    blocked: HashMap<u32, f64>,
}

/// Turns the watches' running totals into "since the previous collection".
#[derive(Default)]
pub struct Sources {
    pub logs: LogWatches,
    pub checks: Checks,
    /// The snapshot worker's record of the BLOCKED threads of each JVM's latest dump.
    blocked: BlockedThreads,
    prev: Vec<(Vec<u64>, u64)>,
}

impl Sources {
    pub fn new(logs: LogWatches, checks: Checks, blocked: BlockedThreads) -> Self {
        Sources {
            logs,
            checks,
            blocked,
            prev: Vec::new(),
        }
    }

    /// Reads every watch and check once (a lock and a copy each).
    pub fn view(&mut self) -> View {
        let mut v = View::default();
        for (i, (cfg, st)) in self.logs.watches.iter().enumerate() {
            let st = logwatch::lock(st);
            let (pc, pl) = self
                .prev
                .get(i)
                .cloned()
                .unwrap_or_else(|| (st.counts.clone(), st.lines));
            let delta: Vec<u64> = st
                .counts
                .iter()
                .zip(pc.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect();
            v.log_totals.push(st.counts.clone());
            v.logs.push((
                delta,
                st.lines.saturating_sub(pl),
                logwatch::silence(&st),
                logwatch::silent(cfg, &st),
            ));
            if self.prev.len() <= i {
                self.prev.push((st.counts.clone(), st.lines));
            } else {
                self.prev[i] = (st.counts.clone(), st.lines);
            }
        }
        for (_, st) in &self.checks.checks {
            v.checks.push(check::lock(st).clone());
        }
        v.blocked = self.blocked.latest();
        v
    }
}

impl View {
    /// The value of a figure in this collection, for one JVM when the rule is per JVM; None when unknown.
    pub fn value(&self, f: &Fig, c: &Collection, jvm: Option<&Jvm>) -> Option<f64> {
        let pct = |a: f64, b: f64| (b > 0.0).then(|| a / b * 100.0);
        match f {
            Fig::CpuBusy => c.cpu.as_ref()?.all.as_ref().map(|a| 100.0 - a.idle),
            Fig::CpuIowait => c.cpu.as_ref()?.all.as_ref().map(|a| a.iowait),
            Fig::CpuSteal => c.cpu.as_ref()?.all.as_ref().map(|a| a.steal),
            Fig::RunqPerCpu => c
                .load
                .as_ref()
                .and_then(|l| (l.cpus > 0).then(|| l.runq_sz as f64 / l.cpus as f64)),
            Fig::Load1PerCpu => c
                .load
                .as_ref()
                .and_then(|l| (l.cpus > 0).then(|| l.ldavg_1 / l.cpus as f64)),
            Fig::SwapIn => c.interval_s.and(c.paging.as_ref().map(|p| p.pswpin)),
            Fig::SwapOut => c.interval_s.and(c.paging.as_ref().map(|p| p.pswpout)),
            Fig::MemAvailablePct => c
                .memory
                .as_ref()
                .and_then(|m| pct(m.available as f64, m.total as f64)),
            Fig::Tcp(state, port) => {
                let t = c.tcp.as_ref()?;
                match port {
                    None => Some(t.states.get(*state).copied().unwrap_or(0) as f64),
                    Some(p) => Some(
                        t.ports
                            .iter()
                            .find(|x| x.port == *p)
                            .and_then(|x| x.states.get(*state))
                            .copied()
                            .unwrap_or(0) as f64,
                    ),
                }
            }
            Fig::DiskUtilMax => c
                .interval_s
                .and_then(|_| c.disks.iter().map(|d| d.util).reduce(f64::max)),
            // Read-only file systems (squashfs images, ISO mounts) are always full and never fill up.
            Fig::FsUsedMax => c
                .filesystems
                .iter()
                .filter(|f| !f.readonly)
                .map(|f| f.use_pct as f64)
                .reduce(f64::max),
            Fig::JvmHeapPct => {
                let h = &jvm?.figures.as_ref()?.heap;
                pct(h.used as f64, h.max.unwrap_or(h.committed) as f64)
            }
            Fig::JvmOldAfterGcPct => jvm?.figures.as_ref()?.old_after_gc_pct,
            Fig::JvmGcOverhead => jvm?.figures.as_ref()?.gc_overhead_pct,
            Fig::JvmThreads => Some(jvm?.figures.as_ref()?.threads_live as f64),
            Fig::JvmBlocked => self.blocked.get(&jvm?.pid).copied(),
            Fig::JvmCpu => {
                let pid = jvm?.pid;
                c.interval_s?;
                c.processes
                    .as_ref()?
                    .top_cpu
                    .iter()
                    .find(|p| p.pid == pid)
                    .map(|p| p.cpu_pct)
            }
            Fig::LogPattern(w, p) => self.logs.get(*w)?.0.get(*p).map(|n| *n as f64),
            Fig::LogPatternTotal(w, p) => self.log_totals.get(*w)?.get(*p).map(|n| *n as f64),
            Fig::LogLines(w) => self.logs.get(*w).map(|l| l.1 as f64),
            Fig::LogSilence(w) => self.logs.get(*w).map(|l| l.2),
            Fig::LogSilent(w) => self.logs.get(*w)?.3.map(|b| if b { 1.0 } else { 0.0 }),
            Fig::CheckUp(i) => self.checks.get(*i)?.up.map(|b| if b { 1.0 } else { 0.0 }),
            Fig::CheckLatency(i) => self.checks.get(*i)?.latency,
            Fig::CheckStatus(i) => self.checks.get(*i)?.status.map(f64::from),
            // Event fields are the event's, not the collection's: `rules` reads them from the event.
            Fig::Event(_) => None,
            Fig::App(a) => app_value(*a, c, jvm?),
        }
    }
}

/// A request figure of one JVM: its first access log that times requests (server.xml order; two valves log
/// the same requests, so they are not added up), else its first log; a configured log counts for the JVMs of
/// its app. None before two readings.
pub fn app_value(f: AppFig, c: &Collection, jvm: &Jvm) -> Option<f64> {
    let mine = |a: &&crate::model::access::AppRequests| {
        a.pid == Some(jvm.pid) || (a.pid.is_none() && !jvm.app.is_empty() && a.app == jvm.app)
    };
    let log = c
        .access
        .iter()
        .filter(mine)
        .find(|a| a.duration.is_some())
        .or_else(|| c.access.iter().find(mine))?;
    let i = log.interval.as_ref()?;
    match f {
        AppFig::Tps => Some(i.tps),
        AppFig::P95Ms => i.p95_ms,
        AppFig::ErrorPct => i.error_pct,
        AppFig::TpsShare => i.tps_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::{ByteSize, Interval, Pattern};
    use std::io::Write;
    use std::time::Duration;

    /// A real watch thread on a real file: a pattern figure counts the lines since the previous collection,
    /// silence grows without alive lines.
    #[test]
    fn log_figures_are_per_collection_and_silence_counts() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.log");
        std::fs::write(&p, "").unwrap();
        let cfg = LogWatchConfig {
            name: "x".into(),
            path: p.clone(),
            patterns: [("oom".to_string(), Pattern::new("OutOfMemory").unwrap())].into(),
            alive: Some(Pattern::new("INFO").unwrap()),
            silence: Some(Interval::millis(300)),
            poll: Interval::millis(20),
            max_read: ByteSize(1 << 20),
            keep_lines: 5,
        };
        let logs = LogWatches::start(std::slice::from_ref(&cfg)).unwrap();
        let cat = Catalogue {
            logs: std::slice::from_ref(&cfg),
            checks: &[],
        };
        let oom = cat.resolve("log.x.oom", None).unwrap();
        let silent = cat.resolve("log.x.silent", None).unwrap();
        let total = cat.resolve("log.x.oom.total", None).unwrap();
        assert!(cat.resolve("log.x.nope.total", None).is_err());
        let mut s = Sources::new(logs.clone(), Checks::default(), BlockedThreads::default());
        let c = Collection::default();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(s.view().value(&oom, &c, None), Some(0.0));
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"INFO a\nOutOfMemoryError 1\nOutOfMemoryError 2\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let v = s.view();
        assert_eq!(v.value(&oom, &c, None), Some(2.0));
        assert_eq!(v.value(&silent, &c, None), Some(0.0));
        let v = s.view();
        assert_eq!(v.value(&oom, &c, None), Some(0.0), "counted once");
        assert_eq!(v.value(&total, &c, None), Some(2.0), "totals stay");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(s.view().value(&silent, &c, None), Some(1.0));
        assert_eq!(logs.recent(0).len(), 2);
        logs.stop();
    }

    #[test]
    fn blocked_threads_come_from_the_latest_dump() {
        let cat = Catalogue {
            logs: &[],
            checks: &[],
        };
        let f = cat.resolve("jvm.blocked_threads", None).unwrap();
        let j = Jvm {
            pid: 999_999_001,
            ..Default::default()
        };
        let c = Collection::default();
        assert_eq!(View::default().value(&f, &c, Some(&j)), None);
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dumps/jdk17-jstack-l.txt"),
        )
        .unwrap();
        let dump = crate::jvm::dump::parse(&text);
        let want = dump.threads.iter().filter(|t| t.state == "BLOCKED").count() as f64;
        assert!(want >= 2.0);
        let blocked = BlockedThreads::default();
        blocked.note(j.pid, &dump);
        let mut s = Sources::new(LogWatches::default(), Checks::default(), blocked);
        assert_eq!(s.view().value(&f, &c, Some(&j)), Some(want));
        assert!(cat.resolve("jvm.blocked_threads", Some("1")).is_err());
        assert!(cat.resolve("host.close_wait", Some("x")).is_err());
        assert_eq!(
            cat.resolve("host.close_wait", Some("8080")).unwrap(),
            Fig::Tcp("CLOSE-WAIT", Some(8080))
        );
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    /// Every documented host figure resolves and has a value in a real collection of this host (a disk
    /// figure only when the host has disks), and the values are what the model says.
    #[test]
    fn every_host_figure_has_a_value_on_this_host() {
        let cfg = crate::config::Config::default();
        let mut col = crate::collect::Collector::new(&cfg);
        let _ = col.collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let c = col.collect();
        let cat = Catalogue {
            logs: &[],
            checks: &[],
        };
        let v = View::default();
        for (name, _) in NAMES.iter().filter(|(n, _)| n.starts_with("host.")) {
            let f = cat.resolve(name, None).unwrap();
            let x = v.value(&f, &c, None);
            if *name == "host.disk_util_max_pct" && c.disks.is_empty() {
                continue;
            }
            let x = x.unwrap_or_else(|| panic!("{name} has no value"));
            assert!(x.is_finite() && x >= 0.0, "{name} = {x}");
        }
        let m = c.memory.as_ref().unwrap();
        let avail = v.value(&Fig::MemAvailablePct, &c, None).unwrap();
        assert!((avail - m.available as f64 * 100.0 / m.total as f64).abs() < 1e-9);
        let busy = v.value(&Fig::CpuBusy, &c, None).unwrap();
        assert!((0.0..=100.0 + 1e-9).contains(&busy), "{busy}");
    }
}

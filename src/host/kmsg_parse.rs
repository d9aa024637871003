//! Parses /dev/kmsg records into events: OOM kills (the formats of 3.10 to 6.x), hung tasks, segfaults and
//! other fatal traps, block I/O errors, ext4/xfs errors, NIC link changes, soft lockups. Pure: bytes in,
//! events out; never panics on any input (property-tested). Text after the first `;` is what the kernel
//! printed, with non-printable bytes already escaped by the kernel as `\xNN`.

use crate::model::event::{Event, EventKind};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// One record: `prio,seq,usec,flags[,...];text` then optional ` KEY=value` dictionary lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub facility: u32,
    pub level: u8,
    pub seq: u64,
    /// Microseconds since boot (the kernel's monotonic printk clock).
    pub usec: u64,
    pub text: String,
}

/// A record, or `None` for anything that is not one (a record is at most a few KiB; longer input is cut).
pub fn parse_record(b: &[u8]) -> Option<Record> {
    let b = &b[..b.len().min(16 * 1024)];
    let semi = b.iter().position(|&c| c == b';')?;
    let head = std::str::from_utf8(&b[..semi]).ok()?;
    let mut f = head.split(',');
    let pri: u32 = f.next()?.parse().ok()?;
    let seq: u64 = f.next()?.parse().ok()?;
    let usec: u64 = f.next()?.parse().ok()?;
    let body = &b[semi + 1..];
    let line = body.split(|&c| c == b'\n').next().unwrap_or_default();
    Some(Record {
        facility: pri >> 3,
        level: (pri & 7) as u8,
        seq,
        usec,
        text: String::from_utf8_lossy(line).into_owned(),
    })
}

fn re(s: &str) -> Regex {
    Regex::new(s).expect("a fixed pattern")
}

static OOM_CTX: LazyLock<Regex> = LazyLock::new(|| re(r"^oom-kill:(.*)$"));
static TASK_IN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^Task in (\S+) killed as a result of limit of (\S+)"));
static KILLED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(Memory cgroup out of memory|Out of memory(?: \(oom_kill_allocating_task\))?): )?Killed process (\d+) \((.*)\)(.*)$",
    )
});
static FIGURE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(total-vm|anon-rss|file-rss|shmem-rss|pgtables|UID|oom_score_adj)[: ](-?\d+)")
});
static HUNG: LazyLock<Regex> =
    LazyLock::new(|| re(r"^INFO: task (.+):(\d+) blocked for more than (\d+) seconds"));
static SEGV: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(.{1,64}?)\[(\d+)\]: segfault at ([0-9a-fA-F]+) ip ([0-9a-fA-F]+) sp [0-9a-fA-F]+ error (\d+)(?: in (\S+?)\[)?",
    )
});
static TRAP: LazyLock<Regex> = LazyLock::new(|| re(r"^traps: (.{1,64}?)\[(\d+)\] (.+?) ip"));
static IOERR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|: )(?:(?:critical medium|critical target|critical space allocation|critical nexus|timeout|recoverable transport) error|I/O error), dev ([A-Za-z0-9_.\-]+),? sector (\d+)",
    )
});
static BUFIO: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^Buffer I/O error on dev(?:ice)? ([A-Za-z0-9_.\-]+), logical block (\d+)")
});
static EXT4: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^EXT4-fs (?:error|warning) \(device ([^)]{1,64})\): (.*)$|^EXT4-fs \(([^)]{1,64})\): (.*(?:[Rr]emounting filesystem read-only|error|[Cc]orrupt).*)$",
    )
});
static XFS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^XFS \(([^)]{1,64})\): (.*(?:[Cc]orrupt|[Ee]rror|[Ss]hut ?down|Shutting down).*)$")
});
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:^|\s)([A-Za-z0-9_.\-@]{1,32}):? (?:NIC )?[Ll]ink is ([Uu]p|[Dd]own)\b")
});
static BOND: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(\S+): (?:\(slave (\S+)\): )?link status definitely (up|down)(?: for interface (\S+?),?(?:\s|$))?",
    )
});
static SOFT: LazyLock<Regex> =
    LazyLock::new(|| re(r"soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.+):(\d+)\]"));

/// The kernel's context lines that come before an OOM kill's "Killed process" line.
#[derive(Debug, Default)]
struct OomContext {
    /// `oom-kill:` key=value pairs (4.19+ and RHEL 8's backport).
    kv: BTreeMap<String, String>,
    /// "Task in X killed as a result of limit of Y" (3.10 to 4.18): (task memcg, limiting memcg).
    task_in: Option<(String, String)>,
    /// "Memory cgroup out of memory: Kill process": the decision came from a memory cgroup's limit.
    memcg: bool,
}

/// Turns records into events, keeping the OOM report's context between its lines.
#[derive(Debug, Default)]
pub struct Parser {
    oom: OomContext,
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Parser {
    /// The event a record completes, if any. `boot_ms` is the wall-clock time of the kernel's clock zero.
    pub fn feed(&mut self, r: &Record, boot_ms: i64) -> Option<Event> {
        // Only the kernel's own lines: user space (facility 1+) may write to /dev/kmsg and could forge them.
        if r.facility != 0 {
            return None;
        }
        let ts = boot_ms.saturating_add((r.usec / 1000).min(i64::MAX as u64) as i64);
        let mut e = self.classify(&r.text, ts)?;
        e.seq = Some(r.seq);
        e.fields.insert("kernel_us".into(), r.usec.to_string());
        Some(e)
    }

    fn classify(&mut self, t: &str, ts: i64) -> Option<Event> {
        let ev = |kind, msg: &str| Event::new(kind, "kmsg", ts, clip(msg, 512));
        if let Some(c) = OOM_CTX.captures(t) {
            self.oom.kv = c[1]
                .split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (clip(k, 32), clip(v, 256)))
                .take(16)
                .collect();
            return None;
        }
        if let Some(c) = TASK_IN.captures(t) {
            self.oom.task_in = Some((clip(&c[1], 256), clip(&c[2], 256)));
            return None;
        }
        if t.starts_with("Memory cgroup out of memory: Kill process") {
            self.oom.memcg = true;
            return None;
        }
        if let Some(c) = KILLED.captures(t) {
            let ctx = std::mem::take(&mut self.oom);
            return Some(oom_kill(&c, ctx, ev(EventKind::OomKill, "")));
        }
        if let Some(c) = HUNG.captures(t) {
            let msg = format!("task {}:{} blocked for more than {} s", &c[1], &c[2], &c[3]);
            let mut e = ev(EventKind::HungTask, &msg);
            e.comm = Some(clip(&c[1], 64));
            e.pid = c[2].parse().ok();
            e.fields.insert("blocked_s".into(), c[3].to_string());
            return Some(e);
        }
        if let Some(c) = SEGV.captures(t) {
            let mut e = ev(EventKind::Segfault, t);
            e.comm = Some(clip(&c[1], 64));
            e.pid = c[2].parse().ok();
            e.fields.insert("address".into(), clip(&c[3], 32));
            e.fields.insert("ip".into(), clip(&c[4], 32));
            e.fields.insert("error".into(), clip(&c[5], 8));
            if let Some(m) = c.get(6) {
                e.fields.insert("object".into(), clip(m.as_str(), 256));
            }
            return Some(e);
        }
        if let Some(c) = TRAP.captures(t) {
            let mut e = ev(EventKind::FatalSignal, t);
            e.comm = Some(clip(&c[1], 64));
            e.pid = c[2].parse().ok();
            e.fields.insert("trap".into(), clip(&c[3], 64));
            return Some(e);
        }
        if let Some(c) = IOERR.captures(t) {
            let mut e = ev(EventKind::IoError, t);
            e.device = Some(c[1].to_string());
            e.fields.insert("sector".into(), clip(&c[2], 24));
            return Some(e);
        }
        if let Some(c) = BUFIO.captures(t) {
            let mut e = ev(EventKind::IoError, t);
            e.device = Some(c[1].to_string());
            e.fields.insert("block".into(), clip(&c[2], 24));
            return Some(e);
        }
        if let Some(c) = EXT4.captures(t) {
            let dev = c.get(1).or(c.get(3)).map_or("", |m| m.as_str());
            let mut e = ev(EventKind::FsError, t);
            e.device = Some(dev.to_string());
            e.fields.insert("fs".into(), "ext4".into());
            return Some(e);
        }
        if let Some(c) = XFS.captures(t) {
            let mut e = ev(EventKind::FsError, t);
            e.device = Some(c[1].to_string());
            e.fields.insert("fs".into(), "xfs".into());
            return Some(e);
        }
        if let Some(c) = BOND.captures(t) {
            let kind = if &c[3] == "up" {
                EventKind::LinkUp
            } else {
                EventKind::LinkDown
            };
            let iface = c.get(2).or(c.get(4)).map_or(&c[1], |m| m.as_str());
            let mut e = ev(kind, t);
            e.device = Some(clip(iface, 64));
            e.fields.insert("bond".into(), clip(&c[1], 64));
            return Some(e);
        }
        if let Some(c) = LINK.captures(t) {
            let kind = if c[2].eq_ignore_ascii_case("up") {
                EventKind::LinkUp
            } else {
                EventKind::LinkDown
            };
            let mut e = ev(kind, t);
            e.device = Some(c[1].to_string());
            return Some(e);
        }
        if let Some(c) = SOFT.captures(t) {
            let msg = format!(
                "soft lockup: CPU#{} stuck for {} s in {}:{}",
                &c[1], &c[2], &c[3], &c[4]
            );
            let mut e = ev(EventKind::SoftLockup, &msg);
            e.comm = Some(clip(&c[3], 64));
            e.pid = c[4].parse().ok();
            e.fields.insert("cpu".into(), clip(&c[1], 8));
            e.fields.insert("stuck_s".into(), clip(&c[2], 12));
            return Some(e);
        }
        None
    }
}

/// The "Killed process" line with the context lines before it.
fn oom_kill(c: &regex::Captures<'_>, ctx: OomContext, mut e: Event) -> Event {
    let pid: Option<u32> = c[2].parse().ok();
    let comm = clip(&c[3], 64);
    for f in FIGURE.captures_iter(&c[4]) {
        let key = match &f[1] {
            "total-vm" => "total_vm_kb",
            "anon-rss" => "anon_rss_kb",
            "file-rss" => "file_rss_kb",
            "shmem-rss" => "shmem_rss_kb",
            "pgtables" => "pgtables_kb",
            "UID" => "uid",
            _ => "oom_score_adj",
        };
        e.fields.insert(key.into(), clip(&f[2], 24));
    }
    let memcg = c.get(1).is_some_and(|m| m.as_str().starts_with("Memory"))
        || ctx.memcg
        || ctx
            .kv
            .get("constraint")
            .is_some_and(|v| v == "CONSTRAINT_MEMCG");
    let cgroup = ctx
        .kv
        .get("task_memcg")
        .cloned()
        .or_else(|| ctx.task_in.as_ref().map(|t| t.0.clone()));
    if let Some(l) = ctx
        .kv
        .get("oom_memcg")
        .cloned()
        .or_else(|| ctx.task_in.map(|t| t.1))
    {
        e.fields.insert("limit_cgroup".into(), l);
    }
    if let Some(c) = ctx.kv.get("constraint") {
        e.fields.insert("constraint".into(), c.clone());
    }
    let rss = e.fields.get("anon_rss_kb").cloned();
    e.message = format!(
        "kernel OOM killer killed {comm} (pid {}){}{}{}",
        pid.map_or("?".into(), |p| p.to_string()),
        cgroup
            .as_ref()
            .map(|g| format!(" in cgroup {g}"))
            .unwrap_or_default(),
        if memcg {
            ": its memory cgroup's limit was reached"
        } else {
            ": the host ran out of memory"
        },
        rss.map(|r| format!(", anon-rss {r} kB"))
            .unwrap_or_default()
    );
    e.pid = pid;
    e.comm = Some(comm);
    e.cgroup = cgroup;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(lines: &[&str]) -> Vec<Event> {
        let mut p = Parser::default();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let rec = format!("3,{i},{},-;{l}\n", 1_000_000 + i);
            if let Some(e) = p.feed(&parse_record(rec.as_bytes()).unwrap(), 0) {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn record_header_and_dictionary() {
        let r =
            parse_record(b"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n")
                .unwrap();
        assert_eq!((r.facility, r.level, r.seq, r.usec), (0, 6, 339, 5140900));
        assert_eq!(r.text, "NET: Registered protocol family 10");
        assert!(parse_record(b"no header").is_none());
    }

    #[test]
    fn user_space_lines_are_not_kernel_events() {
        let mut p = Parser::default();
        let r = parse_record(b"14,1,1,-;Out of memory: Killed process 1 (init) total-vm:1kB\n")
            .unwrap();
        assert!(p.feed(&r, 0).is_none());
    }

    #[test]
    fn oom_context_gives_the_cgroup() {
        let e = run(&[
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/shop,task_memcg=/shop/app,task=java,pid=77,uid=0",
            "Memory cgroup out of memory: Killed process 77 (java) total-vm:100kB, anon-rss:65000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:10kB oom_score_adj:0",
        ]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pid, Some(77));
        assert_eq!(e[0].cgroup.as_deref(), Some("/shop/app"));
        assert_eq!(e[0].fields["anon_rss_kb"], "65000");
        assert_eq!(e[0].timestamp_ms, 1000);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut p = Parser::default();
            if let Some(r) = parse_record(&b) { let _ = p.feed(&r, i64::MAX); }
        }

        #[test]
        fn any_text_after_a_header_never_panics(t in ".{0,300}", seq in any::<u64>(), us in any::<u64>()) {
            let mut p = Parser::default();
            let rec = format!("0,{seq},{us},-;{t}");
            if let Some(r) = parse_record(rec.as_bytes()) { let _ = p.feed(&r, i64::MIN); let _ = p.feed(&r, 0); }
        }
    }
}

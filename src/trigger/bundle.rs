//! Writing one snapshot: a thread dump or a histogram of the selected JVMs, or an incident bundle (dumps apart
//! in time, CPU per thread, a class histogram, the JVM's sockets and open files, its process and thread
//! figures, the host figures of the moment, the reason and its context lines, and the analysis report first).
//! Built under a temporary name, every file fsynced, then renamed into place: a bundle is whole or absent.

use super::SnapshotConfig;
use super::documents;
use super::snapshot::{Kind, Request, Select};
use crate::collect::{Latest, LatestCollection};
use crate::host::{Roots, pidinfo};
use crate::jvm::dump as threaddump;
use crate::jvm::{JvmConfig, analysis, attach, discover, histogram};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Free space a snapshot requires on its file system.
const MIN_FREE: u64 = 256 << 20;
/// Hottest threads shown with their stacks in the report.
const HOT_IN_REPORT: usize = 5;

pub struct Job<'a> {
    pub req: &'a Request,
    pub cfg: &'a SnapshotConfig,
    pub jvm: &'a JvmConfig,
    pub roots: &'a Roots,
    pub dir: &'a Path,
    /// The daemon's newest collection: read when the snapshot starts (the moment) and again when it ends.
    pub latest: &'a Latest,
}

fn newest(l: &Latest) -> Option<std::sync::Arc<LatestCollection>> {
    l.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[derive(Debug)]
pub struct Written {
    pub id: String,
    pub path: PathBuf,
    /// "pid (app)" of each JVM in it.
    pub jvms: Vec<String>,
    pub errors: Vec<String>,
    /// What the document sinks get (`documents`), not yet fitted to their size bound.
    pub documents: Vec<crate::model::Document>,
}

#[derive(Debug, Serialize)]
struct FileEntry {
    file: String,
    what: String,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
}

#[derive(Debug, Default, Serialize)]
pub struct JvmEntry {
    pub pid: u32,
    pub app: String,
    pub user: String,
    pub main: String,
    pub verdict: Vec<String>,
    pub errors: Vec<String>,
}

/// What `manifest.json` holds.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    id: &'a str,
    kind: &'static str,
    timestamp_ms: i64,
    time: String,
    reason: &'a super::snapshot::Reason,
    reason_text: String,
    select: String,
    context_lines: usize,
    jvms: &'a [JvmEntry],
    files: &'a [FileEntry],
    bytes: u64,
}

/// The directory being built: every file is written, fsynced and listed for the manifest.
struct Building {
    tmp: PathBuf,
    files: Vec<FileEntry>,
}

impl Building {
    fn put(
        &mut self,
        name: &str,
        what: &str,
        pid: Option<u32>,
        data: &[u8],
    ) -> std::io::Result<()> {
        let mut f = std::fs::File::create(self.tmp.join(name))?;
        f.write_all(data)?;
        f.sync_all()?;
        self.files.push(FileEntry {
            file: name.to_string(),
            what: what.to_string(),
            bytes: data.len() as u64,
            pid,
        });
        Ok(())
    }
}

/// A bundle's id and directory name: UTC time to the millisecond, then the kind; sorts by time.
pub fn id_of(ms: i64, kind: Kind) -> String {
    let t = utc(ms);
    // "2026-11-24T19:05:12.345Z" -> "20261124-190512-345"
    let compact: String = t
        .trim_end_matches('Z')
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T' || *c == '.')
        .map(|c| if c == 'T' || c == '.' { '-' } else { c })
        .collect();
    format!("{compact}-{}", kind.as_str())
}

/// RFC 3339 UTC with milliseconds, from milliseconds since the epoch.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn selected(job: &Job) -> anyhow::Result<Vec<discover::JvmProcess>> {
    match &job.req.select {
        Select::All => Ok(discover::discover(job.roots, job.jvm)),
        Select::Pid(p) => Ok(vec![discover::find_with(job.roots, *p, job.jvm)?]),
        Select::App(_) | Select::Apps(_) => {
            let want: &[String] = match &job.req.select {
                Select::App(a) => std::slice::from_ref(a),
                Select::Apps(v) => v,
                _ => &[],
            };
            let all = discover::discover(job.roots, job.jvm);
            let names: Vec<String> = all.iter().map(|j| j.app.clone()).collect();
            let v: Vec<_> = all.into_iter().filter(|j| want.contains(&j.app)).collect();
            anyhow::ensure!(
                !v.is_empty(),
                "no JVM is named {} (names now: {})",
                want.iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(" or "),
                if names.is_empty() {
                    "none, no JVM running".to_string()
                } else {
                    names.join(", ")
                }
            );
            Ok(v)
        }
    }
}

/// Takes the snapshot the request asks for and writes it atomically under `job.dir`.
pub fn take(job: &Job) -> anyhow::Result<Written> {
    let stamp = crate::collect::now_ms();
    let kind = job.req.kind;
    let id = id_of(stamp, kind);
    let dir = job.dir;
    // Dumps hold command lines, system properties and stack contents: root and the agent's user only.
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    // Never fill the disk of the host we watch: a bundle needs a few MB, keep a wide margin.
    let st = nix::sys::statvfs::statvfs(dir)?;
    #[allow(clippy::unnecessary_cast)]
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    anyhow::ensure!(
        free >= MIN_FREE,
        "{}: only {} MB free, {} MB required; snapshot not taken",
        dir.display(),
        free >> 20,
        MIN_FREE >> 20
    );
    let jvms = selected(job)?;
    // A bundle without JVMs still holds the host figures; a dump or histogram of nothing is not written.
    anyhow::ensure!(
        !jvms.is_empty() || kind == Kind::Bundle,
        "no JVM is running (wasp jvm list); nothing to {}",
        kind.as_str()
    );
    let tmp = dir.join(format!(".{id}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let mut b = Building {
        tmp: tmp.clone(),
        files: Vec::new(),
    };
    let host = newest(job.latest);
    let result = build(job, &jvms, &mut b, stamp, &id, host.as_deref());
    let (entries, got) = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    std::fs::File::open(&tmp)?.sync_all()?;
    let done = dir.join(&id);
    std::fs::rename(&tmp, &done)?;
    std::fs::File::open(dir)?.sync_all()?;
    let origin = documents::Source {
        id: &id,
        path: &done,
        kind,
        reason: &job.req.reason,
        timestamp_ms: stamp,
    };
    let mut docs = Vec::new();
    for (e, g) in entries.iter().zip(&got) {
        if let Some(r) = &g.report {
            docs.push(documents::thread_dump(&origin, e, &g.dumps, r));
        }
        if let Some(h) = &g.histogram {
            docs.push(documents::class_histogram(&origin, e, h));
        }
    }
    if kind == Kind::Bundle {
        let jvms: Vec<_> = entries
            .iter()
            .zip(&got)
            .map(|(e, g)| (e, g.report.as_ref()))
            .collect();
        let bytes = b.files.iter().map(|f| f.bytes).sum();
        docs.push(documents::incident(
            &origin,
            job.req,
            &jvms,
            host.as_deref(),
            b.files.len(),
            bytes,
        ));
    }
    Ok(Written {
        documents: docs,
        id,
        path: done,
        jvms: entries
            .iter()
            .map(|j| format!("{} ({})", j.pid, j.app))
            .collect(),
        errors: entries
            .iter()
            .flat_map(|j| j.errors.iter().map(move |e| format!("{}: {e}", j.pid)))
            .collect(),
    })
}

/// What one JVM gave, for the report.
#[derive(Default)]
struct Gathered {
    dumps: Vec<threaddump::ThreadDump>,
    cpu: Option<analysis::ThreadCpu>,
    report: Option<analysis::Report>,
    histogram: Option<histogram::Histogram>,
    netstat: Option<pidinfo::Netstat>,
    files: Option<pidinfo::OpenFiles>,
    process: Option<pidinfo::ProcessFigures>,
}

fn build(
    job: &Job,
    jvms: &[discover::JvmProcess],
    b: &mut Building,
    stamp: i64,
    id: &str,
    host: Option<&LatestCollection>,
) -> anyhow::Result<(Vec<JvmEntry>, Vec<Gathered>)> {
    let (req, cfg) = (job.req, job.cfg);
    let opts = attach::AttachOptions {
        timeout: cfg.timeout.0,
        proc_root: job.roots.proc.clone(),
        fallback: job.jvm.fallback(),
    };
    let bundle = req.kind == Kind::Bundle;
    let mut entries: Vec<JvmEntry> = jvms
        .iter()
        .map(|j| JvmEntry {
            pid: j.pid,
            app: j.app.clone(),
            user: j.user.clone(),
            main: j.main.clone(),
            ..Default::default()
        })
        .collect();
    let mut got: Vec<Gathered> = jvms.iter().map(|_| Gathered::default()).collect();
    let prefix = |j: &discover::JvmProcess| format!("{}-{}", j.pid, safe(&j.app));
    if req.kind != Kind::Histo {
        let rounds = if bundle { cfg.bundle_dumps.max(1) } else { 1 };
        for round in 0..rounds {
            if round > 0 {
                std::thread::sleep(cfg.bundle_every.0);
            }
            for (i, j) in jvms.iter().enumerate() {
                if bundle && round + 1 == rounds {
                    // CPU per thread just before the last dump: top -H and jstack of one moment.
                    got[i].cpu = pidinfo::sample_thread_cpu(
                        &job.roots.proc,
                        j.pid,
                        Duration::from_millis(500),
                    )
                    .ok();
                }
                match attach::thread_dump(j.pid, &opts) {
                    Ok(text) => {
                        let f = format!("{}-threads-{}.txt", prefix(j), round + 1);
                        b.put(&f, "thread dump", Some(j.pid), text.as_bytes())?;
                        got[i].dumps.push(threaddump::parse(&text));
                        // Rules read the BLOCKED threads of the latest dump (jvm.blocked_threads).
                        if let Some(d) = got[i].dumps.last() {
                            super::figures::note_dump(j.pid, d);
                        }
                    }
                    Err(e) => entries[i]
                        .errors
                        .push(format!("thread dump {}: {e}", round + 1)),
                }
            }
        }
    }
    if req.kind == Kind::Histo || bundle {
        for (i, j) in jvms.iter().enumerate() {
            match attach::class_histogram(j.pid, false, &opts) {
                Ok(h) => {
                    b.put(
                        &format!("{}-histogram.txt", prefix(j)),
                        "class histogram",
                        Some(j.pid),
                        h.as_bytes(),
                    )?;
                    got[i].histogram = Some(histogram::parse(&h));
                }
                Err(e) => entries[i].errors.push(format!("class histogram: {e}")),
            }
        }
    }
    for (i, j) in jvms.iter().enumerate() {
        let g = &mut got[i];
        if !g.dumps.is_empty() {
            let limits = crate::jvm::tomcat::pool_limits(&job.roots.proc, j.pid, &j.cmdline);
            let r = analysis::analyze_with(&g.dumps, g.cpu.as_ref(), &limits);
            entries[i].verdict = r.verdict.clone();
            b.put(
                &format!("{}-report.txt", prefix(j)),
                "analysis of the thread dumps",
                Some(j.pid),
                r.to_text().as_bytes(),
            )?;
            g.report = Some(r);
        }
        if !bundle {
            continue;
        }
        let proc_root = &job.roots.proc;
        match pidinfo::netstat(proc_root, j.pid) {
            Ok(n) => {
                b.put(
                    &format!("{}-netstat.txt", prefix(j)),
                    "TCP sockets by state and peer",
                    Some(j.pid),
                    n.to_text().as_bytes(),
                )?;
                g.netstat = Some(n);
            }
            Err(e) => entries[i].errors.push(format!("sockets: {e:#}")),
        }
        match pidinfo::open_files(proc_root, j.pid) {
            Ok(o) => {
                b.put(
                    &format!("{}-files.txt", prefix(j)),
                    "open files by type",
                    Some(j.pid),
                    o.to_text().as_bytes(),
                )?;
                g.files = Some(o);
            }
            Err(e) => entries[i].errors.push(format!("open files: {e:#}")),
        }
        match pidinfo::process_figures(proc_root, j.pid, g.cpu.as_ref().map(|c| &c.by_nid)) {
            Ok(p) => {
                b.put(
                    &format!("{}-process.txt", prefix(j)),
                    "process status and per-thread CPU",
                    Some(j.pid),
                    p.to_text().as_bytes(),
                )?;
                g.process = Some(p);
            }
            Err(e) => entries[i].errors.push(format!("process figures: {e:#}")),
        }
        let figures = serde_json::json!({
            "pid": j.pid,
            "netstat": g.netstat,
            "open_files": g.files,
            "process": g.process,
            "analysis": g.report,
        });
        b.put(
            &format!("{}-figures.json", prefix(j)),
            "the figures above as JSON",
            Some(j.pid),
            serde_json::to_string_pretty(&figures)?.as_bytes(),
        )?;
    }
    // The host around the moment: the collection before the snapshot began, and the newest one after it
    // (a bundle takes longer than an interval).
    let after = newest(job.latest)
        .filter(|a| host.is_none_or(|h| a.collection.timestamp_ms != h.collection.timestamp_ms));
    let mut hosts: Vec<(&str, &LatestCollection)> = Vec::new();
    if bundle {
        hosts.extend(host.map(|h| ("host", h)));
        hosts.extend(after.as_deref().map(|h| ("host-after", h)));
    }
    for (name, h) in &hosts {
        let when = if *name == "host" { "before" } else { "after" };
        b.put(
            &format!("{name}.txt"),
            &format!("host figures of the collection {when} the snapshot"),
            None,
            crate::present::table::render(&h.collection).as_bytes(),
        )?;
        b.put(
            &format!("{name}.json"),
            &format!("host figures of the collection {when} the snapshot (JSON)"),
            None,
            crate::present::json::to_string_pretty(&h.collection).as_bytes(),
        )?;
    }
    if !req.context.is_empty() {
        let mut t = req.context.join("\n");
        t.push('\n');
        b.put(
            "context.txt",
            "context lines of the trigger",
            None,
            t.as_bytes(),
        )?;
    }
    // The report is written last (it lists the files) but is the first file named in the manifest.
    let report = report_text(job, id, stamp, &entries, &got, &hosts, &b.files);
    b.put(
        "report.txt",
        "the report: verdict first",
        None,
        report.as_bytes(),
    )?;
    if let Some(last) = b.files.pop() {
        b.files.insert(0, last);
    }
    let bytes: u64 = b.files.iter().map(|f| f.bytes).sum();
    let m = Manifest {
        id,
        kind: req.kind.as_str(),
        timestamp_ms: stamp,
        time: utc(stamp),
        reason: &req.reason,
        reason_text: req.reason.to_string(),
        select: req.select.to_string(),
        context_lines: req.context.len(),
        jvms: &entries,
        files: &b.files,
        bytes,
    };
    let text = serde_json::to_string_pretty(&m)?;
    b.put("manifest.json", "this list", None, text.as_bytes())?;
    Ok((entries, got))
}

/// "R 1, S 39".
pub fn counts<K: std::fmt::Display, V: std::fmt::Display>(
    it: impl Iterator<Item = (K, V)>,
) -> String {
    let v: Vec<String> = it.map(|(k, n)| format!("{k} {n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn kb_field(p: &pidinfo::ProcessFigures, k: &str) -> String {
    p.status_field(k)
        .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kb| format!("{:.0} MB", kb as f64 / 1024.0))
        .unwrap_or("?".into())
}

fn report_text(
    job: &Job,
    id: &str,
    stamp: i64,
    entries: &[JvmEntry],
    got: &[Gathered],
    hosts: &[(&str, &LatestCollection)],
    files: &[FileEntry],
) -> String {
    let req = job.req;
    let mut s = String::new();
    let _ = writeln!(s, "wasp {} {id}", req.kind.as_str());
    let _ = writeln!(s, "time:   {}", utc(stamp));
    let _ = writeln!(s, "reason: {}", req.reason);
    let _ = writeln!(
        s,
        "JVMs:   {} ({})",
        if entries.is_empty() {
            "none found".to_string()
        } else {
            entries
                .iter()
                .map(|e| format!("{} {}", e.pid, e.app))
                .collect::<Vec<_>>()
                .join(", ")
        },
        req.select
    );
    for (i, e) in entries.iter().enumerate() {
        let g = &got[i];
        let _ = writeln!(
            s,
            "\n== JVM {} \"{}\" (user {}, {}) ==",
            e.pid, e.app, e.user, e.main
        );
        for v in &e.verdict {
            let _ = writeln!(s, "* {v}");
        }
        for err in &e.errors {
            let _ = writeln!(s, "! {err}");
        }
        if let Some(p) = &g.process {
            let _ = writeln!(
                s,
                "process: {} threads ({}), RSS {}, swapped {}",
                p.threads.len(),
                counts(p.thread_states.iter()),
                kb_field(p, "VmRSS"),
                kb_field(p, "VmSwap")
            );
        }
        if let Some(o) = &g.files {
            let _ = writeln!(
                s,
                "open files: {}{} (sockets {}, pipes {}, files {}, jars {}, deleted {})",
                o.total,
                o.limit.map(|l| format!(" of {l}")).unwrap_or_default(),
                o.sockets,
                o.pipes,
                o.regular,
                o.jars.len(),
                o.deleted.len()
            );
        }
        if let Some(n) = &g.netstat {
            let _ = writeln!(s, "TCP: {}", counts(n.by_state.iter()));
            for p in n.by_peer.iter().take(5) {
                let _ = writeln!(s, "  {:6} {:12} {}", p.count, p.state, p.peer);
            }
        }
        if let Some(r) = &g.report {
            if !r.hot.is_empty() {
                let _ = writeln!(s, "\nhottest threads:");
            }
            for h in r.hot.iter().take(HOT_IN_REPORT) {
                let _ = writeln!(
                    s,
                    "  {:.1}% \"{}\" (nid {}) {}",
                    h.cpu_pct, h.thread, h.nid, h.state
                );
                for f in &h.top_frames {
                    let _ = writeln!(s, "        at {f}");
                }
            }
            for d in &r.diagnoses {
                let _ = writeln!(s, "\n{}:", d.name);
                for ev in d.evidence.iter().take(10) {
                    let _ = writeln!(s, "  {ev}");
                }
            }
        }
    }
    for (name, h) in hosts {
        let c = &h.collection;
        let _ = writeln!(
            s,
            "\n== host at {} ({}, collection took {} ms) ==",
            utc(c.timestamp_ms),
            if *name == "host" {
                "before the snapshot"
            } else {
                "after it"
            },
            h.took.as_millis()
        );
        if let Some(cpu) = c.cpu.as_ref().and_then(|c| c.all.as_ref()) {
            let _ = writeln!(
                s,
                "cpu: %usr {:.1} %sys {:.1} %iowait {:.1} %steal {:.1} %idle {:.1}",
                cpu.usr, cpu.sys, cpu.iowait, cpu.steal, cpu.idle
            );
        }
        if let Some(l) = &c.load {
            let _ = writeln!(
                s,
                "load: {:.2} {:.2} {:.2}, run queue {}",
                l.ldavg_1, l.ldavg_5, l.ldavg_15, l.runq_sz
            );
        }
        if let Some(m) = &c.memory {
            let _ = writeln!(
                s,
                "memory: available {} MB of {} MB, swap used {} MB",
                m.available >> 20,
                m.total >> 20,
                m.swap.used >> 20
            );
        }
    }
    if !req.context.is_empty() {
        let _ = writeln!(s, "\n== context ({} lines) ==", req.context.len());
        for l in req.context.iter().take(20) {
            let _ = writeln!(s, "  | {l}");
        }
        if req.context.len() > 20 {
            let _ = writeln!(s, "  (all in context.txt)");
        }
    }
    let _ = writeln!(s, "\n== files ==");
    for f in files {
        let _ = writeln!(s, "  {:<44} {:>9}  {}", f.file, f.bytes, f.what);
    }
    s
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: usize,
    pub freed: u64,
    pub kept: usize,
}

/// Bytes under a directory (files one level down: bundles have no subdirectories).
pub fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Keeps the newest `keep` snapshots and, of those, the newest whose total stays within `max_bytes` (the
/// newest is always kept). Left-over partial directories (a crash while building) are removed too: the
/// single worker calls this between snapshots, so none is being built.
pub fn prune(dir: &Path, keep: usize, max_bytes: u64) -> Pruned {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Pruned::default();
    };
    let mut all: Vec<PathBuf> = Vec::new();
    let mut out = Pruned::default();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if name.starts_with('.') {
            if name.ends_with(".partial") {
                out.freed += dir_size(&e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
            continue;
        }
        all.push(e.path());
    }
    // Newest first (names start with the time).
    all.sort_by(|a, b| b.cmp(a));
    let mut total = 0u64;
    let mut full = false;
    for (i, p) in all.into_iter().enumerate() {
        let size = dir_size(&p);
        // Once one does not fit, every older one goes too: what is kept is always the newest stretch.
        full = full || i >= keep || total + size > max_bytes;
        if i == 0 || !full {
            total += size;
            out.kept += 1;
        } else if std::fs::remove_dir_all(&p).is_ok() {
            out.removed += 1;
            out.freed += size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(
            id_of(1_795_000_000_007, Kind::Bundle),
            "20261118-110640-007-bundle"
        );
    }

    #[test]
    fn prune_by_count_and_by_size_keeps_the_newest() {
        let d = tempfile::tempdir().unwrap();
        for (i, size) in [(1, 100), (2, 100), (3, 100), (4, 100), (5, 300)] {
            let p = d.path().join(format!("2026010{i}-000000-000-dump"));
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("a.txt"), vec![b'x'; size]).unwrap();
        }
        std::fs::create_dir(d.path().join(".20260109-000000-000-dump.partial")).unwrap();
        // By count: 3 kept.
        let p = prune(d.path(), 3, u64::MAX);
        assert_eq!((p.removed, p.kept), (2, 3), "{p:?}");
        assert!(!d.path().join(".20260109-000000-000-dump.partial").exists());
        // By size: 300 + 100 fit in 450, the third (100) does not.
        let p = prune(d.path(), 10, 450);
        assert_eq!((p.removed, p.kept, p.freed), (1, 2, 100), "{p:?}");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&"20260105-000000-000-dump".to_string()));
        // The newest stays even when it alone is over the limit.
        let p = prune(d.path(), 10, 10);
        assert_eq!((p.removed, p.kept), (1, 1), "{p:?}");
    }
}

//! Writing one snapshot: a thread dump or a histogram of the selected JVMs, or an incident bundle (dumps apart
//! in time, CPU per thread, a class histogram, the JVM's sockets and open files, its process and thread
//! figures, the host figures of the moment, the reason and its context lines, and the analysis report first).
//! Built under a temporary name, every file fsynced, then renamed into place: a bundle is whole or absent.

use super::SnapshotConfig;
use super::blocked::BlockedThreads;
use super::documents;
use super::report::{Gathered, report_text};
use super::request::{Kind, Request, Select};
use super::store::{FileEntry, JvmEntry, Manifest, id_of, utc};
use crate::host::{Roots, pidinfo};
use crate::jvm::{JvmConfig, analysis, attach, discover, histogram, threaddump};
use crate::model::{Latest, LatestCollection};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Free space a snapshot requires on its file system.
const MIN_FREE: u64 = 256 << 20;

pub struct Job<'a> {
    pub req: &'a Request,
    pub cfg: &'a SnapshotConfig,
    pub jvm: &'a JvmConfig,
    pub roots: &'a Roots,
    pub dir: &'a Path,
    /// The daemon's newest collection: read when the snapshot starts (the moment) and again when it ends.
    pub latest: &'a Latest,
    /// Where the BLOCKED threads of each dump taken go (the rules read them).
    pub blocked: &'a BlockedThreads,
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
        Select::Siblings { app, of } => Ok(discover::discover(job.roots, job.jvm)
            .into_iter()
            .filter(|j| j.pid != *of && app.as_ref().is_none_or(|a| *a == j.app))
            .collect()),
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
    let stamp = crate::util::clock::now_ms();
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
        max_reply: job.jvm.max_attach_reply.0 as usize,
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
                            job.blocked.note(j.pid, d);
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
    if let Some(e) = &req.event {
        b.put(
            "event.json",
            "the event the rule fired on (kind, pid, app, the hs_err summary)",
            None,
            serde_json::to_string_pretty(e)?.as_bytes(),
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
    let report = report_text(job.req, id, stamp, &entries, &got, &hosts, &b.files);
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
        id: id.to_string(),
        kind: req.kind.as_str().to_string(),
        timestamp_ms: stamp,
        time: utc(stamp),
        reason: (&req.reason).into(),
        reason_text: req.reason.to_string(),
        select: req.select.to_string(),
        context_lines: req.context.len(),
        jvms: entries.clone(),
        files: b.files.clone(),
        bytes,
    };
    let text = serde_json::to_string_pretty(&m)?;
    b.put("manifest.json", "this list", None, text.as_bytes())?;
    Ok((entries, got))
}

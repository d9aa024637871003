//! What is kept under `data_dir/snapshots`: one directory per snapshot, named by its time and kind, with a
//! typed `manifest.json`; pruning by count and total size; listing and showing them (`wasp incidents`, no
//! agent needed), newest first, one shown with its report first, then every other file in the manifest's order.

use super::request::{Kind, Reason};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file of a snapshot, as listed in its manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileEntry {
    pub file: String,
    pub what: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// One JVM of a snapshot, as listed in its manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JvmEntry {
    pub pid: u32,
    pub app: String,
    pub user: String,
    pub main: String,
    pub verdict: Vec<String>,
    pub errors: Vec<String>,
}

/// Why a snapshot was taken, as the manifest records it (`Reason`'s serialised form, read back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReasonRecord {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

impl From<&Reason> for ReasonRecord {
    fn from(r: &Reason) -> Self {
        let named = |source: &str, name: &str| ReasonRecord {
            source: source.into(),
            name: Some(name.into()),
            uid: None,
        };
        match r {
            Reason::Signal(n) => named("signal", n),
            Reason::Cli(uid) => ReasonRecord {
                source: "cli".into(),
                name: None,
                uid: Some(*uid),
            },
            Reason::Rule(n) => named("rule", n),
            Reason::Schedule(n) => named("schedule", n),
            Reason::Console => ReasonRecord {
                source: "console".into(),
                ..Default::default()
            },
        }
    }
}

/// What `manifest.json` holds: written by the bundle, read back by `wasp incidents`. Every field defaults, so
/// a manifest from an older agent (or a damaged one) still lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    pub id: String,
    pub kind: String,
    pub timestamp_ms: i64,
    pub time: String,
    pub reason: ReasonRecord,
    pub reason_text: String,
    pub select: String,
    pub context_lines: usize,
    pub jvms: Vec<JvmEntry>,
    pub files: Vec<FileEntry>,
    pub bytes: u64,
}

/// A manifest is a small file; more than this is not one of ours.
const MAX_MANIFEST: u64 = 4 << 20;

impl Manifest {
    /// The manifest of the snapshot in `dir`; None when it is missing, a link, too large or not a manifest.
    pub fn read(dir: &Path) -> Option<Manifest> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(dir.join("manifest.json"))
            .ok()?;
        let mut text = String::new();
        f.take(MAX_MANIFEST).read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
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

pub use crate::util::clock::utc;

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

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: String,
    pub time: String,
    pub kind: String,
    pub reason: String,
    pub jvms: Vec<String>,
    pub bytes: u64,
    pub files: usize,
    pub path: PathBuf,
}

fn one(p: &Path) -> Incident {
    let id = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let m = Manifest::read(p);
    let s = |f: fn(&Manifest) -> &str| {
        m.as_ref()
            .map(f)
            .filter(|v| !v.is_empty())
            .unwrap_or("?")
            .to_string()
    };
    Incident {
        time: s(|m| &m.time),
        kind: s(|m| &m.kind),
        reason: s(|m| &m.reason_text),
        jvms: m
            .as_ref()
            .map(|m| {
                m.jvms
                    .iter()
                    .map(|j| {
                        let app = if j.app.is_empty() { "?" } else { &j.app };
                        format!("{} {app}", j.pid)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        bytes: dir_size(p),
        files: std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0),
        path: p.to_path_buf(),
        id,
    }
}

/// Every snapshot, newest first. Partial directories (being built) are not listed. No directory yet is no
/// snapshot; an unreadable one is an error that names it.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Incident>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("{}: {e}", dir.display()),
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    v.sort_by(|a, b| b.cmp(a));
    Ok(v.iter().map(|p| one(p)).collect())
}

/// The snapshot named by `id`: its full name, or a part of it that names only one.
pub fn find(dir: &Path, id: &str) -> anyhow::Result<Incident> {
    let all = list(dir)?;
    if let Some(i) = all.iter().find(|i| i.id == id) {
        return Ok(i.clone());
    }
    let hits: Vec<&Incident> = all.iter().filter(|i| i.id.contains(id)).collect();
    match hits.len() {
        1 => Ok(hits[0].clone()),
        0 => anyhow::bail!(
            "no incident \"{id}\" under {} (`wasp incidents` lists them)",
            dir.display()
        ),
        n => anyhow::bail!(
            "\"{id}\" names {n} incidents ({}...); give more of the id",
            hits.iter()
                .take(3)
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The files of a snapshot in showing order: report.txt, then the manifest's order, then anything else.
pub fn files_in_order(i: &Incident) -> Vec<String> {
    let mut order: Vec<String> = vec!["report.txt".into()];
    if let Some(m) = Manifest::read(&i.path) {
        order.extend(m.files.into_iter().map(|f| f.file));
    }
    let mut rest: Vec<String> = std::fs::read_dir(&i.path)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    rest.sort();
    order.extend(rest);
    order.push("manifest.json".into());
    let mut seen = std::collections::HashSet::new();
    order.retain(|f| i.path.join(f).is_file() && seen.insert(f.clone()));
    // The manifest last: it is the table of contents, not the evidence.
    if let Some(p) = order.iter().position(|f| f == "manifest.json") {
        let m = order.remove(p);
        order.push(m);
    }
    order
}

/// Prints the report first, then the rest, each file under a header.
pub fn show(i: &Incident, only: Option<&str>, out: &mut impl Write) -> anyhow::Result<()> {
    let files = files_in_order(i);
    if let Some(f) = only {
        anyhow::ensure!(
            files.iter().any(|x| x == f),
            "{} has no file \"{f}\" (it has: {})",
            i.id,
            files.join(", ")
        );
        out.write_all(&std::fs::read(i.path.join(f))?)?;
        return Ok(());
    }
    for (n, f) in files.iter().enumerate() {
        if n > 0 {
            writeln!(out, "\n==> {f} <==")?;
        }
        out.write_all(&std::fs::read(i.path.join(f))?)?;
    }
    Ok(())
}

/// The table of `wasp incidents`.
pub fn table(all: &[Incident]) -> String {
    let mut s = format!(
        "{:<30} {:<24} {:<7} {:>9}  {:<28} {}\n",
        "ID", "TIME", "KIND", "SIZE", "REASON", "JVMS"
    );
    for i in all {
        s.push_str(&format!(
            "{:<30} {:<24} {:<7} {:>9}  {:<28} {}\n",
            i.id,
            i.time,
            i.kind,
            human(i.bytes),
            i.reason,
            i.jvms.join(", ")
        ));
    }
    s
}

fn human(b: u64) -> String {
    if b >= 10 << 20 {
        format!("{} MB", b >> 20)
    } else if b >= 10 << 10 {
        format!("{} KB", b >> 10)
    } else {
        format!("{b} B")
    }
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

    #[test]
    fn a_manifest_reads_back_typed_and_lists() {
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("20260105-000000-000-bundle");
        std::fs::create_dir(&snap).unwrap();
        let m = Manifest {
            id: "20260105-000000-000-bundle".into(),
            kind: "bundle".into(),
            time: utc(1_767_571_200_000),
            reason: (&Reason::Cli(1000)).into(),
            reason_text: Reason::Cli(1000).to_string(),
            jvms: vec![JvmEntry {
                pid: 42,
                app: "shop".into(),
                ..Default::default()
            }],
            files: vec![FileEntry {
                file: "b.txt".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = serde_json::to_string_pretty(&m).unwrap();
        // The reason keeps the shape Reason serialises to.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["reason"],
            serde_json::to_value(Reason::Cli(1000)).unwrap()
        );
        std::fs::write(snap.join("manifest.json"), text).unwrap();
        std::fs::write(snap.join("a.txt"), "a").unwrap();
        std::fs::write(snap.join("b.txt"), "b").unwrap();
        std::fs::write(snap.join("report.txt"), "r").unwrap();
        let back = Manifest::read(&snap).unwrap();
        assert_eq!(
            (back.reason.source.as_str(), back.reason.uid),
            ("cli", Some(1000))
        );
        let all = list(d.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].jvms, ["42 shop"]);
        assert_eq!(all[0].reason, "wasp trigger (uid 1000)");
        assert_eq!(
            files_in_order(&all[0]),
            ["report.txt", "b.txt", "a.txt", "manifest.json"]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_manifest_file_lists_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let d = tempfile::tempdir().unwrap();
            let snap = d.path().join("20260105-000000-000-dump");
            std::fs::create_dir(&snap).unwrap();
            std::fs::write(snap.join("manifest.json"), &bytes).unwrap();
            let all = list(d.path()).unwrap();
            proptest::prop_assert_eq!(all.len(), 1);
            let _ = files_in_order(&all[0]);
        }

        #[test]
        fn any_json_object_reads_as_a_manifest_or_none(s in r#"\{("[a-z_]{1,12}": ?("[^"\\]{0,8}"|-?[0-9]{1,6}|null|\[\]|\{\}), ?){0,5}"x": 0\}"#) {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("manifest.json"), &s).unwrap();
            let _ = Manifest::read(d.path());
        }
    }
}

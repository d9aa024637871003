//! `wasp incidents`: the snapshots under `data_dir/snapshots`, read from their manifests (no agent needed),
//! newest first; one shown with its report first, then every other file in the manifest's order.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

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

fn read_manifest(p: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(p.join("manifest.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn one(p: &Path) -> Incident {
    let id = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let m = read_manifest(p).unwrap_or_default();
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    Incident {
        time: s("time"),
        kind: s("kind"),
        reason: s("reason_text"),
        jvms: m
            .get("jvms")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|j| {
                        format!(
                            "{} {}",
                            j.get("pid").and_then(|v| v.as_u64()).unwrap_or(0),
                            j.get("app").and_then(|v| v.as_str()).unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        bytes: super::bundle::dir_size(p),
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
    if let Some(m) = read_manifest(&i.path)
        && let Some(files) = m.get("files").and_then(|f| f.as_array())
    {
        for f in files {
            if let Some(n) = f.get("file").and_then(|v| v.as_str()) {
                order.push(n.to_string());
            }
        }
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

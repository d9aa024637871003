//! `type = "file"`: the local JSON-lines record, written as each item comes (local disk is cheap) to a size-bounded,
//! rotated file: `wasp.jsonl`, then `wasp.jsonl.1` ... `wasp.jsonl.N`. No spool and no HTTP.

use super::Backend;
use crate::ship::encode::{Batch, Encoded, Origin, jsonl};

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub(crate) struct JsonLinesFile;

impl Backend for JsonLinesFile {
    fn join(&self, bodies: &[&[u8]]) -> std::io::Result<Vec<u8>> {
        crate::ship::encode::join(bodies, false)
    }

    fn takes_documents(&self) -> bool {
        true
    }

    fn encode(&self, batch: &Batch, origin: &Origin) -> Encoded {
        jsonl::encode(batch, origin, false)
    }
}

pub(crate) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    out: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = f.metadata()?.len();
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1024),
            keep,
            out: f,
            size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines (`bytes` ends with a newline), unbuffered: a write the disk refuses half-way is cut
    /// off again, so the record never holds a torn line and nothing stale is written later.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        if let Err(e) = self.out.write_all(bytes) {
            let _ = self.out.set_len(self.size);
            return Err(e);
        }
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?;
            self.out = f;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.out = f;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_n_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.jsonl");
        let mut f = RotatingFile::open(p.clone(), 1024, 2).unwrap();
        let line = "x".repeat(300);
        for _ in 0..20 {
            f.write_all(format!("{line}\n").as_bytes()).unwrap();
        }
        assert!(p.exists());
        assert!(d.path().join("w.jsonl.1").exists());
        assert!(d.path().join("w.jsonl.2").exists());
        assert!(!d.path().join("w.jsonl.3").exists());
        for f in [p.clone(), d.path().join("w.jsonl.1")] {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 1024, "{len}");
        }
    }
}

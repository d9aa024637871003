//! The events the agent recorded, as JSON lines in the data dir (`events.ndjson`, one older generation
//! `events.ndjson.1`): what `wasp events` reads. Bounded both ways: the file is rotated at `max_bytes`, and a
//! reader reads at most the last `max_bytes` of each generation.

use crate::model::event::{Event, EventKind};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "events.ndjson";

pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
}

impl Journal {
    pub fn new(data_dir: &Path, max_bytes: u64) -> Journal {
        Journal {
            path: data_dir.join(FILE),
            max_bytes: max_bytes.max(4096),
        }
    }

    pub fn append(&self, e: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(e).map_err(io::Error::other)?;
        line.push(b'\n');
        let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if len + line.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, self.path.with_extension("ndjson.1"))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&line)
    }
}

/// Which events a reader wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since_ms: Option<i64>,
    pub kinds: Vec<EventKind>,
}

impl Filter {
    pub fn matches(&self, e: &Event) -> bool {
        self.since_ms.is_none_or(|s| e.timestamp_ms >= s)
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
    }
}

/// The tail of one file, at most `max` bytes, starting at a line boundary.
fn tail(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut b = Vec::new();
    f.take(max).read_to_end(&mut b)?;
    if start > 0 {
        let nl = b
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |i| i + 1);
        b.drain(..nl);
    }
    Ok(b)
}

/// The recorded events that match, oldest first; lines that do not parse are skipped.
pub fn read(data_dir: &Path, max_bytes: u64, filter: &Filter) -> io::Result<Vec<Event>> {
    let p = data_dir.join(FILE);
    let mut out = Vec::new();
    for file in [p.with_extension("ndjson.1"), p] {
        for line in tail(&file, max_bytes)?.split(|&c| c == b'\n') {
            if let Ok(e) = serde_json::from_slice::<Event>(line)
                && filter.matches(&e)
            {
                out.push(e);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_reads_both_generations_bounded() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::new(d.path(), 4096);
        for i in 0..300 {
            let e = Event::new(EventKind::LinkUp, "kmsg", i, format!("event {i}"));
            j.append(&e).unwrap();
        }
        assert!(std::fs::metadata(d.path().join(FILE)).unwrap().len() <= 4096);
        let all = read(d.path(), 4096, &Filter::default()).unwrap();
        assert_eq!(all.last().unwrap().timestamp_ms, 299);
        assert!(all.len() < 300 && all.len() > 20, "{}", all.len());
        let f = Filter {
            since_ms: Some(295),
            kinds: vec![EventKind::LinkUp],
        };
        assert_eq!(read(d.path(), 4096, &f).unwrap().len(), 5);
        let none = Filter {
            kinds: vec![EventKind::OomKill],
            ..Default::default()
        };
        assert!(read(d.path(), 4096, &none).unwrap().is_empty());
    }
}

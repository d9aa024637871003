//! The hsperfdata reader: HotSpot's memory-mapped performance counters, the file `jstat` reads.
//!
//! The file is writable by the JVM's user, so it is untrusted input: it is opened through util::safe_open (inside
//! the JVM's root, never a FIFO, owned by the JVM's uid, at most MAX_FILE bytes), and every length, offset and
//! count is checked against the buffer, a bad one being an error for that JVM, never a panic. We copy the whole
//! file (32-64 KiB) with one bounded read and parse the copy; we never lock it (the JVM holds an flock for its life, and a JVM starting
//! with the same pid in a container sharing /tmp would give up its counters if we took it).

use crate::util::safe_open::{self, Owner, Spec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files larger than this are refused unread: HotSpot's default is 32 KiB (JDK 8) or 64 KiB, and
/// -XX:PerfDataMemorySize is rarely raised past a few hundred KiB. A sparse 512 MiB file costs nothing more.
pub const MAX_FILE: u64 = 4 << 20;

/// Where a JVM's hsperfdata file is, and whose it must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `rel` resolved inside the JVM's root (/proc/<pid>/root): symlinks never leave it.
    InRoot {
        root: PathBuf,
        rel: PathBuf,
        uid: u32,
    },
    /// The JVM's own shared mapping (/proc/<pid>/map_files/<range>), after a /tmp cleaner deleted the file.
    Mapped { path: PathBuf, uid: u32 },
}

impl Source {
    /// The path as a host operator would look for it.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Source::InRoot { root, rel, .. } => root.join(rel),
            Source::Mapped { path, .. } => path.clone(),
        }
    }

    fn open(&self) -> std::io::Result<std::fs::File> {
        match self {
            Source::InRoot { root, rel, uid } => safe_open::open_in_root(
                root,
                rel,
                &Spec::file(Owner::Uid(*uid), MAX_FILE).no_links(),
            ),
            Source::Mapped { path, uid } => {
                safe_open::open_trusted_path(path, &Spec::file(Owner::Uid(*uid), MAX_FILE))
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PerfDataError {
    #[error("{path}: cannot read: {msg}")]
    Io { path: PathBuf, msg: String },
    #[error("too short for the 32-byte prologue ({0} bytes)")]
    Short(usize),
    #[error("bad magic {0:02x?} (not an hsperfdata file)")]
    Magic([u8; 4]),
    #[error("unsupported version {0}.{1} (only 2.x is known)")]
    Version(u8, u8),
    #[error("bad byte order {0}")]
    ByteOrder(u8),
    #[error("the JVM has not finished initialising its counters")]
    NotAccessible,
    #[error("entry at offset {offset}: {what}")]
    Entry { offset: usize, what: &'static str },
    #[error("first entry offset {0} is outside the file")]
    EntryOffset(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Long(i64),
    Str(String),
}

/// A decoded copy of one hsperfdata file.
#[derive(Debug, Clone, Default)]
pub struct PerfData {
    values: HashMap<String, Value>,
    /// Entries skipped because they were being created while we read (a half-built tail).
    pub torn_tail: bool,
}

fn rd_u32(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn rd_i64(b: &[u8], off: usize, le: bool) -> Option<i64> {
    let s: [u8; 8] = b.get(off..off.checked_add(8)?)?.try_into().ok()?;
    Some(if le {
        i64::from_le_bytes(s)
    } else {
        i64::from_be_bytes(s)
    })
}

impl PerfData {
    /// Parses a copy of the file. Never panics.
    pub fn parse(b: &[u8]) -> Result<PerfData, PerfDataError> {
        if b.len() < 32 {
            return Err(PerfDataError::Short(b.len()));
        }
        let magic = [b[0], b[1], b[2], b[3]];
        if magic != [0xca, 0xfe, 0xc0, 0xc0] {
            return Err(PerfDataError::Magic(magic));
        }
        let le = match b[4] {
            0 => false,
            1 => true,
            o => return Err(PerfDataError::ByteOrder(o)),
        };
        if b[5] != 2 {
            return Err(PerfDataError::Version(b[5], b[6]));
        }
        if b[7] == 0 {
            return Err(PerfDataError::NotAccessible);
        }
        let used = rd_u32(b, 8, le).unwrap_or(0) as usize;
        let end = used.clamp(32, b.len());
        let mut off = rd_u32(b, 24, le).unwrap_or(0) as usize;
        if off < 32 || off >= b.len() || !off.is_multiple_of(4) {
            return Err(PerfDataError::EntryOffset(off));
        }
        let mut pd = PerfData::default();
        let bad = |offset, what| PerfDataError::Entry { offset, what };
        while off + 20 <= end {
            let len = rd_u32(b, off, le).unwrap_or(0) as usize;
            if len == 0 {
                break;
            }
            // The newest entry ends exactly at `used`; its header may still be half written.
            let is_tail = off + len == end;
            let entry = (|| {
                if len < 20 || off + len > b.len() {
                    return Err(bad(off, "length runs past the end of the file"));
                }
                let name_off = rd_u32(b, off + 4, le).unwrap_or(0) as usize;
                let vlen = rd_u32(b, off + 8, le).unwrap_or(0) as usize;
                let ty = b[off + 12];
                let units = b[off + 14];
                let var = b[off + 15];
                let data_off = rd_u32(b, off + 16, le).unwrap_or(0) as usize;
                if !(20..data_off).contains(&name_off) || data_off > len {
                    return Err(bad(off, "name or data offset outside the entry"));
                }
                if !(1..=6).contains(&units) || !(1..=3).contains(&var) {
                    return Err(bad(off, "invalid units or variability"));
                }
                let name_bytes = &b[off + name_off..off + data_off];
                let nul = name_bytes
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or(bad(off, "name is not NUL-terminated"))?;
                let name = std::str::from_utf8(&name_bytes[..nul])
                    .map_err(|_| bad(off, "name is not ASCII"))?;
                let value = match (ty, vlen) {
                    (b'J', 0) => {
                        if data_off + 8 > len {
                            return Err(bad(off, "long value runs past the entry"));
                        }
                        Value::Long(
                            rd_i64(b, off + data_off, le)
                                .ok_or(bad(off, "long outside the file"))?,
                        )
                    }
                    (b'B', n) if n > 0 => {
                        if data_off + n > len {
                            return Err(bad(off, "string runs past the entry"));
                        }
                        let s = &b[off + data_off..off + data_off + n];
                        let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
                        Value::Str(String::from_utf8_lossy(s).into_owned())
                    }
                    _ => return Err(bad(off, "unsupported data type")),
                };
                Ok((name.to_string(), value))
            })();
            match entry {
                Ok((n, v)) => {
                    pd.values.insert(n, v);
                }
                // The JVM bumps `used` before it fills a new entry: a bad last entry is a torn tail.
                Err(_) if is_tail => {
                    pd.torn_tail = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            if !len.is_multiple_of(4) {
                return Err(bad(off, "entry length not 4-byte aligned"));
            }
            off += len;
        }
        Ok(pd)
    }

    /// Reads and parses a file at a path the caller trusts (a test fixture, a path an operator gave): never a
    /// FIFO, at most MAX_FILE bytes.
    pub fn read(path: &Path) -> Result<PerfData, PerfDataError> {
        Self::read_with(path, || {
            safe_open::open_trusted_path(path, &Spec::file(Owner::Any, MAX_FILE))
        })
    }

    /// Reads and parses a JVM's file, checked to be that JVM user's.
    pub fn read_source(src: &Source) -> Result<PerfData, PerfDataError> {
        Self::read_with(&src.display_path(), || src.open())
    }

    /// One bounded read of the whole file, retried once if the header looks torn.
    fn read_with(
        path: &Path,
        open: impl Fn() -> std::io::Result<std::fs::File>,
    ) -> Result<PerfData, PerfDataError> {
        let io = |e: std::io::Error| PerfDataError::Io {
            path: path.to_path_buf(),
            msg: e.to_string(),
        };
        let mut last = None;
        for _ in 0..2 {
            let mut f = open().map_err(io)?;
            let bytes = safe_open::read_bounded(&mut f, MAX_FILE).map_err(io)?;
            match PerfData::parse(&bytes) {
                Ok(p) => return Ok(p),
                Err(e @ (PerfDataError::Entry { .. } | PerfDataError::EntryOffset(_))) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(PerfDataError::Short(0)))
    }

    pub fn long(&self, name: &str) -> Option<i64> {
        match self.values.get(name)? {
            Value::Long(v) => Some(*v),
            Value::Str(_) => None,
        }
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            Value::Str(s) => Some(s),
            Value::Long(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A copy holding exactly these longs (property tests of what reads counters).
    #[cfg(test)]
    pub(crate) fn from_longs<'a>(longs: impl IntoIterator<Item = (&'a str, i64)>) -> PerfData {
        PerfData {
            values: longs
                .into_iter()
                .map(|(n, v)| (n.to_string(), Value::Long(v)))
                .collect(),
            torn_tail: false,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/jvm")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn reads_jdk17_and_jdk25() {
        let p = PerfData::parse(&fixture("jdk17-G1.hsperf")).unwrap();
        assert!(p.len() > 150, "{}", p.len());
        assert_eq!(p.string("sun.gc.policy.name"), Some("GarbageFirst"));
        assert_eq!(p.long("sun.os.hrt.frequency"), Some(1_000_000_000));
        let p = PerfData::parse(&fixture("jdk25-G1.hsperf")).unwrap();
        assert!(p.long("sun.os.hrt.ticks").is_none(), "gone in 25");
        assert!(p.string("sun.rt.jvmCapabilities").is_some());
    }

    #[test]
    fn damaged_copies_are_errors_not_panics() {
        let good = fixture("jdk17-G1.hsperf");
        assert_eq!(
            PerfData::parse(&good[..10]).unwrap_err(),
            PerfDataError::Short(10)
        );
        let mut m = good.clone();
        m[0] = 0;
        assert!(matches!(PerfData::parse(&m), Err(PerfDataError::Magic(_))));
        // Truncated in the middle of the entries: the cut entry is a torn tail or an error, never a panic.
        let t = &good[..5000];
        let r = PerfData::parse(t);
        assert!(r.is_err() || r.unwrap().torn_tail);
        // First entry offset past the end.
        let mut m = good.clone();
        m[24..28].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(matches!(
            PerfData::parse(&m),
            Err(PerfDataError::EntryOffset(100_000))
        ));
        // An entry whose length points past the end, in the middle of the file.
        let mut m = good.clone();
        m[32..36].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(matches!(
            PerfData::parse(&m),
            Err(PerfDataError::Entry { offset: 32, .. })
        ));
        // Entry length zero at the start: no counters, not an error.
        let mut m = good.clone();
        m[32..36].copy_from_slice(&0u32.to_le_bytes());
        assert!(PerfData::parse(&m).unwrap().is_empty());
        // Name offset beyond data offset.
        let mut m = good;
        m[36..40].copy_from_slice(&4000u32.to_le_bytes());
        assert!(PerfData::parse(&m).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096), magic in proptest::prelude::any::<bool>()) {
            if magic && b.len() >= 32 {
                b[..8].copy_from_slice(&[0xca, 0xfe, 0xc0, 0xc0, 1, 2, 0, 1]);
                b[24..28].copy_from_slice(&32u32.to_le_bytes());
            }
            let _ = PerfData::parse(&b);
        }
    }
}

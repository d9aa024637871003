//! One segment file of the spool: its name, its magic, and the framed records in it (how one is written, read
//! back and checked), scanned on open to find where the intact records end.

use super::{MAX_RECORD, Record};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub(super) const MAGIC: &[u8; 8] = b"WASPSPL1";
pub(super) const FRAME: u64 = 8;
/// Record header inside the payload: kind u8, items u64, min ts i64, max ts i64, created i64.
pub(super) const HEADER: usize = 33;

pub(super) fn seg_name(seq: u64) -> String {
    format!("{seq:016}.seg")
}

pub(super) fn parse_seg_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(super) fn encode_payload(r: &Record) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER + r.body.len());
    p.push(r.kind);
    p.extend_from_slice(&r.items.to_le_bytes());
    p.extend_from_slice(&r.min_ts_ms.to_le_bytes());
    p.extend_from_slice(&r.max_ts_ms.to_le_bytes());
    p.extend_from_slice(&r.created_ms.to_le_bytes());
    p.extend_from_slice(&r.body);
    p
}

pub(super) fn decode_payload(mut p: Vec<u8>) -> Option<Record> {
    if p.len() < HEADER {
        return None;
    }
    let u = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().expect("8 bytes"));
    let (kind, items, min, max, created) = (p[0], u(1), u(9) as i64, u(17) as i64, u(25) as i64);
    p.drain(..HEADER);
    Some(Record {
        kind,
        items,
        min_ts_ms: min,
        max_ts_ms: max,
        created_ms: created,
        body: p,
    })
}

pub(super) fn crc(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(payload);
    h.finalize()
}

/// Reads the record at the reader's position. `Ok(None)` at a clean end; `Err(end)` if the bytes from here on are
/// not a whole, intact record (`torn` = they end early, else the checksum or the length is wrong).
pub(super) enum Read1 {
    Record(Vec<u8>),
    End,
    Torn,
    Corrupt,
}

pub(super) fn read_one<R: Read>(r: &mut R, remaining: u64) -> io::Result<Read1> {
    if remaining == 0 {
        return Ok(Read1::End);
    }
    if remaining < FRAME {
        return Ok(Read1::Torn);
    }
    let mut frame = [0u8; 8];
    r.read_exact(&mut frame)?;
    let len_b: [u8; 4] = frame[..4].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_b) as u64;
    let want = u32::from_le_bytes(frame[4..].try_into().expect("4 bytes"));
    if len > MAX_RECORD || (len as usize) < HEADER {
        return Ok(Read1::Corrupt);
    }
    if remaining - FRAME < len {
        return Ok(Read1::Torn);
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    if crc(&len_b, &payload) != want {
        return Ok(Read1::Corrupt);
    }
    Ok(Read1::Record(payload))
}

/// Scans a segment: the valid length, the newest record's creation time, records from `from` on, and what is
/// wrong at the end (torn or corrupt bytes after the valid length).
pub(super) struct Scan {
    pub(super) valid: u64,
    pub(super) newest_ms: i64,
    /// Record boundaries (start offsets) at or after `from`, with their item counts.
    pub(super) pending: Vec<Pending>,
    pub(super) bad_tail: Option<BadTail>,
}

/// An unsent record found by a scan.
pub(super) struct Pending {
    pub(super) start: u64,
    pub(super) items: u64,
}

/// Bytes after a segment's last intact record.
pub(super) struct BadTail {
    /// They end early (a write cut short) rather than failing their checksum or length.
    pub(super) torn: bool,
    pub(super) bytes: u64,
}

pub(super) fn scan(path: &Path, from: u64) -> io::Result<Option<Scan>> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut magic = [0u8; 8];
    if size < MAGIC.len() as u64 || f.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Ok(None);
    }
    let mut r = io::BufReader::with_capacity(64 << 10, f);
    let mut off = MAGIC.len() as u64;
    let mut s = Scan {
        valid: off,
        newest_ms: 0,
        pending: Vec::new(),
        bad_tail: None,
    };
    loop {
        match read_one(&mut r, size - off)? {
            Read1::Record(p) => {
                let len = p.len() as u64;
                if let Some(rec) = decode_payload(p) {
                    s.newest_ms = s.newest_ms.max(rec.created_ms);
                    if off >= from {
                        s.pending.push(Pending {
                            start: off,
                            items: rec.items,
                        });
                    }
                }
                off += FRAME + len;
                s.valid = off;
            }
            Read1::End => break,
            Read1::Torn => {
                s.bad_tail = Some(BadTail {
                    torn: true,
                    bytes: size - off,
                });
                break;
            }
            Read1::Corrupt => {
                s.bad_tail = Some(BadTail {
                    torn: false,
                    bytes: size - off,
                });
                break;
            }
        }
    }
    Ok(Some(s))
}

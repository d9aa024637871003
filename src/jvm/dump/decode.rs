//! Bytes from anywhere to lines of text, leniently: UTF-8 with invalid bytes replaced (and counted), UTF-16
//! with or without a byte-order mark, CRLF, and lines of any length cut at a bound. Memory stays bounded
//! whatever the input: one line at a time.

use serde::Serialize;
use std::io::{BufRead, BufReader, Read};

/// Longer lines are cut here (a thread name or a log line can be anything); the rest of the line is skipped.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// "utf-8", "utf-8 (BOM)", "utf-16le", "utf-16be".
    pub encoding: &'static str,
    /// Invalid sequences replaced by U+FFFD.
    pub replaced: usize,
    /// Lines longer than MAX_LINE, cut.
    pub cut_lines: usize,
    pub bytes: u64,
    pub lines: u64,
}

/// The input as UTF-8 bytes: UTF-16 is transcoded as it is read.
pub enum Decoder<R: Read> {
    Utf8(R),
    Utf16 {
        r: R,
        le: bool,
        /// Bytes of a code unit split across reads, and UTF-8 output not yet handed out.
        odd: Option<u8>,
        high: Option<u16>,
        out: Vec<u8>,
        replaced: usize,
    },
}

impl<R: Read> Decoder<R> {
    fn unit(&mut self, u: u16) {
        let Decoder::Utf16 {
            high,
            out,
            replaced,
            ..
        } = self
        else {
            return;
        };
        let push = |c: char, out: &mut Vec<u8>| {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        };
        match (high.take(), u) {
            (Some(h), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((h as u32 - 0xD800) << 10) + (u as u32 - 0xDC00);
                push(char::from_u32(c).unwrap_or('\u{FFFD}'), out);
            }
            (prev, _) => {
                if prev.is_some() {
                    *replaced += 1;
                    push('\u{FFFD}', out);
                }
                match u {
                    0xD800..=0xDBFF => *high = Some(u),
                    0xDC00..=0xDFFF => {
                        *replaced += 1;
                        push('\u{FFFD}', out);
                    }
                    _ => push(char::from_u32(u as u32).unwrap_or('\u{FFFD}'), out),
                }
            }
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoder::Utf8(r) => r.read(buf),
            Decoder::Utf16 { .. } => loop {
                if let Decoder::Utf16 { out, .. } = self
                    && !out.is_empty()
                {
                    let n = out.len().min(buf.len());
                    buf[..n].copy_from_slice(&out[..n]);
                    out.drain(..n);
                    return Ok(n);
                }
                let mut raw = [0u8; 8192];
                let (n, le, odd) = match self {
                    Decoder::Utf16 { r, le, odd, .. } => (r.read(&mut raw)?, *le, odd.take()),
                    Decoder::Utf8(_) => return Ok(0),
                };
                if n == 0 {
                    return Ok(0);
                }
                let mut bytes: Vec<u8> = odd.into_iter().collect();
                bytes.extend_from_slice(&raw[..n]);
                let mut chunks = bytes.chunks_exact(2);
                for c in &mut chunks {
                    let u = if le {
                        u16::from_le_bytes([c[0], c[1]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]])
                    };
                    self.unit(u);
                }
                if let (Decoder::Utf16 { odd, .. }, [b]) = (&mut *self, chunks.remainder()) {
                    *odd = Some(*b);
                }
            },
        }
    }
}

/// Line by line, decoded.
pub struct Lines<'a> {
    src: BufReader<Decoder<Box<dyn Read + 'a>>>,
    buf: Vec<u8>,
    /// The decoded line, reused: one allocation for the whole input, not one per line.
    line: String,
    /// The last line read ended with a line feed.
    nl: bool,
    pub stats: DecodeStats,
}

/// Looks at the first bytes for a byte-order mark, or the zero bytes of ASCII text in UTF-16 without one.
pub fn open<'a, R: Read + 'a>(r: R) -> Lines<'a> {
    let mut b = BufReader::with_capacity(64 * 1024, r);
    let head: Vec<u8> = b
        .fill_buf()
        .map(|h| h[..h.len().min(64)].to_vec())
        .unwrap_or_default();
    // ASCII in UTF-16: nine in ten code units have one zero byte, always on the same side.
    let zeros_at = |odd: bool| {
        let n = head.len() / 2;
        n >= 2
            && head
                .chunks_exact(2)
                .filter(|c| c[usize::from(odd)] == 0 && c[usize::from(!odd)] != 0)
                .count()
                * 10
                >= n * 9
    };
    let (encoding, skip, le) = match head.as_slice() {
        [0xEF, 0xBB, 0xBF, ..] => ("utf-8 (BOM)", 3, None),
        [0xFF, 0xFE, ..] => ("utf-16le", 2, Some(true)),
        [0xFE, 0xFF, ..] => ("utf-16be", 2, Some(false)),
        _ if zeros_at(true) => ("utf-16le", 0, Some(true)),
        _ if zeros_at(false) => ("utf-16be", 0, Some(false)),
        _ => ("utf-8", 0, None),
    };
    b.consume(skip);
    let src: Box<dyn Read + 'a> = Box::new(b);
    let dec = match le {
        None => Decoder::Utf8(src),
        Some(le) => Decoder::Utf16 {
            r: src,
            le,
            odd: None,
            high: None,
            out: Vec::new(),
            replaced: 0,
        },
    };
    Lines {
        src: BufReader::with_capacity(64 * 1024, dec),
        buf: Vec::new(),
        line: String::new(),
        nl: true,
        stats: DecodeStats {
            encoding,
            ..Default::default()
        },
    }
}

impl<'a> Lines<'a> {
    /// The next line without its end (LF or CRLF); None at the end of input or on a read error.
    pub fn next_line(&mut self) -> Option<&str> {
        self.buf.clear();
        let mut cut = false;
        loop {
            let avail = match self.src.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => &[][..],
            };
            if avail.is_empty() {
                if self.buf.is_empty() && !cut {
                    self.sync_replaced();
                    return None;
                }
                break;
            }
            let (take, done) = match avail.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&avail[..take.min(room)]);
            cut |= take > room;
            self.src.consume(take);
            self.stats.bytes += take as u64;
            if done {
                break;
            }
        }
        if cut {
            self.stats.cut_lines += 1;
        }
        self.nl = self.buf.last() == Some(&b'\n');
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        self.stats.lines += 1;
        self.line.clear();
        for c in self.buf.utf8_chunks() {
            self.line.push_str(c.valid());
            if !c.invalid().is_empty() {
                self.line.push('\u{FFFD}');
                self.stats.replaced += 1;
            }
        }
        Some(&self.line)
    }

    /// The input ended with a line feed (a dump cut short usually does not).
    pub fn ended_with_newline(&self) -> bool {
        self.nl
    }

    /// The decoded bytes from here on, for a reader of its own (JSON).
    pub fn into_reader(self) -> impl Read + 'a {
        self.src
    }

    /// Peeks at the first byte that is not white space, consuming the white space.
    pub fn first_non_space(&mut self) -> Option<u8> {
        loop {
            let a = self.src.fill_buf().ok()?;
            let first = *a.first()?;
            if first.is_ascii_whitespace() {
                self.src.consume(1);
                self.stats.bytes += 1;
            } else {
                return Some(first);
            }
        }
    }

    fn sync_replaced(&mut self) {
        if let Decoder::Utf16 { replaced, .. } = self.src.get_mut() {
            self.stats.replaced += std::mem::take(replaced);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(b: &[u8]) -> (Vec<String>, DecodeStats) {
        let mut l = open(b);
        let mut v = Vec::new();
        while let Some(x) = l.next_line() {
            v.push(x.to_string());
        }
        (v, l.stats)
    }

    #[test]
    fn utf8_crlf_and_bad_bytes() {
        let (v, s) = all(b"a\r\nb\xe9c\n\xb3\xaa\xc0 x\nlast");
        assert_eq!(v, ["a", "b\u{FFFD}c", "\u{FFFD}\u{FFFD}\u{FFFD} x", "last"]);
        assert_eq!((s.encoding, s.replaced), ("utf-8", 4));
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "\"main\" #1\r\n\tat A.b(A.java:1)\n\u{d55c}\u{1F600}";
        for (bom, le) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut b: Vec<u8> = Vec::new();
            if bom {
                b.extend(if le { [0xFF, 0xFE] } else { [0xFE, 0xFF] });
            }
            for u in text.encode_utf16() {
                b.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
            }
            let (v, s) = all(&b);
            assert_eq!(
                v,
                ["\"main\" #1", "\tat A.b(A.java:1)", "\u{d55c}\u{1F600}"],
                "{bom} {le}"
            );
            assert_eq!(s.replaced, 0);
            assert!(s.encoding.starts_with("utf-16"));
        }
    }

    #[test]
    fn long_lines_are_cut() {
        let mut b = vec![b'x'; MAX_LINE * 3];
        b.extend_from_slice(b"\nnext\n");
        let (v, s) = all(&b);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].len(), MAX_LINE);
        assert_eq!((v[1].as_str(), s.cut_lines), ("next", 1));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = all(&b);
        }
    }
}

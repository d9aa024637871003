//! An attach reply: its first line is the JVM's status code, the rest the command's output. Kept whole for
//! what wasp parses, or passed on as it arrives (`wasp dump threads`: memory independent of the dump's size).

use super::attach_error::AttachError;
use std::io::{self, Write};

/// The whole reply, status line checked and removed, decoded leniently (a thread name may hold any bytes).
/// Never panics; a valid UTF-8 reply is not copied.
pub fn decode(pid: u32, reply: Vec<u8>) -> Result<String, AttachError> {
    let mut text = match String::from_utf8(reply) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let nl = text.find('\n');
    let code = text[..nl.unwrap_or(text.len())].trim().parse::<i32>();
    match code {
        Ok(0) => {
            text.drain(..nl.map_or(text.len(), |n| n + 1));
            Ok(text)
        }
        Ok(code) => Err(refused(
            pid,
            code,
            &text.as_bytes()[nl.map_or(text.len(), |n| n + 1)..],
        )),
        Err(_) => Err(not_a_reply(pid, text.as_bytes())),
    }
}

fn refused(pid: u32, code: i32, msg: &[u8]) -> AttachError {
    AttachError::Refused {
        pid,
        code,
        msg: String::from_utf8_lossy(msg)
            .trim()
            .chars()
            .take(500)
            .collect(),
    }
}

fn not_a_reply(pid: u32, head: &[u8]) -> AttachError {
    AttachError::Step {
        pid,
        step: "read reply",
        msg: format!(
            "not an attach reply: {:?}",
            String::from_utf8_lossy(head)
                .chars()
                .take(80)
                .collect::<String>()
        ),
    }
}

/// The status line is a number; anything longer is not an attach reply.
const MAX_HEAD: usize = 80;
/// What is kept of a refusal's message.
const MAX_MSG: usize = 4096;

/// Passes a reply on as it arrives once its status line says 0; a refusal's message is kept (bounded) for
/// the error instead. Nothing is held beyond those bounds, whatever the reply's size.
pub struct Passing<W: Write> {
    out: W,
    head: Vec<u8>,
    /// The status, once its line has ended: `None` when that line was not a number.
    code: Option<Option<i32>>,
    msg: Vec<u8>,
    passed: u64,
}

impl<W: Write> Passing<W> {
    pub fn new(out: W) -> Self {
        Passing {
            out,
            head: Vec::new(),
            code: None,
            msg: Vec::new(),
            passed: 0,
        }
    }

    /// Where the reply went, for what is written instead of it (a fallback's output).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// After the reply's end: the bytes passed on, or the JVM's refusal.
    pub fn finish(mut self, pid: u32) -> Result<u64, AttachError> {
        let code = match self.code {
            Some(c) => c,
            None => std::str::from_utf8(&self.head)
                .ok()
                .and_then(|h| h.trim().parse().ok()),
        };
        match code {
            Some(0) => {
                self.out.flush().map_err(AttachError::Output)?;
                Ok(self.passed)
            }
            Some(code) => Err(refused(pid, code, &self.msg)),
            None => Err(not_a_reply(pid, &self.head)),
        }
    }
}

impl<W: Write> Write for Passing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        if self.code.is_none() {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                let room = MAX_HEAD.saturating_sub(self.head.len());
                self.head.extend_from_slice(&rest[..rest.len().min(room)]);
                if rest.len() > room {
                    self.code = Some(None);
                }
                return Ok(buf.len());
            };
            let room = MAX_HEAD.saturating_sub(self.head.len());
            self.head.extend_from_slice(&rest[..nl.min(room)]);
            self.code = Some(
                std::str::from_utf8(&self.head)
                    .ok()
                    .and_then(|h| h.trim().parse().ok())
                    .filter(|_| nl <= room),
            );
            rest = &rest[nl + 1..];
        }
        if self.code == Some(Some(0)) {
            self.out.write_all(rest)?;
            self.passed += rest.len() as u64;
        } else {
            let room = MAX_MSG.saturating_sub(self.msg.len());
            self.msg.extend_from_slice(&rest[..rest.len().min(room)]);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(chunks: &[&[u8]]) -> (Result<u64, String>, Vec<u8>) {
        let mut out = Vec::new();
        let mut p = Passing::new(&mut out);
        for c in chunks {
            p.write_all(c).unwrap();
        }
        let r = p.finish(7).map_err(|e| e.to_string());
        (r, out)
    }

    #[test]
    fn a_reply_passes_on_after_its_status_line_whatever_the_chunks() {
        let whole = b"0\n2026-11-29 23:59:59\nFull thread dump\n";
        for cut in 0..whole.len() {
            let (r, out) = passed(&[&whole[..cut], &whole[cut..]]);
            assert_eq!(out, &whole[2..], "cut at {cut}");
            assert_eq!(r, Ok(whole.len() as u64 - 2));
            assert_eq!(decode(7, whole.to_vec()).unwrap().as_bytes(), &out[..]);
        }
    }

    #[test]
    fn a_refusal_passes_nothing_and_says_why() {
        let (r, out) = passed(&[b"101\nProtocol mismatch\n"]);
        assert!(out.is_empty());
        assert!(r.unwrap_err().contains("code 101): Protocol mismatch"));
        let (r, out) = passed(&[b"HTTP/1.1 200 OK\r\n"]);
        assert!(out.is_empty());
        assert!(r.unwrap_err().contains("not an attach reply"));
        let (r, _) = passed(&[&[b'1'; 500]]);
        assert!(r.unwrap_err().contains("not an attach reply"));
        let (r, out) = passed(&[b"0"]);
        assert_eq!((r, out), (Ok(0), vec![]));
    }

    proptest::proptest! {
        #[test]
        fn passing_agrees_with_decode(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), cut in 0usize..200) {
            let cut = cut.min(b.len());
            let (r, out) = passed(&[&b[..cut], &b[cut..]]);
            match decode(7, b.clone()) {
                Ok(text) => {
                    proptest::prop_assert!(r.is_ok());
                    proptest::prop_assert_eq!(String::from_utf8_lossy(&out), text);
                }
                Err(_) => proptest::prop_assert!(r.is_err() && out.is_empty()),
            }
        }
    }
}

//! Thread dumps from anywhere, as a sequence of dumps: input bytes are decoded leniently (decode), its form is
//! recognised (HotSpot-family text, OpenJ9 javacore, JDK 21+ JSON), and each dump in it is handed out as soon as
//! it is complete, so a file of any size is read in bounded memory. Nothing here can panic on any input.

pub mod decode;
pub mod header;
pub mod hotspot;
pub mod inputs;
pub mod j9;
pub mod json;
pub mod model;
pub mod to_file;

pub use model::*;

use std::collections::VecDeque;
use std::io::Read;

/// Non-empty lines kept from the start of an input, to say what it looks like when no thread was read.
const SAMPLE_LINES: usize = 40;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReadStats {
    pub decode: decode::DecodeStats,
    /// Lines before, between or after dumps (log lines around a `kill -3` dump).
    pub outside_lines: usize,
    /// A JSON input that is not valid JSON past some point ("EOF while parsing" when cut short).
    pub json_error: Option<String>,
    pub json_truncated: bool,
    /// What a javacore says its live thread count is, per javacore.
    pub javacore_live_threads: Vec<usize>,
    /// The first non-empty lines, for `looks_like`.
    #[serde(skip)]
    pub sample: Vec<String>,
}

enum Mode<'a> {
    Text {
        lines: Box<decode::Lines<'a>>,
        hs: Box<hotspot::Parser>,
        j9: Option<Box<j9::Parser>>,
    },
    Json(Box<dyn Iterator<Item = Result<serde_json::Value, serde_json::Error>> + 'a>),
    Done,
}

/// The dumps of one input, in order.
pub struct Reader<'a> {
    mode: Mode<'a>,
    ready: VecDeque<ThreadDump>,
    pub stats: ReadStats,
}

impl<'a> Reader<'a> {
    pub fn new<R: Read + 'a>(r: R) -> Reader<'a> {
        let mut lines = decode::open(r);
        let mut stats = ReadStats::default();
        let mode = if lines.first_non_space() == Some(b'{') {
            stats.decode = lines.stats.clone();
            let de = serde_json::Deserializer::from_reader(lines.into_reader());
            Mode::Json(Box::new(de.into_iter::<serde_json::Value>()))
        } else {
            Mode::Text {
                lines: Box::new(lines),
                hs: Box::default(),
                j9: None,
            }
        };
        Reader {
            mode,
            ready: VecDeque::new(),
            stats,
        }
    }

    fn pump(&mut self) {
        match &mut self.mode {
            Mode::Done => {}
            Mode::Json(it) => match it.next() {
                None => self.mode = Mode::Done,
                Some(Ok(v)) => match json::dump(&v) {
                    Some(d) => self.ready.push_back(d),
                    None => self.stats.outside_lines += 1,
                },
                Some(Err(e)) => {
                    self.stats.json_truncated = e.is_eof();
                    self.stats.json_error = Some(e.to_string());
                    self.mode = Mode::Done;
                }
            },
            Mode::Text { lines, hs, j9 } => loop {
                let Some(l) = lines.next_line() else {
                    let ended_nl = lines.stats.bytes == 0 || lines.ended_with_newline();
                    self.stats.decode = lines.stats.clone();
                    self.stats.outside_lines += hs.outside;
                    let hs = std::mem::take(hs);
                    self.ready.extend((*hs).finish(ended_nl));
                    if let Some(p) = j9.take() {
                        self.stats.javacore_live_threads.extend(p.live_threads);
                        self.ready.extend((*p).finish());
                    }
                    self.mode = Mode::Done;
                    return;
                };
                let t = l.trim();
                if !t.is_empty() && self.stats.sample.len() < SAMPLE_LINES {
                    self.stats.sample.push(t.chars().take(200).collect());
                }
                if j9::Parser::starts(t) && j9.is_none() {
                    let old = std::mem::take(hs);
                    self.stats.outside_lines += old.outside;
                    self.ready.extend((*old).finish(true));
                    *j9 = Some(Box::default());
                }
                let got = match j9.as_mut() {
                    Some(p) => {
                        let lt = p.live_threads;
                        let d = p.line(l);
                        if d.is_some() {
                            self.stats.javacore_live_threads.extend(lt);
                            p.live_threads = None;
                        }
                        d
                    }
                    None => hs.line(l),
                };
                if let Some(d) = got {
                    self.ready.push_back(d);
                    return;
                }
            },
        }
    }

    /// What the input looks like, when it held no thread wasp could read.
    pub fn looks_like(&self) -> String {
        looks_like(&self.stats)
    }
}

impl Iterator for Reader<'_> {
    type Item = ThreadDump;
    fn next(&mut self) -> Option<ThreadDump> {
        loop {
            if let Some(d) = self.ready.pop_front() {
                return Some(d);
            }
            if matches!(self.mode, Mode::Done) {
                return None;
            }
            self.pump();
        }
    }
}

pub fn looks_like(s: &ReadStats) -> String {
    let has = |p: &str| s.sample.iter().any(|l| l.contains(p));
    let starts = |p: &str| s.sample.iter().any(|l| l.starts_with(p));
    if s.decode.bytes == 0 && s.sample.is_empty() && s.json_error.is_none() {
        return "empty".into();
    }
    if s.json_truncated {
        return "JSON cut short (truncated)".into();
    }
    if let Some(e) = &s.json_error {
        return format!("JSON that does not parse ({e})");
    }
    let ctrl = s
        .sample
        .iter()
        .flat_map(|l| l.chars())
        .filter(|c| c.is_control() && *c != '\t' || *c == '\u{FFFD}')
        .count();
    let all: usize = s.sample.iter().map(|l| l.chars().count()).sum();
    if all > 0 && ctrl * 10 > all {
        return "binary data".into();
    }
    if has("JAVA PROFILE 1.0") {
        return "an HPROF heap dump".into();
    }
    if has("#instances") || starts("num ") {
        return "a class histogram".into();
    }
    if starts("0SECTION") {
        return "a javacore without a THREADS section".into();
    }
    if s.decode.lines == 0 && s.sample.is_empty() {
        return "JSON that is not a thread dump".into();
    }
    let first = |p: &dyn Fn(&str) -> bool| s.sample.iter().position(|l| p(l));
    if let (Some(jni), Some(head)) = (
        first(&|l| l.starts_with("JNI global refs")),
        first(&|l| l.starts_with('"') && l.contains("prio=")),
    ) && jni < head
    {
        return "thread-dump lines in reverse order (the dump's last line comes first)".into();
    }
    if starts("Exception in thread") || s.sample.iter().any(|l| l.starts_with("at ")) {
        return "a Java exception stack trace, not a thread dump".into();
    }
    if has("Full thread dump") {
        return "a thread dump header with no thread after it (truncated?)".into();
    }
    "text with no thread-dump header or thread".into()
}

/// Every dump in a text.
pub fn parse_all(text: &str) -> Vec<ThreadDump> {
    Reader::new(text.as_bytes()).collect()
}

/// One dump (the attach `threaddump` reply, a jstack): the last one when the text holds several.
pub fn parse(text: &str) -> ThreadDump {
    parse_all(text).pop().unwrap_or_default()
}

//! `wasp analyze FILE...`: every file read as a sequence of dumps, streamed, and analysed as the dumps of one
//! JVM apart in time. Only the last dumps are kept whole, so any amount of input is read in bounded memory.

use super::{InputSummary, Reader, ThreadDump};
use crate::jvm::analysis::{self, Report};
use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;

/// Dumps kept whole for the analysis across time (the last ones); earlier ones are only summarised.
pub const KEPT_DUMPS: usize = 16;

/// Reads one input, keeping the last dumps in `kept`.
pub fn read_one<R: Read>(name: &str, r: R, kept: &mut VecDeque<ThreadDump>) -> InputSummary {
    let mut reader = Reader::new(r);
    let mut s = InputSummary {
        name: name.to_string(),
        ..Default::default()
    };
    for (i, d) in reader.by_ref().enumerate() {
        if !s.formats.contains(&d.format) && !d.format.is_empty() {
            s.formats.push(d.format.clone());
        }
        s.threads_per_dump.push(d.threads.len());
        if d.truncated {
            s.truncated_dumps.push(i + 1);
        }
        s.unparsed_lines += d.unparsed_count;
        if let Some(p) = d.pid
            && !s.pids.contains(&p)
        {
            s.pids.push(p);
        }
        if kept.len() == KEPT_DUMPS {
            kept.pop_front();
        }
        kept.push_back(d);
    }
    let st = &reader.stats;
    s.encoding = st.decode.encoding.to_string();
    s.replaced = st.decode.replaced;
    s.cut_lines = st.decode.cut_lines;
    s.lines = st.decode.lines;
    s.outside_lines = st.outside_lines;
    s.javacore_live_threads = st.javacore_live_threads.clone();
    if st.json_truncated {
        s.truncated_dumps.push(s.threads_per_dump.len() + 1);
    }
    if s.threads_per_dump.iter().all(|&n| n == 0) {
        s.looks_like = Some(reader.looks_like());
    }
    s
}

/// The analysis of files (oldest first), and whether any thread was read at all: the caller exits non-zero
/// when not, so no script takes "nothing read" for an all-clear.
pub fn analyze_inputs(paths: &[PathBuf]) -> anyhow::Result<(Report, bool)> {
    let mut kept = VecDeque::new();
    let mut inputs = Vec::new();
    for p in paths {
        let f = std::fs::File::open(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        inputs.push(read_one(&p.display().to_string(), f, &mut kept));
    }
    let dumps: Vec<ThreadDump> = kept.into();
    let r = analysis::analyze_inputs(&dumps, &inputs, None, &[]);
    let ok = r.readable;
    Ok((r, ok))
}

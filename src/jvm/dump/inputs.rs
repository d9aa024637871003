//! `wasp analyze FILE...`: every file read as a sequence of dumps, streamed, and analysed as the dumps of one
//! JVM apart in time. Only the last dumps are kept whole, so any amount of input is read in bounded memory.

use super::{InputSummary, Reader, ThreadDump};
use crate::jvm::analysis::{self, Report};
use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;

/// Dumps kept for the analysis across time: the last ones. Only the last is kept whole; the earlier ones keep
/// the top frames of each thread (what comparisons across dumps look at), within a budget of frames.
pub const KEPT_DUMPS: usize = 16;
/// Frames kept per thread of an earlier dump.
pub const EARLIER_FRAMES: usize = 16;
/// Frames kept over all earlier dumps: at least one earlier dump is kept whatever its size.
pub const EARLIER_BUDGET: usize = 400_000;

fn frames(d: &ThreadDump) -> usize {
    d.threads.iter().map(|t| t.frames.len()).sum()
}

/// Keeps `d` as the last dump, trimming the one before it, and drops the oldest beyond the bounds: memory
/// stays bounded by one whole dump and the budget, however many dumps the inputs hold.
fn keep(kept: &mut VecDeque<ThreadDump>, d: ThreadDump) {
    if let Some(prev) = kept.back_mut() {
        for t in &mut prev.threads {
            t.frames.truncate(EARLIER_FRAMES);
            t.frames.shrink_to_fit();
        }
        prev.unparsed.clear();
        prev.unparsed.shrink_to_fit();
    }
    kept.push_back(d);
    let mut earlier: usize = kept.iter().rev().skip(1).map(frames).sum();
    while kept.len() > KEPT_DUMPS || kept.len() > 2 && earlier > EARLIER_BUDGET {
        if let Some(old) = kept.pop_front() {
            earlier -= frames(&old);
        }
    }
}

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
        keep(kept, d);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(b: &[u8]) -> Report {
        let mut kept = VecDeque::new();
        let s = read_one("x", b, &mut kept);
        let dumps: Vec<ThreadDump> = kept.into();
        analysis::analyze_inputs(&dumps, &[s], None, &[])
    }

    fn never_a_false_all_clear(r: &Report) -> Result<(), String> {
        if !r.readable
            && (r.verdict.iter().any(|v| v.contains("no deadlock"))
                || !r.verdict[0].starts_with("not a thread dump wasp can read"))
        {
            return Err(format!("{:?}", r.verdict));
        }
        Ok(())
    }

    #[test]
    fn memory_is_bounded_by_one_dump_and_the_budget() {
        let thread = |i: usize| crate::jvm::dump::Thread {
            name: format!("t{i}"),
            id: Some(i as u64),
            frames: vec![Default::default(); 50],
            ..Default::default()
        };
        let dump = || ThreadDump {
            threads: (0..2000).map(thread).collect(),
            ..Default::default()
        };
        let mut kept = VecDeque::new();
        for _ in 0..40 {
            keep(&mut kept, dump());
        }
        // 2,000 threads x 16 frames per earlier dump within 400,000 frames: 12 earlier ones and the last.
        assert_eq!(kept.len(), 13);
        assert_eq!(frames(kept.back().unwrap()), 2000 * 50);
        assert!(
            kept.iter()
                .rev()
                .skip(1)
                .all(|d| frames(d) == 2000 * EARLIER_FRAMES)
        );
        // Dumps larger than the budget: the last whole and one earlier.
        let mut kept = VecDeque::new();
        for _ in 0..5 {
            keep(
                &mut kept,
                ThreadDump {
                    threads: (0..30_000).map(thread).collect(),
                    ..Default::default()
                },
            );
        }
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn nothing_read_is_never_the_all_clear() {
        for b in [
            &b""[..],
            b"\n\n",
            b"\xff\xfe\x00\x00garbage",
            b"{\"threadDump\": {\"processId\": \"1\", \"threadContainers\": [",
            b"{\"not\": \"a dump\"}",
            b"num     #instances         #bytes  class name\n   1:  10  100  Foo\n",
            b"Exception in thread \"main\" java.lang.NullPointerException\n\tat A.b(A.java:1)\n",
            b"Full thread dump OpenJDK 64-Bit Server VM (17 mixed mode):\n\n",
            b"0SECTION       TITLE subcomponent dump routine\n1TIDATETIME    Date: 2024/01/01 at 10:00:00\n",
        ] {
            let r = verdict(b);
            assert!(!r.readable, "{:?}", String::from_utf8_lossy(b));
            never_a_false_all_clear(&r).unwrap();
        }
        assert!(verdict(b"").verdict[0].contains("looks like empty"));
        assert!(
            verdict(b"{\"threadDump\": {\"threadContainers\": [").verdict[0].contains("truncated")
        );
    }

    proptest::proptest! {
        // Any bytes, dump-like or not: no panic, and no all-clear unless a thread was read.
        #[test]
        fn any_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let r = verdict(&b);
            proptest::prop_assert!(never_a_false_all_clear(&r).is_ok(), "{:?}", r.verdict);
            let _ = r.to_text();
        }

        #[test]
        fn dump_like_lines(lines in proptest::collection::vec(proptest::prop_oneof![
            proptest::prelude::Just("\"a\" #1 prio=5 nid=0x1 runnable  [0x0]".to_string()),
            proptest::prelude::Just("\"a\" #1 prio=5 cpu=10.0ms elapsed=2.0s nid=0x1 runnable  [0x0]".to_string()),
            proptest::prelude::Just("   java.lang.Thread.State: BLOCKED (on object monitor)".to_string()),
            proptest::prelude::Just("\tat A.b(A.java:1)".to_string()),
            proptest::prelude::Just("\t- waiting to lock <0x1> (a X)".to_string()),
            proptest::prelude::Just("\t- locked <0x1> (a X)".to_string()),
            proptest::prelude::Just("Found one Java-level deadlock:".to_string()),
            proptest::prelude::Just("\"a\":".to_string()),
            proptest::prelude::Just("Java stack information for the threads listed above:".to_string()),
            proptest::prelude::Just("Found 2 deadlocks.".to_string()),
            proptest::prelude::Just("Full thread dump X:".to_string()),
            proptest::prelude::Just("12345:".to_string()),
            proptest::prelude::Just("2024-01-01 10:00:00".to_string()),
            proptest::prelude::Just("0SECTION       TITLE subcomponent dump routine".to_string()),
            proptest::prelude::Just("3XMTHREADINFO      \"t\" J9VMThread:0x1, state:B, prio=5".to_string()),
            proptest::prelude::Just("3XMTHREADBLOCK     Blocked on: a/B@0x1 Owned by: \"u\" (J9VMThread:0x2)".to_string()),
            proptest::prelude::Just("4XESTACKTRACE                at a/B.c(B.java:1)".to_string()),
            proptest::prelude::Just("1LKDEADLOCK    Deadlock detected !!!".to_string()),
            proptest::prelude::Just("   Carrying virtual thread #22".to_string()),
            proptest::prelude::Just("#22 \"\" virtual RUNNABLE 2024-01-01T10:00:00Z".to_string()),
            "\\PC{0,30}",
        ], 0..60)) {
            let r = verdict(lines.join("\n").as_bytes());
            proptest::prop_assert!(never_a_false_all_clear(&r).is_ok(), "{:?}", r.verdict);
            let _ = r.to_text();
        }
    }
}

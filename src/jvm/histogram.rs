//! Class histograms (jmap -histo, jcmd GC.class_histogram, the attach `inspectheap` reply), and the diff of two
//! taken apart in time: growth per class and a leak-suspect list. Never panics; lines not understood are counted.

use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Entry {
    pub class: String,
    /// "java.base@17.0.15" when the JVM printed one.
    pub module: Option<String>,
    pub instances: u64,
    pub bytes: u64,
    /// Rows of this class (one per class loader that loaded it), added up.
    pub loaders: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    pub entries: Vec<Entry>,
    pub total_instances: u64,
    pub total_bytes: u64,
    pub unparsed: usize,
}

pub fn parse(text: &str) -> Histogram {
    let mut h = Histogram::default();
    // One class loaded by several loaders has a row per loader: one entry, added up.
    let mut at: HashMap<(String, Option<String>), usize> = HashMap::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty()
            || t.starts_with("num ")
            || t.starts_with("---")
            || t.ends_with(':') && !t.contains(' ')
        {
            continue;
        }
        let mut f = t.split_whitespace();
        let first = f.next().unwrap_or("");
        if first == "Total" {
            h.total_instances = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            h.total_bytes = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            continue;
        }
        let rank_ok = first
            .strip_suffix(':')
            .is_some_and(|n| n.parse::<u64>().is_ok());
        let (Some(i), Some(b), Some(class)) = (f.next(), f.next(), f.next()) else {
            h.unparsed += 1;
            continue;
        };
        match (rank_ok, i.parse(), b.parse()) {
            (true, Ok(instances), Ok(bytes)) => {
                let module = f
                    .next()
                    .map(|m| m.trim_matches(|c| c == '(' || c == ')').to_string());
                let key = (class.to_string(), module.clone());
                match at.get(&key) {
                    Some(&i) => {
                        let e = &mut h.entries[i];
                        e.instances += instances;
                        e.bytes += bytes;
                        e.loaders += 1;
                    }
                    None => {
                        at.insert(key, h.entries.len());
                        h.entries.push(Entry {
                            class: class.to_string(),
                            module,
                            instances,
                            bytes,
                            loaders: 1,
                        });
                    }
                }
            }
            _ => h.unparsed += 1,
        }
    }
    h
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Growth {
    pub class: String,
    pub instances_before: u64,
    pub instances_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_delta: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistogramDiff {
    pub total_bytes_delta: i64,
    /// Classes by growth in bytes, largest first.
    pub growth: Vec<Growth>,
    /// Classes that grew by more than 10 % and 1 MiB: what to look at first for a leak.
    pub leak_suspects: Vec<String>,
}

/// Two histogram files, refused when either is not a class histogram (a thread dump given by mistake would
/// make every class a leak suspect).
pub fn diff_files(a: &std::path::Path, b: &std::path::Path) -> anyhow::Result<HistogramDiff> {
    let read = |p: &std::path::Path| -> anyhow::Result<Histogram> {
        let f = std::fs::File::open(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        let mut lines = super::dump::decode::open(f);
        let mut text = String::new();
        while let Some(l) = lines.next_line() {
            text.push_str(l);
            text.push('\n');
        }
        let h = parse(&text);
        if h.entries.is_empty() {
            let what =
                if text.contains("Full thread dump") || text.contains("java.lang.Thread.State") {
                    "a thread dump"
                } else {
                    "no histogram row"
                };
            anyhow::bail!(
                "{}: not a class histogram wasp can read ({what})",
                p.display()
            );
        }
        Ok(h)
    };
    Ok(diff(&read(a)?, &read(b)?))
}

pub fn diff(a: &Histogram, b: &Histogram) -> HistogramDiff {
    let before: HashMap<(&str, Option<&str>), &Entry> = a
        .entries
        .iter()
        .map(|e| ((e.class.as_str(), e.module.as_deref()), e))
        .collect();
    let after: std::collections::HashSet<(&str, Option<&str>)> = b
        .entries
        .iter()
        .map(|e| (e.class.as_str(), e.module.as_deref()))
        .collect();
    // Classes gone since: a shrink to zero.
    let gone = a
        .entries
        .iter()
        .filter(|e| !after.contains(&(e.class.as_str(), e.module.as_deref())))
        .map(|e| Entry {
            instances: 0,
            bytes: 0,
            ..e.clone()
        });
    let b_entries: Vec<Entry> = b.entries.iter().cloned().chain(gone).collect();
    let mut growth: Vec<Growth> = b_entries
        .iter()
        .filter_map(|e| {
            let p = before.get(&(e.class.as_str(), e.module.as_deref()));
            let (ib, bb) = p.map(|p| (p.instances, p.bytes)).unwrap_or((0, 0));
            // Unchanged classes are not growth: a histogram diffed with itself is empty.
            (ib != e.instances || bb != e.bytes).then(|| Growth {
                class: e.class.clone(),
                instances_before: ib,
                instances_after: e.instances,
                bytes_before: bb,
                bytes_after: e.bytes,
                bytes_delta: e.bytes as i64 - bb as i64,
            })
        })
        .collect();
    growth.sort_by_key(|g| std::cmp::Reverse(g.bytes_delta));
    let leak_suspects = growth
        .iter()
        .filter(|g| g.bytes_delta > 1 << 20 && g.bytes_delta as f64 > g.bytes_before as f64 * 0.10)
        .map(|g| {
            format!(
                "{}: +{} bytes, {} -> {} instances",
                g.class, g.bytes_delta, g.instances_before, g.instances_after
            )
        })
        .collect();
    HistogramDiff {
        total_bytes_delta: b.total_bytes as i64 - a.total_bytes as i64,
        growth,
        leak_suspects,
    }
}

impl HistogramDiff {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if self.leak_suspects.is_empty() {
            s.push_str("* no class grew by more than 10 % and 1 MiB\n");
        }
        for l in &self.leak_suspects {
            s.push_str(&format!("* leak suspect: {l}\n"));
        }
        s.push_str(&format!(
            "\nheap change: {:+} bytes\n\n{:>14} {:>12} {:>12}  class\n",
            self.total_bytes_delta, "bytes delta", "before", "after"
        ));
        for g in self.growth.iter().take(20) {
            s.push_str(&format!(
                "{:>+14} {:>12} {:>12}  {}\n",
                g.bytes_delta, g.instances_before, g.instances_after, g.class
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fx(n: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dumps")
                .join(n),
        )
        .unwrap()
    }

    #[test]
    fn parses_jmap_and_jcmd_histograms() {
        for f in [
            "jdk17-jmap-histo.txt",
            "jdk25-jmap-histo.txt",
            "jdk17-jcmd-class-histogram.txt",
            "jdk25-jcmd-class-histogram.txt",
        ] {
            let h = parse(&fx(f));
            assert_eq!(h.unparsed, 0, "{f}");
            assert!(h.entries.len() > 100, "{f}");
            assert_eq!(
                h.entries.iter().map(|e| e.bytes).sum::<u64>(),
                h.total_bytes,
                "{f}"
            );
        }
        let h = parse(&fx("jdk17-jmap-histo.txt"));
        assert_eq!(
            h.entries[1],
            Entry {
                class: "Lab$Payload".into(),
                module: None,
                instances: 20000,
                bytes: 480000,
                loaders: 1
            }
        );
    }

    #[test]
    fn diff_flags_growth() {
        let a = parse(" 1: 10 1000 Foo\n 2: 5 100 Bar\nTotal 15 1100\n");
        let b = parse(" 1: 100000 3000000 Foo\n 2: 5 100 Bar\nTotal 100005 3000100\n");
        let d = diff(&a, &b);
        assert_eq!(d.growth[0].class, "Foo");
        assert_eq!(d.leak_suspects.len(), 1);
    }

    #[test]
    fn rows_of_one_class_from_several_loaders_add_up() {
        let t = " 1: 10 1000 Foo\n 2: 5 100 Bar\n 3: 7 700 Foo\n 4: 1 10 Baz (java.base@17)\nTotal 23 1810\n";
        let h = parse(t);
        assert_eq!(h.entries.len(), 3);
        assert_eq!(
            (
                h.entries[0].instances,
                h.entries[0].bytes,
                h.entries[0].loaders
            ),
            (17, 1700, 2)
        );
        assert_eq!(
            h.entries.iter().map(|e| e.bytes).sum::<u64>(),
            h.total_bytes
        );
        let d = diff(&h, &h);
        assert!(d.growth.is_empty() && d.leak_suspects.is_empty(), "{d:?}");
        assert_eq!(d.total_bytes_delta, 0);
        // A class gone since is a shrink, not silence.
        let d = diff(
            &h,
            &parse(" 1: 10 1000 Foo\n 2: 5 100 Bar\nTotal 15 1100\n"),
        );
        assert_eq!(d.growth.iter().map(|g| g.bytes_delta).sum::<i64>(), -710);
    }

    #[test]
    fn a_thread_dump_is_not_a_histogram() {
        let dir = tempfile::tempdir().unwrap();
        let (h, t) = (dir.path().join("h.txt"), dir.path().join("t.txt"));
        std::fs::write(&h, fx("jdk17-jmap-histo.txt")).unwrap();
        std::fs::write(
            &t,
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/jdk17-jstack.txt"),
            )
            .unwrap(),
        )
        .unwrap();
        let e = diff_files(&t, &h).unwrap_err().to_string();
        assert!(
            e.contains("not a class histogram") && e.contains("a thread dump"),
            "{e}"
        );
        assert!(diff_files(&h, &h).unwrap().growth.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            let h = parse(&s);
            let d = diff(&h, &h);
            proptest::prop_assert!(d.growth.is_empty());
        }
    }
}

//! Thread dumps from the world (tests/fixtures/dumps/world/, sources and licences in its MANIFEST): each is read
//! against an expectation that does not come from wasp (the source's stated finding, the JVM's own deadlock
//! count, a javacore's own live-thread count, or the thread headers counted by hand), and the `wasp analyze`
//! report of each, reviewed, is held as a snapshot under world/expected/.
//!
//! To regenerate the snapshots after a deliberate change: `WASP_WORLD_REGENERATE=1 cargo test --test
//! dump_world`, then review every changed file with `git diff tests/fixtures/dumps/world/expected/`.

use std::collections::VecDeque;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use wasp::jvm::analysis::{self, Report};
use wasp::jvm::dump::{InputSummary, ThreadDump, inputs};

fn world() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps/world")
}

fn bytes(p: &Path) -> Vec<u8> {
    let raw = std::fs::read(p).unwrap();
    if p.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// The inputs of one corpus entry: a file, or a directory of dumps taken apart in time (in name order).
fn files(entry: &str) -> Vec<PathBuf> {
    let p = world().join(entry);
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    } else {
        vec![p]
    }
}

struct Got {
    dumps: Vec<ThreadDump>,
    inputs: Vec<InputSummary>,
    report: Report,
}

fn read(entry: &str) -> Got {
    let mut kept = VecDeque::new();
    let mut ins = Vec::new();
    let mut all = Vec::new();
    for f in files(entry) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let b = bytes(&f);
        ins.push(inputs::read_one(&name, &b[..], &mut kept));
        all.extend(wasp::jvm::dump::Reader::new(&b[..]));
    }
    let kept: Vec<ThreadDump> = kept.into();
    let report = analysis::analyze_inputs(&kept, &ins, None, &[]);
    Got {
        dumps: all,
        inputs: ins,
        report,
    }
}

/// Every entry of the MANIFEST.
fn entries() -> Vec<String> {
    std::fs::read_to_string(world().join("MANIFEST"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("file: "))
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn the_manifest_lists_every_file_and_at_least_40() {
    let _floor = crate::common::beside();
    let listed = entries();
    assert!(listed.len() >= 40, "{} entries", listed.len());
    for e in std::fs::read_dir(world()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n != "MANIFEST" && n != "expected" {
            assert!(listed.contains(&n), "{n} is not in the MANIFEST");
        }
    }
    for l in &listed {
        assert!(world().join(l).exists(), "{l} listed but missing");
    }
}

#[test]
fn reports_match_the_reviewed_snapshots() {
    let _floor = crate::common::beside();
    let regen = std::env::var_os("WASP_WORLD_REGENERATE").is_some();
    let dir = world().join("expected");
    std::fs::create_dir_all(&dir).unwrap();
    let mut wrong = Vec::new();
    for e in entries() {
        let text = read(&e).report.to_text();
        let p = dir.join(format!("{e}.report"));
        if regen {
            std::fs::write(&p, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&p).unwrap_or_default();
        if want != text {
            wrong.push(format!("{e}:\n--- expected\n{want}\n--- got\n{text}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// What each file is held to, established without wasp: `threads` per dump is the count of thread header lines
/// (`grep -c '^"'`, or `^#N "` for dump-to-file text, the JSON's thread objects, a javacore's own "2XMPOOLLIVE
/// Current total number of live threads") minus the JVM's deadlock report, which names each deadlocked thread
/// twice; `deadlocks` is the JVM's own count ("Found N deadlock(s).", a javacore's 1LKDEADLOCK sections);
/// `verdict` holds words the report must say, from the source's stated finding where it has one.
struct Expect {
    entry: &'static str,
    threads: &'static [usize],
    deadlocks: usize,
    verdict: &'static [&'static str],
}

const EXPECT: &[Expect] = &[
    Expect {
        entry: "tda-carrier_stuck.log",
        threads: &[4],
        deadlocks: 0,
        verdict: &[],
    },
    // Two dumps of one HP-UX JVM, 574 threads each; its header dates hold EUC-KR bytes (replaced, counted).
    Expect {
        entry: "tda-hpdump.log",
        threads: &[574, 574],
        deadlocks: 0,
        verdict: &["invalid byte sequence(s) replaced"],
    },
    Expect {
        entry: "tda-intellij_dump.json",
        threads: &[8],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-java11dump.log",
        threads: &[14],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-java21dump.log",
        threads: &[18],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-java21dump_utf16.log",
        threads: &[18],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-java8dump.log",
        threads: &[21],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-jdk11_long_running.log",
        threads: &[2, 2],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-jstack_dump.log",
        threads: &[28],
        deadlocks: 0,
        verdict: &[],
    },
    // Three dumps, 260 header lines in all.
    Expect {
        entry: "tda-test.log",
        threads: &[88, 86, 86],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-test64bit.log",
        threads: &[3],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "tda-testwithhistogram.log",
        threads: &[14],
        deadlocks: 0,
        verdict: &[],
    },
    // 41 ToeThreads BLOCKED, most on the FrontierScheduler monitor ToeThread #18 holds.
    Expect {
        entry: "tda-urlthread.log",
        threads: &[70],
        deadlocks: 0,
        verdict: &["41 thread(s) BLOCKED on monitors"],
    },
    Expect {
        entry: "tda-visualvmremote.log",
        threads: &[119],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-complex.txt",
        threads: &[44],
        deadlocks: 1,
        verdict: &["DEADLOCK between DeadlockThread-A, DeadlockThread-B"],
    },
    Expect {
        entry: "jthreaddump-deadlock.txt",
        threads: &[33],
        deadlocks: 1,
        verdict: &["DEADLOCK between DeadlockThread-A, DeadlockThread-B"],
    },
    // Two threads are named DeadlockThread-A (and two DeadlockThread-B): three deadlocks, not two.
    Expect {
        entry: "jthreaddump-many-virtual-threads.txt",
        threads: &[54],
        deadlocks: 3,
        verdict: &["DeadlockThread-A (#30)", "DeadlockThread-A (#201)"],
    },
    Expect {
        entry: "jthreaddump-multi-deadlock-test.txt",
        threads: &[5],
        deadlocks: 2,
        verdict: &["DEADLOCK between DeadlockThread-C, DeadlockThread-D"],
    },
    Expect {
        entry: "jthreaddump-read-write-lock.txt",
        threads: &[60],
        deadlocks: 3,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-reentrant-lock.txt",
        threads: &[35],
        deadlocks: 1,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-thread-dump-deadlock.txt",
        threads: &[2],
        deadlocks: 1,
        verdict: &["DEADLOCK between Thread-A, Thread-B"],
    },
    Expect {
        entry: "jthreaddump-thread-dump-jcmd.txt",
        threads: &[4],
        deadlocks: 0,
        verdict: &[],
    },
    // Its lines are in reverse order: no dump wasp can read, and it says so.
    Expect {
        entry: "jthreaddump-thread-dump-jstack.txt",
        threads: &[0],
        deadlocks: 0,
        verdict: &["not a thread dump wasp can read", "reverse order"],
    },
    Expect {
        entry: "jthreaddump-thread-dump-minimal.txt",
        threads: &[1],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-thread-dump-multi-deadlock.txt",
        threads: &[5],
        deadlocks: 2,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-thread-pool.txt",
        threads: &[64],
        deadlocks: 3,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-three-way-deadlock.txt",
        threads: &[54],
        deadlocks: 3,
        verdict: &["DeadlockThread-C"],
    },
    Expect {
        entry: "jthreaddump-virtual-thread-deadlock.txt",
        threads: &[37],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-virtual-threads.txt",
        threads: &[29],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "jthreaddump-scenario-deadlock-0.txt",
        threads: &[36],
        deadlocks: 0,
        verdict: &["partly read, 1 of"],
    },
    Expect {
        entry: "jthreaddump-scenario-io-stall-0.txt",
        threads: &[42],
        deadlocks: 0,
        verdict: &[],
    },
    // The scenario: seven pool threads BLOCKED on the monitor an eighth holds.
    Expect {
        entry: "jthreaddump-scenario-lock-contention-0.txt",
        threads: &[42],
        deadlocks: 0,
        verdict: &["7 thread(s) BLOCKED on monitors"],
    },
    Expect {
        entry: "jthreaddump-scenario-thread-pool-exhaustion-0.txt",
        threads: &[38],
        deadlocks: 0,
        verdict: &[],
    },
    // The scenario: four pool threads on a hot method, ~8.2 s of CPU each over 8.3 s.
    Expect {
        entry: "jthreaddump-cpu-hotspot",
        threads: &[38, 38, 38, 38, 38, 34],
        deadlocks: 0,
        verdict: &[
            "busy in the same place: \"pool-4-thread-1\" 99% CPU at me.bechberger.jthreaddump.test.scenarios.TestScenarios$1.hotMethod",
        ],
    },
    Expect {
        entry: "mjprof-test.txt",
        threads: &[54],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "mjprof-test1.txt",
        threads: &[54],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "mjprof-test2.txt",
        threads: &[2],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "ibm-javacore.20241118.122039.37560.0001.txt.gz",
        threads: &[66],
        deadlocks: 0,
        verdict: &[],
    },
    Expect {
        entry: "ibm-javacore.20241118.122813.37560.0002.txt.gz",
        threads: &[66],
        deadlocks: 0,
        verdict: &[],
    },
    // The LOCKS section: LogToFile@0x00000000E06FA928 owned by Default Executor-thread-135, thread-124 waiting.
    Expect {
        entry: "ibm-javacore.20191105.224043.17.0001.txt.gz",
        threads: &[94],
        deadlocks: 0,
        verdict: &["1 thread(s) BLOCKED on monitors"],
    },
    Expect {
        entry: "ibm-hotspot11_small.txt",
        threads: &[1],
        deadlocks: 0,
        verdict: &[],
    },
    // SAP JVM 8.1 (Java 11) on Windows, jcmd Thread.print with SAP's extra lines: 17 Java + 4 VM threads.
    Expect {
        entry: "sapjvm-threaddump.txt",
        threads: &[21],
        deadlocks: 0,
        verdict: &["no deadlock"],
    },
    Expect {
        entry: "jrockit-beansoft-jrve.txt",
        threads: &[2],
        deadlocks: 0,
        verdict: &[],
    },
];

#[test]
fn every_dump_reads_as_its_source_says() {
    let _floor = crate::common::beside();
    let mut bad = Vec::new();
    assert_eq!(
        EXPECT.len(),
        entries().len(),
        "every MANIFEST entry has an expectation"
    );
    for e in EXPECT {
        let g = read(e.entry);
        let per: Vec<usize> = g.dumps.iter().map(|d| d.threads.len()).collect();
        let want: Vec<usize> = e.threads.to_vec();
        if per != want && !(want == [0] && per.iter().all(|&n| n == 0)) {
            bad.push(format!(
                "{}: threads per dump {per:?}, expected {want:?}",
                e.entry
            ));
        }
        let r = &g.report;
        if r.deadlocks.len() != e.deadlocks {
            bad.push(format!(
                "{}: {} deadlocks, the JVM reported {}: {:?}",
                e.entry,
                r.deadlocks.len(),
                e.deadlocks,
                r.deadlocks
            ));
        }
        // Each cycle the JVM reported is found, in the JVM's wait order (up to where it starts).
        if let Some(last) = g.dumps.iter().rev().find(|d| !d.threads.is_empty()) {
            for jvm in &last.jvm_deadlocks {
                let rotations = |c: &Vec<String>| -> Vec<Vec<String>> {
                    (0..c.len())
                        .map(|k| {
                            let mut v: Vec<String> = c
                                .iter()
                                .map(|l| l.split(" (#").next().unwrap_or(l).to_string())
                                .collect();
                            v.rotate_left(k);
                            v
                        })
                        .collect()
                };
                if !r.deadlocks.iter().any(|c| rotations(c).contains(jvm)) {
                    bad.push(format!(
                        "{}: the JVM's cycle {jvm:?} not among {:?}",
                        e.entry, r.deadlocks
                    ));
                }
            }
        }
        let verdict = r.verdict.join("\n");
        for w in e.verdict {
            if !verdict.contains(w) {
                bad.push(format!("{}: verdict lacks {w:?}:\n{verdict}", e.entry));
            }
        }
        // States are java.lang.Thread.State names (or VM for threads without one), whatever the form.
        for s in r.states.keys() {
            if ![
                "RUNNABLE",
                "BLOCKED",
                "WAITING",
                "TIMED_WAITING",
                "NEW",
                "TERMINATED",
                "VM",
            ]
            .contains(&s.as_str())
            {
                bad.push(format!("{}: state {s:?}", e.entry));
            }
        }
        // Never the all-clear without a thread read.
        if !r.readable && verdict.contains("no deadlock") {
            bad.push(format!("{}: all-clear with no thread read", e.entry));
        }
        let _ = &g.inputs;
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Two javacores of one JVM (pid 37560), seven minutes apart, are compared as one JVM's dumps.
#[test]
fn javacores_of_one_jvm_are_compared() {
    let _floor = crate::common::beside();
    let mut kept = VecDeque::new();
    let mut ins = Vec::new();
    for f in [
        "ibm-javacore.20241118.122039.37560.0001.txt.gz",
        "ibm-javacore.20241118.122813.37560.0002.txt.gz",
    ] {
        ins.push(inputs::read_one(f, &bytes(&world().join(f))[..], &mut kept));
    }
    let kept: Vec<ThreadDump> = kept.into();
    assert!(kept.iter().all(|d| d.pid == Some(37560)));
    let r = analysis::analyze_inputs(&kept, &ins, None, &[]);
    assert_eq!((r.dumps, r.dumps_analysed), (2, 2));
    assert!(
        !r.verdict.iter().any(|v| v.contains("different JVMs")),
        "{:?}",
        r.verdict
    );
}

/// The same dump as UTF-8 and as UTF-16 reads the same.
#[test]
fn utf16_reads_as_utf8() {
    let _floor = crate::common::beside();
    let a = read("tda-java21dump.log").dumps;
    let b = read("tda-java21dump_utf16.log").dumps;
    assert_eq!(a, b);
}

/// SAP JVM's own layout: the header runs over three lines (io= and tid= lines after the name line) and frames
/// carry method signatures. Held to what its source's test (jthreaddump's ThreadDumpParserTest) reads from it.
#[test]
fn sap_jvm_threads_read_with_their_ids_cpu_frames_and_locks() {
    let _floor = crate::common::beside();
    let d = &read("sapjvm-threaddump.txt").dumps[0];
    assert!(d.threads.len() == 21, "{}", d.threads.len());
    let main = d.threads.iter().find(|t| t.name == "main").unwrap();
    assert_eq!(
        (main.id, main.nid, main.state.as_str()),
        (Some(1), Some(0x81f4), "RUNNABLE")
    );
    assert_eq!(main.cpu_ms, Some(62.5));
    assert_eq!(main.frames.len(), 13, "{:#?}", main.frames);
    assert!(
        main.frames[0]
            .frame
            .contains("java.io.FileInputStream.readBytes"),
        "{}",
        main.frames[0].frame
    );
    let held: Vec<&str> = main.locks_held().map(|l| l.address.as_str()).collect();
    assert_eq!(held, ["0x00000000eaf0a148", "0x00000000eaf0a5c8"]);
    let fin = d.threads.iter().find(|t| t.name == "Finalizer").unwrap();
    assert_eq!((fin.id, fin.daemon), (Some(3), true));
    assert_eq!(
        (fin.state.as_str(), fin.state_detail.as_str()),
        ("WAITING", "on object monitor")
    );
    let vm: Vec<&str> = d
        .threads
        .iter()
        .filter(|t| t.id.is_none())
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        vm,
        [
            "VM Thread",
            "ParGC Thread#0",
            "ParGC Thread#1",
            "VM Periodic Task Thread"
        ]
    );
}

//! A full data dir is an episode, not a flood: on a small tmpfs filled to the brim the agent keeps collecting
//! and serving, each writer warns once when writing starts failing and once when it works again, and the file
//! sink's record holds no torn line.

use crate::common::http::get;
use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes until the file system refuses.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

fn lines_with(log: &str, words: &[&str]) -> usize {
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

#[test]
fn a_full_data_dir_warns_once_per_writer_and_writing_resumes() {
    let _floor = crate::common::beside();
    if !nix::unistd::geteuid().is_root() || !require("mount") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    if !ok {
        eprintln!("cannot mount a tmpfs here; skipped");
        return;
    }
    let _m = Mounted(mnt.clone());
    let data = mnt.join("data");
    std::fs::create_dir(&data).unwrap();
    let port = free_port();
    let dead = free_port();
    let cfg = dir.path().join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"200ms\"\nhostname = \"full\"\ndata_dir = \"{}\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n[jvm]\nenabled = false\n\
             [sinks.local]\ntype = \"file\"\nrotate_bytes = \"64MB\"\nkeep = 0\n\
             [sinks.prom]\ntype = \"prometheus_remote_write\"\nurl = \"http://127.0.0.1:{dead}/api/v1/write\"\n\
             spool = {{ max_bytes = \"256KB\" }}\n",
            data.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut a = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(2));
    fill(&mnt.join("filler"));
    // The file sink never rotates here: a rotation with keep = 0 truncates, and the space it frees would let
    // the file sink write again mid-episode (a CI run saw no failure at all). Once space is back, the few MB
    // the agent writes in 3 s fit, so the episode ends for good. Ten seconds of a full disk: 50 collections,
    // each of which fails to write to both sinks.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_secs(1));
        let (status, _) = get(port, "/healthz").expect("/healthz answers on a full disk");
        assert_eq!(status, 200, "/healthz on a full disk");
        let (status, body) = get(port, "/metrics").expect("/metrics answers on a full disk");
        assert_eq!(status, 200);
        assert!(body.contains("wasp_collections_total"));
    }
    let jsonl = data.join("wasp.jsonl");
    std::fs::remove_file(mnt.join("filler")).unwrap();
    let freed = wasp::util::clock::now_ms();
    std::thread::sleep(Duration::from_secs(3));
    let record = std::fs::read_to_string(&jsonl).unwrap_or_default();
    let parsed: Vec<serde_json::Value> = record
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        parsed.len(),
        record.lines().count(),
        "every line of the record is whole JSON: a refused write leaves no torn line"
    );
    let last = parsed
        .iter()
        .filter_map(|j| j["timestamp_ms"].as_i64())
        .max()
        .unwrap_or(0);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = a.0.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    eprintln!("{} warnings:\n{}", warns.len(), warns.join("\n"));
    for l in text.lines().filter(|l| l.contains("writing works again")) {
        eprintln!("ended: {l}");
    }
    for writer in ["writer=\"file ", "writer=\"spool prom\""] {
        let started = lines_with(&text, &["WARN", "cannot write;", writer]);
        let ended = lines_with(
            &text,
            &["WARN", "writing works again", "failed_writes=", writer],
        );
        assert_eq!(started, 1, "{writer}: one warning when the episode starts");
        assert_eq!(ended, 1, "{writer}: one when it ends");
    }
    // A failed append left nothing between records: no segment set aside as damaged.
    let bad: Vec<_> = std::fs::read_dir(data.join("spool/prom"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "bad"))
        .collect();
    assert!(bad.is_empty(), "segments set aside: {bad:?}");
    assert!(
        last > freed,
        "the file sink writes again once space is back: newest line at {last}, space back at {freed}"
    );
    assert!(
        warns.iter().filter(|l| l.contains("episode")).count() <= 4,
        "a full disk for 10 s is a handful of warnings, not one per collection: {}",
        warns.len()
    );
}

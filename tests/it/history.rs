//! The local history through the real agent: `kill -9` during writes, the size budget over a long run compressed
//! into a minute, and `wasp history` held column by column against `sar -f` of a sadc file recorded over the
//! same minute.

use crate::common::*;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The timestamps of `metric` in an API answer.
fn times(body: &str) -> BTreeSet<i64> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["series"][0]["points"]
        .as_array()
        .map(|p| p.iter().map(|x| x[0].as_i64().unwrap()).collect())
        .unwrap_or_default()
}

/// `wasp history --metric node_load1` straight from the store (the agent may be dead).
fn stored(dir: &Path) -> BTreeSet<i64> {
    let o = wasp_cmd()
        .arg("-c")
        .arg(dir.join("wasp.toml"))
        .args([
            "history",
            "--metric",
            "node_load1",
            "--since",
            "1h",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "wasp history: {}", stderr(&o));
    times(&stdout(&o))
}

#[test]
fn kill_9_during_writes_loses_at_most_the_last_interval() {
    let _floor = beside();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut lives = Vec::new();
    let mut answered: BTreeSet<i64> = BTreeSet::new();
    let mut gaps = Vec::new();
    for round in 0..10 {
        let life = now_ms();
        let mut agent = agent::start(dir.path(), port, "200ms", "");
        std::thread::sleep(Duration::from_millis(800 + fastrand::u64(0..2500)));
        let (code, body) =
            http::get(port, "/api/v1/history?metric=node_load1&since=1h").expect("API answers");
        assert_eq!(code, 200, "{body}");
        answered.extend(times(&body));
        // Collections published on /metrics: each is handed to the history right after it is published.
        let published =
            http::metric(port, "wasp_collections_total").expect("collections counted") as usize;
        let killed = now_ms();
        agent.0.kill().unwrap();
        agent.0.wait().unwrap();
        // Read-only, with the agent dead: every point the API gave is there, and the store reaches up to the
        // collection in flight at the kill.
        let held = stored(dir.path());
        let missing: Vec<_> = answered.difference(&held).collect();
        assert!(missing.is_empty(), "round {round}: lost {missing:?}");
        let last = *held.last().expect("something stored");
        gaps.push(killed - last);
        // Every collection of this life up to the one before the last published (that one may still be in the
        // history's queue when the kill comes; and one more may have been taken since).
        let this_life = held.range(life..).count();
        assert!(
            this_life + 1 >= published,
            "round {round}: {published} collections published, {this_life} stored"
        );
        lives.push((published, this_life));
    }
    eprintln!(
        "collections (published, stored) per life: {lives:?}; newest stored before each kill -9 (ms): {gaps:?}"
    );
    // The store opens for the agent again and answers through the API with all of it.
    let _agent = agent::start(dir.path(), port, "200ms", "");
    let (_, body) = http::get(port, "/api/v1/history?metric=node_load1&since=1h").unwrap();
    let all = times(&body);
    assert!(answered.is_subset(&all));
    // Nothing was written twice or out of order.
    let v: Vec<i64> = all.iter().copied().collect();
    assert!(v.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn the_size_budget_holds_over_a_long_run() {
    let _floor = beside();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let budget: u64 = 1 << 20;
    let started = now_ms();
    let _agent = agent::start(
        dir.path(),
        port,
        "50ms",
        "[history]\nmax_size = \"1MiB\"\nraw_retention = \"6h\"\n",
    );
    let db = dir.path().join("data/history.sqlite");
    let wal = dir.path().join("data/history.sqlite-wal");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let t = Instant::now();
    let (mut max_db, mut max_wal) = (0, 0);
    let mut first = started;
    // Until the oldest collections are gone (the store went over its budget at least once), then a while more.
    let mut dropped_at = None;
    while t.elapsed() < Duration::from_secs(150) {
        std::thread::sleep(Duration::from_millis(200));
        max_db = max_db.max(size(&db));
        max_wal = max_wal.max(size(&wal));
        if let Some((200, body)) = http::get(port, "/api/v1/history?metric=node_load1&since=1h")
            && let Some(f) = times(&body).first()
        {
            first = *f;
        }
        if dropped_at.is_none() && first > started + 2_000 {
            dropped_at = Some(t.elapsed());
        }
        if dropped_at.is_some_and(|d| t.elapsed() > d + Duration::from_secs(20)) {
            break;
        }
    }
    let collections = http::metric(port, "wasp_history_collections_total").unwrap_or(0.0);
    eprintln!(
        "{collections} collections stored; database at most {max_db} bytes, WAL at most {max_wal} bytes; oldest kept {} s after the start",
        (first - started) / 1000
    );
    assert!(
        dropped_at.is_some(),
        "the budget was never reached: {}",
        agent::log(dir.path())
    );
    assert!(max_db <= budget, "database grew to {max_db} bytes");
    // The WAL is truncated to 1 MiB after each checkpoint (every 256 pages); one transaction may pass it.
    assert!(
        max_wal <= (1 << 20) + (512 << 10),
        "WAL grew to {max_wal} bytes"
    );
    // The newest data is always there.
    let (_, body) = http::get(port, "/api/v1/history?metric=node_load1&since=10s").unwrap();
    assert!(!times(&body).is_empty());
}

/// sar's Average rows of a `sar -f` report: per section, column name -> value, keyed by the row's first column
/// when the section has one (CPU, IFACE).
fn sar_averages(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
        let Some(head) = lines.first() else { continue };
        let hdr: Vec<&str> = head.split_whitespace().skip(1).collect();
        for l in lines.iter().filter(|l| l.starts_with("Average:")) {
            let toks: Vec<&str> = l.split_whitespace().skip(1).collect();
            let keyed = toks.first().is_some_and(|t| !is_num(t));
            let key = if keyed { toks[0] } else { "" };
            for (h, v) in hdr.iter().zip(&toks).skip(usize::from(keyed)) {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{key}{h}"), v);
                }
            }
        }
    }
    out
}

/// The Average rows of `wasp history -f json`, the same way.
fn wasp_averages(v: &serde_json::Value) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for t in v.as_array().unwrap() {
        let cols: Vec<&str> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for r in t["rows"].as_array().unwrap() {
            if !r["time_ms"].is_null() {
                continue;
            }
            let key = r["key"].as_str().unwrap();
            for (c, x) in cols.iter().zip(r["values"].as_array().unwrap()) {
                if let Some(x) = x.as_f64() {
                    out.insert(format!("{key}{c}"), x);
                }
            }
        }
    }
    out
}

#[test]
fn wasp_history_agrees_with_sar_f_of_a_sadc_file_column_by_column() {
    let sadc = "/usr/lib/sysstat/sadc";
    if !require("sar") || !require(sadc) {
        return;
    }
    let _floor = alone();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _agent = agent::start(dir.path(), port, "1s", "");
    // Loopback traffic, so that the network columns carry something.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(mut s) = std::net::TcpStream::connect(a) {
                    let _ = std::io::Write::write_all(&mut s, &[7u8; 64 << 10]);
                }
                let _ = l.accept();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let file = dir.path().join("sa");
    let n = 60;
    let from = now_ms();
    // -S SNMP: the TCP and ETCP counters are not in sadc's default set.
    let o = tool(sadc)
        .args(["-S", "SNMP", "1", &n.to_string()])
        .arg(&file)
        .output()
        .unwrap();
    let to = now_ms();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().unwrap();
    assert!(o.status.success(), "sadc: {}", stderr(&o));
    let sar = tool("sar")
        .arg("-f")
        .arg(&file)
        .args(["-u", "ALL", "-q", "-r", "-n", "DEV,TCP,ETCP"])
        .output()
        .unwrap();
    assert!(sar.status.success(), "sar -f: {}", stderr(&sar));
    let sar_text = stdout(&sar);
    let theirs = sar_averages(&sar_text);
    // The span sar's Average covers: from the first record (the baseline) to the last, as sadf gives them in
    // Unix seconds (whole seconds: half a second either side catches wasp's collections at 1 s apart).
    let sadf = tool("sadf")
        .args(["-U", "-d"])
        .arg(&file)
        .args(["--", "-q"])
        .output()
        .unwrap();
    let stamps: Vec<i64> = stdout(&sadf)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(';').nth(2)?.parse().ok())
        .collect();
    let (from, to) = match (stamps.first(), stamps.last()) {
        (Some(f), Some(l)) => ((f - 1) * 1000 - 500, l * 1000 + 500),
        _ => (from, to),
    };
    // Let the agent store its last collection of the minute.
    std::thread::sleep(Duration::from_millis(1500));
    let o = wasp_cmd()
        .arg("-c")
        .arg(dir.path().join("wasp.toml"))
        .args(["history", "-f", "json", "--from"])
        .arg(format!("{}", from as f64 / 1000.0))
        .arg("--to")
        .arg(format!("{}", to as f64 / 1000.0))
        .output()
        .unwrap();
    assert!(o.status.success(), "wasp history: {}", stderr(&o));
    let ours = wasp_averages(&serde_json::from_slice(&o.stdout).unwrap());
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut cmp = |key: &str, our_key: &str, abs: f64, rel: f64, failures: &mut Vec<String>| match (
        ours.get(our_key),
        theirs.get(key),
    ) {
        (Some(w), Some(s)) => {
            compared += 1;
            check(key, *w, *s, abs, rel, failures)
        }
        (w, s) => failures.push(format!("{key}: wasp {w:?} sar {s:?}")),
    };
    // The tolerances of host_tools.rs: percentages of ticks 3 points; instantaneous gauges of a busy machine
    // (run queue 4, threads 30); load averages 0.3; network rates 2/s or 8 %; TCP 3/s or 8 %, ETCP 2/s or 10 %.
    for c in [
        "%usr", "%nice", "%sys", "%iowait", "%steal", "%irq", "%soft", "%guest", "%gnice", "%idle",
    ] {
        cmp(&format!("all{c}"), c, 3.0, 0.0, &mut failures);
    }
    // Load averages: the live test's 0.3, or 2 % — these are means of 60 readings up to half a second apart,
    // and on this shared machine ldavg-1 has moved by ~1 per 5 s kernel tick (a full-suite run: 31.22 vs 30.69).
    for (c, abs, rel) in [
        ("runq-sz", 4.0, 0.0),
        ("plist-sz", 30.0, 0.0),
        ("ldavg-1", 0.3, 0.02),
        ("ldavg-5", 0.3, 0.02),
        ("ldavg-15", 0.3, 0.02),
        ("blocked", 3.0, 0.0),
    ] {
        cmp(c, c, abs, rel, &mut failures);
    }
    // Memory, kB: means of 60 readings taken up to a second apart on a machine where others build; 5 %.
    for c in [
        "kbmemfree",
        "kbavail",
        "kbmemused",
        "kbbuffers",
        "kbcached",
        "kbcommit",
        "kbactive",
        "kbinact",
        "kbdirty",
    ] {
        cmp(c, c, 65536.0, 0.05, &mut failures);
    }
    for c in ["%memused", "%commit"] {
        cmp(c, c, 1.0, 0.05, &mut failures);
    }
    let ifaces: BTreeSet<&str> = theirs
        .keys()
        .filter_map(|k| k.strip_suffix("rxpck/s"))
        .collect();
    assert!(ifaces.contains("lo"), "{sar_text}");
    for i in ifaces {
        for c in [
            "rxpck/s", "txpck/s", "rxkB/s", "txkB/s", "rxcmp/s", "txcmp/s", "rxmcst/s",
        ] {
            cmp(
                &format!("{i}{c}"),
                &format!("{i}{c}"),
                2.0,
                0.08,
                &mut failures,
            );
        }
    }
    for c in ["active/s", "passive/s", "iseg/s", "oseg/s"] {
        cmp(c, c, 3.0, 0.08, &mut failures);
    }
    for c in ["atmptf/s", "estres/s", "retrans/s", "isegerr/s", "orsts/s"] {
        cmp(c, c, 2.0, 0.1, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} columns differ:\n{}\n\nsar -f printed:\n{sar_text}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("wasp history vs sar -f: {compared} columns within tolerance");
}

#[test]
fn the_history_api_answers_only_with_the_bearer_token_and_refuses_bad_queries() {
    let _floor = beside();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = crate::common::agent::token_config(dir.path(), port, "200ms");
    let _agent = Reaped(
        wasp_cmd()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let get = |path: &str, token: Option<&str>| crate::common::http::get_as(port, path, token);
    let q = "/api/v1/history?metric=node_load1&since=1m";
    let t = Instant::now();
    let body = loop {
        match get(q, Some("s3cret-token")) {
            Some((200, b)) if !times(&b).is_empty() => break b,
            _ if t.elapsed() > Duration::from_secs(10) => panic!("no history through the API"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(
        body.starts_with(r#"{"series":[{"labels":{},"points":[["#),
        "{body}"
    );
    assert_eq!(get(q, None).unwrap().0, 401);
    assert_eq!(get(q, Some("wrong")).unwrap().0, 401);
    let t = Some("s3cret-token");
    for bad in [
        "/api/v1/history?since=1m",
        "/api/v1/history?metric=node_load1&sinse=1m",
        "/api/v1/history?metric=node_load1&start=tomorrow",
        "/api/v1/history?metric=node_load1&match[]=nolabel",
    ] {
        let (code, body) = get(bad, t).unwrap();
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }
    // Label matchers, both forms.
    let (_, body) = get(
        "/api/v1/history?metric=node_cpu_seconds_total&since=1m&match[]=mode=%22idle%22&label.cpu=0",
        t,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{body}");
    assert_eq!(series[0]["labels"]["mode"], "idle");
}

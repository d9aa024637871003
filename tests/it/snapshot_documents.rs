//! Snapshot documents reach the document sinks: `wasp run` with an `http_json` sink (a strict NDJSON server
//! started here) and a `file` sink. SIGUSR1 -> a "thread_dump" document per JVM, with the pid, app and thread
//! counts of the dump file on disk, at the server and in wasp.jsonl; SIGUSR2 -> an "incident" document (and the
//! bundle's thread_dump and class_histogram documents); a 2,000-thread JVM's document stays under 64 KiB.

use crate::common::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Store {
    lines: Vec<Value>,
    /// Elasticsearch: _id -> (index, source).
    es: BTreeMap<String, (String, Value)>,
    refused: Vec<String>,
}
type S = Arc<Mutex<Store>>;

/// NDJSON as http_json sends it: the content type, gzip when said, one JSON object per line; else 400.
async fn ingest(st: axum::extract::State<S>, h: HeaderMap, b: Bytes) -> (StatusCode, String) {
    let s = st.0;
    let refuse = |why: String| {
        s.lock().unwrap().refused.push(why.clone());
        (StatusCode::BAD_REQUEST, why)
    };
    if h.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-ndjson") {
        return refuse(format!("content-type {:?}", h.get("content-type")));
    }
    let raw = match h.get("content-encoding").and_then(|v| v.to_str().ok()) {
        None => b.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            if let Err(e) = flate2::read::GzDecoder::new(&b[..]).read_to_end(&mut out) {
                return refuse(format!("not gzip: {e}"));
            }
            out
        }
        Some(o) => return refuse(format!("content-encoding {o}")),
    };
    let Ok(text) = String::from_utf8(raw) else {
        return refuse("not UTF-8".into());
    };
    let mut got = Vec::new();
    for l in text.lines() {
        match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => got.push(v),
            _ => return refuse(format!("not a JSON object: {}", &l[..l.len().min(80)])),
        }
    }
    s.lock().unwrap().lines.extend(got);
    (StatusCode::NO_CONTENT, String::new())
}

/// Elasticsearch `_bulk` as the spec says: ndjson, `create` actions with `_index` and `_id`, each followed by its
/// source (an object with `@timestamp`); answers per item (409 for an `_id` already there).
async fn bulk(st: axum::extract::State<S>, h: HeaderMap, b: Bytes) -> (StatusCode, String) {
    let s = st.0;
    let refuse = |why: String| {
        s.lock().unwrap().refused.push(format!("bulk: {why}"));
        (StatusCode::BAD_REQUEST, why)
    };
    if h.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-ndjson") {
        return refuse(format!("content-type {:?}", h.get("content-type")));
    }
    let raw = match h.get("content-encoding").and_then(|v| v.to_str().ok()) {
        None => b.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            if let Err(e) = flate2::read::GzDecoder::new(&b[..]).read_to_end(&mut out) {
                return refuse(format!("not gzip: {e}"));
            }
            out
        }
        Some(o) => return refuse(format!("content-encoding {o}")),
    };
    let Ok(text) = String::from_utf8(raw) else {
        return refuse("not UTF-8".into());
    };
    let lines: Vec<&str> = text.lines().collect();
    if !text.ends_with('\n') || !lines.len().is_multiple_of(2) {
        return refuse("actions and sources do not pair, or no final newline".into());
    }
    let mut items = Vec::new();
    for pair in lines.chunks(2) {
        let (Ok(action), Ok(src)) = (
            serde_json::from_str::<Value>(pair[0]),
            serde_json::from_str::<Value>(pair[1]),
        ) else {
            return refuse("a line is not JSON".into());
        };
        let (Some(index), Some(id)) = (
            action["create"]["_index"].as_str(),
            action["create"]["_id"].as_str(),
        ) else {
            return refuse(format!("not a create with _index and _id: {action}"));
        };
        if !src.is_object() || !src["@timestamp"].is_string() {
            return refuse("source without @timestamp".into());
        }
        let mut st = s.lock().unwrap();
        let status = if st.es.contains_key(id) { 409 } else { 201 };
        st.es.insert(id.to_string(), (index.to_string(), src));
        items.push(serde_json::json!({"create": {"_index": index, "_id": id, "status": status}}));
    }
    let errors = items.iter().any(|i| i["create"]["status"] != 201);
    (
        StatusCode::OK,
        serde_json::json!({"took": 1, "errors": errors, "items": items}).to_string(),
    )
}

fn serve(store: S) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/ingest", post(ingest))
                .route("/_bulk", post(bulk))
                .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
                .with_state(store);
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    port
}

fn classes(main: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-classes-{main}"));
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/dumps/{main}.java"));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // Compiled again when the source changed; one at a time, or a JVM may load a half-written class.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _one = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    if mtime(&dir.join(format!("{main}.class"))) < mtime(&src) {
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            Command::new("javac")
                .args(["--release", "17", "-d"])
                .arg(&dir)
                .arg(src)
                .status()
                .unwrap()
                .success()
        );
    }
    dir
}

/// A JVM running `main` under the app name `app` (unique per test, so that the agent's signal_apps take only
/// this test's JVMs, whatever else runs on the host), once it printed "ready".
fn jvm(main: &str, app: &str, args: &[&str]) -> Reaped {
    let dir = classes(main);
    let mut p = Reaped(
        Command::new("/usr/bin/java")
            .args(["-Xmx64m", "-Xss256k", &format!("-Dwasp.app={app}"), "-cp"])
            .arg(&dir)
            .arg(main)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(p.0.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 {
        if line.starts_with("ready") {
            break;
        }
        line.clear();
    }
    assert!(line.starts_with("ready"), "{main} did not start");
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    // Lab's deadlocks form 300 ms after it says ready; 800 ms leaves a loaded machine room.
    std::thread::sleep(Duration::from_millis(800));
    p
}

fn agent(dir: &Path, port: u16, listen: u16, apps: &[&str]) -> Reaped {
    let cfg = dir.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[agent]
interval = "1s"
data_dir = "{data}"
[server]
listen = "127.0.0.1:{listen}"
[snapshots]
bundle_dumps = 2
bundle_every = "300ms"
signal_apps = {apps:?}
[sinks.json]
type = "http_json"
url = "http://127.0.0.1:{port}/ingest"
batch = {{ max_delay = "100ms" }}
[sinks.es]
type = "elasticsearch"
url = "http://127.0.0.1:{port}/_bulk"
index = "wasp-{{kind}}-%Y.%m"
batch = {{ max_delay = "100ms" }}
[sinks.file]
type = "file"
batch = {{ max_delay = "100ms" }}
"#,
            data = dir.join("data").display(),
        ),
    )
    .unwrap();
    let p = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("agent.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    crate::common::agent::wait_first_collection(dir);
    p
}

fn signal(p: &Reaped, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.0.id() as i32), s).unwrap();
}

fn docs_in_file(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("data/wasp.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("kind").is_some() && v.get("body").is_some())
        .collect()
}

/// Waits until both the server and the file hold a document that `pick` accepts; returns (server, file).
fn wait_doc(
    store: &S,
    dir: &Path,
    within: Duration,
    pick: impl Fn(&Value) -> bool,
) -> (Value, Value) {
    let t = Instant::now();
    loop {
        let s = store
            .lock()
            .unwrap()
            .lines
            .iter()
            .find(|v| pick(v))
            .cloned();
        let f = docs_in_file(dir).into_iter().find(|v| pick(v));
        if let (Some(s), Some(f)) = (s, f) {
            return (s, f);
        }
        assert!(t.elapsed() < within, "no such document within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for an Elasticsearch document that `pick` accepts; returns (index, source).
fn wait_es(store: &S, pick: impl Fn(&Value) -> bool) -> (String, Value) {
    let t = Instant::now();
    loop {
        if let Some(hit) = store.lock().unwrap().es.values().find(|(_, v)| pick(v)) {
            return hit.clone();
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not in Elasticsearch"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is(kind: &'static str, pid: u32) -> impl Fn(&Value) -> bool {
    move |v| v["kind"] == kind && v["labels"]["pid"] == pid.to_string().as_str()
}

/// Thread counts of a dump file, read independently of wasp's parser: each thread's header line (a quoted
/// name with nid=; the deadlock report's quoted names have none) and its java.lang.Thread.State line.
fn file_counts(text: &str) -> (u64, BTreeMap<String, u64>) {
    let threads = text
        .lines()
        .filter(|l| l.starts_with('"') && l.contains(" nid="))
        .count() as u64;
    let mut states = BTreeMap::new();
    for l in text.lines() {
        if let Some(s) = l.trim().strip_prefix("java.lang.Thread.State: ") {
            let s = s.split_whitespace().next().unwrap_or("").to_string();
            *states.entry(s).or_default() += 1;
        }
    }
    (threads, states)
}

fn check_counts(doc: &Value, dump: &Path) {
    let (threads, states) = file_counts(&std::fs::read_to_string(dump).unwrap());
    let b = &doc["body"];
    assert_eq!(b["threads"], threads, "threads of {}", dump.display());
    for (s, n) in &states {
        assert_eq!(b["states"][s], *n, "{s} threads of {}", dump.display());
    }
    // Every thread without a Java state is a VM thread.
    let java: u64 = states.values().sum();
    assert_eq!(b["states"]["VM"], threads - java);
}

fn manifest(snapshot: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(snapshot.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn signals_send_thread_dump_and_incident_documents_to_the_sinks() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") {
        return;
    }
    let tag = std::process::id();
    let (a1, a2) = (format!("docs-lab-{tag}-1"), format!("docs-lab-{tag}-2"));
    let (j1, j2) = (jvm("Lab", &a1, &[]), jvm("Lab", &a2, &[]));
    let store: S = Arc::default();
    let port = serve(store.clone());
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let a = agent(dir.path(), port, listen, &[&a1, &a2]);

    signal(&a, nix::sys::signal::Signal::SIGUSR1);
    for (j, app) in [(&j1, &a1), (&j2, &a2)] {
        let pid = j.0.id();
        let (s, f) = wait_doc(
            &store,
            dir.path(),
            Duration::from_secs(20),
            is("thread_dump", pid),
        );
        // The same document at the server and in the file (the file sink adds nothing but the host).
        assert_eq!(s, f);
        assert_eq!(s["labels"]["app"], app.as_str());
        assert!(s["host"].is_string());
        let b = &s["body"];
        assert_eq!(b["snapshot"]["reason"]["name"], "SIGUSR1");
        assert_eq!(b["jvm"]["pid"], pid);
        let snap = PathBuf::from(b["snapshot"]["path"].as_str().unwrap());
        let m = manifest(&snap);
        assert_eq!(b["snapshot"]["id"], m["id"]);
        let entry = m["jvms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["pid"] == pid)
            .unwrap();
        assert_eq!(entry["app"], app.as_str());
        check_counts(&s, &snap.join(format!("{pid}-{app}-threads-1.txt")));
        // What Lab does: the deadlocks, the BLOCKED threads behind "monitor-holder", the spinner on top.
        assert_eq!(b["deadlocks"]["count"], 3, "{b}");
        assert!(
            b["blocked"]["by_lock"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["owner"] == "monitor-holder"),
            "{b}"
        );
        assert_eq!(b["hot"]["source"], "cpu_time_since_start");
        assert_eq!(b["hot"]["threads"][0]["thread"], "busy-spinner");
        let size = serde_json::to_string(&s).unwrap().len();
        assert!(size < 16 * 1024, "{size} bytes");
        // Elasticsearch got it too, in the index of its kind.
        let (index, src) = wait_es(&store, |v| is("thread_dump", pid)(v));
        assert!(index.starts_with("wasp-thread_dump-"), "{index}");
        assert_eq!(src["body"], s["body"]);
        assert_eq!(src["labels"], s["labels"]);
    }

    // A histogram alone (wasp trigger histo) gives a class_histogram document.
    let pid2 = j2.0.id();
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["trigger", "histo", "--pid", &pid2.to_string(), "--config"])
        .arg(dir.path().join("wasp.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (h, _) = wait_doc(&store, dir.path(), Duration::from_secs(20), |v| {
        is("class_histogram", pid2)(v) && v["body"]["snapshot"]["kind"] == "histo"
    });
    assert_eq!(h["labels"]["app"], a2.as_str());
    assert_eq!(h["body"]["snapshot"]["reason"]["source"], "cli");
    let (index, _) = wait_es(&store, |v| is("class_histogram", pid2)(v));
    assert!(index.starts_with("wasp-class_histogram-"), "{index}");

    signal(&a, nix::sys::signal::Signal::SIGUSR2);
    let pid = j1.0.id();
    let (inc, finc) = wait_doc(&store, dir.path(), Duration::from_secs(30), |v| {
        v["kind"] == "incident" && v["body"]["snapshot"]["reason"]["name"] == "SIGUSR2"
    });
    assert_eq!(inc, finc);
    let (_, esinc) = wait_es(&store, |v| v["kind"] == "incident");
    assert_eq!(esinc["body"], inc["body"]);
    let b = &inc["body"];
    let snap = PathBuf::from(b["snapshot"]["path"].as_str().unwrap());
    let m = manifest(&snap);
    assert_eq!(b["manifest_id"], m["id"]);
    assert_eq!(inc["labels"]["snapshot"], m["id"]);
    assert_eq!(b["jvm_count"], 2);
    // Every file of the bundle, its manifest too.
    assert_eq!(b["files"], std::fs::read_dir(&snap).unwrap().count());
    let mine = b["jvms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["pid"] == pid)
        .unwrap();
    assert_eq!(mine["app"], a1.as_str());
    assert!(
        b["findings"].as_array().unwrap().iter().any(|f| {
            let f = f.as_str().unwrap();
            f.starts_with(&format!("{pid} {a1}: DEADLOCK"))
        }),
        "{}",
        b["findings"]
    );
    assert!(b["host"]["memory"]["total"].as_u64().unwrap() > 0);
    // The bundle's own thread_dump (CPU sampled: the spinner first) and class_histogram documents.
    let bundle_doc = |kind: &'static str| {
        let id = m["id"].as_str().unwrap().to_string();
        wait_doc(&store, dir.path(), Duration::from_secs(5), move |v| {
            is(kind, pid)(v) && v["body"]["snapshot"]["id"] == id.as_str()
        })
        .0
    };
    let td = bundle_doc("thread_dump");
    assert_eq!(td["body"]["dumps"], 2);
    assert_eq!(td["body"]["hot"]["source"], "sampled");
    assert_eq!(td["body"]["hot"]["threads"][0]["thread"], "busy-spinner");
    check_counts(&td, &snap.join(format!("{pid}-{a1}-threads-2.txt")));
    let h = bundle_doc("class_histogram");
    assert_eq!(h["body"]["top"].as_array().unwrap().len(), 30);
    let text = std::fs::read_to_string(snap.join(format!("{pid}-{a1}-histogram.txt"))).unwrap();
    let total: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("Total"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        h["body"]["total_bytes"].as_u64().unwrap().to_string(),
        total[2]
    );
    assert!(
        store.lock().unwrap().refused.is_empty(),
        "{:?}",
        store.lock().unwrap().refused
    );
    // Two dumps, one histogram, then the bundle's two dumps, two histograms and the incident; none cut. The exposition is
    // rendered by the next collection (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    let m = metrics(listen);
    assert!(m.contains("wasp_snapshots_documents_total 8\n"), "{m}");
    assert!(
        m.contains("wasp_snapshots_documents_truncated_total 0\n"),
        "{m}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["status", "--format", "json", "--config"])
        .arg(dir.path().join("wasp.toml"))
        .output()
        .unwrap();
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    // Sections come as [name, value] pairs.
    let section = |n: &str| {
        st.as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == n)
            .map(|p| p[1].clone())
            .unwrap_or_else(|| panic!("no {n} in {st}"))
    };
    let snaps = section("snapshots");
    assert_eq!(snaps["documents"], 8, "{snaps}");
    assert_eq!(snaps["documents_truncated"], 0, "{snaps}");
    // Elasticsearch takes documents only: all 8 went there, and it holds each once.
    let es = section("shipping")
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "es")
        .cloned()
        .unwrap();
    assert_eq!(es["sent_items"], 8, "{es}");
    assert_eq!(store.lock().unwrap().es.len(), 8);
    // The daemon still gets the shipper back to itself and stops cleanly.
    let mut a = a;
    signal(&a, nix::sys::signal::Signal::SIGTERM);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = a.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(3), "agent did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("still in use"), "{log}");
}

fn metrics(port: u16) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut b = String::new();
    s.read_to_string(&mut b).unwrap();
    b
}

#[test]
fn a_2000_thread_jvm_document_stays_under_64_kib() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") {
        return;
    }
    let app = format!("docs-crowd-{}", std::process::id());
    let j = jvm("Crowd", &app, &["2000"]);
    let store: S = Arc::default();
    let port = serve(store.clone());
    let dir = tempfile::tempdir().unwrap();
    let a = agent(dir.path(), port, free_port(), &[&app]);
    signal(&a, nix::sys::signal::Signal::SIGUSR1);
    let pid = j.0.id();
    let (s, _) = wait_doc(
        &store,
        dir.path(),
        Duration::from_secs(60),
        is("thread_dump", pid),
    );
    let snap = PathBuf::from(s["body"]["snapshot"]["path"].as_str().unwrap());
    let dump = snap.join(format!("{pid}-{app}-threads-1.txt"));
    let dump_bytes = std::fs::metadata(&dump).unwrap().len();
    let size = serde_json::to_string(&s).unwrap().len();
    eprintln!("2,000-thread dump: {dump_bytes} bytes on disk, document {size} bytes");
    assert!(
        dump_bytes > 2 << 20,
        "the dump is large ({dump_bytes} bytes)"
    );
    assert!(size <= 64 * 1024, "document of {size} bytes");
    check_counts(&s, &dump);
    assert!(s["body"]["threads"].as_u64().unwrap() > 2000);
    // A quarter of the threads wait for the monitor of another quarter: 500 locks, 10 named.
    assert_eq!(s["body"]["blocked"]["threads"], 500);
    assert_eq!(s["body"]["blocked"]["locks"], 500);
    assert_eq!(
        s["body"]["blocked"]["by_lock"].as_array().unwrap().len(),
        10
    );
}

//! The dashboards and alert rules people already run, pointed at wasp: Debian's Prometheus scrapes `wasp run`
//! (job "wasp") and Debian's node_exporter (job "node") side by side on loopback, with the node-mixin's
//! recording and alert rules loaded once per job, the jvm-mixin's alerts and wasp's own rules. Every panel
//! query of Node Exporter Full, the node-mixin dashboards, the jvm-mixin dashboard and wasp's own dashboards
//! (tests/fixtures/dashboards, packaging/grafana) is run as Grafana would run it: template variables resolved
//! from their own queries, then substituted. Checked: every query node_exporter fills, wasp fills (or wasp
//! lacks the metric and node_exporter.rs's NOT_PRODUCED says why); every node-mixin rule's series node_exporter
//! has, wasp has; no node-mixin alert fires on wasp that does not on node_exporter; the key panels agree; every
//! jvm-mixin panel fills for a real JVM (less JVM_NOT_FILLED, what hsperfdata lacks) and its heap and GC figures
//! equal jstat's; every panel of wasp's own dashboards returns data. Last, a killed JVM's series go stale in
//! Prometheus within two scrapes.

use crate::common::prometheus::{Prometheus, now};
use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// jvm-mixin metrics wasp does not produce, and why (docs/jvm-metrics.md): hsperfdata lacks the figure.
const JVM_NOT_FILLED: &[(&str, &str)] = &[
    (
        "jvm_memory_used_bytes{area=\"nonheap\"",
        "non-heap includes the code heaps, which hsperfdata does not count",
    ),
    (
        "jvm_memory_max_bytes{area=\"nonheap\"",
        "non-heap includes the code heaps, which hsperfdata does not count",
    ),
    (
        "jvm_memory_committed_bytes{area=\"nonheap\"",
        "non-heap includes the code heaps, which hsperfdata does not count",
    ),
    ("jvm_buffer_pool_", "buffer pools are not in hsperfdata"),
    (
        "jvm_threads_deadlocked",
        "deadlock detection needs the ThreadMXBean (a thread dump finds them: wasp dump)",
    ),
    ("jvm_threads_state", "thread states are not in hsperfdata"),
    (
        "jvm_memory_pool_allocated_bytes_total",
        "per-pool allocation is not in hsperfdata (wasp_jvm_eden_fill_bytes_per_second)",
    ),
    (
        "jvm_memory_pool_max_bytes{pool=~\"(G1 |PS )?Survivor Space\"",
        "G1's survivor max is undefined (-1) in the JVM's own bean: client_java leaves it empty too",
    ),
    (
        "{pool=\"PS Old Gen\"",
        "the jvm-mixin's Tenured panel reads only Parallel GC's pool; the test JVM runs G1",
    ),
    (
        "jvm_memory_pool_used_bytes{pool=~\"CodeHeap",
        "the code heap pools are not in hsperfdata",
    ),
    (
        "jvm_memory_pool_max_bytes{pool=~\"CodeHeap",
        "the code heap pools are not in hsperfdata",
    ),
    (
        "jvm_memory_pool_committed_bytes{pool=~\"CodeHeap",
        "the code heap pools are not in hsperfdata",
    ),
];

/// Series wasp's own rules read that exist only once their event happened (a JVM came back under a new pid).
const OWN_RULES_AFTER_EVENT: &[&str] = &["wasp_jvm_restarts_total"];

/// The app name the test JVM goes by (-Dwasp.app): its instance after the relabelling recipe ends in it.
const APP: &str = "dashjvm";
/// Grafana's built-in interval variables, for 1 s scrapes and a 10-minute view.
const BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval", "8s"),
    ("__interval", "2s"),
    ("__interval_ms", "2000"),
    ("__range", "20s"),
    ("__range_s", "20"),
    ("__range_ms", "20000"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dashboards")
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (panel title, expr) of every Prometheus query of the dashboard, rows and their collapsed panels included.
fn targets(dash: &Value) -> Vec<(String, String)> {
    fn walk(ps: &Value, out: &mut Vec<(String, String)>) {
        for p in ps.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    out.push((title.clone(), e.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    for r in dash["rows"].as_array().into_iter().flatten() {
        walk(&r["panels"], &mut out);
    }
    out
}

/// `$name`, `${name}`, `${name:format}` and `[[name]]` replaced by their values; unknown names stay.
fn subst(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (name, len) = if let Some(r) = rest.strip_prefix("${") {
            match r.find('}') {
                Some(e) => (r[..e].split(':').next().unwrap_or(""), e + 3),
                None => ("", 0),
            }
        } else if let Some(r) = rest.strip_prefix("[[") {
            match r.find("]]") {
                Some(e) => (&r[..e], e + 4),
                None => ("", 0),
            }
        } else if let Some(r) = rest.strip_prefix('$') {
            let n = r
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            (&r[..n], n + 1)
        } else {
            ("", 0)
        };
        match vars.get(name) {
            Some(v) if len > 0 => {
                out.push_str(v);
                rest = &rest[len..];
            }
            _ => {
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The dashboard's template variables, resolved in order as Grafana does on load: `job` is the job under test,
/// a query variable takes its first value (`prefer` picks another), an empty one with "All" its allValue.
fn resolve(
    prom: &Prometheus,
    dash: &Value,
    job: &str,
    at: f64,
    prefer: &dyn Fn(&str, &[String]) -> Option<String>,
) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = BUILTINS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("").to_string();
        if v["type"] != "query" {
            continue;
        }
        if name == "job" {
            vars.insert(name, job.to_string());
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap_or("");
        let q = subst(q, &vars);
        let values = label_values_query(prom, &q, at);
        let value = match prefer(&name, &values).or_else(|| values.first().cloned()) {
            Some(x) => x,
            None if v["includeAll"] == true => v["allValue"].as_str().unwrap_or(".*").to_string(),
            None => String::new(),
        };
        vars.insert(name, value);
    }
    vars
}

/// Grafana's `label_values(selector, label)` and `label_values(label)`.
fn label_values_query(prom: &Prometheus, q: &str, at: f64) -> Vec<String> {
    let Some(inner) = q
        .trim()
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return Vec::new();
    };
    match inner.rsplit_once(',') {
        Some((sel, label)) => prom.label_values(sel.trim(), label.trim(), at),
        None => prom.label_values(&format!("{{{}=~\".+\"}}", inner.trim()), inner.trim(), at),
    }
}

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers, ranges and
/// grouping lists that are not functions or keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "topk",
        "bottomk",
        "quantile",
        "stddev",
        "stdvar",
        "group",
        "count_values",
    ];
    let b = expr.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < b.len() {
        let c = b[i] as char;
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < b.len() && b[i] as char != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' || c == '[' || (c == '(' && skip_list) {
            let close = match c {
                '{' => b'}',
                '[' => b']',
                _ => b')',
            };
            while i < b.len() && b[i] != close {
                i += 1;
            }
            i += 1;
            skip_list = false;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let s = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b"_:".contains(&b[i])) {
                i += 1;
            }
            let word = &expr[s..i];
            let next = expr[i..].trim_start().chars().next();
            skip_list = matches!(
                word,
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            );
            if next != Some('(') && !KEYWORDS.contains(&word) {
                out.insert(word.to_string());
            }
        } else {
            if !c.is_whitespace() {
                skip_list = false;
            }
            i += 1;
        }
    }
    out.retain(|n| n.contains('_') || n.contains(':'));
    out
}

struct Setup {
    dir: tempfile::TempDir,
    prom: Prometheus,
    /// The host instance of each job (its scrape target).
    instance: BTreeMap<&'static str, String>,
    jvm: Reaped,
    wasp_port: u16,
    _ne: Reaped,
    _wasp: Reaped,
}

impl Setup {
    /// Whether `job`'s host target has any series of `name` (or, with `{`, of that selector's prefix).
    fn has(&self, job: &str, name: &str, at: f64) -> bool {
        let q = format!(
            "count({{__name__=\"{name}\",job=\"{job}\",instance=\"{}\"}})",
            self.instance[job]
        );
        self.prom.query(&q, at).is_ok_and(|r| !r.is_empty())
    }
}

fn idle_classes() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dash-idle");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        Command::new("javac")
            .args(["--release", "8", "-nowarn", "-d"])
            .arg(&dir)
            .arg(fixtures().join("Idle.java"))
            .status()
            .unwrap()
            .success()
    );
    dir
}

fn start_idle_jvm() -> Reaped {
    let mut j = Reaped(
        Command::new("java")
            .args([
                "-XX:+UseG1GC",
                "-Xmx128m",
                "-XX:+UsePerfData",
                &format!("-Dwasp.app={APP}"),
                "-cp",
            ])
            .arg(idle_classes())
            .arg("Idle")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = std::io::BufReader::new(j.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the idle JVM did not start");
    j
}

fn rules_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for f in ["rules.yaml", "alerts.yaml"] {
        let text = std::fs::read_to_string(fixtures().join("node-mixin").join(f)).unwrap();
        for job in ["node", "wasp"] {
            let p = dir.join(format!("node-mixin-{job}-{f}"));
            std::fs::write(&p, text.replace("job=\"node\"", &format!("job=\"{job}\""))).unwrap();
            files.push(p);
        }
    }
    files.push(fixtures().join("jvm-mixin/alerts.yaml"));
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/wasp-rules.yml"));
    files
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let jvm = start_idle_jvm();
    let ne_port = free_port();
    let ne = crate::common::backends::node_exporter_at(ne_port);
    let wasp_port = free_port();
    let wasp = agent::start(dir.path(), wasp_port, "1s", "");
    let rules: Vec<String> = rules_files(dir.path())
        .iter()
        .map(|p| format!("  - {}\n", p.display()))
        .collect();
    // wasp's job carries docs/jvm-metrics.md's relabelling recipe: one instance per JVM.
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
{}scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["127.0.0.1:{ne_port}"]}}]
  - job_name: wasp
    static_configs: [{{targets: ["127.0.0.1:{wasp_port}"]}}]
    metric_relabel_configs:
      - source_labels: [__name__, instance, app]
        regex: "(?:jvm_|process_).*;([^;]*);(.+)"
        target_label: instance
        replacement: "${{1}}/${{2}}"
"#,
        rules.concat()
    );
    let prom = Prometheus::start(dir.path(), &config);
    prom.wait_targets_up(Duration::from_secs(30));
    // A full GC wasp sees happen, for the old-gen-after-GC figures.
    writeln!(jvm.0.stdin.as_ref().unwrap(), "gc").unwrap();
    // Two rate windows of data, so every rate() and every rule has its samples.
    std::thread::sleep(Duration::from_secs(12));
    let instance = BTreeMap::from([
        ("node", format!("127.0.0.1:{ne_port}")),
        ("wasp", format!("127.0.0.1:{wasp_port}")),
    ]);
    Setup {
        dir,
        prom,
        instance,
        jvm,
        wasp_port,
        _ne: ne,
        _wasp: wasp,
    }
}

/// For a node dashboard: each query node_exporter fills and wasp does not is a failure unless every metric it
/// reads that wasp lacks is in node_exporter.rs's NOT_PRODUCED. Returns (queries node fills, wasp fills).
fn compare_node_dashboard(
    s: &Setup,
    file: &str,
    at: f64,
    failures: &mut Vec<String>,
) -> (usize, usize) {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let mut filled = [0, 0];
    let mut out = Vec::new();
    let mut exprs: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut resolved = Vec::new();
    for job in ["node", "wasp"] {
        // The node-mixin's rendered dashboards name the job: job="node".
        let dash: Value =
            serde_json::from_str(&text.replace("job=\\\"node\\\"", &format!("job=\\\"{job}\\\"")))
                .unwrap();
        let inst = s.instance[job].clone();
        let vars = resolve(&s.prom, &dash, job, at, &|name, values| {
            (matches!(name, "node" | "instance") && values.contains(&inst)).then(|| inst.clone())
        });
        for (title, e) in targets(&dash) {
            exprs
                .entry(job)
                .or_default()
                .push((title, subst(&e, &vars)));
        }
        resolved.push(vars);
    }
    // The dropdowns: every variable node_exporter's series fill, wasp's fill; the host is wasp's own target.
    for (name, nv) in &resolved[0] {
        let wv = resolved[1].get(name).cloned().unwrap_or_default();
        if !nv.is_empty() && wv.is_empty() {
            failures.push(format!(
                "{file}: ${name} is {nv:?} on node_exporter, empty on wasp"
            ));
        }
        if matches!(name.as_str(), "node" | "instance") && wv != s.instance["wasp"] {
            failures.push(format!("{file}: ${name} is {wv:?}, not wasp's target"));
        }
    }
    for ((title, ne), (_, w)) in exprs["node"].iter().zip(&exprs["wasp"]) {
        let fills = |q: &str| s.prom.query(q, at).is_ok_and(|r| !r.is_empty());
        let (n, wf) = (fills(ne), fills(w));
        filled[0] += n as usize;
        filled[1] += (n && wf) as usize;
        if !n || wf {
            continue;
        }
        let lacking: Vec<String> = metric_names(ne)
            .into_iter()
            .filter(|m| s.has("node", m, at) && !s.has("wasp", m, at))
            .collect();
        let explained = !lacking.is_empty()
            && lacking.iter().all(|m| {
                crate::node_exporter::NOT_PRODUCED
                    .iter()
                    .any(|(p, _)| m.starts_with(p))
            });
        if explained {
            eprintln!("  {file} / {title}: not produced: {lacking:?}");
        } else {
            out.push(format!("{file} / {title}: {w}\n    wasp lacks {lacking:?}"));
        }
    }
    failures.extend(out);
    eprintln!(
        "{file}: {} queries, node_exporter fills {}, wasp fills {} of those",
        exprs["node"].len(),
        filled[0],
        filled[1]
    );
    (filled[0], filled[1])
}

/// (labels less job and instance) -> value, of a query's answer.
fn by_labels(r: Vec<(Value, f64)>) -> BTreeMap<String, f64> {
    r.into_iter()
        .map(|(l, v)| {
            let mut l = l.as_object().cloned().unwrap_or_default();
            l.remove("job");
            l.remove("instance");
            (serde_json::to_string(&l).unwrap(), v)
        })
        .collect()
}

/// Node Exporter Full's key panels: (title, absolute tolerance, relative tolerance). The two jobs are scraped
/// up to one second apart, so a rate over 8 s windows may differ by what one second of the load does.
const KEY_PANELS: &[(&str, f64, f64)] = &[
    ("CPU Busy", 6.0, 0.0),
    ("Sys Load", 10.0, 0.25),
    ("RAM Used", 2.0, 0.0),
    ("SWAP Used", 1.0, 0.0),
    ("Root FS Used", 0.5, 0.0),
    ("CPU Cores", 0.0, 0.0),
    ("RAM Total", 0.0, 0.0),
    ("RootFS Total", 0.0, 0.0),
    ("Uptime", 3.0, 0.0),
    ("Network Traffic Basic", 4e6, 0.3),
    ("Time Spent Doing I/Os", 0.1, 0.0),
    ("Context Switches / Interrupts", 2000.0, 0.3),
    ("Filesystem Space Available", 128e6, 0.0),
    // Other builds on this machine move hundreds of MB within the second between the two scrapes.
    ("Memory Basic", 256e6, 0.0),
];

/// A disk node_exporter lists that never did I/O (e.g. an unused zram0): wasp lists disks as iostat does,
/// only those that did (docs/host-metrics.md).
fn never_did_io(s: &Setup, labels: &str, at: f64) -> bool {
    let Ok(l) = serde_json::from_str::<Value>(labels) else {
        return false;
    };
    let Some(dev) = l["device"].as_str() else {
        return false;
    };
    let q = format!(
        "node_disk_reads_completed_total{{job=\"node\",device=\"{dev}\"}} + node_disk_writes_completed_total{{job=\"node\",device=\"{dev}\"}}"
    );
    s.prom
        .query(&q, at)
        .is_ok_and(|r| r.len() == 1 && r[0].1 == 0.0)
}

fn key_panels_agree(s: &Setup, at: f64, failures: &mut Vec<String>) {
    let dash = load(&fixtures().join("node-exporter-full/node-exporter-full.json"));
    let per_job: Vec<HashMap<String, String>> = ["node", "wasp"]
        .iter()
        .map(|job| {
            let inst = s.instance[job].clone();
            resolve(&s.prom, &dash, job, at, &|name, values| {
                (name == "node" && values.contains(&inst)).then(|| inst.clone())
            })
        })
        .collect();
    let all = targets(&dash);
    for (title, abs, rel) in KEY_PANELS {
        let exprs: Vec<&String> = all
            .iter()
            .filter(|(t, _)| t == title)
            .map(|(_, e)| e)
            .collect();
        assert!(
            !exprs.is_empty(),
            "Node Exporter Full has no panel {title:?}"
        );
        for e in exprs {
            let ne = by_labels(s.prom.query(&subst(e, &per_job[0]), at).unwrap_or_default());
            let w = by_labels(s.prom.query(&subst(e, &per_job[1]), at).unwrap_or_default());
            for (labels, nv) in &ne {
                match w.get(labels) {
                    None if never_did_io(s, labels, at) => {}
                    None => failures.push(format!("{title}: wasp lacks {labels} of {e}")),
                    Some(wv) if !(close(*wv, *nv, *abs, *rel) || nv.is_nan() && wv.is_nan()) => {
                        failures.push(format!(
                            "{title} {labels}: wasp {wv} vs node_exporter {nv} ({e})"
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The node-mixin rules, as Prometheus loaded them: all healthy; every recording rule node_exporter's job
/// records, wasp's does; every series an alert reads that node_exporter has, wasp has; no alert pending or
/// firing on wasp that is not on node_exporter.
fn rules_agree(s: &Setup, at: f64, failures: &mut Vec<String>) {
    let d = s.prom.api("/api/v1/rules", &[]).unwrap();
    let mut recorded = 0;
    // A trend over the test's half minute of history (a disk other builds fill and empty) flips with the one
    // second between the two scrapes: such alerts are not compared.
    let mut trend = BTreeSet::new();
    for g in d["groups"].as_array().unwrap() {
        let file = g["file"].as_str().unwrap_or("");
        for r in g["rules"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap_or("");
            if r["health"] != "ok" {
                failures.push(format!(
                    "{file}: rule {name} is {}: {}",
                    r["health"], r["lastError"]
                ));
            }
            if file.ends_with("wasp-rules.yml") {
                for m in metric_names(r["query"].as_str().unwrap_or("")) {
                    let q = format!("count({m}{{job=\"wasp\"}})");
                    let has = s.prom.query(&q, at).is_ok_and(|v| !v.is_empty());
                    if !has && !OWN_RULES_AFTER_EVENT.contains(&m.as_str()) && m != "up" {
                        failures.push(format!("wasp-rules.yml {name} reads {m}: no such series"));
                    }
                }
            }
            if !file.contains("node-mixin-node") {
                continue;
            }
            if r["type"] == "recording" {
                if s.has("node", name, at) {
                    recorded += 1;
                    let q = format!("{name}{{job=\"wasp\"}}");
                    if s.prom.query(&q, at).map_or(true, |v| v.is_empty()) {
                        failures.push(format!("recording rule {name}: nothing for wasp"));
                    }
                }
            } else {
                if r["query"]
                    .as_str()
                    .unwrap_or("")
                    .contains("predict_linear(")
                {
                    trend.insert(format!("\"alertname\":\"{name}\""));
                }
                for m in metric_names(r["query"].as_str().unwrap_or("")) {
                    let excused = crate::node_exporter::NOT_PRODUCED
                        .iter()
                        .any(|(p, _)| m.starts_with(p));
                    if !m.contains(':')
                        && s.has("node", &m, at)
                        && !s.has("wasp", &m, at)
                        && !excused
                    {
                        failures.push(format!("alert {name} reads {m}: wasp lacks it"));
                    }
                }
            }
        }
    }
    assert!(
        recorded > 0,
        "no node-mixin recording rule recorded anything"
    );
    let alerts = s.prom.api("/api/v1/alerts", &[]).unwrap();
    let mut active: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in alerts["alerts"].as_array().unwrap() {
        let job = a["labels"]["job"].as_str().unwrap_or("").to_string();
        let mut l = a["labels"].as_object().cloned().unwrap_or_default();
        l.remove("job");
        l.remove("instance");
        active
            .entry(job)
            .or_default()
            .insert(serde_json::to_string(&l).unwrap());
    }
    let none = BTreeSet::new();
    let node = active.get("node").unwrap_or(&none);
    for a in active.get("wasp").unwrap_or(&none) {
        let ours = a.contains("\"alertname\":\"Wasp") || a.contains("\"alertname\":\"Jvm");
        if !node.contains(a) && !ours && !trend.iter().any(|t| a.contains(t.as_str())) {
            failures.push(format!("alert active on wasp, not on node_exporter: {a}"));
        }
    }
}

/// The jvm-mixin dashboard on the test JVM: each query fills, unless it reads only what JVM_NOT_FILLED lists;
/// what JVM_NOT_FILLED lists really is absent; the $instance dropdown lists the JVM as an instance of its own.
fn jvm_mixin(s: &Setup, at: f64, failures: &mut Vec<String>) {
    let dash = load(&fixtures().join("jvm-mixin/jvm-dashboard.json"));
    let want = format!("{}/{APP}", s.instance["wasp"]);
    let vars = resolve(&s.prom, &dash, "wasp", at, &|name, values| {
        (name == "instance" && values.contains(&want)).then(|| want.clone())
    });
    if vars.get("instance") != Some(&want) {
        failures.push(format!(
            "jvm-mixin $instance is {:?}, not {want}",
            vars.get("instance")
        ));
        return;
    }
    let (mut n, mut filled) = (0, 0);
    for (title, e) in targets(&dash) {
        let q = subst(&e, &vars);
        n += 1;
        let got = s.prom.query(&q, at);
        let listed = JVM_NOT_FILLED
            .iter()
            .find(|(p, _)| e.contains(p))
            .map(|(_, why)| why);
        match (got, listed) {
            (Ok(r), None) if r.is_empty() => {
                failures.push(format!("jvm-mixin / {title}: empty: {q}"))
            }
            (Ok(r), Some(_)) if !r.is_empty() => failures.push(format!(
                "jvm-mixin / {title}: fills now, drop it from JVM_NOT_FILLED: {q}"
            )),
            (Err(e), _) => failures.push(format!("jvm-mixin / {title}: {e}: {q}")),
            (Ok(r), _) => filled += (!r.is_empty()) as usize,
        }
    }
    eprintln!("jvm-mixin: {n} queries, wasp fills {filled}");
}

/// The jvm-mixin's heap and GC figures for the test JVM equal jstat's (the JVM is idle: they hold still).
fn jvm_figures_equal_jstat(s: &Setup, failures: &mut Vec<String>) {
    let pid = s.jvm.0.id().to_string();
    let sel = format!("job=\"wasp\",pid=\"{pid}\"");
    let mut last = String::new();
    for _ in 0..5 {
        let o = Command::new("jstat").args(["-gc", &pid]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let mut lines = text.lines();
        let (Some(h), Some(v)) = (lines.next(), lines.next()) else {
            failures.push(format!("jstat -gc {pid}: {text}"));
            return;
        };
        let row: HashMap<&str, f64> = h
            .split_whitespace()
            .zip(v.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN)))
            .collect();
        let heap_kb = row["S0U"] + row["S1U"] + row["EU"] + row["OU"];
        let gcs = row["YGC"] + row["FGC"];
        // Two scrapes later, so Prometheus holds a reading taken after jstat's.
        std::thread::sleep(Duration::from_millis(2500));
        let at = now();
        let one = |q: &str| {
            s.prom
                .query(q, at)
                .ok()
                .and_then(|r| r.first().map(|x| x.1))
                .unwrap_or(f64::NAN)
        };
        let heap = one(&format!(
            "sum(jvm_memory_used_bytes{{area=\"heap\",{sel}}})"
        ));
        let count = one(&format!("sum(jvm_gc_collection_seconds_count{{{sel}}})"));
        if (heap / 1024.0 - heap_kb).abs() <= 1.0 && count == gcs {
            return;
        }
        last = format!("heap {heap} B vs jstat {heap_kb} KB; GC count {count} vs jstat {gcs}");
    }
    failures.push(format!("pid {pid}, five tries: {last}"));
}

/// Every panel of wasp's own dashboards (packaging/grafana) returns data.
fn own_dashboards(s: &Setup, at: f64, failures: &mut Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "packaging/grafana has {files:?}");
    let host = s.instance["wasp"].clone();
    for f in files {
        let dash = load(&f);
        let vars = resolve(&s.prom, &dash, "wasp", at, &|name, values| {
            let want = match name {
                "host" => host.clone(),
                "app" => APP.to_string(),
                _ => return None,
            };
            values.contains(&want).then_some(want)
        });
        if vars.get("host") != Some(&host) {
            failures.push(format!(
                "{}: $host is {:?}, not {host}",
                f.display(),
                vars.get("host")
            ));
        }
        let ts = targets(&dash);
        assert!(!ts.is_empty(), "{} has no queries", f.display());
        for (title, e) in ts {
            let q = subst(&e, &vars);
            match s.prom.query(&q, at) {
                Ok(r) if !r.is_empty() => {}
                Ok(_) => failures.push(format!("{} / {title}: empty: {q}", f.display())),
                Err(err) => failures.push(format!("{} / {title}: {err}: {q}", f.display())),
            }
        }
        // Annotations mark events, so they are usually empty; they must still be valid queries.
        for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(e) = a["expr"].as_str() {
                let q = subst(e, &vars);
                if let Err(err) = s.prom.query(&q, at) {
                    failures.push(format!(
                        "{} annotation {}: {err}: {q}",
                        f.display(),
                        a["name"]
                    ));
                }
            }
        }
    }
}

/// A killed JVM: wasp stops exposing its series, and Prometheus has them stale within two scrapes of that.
fn killed_jvm_goes_stale(mut s: Setup, failures: &mut Vec<String>) {
    let pid = s.jvm.0.id();
    let sel = format!("{{job=\"wasp\",pid=\"{pid}\"}}");
    let names = |at: f64| -> BTreeSet<String> {
        s.prom
            .query(&format!("count by (__name__) ({sel})"), at)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(l, _)| l["__name__"].as_str().map(String::from))
            .collect()
    };
    let before = names(now());
    for f in [
        "jvm_memory_used_bytes",
        "jvm_gc_collection_seconds_count",
        "process_resident_memory_bytes",
    ] {
        if !before.contains(f) {
            failures.push(format!("before the kill, no {f} for pid {pid}: {before:?}"));
        }
    }
    let _ = s.jvm.0.kill();
    let _ = s.jvm.0.wait();
    let t = Instant::now();
    let needle = format!("pid=\"{pid}\"");
    while http::get(s.wasp_port, "/metrics").is_none_or(|(_, b)| b.contains(&needle)) {
        if t.elapsed() > Duration::from_secs(10) {
            failures.push(format!("wasp still exposes pid {pid} 10 s after it died"));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = Instant::now();
    while !names(now()).is_empty() {
        if gone.elapsed() > Duration::from_secs(10) {
            failures.push(format!(
                "pid {pid}'s series not stale 10 s after wasp dropped them"
            ));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two 1-s scrapes, and the slack of polling under load.
    let took = gone.elapsed();
    eprintln!("pid {pid}: stale in Prometheus {took:?} after wasp dropped it");
    if took > Duration::from_millis(2500) {
        failures.push(format!("stale only {took:?} after wasp dropped pid {pid}"));
    }
    drop(s.dir);
}

#[test]
fn dashboards_and_rules_people_run_work_on_wasp() {
    let _floor = crate::common::beside();
    for tool in [
        "prometheus",
        "prometheus-node-exporter",
        "java",
        "jstat",
        "curl",
    ] {
        if !require(tool) {
            return;
        }
    }
    let s = setup();
    let at = now() - 1.0;
    let mut failures = Vec::new();
    for file in [
        "node-exporter-full/node-exporter-full.json",
        "node-mixin/nodes.json",
        "node-mixin/node-rsrc-use.json",
        "node-mixin/node-cluster-rsrc-use.json",
    ] {
        let (node, _) = compare_node_dashboard(&s, file, at, &mut failures);
        assert!(node > 0, "{file}: node_exporter fills nothing");
    }
    key_panels_agree(&s, at, &mut failures);
    rules_agree(&s, at, &mut failures);
    jvm_mixin(&s, at, &mut failures);
    own_dashboards(&s, at, &mut failures);
    jvm_figures_equal_jstat(&s, &mut failures);
    killed_jvm_goes_stale(s, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn metric_names_of_promql() {
    let n = metric_names(
        "sum by (cpu, mode) (rate(node_cpu_seconds_total{job=\"x\",mode!=\"idle\"}[5m])) / ignoring(cpu) group_left count without (cpu) (instance:node_num_cpu:sum) > bool 0 and on (instance) up{a='b_c'}",
    );
    assert_eq!(
        n,
        BTreeSet::from([
            "instance:node_num_cpu:sum".to_string(),
            "node_cpu_seconds_total".to_string()
        ])
    );
    let mut v = HashMap::new();
    v.insert("node".to_string(), "h:1".to_string());
    v.insert("nodename".to_string(), "vm".to_string());
    assert_eq!(
        subst(
            "a{instance=\"$node\",n=\"${nodename}\",x=\"[[node]]\",y=\"$nope\"}",
            &v
        ),
        "a{instance=\"h:1\",n=\"vm\",x=\"h:1\",y=\"$nope\"}"
    );
}

#[test]
fn promtool_finds_nothing_in_wasps_metrics_that_node_exporter_does_not_have() {
    let _floor = crate::common::beside();
    if !require("promtool") || !require("prometheus-node-exporter") {
        return;
    }
    let (_ne, ne) = crate::common::backends::node_exporter();
    let _jvm = start_idle_jvm();
    let w = wasp_cmd()
        .args(["once", "--interval", "1s", "--format", "prom"])
        .output()
        .unwrap();
    assert!(w.status.success(), "{}", stderr(&w));
    assert!(
        stdout(&w).contains("jvm_gc_collection_seconds"),
        "no JVM in wasp's output"
    );
    let check = |text: &[u8]| -> BTreeSet<String> {
        let mut c = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(text).unwrap();
        let o = c.wait_with_output().unwrap();
        // promtool writes its findings to stderr; a parse error is one of them and fails the comparison.
        format!("{}{}", stdout(&o), stderr(&o))
            .lines()
            .map(String::from)
            .collect()
    };
    let (theirs, ours) = (check(&ne), check(&w.stdout));
    // node_exporter 1.6+ exports TcpExt_TCPOFOQueue by default (camelCase, as all its netstat names); Debian's
    // 1.5 does not yet, so its output here lacks that one warning.
    let newer = "node_netstat_TcpExt_TCPOFOQueue metric names should be written in 'snake_case' not 'camelCase'";
    let extra: Vec<&String> = ours.difference(&theirs).filter(|l| *l != newer).collect();
    assert!(
        extra.is_empty(),
        "promtool warns about wasp, not node_exporter:\n{extra:#?}"
    );
}

#[test]
fn promtool_accepts_our_rules_and_the_mixins() {
    if !require("promtool") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        root.join("packaging/prometheus/wasp-rules.yml"),
        fixtures().join("node-mixin/rules.yaml"),
        fixtures().join("node-mixin/alerts.yaml"),
        fixtures().join("jvm-mixin/alerts.yaml"),
    ];
    let o = Command::new("promtool")
        .args(["check", "rules"])
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Every alert of ours says what to look at: a summary and a description.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let alerts = text.matches("- alert:").count();
    assert!(alerts >= 10, "{alerts} alerts");
    assert_eq!(text.matches("summary:").count(), alerts);
    assert_eq!(text.matches("description:").count(), alerts);
}

#[test]
fn our_dashboards_are_grafana_dashboards_on_a_chosen_data_source() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana");
    let mut uids = BTreeSet::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let d = load(&p);
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{}",
            p.display()
        );
        assert!(
            d["schemaVersion"].as_u64().unwrap() >= 36,
            "{}",
            p.display()
        );
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert_eq!(vars[..3], ["datasource", "job", "host"], "{}", p.display());
        fn walk(ps: &Value, f: &mut dyn FnMut(&Value)) {
            for p in ps.as_array().into_iter().flatten() {
                f(p);
                walk(&p["panels"], f);
            }
        }
        walk(&d["panels"], &mut |panel| {
            if panel["type"] != "row" {
                assert_eq!(
                    panel["datasource"]["uid"], "${datasource}",
                    "{}",
                    panel["title"]
                );
            }
        });
    }
    assert_eq!(uids.len(), 2);
}

//! Requests from a real Tomcat's access logs with no access-log configuration: Debian's tomcat10 in a
//! CATALINA_BASE of its own, with an AccessLogValve timing in microseconds (%D) that rotates every minute and
//! one timing in seconds (%T), a servlet sleeping a known spread of durations and failing every tenth
//! request, loaded with `ab`. wasp's counts equal the logs' line counts, its status split is exact, its
//! percentiles (histogram_quantile as PromQL computes it, over the scraped buckets) are within one bucket of
//! the log's own, the minute rotation is followed, and `app.p95_ms > 200 for 10s` fires once the servlet is
//! made slower.

use crate::common::http::{first_read, get};
use crate::common::tomcat::{self, CATALINA_HOME};
use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn base(base: &Path, port: u16) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/access");
    for d in [
        "conf",
        "logs",
        "temp",
        "work",
        "webapps/app/WEB-INF/classes",
    ] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    let xml = std::fs::read_to_string(fx.join("server.xml"))
        .unwrap()
        .replace("@PORT@", &port.to_string());
    std::fs::write(base.join("conf/server.xml"), xml).unwrap();
    std::fs::copy(fx.join("web.xml"), base.join("webapps/app/WEB-INF/web.xml")).unwrap();
    let ok = Command::new("javac")
        .args(["--release", "17", "-cp"])
        .arg(Path::new(CATALINA_HOME).join("lib/servlet-api.jar"))
        .arg("-d")
        .arg(base.join("webapps/app/WEB-INF/classes"))
        .arg(fx.join("SlowServlet.java"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "javac failed");
}

/// Every line of a valve's files: (status, time taken in the log's unit).
fn log_lines(logs: &Path, prefix: &str) -> (Vec<(u16, f64)>, usize) {
    let mut files: Vec<_> = std::fs::read_dir(logs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        for l in std::fs::read_to_string(f).unwrap().lines() {
            // ... "GET /app/slow HTTP/1.0" 200 10 ... <time> [thread]
            let after = l.split("\" ").nth(1).unwrap_or_default();
            let status: u16 = after.split(' ').next().unwrap().parse().unwrap();
            let fields: Vec<&str> = l.split(' ').collect();
            let t = if prefix.starts_with("timed") {
                fields[fields.len() - 2]
            } else {
                fields[fields.len() - 1]
            };
            out.push((status, t.parse().unwrap()));
        }
    }
    (out, files.len())
}

/// A valve's lines once its files have not grown for a second (Tomcat is done writing).
fn settled(logs: &Path, prefix: &str) -> (Vec<(u16, f64)>, usize) {
    let t = Instant::now();
    let mut last = log_lines(logs, prefix);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = log_lines(logs, prefix);
        if now == last {
            return now;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{prefix}: Tomcat still writing"
        );
        last = now;
    }
}

/// The scraped samples of one family for one log, by their other labels.
fn samples(port: u16, name: &str, app: &str, log: &str) -> Vec<(String, f64)> {
    let (_, body) = get(port, "/metrics").unwrap_or_default();
    let want = format!("{name}{{app=\"{app}\",log=\"{log}\"");
    body.lines()
        .filter(|l| l.starts_with(&want))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k[want.len()..].to_string(), v.parse().unwrap())
        })
        .collect()
}

fn total(port: u16, app: &str, log: &str) -> f64 {
    samples(port, "wasp_http_requests_total", app, log)
        .iter()
        .map(|(_, v)| v)
        .sum()
}

/// histogram_quantile as Prometheus computes it over cumulative (le, count) buckets, +Inf last.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let b = buckets.iter().position(|(_, c)| *c >= rank).unwrap();
    if b == buckets.len() - 1 {
        return buckets[b - 1].0;
    }
    let (start, below) = if b == 0 { (0.0, 0.0) } else { buckets[b - 1] };
    let (end, cum) = buckets[b];
    start + (end - start) * (rank - below) / (cum - below)
}

/// The index of the bucket a value falls in.
fn bucket_of(v: f64, bounds: &[f64]) -> usize {
    bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len())
}

/// The nearest-rank percentile of the log's own values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn check_log(
    wport: u16,
    app: &str,
    logs: &Path,
    log: &str,
    unit: f64,
    baseline: usize,
    sent: usize,
) {
    // The valve's name is its file prefix. Counted once the log is quiet: `ab -t` exits with up to -c requests
    // still in Tomcat, whose lines land a few hundred ms later (counted then, wasp was 7 ahead: 1009 for 1002).
    let (lines, _) = settled(logs, log);
    let lines = &lines[baseline..];
    assert!(
        lines.len() >= sent,
        "{log}: {} lines for {sent} requests",
        lines.len()
    );
    let t = Instant::now();
    while total(wport, app, log) as usize != lines.len() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{log}: wasp counted {} requests, the log has {} lines",
            total(wport, app, log),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The status split, exactly.
    let mut by_class: BTreeMap<String, f64> = BTreeMap::new();
    for (s, _) in lines {
        *by_class.entry(format!("{}xx", s / 100)).or_default() += 1.0;
    }
    let mut wasp: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in samples(wport, "wasp_http_requests_total", app, log) {
        let class = k
            .split("status_class=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        *wasp.entry(class.to_string()).or_default() += v;
    }
    assert_eq!(wasp, by_class, "{log}: status classes");
    let unmatched: f64 = samples(wport, "wasp_access_log_unmatched_lines_total", app, log)
        .iter()
        .map(|x| x.1)
        .sum();
    assert_eq!(unmatched, 0.0, "{log}: unmatched lines");
    assert!(
        by_class.get("5xx").copied().unwrap_or(0.0) > 0.0,
        "{log}: {by_class:?}"
    );
    // Percentiles within one bucket of the log's own.
    let buckets: Vec<(f64, f64)> =
        samples(wport, "wasp_http_request_duration_seconds_bucket", app, log)
            .into_iter()
            .map(|(k, v)| {
                let le = k.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
                (
                    if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    },
                    v,
                )
            })
            .collect();
    let in_histogram = buckets.last().unwrap().1 as usize;
    assert!(
        in_histogram == lines.len(),
        "{log}: {in_histogram} in the histogram, {} lines",
        lines.len()
    );
    let bounds: Vec<f64> = buckets
        .iter()
        .map(|b| b.0)
        .filter(|b| b.is_finite())
        .collect();
    let mut own: Vec<f64> = lines.iter().map(|(_, t)| t * unit).collect();
    own.sort_by(f64::total_cmp);
    for q in [0.5, 0.95, 0.99] {
        let (w, l) = (histogram_quantile(q, &buckets), percentile(&own, q));
        let (bw, bl) = (bucket_of(w, &bounds), bucket_of(l, &bounds));
        eprintln!(
            "{log}: p{}: histogram {w:.4} s, log {l:.4} s, {} requests",
            q * 100.0,
            lines.len()
        );
        assert!(
            bw.abs_diff(bl) <= 1,
            "{log}: p{} from the histogram {w:.4} s (bucket {bw}), from the log {l:.4} s (bucket {bl})",
            q * 100.0
        );
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn tomcat_access_logs_with_no_configuration() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") || !require("ab") || !tomcat::installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let name = format!("acc-{port}");
    let b = dir.path().join(&name);
    base(&b, port);
    let _tomcat = tomcat::start(&b, &dir.path().join("catalina.out"));
    let t = Instant::now();
    while !first_read(port, "/app/slow?ping=1", Duration::from_secs(2))
        .is_some_and(|r| r.starts_with("HTTP/1.1 200 "))
    {
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "Tomcat did not answer within 40 s: {}",
            std::fs::read_to_string(dir.path().join("catalina.out")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let app = format!("tomcat:{name}");
    let wport = free_port();
    let cfg = dir.path().join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"1s\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{wport}\"\n\
             [access]\npoll = \"200ms\"\n[snapshots]\nbundle_dumps = 1\n\
             [[rules]]\nname = \"slow-app\"\nwhen = \"app.p95_ms > 200\"\nfor = \"10s\"\ncooldown = \"10m\"\n\
             scope = \"^{app}$\"\ndo = [\"log\"]\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let _agent = Reaped(
        wasp_cmd()
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // Followed once wasp has seen the JVM: both logs, from their current ends.
    let t = Instant::now();
    while samples(wport, "wasp_access_log_files", &app, "timed_access").is_empty()
        || samples(wport, "wasp_access_log_files", &app, "seconds_access").is_empty()
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "wasp did not find the access logs: {}",
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(600));
    let logs = b.join("logs");
    let (base_d, files0) = {
        let (l, f) = log_lines(&logs, "timed_access");
        (l.len(), f)
    };
    let base_t = log_lines(&logs, "seconds_access").0.len();

    let ab = |args: &[&str]| {
        let o = Command::new("ab")
            .args(["-q", "-r"])
            .args(args)
            .arg(format!("http://127.0.0.1:{port}/app/slow"))
            .output()
            .unwrap();
        assert!(o.status.success(), "ab: {}", stderr(&o));
    };
    ab(&["-n", "400", "-c", "8"]);
    check_log(wport, &app, &logs, "timed_access", 1e-6, base_d, 400);
    check_log(wport, &app, &logs, "seconds_access", 1.0, base_t, 400);
    assert_eq!(
        crate::common::http::metric(wport, "wasp_rule_fired_total{rule=\"slow-app\"}"),
        Some(0.0),
        "fired while the servlet was fast"
    );

    // Slower: 300 ms more per request, in a later minute (a new file of the %D valve), until the rule fires.
    std::fs::write(b.join("delay_ms"), "300").unwrap();
    let load = std::thread::spawn(move || {
        let _ = Command::new("ab")
            .args(["-q", "-r", "-t", "25", "-n", "100000", "-c", "8"])
            .arg(format!("http://127.0.0.1:{port}/app/slow"))
            .stdout(Stdio::null())
            .status();
    });
    let t = Instant::now();
    while crate::common::http::metric(wport, "wasp_rule_fired_total{rule=\"slow-app\"}")
        != Some(1.0)
    {
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "app.p95_ms > 200 for 10s did not fire: {}",
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        t.elapsed() >= Duration::from_secs(10),
        "fired before 10 s of slowness"
    );
    load.join().unwrap();
    // Across the minute rotation(s), the counts are still the lines: when the load stayed within one minute,
    // a few more requests in the next one.
    while log_lines(&logs, "timed_access").1 == files0 {
        std::thread::sleep(Duration::from_secs(61) - Duration::from_secs(now_s() % 60));
        ab(&["-n", "50", "-c", "4"]);
    }
    // Across the rotation(s) as before it: exact.
    check_log(wport, &app, &logs, "timed_access", 1e-6, base_d, 400);
    check_log(wport, &app, &logs, "seconds_access", 1.0, base_t, 400);
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    assert!(log.contains("slow-app"), "{log}");

    // A bundle of the Tomcat: its report lists the slowest requests with their %I thread, found in the dump.
    let o = wasp_cmd()
        .args(["trigger", "bundle", "--app", &app, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let bundle = std::path::PathBuf::from(
        out.lines()
            .find_map(|l| l.split_once(" s: ").map(|(_, p)| p.trim().to_string()))
            .expect(&out),
    );
    let report = std::fs::read_to_string(bundle.join("report.txt")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    let on = format!("on \"http-nio-127.0.0.1-{port}-exec-");
    let i = lines
        .iter()
        .position(|l| l.contains(" ms  200  /app/slow") && l.contains(&on))
        .unwrap_or_else(|| panic!("no slow request with its thread:\n{report}"));
    assert!(
        report.contains("slowest requests of the last minutes:")
            && report.contains("timed_access: "),
        "{report}"
    );
    assert!(
        lines[i + 1].contains("in the dump now: "),
        "its thread not matched in the dump:\n{report}"
    );
}

/// A configured nginx log under hostile writes: a 100 MB line, binary garbage, the file swapped for a FIFO and
/// back. wasp keeps counting every good line, counts the rest as unmatched, never hangs, stays small.
#[test]
fn a_configured_log_survives_huge_lines_garbage_and_a_fifo() {
    use std::io::Write;
    let _floor = crate::common::beside();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("access.log");
    std::fs::write(&path, "").unwrap();
    let wport = free_port();
    let _agent = crate::common::agent::start(
        dir.path(),
        wport,
        "500ms",
        &format!(
            "[access]\ndiscover_tomcat = false\npoll = \"100ms\"\n[[access_logs]]\napp = \"edge\"\nname = \"nginx\"\npath = \"{}/access.log*\"\n\
             format = 'nginx:$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time'\n",
            logs.display()
        ),
    );
    let line = |i: usize, status: u16| {
        format!(
            "10.0.0.{} - - [30/Nov/2026:00:00:00 +0000] \"GET /api/orders/{i} HTTP/1.1\" {status} 512 \"-\" \"curl/8.5.0\" 0.0{:02}\n",
            i % 250,
            i % 100
        )
    };
    let wait_total = |want: f64, unmatched: f64| {
        let t = Instant::now();
        loop {
            let got = total(wport, "edge", "nginx");
            let bad: f64 = samples(
                wport,
                "wasp_access_log_unmatched_lines_total",
                "edge",
                "nginx",
            )
            .iter()
            .map(|x| x.1)
            .sum();
            if got == want && bad == unmatched {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "requests {got} (want {want}), unmatched {bad} (want {unmatched}): {}",
                crate::common::agent::log(dir.path())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Found, then read from its (empty) end.
    let t = Instant::now();
    while samples(wport, "wasp_access_log_files", "edge", "nginx")
        .first()
        .map(|x| x.1)
        != Some(1.0)
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "log not followed: {}",
            crate::common::agent::log(dir.path())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    for i in 0..100 {
        f.write_all(line(i, if i % 4 == 0 { 503 } else { 200 }).as_bytes())
            .unwrap();
    }
    wait_total(100.0, 0.0);
    // A 100 MB line (written in 1 MB pieces), then binary garbage, then good lines again.
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\n").unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .filter(|b| *b != b'\n')
        .collect();
    f.write_all(&garbage).unwrap();
    f.write_all(b"\n").unwrap();
    for i in 100..150 {
        f.write_all(line(i, 200).as_bytes()).unwrap();
    }
    wait_total(150.0, 2.0);
    // The file replaced by a FIFO nobody writes to: never opened, nothing blocks; then a real file again.
    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        get(wport, "/metrics").is_some_and(|(s, _)| s == 200),
        "the agent stopped answering"
    );
    std::fs::remove_file(&path).unwrap();
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 150..160 {
        f.write_all(line(i, 200).as_bytes()).unwrap();
    }
    wait_total(160.0, 2.0);
    // Memory stayed bounded while a 100 MB line went by.
    let rss = crate::common::http::metric(wport, "wasp_agent_resident_memory_bytes").unwrap();
    assert!(rss < 64.0 * 1024.0 * 1024.0, "RSS {rss}");
    // Once a minute has closed, its slowest and failing templates reach the file sink (JSON lines), once per
    // minute and log: the 25 503s of /api/orders/{n}.
    let jsonl = dir.path().join("data/wasp.jsonl");
    let docs = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&jsonl)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"kind\":\"access_top\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // The 503s were written at once, but a minute may have closed in between: summed over the documents.
    let errors = |docs: &[serde_json::Value]| -> u64 {
        docs.iter()
            .flat_map(|d| d["body"]["failing"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["template"] == "/api/orders/{n}")
            .map(|r| r["errors"].as_u64().unwrap())
            .sum()
    };
    let t = Instant::now();
    while errors(&docs()) < 25 {
        assert!(
            t.elapsed() < Duration::from_secs(130),
            "no access_top document with the 503s in {}: {:?} {}",
            jsonl.display(),
            docs(),
            crate::common::agent::log(dir.path())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let d = &docs()[0];
    assert_eq!(d["labels"]["app"], "edge", "{d}");
    assert_eq!(d["labels"]["log"], "nginx", "{d}");
    assert_eq!(
        d["body"]["slowest"][0]["template"], "/api/orders/{n}",
        "{d}"
    );
    assert!(
        d["body"]["slowest"][0]["p95_ms"].as_f64() > Some(0.0),
        "{d}"
    );
    let minutes: Vec<i64> = docs()
        .iter()
        .map(|d| d["timestamp_ms"].as_i64().unwrap())
        .collect();
    let mut once = minutes.clone();
    once.dedup();
    assert_eq!(minutes, once, "a minute sent twice");
}

//! Real backends on loopback for the shipping tests: Debian's prometheus (remote-write receiver on),
//! victoria-metrics and influxdb 1.x, each with a throw-away data dir and a free port, stopped when dropped.
//! Queried back with curl, as an operator would.

use super::{Reaped, free_port};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

pub struct Server {
    pub proc: Option<Reaped>,
    pub port: u16,
    pub kind: &'static str,
    start: Box<dyn Fn(u16) -> Reaped + Send>,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM, then wait): the outage tests' "backend down".
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.0.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let end = Instant::now() + Duration::from_secs(20);
            while Instant::now() < end {
                if let Ok(Some(_)) = p.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        self.stop();
        self.proc = Some((self.start)(self.port));
        wait_ready(self.kind, self.port);
    }
}

pub fn curl(args: &[&str]) -> String {
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ready_url(kind: &str, port: u16) -> String {
    match kind {
        "prometheus" => format!("http://127.0.0.1:{port}/-/ready"),
        "victoria-metrics" => format!("http://127.0.0.1:{port}/health"),
        _ => format!("http://127.0.0.1:{port}/ping"),
    }
}

fn wait_ready(kind: &str, port: u16) {
    let url = ready_url(kind, port);
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let ok = Command::new("curl")
            .args(["-fsS", "-o", "/dev/null", "--max-time", "2", &url])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{kind} did not become ready on port {port}");
}

fn spawn(cmd: &mut Command, log: &Path) -> Reaped {
    let f = std::fs::File::create(log).unwrap();
    Reaped(
        cmd.stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
    )
}

pub fn prometheus(dir: &Path) -> Server {
    let d = dir.join("prom");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("prom.yml"), "global:\n  scrape_interval: 15s\n").unwrap();
    let d2 = d.clone();
    let start = move |port: u16| {
        spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", d2.join("prom.yml").display()))
                .arg(format!("--storage.tsdb.path={}", d2.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver"),
            &d2.join(format!("prom-{}.log", now_ns())),
        )
    };
    launch("prometheus", Box::new(start))
}

pub fn victoria(dir: &Path) -> Server {
    let d = dir.join("vm");
    std::fs::create_dir_all(&d).unwrap();
    let d2 = d.clone();
    let start = move |port: u16| {
        spawn(
            Command::new("victoria-metrics")
                .arg(format!("-storageDataPath={}", d2.join("data").display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg("-retentionPeriod=1d")
                .arg("-search.latencyOffset=0s")
                // Replays after a crash resend identical samples; VictoriaMetrics keeps them apart without this.
                .arg("-dedup.minScrapeInterval=1ms"),
            &d2.join(format!("vm-{}.log", now_ns())),
        )
    };
    launch("victoria-metrics", Box::new(start))
}

pub fn influxdb(dir: &Path) -> Server {
    let d = dir.join("influx");
    std::fs::create_dir_all(&d).unwrap();
    let d2 = d.clone();
    let start = move |port: u16| {
        let base = Command::new("influxd").arg("config").output().unwrap();
        let text = String::from_utf8_lossy(&base.stdout)
            .replace("/var/lib/influxdb", &d2.display().to_string())
            .replace(
                "bind-address = \"127.0.0.1:8088\"",
                &format!("bind-address = \"127.0.0.1:{}\"", free_port()),
            )
            .replace(
                "  bind-address = \":8086\"",
                &format!("  bind-address = \"127.0.0.1:{port}\""),
            )
            .replace("store-enabled = true", "store-enabled = false");
        std::fs::write(d2.join("influx.conf"), text).unwrap();
        spawn(
            Command::new("influxd")
                .arg("-config")
                .arg(d2.join("influx.conf")),
            &d2.join(format!("influx-{}.log", now_ns())),
        )
    };
    let s = launch("influxdb", Box::new(start));
    curl(&[
        "-XPOST",
        &format!("{}/query", s.base()),
        "--data-urlencode",
        "q=CREATE DATABASE wasp",
    ]);
    s
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn launch(kind: &'static str, start: Box<dyn Fn(u16) -> Reaped + Send>) -> Server {
    let port = free_port();
    let p = start(port);
    wait_ready(kind, port);
    Server {
        proc: Some(p),
        port,
        kind,
        start,
    }
}

/// Raw samples of every series matching `selector` in Prometheus (a range selector keeps their own timestamps):
/// (labels, [(ts_ms, value)]).
pub fn prom_series(port: u16, selector: &str, range: &str) -> Vec<(JsonMap, Vec<(i64, String)>)> {
    let body = curl(&[
        "-G",
        &format!("http://127.0.0.1:{port}/api/v1/query"),
        "--data-urlencode",
        &format!("query={selector}[{range}]"),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut out = Vec::new();
    for r in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        let labels = r["metric"].as_object().cloned().unwrap_or_default();
        let vals = r["values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap_or("").to_string())
            })
            .collect();
        out.push((labels, vals));
    }
    out
}

/// VictoriaMetrics' raw export: (labels, [(ts_ms, value)]).
pub fn vm_series(port: u16, selector: &str) -> Vec<(JsonMap, Vec<(i64, f64)>)> {
    let _ = curl(&[&format!("http://127.0.0.1:{port}/internal/force_flush")]);
    let body = curl(&[
        "-G",
        &format!("http://127.0.0.1:{port}/api/v1/export"),
        "--data-urlencode",
        &format!("match[]={selector}"),
    ]);
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let labels = v["metric"].as_object().cloned().unwrap_or_default();
            let ts = v["timestamps"].as_array().cloned().unwrap_or_default();
            let vals = v["values"].as_array().cloned().unwrap_or_default();
            let pts = ts
                .iter()
                .zip(vals.iter())
                .map(|(t, x)| {
                    let x = x
                        .as_f64()
                        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or(f64::NAN);
                    (t.as_i64().unwrap(), x)
                })
                .collect();
            (labels, pts)
        })
        .collect()
}

/// InfluxDB: every row of a measurement, as (column -> value) maps, times in ms.
pub fn influx_rows(
    port: u16,
    measurement: &str,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let body = curl(&[
        "-G",
        &format!("http://127.0.0.1:{port}/query"),
        "--data-urlencode",
        "db=wasp",
        "--data-urlencode",
        "epoch=ms",
        "--data-urlencode",
        &format!("q=SELECT * FROM \"{measurement}\""),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut out = Vec::new();
    for s in v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let cols: Vec<String> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        for row in s["values"].as_array().cloned().unwrap_or_default() {
            let mut m = serde_json::Map::new();
            for (c, x) in cols.iter().zip(row.as_array().unwrap()) {
                m.insert(c.clone(), x.clone());
            }
            out.push(m);
        }
    }
    out
}

/// InfluxDB: every point of every measurement in the `wasp` database, as (measurement, column -> value).
pub fn influx_all(port: u16) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    let body = curl(&[
        "-G",
        &format!("http://127.0.0.1:{port}/query"),
        "--data-urlencode",
        "db=wasp",
        "--data-urlencode",
        "epoch=ms",
        "--data-urlencode",
        "q=SELECT * FROM /.*/",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut out = Vec::new();
    for s in v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = s["name"].as_str().unwrap().to_string();
        let cols: Vec<String> = s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        for row in s["values"].as_array().cloned().unwrap_or_default() {
            let mut m = serde_json::Map::new();
            for (c, x) in cols.iter().zip(row.as_array().unwrap()) {
                m.insert(c.clone(), x.clone());
            }
            out.push((name.clone(), m));
        }
    }
    out
}

/// Debian's node_exporter listening on loopback `port`.
pub fn node_exporter_at(port: u16) -> Reaped {
    Reaped(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Debian's node_exporter on a free loopback port, and its first /metrics answer (through curl: it answers
/// chunked, which the tests' small HTTP reader does not undo).
pub fn node_exporter() -> (Reaped, Vec<u8>) {
    let port = free_port();
    let ne = node_exporter_at(port);
    let t = Instant::now();
    loop {
        let o = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .unwrap();
        if o.status.success() {
            return (ne, o.stdout);
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "node_exporter did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

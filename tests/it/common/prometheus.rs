//! Debian's real Prometheus, started on loopback with a config the test writes, and its HTTP API as the
//! dashboards use it: instant queries, label values, rules and alerts. Answers go through curl (Prometheus
//! answers gzip/chunked, which the tests' small HTTP reader does not undo) with a time limit.

use super::{Reaped, free_port};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    pub port: u16,
    _p: Reaped,
}

impl Prometheus {
    /// Runs `prometheus` on DIR/prometheus.yml (`config`, written here) with its TSDB in DIR/tsdb; returns once
    /// it is ready. Its log goes to DIR/prometheus.log.
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        let port = free_port();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let p = Reaped(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let me = Prometheus { port, _p: p };
        let t = Instant::now();
        while me.get("/-/ready", &[]).is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "prometheus not ready: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        me
    }

    /// GET `path` with url-encoded `params`: the body, or None on any failure.
    pub fn get(&self, path: &str, params: &[(&str, &str)]) -> Option<String> {
        let mut c = Command::new("curl");
        c.args(["-sf", "-G", "--max-time", "20"]);
        for (k, v) in params {
            c.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        c.arg(format!("http://127.0.0.1:{}{path}", self.port));
        let o = c.output().ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// An API call's `data`, or the error Prometheus gave.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let mut c = Command::new("curl");
        c.args(["-s", "-G", "--max-time", "20"]);
        for (k, v) in params {
            c.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        c.arg(format!("http://127.0.0.1:{}{path}", self.port));
        let o = c.output().map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&o.stdout)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&o.stdout)))?;
        if v["status"] == "success" {
            Ok(v["data"].clone())
        } else {
            Err(v["error"].as_str().unwrap_or("no error text").to_string())
        }
    }

    /// An instant query at `at` (unix seconds): one (labels, value) per sample; a scalar is one sample with no
    /// labels. NaN values count as samples, as Grafana draws nothing for them either way.
    pub fn query(&self, q: &str, at: f64) -> Result<Vec<(Value, f64)>, String> {
        let d = self.api("/api/v1/query", &[("query", q), ("time", &at.to_string())])?;
        let num = |v: &Value| {
            v[1].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        };
        Ok(match d["resultType"].as_str() {
            Some("vector") => d["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| (s["metric"].clone(), num(&s["value"])))
                .collect(),
            Some("scalar") => vec![(Value::Null, num(&d["result"]))],
            _ => Vec::new(),
        })
    }

    /// Grafana's `label_values(selector, label)`: the values of `label` on the series `selector` matches in
    /// the last 10 minutes before `at`, sorted.
    pub fn label_values(&self, selector: &str, label: &str, at: f64) -> Vec<String> {
        let (start, end) = ((at - 600.0).to_string(), at.to_string());
        let Ok(d) = self.api(
            "/api/v1/series",
            &[("match[]", selector), ("start", &start), ("end", &end)],
        ) else {
            return Vec::new();
        };
        let mut v: Vec<String> = d
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s[label].as_str().map(String::from))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Waits (`limit` at most) until every scrape target is up.
    pub fn wait_targets_up(&self, limit: Duration) {
        let t = Instant::now();
        loop {
            let d = self.api("/api/v1/targets", &[]).unwrap_or(Value::Null);
            let targets = d["activeTargets"].as_array().cloned().unwrap_or_default();
            if !targets.is_empty() && targets.iter().all(|t| t["health"] == "up") {
                return;
            }
            assert!(t.elapsed() < limit, "targets not up: {targets:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Now, as unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

//! A real browser for the console's tests: Debian's headless chromium driven through chromedriver's W3C
//! WebDriver endpoints, over the reqwest the agent already links (a dozen calls do not earn a client crate).
//! The browser's console (errors, CSP violations, uncaught exceptions) is collected with goog:loggingPrefs.

use super::Reaped;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub struct Browser {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Reaped,
}

impl Browser {
    /// Starts chromedriver on a free port and one headless chromium session; None when they are not
    /// installed (outside CI, `require` says so; in CI it fails).
    pub fn start() -> Option<Browser> {
        if !super::require("chromedriver") || !super::require("chromium") {
            return None;
        }
        let port = super::free_port();
        let driver = Reaped(
            std::process::Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        loop {
            let up = rt.block_on(async { http.get(format!("{base}/status")).send().await });
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            rt,
            http,
            base,
            session: String::new(),
            _driver: driver,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1800", "--hide-scrollbars"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Some(b)
    }

    /// One WebDriver command; its `value`. A WebDriver error is returned as the value (with its `error`).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let text = self
            .rt
            .block_on(async { req.send().await?.text().await })
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        let v = self.call("POST", "/url", Some(json!({"url": url})));
        assert!(v.is_null(), "navigating to {url}: {v}");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs `script` until it returns something truthy (20 s at most); that value.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let t = Instant::now();
        loop {
            let v = self.js(script, json!([]));
            let truthy = !(v.is_null()
                || v == json!(false)
                || v == json!(0)
                || v == json!("")
                || v.get("error").is_some());
            if truthy {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "waited 20 s for {what}; last: {v}; browser log: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The browser console's entries since the last call: `(level, message)`.
    pub fn log(&self) -> Vec<(String, String)> {
        let v = self.call("POST", "/se/log", Some(json!({"type": "browser"})));
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or("").to_string(),
                            e["message"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Errors in the console since the last call (script errors, failed loads, CSP refusals).
    pub fn errors(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|(l, _)| l == "SEVERE")
            .map(|(_, m)| m)
            .collect()
    }

    /// A PNG of the window.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64_png::decode;
        let v = self.call("GET", "/screenshot", None);
        let png = decode(v.as_str().expect("a screenshot"));
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", "", None);
        }
    }
}

/// Standard base64 (the screenshot's encoding), decoded here rather than adding a crate for one call.
mod base64_png {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in s.bytes().filter_map(val) {
            acc = (acc << 6) | c as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }
}

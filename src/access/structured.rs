//! The two self-describing formats and the one entry point for every format.
//!
//! W3C extended (IIS, WebLogic's `access.log`): space-separated values whose order the latest `#Fields:`
//! directive gives, so a file whose fields change midway is still read. `time-taken` is milliseconds in IIS
//! (an integer) and seconds in WebLogic and the W3C draft (with a fraction): a value with a `.` is seconds,
//! one without is milliseconds.
//!
//! JSON lines: one object per line, fields named in the configuration (dotted names reach into objects).

use super::format::{self, Dialect, LineFormat, NoMatch, Request, Slot, Unit};
use serde::{Deserialize, Serialize};

/// Field names of a JSON access log.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JsonFields {
    pub status: String,
    pub method: String,
    /// The URL path, or a whole URI (the query is cut off).
    pub path: String,
    /// The request line ("GET /a HTTP/1.1"), when the log has that instead of method and path.
    pub request: String,
    pub duration: String,
    /// Unit of `duration`: "us", "ms" or "s".
    pub duration_unit: String,
    pub bytes: String,
    pub thread: String,
}

impl Default for JsonFields {
    fn default() -> Self {
        JsonFields {
            status: "status".into(),
            method: "method".into(),
            path: "path".into(),
            request: "request".into(),
            duration: "duration".into(),
            duration_unit: "ms".into(),
            bytes: "bytes".into(),
            thread: "thread".into(),
        }
    }
}

/// What a line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Request,
    /// A W3C directive (`#Fields:`, `#Date:`): not a request, not an error.
    Directive,
    Unmatched,
}

/// A compiled format of any kind.
#[derive(Debug, Clone)]
pub enum Parser {
    Line(LineFormat),
    W3c(Vec<(Slot, bool)>),
    Json(JsonFields, Unit),
}

impl Parser {
    /// The format as configured: `tomcat:PATTERN`, `undertow:PATTERN`, `apache:LOGFORMAT`, `nginx:LOG_FORMAT`, `w3c`, `json`.
    pub fn from_spec(spec: &str, json: &JsonFields) -> Result<Parser, String> {
        let (kind, pattern) = spec.split_once(':').unwrap_or((spec, ""));
        Ok(match kind.trim() {
            "tomcat" => Parser::Line(LineFormat::compile(pattern, Dialect::Tomcat(10))),
            "tomcat9" => Parser::Line(LineFormat::compile(pattern, Dialect::Tomcat(9))),
            "apache" => Parser::Line(LineFormat::compile(pattern, Dialect::Apache)),
            "nginx" => Parser::Line(LineFormat::compile(pattern, Dialect::Nginx)),
            "undertow" => Parser::Line(LineFormat::compile(pattern, Dialect::Undertow)),
            "w3c" => Parser::W3c(Vec::new()),
            "json" => Parser::Json(json.clone(), json_unit(&json.duration_unit)?),
            k => {
                return Err(format!(
                    "unknown access-log format \"{k}\": use tomcat:PATTERN, tomcat9:PATTERN, undertow:PATTERN, apache:LOGFORMAT, nginx:LOG_FORMAT, w3c or json"
                ));
            }
        })
    }

    /// Whether requests in this format carry a duration (W3C: as far as the fields seen so far say).
    pub fn has_duration(&self) -> bool {
        match self {
            Parser::Line(f) => f.has_duration,
            Parser::W3c(f) => f.iter().any(|(s, _)| matches!(s, Slot::Duration(_))),
            Parser::Json(j, _) => !j.duration.is_empty(),
        }
    }

    /// Reads one line; `seen` gets the request when there is one.
    pub fn parse(&mut self, line: &[u8], seen: impl FnOnce(&Request)) -> Outcome {
        match self {
            Parser::Line(f) => match f.parse(line) {
                Ok(r) => {
                    seen(&r);
                    Outcome::Request
                }
                Err(NoMatch) => Outcome::Unmatched,
            },
            Parser::W3c(fields) => w3c(fields, line, seen),
            Parser::Json(j, unit) => json(j, *unit, line, seen),
        }
    }
}

fn json_unit(u: &str) -> Result<Unit, String> {
    match u {
        "us" => Ok(Unit::Micros),
        "ms" => Ok(Unit::Millis),
        "s" => Ok(Unit::Secs),
        _ => Err(format!("duration_unit \"{u}\": use us, ms or s")),
    }
}

fn w3c_slot(name: &str) -> Slot {
    match name {
        "cs-method" => Slot::Method,
        "cs-uri-stem" => Slot::Path,
        "cs-uri" => Slot::Uri,
        "sc-status" => Slot::Status,
        "sc-bytes" | "bytes" => Slot::Bytes,
        "time-taken" => Slot::Duration(Unit::Millis),
        _ => Slot::Skip,
    }
}

fn w3c(fields: &mut Vec<(Slot, bool)>, line: &[u8], seen: impl FnOnce(&Request)) -> Outcome {
    if let Some(rest) = line.strip_prefix(b"#") {
        if let Some(names) = rest.strip_prefix(b"Fields:") {
            // Bounded: a hostile directive of a million names is cut.
            *fields = String::from_utf8_lossy(names)
                .split_ascii_whitespace()
                .take(256)
                .map(|n| (w3c_slot(n), n == "time-taken"))
                .collect();
        }
        return Outcome::Directive;
    }
    if fields.is_empty() {
        return Outcome::Unmatched;
    }
    let mut r = Request::default();
    let mut vals = W3cValues { rest: line };
    for (slot, _) in fields.iter() {
        let Some(v) = vals.next() else {
            return Outcome::Unmatched;
        };
        let ok = match slot {
            Slot::Duration(_) if v != b"-" => {
                let unit = if v.contains(&b'.') {
                    Unit::Secs
                } else {
                    Unit::Millis
                };
                format::micros(v, unit)
                    .map(|d| r.duration_us = Some(d))
                    .is_some()
            }
            Slot::Status => {
                format::int(v)
                    .map(|s| r.status = s.min(999) as u16)
                    .is_some()
                    || v == b"-"
            }
            Slot::Bytes => format::int(v).map(|b| r.bytes = b).is_some() || v == b"-",
            Slot::Method => {
                r.method = v;
                true
            }
            Slot::Path | Slot::Uri => {
                r.path = v.split(|&c| c == b'?').next().unwrap_or(v);
                true
            }
            _ => true,
        };
        if !ok {
            return Outcome::Unmatched;
        }
    }
    seen(&r);
    Outcome::Request
}

/// W3C values: separated by spaces or tabs; a value in double quotes may hold spaces (`""` is a quote).
struct W3cValues<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for W3cValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest;
        let start = s.iter().position(|&c| c != b' ' && c != b'\t')?;
        let s = &s[start..];
        if s[0] == b'"' {
            let mut i = 1;
            while i < s.len() {
                if s[i] == b'"' {
                    if s.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    self.rest = &s[i + 1..];
                    return Some(&s[1..i]);
                }
                i += 1;
            }
            self.rest = &[];
            return Some(&s[1..]);
        }
        let end = s
            .iter()
            .position(|&c| c == b' ' || c == b'\t')
            .unwrap_or(s.len());
        self.rest = &s[end..];
        Some(&s[..end])
    }
}

fn lookup<'v>(obj: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
    if name.is_empty() {
        return None;
    }
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    name.split('.').try_fold(obj, |o, k| o.get(k))
}

fn json(j: &JsonFields, unit: Unit, line: &[u8], seen: impl FnOnce(&Request)) -> Outcome {
    use serde_json::Value;
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return Outcome::Unmatched;
    };
    if !v.is_object() {
        return Outcome::Unmatched;
    }
    let text = |name: &str| -> Option<String> {
        match lookup(&v, name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let mut r = Request::default();
    let status = text(&j.status);
    let Some(status) = status.as_deref().and_then(|s| format::int(s.as_bytes())) else {
        return Outcome::Unmatched;
    };
    r.status = status.min(999) as u16;
    let (method, path, request) = (text(&j.method), text(&j.path), text(&j.request));
    let thread = text(&j.thread);
    if let Some(q) = &request {
        let mut it = q.as_bytes().splitn(3, |&c| c == b' ');
        r.method = it.next().unwrap_or_default();
        let uri = it.next().unwrap_or_default();
        r.path = uri.split(|&c| c == b'?').next().unwrap_or(uri);
    }
    if let Some(m) = &method {
        r.method = m.as_bytes();
    }
    if let Some(p) = &path {
        r.path = p
            .as_bytes()
            .split(|&c| c == b'?')
            .next()
            .unwrap_or_default();
    }
    if let Some(d) = text(&j.duration) {
        match format::micros(d.as_bytes(), unit) {
            Some(us) => r.duration_us = Some(us),
            None if d == "-" => {}
            None => return Outcome::Unmatched,
        }
    }
    r.bytes = text(&j.bytes)
        .and_then(|b| format::int(b.as_bytes()))
        .unwrap_or(0);
    r.thread = thread.as_deref().map(str::as_bytes);
    seen(&r);
    Outcome::Request
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Vec<(String, String, u16, Option<u64>)>;

    fn collect(p: &mut Parser, lines: &str) -> (Seen, usize) {
        let mut out = Vec::new();
        let mut unmatched = 0;
        for l in lines.lines() {
            let o = p.parse(l.as_bytes(), |r| {
                out.push((
                    String::from_utf8_lossy(r.method).into_owned(),
                    String::from_utf8_lossy(r.path).into_owned(),
                    r.status,
                    r.duration_us,
                ))
            });
            unmatched += usize::from(o == Outcome::Unmatched);
        }
        (out, unmatched)
    }

    #[test]
    fn iis_w3c_lines_from_a_public_source() {
        // IIS 10 lines from netdata's go.d.plugin modules/weblog/testdata/u_ex221107.log.
        let log = "#Software: Microsoft Internet Information Services 10.0
#Version: 1.0
#Date: 2022-11-07 14:29:06
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken
2022-11-07 14:29:06 127.0.0.1 GET /us - 80 - 127.0.0.1 Go-http-client/1.1 - 404 0 2 130
2022-11-07 16:47:25 ::1 GET /iisstart.png - 80 - ::1 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/107.0.0.0+Safari/537.36+Edg/107.0.1418.35 http://localhost/ 304 0 0 2
2022-11-07 16:49:05 ::1 GET / - 80 - ::1 Mozilla/5.0+(Windows+NT;+Windows+NT+10.0;+en-US)+WindowsPowerShell/5.1.20348.859 - 200 0 0 0
2022-11-07 16:49:05 ::1 GET / - 80 -";
        let mut p = Parser::from_spec("w3c", &JsonFields::default()).unwrap();
        let (got, unmatched) = collect(&mut p, log);
        assert_eq!(
            got,
            vec![
                ("GET".into(), "/us".into(), 404, Some(130_000)),
                ("GET".into(), "/iisstart.png".into(), 304, Some(2_000)),
                ("GET".into(), "/".into(), 200, Some(0)),
            ]
        );
        assert_eq!(unmatched, 1);
        assert!(p.has_duration());
    }

    #[test]
    fn weblogic_w3c_seconds_and_quotes() {
        // WebLogic's extended format: time-taken in seconds with a fraction; quoted values.
        let log = "#Version: 1.0
#Fields: date time cs-method cs-uri sc-status time-taken cs(User-Agent)
2026-11-29 23:20:07 POST /shop/cart?id=4 200 0.031 \"Mozilla/5.0 (X11; Linux) \"\"x\"\"\"";
        let mut p = Parser::from_spec("w3c", &JsonFields::default()).unwrap();
        let (got, unmatched) = collect(&mut p, log);
        assert_eq!(
            got,
            vec![("POST".into(), "/shop/cart".into(), 200, Some(31_000))]
        );
        assert_eq!(unmatched, 0);
    }

    #[test]
    fn json_lines_with_configured_names() {
        // The nginx "escape=json" log_format of QQ1134614268/LinuxServer nginx/nginx.logformat.json.conf.
        let j = JsonFields {
            status: "status".into(),
            path: "uri".into(),
            duration: "request_time".into(),
            duration_unit: "s".into(),
            bytes: "body_bytes_sent".into(),
            ..Default::default()
        };
        let mut p = Parser::from_spec("json", &j).unwrap();
        let log = r#"{"@timestamp":"2026-11-29T23:20:07+00:00","@version":"1","server_addr":"10.0.0.2","remote_addr":"10.0.0.9","host":"shop","uri":"/api/orders/17","body_bytes_sent":512,"bytes_sent":512,"upstream_response_time":0.011,"request":"GET /api/orders/17?x=1 HTTP/1.1","request_length":120,"request_time":0.012,"status":"200","http_referer":"-","http_x_forwarded_for":"-","http_user_agent":"curl/8.5.0"}
{"status":"x"}
not json
[1,2]
{"http":{"response":{"status_code":503}},"url":{"path":"/b"},"event":{"duration":2500000}}"#;
        let (got, unmatched) = collect(&mut p, log);
        assert_eq!(
            got,
            vec![("GET".into(), "/api/orders/17".into(), 200, Some(12_000))]
        );
        assert_eq!(unmatched, 4);
        // ECS-style nested names.
        let j = JsonFields {
            status: "http.response.status_code".into(),
            path: "url.path".into(),
            duration: "event.duration".into(),
            duration_unit: "us".into(),
            ..Default::default()
        };
        let mut p = Parser::from_spec("json", &j).unwrap();
        let (got, _) = collect(&mut p, log);
        assert_eq!(got, vec![("".into(), "/b".into(), 503, Some(2_500_000))]);
        assert!(Parser::from_spec("xml", &j).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(lines in proptest::collection::vec("(#Fields: ?|[a-z-]{1,12}|\"|\\{|\\}|:|,| |[0-9.]{1,5}|\\PC)*", 0..6)) {
            for spec in ["w3c", "json", "nginx:$status $request_time", "tomcat:%s %D %r"] {
                let mut p = Parser::from_spec(spec, &JsonFields::default()).unwrap();
                for l in &lines {
                    let _ = p.parse(l.as_bytes(), |_| {});
                }
            }
        }
    }
}

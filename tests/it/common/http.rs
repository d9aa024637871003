//! Plain HTTP/1.1 GETs on loopback, as an operator's curl would send them: one request per connection, every
//! read bounded, so a hung peer fails the test instead of hanging it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GET `path`: (status, body), or None when the connection or the answer fails (or takes over 10 s).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_as(port, path, None)
}

/// GET `path` with `Authorization: Bearer TOKEN` when a token is given.
pub fn get_as(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

/// GET `path` and the first read of the answer (up to 4 KiB), or None when nothing comes back within `wait`:
/// for servers whose pool is exhausted, which accept the connection and then never answer.
pub fn first_read(port: u16, path: &str, wait: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(wait)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut b = [0u8; 4096];
    let n = s.read(&mut b).ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&b[..n]).into_owned())
}

/// The value of one sample of an agent's /metrics, written as it appears: `name{label="v",...}`.
pub fn metric(port: u16, sample: &str) -> Option<f64> {
    let (_, body) = get(port, "/metrics")?;
    body.lines().find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == sample).then(|| v.parse().ok())?
    })
}

/// The value of the first sample of the family `name` (with or without labels).
pub fn first_metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = get(port, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

//! A Tomcat's request-pool limits from its `conf/server.xml`, so that "every request thread busy" can be told
//! apart from "a pool still growing": each `<Connector>`'s `maxThreads` (default 200) keyed by its port, and each
//! shared `<Executor>`'s `maxThreads` keyed by its thread-name prefix. Comments are skipped; values with
//! `${...}` placeholders are not guessed. Read from the JVM's own root (`/proc/<pid>/root`), so a container's
//! Tomcat is read where it runs.

use crate::util::safe_open::{self, Owner, Spec};
use std::path::Path;

/// Which request threads a limit is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolKey {
    /// A connector's own pool: thread names end in `-<port>` before `-exec-N` (`http-nio-8080-exec-3`).
    Port(u16),
    /// A shared executor: thread names start with its `namePrefix` (`catalina-exec-3`).
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLimit {
    pub key: PoolKey,
    pub max_threads: u32,
    /// Where the figure comes from, for the evidence ("server.xml Connector port 8080").
    pub source: String,
}

/// Tomcat's default `maxThreads` of a connector or executor.
const DEFAULT_MAX_THREADS: u32 = 200;
/// A server.xml larger than this is not read.
const MAX_FILE: u64 = 1 << 20;

pub fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<!--") {
        out.push_str(&rest[..i]);
        match rest[i + 4..].find("-->") {
            Some(j) => rest = &rest[i + 4 + j + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of every `<name ...>` element, in order.
pub fn elements(xml: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{name}");
    let attr = regex::Regex::new(r#"([A-Za-z_:][A-Za-z0-9_.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
        .expect("static regex");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<ConnectorX` is another element.
        if !after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            rest = after;
            continue;
        }
        let end = after.find('>').unwrap_or(after.len());
        out.push(
            attr.captures_iter(&after[..end])
                .map(|c| {
                    let v = c.get(2).or_else(|| c.get(3)).map_or("", |m| m.as_str());
                    (c[1].to_string(), v.to_string())
                })
                .collect(),
        );
        rest = &after[end..];
    }
    out
}

pub fn get<'a>(attrs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn max_threads(attrs: &[(String, String)]) -> Option<u32> {
    match get(attrs, "maxThreads") {
        None => Some(DEFAULT_MAX_THREADS),
        Some(v) => v.trim().parse().ok(),
    }
}

/// The pool limits a server.xml sets.
pub fn parse_server_xml(text: &str) -> Vec<PoolLimit> {
    let xml = strip_comments(text);
    let mut out = Vec::new();
    for e in elements(&xml, "Executor") {
        let (Some(name), Some(max)) = (get(&e, "name"), max_threads(&e)) else {
            continue;
        };
        let prefix = get(&e, "namePrefix").unwrap_or("tomcat-exec-").to_string();
        out.push(PoolLimit {
            key: PoolKey::Prefix(prefix),
            max_threads: max,
            source: format!("server.xml Executor {name}"),
        });
    }
    for c in elements(&xml, "Connector") {
        // A connector on a shared executor is limited by the executor.
        if get(&c, "executor").is_some() {
            continue;
        }
        let (Some(port), Some(max)) = (
            get(&c, "port").and_then(|p| p.trim().parse::<u16>().ok()),
            max_threads(&c),
        ) else {
            continue;
        };
        out.push(PoolLimit {
            key: PoolKey::Port(port),
            max_threads: max,
            source: format!("server.xml Connector port {port}"),
        });
    }
    out
}

/// The pool limits of a running Tomcat: its `-Dcatalina.base` (else `-Dcatalina.home`), `conf/server.xml`, read
/// through the JVM's own root. Empty when it is not a Tomcat or the file cannot be read.
pub fn pool_limits(proc_root: &Path, pid: u32, cmdline: &[String]) -> Vec<PoolLimit> {
    let base = ["-Dcatalina.base=", "-Dcatalina.home="]
        .iter()
        .find_map(|k| cmdline.iter().find_map(|a| a.strip_prefix(k)));
    let Some(base) = base else {
        return Vec::new();
    };
    let dir = proc_root.join(pid.to_string());
    // The JVM's user names the file (its command line): it may be a FIFO, a device, a huge file or a symlink to
    // a file only root may read. Resolved inside the JVM's root, never blocking, only a regular file that user
    // could read itself, bounded.
    let Some((uid, gid)) = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| Some((status_id(&s, "Uid:")?, status_id(&s, "Gid:")?)))
    else {
        return Vec::new();
    };
    let rel = Path::new(base.trim_start_matches('/')).join("conf/server.xml");
    let spec = Spec::file(Owner::ReadableBy { uid, gid }, MAX_FILE);
    safe_open::read_in_root(&dir.join("root"), &rel, &spec)
        .map(|b| parse_server_xml(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// The effective id of a "Uid:\treal\teffective\tsaved\tfs" line of /proc/<pid>/status.
pub fn status_id(status: &str, key: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The limit of the pool whose threads are named `pool` (`http-nio-127.0.0.1-8080`, `catalina-exec`).
pub fn limit_for<'a>(limits: &'a [PoolLimit], pool: &str) -> Option<&'a PoolLimit> {
    limits.iter().find(|l| match &l.key {
        PoolKey::Port(p) => pool.rsplit('-').next().and_then(|x| x.parse::<u16>().ok()) == Some(*p),
        PoolKey::Prefix(x) => x.trim_end_matches('-') == pool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_executors_comments_and_defaults() {
        let xml = r#"<?xml version="1.0"?>
<Server port="8005">
  <Service name="Catalina">
    <!-- <Connector port="8081" maxThreads="5"/> -->
    <Executor name="tomcatThreadPool" namePrefix="catalina-exec-"
              maxThreads="150" minSpareThreads="4"/>
    <Connector port="8080" protocol="HTTP/1.1"
               maxThreads='8' connectionTimeout="20000"/>
    <Connector executor="tomcatThreadPool" port="8443" protocol="HTTP/1.1"/>
    <Connector port="8009" protocol="AJP/1.3"/>
    <Connector port="${http.port}" maxThreads="9"/>
    <ConnectorX port="1" maxThreads="1"/>
  </Service>
</Server>"#;
        let l = parse_server_xml(xml);
        let keys: Vec<(PoolKey, u32)> = l.iter().map(|p| (p.key.clone(), p.max_threads)).collect();
        assert_eq!(
            keys,
            vec![
                (PoolKey::Prefix("catalina-exec-".into()), 150),
                (PoolKey::Port(8080), 8),
                (PoolKey::Port(8009), 200),
            ]
        );
        assert_eq!(
            limit_for(&l, "http-nio-127.0.0.1-8080")
                .unwrap()
                .max_threads,
            8
        );
        assert_eq!(limit_for(&l, "ajp-nio-8009").unwrap().max_threads, 200);
        assert_eq!(limit_for(&l, "catalina-exec").unwrap().max_threads, 150);
        assert!(limit_for(&l, "http-nio-8081").is_none());
        // An unterminated comment hides the rest.
        assert!(parse_server_xml("<!-- <Connector port=\"1\"/>").is_empty());
    }

    proptest::proptest! {
        // server.xml is written by someone else: whatever it holds, reading it never panics.
        #[test]
        fn never_panics(s in "(<!--|-->|<Connector|<Executor| port=\"[0-9]{1,6}\"| maxThreads='[0-9x]{0,4}'|/>|>|\\PC{0,8})*") {
            let _ = parse_server_xml(&s);
        }
    }
}

//! The HTTP access log a WebLogic server writes, read from its domain's `config/config.xml` with no
//! configuration: the `<server>` named by the JVM's `-Dweblogic.Name`, its `<web-server><web-server-log>`:
//! `file-name` (default `logs/access.log`, relative to `servers/<name>` of the domain), `log-file-format`
//! (`common` by default: counts only; `extended`: W3C with a `#Fields:` header and `time-taken`),
//! `logging-enabled` false leaves it out. WebLogic renames the full file to `access.log00001`...: every file
//! whose name starts with the current one's is followed. The domain is `-Dweblogic.RootDirectory` or
//! `-Ddomain.home`, else the JVM's working directory (startWebLogic.sh starts it from the domain).
//! Virtual hosts' own logs are not read.

use super::discover::{TomcatLogs, Valve, args_of, owner_of};
use crate::util::safe_open::{self, Spec};
use std::path::{Path, PathBuf};

const MAX_FILE: u64 = 4 << 20;

/// The text of each `<tag>...</tag>` (not nested in itself), in document order.
fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<server-template>` is another element; `<server/>` has no body.
        let Some(gt) = after.find('>') else { break };
        if !after.starts_with(|c: char| c == '>' || c.is_whitespace()) || after[..gt].ends_with('/')
        {
            rest = after;
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

fn text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    blocks(xml, tag).first().map(|t| t.trim())
}

/// The access log of server `name` in a config.xml: (directory relative to the domain, or absolute; valve).
pub fn access_log(xml: &str, name: &str) -> Option<(PathBuf, Valve)> {
    let xml = crate::jvm::tomcat::strip_comments(xml);
    let server = blocks(&xml, "server")
        .into_iter()
        .find(|s| text(s, "name") == Some(name))?;
    let log = blocks(server, "web-server")
        .first()
        .and_then(|w| blocks(w, "web-server-log").first().copied())
        .unwrap_or("");
    if text(log, "logging-enabled") == Some("false") {
        return None;
    }
    let file = text(log, "file-name").unwrap_or("logs/access.log");
    let path = Path::new(file);
    let name_part = path.file_name()?.to_string_lossy().into_owned();
    // A name with date tokens (access_%yyyy%_%MM%%dd%.log): the fixed parts around them.
    let (prefix, suffix) = match (name_part.find('%'), name_part.rfind('%')) {
        (Some(a), Some(b)) => (name_part[..a].to_string(), name_part[b + 1..].to_string()),
        _ => (name_part, String::new()),
    };
    let dir = match path.parent() {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => Path::new("servers").join(name).join(p),
        None => Path::new("servers").join(name),
    };
    let extended = text(log, "log-file-format") == Some("extended");
    Some((
        dir.clone(),
        Valve {
            directory: dir.to_string_lossy().into_owned(),
            prefix,
            suffix,
            pattern: "common".into(),
            extended,
            undertow: false,
        },
    ))
}

/// A running WebLogic server's access log; None when it is not one or nothing can be read.
pub fn logs(proc_root: &Path, pid: u32) -> Option<TomcatLogs> {
    let dir = proc_root.join(pid.to_string());
    let args = args_of(&dir)?;
    let prop = |k: &str| args.iter().find_map(|a| a.strip_prefix(k));
    if !args.iter().any(|a| a == "weblogic.Server") {
        return None;
    }
    let name = prop("-Dweblogic.Name=").unwrap_or("myserver").to_string();
    let domain: PathBuf = match prop("-Dweblogic.RootDirectory=").or(prop("-Ddomain.home=")) {
        Some(d) => d.into(),
        // The working directory as the JVM sees it, inside its root.
        None => std::fs::read_link(dir.join("cwd")).ok()?,
    };
    let owner = owner_of(&dir)?;
    let root = dir.join("root");
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let rel = domain.join("config/config.xml");
    let xml = safe_open::read_in_root(
        &root,
        rel.strip_prefix("/").unwrap_or(&rel),
        &Spec::file(owner, MAX_FILE),
    )
    .ok()?;
    let (d, valve) = access_log(&String::from_utf8_lossy(&xml), &name)?;
    let abs = if d.is_absolute() { d } else { domain.join(d) };
    Some(TomcatLogs {
        pid,
        valves: vec![(valve, inside(&abs))],
        major: 10,
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain's config.xml in the shape WebLogic 12c/14c writes (servers with a web-server-log, one
    /// extended with elf-fields as WebLogic's hardening checks read them, one with the defaults).
    #[test]
    fn the_servers_access_log() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?>
<domain xmlns="http://xmlns.oracle.com/weblogic/domain">
  <name>base_domain</name>
  <domain-version>14.1.1.0.0</domain-version>
  <server>
    <name>AdminServer</name>
    <listen-address/>
  </server>
  <server>
    <name>server1</name>
    <listen-port>7003</listen-port>
    <cluster>cluster1</cluster>
    <web-server>
      <web-server-log>
        <!-- <file-name>old/access.log</file-name> -->
        <number-of-files-limited>false</number-of-files-limited>
        <file-name>/var/log/wls/server1-access.log</file-name>
        <log-file-format>extended</log-file-format>
        <elf-fields>date time cs-method cs-uri sc-status time-taken</elf-fields>
      </web-server-log>
    </web-server>
    <listen-address>192.168.1.140</listen-address>
  </server>
  <server>
    <name>quiet</name>
    <web-server><web-server-log><logging-enabled>false</logging-enabled></web-server-log></web-server>
  </server>
  <server-template><name>server1</name></server-template>
</domain>"#;
        let (d, v) = access_log(xml, "AdminServer").unwrap();
        assert_eq!(d, Path::new("servers/AdminServer/logs"));
        assert_eq!((v.prefix.as_str(), v.extended), ("access.log", false));
        assert!(v.matches("access.log") && v.matches("access.log00001"));
        let (d, v) = access_log(xml, "server1").unwrap();
        assert_eq!(d, Path::new("/var/log/wls"));
        assert_eq!(
            (v.prefix.as_str(), v.extended),
            ("server1-access.log", true)
        );
        assert!(access_log(xml, "quiet").is_none());
        assert!(access_log(xml, "nobody").is_none());
        let dated = xml.replace(
            "/var/log/wls/server1-access.log",
            "logs/access_%yyyy%_%MM%_%dd%.log",
        );
        let (d, v) = access_log(&dated, "server1").unwrap();
        assert_eq!(d, Path::new("servers/server1/logs"));
        assert_eq!((v.prefix.as_str(), v.suffix.as_str()), ("access_", ".log"));
    }
}

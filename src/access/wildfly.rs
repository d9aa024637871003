//! Access logs a WildFly / JBoss EAP 7+ server writes, read from its `standalone.xml` with no configuration:
//! every Undertow `<access-log>` of the undertow subsystem, with its directory (`${jboss.server.log.dir}` by
//! default, or relative to the path a `relative-to` names), prefix (`access_log.`), suffix (`log`) and pattern
//! (`common`). Undertow writes `prefix + suffix` (`access_log.log`) and renames it to `prefix + date + "." +
//! suffix` at midnight: `prefix*suffix` finds both, as for Tomcat. Logs sent to the server log
//! (`use-server-log="true"`) have no file of their own and are left out.
//!
//! The paths come from the JVM's `-Djboss.*` arguments as standalone.sh passes them (jboss.home.dir,
//! jboss.server.base.dir, jboss.server.config.dir, jboss.server.log.dir) and the server's defaults
//! (base = home/standalone, log = base/log, configuration = base/configuration); the file is standalone.xml
//! unless `-c`/`--server-config`/`-Djboss.server.default.config` names another. Read through the JVM's root
//! with its user's rights, as server.xml is (see discover).

use super::discover::{TomcatLogs, Valve, args_of, owner_of};
use crate::jvm::tomcat;
use crate::util::safe_open::{self, Spec};
use std::collections::HashMap;
use std::path::Path;

const MAX_FILE: u64 = 4 << 20;

/// The server's path properties from its arguments, with the defaults filled in; None when it is not a
/// standalone WildFly/JBoss (no jboss.home.dir).
pub fn properties(args: &[String]) -> Option<HashMap<String, String>> {
    let mut p: HashMap<String, String> = args
        .iter()
        .filter_map(|a| a.strip_prefix("-D")?.split_once('='))
        .filter(|(k, _)| k.starts_with("jboss."))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let home = p.get("jboss.home.dir")?.clone();
    let base = p
        .entry("jboss.server.base.dir".into())
        .or_insert_with(|| format!("{home}/standalone"))
        .clone();
    p.entry("jboss.server.log.dir".into())
        .or_insert_with(|| format!("{base}/log"));
    p.entry("jboss.server.config.dir".into())
        .or_insert_with(|| format!("{base}/configuration"));
    p.entry("jboss.server.data.dir".into())
        .or_insert_with(|| format!("{base}/data"));
    // `-c x.xml`, `-c=x.xml`, `--server-config=x.xml` (standalone.sh passes them through to the JVM).
    let mut config = p.get("jboss.server.default.config").cloned();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a
            .strip_prefix("--server-config=")
            .or_else(|| a.strip_prefix("-c="))
        {
            config = Some(v.to_string());
        } else if a == "-c" || a == "--server-config" {
            config = args.get(i + 1).cloned();
        }
    }
    p.insert(
        "wasp.config.file".into(),
        config.unwrap_or_else(|| "standalone.xml".into()),
    );
    Some(p)
}

/// `${name}` and `${name:default}` from `props`; None when one is unknown and has no default.
fn expand(s: &str, props: &HashMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}')? + i;
        let expr = &rest[i + 2..end];
        let (name, default) = match expr.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        out.push_str(props.get(name).map(String::as_str).or(default)?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The Undertow access logs of a standalone.xml, each with its absolute directory.
pub fn access_logs(xml: &str, props: &HashMap<String, String>) -> Vec<(Valve, String)> {
    let xml = tomcat::strip_comments(xml);
    let mut out = Vec::new();
    for e in tomcat::elements(&xml, "access-log") {
        let attr = |k: &str| tomcat::get(&e, k).map(super::discover::unescape);
        if attr("use-server-log").as_deref() == Some("true") {
            continue;
        }
        let dir = attr("directory").unwrap_or_else(|| "${jboss.server.log.dir}".into());
        let Some(mut dir) = expand(&dir, props) else {
            continue;
        };
        if let Some(rel) = attr("relative-to") {
            let Some(base) = props.get(&rel) else {
                continue;
            };
            dir = Path::new(base).join(&dir).to_string_lossy().into_owned();
        }
        if !dir.starts_with('/') {
            continue;
        }
        out.push((
            Valve {
                directory: dir.clone(),
                prefix: attr("prefix").unwrap_or_else(|| "access_log.".into()),
                suffix: attr("suffix").unwrap_or_else(|| "log".into()),
                pattern: attr("pattern").unwrap_or_else(|| "common".into()),
                extended: attr("extended").as_deref() == Some("true"),
                undertow: true,
            },
            dir,
        ));
    }
    out
}

/// A running WildFly's access logs; None when it is not one or its configuration cannot be read.
pub fn logs(proc_root: &Path, pid: u32) -> Option<TomcatLogs> {
    let dir = proc_root.join(pid.to_string());
    let props = properties(&args_of(&dir)?)?;
    let owner = owner_of(&dir)?;
    let root = dir.join("root");
    let file = &props["wasp.config.file"];
    let path = if file.starts_with('/') {
        file.clone()
    } else {
        format!("{}/{file}", props["jboss.server.config.dir"])
    };
    let xml = safe_open::read_in_root(
        &root,
        Path::new(path.trim_start_matches('/')),
        &Spec::file(owner, MAX_FILE),
    )
    .ok()?;
    let valves = access_logs(&String::from_utf8_lossy(&xml), &props)
        .into_iter()
        .map(|(v, abs)| {
            let inside = root.join(abs.trim_start_matches('/'));
            (v, inside)
        })
        .collect();
    Some(TomcatLogs {
        pid,
        valves,
        major: 10,
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::structured::Outcome;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_from_the_arguments() {
        let p = properties(&args(&[
            "java",
            "-Djboss.home.dir=/opt/wildfly",
            "-Djboss.server.base.dir=/srv/node1",
            "-jar",
            "/opt/wildfly/jboss-modules.jar",
            "-c",
            "standalone-full.xml",
        ]))
        .unwrap();
        assert_eq!(p["jboss.server.log.dir"], "/srv/node1/log");
        assert_eq!(p["jboss.server.config.dir"], "/srv/node1/configuration");
        assert_eq!(p["wasp.config.file"], "standalone-full.xml");
        let p = properties(&args(&["java", "-Djboss.home.dir=/opt/jboss"])).unwrap();
        assert_eq!(p["jboss.server.log.dir"], "/opt/jboss/standalone/log");
        assert_eq!(p["wasp.config.file"], "standalone.xml");
        assert!(properties(&args(&["java", "-Dcatalina.base=/x"])).is_none());
    }

    /// Undertow sections of public standalone.xml files (a WildFly 8 SSL how-to, a WildFly s2i test's
    /// expected line, a relative-to form from a deployment script's checks), and a log line in the combined
    /// form with %D as Undertow writes it.
    #[test]
    fn access_logs_from_standalone_xml() {
        let props = properties(&args(&[
            "java",
            "-Djboss.home.dir=/opt/wildfly",
            "-Djboss.server.log.dir=/var/log/wildfly",
        ]))
        .unwrap();
        let xml = r#"<subsystem xmlns="urn:jboss:domain:undertow:1.1">
            <buffer-cache name="default"/>
            <server name="default-server">
                <http-listener name="default" socket-binding="http"/>
                <host name="default-host" alias="localhost">
                    <location name="/" handler="welcome-content"/>
                    <access-log pattern="common" directory="${jboss.server.log.dir}" prefix="access"/>
                    <filter-ref name="server-header"/>
                </host>
            </server>
            <server name="second">
                <host name="other-host">
                    <!-- <access-log prefix="commented"/> -->
                    <access-log pattern="%h %l %u %t %{i,X-Forwarded-Host} &quot;%r&quot; %s %b" use-server-log="true"/>
                    <access-log relative-to="jboss.server.log.dir" directory="access"/>
                    <access-log directory="${jboss.home.dir}/standalone/log" prefix="timed." suffix=".txt"
                        pattern="%h %l %u %t &quot;%r&quot; %s %b &quot;%{i,Referer}&quot; &quot;%{i,User-Agent}&quot; %D %I"/>
                    <access-log directory="${unknown.dir}"/>
                </host>
            </server>
        </subsystem>"#;
        let v = access_logs(xml, &props);
        let got: Vec<(&str, &str, &str, &str)> = v
            .iter()
            .map(|(v, d)| {
                (
                    d.as_str(),
                    v.prefix.as_str(),
                    v.suffix.as_str(),
                    v.pattern.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("/var/log/wildfly", "access", "log", "common"),
                ("/var/log/wildfly/access", "access_log.", "log", "common"),
                (
                    "/opt/wildfly/standalone/log",
                    "timed.",
                    ".txt",
                    "%h %l %u %t \"%r\" %s %b \"%{i,Referer}\" \"%{i,User-Agent}\" %D %I"
                ),
            ]
        );
        // The current file and a renamed day, not the server log.
        assert!(v[1].0.matches("access_log.log"));
        assert!(v[1].0.matches("access_log.2026-11-29.log"));
        assert!(!v[1].0.matches("server.log"));
        // %D in milliseconds, headers skipped, the thread taken.
        let mut p = v[2].0.parser(10);
        let line = br#"10.0.0.7 - - [30/Nov/2026:02:10:01 +0000] "GET /shop/orders/17?x=1 HTTP/1.1" 503 120 "-" "curl/8.5.0" 2300 default task-7"#;
        let mut seen = None;
        assert_eq!(
            p.parse(line, |r| seen =
                Some((r.status, r.duration_us, r.thread.map(<[u8]>::to_vec)))),
            Outcome::Request
        );
        assert_eq!(
            seen,
            Some((503, Some(2_300_000), Some(b"default task-7".to_vec())))
        );
    }
}

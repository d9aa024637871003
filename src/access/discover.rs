//! Access logs a Tomcat writes, read from its `conf/server.xml` with no configuration: every AccessLogValve
//! (and ExtendedAccessLogValve, which writes W3C) with its directory, prefix, suffix and pattern. The files are
//! then every `prefix*suffix` in the directory, so the daily dated name, `renameOnRotate` and a logrotate
//! rename are all followed without computing a date. Read through the JVM's own root (`/proc/<pid>/root`),
//! with the JVM user's rights (see jvm::tomcat).

use super::format::{Dialect, LineFormat};
use super::structured::Parser;
use crate::jvm::tomcat;
use crate::util::safe_open::{self, Owner, Spec};
use std::path::{Path, PathBuf};

/// One access-log valve as server.xml declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Valve {
    /// The directory as written (relative to catalina.base unless absolute).
    pub directory: String,
    pub prefix: String,
    pub suffix: String,
    pub pattern: String,
    /// ExtendedAccessLogValve: W3C with a `#Fields:` header.
    pub extended: bool,
    /// Written by WildFly/JBoss Undertow (its `%D` is milliseconds, headers `%{i,Name}`).
    pub undertow: bool,
}

const MAX_FILE: u64 = 1 << 20;

pub(super) fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The access-log valves of a server.xml, in document order; `${catalina.base}`/`${catalina.home}` in a
/// directory are replaced by `base`/`home`, any other placeholder leaves the valve out.
pub fn valves(text: &str, base: &str, home: &str) -> Vec<Valve> {
    let xml = tomcat::strip_comments(text);
    let mut out = Vec::new();
    for v in tomcat::elements(&xml, "Valve") {
        let class = tomcat::get(&v, "className").unwrap_or_default();
        let extended = class.ends_with(".ExtendedAccessLogValve");
        if !(class.ends_with(".AccessLogValve") || extended) {
            continue;
        }
        let attr = |k: &str, d: &str| unescape(tomcat::get(&v, k).unwrap_or(d));
        let directory = attr("directory", "logs")
            .replace("${catalina.base}", base)
            .replace("${catalina.home}", home);
        let (prefix, suffix) = (attr("prefix", "access_log"), attr("suffix", ""));
        if [&directory, &prefix, &suffix]
            .iter()
            .any(|s| s.contains("${"))
        {
            continue;
        }
        out.push(Valve {
            directory,
            prefix,
            suffix,
            pattern: attr("pattern", "common"),
            extended,
            undertow: false,
        });
    }
    out
}

/// Tomcat's major version from its catalina.home (`/usr/share/tomcat10`, `/opt/apache-tomcat-9.0.80`):
/// Tomcat 9 and older log `%D` in milliseconds, 10 and later in microseconds. Unknown: 10.
pub fn major_version(home: &str) -> u32 {
    let name = Path::new(home)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.find("tomcat")
        .map(|i| &name[i + 6..])
        .map(|r| r.trim_start_matches(['-', '_']))
        .and_then(|r| {
            let d: String = r.chars().take_while(char::is_ascii_digit).collect();
            d.parse().ok()
        })
        .filter(|v| (3..100).contains(v))
        .unwrap_or(10)
}

impl Valve {
    pub fn parser(&self, major: u32) -> Parser {
        if self.extended {
            Parser::W3c(Vec::new())
        } else if self.undertow {
            Parser::Line(LineFormat::compile(&self.pattern, Dialect::Undertow))
        } else {
            Parser::Line(LineFormat::compile(&self.pattern, Dialect::Tomcat(major)))
        }
    }

    /// The valve's label: its prefix without the trailing separator.
    pub fn name(&self) -> String {
        let n = self.prefix.trim_end_matches(['.', '_', '-']);
        if n.is_empty() {
            "access_log".into()
        } else {
            n.into()
        }
    }

    /// Whether a file name in the directory is one of this valve's.
    pub fn matches(&self, file: &str) -> bool {
        file.len() >= self.prefix.len() + self.suffix.len()
            && file.starts_with(&self.prefix)
            && file.ends_with(&self.suffix)
    }
}

/// A Tomcat JVM's access-log valves and where they are, as seen from outside it.
#[derive(Debug, Clone)]
pub struct TomcatLogs {
    pub pid: u32,
    /// Directories to list, under `/proc/<pid>/root`.
    pub valves: Vec<(Valve, PathBuf)>,
    pub major: u32,
    pub owner: Owner,
}

/// Reads a running Tomcat's server.xml; None when it is not a Tomcat or nothing can be read.
pub fn tomcat_logs(proc_root: &Path, pid: u32) -> Option<TomcatLogs> {
    let dir = proc_root.join(pid.to_string());
    let args = args_of(&dir)?;
    let prop = |k: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(k).map(str::to_string))
    };
    let home = prop("-Dcatalina.home=");
    let base = prop("-Dcatalina.base=").or_else(|| home.clone())?;
    let home = home.unwrap_or_else(|| base.clone());
    let owner = owner_of(&dir)?;
    let root = dir.join("root");
    let rel = Path::new(base.trim_start_matches('/')).join("conf/server.xml");
    let xml = safe_open::read_in_root(&root, &rel, &Spec::file(owner, MAX_FILE)).ok()?;
    let valves = valves(&String::from_utf8_lossy(&xml), &base, &home)
        .into_iter()
        .map(|v| {
            let d = Path::new(&v.directory);
            let abs = if d.is_absolute() {
                d.to_path_buf()
            } else {
                Path::new(&base).join(d)
            };
            let inside = root.join(abs.strip_prefix("/").unwrap_or(&abs));
            (v, inside)
        })
        .collect();
    Some(TomcatLogs {
        pid,
        valves,
        major: major_version(&home),
        owner,
    })
}

/// A process's arguments (`/proc/<pid>/cmdline`, at most 1 MiB).
pub(super) fn args_of(dir: &Path) -> Option<Vec<String>> {
    let cmdline =
        safe_open::read_bounded(&mut std::fs::File::open(dir.join("cmdline")).ok()?, 1 << 20)
            .ok()?;
    Some(
        cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whose rights a process's files are read with: its real user and group.
pub(super) fn owner_of(dir: &Path) -> Option<Owner> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    Some(Owner::ReadableBy {
        uid: tomcat::status_id(&status, "Uid:")?,
        gid: tomcat::status_id(&status, "Gid:")?,
    })
}

/// The files of a valve in its directory, newest names last; bounded.
pub fn valve_files(v: &Valve, dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .take(100_000)
        .filter(|e| v.matches(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    // Dated names sort by date: the newest few are the ones still written.
    let keep = out.len().saturating_sub(super::follow::MAX_FILES);
    out.drain(..keep);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valves_from_server_xml() {
        // Tomcat 10's own conf/server.xml, its Host section.
        let xml = r#"<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost"  appBase="webapps" unpackWARs="true" autoDeploy="true">
        <!-- <Valve className="org.apache.catalina.valves.AccessLogValve" prefix="commented"/> -->
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="logs"
               prefix="localhost_access_log" suffix=".txt"
               pattern="%h %l %u %t &quot;%r&quot; %s %b" />
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="${catalina.base}/timed"
               prefix="t." pattern="combined" fileDateFormat="yyyy-MM-dd.HH-mm"/>
        <Valve className="org.apache.catalina.valves.ExtendedAccessLogValve" directory="/var/log/w3c"
               prefix="x_" suffix=".log" pattern="date time cs-method cs-uri sc-status time-taken"/>
        <Valve className="org.apache.catalina.valves.RemoteIpValve"/>
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="${logs.dir}"/>
      </Host>
    </Engine>
  </Service>
</Server>"#;
        let v = valves(xml, "/srv/base", "/usr/share/tomcat10");
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].pattern, "%h %l %u %t \"%r\" %s %b");
        assert_eq!(
            (v[0].directory.as_str(), v[0].name()),
            ("logs", "localhost_access_log".into())
        );
        assert!(v[0].matches("localhost_access_log.2026-11-29.txt"));
        assert!(!v[0].matches("localhost_access_log.2026-11-29.txt.gz"));
        assert!(!v[0].matches("catalina.2026-11-29.log"));
        assert_eq!(
            (v[1].directory.as_str(), v[1].name()),
            ("/srv/base/timed", "t".into())
        );
        assert!(v[2].extended);
        assert_eq!(major_version("/usr/share/tomcat10"), 10);
        assert_eq!(major_version("/opt/apache-tomcat-9.0.80"), 9);
        assert_eq!(major_version("/opt/tomcat"), 10);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "(<!--|-->|<Valve|className=\"x.AccessLogValve\"| prefix='[a-z.]{0,4}'|&quot;|/>|\\PC{0,8})*") {
            let _ = valves(&s, "/b", "/h");
        }
    }
}

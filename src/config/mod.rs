//! The TOML configuration: one file, every key optional.
//!
//! Each section's type lives with the part of wasp that uses it (`host::HostConfig`, `jvm::JvmConfig`, ...);
//! this module only assembles them, reads the file and turns any error into "file:line:column: what is expected".

pub mod units;
mod validate;

pub use crate::logging::{LogConfig, LogLevel};
pub use units::{
    ByteSize, Dur, Interval, Pattern, format_duration, is_label_name, is_name, parse_duration,
    parse_size,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the packaged agent looks for its configuration.
pub const DEFAULT_PATH: &str = "/etc/wasp/wasp.toml";

#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub agent: AgentConfig,
    pub server: ServerConfig,
    pub log: crate::logging::LogConfig,
    pub host: crate::host::HostConfig,
    pub jvm: crate::jvm::JvmConfig,
    /// Thread dumps and incident bundles on SIGUSR1 / SIGUSR2.
    pub snapshots: crate::snapshot::SnapshotConfig,
    /// Conditions over the collected figures, and what to do when they hold.
    pub rules: Vec<crate::trigger::rules::RuleConfig>,
    /// Periodic dumps, histograms and bundles.
    pub schedules: Vec<crate::trigger::schedule::ScheduleConfig>,
    /// Application logs followed, with line counts per pattern.
    pub logs: Vec<crate::trigger::logwatch::LogWatchConfig>,
    /// TCP and HTTP service checks.
    pub checks: Vec<crate::trigger::check::CheckConfig>,
    /// Where the data goes; none configured means the local JSON-lines file.
    pub sinks: crate::ship::config::Sinks,
    /// The control socket of `wasp trigger` and `wasp status`.
    pub control: crate::control::ControlConfig,
    /// Kernel and JVM lifecycle events: OOM kills, crashes, restarts.
    pub events: crate::events::EventsConfig,
    /// Requests from access logs: Tomcat's found with no configuration, histogram buckets.
    pub access: crate::access::AccessConfig,
    /// Access logs named by hand (nginx, httpd, WebLogic, JSON...), each tied to an app.
    pub access_logs: Vec<crate::access::AccessLogConfig>,
    /// The local history of every figure (`wasp history`, `GET /api/v1/history`).
    pub history: crate::history::HistoryConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// How often to collect.
    pub interval: Interval,
    /// The host name put on every sample; default: the kernel's host name.
    pub hostname: Option<String>,
    /// Labels put on every sample (env, role, cluster...).
    pub labels: BTreeMap<String, String>,
    /// Where wasp keeps its state: the JSON-lines output, spools, incident bundles.
    pub data_dir: PathBuf,
    /// The procfs root, as node_exporter's --path.procfs.
    pub proc_root: PathBuf,
    /// The sysfs root, as node_exporter's --path.sysfs.
    pub sys_root: PathBuf,
    /// The agent's own CPU budget in percent of one core. Above it, the per-process scan backs off (every
    /// 2nd, 4th, 8th collection); below half of it, it comes back.
    pub cpu_budget_percent: f64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: Interval::secs(5),
            hostname: None,
            labels: BTreeMap::new(),
            data_dir: PathBuf::from("/var/lib/wasp"),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            cpu_budget_percent: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Serve /metrics and /healthz.
    pub enabled: bool,
    /// Address and port; loopback by default so nothing is exposed unless asked for.
    pub listen: SocketAddr,
    /// A file holding a bearer token that every request must carry (`Authorization: Bearer ...`).
    /// Set it when `listen` is not loopback.
    pub bearer_token_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9780)),
            bearer_token_file: None,
        }
    }
}

/// A configuration error that names the place: file, line, column, and what is expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the error has no position (the file could not be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

impl Config {
    /// Parses config text. `path` is only used to name the place in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        validate::validate(&cfg, text, path)?;
        Ok(cfg)
    }

    /// Reads and parses a file. A file that others than its owner and root may write is refused: the
    /// configuration names scripts that the agent runs as root.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::parse(&read_text(path)?, path)
    }

    /// The file named on the command line, else the packaged file if it exists, else the embedded defaults.
    pub fn load_default_or(path: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        match Config::path_or_default(path) {
            Some(p) => Config::load(&p).map(|c| (c, Some(p))),
            None => Ok((Config::default(), None)),
        }
    }

    /// The file named, else the packaged file if it exists; None: the embedded defaults.
    pub fn path_or_default(path: Option<&Path>) -> Option<PathBuf> {
        match path {
            Some(p) => Some(p.to_path_buf()),
            None if Path::new(DEFAULT_PATH).exists() => Some(PathBuf::from(DEFAULT_PATH)),
            None => None,
        }
    }

    /// The sections the triggers read.
    pub fn triggers(&self) -> crate::trigger::Sections<'_> {
        crate::trigger::Sections {
            rules: &self.rules,
            schedules: &self.schedules,
            logs: &self.logs,
            checks: &self.checks,
        }
    }

    /// The host name to put on samples.
    pub fn hostname(&self) -> String {
        self.agent.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

/// A configuration file's text, refused unless it and its directory belong to root or the agent's uid and
/// nobody else may write them (checked on the descriptor that is read: the configuration names programs that
/// the agent runs as root).
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let whole = |message: String| ConfigError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
    };
    let bytes = crate::util::safe_open::read_protected(path, "the configuration file", 4 << 20)
        .map_err(|e| whole(format!("cannot read the configuration file: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| whole("cannot read the configuration file: it is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_is_the_default_agent() {
        let c = parse("").unwrap();
        assert_eq!(c.agent.interval, Interval::secs(5));
        assert!(c.server.listen.ip().is_loopback());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = parse("[agent]\ninterval = \"5s\"\nintervall = \"3s\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        assert!(e.to_string().starts_with("test.toml:3:1: "));
    }

    #[test]
    fn zero_interval_is_rejected_at_its_value() {
        let e = parse("[agent]\ninterval = \"0s\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("positive duration"), "{e}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let e = parse("[agent]\ninterval = 5\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("string"), "{e}");
    }

    #[test]
    fn port_out_of_range_is_rejected() {
        let e = parse("[server]\nlisten = \"127.0.0.1:70000\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[server]\nlisten = \"127.0.0.1:0\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1), "{e}");
    }

    #[test]
    fn bad_label_name_is_rejected() {
        let e = parse("[agent]\nlabels = { \"bad-name\" = \"x\" }\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn sink_errors_name_their_line() {
        let e = parse("[sinks.prom]\ntype = \"prometheus_remote_write\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("needs a url"), "{e}");
        let e = parse("[sinks.p]\ntype = \"otlp_http\"\nurl = \"ftp://x\"\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse("[sinks.p]\ntype = \"http_json\"\nurl = \"http://x\"\n[sinks.p.auth]\nusername = \"u\"\ntoken_file = \"/t\"\n").unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        let e = parse("[sinks.p]\ntype = \"kafka\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[sinks.p]\ntype = \"file\"\nbatch = { max_delay = \"0s\" }\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(parse("[sinks.p]\ntype = \"file\"\n[sinks.q]\ntype = \"influx_line\"\nurl = \"http://x/write?db=w\"\n").is_ok());
    }

    #[test]
    fn sink_errors_point_at_the_key_from_the_parser() {
        // A key in an inline table.
        let e = parse(
            "[sinks.p]\ntype = \"http_json\"\nurl = \"http://x\"\ntls = { cert_file = \"/c\" }\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (4, 9), "{e}");
        // A bad sink name: at the name in its table header.
        let e = parse("[sinks.bad-name]\ntype = \"file\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 8), "{e}");
        // A key left at its default: at the deepest key the file has.
        let e = parse("[sinks.p]\ntype = \"http_json\"\nurl = \"http://x\"\n[sinks.p.retry]\nmax_backoff = \"10ms\"\n")
            .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("initial_backoff"), "{e}");
    }

    #[test]
    fn world_writable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.toml");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = Config::load(&p).unwrap_err();
        assert!(e.message.contains("writable by every user"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        Config::load(&p).unwrap();
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("가나\nx", 7), (2, 1));
    }
}

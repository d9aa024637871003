//! The command line: parses arguments and calls one function per subcommand.

use crate::config::{Config, Interval};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "wasp",
    version,
    about = "wasp: host and JVM collector for application-server hosts",
    long_about = "wasp gives the figures of vmstat, iostat -x, sar, free, top and ss, reads every HotSpot JVM's \
                  counters from hsperfdata, and takes thread dumps through the attach protocol, with nothing loaded \
                  into the JVM."
)]
pub struct Cli {
    /// Configuration file (default: /etc/wasp/wasp.toml if it exists, else the embedded defaults).
    #[arg(long, short = 'c', global = true, env = "WASP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground: collect every interval, serve /metrics and /healthz, write and ship.
    Run,
    /// Take one reading (two, an interval apart, for rates) and print it.
    Once(OnceArgs),
    /// Check a configuration file and say exactly what is wrong, with line and column.
    CheckConfig {
        /// The file to check.
        path: PathBuf,
    },
    /// Print the version.
    Version,
    /// Thread dumps, class histograms and diagnostic commands through the HotSpot attach protocol.
    #[command(subcommand)]
    Dump(crate::jvm::dump_cli::DumpCmd),
    /// Analyse thread-dump files from anywhere (jstack, jcmd, wasp): verdict first, then the evidence.
    Analyze(crate::jvm::dump_cli::AnalyzeArgs),
    /// Validate the configuration, then tell the running agent to apply it (as SIGHUP and `systemctl reload`).
    Reload,
    /// JVMs on this host: list them, print jstat-like figures.
    #[command(subcommand)]
    Jvm(crate::jvm::cli::JvmCmd),
    /// Ask the running agent for a thread dump, a class histogram or an incident bundle now.
    Trigger(crate::control::cli::TriggerArgs),
    /// What the running agent watches: JVMs, last collection, snapshots and recent triggers, queues.
    Status(crate::control::cli::StatusArgs),
    /// The incident bundles and snapshots under the data dir; `show ID` prints one, its report first.
    Incidents(crate::control::cli::IncidentsArgs),
}

#[derive(Debug, clap::Args)]
pub struct OnceArgs {
    /// Time between the two readings rates are computed from.
    #[arg(long, short = 'i', default_value = "1s", value_parser = parse_interval)]
    pub interval: Interval,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Prom,
}

fn parse_interval(s: &str) -> Result<Interval, String> {
    let d = crate::config::parse_duration(s)?;
    if d.is_zero() {
        return Err("the interval must be positive".into());
    }
    Ok(Interval(d))
}

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let result = match crate::jvm::dump_cli::quick_threads(&args) {
        Some(cmd) => {
            let path = std::env::var_os("WASP_CONFIG").map(PathBuf::from);
            crate::jvm::dump_cli::load_config(path.as_deref())
                .map_err(anyhow::Error::from)
                .and_then(|cfg| crate::jvm::dump_cli::run_dump(cmd, &cfg))
        }
        None => run(Cli::parse()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(Config::load_default_or(path)?.0)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("wasp {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::CheckConfig { path } => {
            let cfg = Config::load(&path)?;
            println!(
                "{}: OK (interval {}, {} process group(s), {} cgroup(s), {} JVM app rule(s))",
                path.display(),
                cfg.agent.interval,
                cfg.host.process.groups.len(),
                cfg.host.cgroup.paths.len(),
                cfg.jvm.apps.len()
            );
            Ok(())
        }
        Command::Run => {
            let (cfg, path) = Config::load_default_or(cli.config.as_deref())?;
            let _guard = crate::logging::init(cfg.log.level);
            crate::daemon::run(cfg, path)
        }
        Command::Reload => reload(cli.config.as_deref()),
        Command::Dump(cmd) => {
            let cfg = crate::jvm::dump_cli::load_config(cli.config.as_deref())?;
            crate::jvm::dump_cli::run_dump(cmd, &cfg)
        }
        Command::Analyze(args) => crate::jvm::dump_cli::run_analyze(args),
        Command::Once(args) => {
            let cfg = load(cli.config.as_deref())?;
            let _guard = crate::logging::init(crate::config::LogLevel::Warn);
            once(&cfg, &args)
        }
        Command::Jvm(cmd) => crate::jvm::cli::run(cmd, &load(cli.config.as_deref())?),
        Command::Trigger(a) => crate::control::cli::trigger(a, &load(cli.config.as_deref())?),
        Command::Status(a) => crate::control::cli::status(a, &load(cli.config.as_deref())?),
        Command::Incidents(a) => {
            crate::control::cli::incidents_cmd(a, &load(cli.config.as_deref())?)
        }
    }
}

fn reload(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    // Validate here first, so the operator sees the error on the terminal and not only in the journal.
    let (cfg, used) = Config::load_default_or(path)?;
    let pid_path = crate::paths::pid_file(&cfg);
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .map_err(|e| anyhow::anyhow!("no running agent found ({}: {e})", pid_path.display()))?
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{} does not hold a pid", pid_path.display()))?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .map_err(|e| anyhow::anyhow!("cannot signal the agent (pid {pid}): {e}"))?;
    println!(
        "{}: valid; agent {pid} told to reload",
        used.map(|p| p.display().to_string())
            .unwrap_or_else(|| "embedded defaults".into())
    );
    Ok(())
}

fn once(cfg: &Config, args: &OnceArgs) -> anyhow::Result<()> {
    let mut collector = crate::collect::Collector::new(cfg);
    let _ = collector.collect();
    std::thread::sleep(args.interval.0);
    let c = collector.collect();
    let text = match args.format {
        Format::Table => crate::present::table::render(&c),
        Format::Json => crate::present::json::to_string_pretty(&c) + "\n",
        Format::Prom => {
            let m = crate::present::metrics::from_collection(&c);
            let mut s = String::new();
            crate::present::prom::render(&m, &crate::daemon::common_labels(cfg), &mut s);
            s
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`wasp once | head`) is not an error worth a message.
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

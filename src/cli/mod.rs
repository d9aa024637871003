//! The command line: parses arguments and calls one function per subcommand. One file per command family:
//! `run` (run, reload), `once`, `check_config`, `jvm`, `dump`, `analyze`, `agent` (trigger, status,
//! incidents), `events`; `output` makes a closed stdout (`wasp analyze F | head -1`) end quietly everywhere.

#[macro_use]
mod output;
mod agent;
mod analyze;
mod check_config;
mod dump;
mod events;
mod history;
mod jvm;
mod once;
mod run;

use crate::config::Config;
use clap::{Parser, Subcommand};
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
pub(crate) struct Cli {
    /// Configuration file (default: /etc/wasp/wasp.toml if it exists, else the embedded defaults).
    #[arg(long, short = 'c', global = true, env = "WASP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the agent in the foreground: collect every interval, serve /metrics and /healthz, write and ship.
    Run,
    /// Take one reading (two, an interval apart, for rates) and print it.
    Once(once::OnceArgs),
    /// Check a configuration file and say exactly what is wrong, with line and column.
    CheckConfig {
        /// The file to check.
        path: PathBuf,
    },
    /// Print the version.
    Version,
    /// Thread dumps, class histograms and diagnostic commands through the HotSpot attach protocol.
    #[command(subcommand)]
    Dump(dump::DumpCmd),
    /// Analyse thread-dump files from anywhere (jstack, jcmd, wasp): verdict first, then the evidence.
    Analyze(analyze::AnalyzeArgs),
    /// Validate the configuration, then tell the running agent to apply it (as SIGHUP and `systemctl reload`).
    Reload,
    /// JVMs on this host: list them, print jstat-like figures.
    #[command(subcommand)]
    Jvm(jvm::JvmCmd),
    /// Ask the running agent for a thread dump, a class histogram or an incident bundle now.
    Trigger(agent::TriggerArgs),
    /// What the running agent watches: JVMs, last collection, snapshots and recent triggers, queues.
    Status(agent::StatusArgs),
    /// The incident bundles and snapshots under the data dir; `show ID` prints one, its report first.
    Incidents(agent::IncidentsArgs),
    /// The kernel and JVM events the agent recorded: OOM kills, crashes, OutOfMemoryErrors, restarts.
    Events(events::EventsArgs),
    /// What the host looked like then, from the local history: the tables of `wasp once`, one row per interval.
    History(history::HistoryArgs),
}

pub fn main() -> ExitCode {
    // One malloc arena for all threads: they allocate little and seldom at the same moment, and each glibc
    // arena per thread keeps its own freed pages resident.
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread exists; mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let result = match dump::quick_threads(&args) {
        Some(cmd) => {
            let path = std::env::var_os("WASP_CONFIG").map(PathBuf::from);
            dump::load_config(path.as_deref())
                .map_err(anyhow::Error::from)
                .and_then(|cfg| dump::run_dump(cmd, &cfg))
        }
        None => run(Cli::parse()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `wasp ... | head`: the reader has what it wanted.
        Err(e) if output::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(Config::load_default_or(path)?.0)
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            outln!("wasp {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::CheckConfig { path } => check_config::check_config(&path),
        Command::Run => run::run(cli.config.as_deref()),
        Command::Reload => run::reload(cli.config.as_deref()),
        Command::Dump(cmd) => {
            let cfg = dump::load_config(cli.config.as_deref())?;
            dump::run_dump(cmd, &cfg)
        }
        Command::Analyze(args) => analyze::run_analyze(args),
        Command::Once(args) => {
            let cfg = load(cli.config.as_deref())?;
            let _guard = crate::logging::init(crate::config::LogLevel::Warn);
            once::once(&cfg, &args)
        }
        Command::Jvm(cmd) => jvm::run(cmd, &load(cli.config.as_deref())?),
        Command::Trigger(a) => agent::trigger(a, &load(cli.config.as_deref())?),
        Command::Status(a) => agent::status(a, &load(cli.config.as_deref())?),
        Command::Incidents(a) => agent::incidents_cmd(a, &load(cli.config.as_deref())?),
        Command::Events(a) => events::run(a, &load(cli.config.as_deref())?),
        Command::History(a) => history::run(&a, &load(cli.config.as_deref())?),
    }
}

//! `wasp dump ...`: thread dumps, histograms, heap dumps and jcmd through the attach protocol.

use crate::config::Config;
use crate::config::units::Interval;
use crate::jvm::{analysis, attach, dump};
use clap::{Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum DumpCmd {
    /// Thread dump of a JVM (with locks), as text (the JVM's own), parsed JSON, or the analysis report.
    Threads {
        pid: u32,
        #[arg(long, short = 'f', value_enum, default_value_t = DumpFormat::Text)]
        format: DumpFormat,
        /// For the report: CPU per Java thread is sampled over this window before the dump.
        #[arg(long, default_value = "500ms")]
        cpu_window: Interval,
        #[arg(long, default_value = "10s")]
        timeout: Interval,
        /// Virtual threads too (JDK 21+): the JVM writes Thread.dump_to_file -format=json, read back; as text,
        /// that JSON as the JVM wrote it.
        #[arg(long = "virtual")]
        virtual_threads: bool,
    },
    /// Class histogram (jmap -histo), all objects or only live ones (a full GC).
    Histo {
        pid: u32,
        #[arg(long)]
        live: bool,
        #[arg(long, default_value = "30s")]
        timeout: Interval,
    },
    /// A heap dump (HPROF), written by the JVM itself to FILE (an absolute path as the JVM sees it, inside its
    /// container if it runs in one). Refused when the file system lacks the space; never taken without this
    /// explicit command.
    Heap {
        pid: u32,
        /// Where the JVM writes the dump: an absolute path, as the JVM sees it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only live objects (a full GC first): smaller, slower.
        #[arg(long)]
        live: bool,
        #[arg(long, default_value = "5m")]
        timeout: Interval,
    },
    /// Any jcmd diagnostic command: `wasp dump jcmd PID VM.flags`, `... GC.heap_info`, `... VM.uptime`.
    Jcmd {
        pid: u32,
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
        #[arg(long, default_value = "30s")]
        timeout: Interval,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DumpFormat {
    Text,
    Json,
    Report,
}

/// The configuration as `wasp dump` needs it: only [agent] proc_root, [jvm] attach_fallback and max_attach_reply matter to a
/// dump, so a file that names neither (the packaged one) is not parsed, only checked for its permissions; that
/// spares the dump the TOML parser's ~0.4 MB of RSS (docs/performance.md). A file that names either is loaded
/// and validated whole, as every other command does.
pub fn load_config(path: Option<&Path>) -> Result<Config, crate::config::ConfigError> {
    let Some(p) = Config::path_or_default(path) else {
        return Ok(Config::default());
    };
    let text = crate::config::read_text(&p)?;
    if !text.contains("proc_root")
        && !text.contains("attach_fallback")
        && !text.contains("max_attach_reply")
    {
        return Ok(Config::default());
    }
    Config::parse(&text, &p)
}

fn opts(cfg: &Config, timeout: Interval) -> attach::AttachOptions {
    attach::AttachOptions {
        timeout: timeout.0,
        proc_root: cfg.agent.proc_root.clone(),
        fallback: cfg.jvm.fallback(),
        max_reply: cfg.jvm.max_attach_reply.0 as usize,
    }
}

pub fn run_dump(cmd: DumpCmd, cfg: &Config) -> anyhow::Result<()> {
    match cmd {
        DumpCmd::Threads {
            pid,
            format,
            timeout,
            virtual_threads: true,
            ..
        } => {
            let mut f = dump::to_file::json_dump(pid, &opts(cfg, timeout))?;
            match format {
                DumpFormat::Text => copy_out(&mut f.reader())?,
                DumpFormat::Json | DumpFormat::Report => {
                    let d = dump::Reader::new(f.reader()).next().unwrap_or_default();
                    if format == DumpFormat::Json {
                        outln!("{}", serde_json::to_string_pretty(&d)?);
                    } else {
                        out!("{}", analysis::analyze(&[d], None).to_text());
                    }
                }
            }
        }
        DumpCmd::Threads {
            pid,
            format,
            cpu_window,
            timeout,
            ..
        } => {
            let cpu = if format == DumpFormat::Report {
                crate::host::pidinfo::sample_thread_cpu(&cfg.agent.proc_root, pid, cpu_window.0)
                    .ok()
            } else {
                None
            };
            // Kept whole and checked before a byte is printed: a JVM killed while it answers must never leave
            // a cut dump on stdout (attach_robust), which passing the reply on as it arrives would.
            if format == DumpFormat::Text {
                // Spooled to an unnamed file and copied once whole: the dump's size adds nothing to memory.
                return print_spooled(attach::thread_dump_spooled(pid, &opts(cfg, timeout))?);
            }
            let text = attach::thread_dump(pid, &opts(cfg, timeout))?;
            if format == DumpFormat::Json {
                outln!("{}", serde_json::to_string_pretty(&dump::parse(&text))?);
            } else {
                // A Tomcat's server.xml says whether a busy request pool is at its maximum.
                let cmdline = procfs::process::Process::new_with_root(
                    cfg.agent.proc_root.join(pid.to_string()),
                )
                .and_then(|p| p.cmdline())
                .unwrap_or_default();
                let limits = crate::jvm::tomcat::pool_limits(&cfg.agent.proc_root, pid, &cmdline);
                out!(
                    "{}",
                    analysis::analyze_with(&[dump::parse(&text)], cpu.as_ref(), &limits).to_text()
                )
            }
        }
        DumpCmd::Histo { pid, live, timeout } => {
            print_spooled(attach::class_histogram_spooled(
                pid,
                live,
                &opts(cfg, timeout),
            )?)?;
        }
        DumpCmd::Heap {
            pid,
            out,
            live,
            timeout,
        } => {
            let h = crate::jvm::heap_dump::heap_dump(pid, &out, live, &opts(cfg, timeout))?;
            outln!(
                "{}: {} bytes (estimated beforehand: {}); read it as {}",
                h.path.display(),
                h.bytes,
                h.estimated_bytes,
                h.host_path.display()
            );
        }
        DumpCmd::Jcmd {
            pid,
            command,
            timeout,
        } => out!(
            "{}",
            attach::jcmd(pid, &command.join(" "), &opts(cfg, timeout))?
        ),
    }
    Ok(())
}

fn print_spooled(reply: attach::Spooled) -> anyhow::Result<()> {
    match reply {
        attach::Spooled::File(mut f) => copy_out(&mut f),
        attach::Spooled::Text(t) => {
            out!("{t}");
            Ok(())
        }
    }
}

/// To stdout (the kernel copies between the descriptors where it can); a closed stdout is the reader's choice.
fn copy_out(from: &mut impl std::io::Read) -> anyhow::Result<()> {
    match std::io::copy(from, &mut std::io::stdout().lock()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(super::output::StdoutClosed.into())
        }
        r => r.map(|_| ()).map_err(Into::into),
    }
}

/// `wasp dump threads PID [--timeout D]`, the plain dump an operator runs on a host in trouble, read without
/// clap: building clap's command tree is ~0.5 MB of the command's peak RSS (docs/performance.md). Only these
/// exact forms; anything else (other options, --help, mistakes) is left to clap, which explains itself.
pub fn quick_threads(args: &[std::ffi::OsString]) -> Option<DumpCmd> {
    let a: Vec<&str> = args.iter().map(|s| s.to_str()).collect::<Option<_>>()?;
    let (pid, rest) = match a.as_slice() {
        ["dump", "threads", pid, rest @ ..] => (pid.parse().ok()?, rest),
        _ => return None,
    };
    let timeout = match rest {
        [] => "10s",
        ["--timeout", t] => t,
        [t] => t.strip_prefix("--timeout=")?,
        _ => return None,
    };
    Some(DumpCmd::Threads {
        pid,
        format: DumpFormat::Text,
        cpu_window: Interval(std::time::Duration::from_millis(500)),
        timeout: timeout.parse::<Interval>().ok()?,
        virtual_threads: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn quick(s: &str) -> Option<DumpCmd> {
        let v: Vec<std::ffi::OsString> = s.split_whitespace().map(Into::into).collect();
        quick_threads(&v)
    }

    /// What a dump takes from a configuration file is what the whole configuration says.
    #[test]
    fn dump_config_agrees_with_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        for text in [
            "",
            "[agent]\n# interval = \"5s\"\n[server]\nenabled = false\n",
            "[agent]\nproc_root = \"/host/proc\"\n",
            "[jvm]\nattach_fallback = \"/opt/jdk/bin/jcmd\"\n",
        ] {
            std::fs::write(&p, text).unwrap();
            let ours = load_config(Some(&p)).unwrap();
            let whole = Config::load(&p).unwrap();
            assert_eq!(ours.agent.proc_root, whole.agent.proc_root, "{text}");
            assert_eq!(ours.jvm.fallback(), whole.jvm.fallback(), "{text}");
        }
        // Named keys: the file is validated whole, errors included.
        std::fs::write(&p, "[jvm]\nattach_fallback = 3\n").unwrap();
        assert!(load_config(Some(&p)).is_err());
    }

    /// The quick path reads what clap reads, defaults included.
    #[test]
    fn quick_path_agrees_with_clap() {
        for s in [
            "dump threads 42",
            "dump threads 42 --timeout 3s",
            "dump threads 42 --timeout=250ms",
        ] {
            let ours = format!("{:?}", quick(s).unwrap());
            let cli =
                crate::cli::Cli::parse_from(std::iter::once("wasp").chain(s.split_whitespace()));
            let crate::cli::Command::Dump(theirs) = cli.command else {
                panic!("{s}")
            };
            assert_eq!(ours, format!("{theirs:?}"), "{s}");
        }
        for s in [
            "dump threads",
            "dump threads x",
            "dump threads 42 --format json",
            "dump threads 42 --timeout 0s",
            "dump threads 42 --help",
            "dump histo 42",
            "-c f dump threads 42",
        ] {
            assert!(quick(s).is_none(), "{s}");
        }
    }
}

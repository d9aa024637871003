//! `wasp run` (the agent in the foreground) and `wasp reload` (tell the running agent to re-read its file).

use crate::config::Config;
use std::path::{Path, PathBuf};

/// Loads the file, starts logging at its level, and runs the agent until SIGTERM/SIGINT.
pub(crate) fn run(path: Option<&Path>) -> anyhow::Result<()> {
    let (cfg, path): (Config, Option<PathBuf>) = Config::load_default_or(path)?;
    // State (spool, bundles, wasp.jsonl with full command lines) is the agent's alone, whatever umask it was
    // started with (the unit sets UMask=0077; a shell usually 0022). Before any thread exists.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let _guard = crate::logging::init(cfg.log.level);
    crate::daemon::run(cfg, path)
}

pub(crate) fn reload(path: Option<&Path>) -> anyhow::Result<()> {
    // Validate here first, so the operator sees the error on the terminal and not only in the journal.
    let (cfg, used) = Config::load_default_or(path)?;
    let pid_path = crate::paths::pid_file(&cfg);
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .map_err(|e| anyhow::anyhow!("no running agent found ({}: {e})", pid_path.display()))?
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{} does not hold a pid", pid_path.display()))?;
    // A stale pid file may name any process by now: only a wasp is sent SIGHUP.
    if !is_wasp(pid) {
        anyhow::bail!(
            "{} names pid {pid}, which is not a running wasp (a stale pid file?): not signalled",
            pid_path.display()
        );
    }
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

/// The process runs a wasp binary: its comm, or its executable's name (an upgraded binary shows " (deleted)").
fn is_wasp(pid: i32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = std::fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    let exe = std::fs::read_link(proc_dir.join("exe")).unwrap_or_default();
    let exe_name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    pid > 0 && (comm.trim_end() == "wasp" || exe_name.starts_with("wasp"))
}

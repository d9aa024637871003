//! The configured fallback ([jvm] attach_fallback): a JDK's own `jcmd`, for JVMs wasp cannot attach to itself
//! (OpenJ9, no hsperfdata, a protocol wasp does not speak). Run as the JVM's user (as the JDK's own client
//! insists), with the same deadline, its output bounded; killed when late. Off by default: jcmd is a JVM of its
//! own (~45 MB, ~0.3 s), and it signals a JVM whose attach state it cannot read.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// More than any thread dump or histogram we have seen (10,000 threads: ~10 MB).
const MAX_OUTPUT: u64 = 64 << 20;

/// The tool as configured: a path, or a name looked up in PATH.
pub fn resolve(tool: &Path) -> Result<PathBuf, String> {
    let ok = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false)
    };
    if tool.components().count() > 1 {
        return if ok(tool) {
            Ok(tool.to_path_buf())
        } else {
            Err("not found or not executable".into())
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| ok(p))
        .ok_or_else(|| "not found in PATH".into())
}

/// `jcmd PID <command>` as the JVM's user; the JVM's output without jcmd's "PID:" line.
/// `timeout` and `proc_root` as the attach options give them.
pub fn run(
    pid: u32,
    tool: &Path,
    command: &str,
    timeout: std::time::Duration,
    proc_root: &Path,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let exe = resolve(tool)?;
    let status = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status"))
        .map_err(|e| format!("pid {pid}: {e}"))?;
    // The JDK's client sends SIGQUIT when the socket is absent: never to a JVM that does not catch it.
    if !super::proc_state::catches_sigquit(&status) {
        return Err("the JVM does not catch SIGQUIT (-Xrs?): not signalled".into());
    }
    let id = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().nth(1)?.parse::<u32>().ok())
            .ok_or_else(|| format!("pid {pid}: no {key} line"))
    };
    let (uid, gid) = (id("Uid:")?, id("Gid:")?);
    let mut cmd = Command::new(&exe);
    // Its own hsperfdata would be one more file in the user's /tmp: the tool runs without.
    cmd.arg("-J-XX:-UsePerfData")
        .arg(pid.to_string())
        .args(command.split_whitespace())
        .current_dir("/")
        // Nothing of the agent's environment (it may hold secrets given through password_env/token_env).
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if uid != nix::unistd::geteuid().as_raw() || gid != nix::unistd::getegid().as_raw() {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_OUTPUT + 1).read_to_end(&mut out);
            }
            out
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {:?}; killed", timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if out.len() as u64 > MAX_OUTPUT {
        return Err(format!(
            "output larger than {} MiB: discarded",
            MAX_OUTPUT >> 20
        ));
    }
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        let why: String = String::from_utf8_lossy(&err)
            .lines()
            .chain(text.lines())
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(format!("{status}: {why}"));
    }
    let prefix = format!("{pid}:");
    Ok(match text.split_once('\n') {
        Some((first, rest)) if first.trim() == prefix => rest.to_string(),
        _ => text.into_owned(),
    })
}

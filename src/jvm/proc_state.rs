//! What a JVM process is doing, from /proc: whether it catches SIGQUIT, whether it is gone or exiting, whether
//! its attach listener runs.

use super::discover;
use std::path::Path;

/// Signals a process catches: SIGQUIT (bit 2) must be caught and not ignored.
pub(crate) fn catches_sigquit(status: &str) -> bool {
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    mask("SigCgt:") & 0x4 != 0 && mask("SigIgn:") & 0x4 == 0
}

/// The process is gone, exiting, a zombie, or its pid was reused since we looked. PF_EXITING matters: a
/// killed JVM's sockets close before it becomes a zombie, so at our EOF it may still look alive otherwise.
pub(crate) fn gone(proc_dir: &Path, start_ticks: u64) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return true;
    };
    let Some((_, f)) = discover::stat_fields(&stat) else {
        return true;
    };
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    // After the comm: state is field 3, flags 9, starttime 22 (1-based in proc(5)).
    matches!(f.first(), Some(&("Z" | "X" | "x")))
        || num(6).is_none_or(|flags| flags & PF_EXITING != 0)
        || num(19) != Some(start_ticks)
}

/// The JVM has its "Attach Listener" thread (the name fits the 15 bytes of a comm): the listener is running.
pub(crate) fn listener_runs(proc_dir: &Path) -> bool {
    std::fs::read_dir(proc_dir.join("task"))
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim_end() == "Attach Listener")
            })
        })
        .unwrap_or(true)
}

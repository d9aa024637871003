//! One process's `process_*` figures (client_java's ProcessMetrics) from /proc/<pid>: CPU seconds, start time,
//! resident and virtual size, open and maximum file descriptors.

use crate::model::jvm::ProcessStats;
use procfs::process::Process;
use std::path::Path;

/// The figures of `pid` under `proc_root`; `boot` is the boot time in seconds, `hz` the clock ticks per second.
/// None when the process is gone or its stat unreadable; fds stay None without the right to list them.
pub fn read(proc_root: &Path, pid: u32, boot: u64, hz: u64) -> Option<ProcessStats> {
    let dir = proc_root.join(pid.to_string());
    let p = Process::new_with_root(dir.clone()).ok()?;
    let st = parse_stat(&std::fs::read(dir.join("stat")).ok()?)?;
    let hz = hz.max(1) as f64;
    Some(ProcessStats {
        cpu_seconds: st.utime.saturating_add(st.stime) as f64 / hz,
        start_time_seconds: boot as f64 + st.starttime as f64 / hz,
        resident_bytes: st.rss.saturating_mul(procfs::page_size()),
        virtual_bytes: st.vsize,
        open_fds: p.fd_count().ok().map(|n| n as u64),
        // Java's getMaxFileDescriptorCount is the soft limit; unlimited has no number to give.
        max_fds: max_open_files(&proc_root.join(pid.to_string())),
    })
}

/// /proc/<pid>/stat through procfs, whose parser slices around the parentheses unchecked (a panic on a line
/// not of the kernel's shape: `)` before `(`, nothing after it, a multi-byte character beside them).
pub fn parse_stat(b: &[u8]) -> Option<procfs::process::Stat> {
    let line = String::from_utf8_lossy(b);
    let t = line.trim().as_bytes();
    let open = t.iter().position(|&c| c == b'(')?;
    let close = t.iter().rposition(|&c| c == b')')?;
    let shaped = open > 0
        && t[open - 1].is_ascii()
        && close > open
        && t.get(close + 1).is_some_and(u8::is_ascii);
    if !shaped {
        return None;
    }
    <procfs::process::Stat as procfs::FromRead>::from_read(b).ok()
}

/// The soft "Max open files" of /proc/<pid>/limits; None when unlimited or unreadable. Our own few lines:
/// procfs's whole-table parser overflows (a panic in debug builds) on a line with fewer fields than it expects.
pub fn max_open_files(proc_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(proc_dir.join("limits")).ok()?;
    parse_max_open_files(&text)
}

pub fn parse_max_open_files(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_open_files_soft_limit_or_none() {
        let head = "Limit                     Soft Limit           Hard Limit           Units\n";
        let t = format!(
            "{head}Max open files            1024                 524288               files\n"
        );
        assert_eq!(parse_max_open_files(&t), Some(1024));
        let t = format!(
            "{head}Max open files            unlimited            unlimited            files\n"
        );
        assert_eq!(parse_max_open_files(&t), None);
        // Fields missing: procfs's parser overflowed here.
        assert_eq!(
            parse_max_open_files("Max open files\nMax nice priority\n"),
            None
        );
    }

    #[test]
    fn reads_this_process_as_the_kernel_counts_it() {
        let boot = procfs::boot_time_secs().unwrap();
        let hz = procfs::ticks_per_second();
        let s = read(Path::new("/proc"), std::process::id(), boot, hz).expect("own process");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(s.start_time_seconds > boot as f64 && s.start_time_seconds <= now + 1.0);
        assert!(s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_size_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap();
        // VmSize may move between the two reads (threads of the test harness): within 64 MiB.
        assert!((s.virtual_bytes as i64 / 1024 - vm_size_kb as i64).abs() < 65536);
        assert!(s.open_fds.unwrap() >= 3);
        let nofile = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft = nofile
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap();
        assert_eq!(
            s.max_fds
                .map(|v| v.to_string())
                .unwrap_or("unlimited".into()),
            soft
        );
        assert!(read(Path::new("/nonexistent"), 1, boot, hz).is_none());
    }
}

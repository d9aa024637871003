//! What systemd knows of a service's main process after it exited. A JVM that is a system service's main
//! process is PID 1's child: PID 1 reaps it and keeps its status (`ExecMainCode`, `ExecMainStatus`) for
//! `systemctl show`. Nobody else can know a process's exit status once it is reaped, so for any other JVM the
//! status stays unknown ("gone").
//!
//! The service is named by the JVM's cgroup (`/system.slice/tomcat.service`), read while it was alive. Only the
//! system manager's services count: a user's `systemd --user` units (under user.slice) and container scopes
//! are not PID 1's children. `systemctl` gets the name as one argument after `--`, never through a shell, and
//! is killed after a short deadline: the collection loop calls this, once per exited service JVM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a service's main process ended, as systemd recorded it (`ExecMainCode`: CLD_EXITED, CLD_KILLED,
/// CLD_DUMPED; `ExecMainStatus`: the exit status, or the signal number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Killed(i32),
    /// Killed by a signal, with a core dump.
    Dumped(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainExit {
    /// The main process this status is about (a restarted service has a new one: the old status is gone).
    pub pid: u32,
    pub ended: Ended,
}

/// The system service a process belongs to, from the text of `/proc/<pid>/cgroup` (v2 `0::/system.slice/x.service`
/// or v1 `N:name=systemd:/system.slice/x.service`); None for anything else.
pub fn service_of(cgroup: &str) -> Option<String> {
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| {
            cgroup
                .lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    let mut parts = path.trim().trim_start_matches('/').split('/');
    let first = parts.next()?;
    // A service directly in the root slice, or in system.slice or a slice below it (system-tomcat.slice).
    let unit = if first.ends_with(".service") {
        first
    } else if first == "system.slice" {
        let next = parts.next()?;
        if next.ends_with(".service") {
            next
        } else if next.starts_with("system-") && next.ends_with(".slice") {
            parts.next().filter(|u| u.ends_with(".service"))?
        } else {
            return None;
        }
    } else {
        return None;
    };
    valid_unit(unit).then(|| unit.to_string())
}

/// systemd's unit name characters (`[A-Za-z0-9:_.\\@-]`), at most 255 bytes, not starting with '-'.
fn valid_unit(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 255
        && !u.starts_with('-')
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.\\@-".contains(&b))
}

/// Parses `systemctl show -p ExecMainPID,ExecMainCode,ExecMainStatus` output; None while the main process has
/// not exited (`ExecMainCode=0`) or when the output is not that. Never panics.
pub fn parse_show(text: &str) -> Option<MainExit> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::trim)
    };
    let pid: u32 = get("ExecMainPID")?.parse().ok()?;
    let status: i32 = get("ExecMainStatus")?.parse().ok()?;
    let ended = match get("ExecMainCode")? {
        "1" => Ended::Exited(status),
        "2" => Ended::Killed(status),
        "3" => Ended::Dumped(status),
        _ => return None,
    };
    (pid > 0).then_some(MainExit { pid, ended })
}

/// Asks systemd how the main process of `unit` ended; None when systemctl is missing, slow, refused, or its
/// status is about another process than `pid` (the service was restarted already).
pub fn main_exit(unit: &str, pid: u32, deadline: Duration) -> Option<MainExit> {
    if !valid_unit(unit) {
        return None;
    }
    let mut child = Command::new("systemctl")
        .args([
            "show",
            "-p",
            "ExecMainPID,ExecMainCode,ExecMainStatus",
            "--",
            unit,
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let end = Instant::now() + deadline;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    parse_show(&out).filter(|m| m.pid == pid)
}

/// A signal's name (SIGKILL for 9) as `kill -l` gives it, or its number.
pub fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map_or_else(|_| format!("signal {n}"), |s| s.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn services_from_cgroup_files() {
        assert_eq!(
            service_of("0::/system.slice/tomcat10.service\n").as_deref(),
            Some("tomcat10.service")
        );
        // cgroup v1 (RHEL 7): the name=systemd hierarchy names the unit.
        let v1 =
            "11:memory:/system.slice/jboss.service\n1:name=systemd:/system.slice/jboss.service\n";
        assert_eq!(service_of(v1).as_deref(), Some("jboss.service"));
        assert_eq!(
            service_of("0::/system.slice/system-tomcat.slice/tomcat@shop.service\n").as_deref(),
            Some("tomcat@shop.service")
        );
        assert_eq!(
            service_of("0::/wasp-test-x.service\n").as_deref(),
            Some("wasp-test-x.service")
        );
        for not in [
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/shop.service\n",
            "0::/system.slice/docker-0123abcd.scope\n",
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "0::/\n",
            "0::/system.slice/a;rm -rf.service\n",
            "0::/system.slice/-x.service\n",
            "",
        ] {
            assert_eq!(service_of(not), None, "{not:?}");
        }
    }

    /// `systemctl show` prints the properties asked, one `Key=value` a line, in systemd's own order.
    #[test]
    fn show_output_parses() {
        let exited = "ExecMainPID=4242\nExecMainCode=1\nExecMainStatus=3\n";
        assert_eq!(
            parse_show(exited),
            Some(MainExit {
                pid: 4242,
                ended: Ended::Exited(3)
            })
        );
        let killed = "ExecMainPID=17\nExecMainCode=2\nExecMainStatus=9\n";
        assert_eq!(parse_show(killed).unwrap().ended, Ended::Killed(9));
        let dumped = "ExecMainStatus=6\nExecMainCode=3\nExecMainPID=17\n";
        assert_eq!(parse_show(dumped).unwrap().ended, Ended::Dumped(6));
        // Still running, never started, or not that output at all.
        assert_eq!(
            parse_show("ExecMainPID=17\nExecMainCode=0\nExecMainStatus=0\n"),
            None
        );
        assert_eq!(
            parse_show("ExecMainPID=0\nExecMainCode=1\nExecMainStatus=0\n"),
            None
        );
        assert_eq!(
            parse_show("Failed to connect to bus: No such file or directory\n"),
            None
        );
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(99), "signal 99");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(t in "((ExecMain(PID|Code|Status)|0::|1:name=systemd:|/system\\.slice/|[a-z.@-]{0,12}|=|[0-9-]{0,12})\n?){0,12}") {
            let _ = parse_show(&t);
            if let Some(u) = service_of(&t) {
                prop_assert!(valid_unit(&u));
            }
        }
    }
}

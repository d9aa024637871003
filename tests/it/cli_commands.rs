//! The command line's manners: read-only commands (`wasp status`, `wasp incidents`, `wasp reload` with no
//! agent) create nothing, and output to a closed pipe (`wasp analyze F | head -1`) ends quietly, without a
//! panic message.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `wasp ARGS` with its stdout a pipe whose reading end is already closed, as `| head -1` leaves it once
/// head has its line: every write meets EPIPE.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let _floor = crate::common::beside();
    let dumps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps");
    let dump = dumps.join("jdk17-jstack-l.txt");
    let histo = dumps.join("jdk17-jmap-histo.txt");
    let (dump, histo) = (dump.to_str().unwrap(), histo.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!("[agent]\ndata_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = cfg.to_str().unwrap();
    for args in [
        vec!["analyze", dump],
        vec!["analyze", "--format", "json", dump, dump],
        vec!["analyze", "--diff", histo, histo],
        vec!["version"],
        vec!["check-config", cfg],
        vec!["incidents", "--config", cfg],
        vec!["jvm", "list", "--config", cfg],
    ] {
        let o = into_closed_pipe(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        use std::os::unix::process::ExitStatusExt;
        // 0, or killed by SIGPIPE (141 in a shell); never 101 (a panic).
        assert!(
            o.status.code() == Some(0) || o.status.signal() == Some(nix::libc::SIGPIPE),
            "wasp {args:?}: {:?}: {err}",
            o.status
        );
        assert!(!err.contains("panicked"), "wasp {args:?}: {err}");
    }
}

#[test]
fn read_only_commands_create_nothing_for_an_unprivileged_user() {
    let _floor = crate::common::beside();
    if !require("setpriv") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "this test runs as root (scripts/test.sh)"
        );
        eprintln!("skipping: needs root to run the commands as nobody");
        return;
    }
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    // A home nobody may write: the per-user fallback would land there if anything were created.
    let home = top.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A configured data dir that does not exist and that nobody cannot create.
    let cfg = home.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ndata_dir = \"{}\"\n",
            top.path().join("absent/data").display()
        ),
    )
    .unwrap();
    std::os::unix::fs::chown(&cfg, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [&["status"][..], &["incidents"], &["reload"]] {
        let o = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_wasp"))
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("WARN") && !err.contains("not writable"),
            "wasp {args:?}: {err}"
        );
        let made: Vec<_> = std::fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "wasp.toml")
            .collect();
        assert!(
            made.is_empty(),
            "wasp {args:?} created {made:?} in HOME; {err}"
        );
        assert!(!top.path().join("absent").exists(), "wasp {args:?}");
    }
}

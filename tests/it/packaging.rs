//! The release artifacts that scripts/package.sh builds (scripts/test.sh runs it first): the .deb installs every
//! file where the unit expects it and keeps the configuration on removal, the .rpm lists the same files, and the
//! glibc-2.17 build needs nothing newer than GLIBC_2.17 and runs here.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dist() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist");
    if d.is_dir() {
        return Some(d);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("target/dist is missing: scripts/package.sh must run before the tests in CI");
    }
    eprintln!("skipping: no target/dist (run scripts/package.sh)");
    None
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const FILES: &[&str] = &[
    "/usr/bin/wasp",
    "/etc/wasp/wasp.toml",
    "/usr/lib/systemd/system/wasp.service",
    "/usr/share/man/man1/wasp.1.gz",
    "/usr/share/doc/wasp/config.example.toml",
    "/usr/share/doc/wasp/README.md",
    "/usr/share/wasp/grafana/wasp-host.json",
    "/usr/share/wasp/grafana/wasp-jvm.json",
    "/usr/share/wasp/prometheus/wasp-rules.yml",
];

#[test]
fn deb_installs_verifies_and_keeps_config_on_removal() {
    let _floor = crate::common::alone();
    let Some(d) = dist() else { return };
    let deb = find(&d, ".deb");
    let (ok, out) = run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(ok, "dpkg -i failed: {out}");
    for f in FILES {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    assert!(
        Path::new("/var/lib/wasp").is_dir(),
        "state directory not created"
    );
    let (ok, out) = run("/usr/bin/wasp", &["check-config", "/etc/wasp/wasp.toml"]);
    assert!(ok, "check-config on the installed config: {out}");
    let (ok, out) = run(
        "systemd-analyze",
        &["verify", "/usr/lib/systemd/system/wasp.service"],
    );
    assert!(ok && out.trim().is_empty(), "systemd-analyze verify: {out}");
    // The exposure may not creep: 2.8 before kernel events, 3.1 with CAP_SYSLOG and /dev/kmsg, 2.9 with
    // ProtectProc=invisible, 2.8 without CAP_KILL (docs/security.md).
    let (_, out) = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            "/usr/lib/systemd/system/wasp.service",
        ],
    );
    let score: f64 = out
        .lines()
        .find_map(|l| l.split("exposure level for wasp.service:").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {out}"));
    assert!(
        score <= 2.8,
        "systemd-analyze security: {score} > 2.8\n{out}"
    );

    // An operator's edit survives removal (and a later reinstall): it is a conffile.
    let marker = "\n# edited by the operator\n";
    let mut cfg = std::fs::read_to_string("/etc/wasp/wasp.toml").unwrap();
    cfg.push_str(marker);
    std::fs::write("/etc/wasp/wasp.toml", &cfg).unwrap();
    std::fs::write("/var/lib/wasp/spool-marker", "x").unwrap();
    let (ok, out) = run("dpkg", &["-r", "wasp"]);
    assert!(ok, "dpkg -r: {out}");
    assert!(!Path::new("/usr/bin/wasp").exists());
    assert!(
        std::fs::read_to_string("/etc/wasp/wasp.toml")
            .unwrap()
            .contains(marker),
        "configuration not kept on removal"
    );
    assert!(
        Path::new("/var/lib/wasp/spool-marker").exists(),
        "state not kept on removal"
    );
    let (ok, out) = run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(ok, "reinstall: {out}");
    assert!(
        std::fs::read_to_string("/etc/wasp/wasp.toml")
            .unwrap()
            .contains(marker)
    );
    let (ok, out) = run("dpkg", &["--purge", "wasp"]);
    assert!(ok, "purge: {out}");
    assert!(!Path::new("/etc/wasp/wasp.toml").exists());
}

#[test]
fn rpm_lists_the_same_files_and_marks_the_config() {
    let _floor = crate::common::alone();
    let Some(d) = dist() else { return };
    let rpm = find(&d, ".x86_64.rpm");
    let (ok, list) = run("rpm", &["-qlp", rpm.to_str().unwrap()]);
    assert!(ok, "rpm -qlp: {list}");
    for f in FILES {
        assert!(
            list.lines().any(|l| l == *f),
            "{f} missing from the rpm: {list}"
        );
    }
    let (ok, conf) = run("rpm", &["-qcp", rpm.to_str().unwrap()]);
    assert!(
        ok && conf.lines().any(|l| l == "/etc/wasp/wasp.toml"),
        "{conf}"
    );
}

#[test]
fn glibc_217_build_needs_nothing_newer_and_runs() {
    let _floor = crate::common::alone();
    let Some(d) = dist() else { return };
    let bin = find(&d, "-x86_64-glibc2.17");
    let (ok, syms) = run("objdump", &["-T", bin.to_str().unwrap()]);
    assert!(ok, "objdump: {syms}");
    let mut highest = (0u32, 0u32);
    for v in syms.split("GLIBC_").skip(1) {
        let ver: String = v
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut it = ver.split('.').filter_map(|p| p.parse::<u32>().ok());
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            highest = highest.max((a, b));
        }
    }
    assert!(
        highest >= (2, 2),
        "no GLIBC versions found: is it dynamically linked?"
    );
    assert!(
        highest <= (2, 17),
        "needs GLIBC_{}.{}",
        highest.0,
        highest.1
    );
    let (ok, out) = run(bin.to_str().unwrap(), &["version"]);
    assert!(ok && out.starts_with("wasp "), "{out}");
    let (ok, out) = run(
        bin.to_str().unwrap(),
        &["once", "--interval", "200ms", "--format", "json"],
    );
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("timestamp_ms").is_some());
}

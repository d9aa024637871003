//! `wasp run` as the tests start it: a config file in the test's directory, stderr to its agent.log, and a
//! start that returns only once the agent answers /healthz (never a fixed sleep).

use super::{Reaped, http};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes DIR/wasp.toml (`[agent]` interval and data_dir = DIR/data, `[server]` on `port`, then `extra`) and
/// runs `wasp run` on it with RUST_LOG=info, its stderr in DIR/agent.log; returns once /healthz is 200.
pub fn start(dir: &Path, port: u16, interval: &str, extra: &str) -> Reaped {
    let cfg = dir.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"{interval}\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n{extra}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    let p = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_healthy(port, dir);
    p
}

/// Waits (10 s at most) until the agent on `port` answers /healthz with 200; a failure shows DIR/agent.log.
pub fn wait_healthy(port: u16, dir: &Path) {
    let t = Instant::now();
    while http::get(port, "/healthz").is_none_or(|(s, _)| s != 200) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "agent not healthy: {}",
            log(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the agent wrote to DIR/agent.log so far.
pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
}

/// Waits (10 s at most) until the agent whose data_dir is DIR/data wrote its first collection: its signal
/// handlers are in place by then.
pub fn wait_first_collection(dir: &Path) {
    let jsonl = dir.join("data/wasp.jsonl");
    let t = Instant::now();
    while std::fs::metadata(&jsonl).map_or(0, |m| m.len()) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "agent did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A configuration at `interval` whose server (on `port`) wants the bearer token `s3cret-token`, read from a
/// file next to it: the path of the configuration.
pub fn token_config(dir: &Path, port: u16, interval: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("token"), "s3cret-token\n").unwrap();
    let cfg = dir.join("wasp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"{interval}\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\nbearer_token_file = \"{}\"\n",
            dir.join("data").display(),
            dir.join("token").display()
        ),
    )
    .unwrap();
    cfg
}

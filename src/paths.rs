//! Where the agent keeps its state (data dir, pid file, control socket, snapshots), computed without side
//! effects: read-only commands (`wasp status`, `wasp incidents`, `wasp reload`) use these and create nothing.
//! Only `wasp run` creates directories (`daemon::paths`).

use crate::config::Config;
use std::path::{Path, PathBuf};

/// The per-user directory an agent that cannot write the configured data dir uses instead:
/// `$XDG_STATE_HOME/wasp`, else `~/.local/state/wasp`, else `<tmp>/wasp`.
pub fn fallback_data_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wasp")
}

/// Whether this process may write into `dir`.
pub fn is_writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The data dir a running agent of this user uses: the configured one when it is a directory this user can
/// write, else the per-user fallback.
pub fn agent_data_dir(cfg: &Config) -> PathBuf {
    let want = &cfg.agent.data_dir;
    if want.is_dir() && is_writable(want) {
        want.clone()
    } else {
        fallback_data_dir()
    }
}

/// Where a client finds the agent's data: the configured data dir when it exists (a root agent's, also for a
/// user who cannot write it), else the per-user fallback an unprivileged agent uses.
pub fn client_data_dir(cfg: &Config) -> PathBuf {
    if cfg.agent.data_dir.is_dir() {
        cfg.agent.data_dir.clone()
    } else {
        fallback_data_dir()
    }
}

/// The file `wasp reload` reads the running agent's pid from.
pub fn pid_file(cfg: &Config) -> PathBuf {
    agent_data_dir(cfg).join("wasp.pid")
}

/// The socket the agent binds, in the data dir it uses.
pub fn socket_in(cfg: &Config, data_dir: &Path) -> PathBuf {
    cfg.control
        .socket
        .clone()
        .unwrap_or_else(|| data_dir.join("wasp.sock"))
}

/// The socket a client connects to.
pub fn socket_path(cfg: &Config) -> PathBuf {
    socket_in(cfg, &client_data_dir(cfg))
}

/// Where snapshots are kept under a data dir.
pub fn snapshot_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_computed_without_creating_anything() {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.agent.data_dir = d.path().join("absent/data");
        // The fallback when the configured dir does not exist; nothing is created either way.
        assert_eq!(client_data_dir(&cfg), fallback_data_dir());
        assert_eq!(pid_file(&cfg), fallback_data_dir().join("wasp.pid"));
        assert!(!cfg.agent.data_dir.exists());
        cfg.agent.data_dir = d.path().to_path_buf();
        assert_eq!(client_data_dir(&cfg), d.path());
        assert_eq!(socket_path(&cfg), d.path().join("wasp.sock"));
        cfg.control.socket = Some("/run/x.sock".into());
        assert_eq!(socket_path(&cfg), Path::new("/run/x.sock"));
    }
}

//! `wasp run` alone creates the data dir: the configured one, or, when it cannot be created or written (not
//! root), the per-user fallback (`crate::paths`, which only computes paths and is what read-only commands use).

use crate::config::Config;
use crate::paths::{fallback_data_dir, is_writable};
use std::path::PathBuf;

/// Creates and returns the data dir this agent uses.
pub(crate) fn create_data_dir(cfg: &Config) -> PathBuf {
    let want = &cfg.agent.data_dir;
    if std::fs::create_dir_all(want).is_ok() && is_writable(want) {
        private(want);
        return want.clone();
    }
    let fallback = fallback_data_dir();
    tracing::warn!(
        wanted = %want.display(),
        using = %fallback.display(),
        "data_dir is not writable; using a per-user directory"
    );
    let _ = std::fs::create_dir_all(&fallback);
    private(&fallback);
    fallback
}

/// 0700 for a data dir that is ours (one made before, under a 0022 umask, is 0755); never for a shared one
/// (sticky, as /tmp, or someone else's).
fn private(dir: &std::path::Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Ok(m) = std::fs::symlink_metadata(dir)
        && m.is_dir()
        && m.uid() == nix::unistd::geteuid().as_raw()
        && m.mode() & 0o1000 == 0
        && m.mode() & 0o077 != 0
    {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

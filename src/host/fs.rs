//! Filesystems as `df` shows them: size, used, avail, use%, inodes — statvfs (nix) of each mount in
//! /proc/1/mountinfo (the host's mount table, also when wasp runs in a container with the host's /proc).

use super::Roots;
use crate::config::units::Pattern;
use crate::model::Collection;
use crate::model::fs::Filesystem;
use anyhow::Context;
use procfs::FromBufRead;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Mount points to leave out.
    pub exclude_mountpoints: Option<Pattern>,
    /// File-system types to leave out, beyond df's pseudo file systems.
    pub exclude_fstypes: Option<Pattern>,
    /// statvfs on a hung NFS/CIFS server blocks in the kernel, so network file systems are skipped unless
    /// asked for.
    pub network: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            exclude_mountpoints: None,
            exclude_fstypes: None,
            network: false,
        }
    }
}

/// df's "dummy" file systems (gnulib mountlist ME_DUMMY), hidden without -a.
const PSEUDO: &[&str] = &[
    "autofs",
    "proc",
    "subfs",
    "debugfs",
    "devpts",
    "fusectl",
    "fuse.portal",
    "mqueue",
    "rpc_pipefs",
    "sysfs",
    "devfs",
    "kernfs",
    "ignore",
    "cgroup",
    "cgroup2",
    "bpf",
    "tracefs",
    "securityfs",
    "pstore",
    "configfs",
    "binfmt_misc",
    "hugetlbfs",
    "efivarfs",
    "nsfs",
    "selinuxfs",
    "rootfs",
];
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "9p",
    "fuse.sshfs",
    "glusterfs",
    "ceph",
];

pub struct FsCollector {
    cfg: Config,
}

fn ceil_pct(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        (part as u128 * 100).div_ceil(whole as u128) as u64
    }
}

impl FsCollector {
    pub fn new(cfg: &Config) -> Self {
        FsCollector { cfg: cfg.clone() }
    }

    // fsblkcnt_t and friends are not u64 on every target.
    #[allow(clippy::unnecessary_cast)]
    pub fn collect(&mut self, roots: &Roots, out: &mut Collection) -> anyhow::Result<()> {
        let path = [
            roots.proc.join("1/mountinfo"),
            roots.proc.join("self/mountinfo"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| roots.proc.join("self/mountinfo"));
        let bytes = crate::util::procfile::read(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mounts = procfs::process::MountInfos::from_buf_read(&bytes[..])
            .with_context(|| format!("parsing {}", path.display()))?;
        let mut seen_dev = HashSet::new();
        for m in mounts.0 {
            let fstype = m.fs_type.as_str();
            if PSEUDO.contains(&fstype) || (!self.cfg.network && NETWORK.contains(&fstype)) {
                continue;
            }
            let mp = m.mount_point.to_string_lossy().to_string();
            if self
                .cfg
                .exclude_mountpoints
                .as_ref()
                .is_some_and(|p| p.is_match(&mp))
                || self
                    .cfg
                    .exclude_fstypes
                    .as_ref()
                    .is_some_and(|p| p.is_match(fstype))
            {
                continue;
            }
            let source = m.mount_source.clone().unwrap_or_else(|| "none".into());
            // df keeps one entry per device (bind mounts, overlays of the same block device).
            if source.starts_with('/') && !seen_dev.insert(source.clone()) {
                continue;
            }
            let Ok(st) = nix::sys::statvfs::statvfs(m.mount_point.as_path()) else {
                continue;
            };
            let frsize = st.fragment_size() as u64;
            let blocks = st.blocks() as u64;
            if blocks == 0 {
                continue;
            }
            let bfree = st.blocks_free() as u64;
            let bavail = st.blocks_available() as u64;
            let used_b = blocks.saturating_sub(bfree);
            let files = st.files() as u64;
            let ffree = st.files_free() as u64;
            // A mount point mounted over (twice in mountinfo) is one file system to df and to statvfs: the one
            // on top, listed last. Two series with the same labels would be refused by the backends.
            out.filesystems.retain(|f| f.mountpoint != mp);
            out.filesystems.push(Filesystem {
                filesystem: source,
                mountpoint: mp,
                fstype: fstype.to_string(),
                size: blocks * frsize,
                used: used_b * frsize,
                avail: bavail * frsize,
                use_pct: ceil_pct(used_b, used_b + bavail),
                inodes: files,
                iused: files.saturating_sub(ffree),
                ifree: ffree,
                iuse_pct: ceil_pct(files.saturating_sub(ffree), files),
                free: bfree * frsize,
                readonly: st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn use_pct_rounds_up_like_df() {
        assert_eq!(ceil_pct(11638148, 11638148 + 83647740), 13);
        assert_eq!(ceil_pct(0, 0), 0);
        assert_eq!(ceil_pct(1, 1000), 1);
    }
}

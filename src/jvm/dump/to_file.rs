//! JDK 21+ `jcmd <pid> Thread.dump_to_file -format=json <file>`: the only dump that lists virtual threads
//! (unmounted ones are absent from Thread.print). The JVM writes the file itself, as its user, in its own mount
//! namespace; wasp reads it back through <proc_root>/<pid>/root without following links, checks that the JVM's
//! user owns it, reads at most MAX_FILE bytes of it, and removes it.

use crate::jvm::attach::{self, AttachOptions};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A bound on what is read back: a 10,000-thread JSON dump is ~20 MB.
pub const MAX_FILE: u64 = 256 << 20;

/// The file the JVM wrote, opened; removed when dropped.
pub struct DumpFile {
    file: File,
    host_path: PathBuf,
}

impl DumpFile {
    /// The dump, bounded.
    pub fn reader(&mut self) -> impl Read + '_ {
        (&mut self.file).take(MAX_FILE)
    }
}

impl Drop for DumpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.host_path);
    }
}

/// Asks the JVM for its JSON dump in its own /tmp and opens the result.
pub fn json_dump(pid: u32, opts: &AttachOptions) -> anyhow::Result<DumpFile> {
    let proc_dir = opts.proc_root.join(pid.to_string());
    let jvm_uid = std::fs::metadata(&proc_dir)
        .map_err(|e| anyhow::anyhow!("pid {pid}: {e}"))?
        .uid();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = PathBuf::from(format!(
        "/tmp/wasp-threads-{}-{nanos}.json",
        std::process::id()
    ));
    let host_path = proc_dir
        .join("root")
        .join(path.strip_prefix("/").unwrap_or(&path));
    if !host_path.parent().is_some_and(Path::is_dir) {
        anyhow::bail!("pid {pid}: the JVM has no /tmp to write its dump to");
    }
    // Without -overwrite the JVM refuses a name that exists: nobody can plant a link for it to follow.
    let reply = attach::jcmd(
        pid,
        &format!("Thread.dump_to_file -format=json {}", path.display()),
        opts,
    )?;
    let fd = open(
        &host_path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "pid {pid}: the JVM wrote no dump to {} ({e}); it said: {}",
            path.display(),
            reply.trim().chars().take(300).collect::<String>()
        )
    })?;
    let file = File::from(fd);
    let out = DumpFile {
        file,
        host_path: host_path.clone(),
    };
    let st = fstat(&out.file)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG
        || st.st_uid != jvm_uid
    {
        anyhow::bail!(
            "pid {pid}: {} is not a regular file of the JVM's user (uid {}): not read",
            path.display(),
            jvm_uid
        );
    }
    Ok(out)
}

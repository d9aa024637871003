//! The attach trigger file (`.attach_pid<nspid>` in the JVM's tmp) and the per-thread credential switch that
//! creates it as the JVM's own user.

use std::os::fd::OwnedFd;

/// Runs `f` on a short-lived thread that took `uid`/`gid` with per-thread syscalls (setresuid through libc
/// would switch every thread of the process: glibc's setxid broadcast). Root's ids: run here.
pub(super) fn as_user<R: Send + 'static>(
    uid: u32,
    gid: u32,
    f: impl FnOnce() -> std::io::Result<R> + Send + 'static,
) -> std::io::Result<R> {
    if uid == 0 && gid == 0 {
        return f();
    }
    std::thread::spawn(move || -> std::io::Result<R> {
        // SAFETY: raw credential syscalls on this thread only; results are checked. Supplementary groups are
        // dropped first so that the thread carries none of root's.
        unsafe {
            if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                || libc::syscall(libc::SYS_setresgid, gid, gid, -1i32) != 0
                || libc::syscall(libc::SYS_setresuid, uid, uid, -1i32) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("thread panicked"))?
}

/// The trigger file in the JVM's own tmp, created and removed by a thread with the JVM's ids: the JVM's user
/// owns it without any fchown (filtered under the unit; JDK 8 accepts only its own user's trigger), and root
/// never creates a file in a directory of someone else's choosing. Removed through the directory's descriptor,
/// which works even after the JVM died.
pub(super) struct Trigger {
    /// None: the file was there before us, not ours to remove.
    dir: Option<OwnedFd>,
    name: String,
    ids: (u32, u32),
}

impl Drop for Trigger {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let name = self.name.clone();
            let _ = as_user(self.ids.0, self.ids.1, move || {
                nix::unistd::unlinkat(&d, name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir)
                    .map_err(std::io::Error::from)
            });
        }
    }
}

pub(super) fn create_trigger(
    ns_pid: u32,
    ids: (u32, u32),
    tmp: &OwnedFd,
) -> Result<Trigger, String> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let name = format!(".attach_pid{ns_pid}");
    let dir = tmp.try_clone().map_err(|e| e.to_string())?;
    let n = name.clone();
    let made = as_user(ids.0, ids.1, move || {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(&dir, n.as_str(), flags, Mode::from_bits_truncate(0o600)) {
            Ok(_) => Ok(Some(dir)),
            // Someone else's attempt in progress: not ours to remove; the JVM may still accept it.
            Err(nix::errno::Errno::EEXIST) => Ok(None),
            Err(e) => Err(std::io::Error::from(e)),
        }
    })
    .map_err(|e| format!("in the JVM's tmp, as uid {}: {e}", ids.0))?;
    Ok(Trigger {
        dir: made,
        name,
        ids,
    })
}

/// SIGQUIT to the JVM, sent by a thread with the JVM's ids (the kernel lets a user signal its own processes),
/// so the agent needs no `CAP_KILL` (the unit does not grant it). A JVM whose real ids differ from its
/// effective ones refuses that sender: then root sends it, which works where `CAP_KILL` is held.
pub(super) fn sigquit(pid: u32, ids: (u32, u32)) -> Result<(), String> {
    use nix::sys::signal::{Signal, kill};
    let send = move || {
        kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGQUIT).map_err(std::io::Error::from)
    };
    match as_user(ids.0, ids.1, send) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && ids != (0, 0) => {
            send().map_err(|root| format!("as uid {}: {e}; as root: {root}", ids.0))
        }
        r => r.map_err(|e| format!("as uid {}: {e}", ids.0)),
    }
}

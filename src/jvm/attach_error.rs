//! What can go wrong when wasp attaches to a JVM: each error names the pid and the step, and says whether the
//! JVM was signalled. Its own file so that the reply reader and the attach client both use it.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// `msg` names the pid already.
    #[error("{msg}")]
    NotJvm { pid: u32, msg: String },
    #[error("pid {pid}: attach is disabled in this JVM ({why}); it was not signalled")]
    Disabled { pid: u32, why: String },
    /// wasp cannot attach, but a JDK's own jcmd might (OpenJ9, no hsperfdata, another protocol).
    #[error(
        "pid {pid}: wasp cannot attach to this JVM ({why}); it was not signalled. [jvm] attach_fallback can name a jcmd to use instead"
    )]
    Impossible { pid: u32, why: String },
    #[error("pid {pid}: {step}: {msg}")]
    Step {
        pid: u32,
        step: &'static str,
        msg: String,
    },
    #[error(
        "pid {pid}: the attach socket {path} is owned by uid {owner}, not by the JVM's user {expected}: not trusted"
    )]
    Untrusted {
        pid: u32,
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error(
        "pid {pid}: the attach socket {path} is answered by pid {peer_pid} (uid {peer_uid}), not by the JVM (uid {expected}): not trusted, nothing was sent"
    )]
    Impostor {
        pid: u32,
        path: PathBuf,
        peer_pid: i32,
        peer_uid: u32,
        expected: u32,
    },
    #[error("pid {pid}: no answer within {timeout:?} ({step})")]
    Timeout {
        pid: u32,
        step: &'static str,
        timeout: Duration,
    },
    #[error("pid {pid}: the attach socket {path} refuses connections: {why}")]
    Stale {
        pid: u32,
        path: PathBuf,
        why: &'static str,
    },
    #[error("pid {pid}: the JVM exited {when}")]
    Exited { pid: u32, when: &'static str },
    #[error("pid {pid}: the JVM refused the command (code {code}): {msg}")]
    Refused { pid: u32, code: i32, msg: String },
    #[error("pid {pid}: heap dump refused: {msg}")]
    HeapDump { pid: u32, msg: String },
    #[error("pid {pid}: fallback {tool}: {msg}")]
    Fallback {
        pid: u32,
        tool: PathBuf,
        msg: String,
    },
}

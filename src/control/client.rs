//! The command-line side of the control socket: one request line, one answer line.

use super::ControlRequest;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Answers are at most this long (a status with many JVMs is a few hundred KB).
const MAX_ANSWER: u64 = 16 << 20;

/// Sends `req` and returns the answer. Errors say what is wrong in the operator's terms, naming the socket.
pub fn call(
    path: &Path,
    req: &ControlRequest,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        use std::io::ErrorKind::*;
        match e.kind() {
            NotFound | ConnectionRefused => anyhow::anyhow!(
                "no wasp agent is running on {} ({e}); start it (`systemctl start wasp` or `wasp run`), or give \
                 the agent's configuration with --config",
                path.display()
            ),
            PermissionDenied => anyhow::anyhow!(
                "{}: permission denied: the control socket is for root and the agent's user only",
                path.display()
            ),
            _ => anyhow::anyhow!("{}: cannot connect: {e}", path.display()),
        }
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    // A refused peer gets its answer before the agent reads anything: the write may then fail with a
    // broken pipe, and the answer is still there to read.
    let sent = s.write_all(line.as_bytes());
    let mut answer = Vec::new();
    BufReader::new(s.take(MAX_ANSWER))
        .read_until(b'\n', &mut answer)
        .map_err(|e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                anyhow::anyhow!(
                    "{}: no answer from the agent within {} s",
                    path.display(),
                    timeout.as_secs()
                )
            } else {
                anyhow::anyhow!("{}: {e}", path.display())
            }
        })?;
    if answer.is_empty() {
        sent.map_err(|e| anyhow::anyhow!("{}: sending the request: {e}", path.display()))?;
        anyhow::bail!(
            "{}: the agent closed the connection without an answer",
            path.display()
        );
    }
    Ok(serde_json::from_slice(&answer)?)
}

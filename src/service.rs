//! systemd integration without a dependency: `sd_notify` READY/RELOADING/STOPPING/WATCHDOG datagrams to
//! `$NOTIFY_SOCKET`, and the watchdog period from `$WATCHDOG_USEC`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The notification socket systemd gave us, if any.
pub struct Notifier {
    sock: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let sock = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.into_string().ok()?;
            let addr = if let Some(abs) = path.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()).ok()?
            } else {
                std::os::unix::net::SocketAddr::from_pathname(&path).ok()?
            };
            let s = UnixDatagram::unbound().ok()?;
            s.set_nonblocking(true).ok()?;
            Some((s, addr))
        });
        Notifier { sock }
    }

    pub fn enabled(&self) -> bool {
        self.sock.is_some()
    }

    /// Sends one state string such as "READY=1"; never blocks, errors are logged at debug only.
    pub fn notify(&self, state: &str) {
        if let Some((s, addr)) = &self.sock
            && let Err(e) = s.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!(error = %e, state, "sd_notify failed");
        }
    }

    pub fn ready(&self) {
        self.notify(&format!("READY=1\nMAINPID={}", std::process::id()));
    }

    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }
}

/// How often to ping the watchdog: half the period systemd expects, if it expects one for this process.
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifies_a_datagram_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        let n = Notifier {
            sock: Some((UnixDatagram::unbound().unwrap(), addr)),
        };
        n.ready();
        let mut buf = [0u8; 128];
        let len = server.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(got.starts_with("READY=1\nMAINPID="), "{got}");
    }
}

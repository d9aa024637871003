//! The agent's side of the control socket, on the daemon's tokio runtime. Every connection: peer credentials
//! (SO_PEERCRED) checked first — root or the agent's own uid, anyone else is refused and logged — then one
//! request line of at most 64 KiB read within 5 s, one answer line written within 5 s. At most 16
//! connections at once; more are closed at once (counted and logged).

use super::{ControlRequest, MAX_REQUEST, StatusProviders};
use crate::snapshot::request::{Reason, Request};
use crate::snapshot::worker::{Accepted, Snapshots, State};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 16;
/// The longest a `wasp trigger` may wait for its snapshot.
const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Default, Debug)]
pub struct ControlCounters {
    pub served: AtomicU64,
    pub refused_peers: AtomicU64,
    pub refused_busy: AtomicU64,
    pub bad_requests: AtomicU64,
}

impl ControlCounters {
    pub fn add_metrics(&self, m: &mut crate::model::MetricSet) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        m.counter(
            "wasp_control_requests_total",
            "Control socket requests served.",
        )
        .set(get(&self.served));
        m.counter(
            "wasp_control_refused_total",
            "Control socket connections refused, by why: a peer that is neither root nor the agent's user, too many connections, a malformed request.",
        )
        .push([("reason", "peer")], get(&self.refused_peers))
        .push([("reason", "busy")], get(&self.refused_busy))
        .push([("reason", "bad_request")], get(&self.bad_requests));
    }
}

struct Ctx {
    io_timeout: Duration,
    providers: StatusProviders,
    snapshots: Snapshots,
    own_uid: u32,
    counters: Arc<ControlCounters>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Binds the socket with mode 0600. A socket file left by an agent that died is replaced; one that another
/// live agent answers on is an error. Call inside the runtime.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "{}: another wasp agent is already serving this control socket",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    let l = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot bind the control socket: {e}", path.display()))?;
    // Between bind and chmod the socket has the umask's mode; the peer-credential check below is what
    // guards it, the mode is the second fence.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(UnixListener::from_std(l)?)
}

/// Serves until the runtime stops.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    providers: StatusProviders,
    snapshots: Snapshots,
    counters: Arc<ControlCounters>,
) {
    serve_with(listener, path, providers, snapshots, counters, IO_TIMEOUT).await
}

async fn serve_with(
    listener: UnixListener,
    path: PathBuf,
    providers: StatusProviders,
    snapshots: Snapshots,
    counters: Arc<ControlCounters>,
    io_timeout: Duration,
) {
    let ctx = Arc::new(Ctx {
        io_timeout,
        providers,
        snapshots,
        own_uid: nix::unistd::geteuid().as_raw(),
        counters,
        slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
    });
    tracing::info!(socket = %path.display(), "control socket ready");
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = ctx.slots.clone().try_acquire_owned() else {
            let n = ctx.counters.refused_busy.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                refused_total = n,
                "control socket: {MAX_CONNECTIONS} connections already open; connection closed"
            );
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            handle(stream, &ctx).await;
            drop(permit);
        });
    }
}

fn peer(stream: &UnixStream) -> Option<(u32, i32)> {
    let c =
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some((c.uid(), c.pid()))
}

async fn answer(stream: &mut UnixStream, v: serde_json::Value, timeout: Duration) {
    let mut line = v.to_string();
    line.push('\n');
    let _ = tokio::time::timeout(timeout, stream.write_all(line.as_bytes())).await;
}

async fn handle(mut stream: UnixStream, ctx: &Ctx) {
    let Some((uid, pid)) = peer(&stream) else {
        tracing::warn!("control socket: cannot read the peer's credentials; connection closed");
        return;
    };
    if uid != 0 && uid != ctx.own_uid {
        let n = ctx.counters.refused_peers.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            peer_uid = uid,
            peer_pid = pid,
            refused_total = n,
            "control socket: peer refused (only root and the agent's own user may use it)"
        );
        answer(
            &mut stream,
            json!({"ok": false, "error": format!("uid {uid} may not use the wasp control socket: only root and the agent's user (uid {}) may", ctx.own_uid)}),
            ctx.io_timeout,
        )
        .await;
        return;
    }
    let mut line = Vec::new();
    let read = {
        let mut r = BufReader::new((&mut stream).take(MAX_REQUEST as u64 + 1));
        tokio::time::timeout(ctx.io_timeout, r.read_until(b'\n', &mut line)).await
    };
    // Connected and closed without a byte: a liveness probe (a second agent checking the socket).
    if matches!(read, Ok(Ok(0))) {
        return;
    }
    let req = match read {
        Err(_) => Err(format!(
            "no complete request line within {:?}",
            ctx.io_timeout
        )),
        Ok(Err(e)) => Err(format!("reading the request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_REQUEST => {
            Err(format!("request longer than {MAX_REQUEST} bytes"))
        }
        Ok(Ok(_)) => serde_json::from_slice::<ControlRequest>(&line)
            .map_err(|e| format!("not a valid request: {e}")),
    };
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            ctx.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer_uid = uid, peer_pid = pid, error = %e, "control socket: bad request");
            answer(
                &mut stream,
                json!({"ok": false, "error": e}),
                ctx.io_timeout,
            )
            .await;
            return;
        }
    };
    ctx.counters.served.fetch_add(1, Ordering::Relaxed);
    let reply = match req {
        ControlRequest::Status {} => {
            let sections: Vec<serde_json::Value> = ctx
                .providers
                .collect()
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect();
            json!({"ok": true, "sections": sections})
        }
        ControlRequest::Trigger {
            kind,
            select,
            wait_ms,
            note,
        } => {
            tracing::info!(peer_uid = uid, peer_pid = pid, kind = kind.as_str(), select = %select, "control socket: trigger");
            match ctx.snapshots.submit(
                Request::new(kind, select, Reason::Cli(uid))
                    .with_context(note.map(|n| format!("note (uid {uid}): {n}"))),
            ) {
                Err(r) => json!({"ok": false, "refused": r, "error": r.to_string()}),
                Ok(accepted) => {
                    // A coalesced request is told, and waits on, the snapshot that answers it.
                    let coalesced_into = match accepted {
                        Accepted::Coalesced { into, .. } => Some(into),
                        Accepted::Queued(_) => None,
                    };
                    let seq = accepted.outcome_seq();
                    let wait = Duration::from_millis(wait_ms).min(MAX_WAIT);
                    let deadline = tokio::time::Instant::now() + wait;
                    let mut rec = ctx.snapshots.record(seq);
                    while tokio::time::Instant::now() < deadline
                        && rec
                            .as_ref()
                            .is_some_and(|r| matches!(r.state, State::Queued | State::Running))
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        rec = ctx.snapshots.record(seq);
                    }
                    json!({"ok": true, "seq": seq, "coalesced_into": coalesced_into, "record": rec})
                }
            }
        }
    };
    answer(&mut stream, reply, ctx.io_timeout).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::client::call;
    use crate::control::{ControlRequest, StatusProvider};
    use crate::snapshot::request::{Kind, Select};
    use std::io::{Read, Write};

    struct Spool;
    impl StatusProvider for Spool {
        fn name(&self) -> &'static str {
            "shipping"
        }
        fn status(&self) -> serde_json::Value {
            json!({"queue": 7, "spool_bytes": 4096})
        }
    }

    fn raw(path: &Path, send: &[u8]) -> serde_json::Value {
        let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(send);
        let mut b = String::new();
        let _ = s.read_to_string(&mut b);
        serde_json::from_str(b.trim()).unwrap_or_else(|e| panic!("{e}: {b:?}"))
    }

    #[test]
    fn providers_requests_limits_and_timeouts() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("wasp.sock");
        let providers = StatusProviders::default();
        providers.register(Arc::new(Spool));
        let snapshots = Snapshots::start(
            Default::default(),
            Default::default(),
            Default::default(),
            d.path().join("snapshots"),
            Default::default(),
            crate::snapshot::documents::discard(),
            Default::default(),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let l = {
            let _g = rt.enter();
            bind(&path).unwrap()
        };
        // A second agent on the same socket is refused; the first keeps it.
        assert!(
            format!("{:#}", bind(&path).unwrap_err()).contains("already serving"),
            "second bind"
        );
        let (p, c) = (path.clone(), Arc::new(ControlCounters::default()));
        let counters = c.clone();
        std::thread::spawn(move || {
            rt.block_on(serve_with(
                l,
                p,
                providers,
                snapshots,
                c,
                Duration::from_millis(300),
            ))
        });
        // A provider registered from outside gets its own section.
        let v = call(&path, &ControlRequest::Status {}, Duration::from_secs(5)).unwrap();
        assert_eq!(
            v["sections"],
            json!([["shipping", {"queue": 7, "spool_bytes": 4096}]])
        );
        // A pid that is no JVM: queued, then failed, and the answer says why.
        let v = call(
            &path,
            &ControlRequest::Trigger {
                kind: Kind::Dump,
                select: Select::Pid(1),
                wait_ms: 5000,
                note: None,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(v["record"]["state"], "failed", "{v}");
        assert!(
            v["record"]["error"].as_str().unwrap().contains("pid 1"),
            "{v}"
        );
        // Garbage, an over-long line, and a client that never finishes its line are answered and closed.
        let v = raw(&path, b"{\"op\":\"reboot\"}\n");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("not a valid request"),
            "{v}"
        );
        let v = raw(&path, &vec![b'x'; MAX_REQUEST + 10]);
        assert!(v["error"].as_str().unwrap().contains("longer than"), "{v}");
        let t = std::time::Instant::now();
        let v = raw(&path, b"{\"op\":");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("no complete request line"),
            "{v}"
        );
        assert!(t.elapsed() < Duration::from_secs(3));
        assert_eq!(counters.bad_requests.load(Ordering::Relaxed), 3);
        assert_eq!(counters.served.load(Ordering::Relaxed), 2);
    }
}

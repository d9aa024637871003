//! One process in depth, for incident bundles: its TCP sockets by state and peer (a netstat of that pid: the
//! socket inodes of /proc/<pid>/fd matched to /proc/<pid>/net/tcp and tcp6), its open files summarised by
//! type, and its process and per-thread figures (/proc/<pid>/status, /proc/<pid>/task/*/stat). Read on
//! request, never on the collection loop.

use procfs::process::{FDTarget, Process};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

/// Sockets listed one by one; beyond this only the counts.
const MAX_LISTED: usize = 500;
/// Peer groups listed; beyond this the smallest are only counted.
const MAX_PEERS: usize = 200;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Socket {
    pub local: String,
    pub remote: String,
    pub state: &'static str,
    pub rx_queue: u32,
    pub tx_queue: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerCount {
    /// "in :8080 from 10.0.0.5" (to one of the process's listening ports) or "out 10.0.0.9:5432".
    pub peer: String,
    pub state: &'static str,
    pub count: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Netstat {
    pub tcp_sockets: usize,
    pub by_state: BTreeMap<&'static str, usize>,
    pub listening: Vec<String>,
    /// Grouped by direction and peer, most first.
    pub by_peer: Vec<PeerCount>,
    /// TIME_WAIT sockets belong to no process (no inode); these are the ones on this process's listening ports.
    pub time_wait_on_listen_ports: usize,
    pub sockets: Vec<Socket>,
    /// Sockets not listed because of the bound.
    pub not_listed: usize,
    /// Peer groups not listed (the smallest) because of the bound.
    pub peers_not_listed: usize,
}

/// netstat's state names.
pub fn state_name(s: &procfs::net::TcpState) -> &'static str {
    use procfs::net::TcpState::*;
    match s {
        Established => "ESTABLISHED",
        SynSent => "SYN_SENT",
        SynRecv | NewSynRecv => "SYN_RECV",
        FinWait1 => "FIN_WAIT1",
        FinWait2 => "FIN_WAIT2",
        TimeWait => "TIME_WAIT",
        Close => "CLOSE",
        CloseWait => "CLOSE_WAIT",
        LastAck => "LAST_ACK",
        Listen => "LISTEN",
        Closing => "CLOSING",
    }
}

fn proc_of(proc_root: &Path, pid: u32) -> anyhow::Result<Process> {
    Ok(Process::new_with_root(proc_root.join(pid.to_string()))?)
}

/// The socket inodes among the process's file descriptors.
fn socket_inodes(p: &Process) -> anyhow::Result<HashSet<u64>> {
    Ok(p.fd()?
        .flatten()
        .filter_map(|f| match f.target {
            FDTarget::Socket(i) => Some(i),
            _ => None,
        })
        .collect())
}

pub fn netstat(proc_root: &Path, pid: u32) -> anyhow::Result<Netstat> {
    let p = proc_of(proc_root, pid)?;
    let inodes = socket_inodes(&p)?;
    // The tables of the process's own network namespace (a container's, when it is in one).
    let mut all = p.tcp().unwrap_or_default();
    all.extend(p.tcp6().unwrap_or_default());
    Ok(netstat_of(&all, &inodes))
}

fn show(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => a.to_string(),
        },
        _ => a.to_string(),
    }
}

fn ip(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V6(v6) => v6
            .ip()
            .to_ipv4_mapped()
            .map(|v| v.to_string())
            .unwrap_or_else(|| v6.ip().to_string()),
        std::net::SocketAddr::V4(v4) => v4.ip().to_string(),
    }
}

fn netstat_of(all: &[procfs::net::TcpNetEntry], inodes: &HashSet<u64>) -> Netstat {
    let mine: Vec<&procfs::net::TcpNetEntry> = all
        .iter()
        .filter(|e| e.inode != 0 && inodes.contains(&e.inode))
        .collect();
    let listen_ports: HashSet<u16> = mine
        .iter()
        .filter(|e| matches!(e.state, procfs::net::TcpState::Listen))
        .map(|e| e.local_address.port())
        .collect();
    let mut n = Netstat {
        tcp_sockets: mine.len(),
        ..Default::default()
    };
    let mut peers: HashMap<(String, &'static str), usize> = HashMap::new();
    for e in &mine {
        let st = state_name(&e.state);
        *n.by_state.entry(st).or_default() += 1;
        if st == "LISTEN" {
            n.listening.push(show(&e.local_address));
            continue;
        }
        let peer = if listen_ports.contains(&e.local_address.port()) {
            format!(
                "in :{} from {}",
                e.local_address.port(),
                ip(&e.remote_address)
            )
        } else {
            format!("out {}", show(&e.remote_address))
        };
        *peers.entry((peer, st)).or_default() += 1;
        if n.sockets.len() < MAX_LISTED {
            n.sockets.push(Socket {
                local: show(&e.local_address),
                remote: show(&e.remote_address),
                state: st,
                rx_queue: e.rx_queue,
                tx_queue: e.tx_queue,
            });
        } else {
            n.not_listed += 1;
        }
    }
    n.time_wait_on_listen_ports = all
        .iter()
        .filter(|e| {
            matches!(e.state, procfs::net::TcpState::TimeWait)
                && listen_ports.contains(&e.local_address.port())
        })
        .count();
    n.listening.sort();
    n.listening.dedup();
    let mut by_peer: Vec<PeerCount> = peers
        .into_iter()
        .map(|((peer, state), count)| PeerCount { peer, state, count })
        .collect();
    by_peer.sort_by(|a, b| b.count.cmp(&a.count).then(a.peer.cmp(&b.peer)));
    n.peers_not_listed = by_peer.len().saturating_sub(MAX_PEERS);
    by_peer.truncate(MAX_PEERS);
    n.by_peer = by_peer;
    n
}

impl Netstat {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let states: Vec<String> = self
            .by_state
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "TCP sockets: {} ({})",
            self.tcp_sockets,
            states.join(", ")
        );
        if !self.listening.is_empty() {
            let _ = writeln!(s, "listening: {}", self.listening.join(" "));
        }
        if self.time_wait_on_listen_ports > 0 {
            let _ = writeln!(
                s,
                "TIME_WAIT on its listening ports: {}",
                self.time_wait_on_listen_ports
            );
        }
        if !self.by_peer.is_empty() {
            let _ = writeln!(s, "\nby peer:");
            for p in &self.by_peer {
                let _ = writeln!(s, "  {:6} {:12} {}", p.count, p.state, p.peer);
            }
            if self.peers_not_listed > 0 {
                let _ = writeln!(s, "  ({} smaller groups not listed)", self.peers_not_listed);
            }
        }
        let _ = writeln!(
            s,
            "\n{:<12} {:>8} {:>8}  {:<46} Peer",
            "State", "Recv-Q", "Send-Q", "Local"
        );
        for k in &self.sockets {
            let _ = writeln!(
                s,
                "{:<12} {:>8} {:>8}  {:<46} {}",
                k.state, k.rx_queue, k.tx_queue, k.local, k.remote
            );
        }
        if self.not_listed > 0 {
            let _ = writeln!(s, "({} more not listed)", self.not_listed);
        }
        s
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenFiles {
    pub total: usize,
    /// The soft limit (ulimit -n), when readable.
    pub limit: Option<u64>,
    pub sockets: usize,
    pub pipes: usize,
    pub regular: usize,
    pub jars: Vec<String>,
    pub deleted: Vec<String>,
    pub devices: usize,
    /// Anonymous inodes by kind: [eventpoll], [eventfd], [timerfd]...
    pub anon_inodes: BTreeMap<String, usize>,
    pub other: usize,
    /// Regular files (not jars) per directory, most first, at most 30.
    pub by_directory: Vec<(String, usize)>,
}

pub fn open_files(proc_root: &Path, pid: u32) -> anyhow::Result<OpenFiles> {
    let p = proc_of(proc_root, pid)?;
    let mut o = OpenFiles {
        limit: super::pidstat::max_open_files(&proc_root.join(pid.to_string())),
        ..Default::default()
    };
    let mut dirs: HashMap<String, usize> = HashMap::new();
    for f in p.fd()?.flatten() {
        o.total += 1;
        match f.target {
            FDTarget::Socket(_) => o.sockets += 1,
            FDTarget::Pipe(_) => o.pipes += 1,
            FDTarget::AnonInode(k) => *o.anon_inodes.entry(k).or_default() += 1,
            FDTarget::Path(path) => {
                let s = path.to_string_lossy().into_owned();
                if let Some(gone) = s.strip_suffix(" (deleted)") {
                    o.deleted.push(gone.to_string());
                } else if s.starts_with("/dev/") {
                    o.devices += 1;
                } else if s.ends_with(".jar") || s.ends_with(".war") || s.ends_with(".ear") {
                    o.jars.push(s);
                } else {
                    o.regular += 1;
                    let d = path
                        .parent()
                        .map(|d| d.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "/".into());
                    *dirs.entry(d).or_default() += 1;
                }
            }
            _ => o.other += 1,
        }
    }
    o.jars.sort();
    o.jars.dedup();
    o.deleted.sort();
    let mut d: Vec<(String, usize)> = dirs.into_iter().collect();
    d.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    d.truncate(30);
    o.by_directory = d;
    Ok(o)
}

impl OpenFiles {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "open files: {}{}",
            self.total,
            self.limit
                .map(|l| format!(" of {l} allowed"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  sockets {}  pipes {}  regular files {}  jars {}  deleted {}  devices {}  other {}",
            self.sockets,
            self.pipes,
            self.regular,
            self.jars.len(),
            self.deleted.len(),
            self.devices,
            self.other
        );
        for (k, n) in &self.anon_inodes {
            let _ = writeln!(s, "  anon_inode:{k} {n}");
        }
        if !self.by_directory.is_empty() {
            let _ = writeln!(s, "\nregular files by directory:");
            for (d, n) in &self.by_directory {
                let _ = writeln!(s, "  {n:6} {d}");
            }
        }
        if !self.deleted.is_empty() {
            let _ = writeln!(s, "\ndeleted but still open:");
            for d in &self.deleted {
                let _ = writeln!(s, "  {d}");
            }
        }
        if !self.jars.is_empty() {
            let _ = writeln!(s, "\narchives:");
            for j in &self.jars {
                let _ = writeln!(s, "  {j}");
            }
        }
        s
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadFigures {
    pub tid: u32,
    pub name: String,
    pub state: char,
    /// CPU seconds since the thread started (user + system).
    pub cpu_s: f64,
    /// Percent of one core over the sampling window, when sampled.
    pub cpu_pct: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessFigures {
    /// /proc/<pid>/status as the kernel wrote it.
    pub status: String,
    pub threads: Vec<ThreadFigures>,
    /// Threads per state letter (R, S, D...).
    pub thread_states: BTreeMap<char, usize>,
}

/// One reading of /proc/<pid>/task/*/stat: per thread, its name, state letter and CPU ticks (user + system).
/// Threads that vanish while read are skipped. The one walk over a process's threads, under the configured
/// proc root.
pub fn task_ticks(proc_root: &Path, pid: u32) -> anyhow::Result<Vec<(u32, String, char, u64)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(proc_root.join(pid.to_string()).join("task"))?.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(b) = std::fs::read(e.path().join("stat")) else {
            continue;
        };
        let Some(st) = super::pidstat::parse_stat(&b) else {
            continue;
        };
        out.push((tid, st.comm, st.state, st.utime.saturating_add(st.stime)));
    }
    Ok(out)
}

/// CPU per OS thread over a short window: nid (tid) -> percent of one core.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadCpu {
    pub window_s: f64,
    pub by_nid: HashMap<u64, f64>,
}

/// Reads the threads' CPU twice, `window` apart (what top -H shows).
pub fn sample_thread_cpu(
    proc_root: &Path,
    pid: u32,
    window: std::time::Duration,
) -> anyhow::Result<ThreadCpu> {
    let a: HashMap<u32, u64> = task_ticks(proc_root, pid)?
        .into_iter()
        .map(|(t, _, _, v)| (t, v))
        .collect();
    let t = std::time::Instant::now();
    std::thread::sleep(window);
    let b = task_ticks(proc_root, pid)?;
    let secs = t.elapsed().as_secs_f64();
    let hz = procfs::ticks_per_second().max(1) as f64;
    let by_nid = b
        .iter()
        .map(|(tid, _, _, v)| {
            let before = *a.get(tid).unwrap_or(v);
            (
                *tid as u64,
                v.saturating_sub(before) as f64 / hz / secs * 100.0,
            )
        })
        .collect();
    Ok(ThreadCpu {
        window_s: secs,
        by_nid,
    })
}

/// Process status and every thread's figures; `cpu` is a sample of CPU percent per tid.
pub fn process_figures(
    proc_root: &Path,
    pid: u32,
    cpu: Option<&HashMap<u64, f64>>,
) -> anyhow::Result<ProcessFigures> {
    let status = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status"))?;
    let hz = procfs::ticks_per_second().max(1) as f64;
    let mut threads: Vec<ThreadFigures> = task_ticks(proc_root, pid)?
        .into_iter()
        .map(|(tid, name, state, ticks)| ThreadFigures {
            tid,
            name,
            state,
            cpu_s: ticks as f64 / hz,
            cpu_pct: cpu.and_then(|c| c.get(&(tid as u64)).copied()),
        })
        .collect();
    threads.sort_by(|a, b| {
        b.cpu_pct
            .unwrap_or(0.0)
            .total_cmp(&a.cpu_pct.unwrap_or(0.0))
            .then(b.cpu_s.total_cmp(&a.cpu_s))
    });
    let mut thread_states = BTreeMap::new();
    for t in &threads {
        *thread_states.entry(t.state).or_default() += 1;
    }
    Ok(ProcessFigures {
        status,
        threads,
        thread_states,
    })
}

impl ProcessFigures {
    /// A status line's value ("VmRSS" -> "812345 kB").
    pub fn status_field(&self, key: &str) -> Option<&str> {
        self.status.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then_some(v.trim())
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = self.status.clone();
        let states: Vec<String> = self
            .thread_states
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "\n{} threads by state: {}\n\n{:>8} {:>7} {:>10} {:>2}  name",
            self.threads.len(),
            states.join(", "),
            "tid",
            "%cpu",
            "cpu_s",
            "S"
        );
        for t in &self.threads {
            let _ = writeln!(
                s,
                "{:>8} {:>7} {:>10.2} {:>2}  {}",
                t.tid,
                t.cpu_pct.map(|p| format!("{p:.1}")).unwrap_or("-".into()),
                t.cpu_s,
                t.state,
                t.name
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Vec<procfs::net::TcpNetEntry> {
        <procfs::net::TcpNetEntries as procfs::FromBufReadSI>::from_buf_read(
            text.as_bytes(),
            procfs::current_system_info(),
        )
        .unwrap()
        .0
    }

    const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn row(sl: u32, local: &str, remote: &str, st: &str, inode: u64) -> String {
        format!(
            "{sl:4}: {local} {remote} {st} 00000000:00000003 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n"
        )
    }

    #[test]
    fn sockets_are_grouped_by_direction_and_peer() {
        // 127.0.0.1:8080 listening; two clients from 10.0.0.5 and one TIME_WAIT on it; one connection out to
        // 10.0.0.9:5432; a socket of another process.
        let t = HEAD.to_string()
            + &row(0, "0100007F:1F90", "00000000:0000", "0A", 100)
            + &row(1, "0100007F:1F90", "0500000A:C350", "01", 101)
            + &row(2, "0100007F:1F90", "0500000A:C351", "01", 102)
            + &row(3, "0100007F:1F90", "0500000A:C352", "06", 0)
            + &row(4, "0100007F:D000", "0900000A:1538", "08", 103)
            + &row(5, "0100007F:D001", "0900000A:1538", "01", 999);
        let n = netstat_of(&table(&t), &[100, 101, 102, 103].into_iter().collect());
        assert_eq!(n.tcp_sockets, 4);
        assert_eq!(n.listening, vec!["127.0.0.1:8080".to_string()]);
        assert_eq!(n.time_wait_on_listen_ports, 1);
        let peers: Vec<(String, &str, usize)> = n
            .by_peer
            .iter()
            .map(|p| (p.peer.clone(), p.state, p.count))
            .collect();
        assert_eq!(
            peers,
            vec![
                ("in :8080 from 10.0.0.5".to_string(), "ESTABLISHED", 2),
                ("out 10.0.0.9:5432".to_string(), "CLOSE_WAIT", 1),
            ]
        );
        assert_eq!(n.sockets[0].rx_queue, 3);
        assert!(
            n.to_text()
                .contains("CLOSE_WAIT 1, ESTABLISHED 2, LISTEN 1"),
            "{}",
            n.to_text()
        );
    }

    proptest::proptest! {
        // The tables another process's kernel namespace holds: whatever the parser accepts, grouping never panics.
        #[test]
        fn grouping_never_panics(rows in proptest::collection::vec(
            ("[0-9A-F]{8}:[0-9A-F]{4}", "[0-9A-F]{8}:[0-9A-F]{4}", "0[1-9A-C]", 0u64..5), 0..30)) {
            let mut t = HEAD.to_string();
            for (i, (l, r, st, inode)) in rows.iter().enumerate() {
                t.push_str(&row(i as u32, l, r, st, *inode));
            }
            if let Ok(e) = <procfs::net::TcpNetEntries as procfs::FromBufReadSI>::from_buf_read(
                t.as_bytes(),
                procfs::current_system_info(),
            ) {
                let _ = netstat_of(&e.0, &(0..5).collect()).to_text();
            }
        }
    }

    #[test]
    fn own_sockets_and_files_are_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_s, _) = l.accept().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.log");
        let f = std::fs::File::create(&gone).unwrap();
        std::fs::remove_file(&gone).unwrap();
        let me = std::process::id();
        let n = netstat(Path::new("/proc"), me).unwrap();
        // Other tests of this binary may hold sockets too: look for ours, not for exact totals.
        assert!(n.listening.contains(&format!("127.0.0.1:{port}")), "{n:?}");
        assert!(
            n.by_state.get("ESTABLISHED").is_some_and(|&e| e >= 2),
            "{n:?}"
        );
        assert!(
            n.by_peer
                .iter()
                .any(|p| p.peer == format!("in :{port} from 127.0.0.1") && p.count == 1),
            "{:?}",
            n.by_peer
        );
        assert!(
            n.by_peer
                .iter()
                .any(|p| p.peer == format!("out 127.0.0.1:{port}")),
            "{:?}",
            n.by_peer
        );
        let o = open_files(Path::new("/proc"), me).unwrap();
        assert!(o.sockets >= 3, "{o:?}");
        assert!(
            o.deleted.iter().any(|d| d.ends_with("gone.log")),
            "{:?}",
            o.deleted
        );
        assert!(o.limit.is_some());
        let p = process_figures(Path::new("/proc"), me, None).unwrap();
        assert!(p.status_field("Threads").is_some());
        assert!(p.threads.iter().any(|t| t.tid == me));
        drop((c, f));
    }

    /// The per-thread CPU is read under the configured proc root: a replayed root whose stat files change
    /// between the two readings gives exactly their difference.
    #[test]
    fn thread_cpu_comes_from_the_proc_root() {
        let root = tempfile::tempdir().unwrap();
        let stat = |tid: u32, ticks: u64| {
            format!(
                "{tid} (worker {tid}) R 1 1 1 0 -1 4194560 100 0 0 0 {ticks} 0 0 0 20 0 2 0 100 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
            )
        };
        let write = |tid: u32, ticks: u64| {
            let d = root.path().join("4242/task").join(tid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("stat"), stat(tid, ticks)).unwrap();
        };
        std::fs::write(root.path().join("4242/status").as_path(), "").ok();
        write(4243, 1000);
        write(4244, 50);
        let hz = procfs::ticks_per_second() as u64;
        let path = root.path().to_path_buf();
        // While wasp waits between its readings, thread 4243 burns one second of CPU (hz ticks).
        let w = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let d = path.join("4242/task/4243");
            std::fs::write(d.join("stat"), format!(
                "4243 (worker 4243) R 1 1 1 0 -1 4194560 100 0 0 0 {} 0 0 0 20 0 2 0 100 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
                1000 + hz
            )).unwrap();
        });
        let c = sample_thread_cpu(root.path(), 4242, std::time::Duration::from_secs(1)).unwrap();
        w.join().unwrap();
        // hz ticks over ~1 s (more on a loaded machine): up to 100 %.
        let busy = c.by_nid[&4243];
        assert!(busy > 50.0 && busy <= 100.5, "{c:?}");
        assert_eq!(c.by_nid[&4244], 0.0);
        assert_eq!(c.by_nid.len(), 2);
        // The same walk gives the process figures.
        std::fs::write(
            root.path().join("4242/status"),
            "Name:\tjava\nThreads:\t2\n",
        )
        .unwrap();
        let p = process_figures(root.path(), 4242, Some(&c.by_nid)).unwrap();
        assert_eq!(p.threads[0].tid, 4243);
        assert_eq!(p.threads[0].name, "worker 4243");
        assert_eq!(p.status_field("Threads"), Some("2"));
        // Not under /proc: this pid has no such threads there.
        assert!(
            sample_thread_cpu(
                std::path::Path::new("/proc"),
                4242,
                std::time::Duration::ZERO
            )
            .map(|c| !c.by_nid.contains_key(&4243))
            .unwrap_or(true)
        );
    }
}

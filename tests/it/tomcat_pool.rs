//! A real Tomcat (Debian's tomcat10) whose request pool (maxThreads 8) is exhausted by a webapp whose
//! requests pile up behind one slow, locked backend call: a new request is no longer answered, and the bundle
//! wasp takes (`wasp trigger bundle`) says "request thread pool exhausted" with the blocking frame and the
//! lock holder as evidence, and its server.xml's maxThreads; the netstat of Tomcat's pid shows the waiting
//! connections; `wasp analyze` on the bundle's dump and `wasp dump threads --format report` say the same.

use crate::common::tomcat::{self, catalina_base};
use crate::common::*;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// GET `path`; the status line, or None when nothing comes back within `wait`.
fn get(port: u16, path: &str, wait: Duration) -> Option<String> {
    crate::common::http::first_read(port, path, wait)
        .map(|t| t.lines().next().unwrap_or("").to_string())
}

#[test]
fn exhausted_tomcat_pool_is_named_with_its_blocking_frame() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") || !tomcat::installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("tomcat");
    let port = free_port();
    catalina_base(&base, port);
    let tomcat = tomcat::start(&base, &dir.path().join("catalina.out"));
    let tpid = tomcat.0.id();

    // The agent starts while Tomcat does.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("wasp.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"1s\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{}\"\n\
             [snapshots]\nbundle_dumps = 3\nbundle_every = \"500ms\"\n",
            data.display(),
            free_port()
        ),
    )
    .unwrap();
    let _agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let t = Instant::now();
    while get(port, "/shop/stock?ping=1", Duration::from_secs(2)).as_deref()
        != Some("HTTP/1.1 200 ")
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Tomcat did not answer within 30 s: {}",
            std::fs::read_to_string(dir.path().join("catalina.out")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 12 requests for 8 threads: 8 pile up behind the lock, 4 wait in the accept queue.
    let mut waiting = Vec::new();
    for i in 0..12 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /shop/stock?sku={i} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        waiting.push(s);
    }
    // What the users see: a new request is not answered. 2 s: an idle Tomcat answers in milliseconds.
    let t = Instant::now();
    loop {
        match get(port, "/shop/stock?ping=1", Duration::from_secs(2)) {
            None => break,
            Some(s) => assert!(
                t.elapsed() < Duration::from_secs(10),
                "Tomcat still answers ({s}) with 12 requests blocked"
            ),
        }
    }

    let o = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["trigger", "bundle", "--pid", &tpid.to_string(), "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bundle = PathBuf::from(
        out.lines()
            .find_map(|l| l.split_once(" s: ").map(|(_, p)| p.trim().to_string()))
            .expect(&out),
    );
    let report = std::fs::read_to_string(bundle.join("report.txt")).unwrap();
    let pool = format!("http-nio-127.0.0.1-{port}");
    let verdict = format!(
        "* request thread pool exhausted: all 8 threads of {pool} busy, none waiting for work; 8 at \
         shop.Inventory.lookup(StockServlet.java:"
    );
    assert!(report.contains(&verdict), "{report}");
    assert!(
        report.contains("7 wait for <")
            && report.contains(&format!(
                "(a java.lang.Class for shop.Inventory) held by \"{pool}-exec-"
            )),
        "{report}"
    );
    // Its server.xml says 8 is the most, and three dumps apart in time saw the same 8 threads all busy.
    assert!(
        report.contains(&format!(
            "at its maximum: maxThreads 8 (server.xml Connector port {port})"
        )),
        "{report}"
    );
    assert!(
        report.contains("busy/threads in each dump: 8/8, 8/8, 8/8"),
        "{report}"
    );
    // The document sinks get the finding: the default file sink (wasp.jsonl) holds the bundle's thread_dump
    // document with the pool exhaustion, and its incident with the verdict. Batches go out within 5 s.
    let id = bundle.file_name().unwrap().to_string_lossy().into_owned();
    let t = Instant::now();
    let (td, inc) = loop {
        let docs: Vec<serde_json::Value> = std::fs::read_to_string(data.join("wasp.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["body"]["snapshot"]["id"] == id.as_str())
            .collect();
        let td = docs.iter().find(|v| {
            v["kind"] == "thread_dump" && v["labels"]["pid"] == tpid.to_string().as_str()
        });
        let inc = docs.iter().find(|v| v["kind"] == "incident");
        if let (Some(td), Some(inc)) = (td, inc) {
            break (td.clone(), inc.clone());
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no documents of {id}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let pe = &td["body"]["pool_exhaustion"];
    assert_eq!(pe["name"], "request thread pool exhausted", "{td}");
    assert!(
        pe["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("all 8 threads of {pool} busy")),
        "{pe}"
    );
    assert!(
        inc["body"]["findings"].as_array().unwrap().iter().any(|f| f
            .as_str()
            .unwrap()
            .contains("request thread pool exhausted: all 8 threads")),
        "{inc}"
    );

    // The netstat of Tomcat's pid: the 12 waiting connections, inbound on its port.
    let ns = std::fs::read_dir(&bundle)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("-netstat.txt"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("netstat");
    let inbound: usize = ns
        .lines()
        .filter(|l| l.contains("ESTABLISHED") && l.contains(&format!("in :{port} from 127.0.0.1")))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert!(inbound >= 12, "{inbound} inbound connections:\n{ns}");
    assert!(ns.contains(&format!("listening: 127.0.0.1:{port}")), "{ns}");

    // `wasp analyze` on the bundle's last dump says the same.
    let last = std::fs::read_dir(&bundle)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-threads-3.txt"))
        .expect("third dump");
    let a = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .arg("analyze")
        .arg(&last)
        .output()
        .unwrap();
    let a = String::from_utf8_lossy(&a.stdout);
    assert!(a.contains(&verdict), "{a}");
    assert!(a.contains("one dump: a pool still growing"), "{a}");
    // `wasp dump threads --format report` of the live JVM reads its server.xml too.
    let live = Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(["dump", "threads", "--format", "report", &tpid.to_string()])
        .output()
        .unwrap();
    let live = String::from_utf8_lossy(&live.stdout);
    assert!(live.contains(&verdict), "{live}");
    assert!(
        live.contains(&format!(
            "at its maximum: maxThreads 8 (server.xml Connector port {port})"
        )),
        "{live}"
    );
    drop(waiting);
}

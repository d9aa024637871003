//! The Tomcat acceptance through a rule: a real Tomcat (Debian's tomcat10) whose request pool (maxThreads 8)
//! is exhausted by a webapp whose requests pile up behind a locked backend call. wasp's HTTP service check
//! stops getting answers, a host rule scoped to that Tomcat fires, and the bundle it asks for — of that
//! Tomcat only, with the rule as its reason — says "request thread pool exhausted" with the blocking frame.
//! (tests/it/tomcat_pool.rs takes the same bundle with `wasp trigger`.)

use crate::common::http::{first_read as get, metric};
use crate::common::tomcat::{self, catalina_base};
use crate::common::*;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_rule_on_the_service_check_bundles_the_exhausted_tomcat() {
    let _floor = crate::common::beside();
    if !require("java") || !require("javac") || !tomcat::installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A base of its own name, so that the scope selects this Tomcat and no other test's.
    let name = format!("shop-{port}");
    let base = dir.path().join(&name);
    catalina_base(&base, port);
    let tomcat = tomcat::start(&base, &dir.path().join("catalina.out"));
    let tpid = tomcat.0.id();
    let t = Instant::now();
    while !get(port, "/shop/stock?ping=1", Duration::from_secs(2))
        .is_some_and(|r| r.starts_with("HTTP/1.1 200 "))
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Tomcat did not answer within 30 s: {}",
            std::fs::read_to_string(dir.path().join("catalina.out")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let data = dir.path().join("data");
    let wport = free_port();
    let cfg = dir.path().join("wasp.toml");
    // The check's 1 s timeout: an idle Tomcat answers the ping in milliseconds; for 2 s means two failed checks.
    std::fs::write(
        &cfg,
        format!(
            "[agent]\ninterval = \"500ms\"\ndata_dir = \"{}\"\n[server]\nlisten = \"127.0.0.1:{wport}\"\n\
             [snapshots]\nbundle_dumps = 3\nbundle_every = \"500ms\"\n\
             [[checks]]\nname = \"shop\"\nhttp = \"http://127.0.0.1:{port}/shop/stock?ping=1\"\ninterval = \"500ms\"\ntimeout = \"1s\"\n\
             [[rules]]\nname = \"shop-stuck\"\nwhen = \"not check.shop.up\"\nfor = \"2s\"\ncooldown = \"10m\"\n\
             scope = \"^tomcat:{name}$\"\ndo = [\"bundle\", \"log\"]\n",
            data.display()
        ),
    )
    .unwrap();
    let _agent = Reaped(
        Command::new(env!("CARGO_BIN_EXE_wasp"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while metric(wport, "wasp_check_up{check=\"shop\"}") != Some(1.0) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the check never saw Tomcat up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric(wport, "wasp_rule_fired_total{rule=\"shop-stuck\"}"),
        Some(0.0)
    );

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
    // The rule fires by itself, and its bundle appears.
    let snaps = data.join("snapshots");
    let t = Instant::now();
    let bundle = loop {
        let found = std::fs::read_dir(&snaps).ok().and_then(|r| {
            r.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with("-bundle"))
        });
        if let Some(b) = found {
            break b;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no bundle within 60 s: {}",
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(metric(wport, "wasp_check_up{check=\"shop\"}"), Some(0.0));
    assert_eq!(
        metric(wport, "wasp_rule_fired_total{rule=\"shop-stuck\"}"),
        Some(1.0)
    );
    let report = std::fs::read_to_string(bundle.join("report.txt")).unwrap();
    let pool = format!("http-nio-127.0.0.1-{port}");
    let verdict = format!(
        "* request thread pool exhausted: all 8 threads of {pool} busy, none waiting for work; 8 at \
         shop.Inventory.lookup(StockServlet.java:"
    );
    assert!(report.contains(&verdict), "{report}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["reason"]["source"], "rule", "{manifest}");
    assert_eq!(manifest["reason"]["name"], "shop-stuck", "{manifest}");
    // Of that Tomcat only.
    for e in std::fs::read_dir(&bundle).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.contains("-threads-") {
            assert!(
                n.starts_with(&format!("{tpid}-")),
                "{n} in a bundle of {tpid}"
            );
        }
    }
    let context = std::fs::read_to_string(bundle.join("context.txt")).unwrap();
    assert!(
        context.contains("rule shop-stuck: not check.shop.up"),
        "{context}"
    );
    // The incident document (default file sink, batches within 5 s): the rule, its context, the finding.
    let id = bundle.file_name().unwrap().to_string_lossy().into_owned();
    let t = Instant::now();
    let inc = loop {
        let found = std::fs::read_to_string(data.join("wasp.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["kind"] == "incident" && v["body"]["manifest_id"] == id.as_str());
        if let Some(v) = found {
            break v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no incident document for {id}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(inc["labels"]["rule"], "shop-stuck", "{inc}");
    assert!(
        inc["body"]["context"]["first"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l
                .as_str()
                .unwrap()
                .contains("rule shop-stuck: not check.shop.up")),
        "{inc}"
    );
    assert!(
        inc["body"]["findings"].as_array().unwrap().iter().any(|f| f
            .as_str()
            .unwrap()
            .contains("request thread pool exhausted")),
        "{inc}"
    );
    drop(waiting);
}

